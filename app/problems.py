"""Every API error as ``application/problem+json`` (RFC 9457).

Domain code raises a :class:`Problem` subclass; HTTP errors from Werkzeug,
webargs validation and unexpected exceptions are turned into the same body:
``type``, ``title``, ``status``, ``detail`` and, for field errors, ``errors``.
"""

import json

import marshmallow as ma
from flask import Response
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

PROBLEM_MIMETYPE = "application/problem+json"


class Problem(Exception):
    """A domain error with a stable machine-readable ``type`` and an HTTP status."""

    status = 400
    slug = "bad-request"
    title = "Bad request"
    headers: dict[str, str] = {}

    def __init__(self, detail: str | None = None, **extra):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    @property
    def type(self) -> str:
        return f"urn:jifen:problem:{self.slug}"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Forbidden"


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Authentication required"
    headers = {"WWW-Authenticate": 'Bearer realm="jifen"'}


class Conflict(Problem):
    status, slug, title = 409, "conflict", "Conflict"


class InvalidInput(Problem):
    status, slug, title = 422, "invalid-input", "Invalid input"


class ProblemSchema(ma.Schema):
    """The error body, for the OpenAPI document."""

    type = ma.fields.String(metadata={"description": "URI naming the kind of problem"})
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.Dict(metadata={"description": "field errors, by location and field"})


def problem_response(status: int, title: str, detail: str, type_: str = "about:blank", **extra):
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_MIMETYPE)


def handle_problem(error: Problem):
    response = problem_response(error.status, error.title, error.detail, error.type, **error.extra)
    response.headers.update(error.headers)
    return response


class ProblemApi(Api):
    """flask-smorest's Api, speaking problem+json for every HTTP error."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        extra = {}
        errors = data.get("errors") or data.get("messages")
        if errors:
            extra["errors"] = errors
        detail = data.get("message") or error.description
        if error.code == 422 and errors:
            detail = "The request has invalid fields; see errors."
        response = problem_response(error.code, error.name, detail, **extra)
        for name, value in (data.get("headers") or {}).items():
            response.headers[name] = value
        if error.code == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response
