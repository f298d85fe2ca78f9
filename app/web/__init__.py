"""The pages: mobile-first, Simplified Chinese by default, English on request."""

import re

from flask import Blueprint, render_template
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import default_exceptions

blp = Blueprint("web", __name__)

#: A translated heading and explanation per status; Werkzeug's own are English only.
ERROR_TEXTS = {
    400: (_l("The request could not be handled"), _l("Please go back and try again.")),
    401: (_l("Please sign in"), _l("This page is only for signed-in members.")),
    403: (_l("Not allowed"), _l("Your account may not open this page or do this.")),
    404: (
        _l("Page not found"),
        _l("There is no page at this address. Please check it, or go back to the home page."),
    ),
    405: (_l("Not allowed here"), _l("This page cannot be used this way.")),
    409: (_l("Could not save the change"), _l("It conflicts with data that was already saved.")),
    422: (_l("Please check what you entered"), _l("Some of the information is not valid.")),
    429: (_l("Too many attempts"), _l("Please wait a while, then try again.")),
    500: (
        _l("Something went wrong"),
        _l("An error on our side stopped this page. Please try again later."),
    ),
}


def error_texts(status: int) -> tuple[str, str]:
    fallback = 500 if status >= 500 else 400
    return ERROR_TEXTS.get(status) or ERROR_TEXTS[fallback]


def render_error(status: int, title: str, detail: str | None):
    """The error page in the reader's language.

    The English ``title`` gives way to a translated heading for the status.
    Werkzeug's stock description is dropped for the same reason; a specific
    ``detail`` is kept below when it is in the reader's language.
    """
    heading, explanation = error_texts(status)
    stock = default_exceptions.get(status)
    stock_text = stock is not None and detail == stock.description
    specific = None if detail is None or stock_text else detail
    if specific is not None and not in_readers_language(str(specific)):
        specific = None
    return _error_page(status, heading, explanation, specific)


#: A Chinese character: a Chinese reader's text has at least one.
HAN = re.compile(r"[\u3400-\u9fff]")


def in_readers_language(text: str) -> bool:
    """Whether ``text`` is written for this reader: a Chinese page shows no English-only
    sentence (a refusal whose detail is not translated yet gives way to its explanation)."""
    return get_locale().language != "zh" or bool(HAN.search(text))


def render_problem(problem):
    """A refusal on a page: the status's heading, what the problem type tells a person
    (its message) and the raise's own detail, each in the reader's language."""
    heading, explanation = error_texts(problem.status)
    if problem.message is not None:
        explanation = str(problem.message)
    detail = str(problem.detail)
    if detail == explanation or not in_readers_language(detail):
        detail = None
    return _error_page(problem.status, heading, explanation, detail)


@blp.app_errorhandler(CSRFError)
def form_expired(_error: CSRFError):
    """A missing or stale CSRF token is most often a form left open too long; say so."""
    return _error_page(
        400,
        _l("This form has expired"),
        _l("Please go back, reload the page and try again."),
        None,
    )


def _error_page(status: int, heading: str, explanation: str, detail: str | None):
    page = render_template(
        "error.html", status=status, title=heading, explanation=explanation, detail=detail
    )
    return page, status


from . import (  # noqa: E402,F401
    activities,
    console,
    console_merchants,
    coupons,
    dashboard,
    fund,
    issuance,
    merchants,
    organizing,
    platform,
    pos,
    scanning,
    settlement,
    templating,
    views,
)
