"""The invariants, each a :class:`Check` with ``ok`` and a detail naming what is at fault."""

import sqlalchemy as sa

from models import (
    Account,
    AccountKind,
    Coupon,
    CouponPosting,
    LedgerEntry,
    LedgerTransaction,
    PayoutAttempt,
    PayoutStatus,
    Redemption,
    SettlementStatement,
    StatementStatus,
    Unit,
)

from ..extensions import db

#: Below this the reimbursing fund cannot pay every point outstanding: a warning.
from .common import NAMED, Check, _streamed


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
    its postings. One grouped query; the first few."""
    owner = stored.class_
    sums = (
        sa.select(line_owner.label("owner_id"), sa.func.sum(line_amount).label("total"))
        .where(line_owner.class_.community_id == community_id)
        .group_by(line_owner)
        .subquery()
    )
    total = sa.func.coalesce(sums.c.total, 0)
    return _first(
        db.session.execute(
            sa.select(name, stored, total, owner.id)
            .outerjoin(sums, sums.c.owner_id == owner.id)
            .where(owner.community_id == community_id, stored != total)
        ).all(),
        by=lambda row: row[3],
    )


def _first(rows: list, *, by) -> list:
    """The first few offenders, in order. Sorted here: a query asking the database for
    them in order and limited plans a walk of the index instead of one hashed pass."""
    return sorted(rows, key=by)[:NAMED]


def _balances_match_entries(community_id: int) -> Check:
    with _streamed():
        mismatched = _totals_that_differ(
            community_id, Account.balance, Account.key, LedgerEntry.account_id, LedgerEntry.amount
        )
    detail = "; ".join(f"{key}: balance {bal}, entries {int(s)}" for key, bal, s, _id in mismatched)
    return Check("every account balance equals the sum of its entries", not mismatched, detail)


def _transactions_balance(community_id: int) -> Check:
    entries = LedgerEntry
    sums = {unit: sa.func.sum(entries.amount).filter(entries.unit == unit) for unit in Unit}
    with _streamed():
        rows = db.session.execute(
            sa.select(entries.transaction_id, *sums.values())
            .where(entries.community_id == community_id)
            .group_by(entries.transaction_id)
            .having(sa.or_(*(sa.func.coalesce(total, 0) != 0 for total in sums.values())))
        ).all()
    unbalanced = [
        (txn, unit, int(total))
        for txn, *totals in _first(rows, by=lambda row: row[0])
        for unit, total in zip(sums, totals, strict=True)
        if total
    ]
    detail = "; ".join(f"transaction {t}: {u.value} sum to {s}" for t, u, s in unbalanced)
    return Check("every transaction balances per unit", not unbalanced, detail)


def _no_negative_balances(community_id: int) -> Check:
    negative = db.session.execute(
        sa.select(Account.key, Account.balance)
        .where(
            Account.community_id == community_id,
            Account.kind.not_in([AccountKind.ISSUANCE, AccountKind.INCOME]),
            Account.balance < 0,
        )
        .limit(NAMED)
    ).all()
    detail = "; ".join(f"{key}: {balance}" for key, balance in negative)
    return Check("only source accounts are negative", not negative, detail)


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
        for coupon_id, remaining, posted, _id in mismatched
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
    off = _first(
        db.session.execute(
            sa.select(
                both.c.transaction_id, sa.func.sum(both.c.escrow), sa.func.sum(both.c.postings)
            )
            .group_by(both.c.transaction_id)
            .having(sa.func.sum(both.c.escrow) != sa.func.sum(both.c.postings))
        ).all(),
        by=lambda row: row[0],
    )
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
    paid = sa.select(PayoutAttempt.transaction_id).where(
        PayoutAttempt.community_id == community_id, PayoutAttempt.transaction_id.is_not(None)
    )
    moved = (
        sa.select(
            LedgerEntry.transaction_id, sa.func.sum(sa.func.abs(LedgerEntry.amount)).label("moved")
        )
        .where(LedgerEntry.community_id == community_id, LedgerEntry.transaction_id.in_(paid))
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
