"""Who is calling: passwords (argon2), revocable bearer tokens, page sessions.

API requests authenticate only with ``Authorization: Bearer``; pages only with
the Flask-Login session cookie (and CSRF). Keeping the two apart means a
browser's cookie can never drive the CSRF-exempt API.
"""

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import argon2
import argon2.profiles
import sqlalchemy as sa
from flask import current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm.attributes import set_committed_value

from models import (
    ApiToken,
    Community,
    Member,
    Merchant,
    PlatformAdmin,
    PlatformAdminToken,
    TokenDigest,
    Username,
    utcnow,
)

from . import sql
from .extensions import db, login_manager
from .problems import Unauthorized

TOKEN_PREFIX = "jf_"  # noqa: S105 (a visible prefix, not a secret)


def _hasher() -> argon2.PasswordHasher:
    hasher = current_app.extensions.get("jifen.argon2")
    if hasher is None:
        profile = current_app.config.get("ARGON2_PROFILE", "RFC_9106_LOW_MEMORY")
        hasher = argon2.PasswordHasher.from_parameters(getattr(argon2.profiles, profile))
        current_app.extensions["jifen.argon2"] = hasher
    return hasher


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def authenticate(username: str, password: str) -> Member | PlatformAdmin | None:
    """The active member or platform admin with these credentials, or None.

    An unknown username still costs one hash verification, so response time
    does not reveal which usernames exist.
    """
    person = _signing_in(username)
    hasher = _hasher()
    if person is None:
        _verify(hasher, _dummy_hash(hasher), password)
        return None
    if not _verify(hasher, person.password_hash, password) or not person.is_active:
        return None
    if hasher.check_needs_rehash(person.password_hash):
        person.password_hash = hasher.hash(password)
    return person


def _signing_in(username: str) -> Member | PlatformAdmin | None:
    """Who has ``username``: the directory names their community, then the
    member is read there (or the platform admin, of none)."""
    entry = db.session.get(Username, username)
    if entry is None:
        return None
    if entry.community_id is None:
        found = sa.select(PlatformAdmin).where(PlatformAdmin.username == username)
    else:
        found = sa.select(Member).where(
            Member.community_id == entry.community_id, Member.username == username
        )
    return db.session.execute(found).scalar_one_or_none()


def _dummy_hash(hasher: argon2.PasswordHasher) -> str:
    if "jifen.dummy_hash" not in current_app.extensions:
        current_app.extensions["jifen.dummy_hash"] = hasher.hash(secrets.token_hex(16))
    return current_app.extensions["jifen.dummy_hash"]


