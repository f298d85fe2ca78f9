"""The report's other figures: coupons, money, liability, rounding, statements, merchants."""

from datetime import datetime
from decimal import ROUND_DOWN, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from models import (
    AccountKind,
    Activity,
    Attendance,
    Community,
    Coupon,
    CouponPosting,
    CouponStatus,
    DonationRefund,
    Fund,
    IncomeEntry,
    LedgerEntry,
    LedgerTransaction,
    Merchant,
    RefundStatus,
    SettlementStatement,
    TransactionKind,
    utcnow,
)

from ..earnings import Period
from ..extensions import db
from ..money import points_value

#: Below this the reimbursing fund cannot pay every point outstanding: a warning.
from .common import FULL_COVERAGE, OUTSTANDING, RATIO_PLACES, _entries_of, _in_window, _same
from .flows import RedemptionTotals, _credit, _debit, _kind_total


def _coupons_issued(community_id, start, end, redemptions: list[RedemptionTotals]) -> dict:
    """Coupons issued in the window (their issue transaction's date), and the coupon
    redemptions of the window not voided by its end."""
    txn = LedgerTransaction
    count, points = db.session.execute(
        sa.select(
            sa.func.count(sa.distinct(CouponPosting.coupon_id)),
            sa.func.coalesce(sa.func.sum(CouponPosting.amount), 0),
        )
        .join(txn, _same(txn, CouponPosting.community_id, CouponPosting.transaction_id))
        .where(
            CouponPosting.community_id == community_id,
            txn.kind == TransactionKind.COUPON_ISSUE,
            *_in_window(txn.created_at, start, end),
        )
    ).one()
    return {
        "issued_in_period": int(count),
        "issued_points": int(points),
        "redemptions": sum(t.count for t in redemptions if t.by_coupon and not t.voided),
    }


def _coupon_states(community_id: int, end: datetime | None) -> dict[str, int]:
    """Coupons issued before ``end`` (ever, without one) by where they stood at ``end``:
    open (issued or partly redeemed), redeemed, expired, revoked. At ``end`` means after
    the postings dated before it, so a later void or expiry does not change a month;
    a month not yet over reads the coupons as they are."""
    if end is None or end > utcnow():
        by_status = dict(
            db.session.execute(
                sa.select(Coupon.status, sa.func.count())
                .where(Coupon.community_id == community_id)
                .group_by(Coupon.status)
            ).all()
        )
    else:
        by_status = _coupon_states_at(community_id, end)
    counts = {status: int(by_status.get(status, 0)) for status in CouponStatus}
    return {
        "issued": sum(counts.values()),
        "open": counts[CouponStatus.ISSUED] + counts[CouponStatus.PARTLY_REDEEMED],
        "not_yet_used": counts[CouponStatus.ISSUED],
        "partly_redeemed": counts[CouponStatus.PARTLY_REDEEMED],
        "redeemed": counts[CouponStatus.REDEEMED],
        "expired": counts[CouponStatus.EXPIRED],
        "revoked": counts[CouponStatus.REVOKED],
    }


def _coupon_states_at(community_id: int, end: datetime) -> dict[CouponStatus, int]:
    txn = LedgerTransaction
    per_coupon = (
        sa.select(
            CouponPosting.coupon_id,
            sa.func.sum(CouponPosting.amount).label("remaining"),
            sa.func.max(sa.case((txn.kind == TransactionKind.COUPON_EXPIRY, 1), else_=0)).label(
                "expired"
            ),
            sa.func.max(sa.case((txn.kind == TransactionKind.COUPON_REVOCATION, 1), else_=0)).label(
                "revoked"
            ),
        )
        .join(
            txn,
            sa.and_(
                txn.community_id == CouponPosting.community_id,
                txn.id == CouponPosting.transaction_id,
            ),
        )
        .where(CouponPosting.community_id == community_id, txn.created_at < end)
        .group_by(CouponPosting.coupon_id)
        .subquery()
    )
    status = sa.case(
        (per_coupon.c.remaining == Coupon.points, CouponStatus.ISSUED.value),
        (per_coupon.c.remaining > 0, CouponStatus.PARTLY_REDEEMED.value),
        (per_coupon.c.expired == 1, CouponStatus.EXPIRED.value),
        (per_coupon.c.revoked == 1, CouponStatus.REVOKED.value),
        else_=CouponStatus.REDEEMED.value,
    )
    rows = db.session.execute(
        sa.select(status, sa.func.count())
        .select_from(per_coupon)
        .join(
            Coupon,
            sa.and_(Coupon.community_id == community_id, Coupon.id == per_coupon.c.coupon_id),
        )
        .group_by(status)
    ).all()
    return {CouponStatus(value): int(count) for value, count in rows}


