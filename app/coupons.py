"""Coupons (积分券): lifecycle, signed tokens, short codes, escrow, revocation, expiry.

A coupon's points sit in the community's ``coupon_escrow`` account. Every move
into or out of escrow goes through :func:`post_coupon_escrow`: one ledger
transaction with one escrow leg per coupon and one leg per counter-account,
plus a :class:`~models.CouponPosting` per coupon naming its share. Issuance
(``app.issuance``) moves points in; revocation and expiry move them back out,
to where the rule says; redemption (later) moves them to a merchant.

Lifecycle, changed only by :func:`transition` (or, for many coupons at once,
by updates limited to the states :data:`TRANSITIONS` allows): ``issued`` ->
``partly_redeemed`` (any number of times) -> ``redeemed``; ``issued`` or
``partly_redeemed`` -> ``expired`` or ``revoked``. The last three are final,
except that voiding a redemption reopens a coupon it used up (``redeemed`` ->
``partly_redeemed`` or ``issued``).

A token is ``base64url(payload) "." base64url(signature)``: the payload holds
the key id, community, coupon and expiry, and is signed with Ed25519 (see
``app.signing``). :func:`read_token` checks it offline, with the public keys
only; :func:`verify_coupon` also asks the database (revoked, used up).
"""

import base64
import binascii
import hmac
import secrets
import struct
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby

import sqlalchemy as sa

from models import (
    FINAL_COUPON_STATUSES,
    Account,
    AccountKind,
    Community,
    Coupon,
    CouponFunding,
    CouponPosting,
    CouponStatus,
    ExpiryTarget,
    IssuanceRule,
    LedgerTransaction,
    Member,
    Merchant,
    MerchantGroupMember,
    TransactionKind,
    utcnow,
)

from . import ledger, signing, sql
from .extensions import db
from .lifecycle import Lifecycle
from .problems import Conflict, InvalidInput, NotFound

#: Where a coupon holding points may go: spent in part (again), used up, expired, revoked.
_FROM_OPEN = frozenset(
    {
        CouponStatus.PARTLY_REDEEMED,
        CouponStatus.REDEEMED,
        CouponStatus.EXPIRED,
        CouponStatus.REVOKED,
    }
)
#: A voided redemption gives its points back: a coupon reopens, as partly
#: redeemed or, when nothing else was spent, as issued.
_REOPENED = frozenset({CouponStatus.ISSUED, CouponStatus.PARTLY_REDEEMED})
TRANSITIONS = {
    CouponStatus.ISSUED: _FROM_OPEN,
    CouponStatus.PARTLY_REDEEMED: _FROM_OPEN | {CouponStatus.ISSUED},
    CouponStatus.REDEEMED: _REOPENED,
    CouponStatus.EXPIRED: set(),
    CouponStatus.REVOKED: set(),
}

#: Coupons in these states still hold points in escrow.
OPEN_STATUSES = tuple(status for status in CouponStatus if status not in FINAL_COUPON_STATUSES)

#: Short codes: digits and capitals without look-alikes (no 0 O 1 I L U).
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10

#: Coupons per INSERT, and per ledger transaction when the points' other side
#: is one account (issuance for a grant, ``expired``).
BATCH_SIZE = 500
#: Coupons per ledger transaction with a leg per resident's wallet (convert,
#: expiry back to wallets). PostgreSQL's balance trigger sums the transaction
#: once per entry, so its cost grows with the square of a transaction's entries.
WALLET_BATCH_SIZE = 100


class IllegalCouponTransition(Conflict):
    slug, title = "illegal-coupon-transition", "Coupon cannot change this way"


class InvalidCouponToken(InvalidInput):
    slug, title = "invalid-coupon-token", "Not a coupon token"


class UnknownSigningKey(InvalidInput):
    slug, title = "unknown-signing-key", "Coupon signed with an unknown key"


class CouponSignatureInvalid(InvalidInput):
    slug, title = "coupon-signature-invalid", "Coupon signature does not match"


class ForeignCoupon(InvalidInput):
    slug, title = "coupon-of-another-community", "Coupon belongs to another community"


class UnknownCoupon(NotFound):
    slug, title = "unknown-coupon", "No such coupon"


class CouponExpired(Conflict):
    slug, title = "coupon-expired", "Coupon has expired"


class CouponRevoked(Conflict):
    slug, title = "coupon-revoked", "Coupon was revoked"


class CouponUsedUp(Conflict):
    slug, title = "coupon-used-up", "Coupon is used up"


LIFECYCLE = Lifecycle("Coupon", TRANSITIONS, IllegalCouponTransition)


