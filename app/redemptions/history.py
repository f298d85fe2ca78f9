"""A merchant's redemptions: filtered lists, totals and the CSV a person reads.

Days are Asia/Shanghai days. Totals count active redemptions only: a voided
one moved nothing. The CSV is for people (a shop's bookkeeper, a fund admin):
headers in the reader's language, local times and amounts in yuan.
"""

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import Coupon, Member, Merchant, Redemption, RedemptionStatus

from ..extensions import db
from ..money import format_yuan
from ..offers import LOCAL_ZONE

STATUS_LABELS = {
    RedemptionStatus.ACTIVE: _l("Done"),
    RedemptionStatus.VOIDED: _l("Voided"),
}


@dataclass(frozen=True)
class Totals:
    """Sums over the active redemptions among those listed; voided ones count nothing."""

    count: int
    points: int
    #: Sum of V: what the fund owes the merchant.
    points_value_fen: int
    #: Sum of D: what the merchant bore.
    discount_fen: int
    #: Sum of C: what was collected at the till.
    cash_fen: int
    bill_fen: int


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), LOCAL_ZONE)


def history_query(
    merchant: Merchant,
    *,
    since: date | None = None,
    until: date | None = None,
    status: RedemptionStatus | None = None,
) -> sa.Select:
    """The merchant's redemptions made on days ``since``..``until`` (inclusive,
    Asia/Shanghai), of ``status`` if given."""
    query = sa.select(Redemption).where(
        Redemption.community_id == merchant.community_id, Redemption.merchant_id == merchant.id
    )
    if since is not None:
        query = query.where(Redemption.created_at >= _local_midnight(since))
    if until is not None:
        query = query.where(Redemption.created_at < _local_midnight(until + timedelta(days=1)))
    if status is not None:
        query = query.where(Redemption.status == status)
    return query


def totals(query: sa.Select) -> Totals:
    listed = query.subquery()
    sums = [
        sa.func.coalesce(sa.func.sum(listed.c[name]), 0)
        for name in ("points", "points_value_fen", "discount_fen", "cash_fen", "bill_fen")
    ]
    row = db.session.execute(
        sa.select(sa.func.count(), *sums).where(listed.c.status == RedemptionStatus.ACTIVE)
    ).one()
    return Totals(*(int(value) for value in row))


def newest(query: sa.Select, limit: int | None = None) -> list[Redemption]:
    return db.session.execute(query.order_by(Redemption.id.desc()).limit(limit)).scalars().all()


def local_time(moment: datetime | None) -> str:
    """``2026-12-05 14:03:09``, in Asia/Shanghai; empty for no time."""
    return "" if moment is None else moment.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M:%S")


def csv_text(query: sa.Select) -> str:
    """Every redemption of ``query``, newest first, as CSV for people."""
    rows = db.session.execute(
        query.outerjoin(
            Coupon,
            (Coupon.community_id == Redemption.community_id) & (Coupon.id == Redemption.coupon_id),
        )
        .join(
            Member,
            (Member.community_id == Redemption.community_id) & (Member.id == Redemption.cashier_id),
        )
        .add_columns(Coupon.code, Member.display_name)
        .order_by(Redemption.id.desc())
    ).all()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            _("No."),
            _("Time"),
            _("Status"),
            _("Bill (¥)"),
            _("Shop's discount (¥)"),
            _("Points"),
            _("Points value (¥)"),
            _("Cash (¥)"),
            _("Points per yuan"),
            _("Coupon"),
            _("Pay-code holder No."),
            _("Cashier"),
            _("Voided at"),
        ]
    )
    for redemption, coupon_code, cashier_name in rows:
        writer.writerow(
            [
                redemption.id,
                local_time(redemption.created_at),
                str(STATUS_LABELS[redemption.status]),
                format_yuan(redemption.bill_fen),
                format_yuan(redemption.discount_fen),
                redemption.points,
                format_yuan(redemption.points_value_fen),
                format_yuan(redemption.cash_fen),
                redemption.points_per_yuan,
                coupon_code or "",
                redemption.member_id or "",
                cashier_name,
                local_time(redemption.voided_at),
            ]
        )
    return out.getvalue()