def _money(community, flows, opening, closing, start, end) -> dict:
    cash = AccountKind.FUND_CASH
    by_source = _income_by_source(community.id, start, end)
    funds = {}
    for fund in Fund:
        received = _credit(flows, "income", cash, fund)
        donated = _credit(flows, "donation", cash, fund)
        funds[fund.value] = {
            "opening_fen": opening.get((cash, fund), 0),
            "donations_fen": donated,
            "stripe_fees_fen": _debit(flows, "donation", cash, fund),
            "other_income_fen": received,
            "income_reversed_fen": _debit(flows, "reversal:income", cash, fund),
            "refunds_fen": _debit(flows, "refund", cash, fund),
            "to_merchant_payable_fen": _debit(flows, "settlement", cash, fund)
            - _credit(flows, "reversal:settlement", cash, fund),
            "closing_fen": closing.get((cash, fund), 0),
            "reimburses_merchants": fund == community.reimbursing_fund,
        }
    payable, paid_out = AccountKind.MERCHANT_PAYABLE, AccountKind.PAID_OUT
    gross = sum(f["donations_fen"] for f in funds.values())
    fees = sum(f["stripe_fees_fen"] for f in funds.values())
    refunds = _refunds(community.id, start, end)
    return {
        "income": {
            "donations_fen": gross,
            "stripe_fees_fen": fees,
            "donations_net_fen": gross - fees,
            **{f"{source}_fen": total for source, total in by_source.items()},
            "reversed_fen": sum(f["income_reversed_fen"] for f in funds.values()),
            "refunds_fen": sum(f["refunds_fen"] for f in funds.values()),
            "net_fen": sum(
                f["donations_fen"]
                - f["stripe_fees_fen"]
                + f["other_income_fen"]
                - f["income_reversed_fen"]
                - f["refunds_fen"]
                for f in funds.values()
            ),
        },
        "funds": funds,
        "payable": {
            "opening_fen": _kind_total(opening, payable),
            "approved_fen": _credit(flows, "settlement", payable, any_fund=True),
            "paid_fen": _debit(flows, "payout", payable, any_fund=True),
            "returned_fen": _credit(flows, "reversal:payout", payable, any_fund=True),
            "closing_fen": _kind_total(closing, payable),
        },
        "paid_out": {
            "opening_fen": _kind_total(opening, paid_out),
            "paid_fen": _credit(flows, "payout", paid_out, any_fund=True),
            "returned_fen": _debit(flows, "reversal:payout", paid_out, any_fund=True),
            "closing_fen": _kind_total(closing, paid_out),
        },
        "refunds": refunds,
    }


#: Income sources named in the report, each always present.
INCOME_SOURCES = ("charity_sale", "cash_donation", "grant", "other")


def _income_by_source(community_id, start, end) -> dict[str, int]:
    """Income recorded by fund admins, by source, dated by its ledger transaction."""
    txn = LedgerTransaction
    rows = db.session.execute(
        sa.select(IncomeEntry.source, sa.func.sum(IncomeEntry.amount_fen))
        .join(
            txn,
            sa.and_(
                txn.community_id == IncomeEntry.community_id, txn.id == IncomeEntry.transaction_id
            ),
        )
        .where(IncomeEntry.community_id == community_id, *_in_window(txn.created_at, start, end))
        .group_by(IncomeEntry.source)
    ).all()
    found = {source.value: int(total) for source, total in rows}
    return {source: found.get(source, 0) for source in INCOME_SOURCES}