def transition(coupon: Coupon, new: CouponStatus, **changes) -> None:
    """The only place one coupon's status changes: a final status stamps ``closed_at``."""
    closed_at = changes.pop("closed_at", None)
    if new in FINAL_COUPON_STATUSES:
        closed_at = closed_at or utcnow()
    LIFECYCLE.move(coupon, new, closed_at=closed_at, **changes)


# --- short codes -------------------------------------------------------------


def new_code() -> str:
    """A random code: one draw below 30^10 (about 49 bits), written in the code alphabet."""
    number = secrets.randbelow(len(CODE_ALPHABET) ** CODE_LENGTH)
    digits = []
    for _ in range(CODE_LENGTH):
        number, digit = divmod(number, len(CODE_ALPHABET))
        digits.append(CODE_ALPHABET[digit])
    return "".join(digits)


def normalize_code(text: str) -> str:
    """What a person typed, as stored: capitals, without spaces or dashes."""
    return "".join(text.split()).replace("-", "").upper()


# --- tokens ------------------------------------------------------------------

TOKEN_VERSION = 1
#: Signed before the payload, so a coupon signature can never pass for another kind.
SIGNING_CONTEXT = b"jifen-coupon\x00"
_IDS = struct.Struct(">QQI")


@dataclass(frozen=True)
class TokenPayload:
    kid: str
    community_id: int
    coupon_id: int
    expires_at: datetime


def encode_payload(payload: TokenPayload) -> bytes:
    kid = payload.kid.encode("ascii")
    expires = int(payload.expires_at.timestamp())
    return (
        bytes([TOKEN_VERSION, len(kid)])
        + kid
        + _IDS.pack(payload.community_id, payload.coupon_id, expires)
    )


def decode_payload(raw: bytes) -> TokenPayload:
    if len(raw) < 2 or raw[0] != TOKEN_VERSION or len(raw) != 2 + raw[1] + _IDS.size:
        raise InvalidCouponToken("The token's contents are not a coupon of this version.")
    kid = raw[2 : 2 + raw[1]].decode("ascii", errors="replace")
    community_id, coupon_id, expires = _IDS.unpack(raw[2 + raw[1] :])
    return TokenPayload(kid, community_id, coupon_id, datetime.fromtimestamp(expires, UTC))


def coupon_token(coupon: Coupon) -> str:
    """The coupon's QR content, signed with the current key.

    Ed25519 signatures are deterministic: the same coupon and key always give
    the same token, so its QR image can be cached.
    """
    key = signing.keyring().signer
    payload = encode_payload(
        TokenPayload(key.kid, coupon.community_id, coupon.id, coupon.expires_at)
    )
    signature = key.private.sign(SIGNING_CONTEXT + payload)
    return f"{signing.b64url(payload)}.{signing.b64url(signature)}"


