"""Using the pages as a browser does: a client with no context carried between
requests, forms posted with their CSRF token (and form key), signing in and out."""

import contextvars
import re

from flask.testing import FlaskClient

CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
FORM_KEY_INPUT = re.compile(r'<input[^>]*name="form_key"[^>]*value="([^"]+)"')


class FreshContextClient(FlaskClient):
    """A test client whose requests each start with no context, as they do when served.

    Flask reuses an app context that is already pushed (the ``ctx`` fixture's),
    so its ``g``, holding the signed-in member and the chosen locale, would
    carry over from one request to the next.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


def page_client(app) -> FreshContextClient:
    """A client with its own cookies, as one browser."""
    return FreshContextClient(app, app.response_class, use_cookies=True)


def csrf_token(response) -> str:
    match = CSRF_INPUT.search(response.get_data(as_text=True))
    assert match, "the page has no CSRF token"
    return match.group(1)


def form_fields(response) -> dict:
    """The hidden fields a page's form sends: its CSRF token and, where the form takes
    effect once, its form key (the first form's)."""
    fields = {"csrf_token": csrf_token(response)}
    key = FORM_KEY_INPUT.search(response.get_data(as_text=True))
    if key:
        fields["form_key"] = key.group(1)
    return fields


def submit(client, path, data=None, token_from=None):
    """POST a page form with the hidden fields of the page it is on (``path`` unless told)."""
    return client.post(path, data={**form_fields(client.get(token_from or path)), **(data or {})})


def sign_in(client, username, password="password-1", path="/login"):
    return submit(client, path, {"username": username, "password": password})


def sign_out(client):
    return submit(client, "/logout", token_from="/home")
