"""Logs as JSON lines, each with its request's id, and nothing secret in them.

Every request carries an id: a sane ``X-Request-ID`` from the caller (a proxy
or load balancer that already made one), otherwise a new one. The response
says it back in ``X-Request-ID`` and every line logged while serving it names
it, so a client's complaint, the proxy's log and ours meet on one string.

What must never reach a log: SQL parameters (a member's argon2 hash, a token's
digest, residents' names), passwords, tokens and signing keys. The engine is
built with ``hide_parameters`` (config.py), so SQLAlchemy's errors leave their
parameters out; PostgreSQL's own message still quotes values in its
``DETAIL`` ("Failing row contains (...)", "Key (digest)=(...)"), and the
formatter drops those, and anything shaped like a hash, token or key, from
every line and traceback it writes.
"""

import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime

from flask import Flask, g, has_request_context, request
from flask.logging import default_handler

HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

#: What is cut from every message and traceback, whatever logged it.
REDACTIONS = (
    # PostgreSQL's DETAIL and the row or key it quotes.
    (re.compile(r"DETAIL:.*"), "DETAIL: [redacted]"),
    (re.compile(r"Failing row contains \(.*?\)\.?"), "Failing row contains [redacted]"),
    (re.compile(r"Key \(.*?\)=\(.*?\)"), "Key [redacted]"),
    # SQLAlchemy's parameters, should an engine be built without hide_parameters.
    (re.compile(r"\[parameters: .*?\](?=\n|$)", re.S), "[parameters: redacted]"),
    (re.compile(r"\$argon2[a-z]*\$[^\s'\",)]*"), "[argon2 hash]"),
    (re.compile(r"\bjf_[A-Za-z0-9_-]{8,}"), "[token]"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "[digest]"),
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        "[private key]",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            line["request_id"] = request_id
        if has_request_context():
            line["method"], line["path"] = request.method, request.path
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and "request_id" in g:
            record.request_id = g.request_id
        return True


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (gunicorn and test runners swap it)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def init_app(app: Flask) -> None:
    app.logger.removeHandler(default_handler)
    root = logging.getLogger()
    if not any(isinstance(handler, StderrHandler) for handler in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
    app.before_request(_take_request_id)
    app.after_request(_say_request_id)


def _take_request_id() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex


def _say_request_id(response):
    if "request_id" in g:
        response.headers[HEADER] = g.request_id
    return response