def _b64url_decode(part: str) -> bytes:
    """Strict base64url: only the alphabet, and only the one canonical spelling."""
    try:
        raw = base64.b64decode(part + "=" * (-len(part) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidCouponToken("The token is not base64url text.") from error
    if not hmac.compare_digest(signing.b64url(raw), part):
        raise InvalidCouponToken("The token is not in its canonical form.")
    return raw


def read_token(token: str, keys: signing.KeyRing, now: datetime | None = None) -> TokenPayload:
    """Check a token offline: its form, its key, its signature, then its expiry.

    Needs only public keys; says nothing about revocation or what is left.
    """
    parts = token.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise InvalidCouponToken("A coupon token is two base64url parts joined by '.'.")
    payload_raw, signature = (_b64url_decode(part) for part in parts)
    payload = decode_payload(payload_raw)
    key = keys.find(payload.kid)
    if key is None:
        raise UnknownSigningKey(
            f"The coupon was signed with key '{payload.kid}', which this service does not know."
        )
    if not signing.verify(key.public, signature, SIGNING_CONTEXT + payload_raw):
        raise CouponSignatureInvalid("The coupon's signature does not match: it was altered.")
    if (now or utcnow()) >= payload.expires_at:
        raise CouponExpired(f"The coupon expired at {payload.expires_at.isoformat()}.")
    return payload


def check_usable(coupon: Coupon, now: datetime | None = None) -> None:
    """Refuse a coupon that is revoked, expired or used up (the database's view)."""
    if coupon.status == CouponStatus.REVOKED:
        raise CouponRevoked(f"Coupon {coupon.code} was revoked by the community fund.")
    if coupon.status == CouponStatus.EXPIRED or (now or utcnow()) >= coupon.expires_at:
        raise CouponExpired(f"Coupon {coupon.code} expired at {coupon.expires_at.isoformat()}.")
    if coupon.status == CouponStatus.REDEEMED:
        raise CouponUsedUp(f"Coupon {coupon.code} has no points left.")


def verify_coupon(
    token: str, community: Community, now: datetime | None = None, *, lock: bool = False
) -> Coupon:
    """The usable coupon behind ``token`` for a merchant of ``community``, or a named
    refusal; with ``lock``, its row is locked for this transaction and read afresh."""
    payload = read_token(token, signing.keyring(), now)
    if payload.community_id != community.id:
        raise ForeignCoupon("This coupon was issued by another community; it is not valid here.")
    coupon = db.session.get(
        Coupon,
        payload.coupon_id,
        # OF coupons: not the joined rule's row, which every coupon of the rule shares.
        with_for_update={"of": Coupon} if lock else None,
        populate_existing=lock,
    )
    if coupon is None or coupon.community_id != community.id:
        raise UnknownCoupon("The token is signed, but no such coupon exists here.")
    check_usable(coupon, now)
    return coupon


#: Built once: a till runs one on every scan.
_BY_CODE = sa.select(Coupon).where(
    Coupon.community_id == sa.bindparam("community_id"), Coupon.code == sa.bindparam("code")
)
_BY_CODE_LOCKED = _BY_CODE.with_for_update(of=Coupon).execution_options(populate_existing=True)


def coupon_by_code(
    code: str, community: Community, now: datetime | None = None, *, lock: bool = False
) -> Coupon:
    """The usable coupon with this short code in ``community``, or a named refusal;
    with ``lock``, as :func:`verify_coupon`."""
    wanted = normalize_code(code)
    coupon = db.session.execute(
        _BY_CODE_LOCKED if lock else _BY_CODE, {"community_id": community.id, "code": wanted}
    ).scalar_one_or_none()
    if coupon is None or not hmac.compare_digest(coupon.code, wanted):
        raise UnknownCoupon(f"No coupon with code '{code}' in this community.")
    check_usable(coupon, now)
    return coupon


def coupon_valid_at(coupon: Coupon, merchant: Merchant) -> bool:
    """Whether the coupon's rule lets it be spent at ``merchant``.

    Where, not whether: the coupon's state and expiry are :func:`check_usable`'s.
    """
    if merchant.community_id != coupon.community_id:
        return False
    group_id = coupon.rule.merchant_group_id
    if group_id is None:
        return True
    return (
        db.session.execute(
            sa.select(MerchantGroupMember.id).where(
                MerchantGroupMember.community_id == coupon.community_id,
                MerchantGroupMember.group_id == group_id,
                MerchantGroupMember.merchant_id == merchant.id,
            )
        ).first()
        is not None
    )


# --- escrow --------------------------------------------------------------------


@dataclass(frozen=True)
class EscrowMove:
    coupon_id: int
    #: Positive into escrow (issue), negative out of it.
    points: int
    #: Where the points come from (into escrow) or go to (out of it).
    counter: Account


def post_coupon_escrow(
    community_id: int,
    moves: Sequence[EscrowMove],
    *,
    kind: TransactionKind,
    memo: str,
    reference: str | None = None,
    actor_id: int | None = None,
) -> LedgerTransaction:
    """One ledger transaction for many coupons, and a :class:`~models.CouponPosting` each.

    The escrow account is a control account: the transaction has one escrow
    leg for the total and one leg per counter-account (issuance, each wallet,
    ``expired``...), while the coupon postings, its subsidiary ledger, say
    which coupon each point belongs to. Reconciliation proves the two agree,
    transaction by transaction. Few entries per transaction also keep
    PostgreSQL's balance trigger, which sums a transaction once per entry,
    cheap however many coupons move.
    """
    escrow = ledger.ensure_account(community_id, AccountKind.COUPON_ESCROW)
    counter: dict[int, int] = defaultdict(int)
    accounts: dict[int, Account] = {}
    for move in moves:
        counter[move.counter.id] -= move.points
        accounts[move.counter.id] = move.counter
    legs = [(escrow, sum(move.points for move in moves))]
    legs += [(accounts[account_id], amount) for account_id, amount in counter.items()]
    txn = ledger.post(community_id, kind, legs, memo=memo, reference=reference, actor_id=actor_id)
    sql.insert_many(
        CouponPosting.__table__,
        [dict(coupon_id=move.coupon_id, amount=move.points) for move in moves],
        same=dict(community_id=community_id, transaction_id=txn.id),
    )
    return txn


def wallets_of(community_id: int, member_ids) -> dict[int, Account]:
    """The members' wallet accounts, by member id, in one query."""
    found = db.session.execute(
        sa.select(Account).where(
            Account.community_id == community_id,
            Account.kind == AccountKind.WALLET,
            Account.member_id.in_(set(member_ids)),
        )
    ).scalars()
    wallets = {account.member_id: account for account in found}
    for member_id in set(member_ids) - set(wallets):
        wallets[member_id] = ledger.ensure_account(
            community_id, AccountKind.WALLET, member_id=member_id
        )
    return wallets


def _source(coupon: Coupon) -> Account:
    """Where a coupon's points came from, and so go back to on revocation."""
    if coupon.rule.funding == CouponFunding.CONVERT:
        return wallets_of(coupon.community_id, [coupon.member_id])[coupon.member_id]
    return ledger.ensure_account(coupon.community_id, AccountKind.ISSUANCE)


def revoke_coupon(coupon: Coupon, *, reason: str, actor: Member) -> Coupon:
    """Cancel a coupon; its remaining points go back where they came from.

    The coupon row is locked first, so of two revocations at the same moment
    the second waits and then finds it revoked.
    """
    reason = reason.strip()
    if not reason:
        raise InvalidInput("A reason is required.", errors={"json": {"reason": ["Required."]}})
    sql.locked(coupon)
    LIFECYCLE.check(coupon, CouponStatus.REVOKED)
    post_coupon_escrow(
        coupon.community_id,
        [EscrowMove(coupon.id, -coupon.points_remaining, _source(coupon))],
        kind=TransactionKind.COUPON_REVOCATION,
        memo=f"{coupon.rule.name} · {coupon.period}: {reason}",
        reference=f"coupon-revocation:{coupon.id}",
        actor_id=actor.id,
    )
    transition(coupon, CouponStatus.REVOKED, points_remaining=0)
    db.session.flush()
    return coupon


# --- expiry --------------------------------------------------------------------


@dataclass
class ExpiryResult:
    coupons: int = 0
    points: int = 0
    to_wallets: int = 0
    to_expired: int = 0


def expire_coupons(
    now: datetime | None = None,
    *,
    community: Community | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExpiryResult:
    """Close every open coupon past its expiry; move its remaining points as its rule says.

    Set-based: the due coupons are read (and locked) in one query, and each
    batch of them is one ledger transaction and one ``UPDATE``.
    """
    now = now or utcnow()
    query = (
        sa.select(
            Coupon.id,
            Coupon.community_id,
            Coupon.member_id,
            Coupon.points_remaining,
            IssuanceRule.on_expiry,
        )
        .join(
            IssuanceRule,
            sa.and_(
                IssuanceRule.id == Coupon.rule_id,
                IssuanceRule.community_id == Coupon.community_id,
            ),
        )
        .where(
            Coupon.status.in_(LIFECYCLE.sources(CouponStatus.EXPIRED)),
            Coupon.expires_at <= now,
        )
        .order_by(Coupon.community_id, Coupon.id)
        .with_for_update(of=Coupon)
    )
    if community is not None:
        query = query.where(Coupon.community_id == community.id)
    due = db.session.execute(query).all()
    result = ExpiryResult()
    batches = [
        batch
        for _community_id, rows in groupby(due, key=lambda row: row.community_id)
        for batch in chunks(list(rows), WALLET_BATCH_SIZE)
    ]
    for batch in batches:
        _expire_batch(batch, now)
        result.coupons += len(batch)
        for row in batch:
            result.points += row.points_remaining
            if row.on_expiry == ExpiryTarget.WALLET:
                result.to_wallets += row.points_remaining
            else:
                result.to_expired += row.points_remaining
        if progress is not None:
            progress(result.coupons, len(due))
    return result


def _expire_batch(batch, now: datetime) -> None:
    community_id = batch[0].community_id
    wallets = wallets_of(
        community_id, [row.member_id for row in batch if row.on_expiry == ExpiryTarget.WALLET]
    )
    expired = ledger.ensure_account(community_id, AccountKind.EXPIRED)
    moves = [
        EscrowMove(
            row.id,
            -row.points_remaining,
            wallets[row.member_id] if row.on_expiry == ExpiryTarget.WALLET else expired,
        )
        for row in batch
    ]
    post_coupon_escrow(
        community_id,
        moves,
        kind=TransactionKind.COUPON_EXPIRY,
        memo="积分券到期 Coupon expired",
    )
    db.session.execute(
        sa.update(Coupon)
        .where(Coupon.id.in_([row.id for row in batch]))
        .values(status=CouponStatus.EXPIRED, points_remaining=0, closed_at=now)
        .execution_options(synchronize_session=False)
    )


def chunks(rows: Sequence, size: int | None = None):
    size = size or BATCH_SIZE
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
