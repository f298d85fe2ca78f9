"""The report: a month's or the total's figures and checks, and the closed months it reads."""

import json
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from models import (
    AccountKind,
    Community,
    Fund,
    LedgerTransaction,
    MonthClose,
    MonthCloseStatus,
    utcnow,
)

from ..earnings import Period
from ..extensions import db

#: Below this the reimbursing fund cannot pay every point outstanding: a warning.
from .checks import (
    _balances_match_entries,
    _coupons_match_postings,
    _no_negative_balances,
    _payouts_match_ledger,
    _postings_match_escrow,
    _statements_match_redemptions,
    _transactions_balance,
    _units_sum_to_zero,
)
from .common import Check, _room_for_reports
from .figures import (
    _by_category,
    _corrections,
    _coupon_states,
    _coupons_issued,
    _liability,
    _merchants,
    _money,
    _participation,
    _rounding,
    _statements,
)
from .flows import (
    COUPON_COUNTS,
    _balances,
    _by_kind,
    _credit,
    _debit,
    _flows,
    _kind_total,
    _net,
    _points,
    _redemption_totals,
)
from .stripe_match import _stripe_left_out, _stripe_matches


@dataclass
class Report:
    community: Community
    period: Period | None
    points_per_yuan: int
    generated_at: datetime
    #: Balance per (unit, account kind) at the end of the report.
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    #: Coupons issued before the end, and how many were open, redeemed, expired, revoked.
    coupons: dict[str, int] = field(default_factory=dict)
    #: The sections of figures, as :meth:`as_dict` gives them.
    figures: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict:
        """The report as a JSON document: plain ints, strings, lists and dicts."""
        return {
            "community": {
                "id": self.community.id,
                "slug": self.community.slug,
                "name": self.community.name,
            },
            "period": str(self.period) if self.period else None,
            "from": self.period.start.isoformat() if self.period else None,
            "until": self.period.end.isoformat() if self.period else None,
            "points_per_yuan": self.points_per_yuan,
            "generated_at": self.generated_at.isoformat(),
            "ok": self.ok,
            **self.figures,
            "invariants": [check.as_dict() for check in self.checks],
        }


def reconcile(
    community: Community,
    period: Period | None = None,
    *,
    points_per_yuan: int | None = None,
    stripe: bool = True,
    checks: bool = True,
) -> Report:
    """The community's report for ``period`` (a month), or in total to date.

    ``points_per_yuan`` values the liability at another rate than the
    community's present one: a closed month is checked again at the rate it
    was closed with. ``stripe=False`` leaves Stripe out (its check says so);
    ``checks=False`` gives the figures alone (the dashboard's charts).
    """
    rate = points_per_yuan or community.points_per_yuan
    report = Report(community, period, rate, utcnow())
    _room_for_reports()
    if period is None:
        # In total: the closed months' stored figures, and the ledger after them.
        closed, start, end = _closed_prefix(community)
    else:
        closed, start, end = [], period.start, period.end
    flows, since = _flows(community.id, start, end)
    now = _balances(community.id)
    closing = {key: total - since.get(key, 0) for key, total in now.items()}
    opening = {key: total - _net(flows, key) for key, total in closing.items()}
    if period is None:
        opening = dict.fromkeys(closing, 0)
    report.balances = _by_kind(closing)
    states = _coupon_states(community.id, end)
    report.coupons = {name: states[name] for name in COUPON_COUNTS}
    redemptions = _redemption_totals(community.id, start, end)
    figures = report.figures
    figures["points"] = _points(flows, opening, closing, redemptions)
    figures["coupons"] = {**_coupons_issued(community.id, start, end, redemptions), **states}
    figures["money"] = _money(community, flows, opening, closing, start, end)
    figures["liability"] = _liability(community, closing, rate)
    figures["rounding"] = _rounding(redemptions, figures["liability"])
    figures["rounding"]["statements"] = _statements(community.id, start, end)
    figures["merchants"] = _merchants(community.id, redemptions)
    figures["participation"] = _participation(
        community.id, *((start, end) if period else (None, None))
    )
    figures["corrections"] = _corrections(community.id, start, end) if period else []
    for document in closed:
        _add_month(figures, document)
    if checks:
        report.checks = invariants(community, start, end, stripe=stripe)
    return report


