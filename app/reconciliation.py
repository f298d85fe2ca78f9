"""Reconciliation: does every point and every fen add up? (design.md §8)

Each check is one set-based query over a community, so it scales with the
ledger, not with round trips. This first version proves the ledger's own
invariants; later checks (coupons, statements, Stripe) join the same report.
"""

from dataclasses import dataclass, field

import sqlalchemy as sa

from models import Account, AccountKind, Community, LedgerEntry, Unit

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
    ]
    return report


def _units_sum_to_zero(balances: dict[tuple[str, str], int]) -> Check:
    totals = {unit.value: 0 for unit in Unit}
    for (unit, _kind), total in balances.items():
        totals[unit] += total
    off = {unit: total for unit, total in totals.items() if total}
    detail = ", ".join(f"{unit} sum to {total}" for unit, total in off.items())
    return Check("every unit sums to zero", not off, detail or "points 0, fen 0")


def _balances_match_entries(community_id: int) -> Check:
    sums = (
        sa.select(LedgerEntry.account_id, sa.func.sum(LedgerEntry.amount).label("total"))
        .where(LedgerEntry.community_id == community_id)
        .group_by(LedgerEntry.account_id)
        .subquery()
    )
    total = sa.func.coalesce(sums.c.total, 0)
    mismatched = db.session.execute(
        sa.select(Account.id, Account.key, Account.balance, total)
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(Account.community_id == community_id, Account.balance != total)
        .order_by(Account.id)
        .limit(20)
    ).all()
    detail = "; ".join(f"{key}: balance {bal}, entries {int(s)}" for _id, key, bal, s in mismatched)
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
