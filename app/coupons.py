"""Coupons (积分券): lifecycle, lookup and validity, escrow, revocation, expiry.

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

Where a coupon may be spent is one SQL expression, :func:`valid_at`, used by
the locking path and by the till's one-statement read alike. Tokens and short
codes are ``app.coupon_tokens``'.
"""

import hmac
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

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
from .coupon_tokens import CouponExpired, normalize_code, read_token
from .extensions import db
from .lifecycle import Lifecycle
from .offers import LOCAL_ZONE
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


#: Coupons per INSERT, and per ledger transaction when the points' other side
#: is one account (issuance for a grant, ``expired``).
BATCH_SIZE = 500
#: Coupons per ledger transaction with a leg per resident's wallet (convert,
#: expiry back to wallets). Since migration 0015 PostgreSQL's balance trigger sums
#: a transaction once, not once per entry; a batch of 1,000 wallets funded 100,000
#: coupons 2.6 times as fast as batches of 100, which that square had kept small.
WALLET_BATCH_SIZE = 1000


class IllegalCouponTransition(Conflict):
    slug, title = "illegal-coupon-transition", _l("Coupon cannot change this way")


class ForeignCoupon(InvalidInput):
    slug, title = "coupon-of-another-community", _l("Coupon belongs to another community")
    message = _l("This coupon belongs to another community.")


class UnknownCoupon(NotFound):
    slug, title = "unknown-coupon", _l("No such coupon")
    message = _l("No such coupon. Check the code and try again.")


class CouponRevoked(Conflict):
    slug, title = "coupon-revoked", _l("Coupon was revoked")
    message = _l("This coupon was withdrawn by the community fund.")


class CouponUsedUp(Conflict):
    slug, title = "coupon-used-up", _l("Coupon is used up")
    message = _l("This coupon is used up.")


class ReasonRequired(InvalidInput):
    slug, title = "reason-required", _l("A reason is required")
    message = _l("Say why the coupon is withdrawn.")


LIFECYCLE = Lifecycle("Coupon", TRANSITIONS, IllegalCouponTransition)


def transition(coupon: Coupon, new: CouponStatus, **changes) -> None:
    """The only place one coupon's status changes: a final status stamps ``closed_at``."""
    closed_at = changes.pop("closed_at", None)
    if new in FINAL_COUPON_STATUSES:
        closed_at = closed_at or utcnow()
    LIFECYCLE.move(coupon, new, closed_at=closed_at, **changes)


def check_usable(coupon: Coupon, now: datetime | None = None) -> None:
    """Refuse a coupon that is revoked, expired or used up (the database's view)."""
    if coupon.status == CouponStatus.REVOKED:
        raise CouponRevoked(
            _("Coupon %(code)s was revoked by the community fund.", code=coupon.code)
        )
    if coupon.status == CouponStatus.EXPIRED or (now or utcnow()) >= coupon.expires_at:
        raise CouponExpired(
            _(
                "Coupon %(code)s expired at %(time)s.",
                code=coupon.code,
                time=coupon.expires_at.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M"),
            )
        )
    if coupon.status == CouponStatus.REDEEMED:
        raise CouponUsedUp(_("Coupon %(code)s has no points left.", code=coupon.code))


def verify_coupon(
    token: str, community: Community, now: datetime | None = None, *, lock: bool = False
) -> Coupon:
    """The usable coupon behind ``token`` for a merchant of ``community``, or a named
    refusal; with ``lock``, its row is locked for this transaction and read afresh."""
    payload = read_token(token, signing.keyring(), now)
    if payload.community_id != community.id:
        raise ForeignCoupon(_("This coupon was issued by another community; it is not valid here."))
    coupon = db.session.get(
        Coupon,
        payload.coupon_id,
        # OF coupons: not the joined rule's row, which every coupon of the rule shares.
        with_for_update={"of": Coupon} if lock else None,
        populate_existing=lock,
    )
    if coupon is None or coupon.community_id != community.id:
        raise UnknownCoupon(_("The token is signed, but no such coupon exists here."))
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
        raise UnknownCoupon(_("No coupon with code %(code)s in this community.", code=code))
    check_usable(coupon, now)
    return coupon


def valid_at(
    group_id: sa.ColumnElement, community_id: sa.ColumnElement, merchant_id: sa.ColumnElement
) -> sa.ColumnElement[bool]:
    """Whether a coupon whose rule names merchant group ``group_id`` (NULL: every
    partner merchant) may be spent at ``merchant_id``: the one definition, as SQL.

    Where, not whether: the coupon's state and expiry are :func:`check_usable`'s.
    """
    return sa.or_(
        group_id.is_(None),
        sa.exists().where(
            MerchantGroupMember.community_id == community_id,
            MerchantGroupMember.group_id == group_id,
            MerchantGroupMember.merchant_id == merchant_id,
        ),
    )


def coupon_valid_at(coupon: Coupon, merchant: Merchant) -> bool:
    """:func:`valid_at` for a loaded coupon and merchant."""
    if merchant.community_id != coupon.community_id:
        return False
    return db.session.execute(
        sa.select(
            valid_at(
                IssuanceRule.merchant_group_id, IssuanceRule.community_id, sa.literal(merchant.id)
            )
        ).where(IssuanceRule.community_id == coupon.community_id, IssuanceRule.id == coupon.rule_id)
    ).scalar_one()


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
    reverses: LedgerTransaction | None = None,
    actor_id: int | None = None,
) -> LedgerTransaction:
    """One ledger transaction for many coupons, and a :class:`~models.CouponPosting` each.

    The escrow account is a control account: the transaction has one escrow
    leg for the total and one leg per counter-account (issuance, each wallet,
    ``expired``...), while the coupon postings, its subsidiary ledger, say
    which coupon each point belongs to. Reconciliation proves the two agree,
    transaction by transaction. Few entries per transaction also keep the
    ledger small however many coupons move. A void gives a redemption's points back
    as the ``reverses`` of its transaction.
    """
    escrow = ledger.ensure_account(community_id, AccountKind.COUPON_ESCROW)
    counter: dict[int, int] = defaultdict(int)
    accounts: dict[int, Account] = {}
    for move in moves:
        counter[move.counter.id] -= move.points
        accounts[move.counter.id] = move.counter
    legs = [(escrow, sum(move.points for move in moves))]
    legs += [(accounts[account_id], amount) for account_id, amount in counter.items()]
    txn = ledger.post(
        community_id,
        kind,
        legs,
        memo=memo,
        reference=reference,
        reverses=reverses,
        actor_id=actor_id,
    )
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
        raise ReasonRequired(errors={"json": {"reason": [_("Required.")]}})
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
            Coupon.rule_id,
            Coupon.period,
            IssuanceRule.name.label("rule_name"),
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
        .order_by(Coupon.community_id, Coupon.rule_id, Coupon.period, Coupon.id)
        .with_for_update(of=Coupon)
    )
    if community is not None:
        query = query.where(Coupon.community_id == community.id)
    due = db.session.execute(query).all()
    result = ExpiryResult()
    batches = [
        batch
        for _issue, rows in groupby(
            due, key=lambda row: (row.community_id, row.rule_id, row.period)
        )
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
    """Expire coupons of one rule and period: one ledger transaction, named like
    the issuance that made them."""
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
        memo=f"{batch[0].rule_name} · {batch[0].period}",
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
