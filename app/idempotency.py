"""``Idempotency-Key`` for every value-moving write.

The first request with a key inserts the key row inside its own database
transaction (``INSERT ... ON CONFLICT DO NOTHING``: one statement, no
savepoint), runs, and stores its response in that row before the request's
single commit. A retry finds the row and gets the stored response back byte
for byte; a retry with another body is a 409. Concurrent requests with one key
meet at the unique ``(community_id, member_id, key)`` index (a platform admin's,
``(platform_admin_id, key)``): the database makes the later
ones wait for the first to commit, after which they replay its response, so
the effect happens exactly once. A request that fails rolls back its key row
with everything else, having changed nothing, and may be retried. The one
request that commits before it answers, a Stripe payout, leaves a row without a
response if it stops midway; its retry runs again (``_unfinished``).

The till's redemption (``app/redemptions/till.py``) keeps the same
contract in one statement: ``jifen_redeem`` inserts the key row, with the
response already in it, before it writes the redemption.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Response, current_app, g, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from sqlalchemy.dialects import postgresql, sqlite

from models import IdempotencyKey, PlatformIdempotencyKey, utcnow

from .extensions import db
from .problems import Conflict, Problem

HEADER = "Idempotency-Key"
#: A stored key: a member's, or a platform admin's.
KeyRow = IdempotencyKey | PlatformIdempotencyKey
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
    status, slug = 400, "idempotency-key-required"
    title = _l("Idempotency-Key header required")


class IdempotencyKeyReused(Conflict):
    slug, title = "idempotency-key-reused", _l("Idempotency-Key reused with another request")


def fingerprint() -> str:
    """SHA-256 over method, path and body: JSON canonically, a page form by its fields
    (parsing the form has consumed the raw body by then)."""
    raw = request.get_data(cache=True)
    if not raw and request.form:
        raw = urlencode(sorted(request.form.items(multi=True))).encode()
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
                _(
                    "This request moves value; send a unique '%(header)s' header (e.g. a UUID; "
                    "at most %(num)s characters) and reuse it when retrying.",
                    header=HEADER,
                    num=MAX_KEY_LENGTH,
                )
            )
        claimed = claim(key)
        if not isinstance(claimed, int):
            return _replay(claimed)
        response = view(*args, **kwargs)
        if response.status_code < 400:
            store(claimed, response.status_code, response.content_type, response.get_data())
        return response

    return Blueprint.doc(parameters=[HEADER_DOC])(wrapper)


def claim(key: str) -> int | KeyRow:
    """Take ``key`` for this request of ``g.actor``: the key row's id to run under
    (new, or an unfinished one of the same request), or the row of the first
    request that took it, whose response is replayed."""
    digest = fingerprint()
    row_id = _claim(key, digest)
    if row_id is None:
        stored = _stored(key)
        if stored is not None:
            return stored.id if _unfinished(stored, digest) else stored
        row_id = _claim(key, digest)
        if row_id is None:
            return _stored(key)
    return row_id


def store(row_id: int, status_code: int, content_type: str, body: bytes) -> None:
    """Keep the first response under its key, in the request's own transaction."""
    db.session.execute(
        _keyring().store,
        dict(row_id=row_id, status_code=status_code, content_type=content_type, body=body),
    )


def release(row_id: int) -> None:
    """Give the key back: the request kept nothing worth replaying (a form shown again
    with its errors), so the same key may be sent once more."""
    model = _keyring().model
    db.session.execute(sa.delete(model).where(model.id == row_id))


def claim_form(key: str) -> bool:
    """For a page's form, whose key is rendered into it once: True the first time the
    signed-in member (``g.actor``) sends ``key``, False for a resubmission (a double
    tap, the back button). The key row commits with the form's effect, or rolls back
    with it, so a failed submission may be sent again."""
    key = key.strip()
    if not 0 < len(key) <= MAX_KEY_LENGTH - len("form:"):
        raise IdempotencyKeyRequired(_("The form has no key; reload the page and try again."))
    return _claim("form:" + key, fingerprint()) is not None


@dataclass(frozen=True)
class Keyring:
    """Where one kind of caller's keys are kept: a member's in their community, a
    platform admin's apart. Its statements are built once: every value-moving
    request runs them."""

    model: type
    #: The columns that name the caller, and the caller's attribute each holds.
    owner: dict[str, str]
    claims: dict[str, sa.Insert]
    store: sa.Update

    @classmethod
    def of(cls, model, owner: dict[str, str]) -> "Keyring":
        table = model.__table__
        columns = (*owner, "key", "fingerprint", "created_at", "expires_at")

        def claim(dialect) -> sa.Insert:
            return (
                dialect.insert(table)
                .values({name: sa.bindparam(name) for name in columns})
                .on_conflict_do_nothing(index_elements=[*owner, "key"])
                .returning(table.c.id)
            )

        store = (
            table.update()
            .where(table.c.id == sa.bindparam("row_id"))
            .values({name: sa.bindparam(name) for name in ("status_code", "content_type", "body")})
        )
        return cls(model, owner, {"postgresql": claim(postgresql), "sqlite": claim(sqlite)}, store)

    def owned_by(self, actor) -> dict[str, int]:
        return {column: getattr(actor, attribute) for column, attribute in self.owner.items()}


MEMBERS_KEYS = Keyring.of(IdempotencyKey, {"community_id": "community_id", "member_id": "id"})
PLATFORM_ADMINS_KEYS = Keyring.of(PlatformIdempotencyKey, {"platform_admin_id": "id"})


def _keyring() -> Keyring:
    return PLATFORM_ADMINS_KEYS if g.actor.community_id is None else MEMBERS_KEYS


def _claim(key: str, digest: str) -> int | None:
    """Insert the key row; None when the key is taken (by a committed request,
    or by one that commits while this waits on the unique index)."""
    keyring, now = _keyring(), utcnow()
    return db.session.execute(
        keyring.claims[db.session.get_bind().dialect.name],
        dict(
            keyring.owned_by(g.actor),
            key=key,
            fingerprint=digest,
            created_at=now,
            expires_at=expires_at(now),
        ),
    ).scalar_one_or_none()


def _stored(key: str) -> KeyRow | None:
    keyring = _keyring()
    model = keyring.model
    owner = [getattr(model, column) == value for column, value in keyring.owned_by(g.actor).items()]
    stored = db.session.execute(
        sa.select(model).where(*owner, model.key == key)
    ).scalar_one_or_none()
    if stored is not None and stored.expires_at <= utcnow():
        # By statement, not ``session.delete``: a concurrent retry of the same
        # expired key may have deleted it first, and then this deletes nothing.
        db.session.execute(sa.delete(model).where(model.id == stored.id))
        return None
    return stored


def _unfinished(stored: KeyRow, digest: str) -> bool:
    """A key row without a response: its request committed part of its work and
    stopped before answering. Only a Stripe payout commits before it answers
    (``app.payouts``), and running it again finishes it without paying twice, so
    the retry runs again under the same row."""
    return stored.status_code is None and stored.fingerprint == digest


def check_same_request(stored: KeyRow) -> None:
    """A key names one request: reused for another, it is refused."""
    if stored.fingerprint != fingerprint():
        raise IdempotencyKeyReused(
            _(
                "This '%(header)s' was first used for a different request; "
                "use a new key for a new request.",
                header=HEADER,
            )
        )


def _replay(stored: KeyRow) -> Response:
    check_same_request(stored)
    response = Response(stored.body, status=stored.status_code, content_type=stored.content_type)
    response.headers["Idempotent-Replayed"] = "true"
    return response
