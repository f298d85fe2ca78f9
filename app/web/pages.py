"""What every page view shares: its declared action, and forms that take effect once.

A page form carries a hidden ``form_key``, new each time the form is shown. The
first submit claims the key in the same store as the API's ``Idempotency-Key``
(:mod:`app.idempotency`) and keeps where it sent the reader, with what it told
them; a second submit of the same form (a double tap, a reload, a retry on a
slow network) is sent there too, told the same, and changes nothing. A submit
that was refused, or shown again with its errors, keeps nothing, so the
corrected form can be sent with the same key.
"""

import json
import uuid
from functools import wraps

from flask import flash, g, make_response, redirect, render_template, request, session
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup

from models import Community

from .. import communities, idempotency
from ..authz import requires
from ..problems import NotFound
from . import blp

FORM_KEY = "form_key"


def page_action(action: str):
    """Sign-in (else the login page), then :func:`app.authz.requires`, for a page view."""

    def decorator(view):
        @wraps(view)
        def responding(*args, **kwargs):
            return make_response(view(*args, **kwargs))

        return login_required(requires(action)(responding))

    return decorator


def console_action(action: str):
    """:func:`page_action` for the pages that run one community: its fund admins'."""

    def decorator(view):
        @wraps(view)
        def in_community(*args, **kwargs):
            if g.actor.community_id is None:
                raise NotFound(_l("These pages belong to a community's fund admins."))
            return view(*args, **kwargs)

        return page_action(action)(in_community)

    return decorator


@blp.app_template_global()
def form_key() -> Markup:
    """The hidden field that makes a form's submit take effect once."""
    return Markup('<input type="hidden" name="%s" value="%s">') % (FORM_KEY, uuid.uuid4())


def once(view):
    """A form's POST takes effect once; a repeat is sent where the first one went."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if request.method != "POST":
            return view(*args, **kwargs)
        key = request.form.get(FORM_KEY, "").strip()
        if not 0 < len(key) <= idempotency.MAX_KEY_LENGTH:
            return _form_expired()
        if "actor" not in g:
            g.actor = current_user._get_current_object()
        claimed = idempotency.claim(key)
        if not isinstance(claimed, int):
            try:
                idempotency.check_same_request(claimed)
            except idempotency.IdempotencyKeyReused:
                return _sent_already()
            return _sent_where_first(claimed)
        flashed = len(session.get("_flashes", ()))
        response = make_response(view(*args, **kwargs))
        if response.status_code in (301, 302, 303):
            first = {
                "location": response.headers["Location"],
                "flashes": session.get("_flashes", [])[flashed:],
            }
            idempotency.store(claimed, 303, FIRST_ANSWER, json.dumps(first).encode())
        else:
            idempotency.release(claimed)
        return response

    return wrapper


#: How a form's first answer is kept under its key: where it sent the reader, and what it
#: told them there.
FIRST_ANSWER = "application/vnd.jifen.form-answer+json"


def _sent_where_first(stored):
    """A repeated submit goes where the first one went, told the same: a double tap's
    first request may be dropped by the browser, and its message with it."""
    if stored.content_type == FIRST_ANSWER:
        first = json.loads(stored.body)
    else:  # kept before the messages were
        first = {"location": stored.body.decode(), "flashes": []}
    for category, message in first["flashes"]:
        flash(message, category)
    response = redirect(first["location"], 303)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _form_expired():
    page = render_template(
        "error.html",
        status=400,
        title=_l("This form has expired"),
        explanation=_l("Please go back, reload the page and try again."),
        detail=None,
    )
    return page, 400


def _sent_already():
    """The same form, sent again with other contents (after going back): say so."""
    page = render_template(
        "error.html",
        status=409,
        title=_l("This form was already sent"),
        explanation=_l("Its first version was saved. Open the page again to make another change."),
        detail=None,
    )
    return page, 409


def public_community(slug: str) -> Community:
    """The community of a page anyone may open (the notice board, the donation page)."""
    community = communities.by_slug(slug)
    if community is None:
        raise NotFound(_l("No such community."))
    return community