def _verify(hasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(person: Member | PlatformAdmin) -> tuple[str, ApiToken | PlatformAdminToken]:
    """A new bearer token for ``person``: the secret to hand out, and its row (digest only)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = token_digest(secret)
    ttl = timedelta(days=current_app.config["API_TOKEN_TTL_DAYS"])
    life = dict(digest=digest, expires_at=utcnow() + ttl)
    db.session.add(TokenDigest(digest=digest, community_id=person.community_id))
    db.session.flush()
    if isinstance(person, PlatformAdmin):
        token = PlatformAdminToken(platform_admin_id=person.id, **life)
    else:
        token = ApiToken(community_id=person.community_id, member_id=person.id, **life)
    db.session.add(token)
    return secret, token


def revoke_token(secret: str) -> None:
    """End the token: found through the directory, which names the community whose
    tokens hold it (none: a platform admin's)."""
    digest = token_digest(secret)
    entry = db.session.get(TokenDigest, digest)
    if entry is None:
        return
    if entry.community_id is None:
        model, where = PlatformAdminToken, []
    else:
        model, where = ApiToken, [ApiToken.community_id == entry.community_id]
    db.session.execute(
        sa.update(model)
        .where(*where, model.digest == digest, model.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


#: A member's token by its digest (the ``digest`` parameter), found through the
#: directory's row, which names its community. Materialized: it is one row, and
#: kept apart the planner cannot join a community's members before the token, as it
#: did on tables it had no statistics for (26 ms a read instead of 0.15).
TOKEN = (
    sa.select(
        ApiToken.community_id,
        ApiToken.member_id,
        ApiToken.digest,
        ApiToken.revoked_at,
        ApiToken.expires_at,
    )
    .join(
        TokenDigest,
        (TokenDigest.community_id == ApiToken.community_id)
        & (TokenDigest.digest == ApiToken.digest),
    )
    .where(TokenDigest.digest == sa.bindparam("digest"))
    .cte("token")
    .prefix_with("MATERIALIZED")
)

#: The token and its member.
TOKEN_MEMBER = sa.join(
    TOKEN,
    Member,
    (Member.community_id == TOKEN.c.community_id) & (Member.id == TOKEN.c.member_id),
)

#: Every API request runs it: the token, found through its digest's community, its
#: member, the member's community and shop (a cashier's requests need it), in one
#: prepared statement.
_ACTOR_BY_DIGEST = (
    sa.select(
        TOKEN.c.digest,
        TOKEN.c.revoked_at,
        TOKEN.c.expires_at,
        *sql.columns_of(Member, "member_"),
        *sql.columns_of(Community, "community_"),
        *sql.columns_of(Merchant, "merchant_"),
    )
    .select_from(TOKEN_MEMBER)
    .join(Community, Community.id == Member.community_id)
    .outerjoin(
        Merchant,
        (Merchant.community_id == Member.community_id) & (Merchant.id == Member.merchant_id),
    )
)

#: A platform admin's token: read only when no member's token has the digest.
_PLATFORM_ADMIN_BY_DIGEST = (
    sa.select(
        PlatformAdminToken.digest,
        PlatformAdminToken.revoked_at,
        PlatformAdminToken.expires_at,
        *sql.columns_of(PlatformAdmin, "admin_"),
    )
    .join(PlatformAdmin, PlatformAdmin.id == PlatformAdminToken.platform_admin_id)
    .where(PlatformAdminToken.digest == sa.bindparam("digest"))
)


def _token_actor(secret: str) -> tuple[Member | PlatformAdmin, object] | None:
    """The member or platform admin a known token names, with the token's row (its
    digest and life)."""
    digest = token_digest(secret)
    row = sql.hot_row(_ACTOR_BY_DIGEST, {"digest": digest})
    if row is not None and hmac.compare_digest(row.digest, digest):
        member = sql.adopt(Member, row, "member_")
        set_committed_value(member, "community", sql.adopt(Community, row, "community_"))
        set_committed_value(member, "merchant", sql.adopt(Merchant, row, "merchant_"))
        return member, row
    row = db.session.execute(_PLATFORM_ADMIN_BY_DIGEST, {"digest": digest}).first()
    if row is not None and hmac.compare_digest(row.digest, digest):
        return sql.adopt(PlatformAdmin, row, "admin_"), row
    return None


def bearer_secret() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


class NotSignedIn(Unauthorized):
    slug, title = "not-signed-in", _l("Authentication required")
    message = _l("Sign in first.")


class BearerTokenMissing(Unauthorized):
    slug, title = "bearer-token-missing", _l("Authentication required")
    message = _l("Send a bearer token: get one from POST /api/v1/auth/token.")


class BearerTokenNotLive(Unauthorized):
    slug, title = "bearer-token-not-live", _l("Sign-in expired")
    message = _l("Your sign-in has expired or was ended. Please sign in again.")


class AccountDisabled(Unauthorized):
    slug, title = "account-disabled", _l("Account disabled")
    message = _l("This account is disabled. Ask your community's fund admin.")


def token_refusal(
    *, revoked_at: datetime | None, expires_at: datetime, member_active: bool, now: datetime
) -> Unauthorized | None:
    """Why a known bearer token may not act now, or None: the one rule on a
    token's life, applied by :func:`api_actor` and by the till's own read."""
    if revoked_at is not None or expires_at <= now:
        return BearerTokenNotLive(_("The bearer token is expired or revoked."))
    if not member_active:
        return AccountDisabled()
    return None


def api_actor() -> Member:
    """The member behind this API request's bearer token, or 401."""
    if "actor" in g:
        return g.actor
    secret = bearer_secret()
    if secret is None:
        raise BearerTokenMissing(
            _("Send 'Authorization: Bearer <token>'; get a token from POST /api/v1/auth/token.")
        )
    found = _token_actor(secret)
    if found is None:
        raise BearerTokenNotLive(_("The bearer token is unknown, expired or revoked."))
    member, token = found
    refusal = token_refusal(
        revoked_at=token.revoked_at,
        expires_at=token.expires_at,
        member_active=member.is_active,
        now=utcnow(),
    )
    if refusal is not None:
        raise refusal
    g.actor = member
    return member


class PageSessions(SecureCookieSessionInterface):
    """The session cookie is read and written for pages only: an API request
    gets the null session, so no cookie can stand in for its bearer token, and
    it does not pay for unsigning one."""

    def open_session(self, app, request):
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def page_actor() -> Member:
    if not current_user.is_authenticated:
        raise NotSignedIn()
    return current_user._get_current_object()


def current_actor() -> Member:
    return api_actor() if request.path.startswith("/api/") else page_actor()


@login_manager.user_loader
def _load_person(session_id: str) -> Member | PlatformAdmin | None:
    """The signed-in member or platform admin, while active and while the password is
    the one they signed in with (see ``SignsIn.get_id``)."""
    person_id = session_id.partition(".")[0]
    model = PlatformAdmin if person_id.startswith(PlatformAdmin.SESSION_PREFIX) else Member
    person_id = person_id.removeprefix(PlatformAdmin.SESSION_PREFIX)
    if not person_id.isdigit():
        return None
    person = db.session.get(model, int(person_id))
    if person is None or not person.is_active:
        return None
    return person if hmac.compare_digest(person.get_id(), session_id) else None