def month_flows(community: Community, period: Period) -> dict:
    """What the dashboard's charts need of a month not yet closed, and no more: points
    minted, redeemed and expired, coupons issued and redeemed, value per merchant,
    attendances per activity category."""
    _room_for_reports()
    start, end = period.start, period.end
    flows, _since = _flows(community.id, start, end)
    redemptions = _redemption_totals(community.id, start, end)
    issuance = AccountKind.ISSUANCE
    minted = (
        _debit(flows, "attendance_award", issuance)
        + _debit(flows, "award", issuance)
        + _debit(flows, "coupon_issue", issuance)
    )
    redeemed = (
        _debit(flows, "redemption", AccountKind.COUPON_ESCROW)
        + _debit(flows, "redemption", AccountKind.WALLET)
        - _credit(flows, "reversal:redemption", AccountKind.COUPON_ESCROW)
        - _credit(flows, "reversal:redemption", AccountKind.WALLET)
    )
    return {
        "period": str(period),
        "points": {
            "minted": {"total": minted},
            "redeemed_net": redeemed,
            "expired": _credit(flows, "coupon_expiry", AccountKind.EXPIRED),
        },
        "coupons": _coupons_issued(community.id, start, end, redemptions),
        "merchants": _merchants(community.id, redemptions),
        "participation": {"by_category": _by_category(community.id, start, end)},
    }


def position(community: Community) -> dict:
    """Where the community stands now: each fund's cash, what merchants are owed and
    were paid, and the liability against the reimbursing fund."""
    balances = _balances(community.id)
    return {
        "funds": {fund.value: balances.get((AccountKind.FUND_CASH, fund), 0) for fund in Fund},
        "payable_fen": _kind_total(balances, AccountKind.MERCHANT_PAYABLE),
        "paid_out_fen": _kind_total(balances, AccountKind.PAID_OUT),
        "liability": _liability(community, balances, community.points_per_yuan),
    }


def _closed_prefix(community: Community) -> tuple[list[dict], datetime | None, None]:
    """The stored reports of the months closed in a row from the community's first
    posting on, and the start of the rest of the ledger (None: all of it)."""
    first = db.session.scalar(
        sa.select(sa.func.min(LedgerTransaction.created_at)).where(
            LedgerTransaction.community_id == community.id
        )
    )
    if first is None:
        return [], None, None
    stored = dict(
        db.session.execute(
            sa.select(MonthClose.period, MonthClose.report).where(
                MonthClose.community_id == community.id,
                MonthClose.status == MonthCloseStatus.CLOSED,
            )
        ).all()
    )
    month, documents = Period.containing(first), []
    while str(month) in stored:
        documents.append(json.loads(stored[str(month)]))
        month = month.next()
    return documents, (month.start if documents else None), None


#: What a month adds to the total: every flow; not its balances, not its distinct counts.
MONTH_FLOWS = {
    "points": (
        "minted",
        "returned_to_issuance",
        "converted_to_coupons",
        "redeemed",
        "voided",
        "redeemed_net",
        "expired",
        "expired_to_wallets",
        "revoked_to_wallets",
        "settled",
        "received_by_merchants",
    ),
    "coupons": ("issued_in_period", "issued_points", "redemptions"),
    "rounding": ("redemptions", "statements"),
}


FUND_FLOWS = (
    "donations_fen",
    "stripe_fees_fen",
    "other_income_fen",
    "income_reversed_fen",
    "refunds_fen",
    "to_merchant_payable_fen",
)


def _plus(target: dict, key: str, source: dict) -> None:
    """``target[key] += source[key]``, leaf by leaf for a section."""
    if isinstance(source[key], dict):
        for inner in source[key]:
            _plus(target[key], inner, source[key])
    else:
        target[key] += source[key]


def _add_month(figures: dict, month: dict) -> None:
    """Add a closed month's stored flows to the total's figures."""
    for section, keys in MONTH_FLOWS.items():
        for key in keys:
            _plus(figures[section], key, month[section])
    money = figures["money"]
    _plus(money, "income", month["money"])
    _plus(money, "refunds", month["money"])
    for fund_name, flows in money["funds"].items():
        for key in FUND_FLOWS:
            flows[key] += month["money"]["funds"][fund_name][key]
    for account, keys in (("payable", ("approved_fen", "paid_fen", "returned_fen")),
                          ("paid_out", ("paid_fen", "returned_fen"))):  # fmt: skip
        for key in keys:
            money[account][key] += month["money"][account][key]
    merchants = {row["merchant_id"]: row for row in figures["merchants"]}
    for row in month["merchants"]:
        if row["merchant_id"] not in merchants:
            merchants[row["merchant_id"]] = dict(row)
            continue
        for key, value in row.items():
            if key not in ("merchant_id", "name"):
                merchants[row["merchant_id"]][key] += value
    figures["merchants"] = sorted(
        merchants.values(), key=lambda m: (-m["value_fen"], m["merchant_id"])
    )


def invariants(
    community: Community, start: datetime | None, end: datetime | None, *, stripe: bool = True
) -> list[Check]:
    """Every invariant of the community's books; Stripe's objects of ``[start, end)``."""
    balances = _by_kind(_balances(community.id))
    return [
        _units_sum_to_zero(balances),
        _balances_match_entries(community.id),
        _transactions_balance(community.id),
        _no_negative_balances(community.id),
        _coupons_match_postings(community.id),
        _postings_match_escrow(community.id),
        _statements_match_redemptions(community.id),
        _payouts_match_ledger(community.id),
        _stripe_matches(community, start, end) if stripe else _stripe_left_out(),
    ]
