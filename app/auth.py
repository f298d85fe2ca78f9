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

from models import ApiToken, Community, Member, Merchant, utcnow

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


def authenticate(username: str, password: str) -> Member | None:
    """The active member with these credentials, or None.

    An unknown username still costs one hash verification, so response time
    does not reveal which usernames exist.
    """
    member = db.session.execute(
        sa.select(Member).where(Member.username == username)
    ).scalar_one_or_none()
    hasher = _hasher()
    if member is None:
        _verify(hasher, _dummy_hash(hasher), password)
        return None
    if not _verify(hasher, member.password_hash, password) or not member.is_active:
        return None
    if hasher.check_needs_rehash(member.password_hash):
        member.password_hash = hasher.hash(password)
    return member


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


def issue_token(member: Member) -> tuple[str, ApiToken]:
    """A new bearer token for ``member``: the secret to hand out, and its row (digest only)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ttl = timedelta(days=current_app.config["API_TOKEN_TTL_DAYS"])
    token = ApiToken(
        community_id=member.community_id,
        member_id=member.id,
        digest=token_digest(secret),
        expires_at=utcnow() + ttl,
    )
    db.session.add(token)
    return secret, token


def revoke_token(secret: str) -> None:
    db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.digest == token_digest(secret), ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


#: Every API request runs it: the token, its member, the member's community and
#: shop (a cashier's requests need it), in one prepared statement.
_ACTOR_BY_DIGEST = (
    sa.select(
        ApiToken.digest,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        *sql.columns_of(Member, "member_"),
        *sql.columns_of(Community, "community_"),
        *sql.columns_of(Merchant, "merchant_"),
    )
    .join(Member, Member.id == ApiToken.member_id)
    .outerjoin(Community, Community.id == Member.community_id)
    .outerjoin(
        Merchant,
        (Merchant.community_id == Member.community_id) & (Merchant.id == Member.merchant_id),
    )
    .where(ApiToken.digest == sa.bindparam("digest"))
)


def _token_actor(secret: str) -> tuple[Member, object] | None:
    """The member a known token names, with the token's row (its digest and life)."""
    digest = token_digest(secret)
    row = sql.hot_row(_ACTOR_BY_DIGEST, {"digest": digest})
    if row is None or not hmac.compare_digest(row.digest, digest):
        return None
    member = sql.adopt(Member, row, "member_")
    set_committed_value(member, "community", sql.adopt(Community, row, "community_"))
    set_committed_value(member, "merchant", sql.adopt(Merchant, row, "merchant_"))
    return member, row


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
def _load_member(session_id: str) -> Member | None:
    """The signed-in member, while active and while the password is the one they signed
    in with (see ``Member.get_id``)."""
    member_id = session_id.partition(".")[0]
    if not member_id.isdigit():
        return None
    member = db.session.get(Member, int(member_id))
    if member is None or not member.is_active:
        return None
    return member if hmac.compare_digest(member.get_id(), session_id) else None
