"""Pay-codes (付款码): a resident's changing QR for spending wallet points directly.

A pay-code is digits only, like a bank app's: the member id, one digit naming
the time window, and nine digits of HMAC-SHA256 over the member and window,
keyed by the member's pay-code secret::

    <member id><window mod 10><9-digit MAC>

Windows are ``PAY_CODE_WINDOW_SECONDS`` long (30 by default). The code of a
window is accepted during that window and the next one, so a code shown is
good for one to two windows, about a minute (a code some ten windows old no
longer reads as expired, only as invalid). The secret is derived from the
app's ``SECRET_KEY`` and a random per-member salt kept in the database: neither
alone can make codes, and resetting the salt voids every code made before.

:func:`verify_pay_code` says whose code it is; :func:`consume_pay_code` also
marks it used, as one row per (member, window) whose unique key refuses a
second use even when two tills scan it at the same moment.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import Community, Member, PayCodeSecret, PayCodeUse, utcnow

from . import sql
from .extensions import db
from .problems import Conflict, InvalidInput
from .wallets import wallet_or_404

#: Windows, counting back from the current one, whose codes verify (this one and the last).
WINDOWS_VALID = 2


class InvalidPayCode(InvalidInput):
    slug, title = "invalid-pay-code", _l("Not a valid pay-code")
    message = _l("This pay-code is not valid. Ask the resident to show it again.")


class PayCodeExpired(Conflict):
    slug, title = "pay-code-expired", _l("Pay-code has expired")
    message = _l("This pay-code has expired. Ask the resident for a fresh one.")


class PayCodeUsed(Conflict):
    slug, title = "pay-code-used", _l("Pay-code was already used")
    message = _l("This pay-code was already used. Ask the resident for the next one.")


class ForeignPayCode(InvalidInput):
    slug, title = "pay-code-of-another-community", _l("Pay-code of another community")
    message = _l("This pay-code belongs to another community.")


@dataclass(frozen=True)
class PayCode:
    member_id: int
    code: str
    window_index: int
    window_seconds: int
    #: When the screen should fetch the next code: the end of this window.
    refresh_at: datetime
    #: When this code stops being accepted.
    expires_at: datetime


def window_seconds() -> int:
    return int(current_app.config["PAY_CODE_WINDOW_SECONDS"])


def window_of(moment: datetime) -> int:
    return int(moment.timestamp()) // window_seconds()


def _window_start(index: int) -> datetime:
    return datetime.fromtimestamp(index * window_seconds(), UTC)


def _salt_of(member: Member, *, create: bool) -> str | None:
    if create:
        db.session.execute(
            sql.insert(PayCodeSecret)
            .values(
                community_id=member.community_id,
                member_id=member.id,
                salt=secrets.token_hex(32),
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["community_id", "member_id"])
        )
    return db.session.execute(
        sa.select(PayCodeSecret.salt).where(
            PayCodeSecret.community_id == member.community_id,
            PayCodeSecret.member_id == member.id,
        )
    ).scalar_one_or_none()


def _mac(salt: str, member_id: int, window_index: int) -> str:
    key = current_app.config["SECRET_KEY"]
    secret = hmac.new(
        key if isinstance(key, bytes) else key.encode(),
        b"jifen-pay-code\x00" + bytes.fromhex(salt),
        hashlib.sha256,
    ).digest()
    digest = hmac.new(secret, f"{member_id}:{window_index}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**9:09d}"


def pay_code(member: Member, now: datetime | None = None) -> PayCode:
    """The member's pay-code for the current window."""
    wallet_or_404(member)
    index = window_of(now or utcnow())
    salt = _salt_of(member, create=True)
    return PayCode(
        member_id=member.id,
        code=f"{member.id}{index % 10}{_mac(salt, member.id, index)}",
        window_index=index,
        window_seconds=window_seconds(),
        refresh_at=_window_start(index + 1),
        expires_at=_window_start(index + WINDOWS_VALID),
    )


def reset_pay_code(member: Member) -> None:
    """A new secret: every code made so far stops working at once."""
    wallet_or_404(member)
    _salt_of(member, create=True)
    db.session.execute(
        sa.update(PayCodeSecret)
        .where(
            PayCodeSecret.community_id == member.community_id,
            PayCodeSecret.member_id == member.id,
        )
        .values(salt=secrets.token_hex(32), created_at=utcnow())
    )


@dataclass(frozen=True)
class VerifiedPayCode:
    member: Member
    window_index: int


def _verify(code: str, community: Community, now: datetime | None) -> VerifiedPayCode:
    code = code.strip()
    invalid = InvalidPayCode(_("This is not a valid pay-code; ask the resident to show it again."))
    if not (code.isascii() and code.isdigit()) or not 11 <= len(code) <= 30 or code[0] == "0":
        raise invalid
    member_id, digit, mac = int(code[:-10]), int(code[-10]), code[-9:]
    current = window_of(now or utcnow())
    # The latest window with this last digit, allowing one window of clock skew ahead.
    index = current + 1 - ((current + 1 - digit) % 10)
    member = db.session.get(Member, member_id)
    salt = _salt_of(member, create=False) if member is not None else None
    if salt is None or not hmac.compare_digest(_mac(salt, member_id, index), mac):
        raise invalid
    if index <= current - WINDOWS_VALID:
        raise PayCodeExpired(_("This pay-code has expired; ask the resident to show a fresh one."))
    if member.community_id != community.id:
        raise ForeignPayCode(_("This pay-code belongs to a resident of another community."))
    if not member.active:
        raise invalid
    return VerifiedPayCode(member, index)


def verify_pay_code(code: str, community: Community, now: datetime | None = None) -> Member:
    """The member whose valid, unexpired pay-code this is, for a merchant of ``community``.

    Does not mark the code used: :func:`consume_pay_code` does, once.
    """
    return _verify(code, community, now).member


def consume_pay_code(code: str, community: Community, now: datetime | None = None) -> Member:
    """Verify the code and mark it used; a second use is refused with :class:`PayCodeUsed`."""
    verified = _verify(code, community, now)
    recorded = db.session.execute(
        sql.insert(PayCodeUse)
        .values(
            community_id=community.id,
            member_id=verified.member.id,
            window_index=verified.window_index,
            used_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["community_id", "member_id", "window_index"])
        .returning(PayCodeUse.id)
    ).first()
    if recorded is None:
        raise PayCodeUsed(_("This pay-code was already used; ask the resident for the next one."))
    return verified.member
