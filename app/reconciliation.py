"""Reconciliation: does every point and every fen add up? (design.md §8)

Each check is one set-based query over a community, so it scales with the
ledger, not with round trips. It proves the ledger's own invariants and that
coupon escrow is accounted coupon by coupon; later checks (statements, Stripe)
join the same report.
"""

from dataclasses import dataclass, field

import sqlalchemy as sa

from models import (
    Account,
    AccountKind,
    Community,
    Coupon,
    CouponPosting,
    CouponStatus,
    LedgerEntry,
    LedgerTransaction,
    PayoutAttempt,
    PayoutStatus,
    Redemption,
    SettlementStatement,
    StatementStatus,
    Unit,
)

from .extensions import db


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    community: Community
    #: balance per (unit, account kind)
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    #: coupons ever issued, and how many are open, redeemed, expired, revoked
    coupons: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def reconcile(community: Community) -> Report:
    report = Report(community)
    rows = db.session.execute(
        sa.select(Account.unit, Account.kind, sa.func.sum(Account.balance))
        .where(Account.community_id == community.id)
        .group_by(Account.unit, Account.kind)
    ).all()
    report.balances = {(unit.value, kind.value): int(total) for unit, kind, total in rows}
    report.checks = [
        _units_sum_to_zero(report.balances),
        _balances_match_entries(community.id),
        _transactions_balance(community.id),
        _no_negative_balances(community.id),
        _coupons_match_postings(community.id),
        _postings_match_escrow(community.id),
        _statements_match_redemptions(community.id),
        _payouts_match_ledger(community.id),
    ]
    report.coupons = _coupon_counts(community.id)
    return report


def _units_sum_to_zero(balances: dict[tuple[str, str], int]) -> Check:
    totals = {unit.value: 0 for unit in Unit}
    for (unit, _kind), total in balances.items():
        totals[unit] += total
    off = {unit: total for unit, total in totals.items() if total}
    detail = ", ".join(f"{unit} sum to {total}" for unit, total in off.items())
    return Check("every unit sums to zero", not off, detail or "points 0, fen 0")


def _totals_that_differ(community_id: int, stored, name, line_owner, line_amount) -> list:
    """(name, stored total, sum of lines) of rows whose stored total is not the sum of
    their lines: an account's balance and its entries, a coupon's remaining points and
    its postings. One grouped query; the first 20."""
    owner = stored.class_
    sums = (
        sa.select(line_owner.label("owner_id"), sa.func.sum(line_amount).label("total"))
        .where(line_owner.class_.community_id == community_id)
        .group_by(line_owner)
        .subquery()
    )
    total = sa.func.coalesce(sums.c.total, 0)
    return db.session.execute(
        sa.select(name, stored, total)
        .outerjoin(sums, sums.c.owner_id == owner.id)
        .where(owner.community_id == community_id, stored != total)
        .order_by(owner.id)
        .limit(20)
    ).all()


def _balances_match_entries(community_id: int) -> Check:
    mismatched = _totals_that_differ(
        community_id, Account.balance, Account.key, LedgerEntry.account_id, LedgerEntry.amount
    )
    detail = "; ".join(f"{key}: balance {bal}, entries {int(s)}" for key, bal, s in mismatched)
    return Check("every account balance equals the sum of its entries", not mismatched, detail)


def _transactions_balance(community_id: int) -> Check:
    unbalanced = db.session.execute(
        sa.select(LedgerEntry.transaction_id, LedgerEntry.unit, sa.func.sum(LedgerEntry.amount))
        .where(LedgerEntry.community_id == community_id)
        .group_by(LedgerEntry.transaction_id, LedgerEntry.unit)
        .having(sa.func.sum(LedgerEntry.amount) != 0)
        .limit(20)
    ).all()
    detail = "; ".join(f"transaction {t}: {u.value} sum to {s}" for t, u, s in unbalanced)
    return Check("every transaction balances per unit", not unbalanced, detail)


def _no_negative_balances(community_id: int) -> Check:
    negative = db.session.execute(
        sa.select(Account.key, Account.balance).where(
            Account.community_id == community_id,
            Account.kind.not_in([AccountKind.ISSUANCE, AccountKind.INCOME]),
            Account.balance < 0,
        )
    ).all()
    detail = "; ".join(f"{key}: {balance}" for key, balance in negative)
    return Check("only source accounts are negative", not negative, detail)


def _coupon_counts(community_id: int) -> dict[str, int]:
    by_status = dict(
        db.session.execute(
            sa.select(Coupon.status, sa.func.count())
            .where(Coupon.community_id == community_id)
            .group_by(Coupon.status)
        ).all()
    )
    return {
        "issued": sum(by_status.values()),
        "open": by_status.get(CouponStatus.ISSUED, 0)
        + by_status.get(CouponStatus.PARTLY_REDEEMED, 0),
        "redeemed": by_status.get(CouponStatus.REDEEMED, 0),
        "expired": by_status.get(CouponStatus.EXPIRED, 0),
        "revoked": by_status.get(CouponStatus.REVOKED, 0),
    }


def _coupons_match_postings(community_id: int) -> Check:
    mismatched = _totals_that_differ(
        community_id,
        Coupon.points_remaining,
        Coupon.id,
        CouponPosting.coupon_id,
        CouponPosting.amount,
    )
    detail = "; ".join(
        f"coupon {coupon_id}: remaining {remaining}, escrow postings {int(posted)}"
        for coupon_id, remaining, posted in mismatched
    )
    return Check(
        "every coupon's remaining points equal its escrow postings", not mismatched, detail
    )


