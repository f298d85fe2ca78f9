"""What moved: ledger flows by account kind, balances, and the points they add up to."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from models import (
    Account,
    AccountKind,
    DonationRefund,
    Fund,
    LedgerEntry,
    LedgerTransaction,
    Redemption,
    RefundStatus,
    TransactionKind,
    Unit,
)

from ..extensions import db

#: Below this the reimbursing fund cannot pay every point outstanding: a warning.
from .common import POINT_BALANCES, _entries_of, _in_window, _same


@dataclass(frozen=True)
class Flow:
    #: Sum of the positive entries, and of the negative ones as a positive number.
    credit: int = 0
    debit: int = 0


FlowKey = tuple[str, AccountKind, Fund | None]


def _class_of(kind: TransactionKind, original: TransactionKind | None, refund: bool) -> str:
    """What a transaction did: its kind, or for a reversal ``reversal:`` and what it reverses.
    A donation refund names no single original (a donation is refunded in parts)."""
    if kind != TransactionKind.REVERSAL:
        return kind.value
    if original is not None:
        return f"reversal:{original.value}"
    return "refund" if refund else "reversal"


def _flows(
    community_id: int, start: datetime | None, end: datetime | None
) -> tuple[dict[FlowKey, Flow], dict[tuple[AccountKind, Fund | None], int]]:
    """Credits and debits per (what the transaction did, account kind, fund) in
    ``[start, end)``, and the net per (account kind, fund) from ``end`` on.

    Two grouped reads: every entry of the window by its transaction's kind, and the
    few reversals again by what each reverses (a reversal names its original)."""
    txn = LedgerTransaction
    grouped = [txn.kind, Account.kind, Account.fund]
    if end is not None:
        grouped.insert(0, txn.created_at >= end)
    credit = sa.func.sum(sa.case((LedgerEntry.amount > 0, LedgerEntry.amount), else_=0))
    debit = sa.func.sum(sa.case((LedgerEntry.amount < 0, -LedgerEntry.amount), else_=0))
    query = (
        sa.select(*grouped, credit, debit)
        .select_from(txn)
        .join(LedgerEntry, _entries_of(txn))
        .join(Account, Account.id == LedgerEntry.account_id)
        .where(txn.community_id == community_id, *_in_window(txn.created_at, start, None))
        .group_by(*grouped)
    )
    flows: dict[FlowKey, Flow] = defaultdict(Flow)
    since: dict[tuple[AccountKind, Fund | None], int] = defaultdict(int)
    for row in db.session.execute(query):
        is_after = bool(row[0]) if end is not None else False
        kind, account_kind, fund, credits, debits = row[-5:]
        if is_after:
            since[(account_kind, fund)] += int(credits) - int(debits)
        elif kind != TransactionKind.REVERSAL:
            flows[(kind.value, account_kind, fund)] = Flow(int(credits), int(debits))
    original = aliased(LedgerTransaction)
    refund = txn.id.in_(
        sa.select(DonationRefund.transaction_id).where(
            DonationRefund.community_id == community_id,
            DonationRefund.status == RefundStatus.BOOKED,
        )
    )
    reversals = (
        sa.select(original.kind, refund, Account.kind, Account.fund, credit, debit)
        .select_from(txn)
        .join(LedgerEntry, _entries_of(txn))
        .join(Account, Account.id == LedgerEntry.account_id)
        .outerjoin(original, _same(original, txn.community_id, txn.reverses_id))
        .where(
            txn.community_id == community_id,
            txn.kind == TransactionKind.REVERSAL,
            *_in_window(txn.created_at, start, end),
        )
        .group_by(original.kind, refund, Account.kind, Account.fund)
    )
    for orig, is_refund, account_kind, fund, credits, debits in db.session.execute(reversals):
        key = (_class_of(TransactionKind.REVERSAL, orig, bool(is_refund)), account_kind, fund)
        seen = flows[key]
        flows[key] = Flow(seen.credit + int(credits), seen.debit + int(debits))
    return flows, since


def _net(flows: dict[FlowKey, Flow], key: tuple[AccountKind, Fund | None]) -> int:
    return sum(f.credit - f.debit for (_c, kind, fund), f in flows.items() if (kind, fund) == key)


def _credit(flows, cls: str, kind: AccountKind, fund: Fund | None = None, any_fund=False) -> int:
    return sum(
        f.credit
        for (c, k, fu), f in flows.items()
        if c == cls and k == kind and (any_fund or fu == fund)
    )


def _debit(flows, cls: str, kind: AccountKind, fund: Fund | None = None, any_fund=False) -> int:
    return sum(
        f.debit
        for (c, k, fu), f in flows.items()
        if c == cls and k == kind and (any_fund or fu == fund)
    )


def _balances(community_id: int) -> dict[tuple[AccountKind, Fund | None], int]:
    """Today's balance per (account kind, fund), from the accounts' rows."""
    rows = db.session.execute(
        sa.select(Account.kind, Account.fund, sa.func.sum(Account.balance))
        .where(Account.community_id == community_id)
        .group_by(Account.kind, Account.fund)
    )
    found = {kind_fund: 0 for kind_fund in _ALL_BALANCES}
    for kind, fund, total in rows:
        found[(kind, fund)] = int(total)
    return found


_ALL_BALANCES = [(kind, None) for kind in AccountKind if kind != AccountKind.FUND_CASH] + [
    (AccountKind.FUND_CASH, fund) for fund in Fund
]


def _by_kind(balances: dict[tuple[AccountKind, Fund | None], int]) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for (kind, _fund), total in balances.items():
        unit = Unit.POINTS if kind in POINT_BALANCES else Unit.FEN
        totals[(unit.value, kind.value)] += total
    return dict(totals)


def _kind_total(balances, kind: AccountKind) -> int:
    return sum(total for (k, _fund), total in balances.items() if k == kind)


def _points(flows, opening, closing, redemptions: "list[RedemptionTotals]") -> dict:
    issuance = AccountKind.ISSUANCE
    minted = {
        "activity_awards": _debit(flows, "attendance_award", issuance),
        "manual_awards": _debit(flows, "award", issuance),
        "coupon_grants": _debit(flows, "coupon_issue", issuance),
    }
    minted["total"] = sum(minted.values())
    returned = {
        "deductions": _credit(flows, "deduction", issuance),
        "reversed_awards": _credit(flows, "reversal:award", issuance)
        + _credit(flows, "reversal:attendance_award", issuance),
        "revoked_grants": _credit(flows, "coupon_revocation", issuance),
    }
    returned["total"] = sum(returned.values())
    escrow, wallet = AccountKind.COUPON_ESCROW, AccountKind.WALLET
    receivable = AccountKind.MERCHANT_RECEIVABLE
    coupon_value, paycode_value = _redeemed_values(redemptions)
    redeemed = {
        "coupon": _debit(flows, "redemption", escrow),
        "coupon_value_fen": coupon_value,
        "pay_code": _debit(flows, "redemption", wallet),
        "pay_code_value_fen": paycode_value,
    }
    voided = {
        "coupon": _credit(flows, "reversal:redemption", escrow),
        "pay_code": _credit(flows, "reversal:redemption", wallet),
    }
    net_redeemed = redeemed["coupon"] + redeemed["pay_code"] - voided["coupon"] - voided["pay_code"]
    return {
        "minted": minted,
        "returned_to_issuance": returned,
        "converted_to_coupons": _debit(flows, "coupon_issue", wallet),
        "redeemed": redeemed,
        "voided": voided,
        "redeemed_net": net_redeemed,
        "expired": _credit(flows, "coupon_expiry", AccountKind.EXPIRED),
        "expired_to_wallets": _credit(flows, "coupon_expiry", wallet),
        "revoked_to_wallets": _credit(flows, "coupon_revocation", wallet),
        "settled": _credit(flows, "settlement", AccountKind.RETIRED)
        - _debit(flows, "reversal:settlement", AccountKind.RETIRED),
        "received_by_merchants": _credit(flows, "redemption", receivable),
        "opening": {name: _kind_total(opening, kind) for kind, name in POINT_BALANCES.items()},
        "closing": {name: _kind_total(closing, kind) for kind, name in POINT_BALANCES.items()},
    }


@dataclass(frozen=True)
class RedemptionTotals:
    merchant_id: int
    by_coupon: bool
    #: Voided by the end of the window: a later void does not change a month.
    voided: bool
    count: int
    points: int
    value_fen: int
    remainder_centipoints: int


def _redemption_totals(community_id, start, end) -> list[RedemptionTotals]:
    """The redemptions whose ledger transaction is dated in ``[start, end)``, totalled
    per merchant, source (coupon or pay-code) and whether voided by ``end``: one query
    for everything the report says of redemptions."""
    txn, void = aliased(LedgerTransaction), aliased(LedgerTransaction)
    voided = void.id.is_not(None)
    if end is not None:
        voided = sa.and_(voided, void.created_at < end)
    by_coupon = Redemption.coupon_id.is_not(None)
    rows = db.session.execute(
        sa.select(
            Redemption.merchant_id,
            by_coupon,
            voided,
            sa.func.count(),
            sa.func.sum(Redemption.points),
            sa.func.sum(Redemption.points_value_fen),
            sa.func.sum((Redemption.points * 100) % Redemption.points_per_yuan),
        )
        .select_from(txn)
        .join(Redemption, _same(Redemption, txn.community_id, _redemption_named(txn)))
        .outerjoin(void, _same(void, Redemption.community_id, Redemption.void_transaction_id))
        .where(
            txn.community_id == community_id,
            txn.kind == TransactionKind.REDEMPTION,
            *_in_window(txn.created_at, start, end),
        )
        .group_by(Redemption.merchant_id, by_coupon, voided)
    ).all()
    return [
        RedemptionTotals(merchant, bool(coupon), bool(gone), *(int(n) for n in numbers))
        for merchant, coupon, gone, *numbers in rows
    ]


#: A redemption's ledger transaction names it: ``redemption:{id}`` (both writers).
REDEMPTION_REFERENCE = "redemption:"


def _redemption_named(txn):
    """The redemption id a redemption transaction's reference names: the window's
    transactions are found by time, and each finds its redemption by primary key."""
    return sa.cast(sa.func.substr(txn.reference, len(REDEMPTION_REFERENCE) + 1), sa.BigInteger)


def _redeemed_values(totals: list[RedemptionTotals]) -> tuple[int, int]:
    """Fen owed to merchants for the coupon and the pay-code redemptions of the window,
    at each redemption's stored rate, those voided since included (as the points are)."""
    coupon = sum(t.value_fen for t in totals if t.by_coupon)
    return coupon, sum(t.value_fen for t in totals) - coupon


#: The coupon counts :attr:`Report.coupons` keeps (the figures have more).
COUPON_COUNTS = ("issued", "open", "redeemed", "expired", "revoked")
