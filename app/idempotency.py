"""``Idempotency-Key`` for every value-moving write.

The first request with a key inserts the key row inside its own database
transaction (``INSERT ... ON CONFLICT DO NOTHING``: one statement, no
savepoint), runs, and stores its response in that row before the request's
single commit. A retry finds the row and gets the stored response back byte
for byte; a retry with another body is a 409. Concurrent requests with one key
meet at the unique ``(member_id, key)`` index: the database makes the later
ones wait for the first to commit, after which they replay its response, so
the effect happens exactly once. A request that fails rolls back its key row
with everything else, having changed nothing, and may be retried.

The till's redemption (``app/api/redemptions/till.py``) keeps the same
contract in one statement: ``jifen_redeem`` inserts the key row, with the
response already in it, before it writes the redemption.
"""

import hashlib
import json
from datetime import datetime, timedelta
from functools import wraps

import sqlalchemy as sa
from flask import Response, current_app, g, request
from flask_smorest import Blueprint
from sqlalchemy.dialects import postgresql, sqlite

from models import IdempotencyKey, utcnow

from .extensions import db
from .problems import Conflict, Problem

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
HEADER_DOC = {
    "in": "header",
    "name": HEADER,
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": r"\S"},
    "description": "Unique per request; a retry with the same key and body "
    "replays the first response.",
}


class IdempotencyKeyRequired(Problem):
    status, slug, title = 400, "idempotency-key-required", "Idempotency-Key header required"


class IdempotencyKeyReused(Conflict):
    slug, title = "idempotency-key-reused", "Idempotency-Key reused with another request"


def fingerprint() -> str:
    raw = request.get_data(cache=True)
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        body = raw
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def request_key() -> str | None:
    """This request's key, or None when it sent none or one too long."""
    key = request.headers.get(HEADER, "").strip()
    return key if 0 < len(key) <= MAX_KEY_LENGTH else None


def expires_at(now: datetime) -> datetime:
    return now + timedelta(hours=current_app.config["IDEMPOTENCY_TTL_HOURS"])


def idempotent(view):
    """Make a write view replay its first response for a repeated key."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request_key()
        if key is None:
            raise IdempotencyKeyRequired(
                f"This request moves value; send a unique '{HEADER}' header "
                f"(e.g. a UUID; at most {MAX_KEY_LENGTH} characters) and reuse it when retrying."
            )
        member_id = g.actor.id
        digest = fingerprint()
        row_id = _claim(member_id, key, digest)
        if row_id is None:
            stored = _stored(member_id, key)
            if stored is not None:
                return _replay(stored, digest)
            row_id = _claim(member_id, key, digest)
            if row_id is None:
                return _replay(_stored(member_id, key), digest)
        response = view(*args, **kwargs)
        if response.status_code < 400:
            db.session.execute(
                _STORE,
                dict(
                    row_id=row_id,
                    status_code=response.status_code,
                    content_type=response.content_type,
                    body=response.get_data(),
                ),
            )
        return response

    return Blueprint.doc(parameters=[HEADER_DOC])(wrapper)


_KEYS = IdempotencyKey.__table__
_CLAIM_COLUMNS = ("community_id", "member_id", "key", "fingerprint", "created_at", "expires_at")


def _claim_statement(dialect) -> sa.Insert:
    return (
        dialect.insert(_KEYS)
        .values({name: sa.bindparam(name) for name in _CLAIM_COLUMNS})
        .on_conflict_do_nothing(index_elements=["member_id", "key"])
        .returning(_KEYS.c.id)
    )


#: Built once: every value-moving request runs both.
_CLAIM = {"postgresql": _claim_statement(postgresql), "sqlite": _claim_statement(sqlite)}
_STORE = (
    _KEYS.update()
    .where(_KEYS.c.id == sa.bindparam("row_id"))
    .values({name: sa.bindparam(name) for name in ("status_code", "content_type", "body")})
)


def _claim(member_id: int, key: str, digest: str) -> int | None:
    """Insert the key row; None when the key is taken (by a committed request,
    or by one that commits while this waits on the unique index)."""
    now = utcnow()
    return db.session.execute(
        _CLAIM[db.session.get_bind().dialect.name],
        dict(
            community_id=g.actor.community_id,
            member_id=member_id,
            key=key,
            fingerprint=digest,
            created_at=now,
            expires_at=expires_at(now),
        ),
    ).scalar_one_or_none()


def _stored(member_id: int, key: str) -> IdempotencyKey | None:
    stored = db.session.execute(
        sa.select(IdempotencyKey).where(
            IdempotencyKey.member_id == member_id, IdempotencyKey.key == key
        )
    ).scalar_one_or_none()
    if stored is not None and stored.expires_at <= utcnow():
        # By statement, not ``session.delete``: a concurrent retry of the same
        # expired key may have deleted it first, and then this deletes nothing.
        db.session.execute(sa.delete(IdempotencyKey).where(IdempotencyKey.id == stored.id))
        return None
    return stored


def _replay(stored: IdempotencyKey, digest: str) -> Response:
    if stored.fingerprint != digest:
        raise IdempotencyKeyReused(
            f"This '{HEADER}' was first used for a different request; "
            "use a new key for a new request."
        )
    response = Response(stored.body, status=stored.status_code, content_type=stored.content_type)
    response.headers["Idempotent-Replayed"] = "true"
    return response