def _refunds(community_id, start, end) -> dict:
    rows = db.session.execute(
        sa.select(DonationRefund.status, sa.func.count(), sa.func.sum(DonationRefund.amount_fen))
        .where(
            DonationRefund.community_id == community_id,
            *_in_window(DonationRefund.created_at, start, end),
        )
        .group_by(DonationRefund.status)
    ).all()
    found = {status: (int(n), int(total)) for status, n, total in rows}
    booked = found.get(RefundStatus.BOOKED, (0, 0))
    unmatched = found.get(RefundStatus.UNMATCHED, (0, 0))
    return {
        "booked_count": booked[0],
        "booked_fen": booked[1],
        "unmatched_count": unmatched[0],
        "unmatched_fen": unmatched[1],
    }


def _liability(community: Community, closing, rate: int) -> dict:
    """Points outstanding at the end, in fen at ``rate``, against the reimbursing fund's cash."""
    outstanding = sum(_kind_total(closing, kind) for kind in OUTSTANDING)
    value = points_value(outstanding, rate)
    cash = closing.get((AccountKind.FUND_CASH, community.reimbursing_fund), 0)
    ratio = None
    if value.value_fen > 0:
        ratio = (Decimal(cash) / Decimal(value.value_fen)).quantize(RATIO_PLACES, ROUND_DOWN)
    return {
        "wallets": _kind_total(closing, AccountKind.WALLET),
        "coupon_escrow": _kind_total(closing, AccountKind.COUPON_ESCROW),
        "receivable": _kind_total(closing, AccountKind.MERCHANT_RECEIVABLE),
        "outstanding_points": outstanding,
        "points_per_yuan": rate,
        "value_fen": value.value_fen,
        "remainder_centipoints": value.remainder_centipoints,
        "reimbursing_fund": community.reimbursing_fund.value,
        "reimbursing_fund_cash_fen": cash,
        "coverage_ratio": None if ratio is None else str(ratio),
        "coverage_warning": ratio is not None and ratio < FULL_COVERAGE,
    }


def _rounding(redemptions: list[RedemptionTotals], liability: dict) -> dict:
    """What each floor of points into fen left over, in hundredths of a point."""
    kept = [t for t in redemptions if not t.voided]
    return {
        "redemptions": {
            "count": sum(t.count for t in kept),
            "points": sum(t.points for t in kept),
            "value_fen": sum(t.value_fen for t in kept),
            "remainder_centipoints": sum(t.remainder_centipoints for t in kept),
        },
        "liability": {
            "points": liability["outstanding_points"],
            "value_fen": liability["value_fen"],
            "remainder_centipoints": liability["remainder_centipoints"],
        },
    }


def _statements(community_id, start, end) -> dict:
    """Settlement statements approved in the window (their approval transaction's date):
    each converts its redemptions' points at their stored rates, and keeps what the
    floors left."""
    txn = LedgerTransaction
    count, points, amount, remainder = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(SettlementStatement.points), 0),
            sa.func.coalesce(sa.func.sum(SettlementStatement.amount_fen), 0),
            sa.func.coalesce(sa.func.sum(SettlementStatement.rounding_remainder), 0),
        )
        .join(
            txn,
            _same(
                txn, SettlementStatement.community_id, SettlementStatement.approval_transaction_id
            ),
        )
        .where(
            SettlementStatement.community_id == community_id,
            *_in_window(txn.created_at, start, end),
        )
    ).one()
    return {
        "count": int(count),
        "points": int(points),
        "value_fen": int(amount),
        "remainder_centipoints": int(remainder),
    }


