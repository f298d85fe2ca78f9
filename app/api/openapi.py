"""What the OpenAPI document says beyond each view's own decorators.

Every operation may answer the same refusals (a body or a field the API does
not take, no or a bad token, a role that may not, an unknown object, a
conflict, a body too large, too many attempts, the database briefly gone),
all as ``application/problem+json``; the document lists them on every
operation, so a client knows their shape. Operations that serve a file (a QR
image, a CSV export) declare its media type.
"""

from apispec import BasePlugin

#: Refusals any operation may answer, by status: the component response names.
COMMON_ERRORS = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    413: "REQUEST_ENTITY_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
#: Writes may also conflict with what is stored (a taken name, a decided award).
WRITE_ERRORS = {409: "CONFLICT"}
WRITES = {"post", "put", "patch", "delete"}

#: Files served by path suffix, and ``?format=csv`` on a list.
FILE_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".csv": "text/csv"}
CSV_SCHEMA = {"type": "string", "description": "CSV with a header row, UTF-8"}


class ProblemResponses(BasePlugin):
    """Adds the common problem responses and file media types to every operation."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            errors = COMMON_ERRORS | (WRITE_ERRORS if method in WRITES else {})
            for status, name in errors.items():
                if status not in responses and str(status) not in responses:
                    responses[str(status)] = name
            self._files(path or "", operation, responses)

    @staticmethod
    def _files(path: str, operation: dict, responses: dict) -> None:
        ok = responses.get(200, responses.get("200"))
        if not isinstance(ok, dict):
            return
        for suffix, media_type in FILE_TYPES.items():
            if path.endswith(suffix):
                ok["content"] = {media_type: {"schema": {"type": "string", "format": "binary"}}}
        if any(_takes_format(parameter) for parameter in operation.get("parameters", [])):
            ok.setdefault("content", {})["text/csv"] = {"schema": CSV_SCHEMA}


def _takes_format(parameter) -> bool:
    """A ``format`` query argument, given by name or within a schema of query arguments."""
    if not isinstance(parameter, dict):
        return False
    schema = parameter.get("schema")
    fields = getattr(schema, "fields", None) or getattr(schema, "_declared_fields", {})
    return parameter.get("name") == "format" or "format" in fields
