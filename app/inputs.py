"""What a request may carry, checked before any view reads it.

A request the database or Python could not hold is refused with a 4xx
problem here, not met later as a 500: a body past the size limit (413), JSON
nested past :data:`MAX_JSON_DEPTH` (400), a NUL character or a lone UTF-16
surrogate in any text (PostgreSQL's text cannot store the first, UTF-8 cannot
encode the second: 422 naming the field), and an id in a path beyond signed
64 bits (the ``int`` converter stops matching: 404).

The checks cost a few microseconds a request: JSON bodies are parsed once
more here, and they are small (the API takes at most
``API_MAX_CONTENT_LENGTH`` bytes).
"""

import json
import re

from flask import Flask, current_app, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DataError
from werkzeug.routing import IntegerConverter

from .problems import InvalidInput, Problem

#: Headers whose values Jifen stores (a key, the audit log's user agent) or echoes.
STORED_HEADERS = ("Idempotency-Key", "User-Agent", "X-Request-ID")
#: Deeper JSON than this is no request Jifen takes (its deepest body has 3 levels).
MAX_JSON_DEPTH = 32
INT64_MAX = 2**63 - 1
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class Int64Converter(IntegerConverter):
    """``<int:...>`` within a positive 64-bit id: a larger number matches no route."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", INT64_MAX)
        super().__init__(map, *args, **kwargs)


class RequestTooLarge(Problem):
    status, slug, title = 413, "request-too-large", _l("Request too large")
    message = _l("The request is larger than this service takes.")


class JsonTooDeep(Problem):
    status, slug, title = 400, "json-too-deep", _l("JSON nested too deeply")
    message = _l("The JSON body is nested deeper than any request needs.")


class UnstorableText(InvalidInput):
    slug, title = "unstorable-text", _l("Text that cannot be stored")
    message = _l("Text may not contain NUL characters or unpaired surrogates.")


class DatabaseRefusedValue(InvalidInput):
    slug, title = "value-out-of-range", _l("Value out of range")
    message = _l("A value given is outside what can be stored.")


def init_app(app: Flask) -> None:
    """Before any route is added: the converter applies to rules as they are made."""
    app.config.setdefault("MAX_CONTENT_LENGTH", 4 * 1024 * 1024)  # a till's camera frame
    app.config.setdefault("API_MAX_CONTENT_LENGTH", 64 * 1024)
    app.url_map.converters["int"] = Int64Converter
    app.before_request(check_request)


def check_request() -> None:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.path.startswith("/api/"):
        limit = request.max_content_length = current_app.config["API_MAX_CONTENT_LENGTH"]
    if request.content_length is not None and limit and request.content_length > limit:
        raise RequestTooLarge(
            _("The body may be at most %(limit)s bytes.", limit=limit), limit=limit
        )
    for name in STORED_HEADERS:
        if "\x00" in request.headers.get(name, ""):
            _refuse("headers", name)
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and _UNSTORABLE.search(value):
            _refuse("path", name)
    if request.query_string:
        for name, value in request.args.items(multi=True):
            if _UNSTORABLE.search(value):
                _refuse("query", name)
    if request.is_json and request.content_length:
        _check_json(request.get_data(cache=True))
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in request.form.items(multi=True):
            if _UNSTORABLE.search(value):
                _refuse("form", name)


def _check_json(raw: bytes) -> None:
    try:
        body = json.loads(raw)
    except RecursionError as error:
        raise JsonTooDeep() from error
    except ValueError:
        return  # the parser that reads it answers 400 for malformed JSON
    _walk(body, (), 0)


def _walk(value, path: tuple, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise JsonTooDeep()
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            _refuse("json", ".".join(map(str, path)) or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            if _UNSTORABLE.search(key):
                _refuse("json", ".".join(map(str, (*path, "key"))))
            _walk(item, (*path, key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, (*path, index), depth + 1)


def _refuse(location: str, name: str) -> None:
    raise UnstorableText(
        _("“%(name)s” contains a NUL character or an unpaired surrogate.", name=name),
        errors={location: {name: [str(UnstorableText.message)]}},
    )


def database_refused(error: DataError | OverflowError) -> Problem:
    """A value past a column's range that no check caught: the client's input, not a fault."""
    return DatabaseRefusedValue()
