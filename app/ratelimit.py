"""Limits on guessing, counted on failures, with the ``limits`` library.

Signing in: wrong passwords are counted per account and per client address.
An account with too many recent failures is locked for a while, wherever the
attempts come from; an address with very many failures is refused too. A
right password costs nothing and clears the account's count, so thirty
residents signing in on the community hall's Wi-Fi at an activity all get in.

At the till: unknown coupon codes, bad coupon tokens and bad pay-codes are
counted per cashier; past the limit the cashier's till refuses codes for a
while and says why (:class:`TooManyBadCodes`), so no till can be used to
search the code space.

Counters live in ``RATELIMIT_STORAGE_URI`` (Redis in production, so all
workers share them; memory otherwise) as moving windows. Only these paths
touch them: nothing is counted on other requests.
"""

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from .problems import Problem

EXTENSION = "jifen.rate_limiter"


class TooManyRequests(Problem):
    status, slug, title = 429, "too-many-requests", _l("Too many attempts")


class SignInLocked(TooManyRequests):
    slug, title = "sign-in-locked", _l("Account locked for a while")
    message = _l("Too many wrong passwords for this account. Wait, then try again.")


class TooManyFailedSignIns(TooManyRequests):
    slug, title = "too-many-failed-sign-ins", _l("Too many attempts")
    message = _l("Too many failed sign-ins came from this network. Wait, then try again.")


class TooManyBadCodes(TooManyRequests):
    slug, title = "too-many-bad-codes", _l("Too many unknown codes")
    message = _l(
        "This till entered too many unknown coupon codes or pay-codes. Wait a few minutes, "
        "then scan the code again rather than typing it."
    )


#: The refusals that mean a code was made up or mistyped, not merely spent or expired.
BAD_CODE_SLUGS = frozenset(
    {
        "unknown-coupon",
        "invalid-coupon-token",
        "unknown-signing-key",
        "coupon-signature-invalid",
        "invalid-pay-code",
    }
)


def init_app(app: Flask) -> None:
    storage = storage_from_string(app.config["RATELIMIT_STORAGE_URI"])
    app.extensions[EXTENSION] = MovingWindowRateLimiter(storage)


def _limiter() -> MovingWindowRateLimiter:
    return current_app.extensions[EXTENSION]


def _enabled() -> bool:
    return current_app.config["RATELIMIT_ENABLED"]


def _limit(config_key: str) -> RateLimitItem:
    return parse(current_app.config[config_key])


def _wait(limit: RateLimitItem, *identifiers: str) -> int:
    reset_at = _limiter().get_window_stats(limit, *identifiers).reset_time
    return max(1, math.ceil(reset_at - time.time()))


def _refuse(problem: Problem, wait: int) -> Problem:
    minutes = max(1, math.ceil(wait / 60))
    problem.detail = f"{problem.message} " + _("Try again in %(minutes)s min.", minutes=minutes)
    problem.headers = {"Retry-After": str(wait)}
    return problem


# --- signing in -----------------------------------------------------------------


def _account(username: str) -> tuple[str, str]:
    return ("sign-in-account", username)


def _address() -> tuple[str, str]:
    return ("sign-in-address", request.remote_addr or "")


def check_sign_in(username: str) -> None:
    """Before checking a password: refuse a locked account or address."""
    if not _enabled():
        return
    for config_key, identifiers, problem in (
        ("LOGIN_ACCOUNT_FAILURES", _account(username), SignInLocked),
        ("LOGIN_ADDRESS_FAILURES", _address(), TooManyFailedSignIns),
    ):
        limit = _limit(config_key)
        if not _limiter().test(limit, *identifiers):
            raise _refuse(problem(), _wait(limit, *identifiers))


def sign_in_failed(username: str) -> None:
    if _enabled():
        _limiter().hit(_limit("LOGIN_ACCOUNT_FAILURES"), *_account(username))
        _limiter().hit(_limit("LOGIN_ADDRESS_FAILURES"), *_address())


def sign_in_succeeded(username: str) -> None:
    """The right password: the account's earlier typos are forgiven."""
    if _enabled():
        _limiter().clear(_limit("LOGIN_ACCOUNT_FAILURES"), *_account(username))


# --- codes at the till ----------------------------------------------------------


def _cashier(cashier_id: int) -> tuple[str, str]:
    return ("bad-codes", str(cashier_id))


def codes_locked(cashier_id: int) -> bool:
    """Whether this cashier's till is refusing codes for now."""
    if not _enabled():
        return False
    return not _limiter().test(_limit("BAD_CODE_LIMIT"), *_cashier(cashier_id))


@contextmanager
def watching_codes(cashier_id: int) -> Iterator[None]:
    """Look a code up inside: refused while the till is locked, and a bad code counts."""
    if codes_locked(cashier_id):
        limit = _limit("BAD_CODE_LIMIT")
        raise _refuse(TooManyBadCodes(), _wait(limit, *_cashier(cashier_id)))
    try:
        yield
    except Problem as refusal:
        if refusal.slug in BAD_CODE_SLUGS and _enabled():
            _limiter().hit(_limit("BAD_CODE_LIMIT"), *_cashier(cashier_id))
        raise