def _postings_match_escrow(community_id: int) -> Check:
    """Per transaction, the coupon escrow entries equal the coupon postings naming it."""
    escrow = sa.select(
        LedgerEntry.transaction_id.label("transaction_id"),
        LedgerEntry.amount.label("escrow"),
        sa.literal(0).label("postings"),
    ).where(
        LedgerEntry.community_id == community_id,
        LedgerEntry.account_id.in_(
            sa.select(Account.id).where(
                Account.community_id == community_id, Account.kind == AccountKind.COUPON_ESCROW
            )
        ),
    )
    postings = sa.select(CouponPosting.transaction_id, sa.literal(0), CouponPosting.amount).where(
        CouponPosting.community_id == community_id
    )
    both = sa.union_all(escrow, postings).subquery()
    off = db.session.execute(
        sa.select(both.c.transaction_id, sa.func.sum(both.c.escrow), sa.func.sum(both.c.postings))
        .group_by(both.c.transaction_id)
        .having(sa.func.sum(both.c.escrow) != sa.func.sum(both.c.postings))
        .order_by(both.c.transaction_id)
        .limit(20)
    ).all()
    detail = "; ".join(
        f"transaction {txn}: escrow {int(e)}, coupon postings {int(p)}" for txn, e, p in off
    )
    return Check("every coupon escrow entry is accounted to coupons", not off, detail)


def _statements_match_redemptions(community_id: int) -> Check:
    """A statement's count, points, fen and rounding remainder are those of the
    redemptions naming it; a rejected statement names none."""
    lines = (
        sa.select(
            Redemption.statement_id.label("statement_id"),
            sa.func.count().label("redemptions"),
            sa.func.sum(Redemption.points).label("points"),
            sa.func.sum(Redemption.points_value_fen).label("amount_fen"),
            sa.func.sum((Redemption.points * 100) % Redemption.points_per_yuan).label("remainder"),
        )
        .where(Redemption.community_id == community_id, Redemption.statement_id.is_not(None))
        .group_by(Redemption.statement_id)
        .subquery()
    )
    rejected = SettlementStatement.status == StatementStatus.REJECTED
    stored = (
        SettlementStatement.redemptions,
        SettlementStatement.points,
        SettlementStatement.amount_fen,
        SettlementStatement.rounding_remainder,
    )
    summed = (lines.c.redemptions, lines.c.points, lines.c.amount_fen, lines.c.remainder)
    differs = sa.or_(*(sa.func.coalesce(s, -1) != a for a, s in zip(stored, summed, strict=True)))
    off = db.session.execute(
        sa.select(SettlementStatement.id, *stored, *summed)
        .outerjoin(lines, lines.c.statement_id == SettlementStatement.id)
        .where(
            SettlementStatement.community_id == community_id,
            sa.or_(
                sa.and_(rejected, lines.c.statement_id.is_not(None)), sa.and_(~rejected, differs)
            ),
        )
        .order_by(SettlementStatement.id)
        .limit(20)
    ).all()
    detail = "; ".join(
        f"statement {row[0]}: stored {tuple(row[1:5])}, redemptions {tuple(row[5:9])}"
        for row in off
    )
    return Check("every statement equals its redemptions", not off, detail)


def _payouts_match_ledger(community_id: int) -> Check:
    """Every payout that paid is one ledger transaction of its amount, every paid
    statement has exactly one, and what came back was reversed."""
    moved = (
        sa.select(
            LedgerEntry.transaction_id, sa.func.sum(sa.func.abs(LedgerEntry.amount)).label("moved")
        )
        .where(LedgerEntry.community_id == community_id)
        .group_by(LedgerEntry.transaction_id)
        .subquery()
    )
    off = db.session.execute(
        sa.select(PayoutAttempt.id, PayoutAttempt.amount_fen, moved.c.moved)
        .outerjoin(moved, moved.c.transaction_id == PayoutAttempt.transaction_id)
        .where(
            PayoutAttempt.community_id == community_id,
            PayoutAttempt.status.in_([PayoutStatus.SUCCEEDED, PayoutStatus.RETURNED]),
            sa.func.coalesce(moved.c.moved, 0) != 2 * PayoutAttempt.amount_fen,
        )
        .limit(20)
    ).all()
    unreversed = db.session.execute(
        sa.select(PayoutAttempt.id)
        .outerjoin(
            LedgerTransaction,
            sa.and_(
                LedgerTransaction.community_id == PayoutAttempt.community_id,
                LedgerTransaction.reverses_id == PayoutAttempt.transaction_id,
            ),
        )
        .where(
            PayoutAttempt.community_id == community_id,
            PayoutAttempt.status == PayoutStatus.RETURNED,
            LedgerTransaction.id.is_(None),
        )
        .limit(20)
    ).all()
    succeeded = sa.select(PayoutAttempt.statement_id).where(
        PayoutAttempt.community_id == community_id,
        PayoutAttempt.status == PayoutStatus.SUCCEEDED,
    )
    unpaid = db.session.scalars(
        sa.select(SettlementStatement.id)
        .where(
            SettlementStatement.community_id == community_id,
            SettlementStatement.status == StatementStatus.PAID,
            SettlementStatement.amount_fen > 0,
            SettlementStatement.id.not_in(succeeded),
        )
        .limit(20)
    ).all()
    details = [
        f"payout {pid}: amount {amount}, ledger moved {int(m or 0) // 2}" for pid, amount, m in off
    ]
    details += [f"payout {pid}: returned without a reversal" for (pid,) in unreversed]
    details += [f"statement {sid}: paid without a payout" for sid in unpaid]
    ok = not details
    return Check("every payout is one ledger transaction of its amount", ok, "; ".join(details))
