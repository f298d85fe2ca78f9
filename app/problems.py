"""Every API error as ``application/problem+json`` (RFC 9457).

Domain code raises a :class:`Problem` subclass; HTTP errors from Werkzeug,
webargs validation and unexpected exceptions are turned into the same body:
``type``, ``title``, ``status``, ``detail`` and, for field errors, ``errors``.

Each problem type carries its own translatable ``title`` and ``message`` (what
a person is told, and what to do): pages show the message, the API the detail.
A raise may pass a more specific ``detail``, translated where it is raised
(``gettext`` with ``%(name)s`` parameters); without one the detail is the
message. Both render in the reader's language, Chinese first.
"""

import json

import marshmallow as ma
from flask import Response
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

PROBLEM_MIMETYPE = "application/problem+json"


class Problem(Exception):
    """A domain error with a stable machine-readable ``type`` and an HTTP status."""

    status = 400
    slug = "bad-request"
    title = _l("Bad request")
    headers: dict[str, str] = {}
    #: What a person is told when this happens; the detail when a raise gives none.
    message = None

    def __init__(self, detail: str | None = None, **extra):
        self.detail = detail or self.message or self.title
        super().__init__(self.detail)
        self.extra = extra

    @property
    def type(self) -> str:
        return f"urn:jifen:problem:{self.slug}"

    @property
    def shown(self) -> str:
        """The sentence a page shows: the type's message, else its detail."""
        return str(self.message or self.detail)


class NotFound(Problem):
    status, slug, title = 404, "not-found", _l("Not found")


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", _l("Forbidden")


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", _l("Authentication required")
    headers = {"WWW-Authenticate": 'Bearer realm="jifen"'}


class Conflict(Problem):
    status, slug, title = 409, "conflict", _l("Conflict")


class StoredDataConflict(Conflict):
    """The database refused a write that no domain check caught first."""

    slug, title = "conflicts-with-stored-data", _l("Conflicts with stored data")
    message = _l(
        "This change conflicts with what is already recorded (perhaps someone else just "
        "changed it); reload and try again."
    )


class InvalidInput(Problem):
    status, slug, title = 422, "invalid-input", _l("Invalid input")
    message = _l("Please check what you entered.")


def invalid_field(field: str, message: str, detail: str) -> InvalidInput:
    """A refused value of one JSON field: ``detail``, translated, tells the reader why;
    ``message`` stands under the field in ``errors``, like the schemas' own messages."""
    return InvalidInput(detail, errors={"json": {field: [message]}})


class ProblemSchema(ma.Schema):
    """The error body, for the OpenAPI document."""

    type = ma.fields.String(metadata={"description": "URI naming the kind of problem"})
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.Dict(metadata={"description": "field errors, by location and field"})


def problem_response(status: int, title, detail, type_: str = "about:blank", **extra):
    """The problem+json response; lazy (translatable) strings render in the reader's language."""
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    return Response(
        json.dumps(body, ensure_ascii=False, default=str), status=status, mimetype=PROBLEM_MIMETYPE
    )


def handle_problem(error: Problem):
    response = problem_response(
        error.status, str(error.title), str(error.detail), error.type, **error.extra
    )
    response.headers.update(error.headers)
    return response


class ProblemApi(Api):
    """flask-smorest's Api, speaking problem+json for every HTTP error."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        """Every error response in the OpenAPI document is problem+json, as served."""
        default_type = self.DEFAULT_RESPONSE_CONTENT_TYPE
        self.DEFAULT_RESPONSE_CONTENT_TYPE = PROBLEM_MIMETYPE
        try:
            super()._register_responses()
        finally:
            self.DEFAULT_RESPONSE_CONTENT_TYPE = default_type

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        extra = {}
        errors = data.get("errors") or data.get("messages")
        if errors:
            extra["errors"] = errors
        detail = data.get("message") or error.description
        if error.code == 422 and errors:
            detail = _("The request has invalid fields; see errors.")
        response = problem_response(error.code, error.name, detail, **extra)
        for name, value in (data.get("headers") or {}).items():
            response.headers[name] = value
        if error.code == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response
