"""What the report's parts share: its constants, a :class:`Check`, and how it reads big tables."""

from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from models import (
    AccountKind,
    LedgerEntry,
)

from .. import sql
from ..extensions import db

#: Below this the reimbursing fund cannot pay every point outstanding: a warning.


#: Below this the reimbursing fund cannot pay every point outstanding: a warning.
FULL_COVERAGE = Decimal(1)


#: Digits of the coverage ratio.
RATIO_PLACES = Decimal("0.0001")


#: At most this many offenders are named in one check's detail.
NAMED = 20


POINT_BALANCES = {
    AccountKind.ISSUANCE: "issuance",
    AccountKind.WALLET: "wallets",
    AccountKind.COUPON_ESCROW: "coupon_escrow",
    AccountKind.MERCHANT_RECEIVABLE: "receivable",
    AccountKind.RETIRED: "retired",
    AccountKind.EXPIRED: "expired",
}


#: Points the community still owes: spendable, held by coupons, or redeemed and not settled.
OUTSTANDING = (AccountKind.WALLET, AccountKind.COUPON_ESCROW, AccountKind.MERCHANT_RECEIVABLE)


#: Each check's words for a reader. The report keeps the English name, which is part
#: of a closed month's stored and hashed report, whoever reads it.
CHECK_LABELS = {
    "every unit sums to zero": _l("Every unit sums to zero"),
    "every account balance equals the sum of its entries": _l(
        "Every account balance equals the sum of its entries"
    ),
    "every transaction balances per unit": _l("Every transaction balances per unit"),
    "only source accounts are negative": _l("Only source accounts are negative"),
    "every coupon's remaining points equal its escrow postings": _l(
        "Every coupon's remaining points equal its escrow postings"
    ),
    "every coupon escrow entry is accounted to coupons": _l(
        "Every coupon escrow entry is accounted to coupons"
    ),
    "every statement equals its redemptions": _l("Every statement equals its redemptions"),
    "every payout is one ledger transaction of its amount": _l(
        "Every payout is one ledger transaction of its amount"
    ),
    "every Stripe payment and transfer matches one ledger transaction": _l(
        "Every Stripe payment and transfer matches one ledger transaction"
    ),
}
#: Why a check was not run, for a reader.
SKIPPED_BECAUSE = {
    "not checked: Stripe is not configured (no STRIPE_API_KEY)": _l(
        "Not checked: Stripe is not configured."
    ),
    "not checked: left out of this report": _l("Not checked: left out of this report."),
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    #: Not run, and why in ``detail`` (Stripe not configured): neither passed nor failed.
    skipped: bool = False

    def as_dict(self) -> dict:
        return {"name": self.name, "ok": self.ok, "skipped": self.skipped, "detail": self.detail}

    @property
    def label(self) -> str:
        return str(CHECK_LABELS.get(self.name, self.name))

    @property
    def shown_detail(self) -> str:
        """What a page says under the check: why it was skipped, or what is at fault
        (the ids and amounts of the stored detail); nothing when it passed."""
        if self.skipped:
            return str(SKIPPED_BECAUSE.get(self.detail, self.detail))
        return "" if self.ok else self.detail


def _room_for_reports() -> None:
    """On PostgreSQL, memory for this transaction's grouped reads to be hashed in
    memory: a report groups a million entries by transaction in one pass."""
    if sql.on_postgresql():
        db.session.execute(sa.text("SET LOCAL work_mem = '256MB'"))


@contextmanager
def _streamed():
    """On PostgreSQL, group in index order: the entries' indexes carry what is summed
    (migration 0014), so a check streams through one index instead of hashing a
    million rows."""
    if not sql.on_postgresql():
        yield
        return
    db.session.execute(sa.text("SET LOCAL enable_hashagg = off"))
    try:
        yield
    finally:
        db.session.execute(sa.text("SET LOCAL enable_hashagg = on"))


def _entries_of(txn):
    return sa.and_(
        LedgerEntry.community_id == txn.community_id, LedgerEntry.transaction_id == txn.id
    )


def _same(model, community_id, row_id):
    """The join condition of a composite ``(community_id, id)`` reference."""
    return sa.and_(model.community_id == community_id, model.id == row_id)


def _in_window(column, start, end) -> list:
    where = []
    if start is not None:
        where.append(column >= start)
    if end is not None:
        where.append(column < end)
    return where
