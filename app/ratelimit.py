"""Rate limits on the routes that need one (signing in), with the ``limits`` library.

Only sign-in is limited, so the check runs in that view's decorator and
nowhere else. Flask-Limiter, which this replaced, checked every request in a
``before_request`` hook even with no default limits: about 50 µs of CPU per
request, 5% of a balance read (``bin/bench balance``).

Counters live in ``RATELIMIT_STORAGE_URI`` (Redis in production, so all
workers share them; memory otherwise) as moving windows, one per route and
client address.
"""

import math
import time
from collections.abc import Callable
from functools import wraps

from flask import Flask, current_app, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from .problems import Problem

EXTENSION = "jifen.rate_limiter"


class TooManyRequests(Problem):
    status, slug, title = 429, "too-many-requests", _l("Too Many Requests")
    message = _l("Too many attempts; please wait a little and try again.")


def init_app(app: Flask) -> None:
    storage = storage_from_string(app.config["RATELIMIT_STORAGE_URI"])
    app.extensions[EXTENSION] = MovingWindowRateLimiter(storage)


def rate_limited(
    config_key: str,
    *,
    methods: frozenset[str] | None = None,
    message: Callable[[], str] | None = None,
):
    """Refuse a client's calls to this view beyond ``app.config[config_key]``
    ("10 per minute"), counting only ``methods`` when given; ``message`` says
    why, in the reader's language."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if current_app.config["RATELIMIT_ENABLED"] and (
                methods is None or request.method in methods
            ):
                _count(config_key, message)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def _count(config_key: str, message: Callable[[], str] | None) -> None:
    limit = parse(current_app.config[config_key])
    limiter: MovingWindowRateLimiter = current_app.extensions[EXTENSION]
    identifiers = (request.endpoint or request.path, request.remote_addr or "")
    if limiter.hit(limit, *identifiers):
        return
    reset_at = limiter.get_window_stats(limit, *identifiers).reset_time
    wait = max(1, math.ceil(reset_at - time.time()))
    refused = TooManyRequests(
        message()
        if message
        else _(
            "Too many requests from this address; try again in %(seconds)s seconds.",
            seconds=wait,
        )
    )
    refused.headers = {"Retry-After": str(wait)}
    raise refused