def _merchants(community_id, redemptions: list[RedemptionTotals]) -> list[dict]:
    """Per merchant: the window's redemptions by coupon and by pay-code not voided by its
    end, and those voided; the most value first."""
    names = dict(
        db.session.execute(
            sa.select(Merchant.id, Merchant.name).where(
                Merchant.community_id == community_id,
                Merchant.id.in_({t.merchant_id for t in redemptions}),
            )
        ).all()
    )
    merchants = {}
    for t in redemptions:
        row = merchants.setdefault(
            t.merchant_id,
            {
                "merchant_id": t.merchant_id,
                "name": names[t.merchant_id],
                "redemptions": 0,
                "coupon_points": 0,
                "coupon_value_fen": 0,
                "pay_code_points": 0,
                "pay_code_value_fen": 0,
                "value_fen": 0,
                "voided": 0,
            },
        )
        if t.voided:
            row["voided"] += t.count
            continue
        source = "coupon" if t.by_coupon else "pay_code"
        row["redemptions"] += t.count
        row[f"{source}_points"] += t.points
        row[f"{source}_value_fen"] += t.value_fen
        row["value_fen"] += t.value_fen
    return sorted(merchants.values(), key=lambda m: (-m["value_fen"], m["merchant_id"]))


def _participation(community_id, start, end) -> dict:
    """Members who earned points, and attendance awards by activity category. No names."""
    txn = LedgerTransaction
    earning = (TransactionKind.AWARD, TransactionKind.ATTENDANCE_AWARD)
    # An earning credits a wallet and debits issuance: its credited account is a wallet.
    volunteers = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(LedgerEntry.account_id)))
        .select_from(txn)
        .join(LedgerEntry, _entries_of(txn))
        .where(
            txn.community_id == community_id,
            txn.kind.in_(earning),
            LedgerEntry.amount > 0,
            *_in_window(txn.created_at, start, end),
        )
    )
    by_category = _by_category(community_id, start, end)
    return {
        "volunteers": int(volunteers or 0),
        "attendances": sum(row["attendances"] for row in by_category),
        "by_category": by_category,
    }


def _by_category(community_id, start, end) -> list[dict]:
    """Attendance awards of the window per activity category: how many, how many
    people, how many points."""
    txn = LedgerTransaction
    rows = db.session.execute(
        sa.select(
            Activity.category,
            sa.func.count(),
            sa.func.count(sa.distinct(Attendance.member_id)),
            sa.func.coalesce(sa.func.sum(Attendance.points_awarded), 0),
        )
        .select_from(txn)
        .join(
            Attendance,
            sa.and_(
                Attendance.community_id == txn.community_id, Attendance.transaction_id == txn.id
            ),
        )
        .join(
            Activity,
            sa.and_(
                Activity.community_id == Attendance.community_id,
                Activity.id == Attendance.activity_id,
            ),
        )
        .where(
            txn.community_id == community_id,
            txn.kind == TransactionKind.ATTENDANCE_AWARD,
            *_in_window(txn.created_at, start, end),
        )
        .group_by(Activity.category)
    ).all()
    found = {category: (int(n), int(people), int(points)) for category, n, people, points in rows}
    return [
        {"category": category.value, "attendances": n, "volunteers": people, "points": points}
        for category, (n, people, points) in found.items()
    ]


def _corrections(community_id, start, end) -> list[dict]:
    """Reversals dated in the window that correct a transaction of an earlier month.
    Their memos are left out: one may carry a donor's name, and the report is public."""
    if start is None:
        return []
    original = aliased(LedgerTransaction)
    txn = LedgerTransaction
    rows = db.session.execute(
        sa.select(txn.id, original.id, original.kind, original.created_at)
        .join(
            original,
            sa.and_(original.community_id == txn.community_id, original.id == txn.reverses_id),
        )
        .where(
            txn.community_id == community_id,
            *_in_window(txn.created_at, start, end),
            original.created_at < start,
        )
        .order_by(txn.id)
    ).all()
    return [
        {
            "transaction_id": txn_id,
            "corrects_transaction_id": original_id,
            "corrects_kind": kind.value,
            "corrects_period": str(Period.containing(created)),
        }
        for txn_id, original_id, kind, created in rows
    ]
