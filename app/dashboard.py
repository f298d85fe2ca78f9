"""What the fund admin's dashboard and the public notice board show, month by month.

A closed month's figures are read from its stored report, which never changes;
only the months still open are computed from the ledger (figures only, no
checks). So the pages cost the open months' postings, not the ledger's
length, and show exactly the figures the closed months' hashes cover.
"""

import json
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa

from models import (
    Award,
    AwardStatus,
    Community,
    LedgerTransaction,
    Member,
    MonthClose,
    MonthCloseStatus,
    SettlementStatement,
    StatementStatus,
    utcnow,
)

from .earnings import Period
from .extensions import db
from .reconciliation import month_flows, reconcile


@dataclass(frozen=True)
class Month:
    period: Period
    closed: bool
    #: The month's report document (``Report.as_dict``), figures only when open.
    document: dict


def months(community: Community, count: int | None = None, *, live=month_flows) -> list[Month]:
    """The community's months, oldest first, up to the current one: the last ``count``,
    or all since its first posting. Months before the first posting are left out.
    An open month is computed by ``live``: the charts' figures alone by default, or
    a whole report (the notice board's)."""
    current = Period.containing(utcnow())
    first = db.session.scalar(
        sa.select(sa.func.min(LedgerTransaction.created_at)).where(
            LedgerTransaction.community_id == community.id
        )
    )
    start = Period.containing(first) if first is not None else current
    periods = [current]
    while periods[0] > start and (count is None or len(periods) < count):
        periods.insert(0, periods[0].previous())
    if count is not None:
        # Keep the chart's width: months before the first posting are empty.
        while len(periods) < count:
            periods.insert(0, periods[0].previous())
    closed = {
        period: report
        for period, report in db.session.execute(
            sa.select(MonthClose.period, MonthClose.report).where(
                MonthClose.community_id == community.id,
                MonthClose.status == MonthCloseStatus.CLOSED,
                MonthClose.period.in_([str(p) for p in periods]),
            )
        )
    }
    found = []
    for period in reversed(periods):
        if str(period) in closed:
            found.insert(0, Month(period, True, json.loads(closed[str(period)])))
        elif first is not None and period < start:
            found.insert(0, Month(period, False, _zeroed(found[0].document)))
        else:
            found.insert(0, Month(period, False, live(community, period)))
    return found


def report_of(community: Community, period: Period) -> dict:
    """A whole month's report, its figures only: what the notice board adds up."""
    return reconcile(community, period, stripe=False, checks=False).as_dict()


def _zeroed(figures):
    """A month before the first posting: the figures of a later month, every one zero."""
    if isinstance(figures, dict):
        return {key: _zeroed(value) for key, value in figures.items()}
    if isinstance(figures, list):
        return []
    if isinstance(figures, bool) or not isinstance(figures, int):
        return figures
    return 0


def series(history: list[Month], *path: str) -> list[int]:
    """One figure of every month, by its path in the report (``points``, ``minted``...)."""
    values = []
    for month in history:
        value = month.document
        for key in path:
            value = value[key]
        values.append(value)
    return values


def merchants_total(history: list[Month]) -> list[dict]:
    """Per merchant over the months: value and points redeemed, most value first."""
    totals: dict[int, dict] = {}
    for month in history:
        for row in month.document["merchants"]:
            total = totals.setdefault(
                row["merchant_id"],
                {"merchant_id": row["merchant_id"], "name": row["name"], "value_fen": 0},
            )
            total["value_fen"] += row["value_fen"]
            total["name"] = row["name"]
    return sorted(totals.values(), key=lambda m: (-m["value_fen"], m["merchant_id"]))


def categories_total(history: list[Month], figure: str = "attendances") -> dict[str, int]:
    """Attendances (or points) per activity category over the months."""
    totals: dict[str, int] = defaultdict(int)
    for month in history:
        for row in month.document["participation"]["by_category"]:
            totals[row["category"]] += row[figure]
    return dict(totals)


def summed(history: list[Month], *path: str) -> int:
    return sum(series(history, *path))


@dataclass(frozen=True)
class Pending:
    awards: list[Award]
    statements: list[SettlementStatement]
    closes: list[MonthClose]
    names: dict[int, str]

    @property
    def count(self) -> int:
        return len(self.awards) + len(self.statements) + len(self.closes)


def pending(community: Community) -> Pending:
    """What waits for a fund admin's approval: awards above the threshold, settlement
    statements in draft, month closes asked for."""
    awards = list(
        db.session.execute(
            sa.select(Award)
            .where(Award.community_id == community.id, Award.status == AwardStatus.PENDING)
            .order_by(Award.id)
        ).scalars()
    )
    closes = list(
        db.session.execute(
            sa.select(MonthClose)
            .where(
                MonthClose.community_id == community.id,
                MonthClose.status == MonthCloseStatus.REQUESTED,
            )
            .order_by(MonthClose.period)
        ).scalars()
    )
    statements = list(
        db.session.execute(
            sa.select(SettlementStatement)
            .where(
                SettlementStatement.community_id == community.id,
                SettlementStatement.status == StatementStatus.DRAFT,
            )
            .order_by(SettlementStatement.id)
        ).scalars()
    )
    ids = {a.requested_by_id for a in awards} | {a.member_id for a in awards}
    ids |= {c.requested_by_id for c in closes}
    names = {}
    if ids:
        names = dict(
            db.session.execute(
                sa.select(Member.id, Member.display_name).where(Member.id.in_(ids))
            ).all()
        )
    return Pending(awards, statements, closes, names)
