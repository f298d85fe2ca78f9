"""Settling a month: one draft statement per merchant, set-based."""

from collections.abc import Callable, Sequence
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from models import (
    Community,
    Member,
    Redemption,
    RedemptionStatus,
    SettlementStatement,
    StatementStatus,
    utcnow,
)
from models.base import UTCDateTime

from .. import sql
from ..earnings import Period
from ..extensions import db
from ..issuance import PeriodNotOver

#: Statements whose redemptions one UPDATE assigns (and one progress step reports).
ASSIGN_BATCH = 50


def _unsettled(community_id: int, period: Period):
    return (
        Redemption.community_id == community_id,
        Redemption.status == RedemptionStatus.ACTIVE,
        Redemption.statement_id.is_(None),
        Redemption.created_at >= period.start,
        Redemption.created_at < period.end,
    )


def _remainder(table=Redemption):
    """What each redemption's floor dropped, in hundredths of a point
    (``app.money.points_value``'s remainder, computed by the database)."""
    return (table.points * 100) % table.points_per_yuan


def settle(
    community: Community,
    period: Period,
    *,
    actor: Member | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[SettlementStatement]:
    """Make the month's draft statements, one per merchant with unsettled redemptions;
    the statements made (none when the month is settled already).

    ``progress(done, total)`` counts redemptions assigned to their statements.
    """
    now = now or utcnow()
    if period.end > now:
        raise PeriodNotOver(
            _(
                "%(period)s is not over yet; settle it once the month has ended.",
                period=str(period),
            ),
            errors={"json": {"period": [_("The month has not ended yet.")]}},
        )
    made = _insert_statements(community, period, actor, now)
    total = sum(count for _id, _merchant, count in made)
    done = 0
    if progress is not None:
        progress(done, total)
    for start in range(0, len(made), ASSIGN_BATCH):
        batch = made[start : start + ASSIGN_BATCH]
        assigned = _assign(community.id, period, [statement_id for statement_id, _m, _c in batch])
        expected = sum(count for _id, _merchant, count in batch)
        if assigned != expected:
            # A redemption was voided between the two statements: count again.
            _recount(community.id, [statement_id for statement_id, _m, _c in batch])
        done += expected
        if progress is not None:
            progress(done, total)
    db.session.flush()
    ids = [statement_id for statement_id, _m, _c in made]
    return (
        db.session.execute(
            sa.select(SettlementStatement)
            .where(SettlementStatement.id.in_(ids))
            .order_by(SettlementStatement.id)
            .execution_options(populate_existing=True)
        )
        .scalars()
        .all()
    )


def _insert_statements(
    community: Community, period: Period, actor: Member | None, now: datetime
) -> list[tuple[int, int, int]]:
    """One statement per merchant with unsettled redemptions in the month, totals
    included; (id, merchant id, redemptions) of those made. A merchant whose month
    already has a statement that is not rejected is skipped by the unique index."""
    amount = sa.func.sum(Redemption.points_value_fen)
    totals = (
        sa.select(
            sa.literal(community.id, sa.BigInteger),
            Redemption.merchant_id,
            sa.literal(str(period), sa.String),
            sa.literal(StatementStatus.DRAFT.value, sa.String),
            sa.func.count(),
            sa.func.sum(Redemption.points),
            amount,
            sa.func.sum(_remainder()),
            amount > community.statement_approval_threshold_fen,
            sa.literal(actor.id if actor else None, sa.BigInteger),
            sa.literal(now, UTCDateTime()),
        )
        .where(*_unsettled(community.id, period))
        .group_by(Redemption.merchant_id)
        .order_by(Redemption.merchant_id)
    )
    table = SettlementStatement.__table__
    statement = (
        sql.insert(table)
        .from_select(
            [
                "community_id",
                "merchant_id",
                "period",
                "status",
                "redemptions",
                "points",
                "amount_fen",
                "rounding_remainder",
                "needs_second_approver",
                "created_by_id",
                "created_at",
            ],
            totals,
        )
        .on_conflict_do_nothing(
            index_elements=["community_id", "merchant_id", "period"],
            index_where=table.c.status != StatementStatus.REJECTED.value,
        )
        .returning(table.c.id, table.c.merchant_id, table.c.redemptions)
    )
    rows = db.session.execute(statement).all()
    return sorted((row.id, row.merchant_id, row.redemptions) for row in rows)


def _assign(community_id: int, period: Period, statement_ids: Sequence[int]) -> int:
    """Set ``statement_id`` on the statements' redemptions; how many were set."""
    statements = SettlementStatement.__table__
    result = db.session.execute(
        sa.update(Redemption)
        .where(
            statements.c.community_id == community_id,
            statements.c.id.in_(statement_ids),
            Redemption.merchant_id == statements.c.merchant_id,
            *_unsettled(community_id, period),
        )
        .values(statement_id=statements.c.id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def _recount(community_id: int, statement_ids: Sequence[int]) -> None:
    """Totals from the redemptions the statements really got; a statement left
    with none (all voided meanwhile) is deleted."""
    lines = (
        sa.select(
            Redemption.statement_id,
            sa.func.count().label("redemptions"),
            sa.func.sum(Redemption.points).label("points"),
            sa.func.sum(Redemption.points_value_fen).label("amount_fen"),
            sa.func.sum(_remainder()).label("rounding_remainder"),
        )
        .where(Redemption.community_id == community_id, Redemption.statement_id.in_(statement_ids))
        .group_by(Redemption.statement_id)
    )
    counted = {row.statement_id: row for row in db.session.execute(lines)}
    for statement_id in statement_ids:
        row = counted.get(statement_id)
        if row is None:
            db.session.execute(
                sa.delete(SettlementStatement).where(SettlementStatement.id == statement_id)
            )
            continue
        db.session.execute(
            sa.update(SettlementStatement)
            .where(SettlementStatement.id == statement_id)
            .values(
                redemptions=row.redemptions,
                points=row.points,
                amount_fen=row.amount_fen,
                rounding_remainder=row.rounding_remainder,
            )
        )
