"""The pages: mobile-first, Simplified Chinese by default, English on request."""

from flask import Blueprint, render_template
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


def render_error(status: int, title: str, detail: str):
    """The error page in the reader's language.

    The English ``title`` gives way to a translated heading for the status.
    Werkzeug's stock description is dropped for the same reason; a specific
    ``detail`` (a domain error's, saying what was refused) is kept below.
    """
    heading, explanation = error_texts(status)
    stock = default_exceptions.get(status)
    specific = None if stock is not None and detail == stock.description else detail
    return _error_page(status, heading, explanation, specific)


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
    coupons,
    fund,
    issuance,
    merchants,
    pos,
    settlement,
    templating,
    views,
)
