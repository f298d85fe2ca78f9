"""The fund (design.md §7): what each fund holds, donations through Stripe, other income.

Each community has a charity fund (慈善基金) and a community fund (社区基金),
each a ``fund_cash`` account; the community's ``reimbursing_fund`` pays
merchants back, through their ``merchant_payable`` and ``paid_out`` accounts.

A donation is booked once, when Stripe's signed ``payment_intent.succeeded``
arrives (:func:`handle_event`), as one ``donation`` transaction referencing
the PaymentIntent, with four legs::

    income      -gross     what the donor gave
    fund cash   +gross
    fund cash   -fee       Stripe's fee on the charge (its balance transaction)
    income      +fee

so the fund's cash is what Stripe actually pays out (gross - fee) and the
ledger stays double-entry with the fee visible as its own entry: the fee is
money that never reached the community, a deduction from what was raised,
not an expense paid from the fund, so it is netted against the income it
came with and needs no account of its own.

A refund gives ``amount`` back from the fund's cash to income (Stripe keeps
its fee, so the fund bears it): a ``reversal`` transaction whose reference is
the Stripe Refund id. A donation may be refunded in parts, so the transaction
does not point at the donation's through ``reverses_id`` (which allows one
reversal); the refund row links them.

Every Stripe event is stored once by its id (:class:`models.StripeEvent`), in
the same database transaction as its effects.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    OPEN_DISPUTE_STATUSES,
    Account,
    AccountKind,
    Community,
    Donation,
    DonationRefund,
    DonationStatus,
    Fund,
    IncomeEntry,
    IncomeSource,
    IncomeStatus,
    Member,
    RefundOrigin,
    RefundStatus,
    StripeDispute,
    StripeEvent,
    TransactionKind,
    utcnow,
)

from . import ledger, payouts, sql, stripe_gateway
from .extensions import db
from .lifecycle import Lifecycle
from .money import format_fen
from .problems import Conflict, InvalidInput

FUND_NAMES = {Fund.CHARITY: _l("Charity fund"), Fund.COMMUNITY: _l("Community fund")}
INCOME_SOURCE_NAMES = {
    IncomeSource.CHARITY_SALE: _l("Charity sale"),
    IncomeSource.CASH_DONATION: _l("Cash donation"),
    IncomeSource.GRANT: _l("Grant"),
    IncomeSource.OTHER: _l("Other income"),
}
#: Dispute statuses after which Stripe will not move the money again.
FINAL_DISPUTE_STATUSES = frozenset({"won", "lost", "warning_closed"})


# --- problems ------------------------------------------------------------------------------


class IllegalDonationTransition(Conflict):
    slug, title = "illegal-donation-transition", _l("The donation cannot change this way")


class DonationAmountOutOfRange(InvalidInput):
    slug, title = "donation-amount-out-of-range", _l("Donation amount out of range")
    message = _l("Please give an amount between the smallest and largest donation accepted.")


class DonationNotRefundable(Conflict):
    slug, title = "donation-not-refundable", _l("This donation cannot be refunded")
    message = _l("Only a paid donation can be refunded, and only what is left of it.")


class RefundExceedsDonation(Conflict):
    slug, title = "refund-exceeds-donation", _l("The refund is more than what is left")
    message = _l("A donation can only be refunded up to what was given and not yet refunded.")


class FundCannotCoverRefund(Conflict):
    slug, title = "fund-cannot-cover-refund", _l("The fund cannot cover this refund")
    message = _l("The fund does not hold enough money for this refund; nothing was refunded.")


class DonationDisputed(Conflict):
    slug, title = "donation-disputed", _l("The donation is disputed")
    message = _l(
        "The donor's bank is disputing this payment; no refund can be made until the dispute "
        "is closed."
    )


class IllegalIncomeTransition(Conflict):
    slug, title = "income-already-reversed", _l("The income entry was already reversed")
    message = _l("This entry was already reversed; record a new one if needed.")


class FundCannotCoverReversal(Conflict):
    slug, title = "fund-cannot-cover-reversal", _l("The fund cannot cover this reversal")
    message = _l("The fund no longer holds this money, so the entry cannot be reversed.")


DONATION_LIFECYCLE = Lifecycle(
    "Donation",
    {
        DonationStatus.PENDING: {DonationStatus.SUCCEEDED, DonationStatus.FAILED},
        DonationStatus.FAILED: {DonationStatus.SUCCEEDED},
        DonationStatus.SUCCEEDED: {DonationStatus.REFUNDED},
        DonationStatus.REFUNDED: set(),
    },
    IllegalDonationTransition,
)
INCOME_LIFECYCLE = Lifecycle(
    "Income entry",
    {IncomeStatus.RECORDED: {IncomeStatus.REVERSED}, IncomeStatus.REVERSED: set()},
    IllegalIncomeTransition,
)


# --- what each fund holds -------------------------------------------------------------------


@dataclass(frozen=True)
class FundSummary:
    fund: Fund
    cash_fen: int
    #: Approved reimbursements not yet paid: only the reimbursing fund owes them.
    payable_fen: int
    paid_out_fen: int
    reimburses_merchants: bool

    @property
    def name(self) -> str:
        return str(FUND_NAMES[self.fund])

    @property
    def shown(self) -> dict[str, str]:
        return {
            "cash": format_fen(self.cash_fen),
            "payable": format_fen(self.payable_fen),
            "paid_out": format_fen(self.paid_out_fen),
        }


def cash_account(community_id: int, fund: Fund) -> Account:
    return ledger.ensure_account(community_id, AccountKind.FUND_CASH, fund=fund)


def fund_summaries(community: Community) -> list[FundSummary]:
    totals = dict(
        db.session.execute(
            sa.select(Account.kind, sa.func.coalesce(sa.func.sum(Account.balance), 0))
            .where(
                Account.community_id == community.id,
                Account.kind.in_([AccountKind.MERCHANT_PAYABLE, AccountKind.PAID_OUT]),
            )
            .group_by(Account.kind)
        ).all()
    )
    summaries = []
    for fund in Fund:
        reimburses = fund == community.reimbursing_fund
        summaries.append(
            FundSummary(
                fund=fund,
                cash_fen=cash_account(community.id, fund).balance,
                payable_fen=int(totals.get(AccountKind.MERCHANT_PAYABLE, 0)) if reimburses else 0,
                paid_out_fen=int(totals.get(AccountKind.PAID_OUT, 0)) if reimburses else 0,
                reimburses_merchants=reimburses,
            )
        )
    return summaries


# --- donations -------------------------------------------------------------------------------


def start_donation(
    community: Community,
    *,
    amount_fen: int,
    fund: Fund,
    donor_name: str | None = None,
    message: str | None = None,
    actor: Member | None = None,
    request_key: str | None = None,
    limits: tuple[int, int],
) -> tuple[Donation, dict]:
    """A pending donation and its Stripe PaymentIntent (the donor pays with its client secret).

    ``request_key`` is the public page's key for one form: sent again, it gives
    back the same donation and PaymentIntent instead of a second one.
    """
    gateway = stripe_gateway.gateway()
    low, high = limits
    if not low <= amount_fen <= high:
        raise DonationAmountOutOfRange(
            _(
                "A donation is between %(low)s and %(high)s.",
                low=format_fen(low),
                high=format_fen(high),
            ),
            errors={"json": {"amount_fen": [f"From {low} to {high}."]}},
        )
    if request_key is not None:
        existing = db.session.execute(
            sa.select(Donation).where(
                Donation.community_id == community.id, Donation.request_key == request_key
            )
        ).scalar_one_or_none()
        if existing is not None:
            return existing, gateway.retrieve_payment_intent(existing.payment_intent_id)
    donation = Donation(
        community_id=community.id,
        fund=fund,
        amount_fen=amount_fen,
        donor_name=(donor_name or "").strip() or None,
        message=(message or "").strip() or None,
        status=DonationStatus.PENDING,
        refunded_fen=0,
        created_by_id=actor.id if actor is not None else None,
        request_key=request_key,
        created_at=utcnow(),
    )
    db.session.add(donation)
    db.session.flush()
    intent = gateway.create_payment_intent(
        amount_fen,
        metadata={
            "jifen_community": community.slug,
            "jifen_community_id": str(community.id),
            "jifen_fund": fund.value,
            "jifen_donation_id": str(donation.id),
        },
        # Stable for this row, and unique even where SQLite reuses a rolled-back id.
        idempotency_key=f"jifen-donation-{community.id}-{donation.id}-"
        f"{int(donation.created_at.timestamp() * 1_000_000)}",
    )
    donation.payment_intent_id = intent["id"]
    return donation, intent


def donation_by_payment_intent(payment_intent_id: str, *, lock: bool = False) -> Donation | None:
    query = sa.select(Donation).where(Donation.payment_intent_id == payment_intent_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.execute(query).scalar_one_or_none()


def _book_donation(donation: Donation, intent: dict, gateway) -> None:
    charge = intent.get("latest_charge")
    charge_id = charge.get("id") if isinstance(charge, dict) else charge
    amount = int(intent.get("amount_received") or intent["amount"])
    fee = gateway.charge_fee(charge_id) if charge_id else None
    fee_fen = fee.fee_fen if fee is not None else 0
    income = ledger.ensure_account(donation.community_id, AccountKind.INCOME)
    cash = cash_account(donation.community_id, donation.fund)
    txn = ledger.post(
        donation.community_id,
        TransactionKind.DONATION,
        [(income, -amount), (cash, amount), (cash, -fee_fen), (income, fee_fen)],
        memo=f"捐赠 Donation · {donation.donor_name or '匿名 anonymous'}",
        reference=donation.payment_intent_id,
    )
    DONATION_LIFECYCLE.move(
        donation,
        DonationStatus.SUCCEEDED,
        amount_fen=amount,
        charge_id=charge_id,
        fee_fen=fee_fen,
        transaction_id=txn.id,
        succeeded_at=utcnow(),
    )


def refund_donation(donation: Donation, *, amount_fen: int | None, actor: Member) -> DonationRefund:
    """Give ``amount_fen`` (what is left, by default) back to the donor through Stripe.

    The donation and the fund's cash are locked first, so a second refund of
    the same donation waits and then sees this one; the checks (paid, not
    disputed, not more than is left, covered by the fund) come before Stripe
    is asked. Stripe's idempotency key is derived from the donation and what
    was refunded before, so a retry after a failure is the same refund.
    """
    gateway = stripe_gateway.gateway()
    donation = sql.locked(donation)
    if donation.status != DonationStatus.SUCCEEDED:
        raise DonationNotRefundable(
            _("Donation %(id)s is %(status)s.", id=donation.id, status=donation.status.value)
        )
    left = donation.amount_fen - donation.refunded_fen
    amount = left if amount_fen is None else amount_fen
    if not 0 < amount <= left:
        raise RefundExceedsDonation(
            _(
                "%(amount)s asked, %(left)s left to refund.",
                amount=format_fen(amount),
                left=format_fen(left),
            )
        )
    if _open_dispute(donation) is not None:
        raise DonationDisputed()
    cash = sql.locked(cash_account(donation.community_id, donation.fund))
    if cash.balance < amount:
        raise FundCannotCoverRefund(
            _(
                "The fund holds %(cash)s; the refund needs %(amount)s.",
                cash=format_fen(cash.balance),
                amount=format_fen(amount),
            )
        )
    refund = gateway.create_refund(
        donation.payment_intent_id,
        amount,
        idempotency_key=f"jifen-refund-{donation.community_id}-{donation.id}-"
        f"after-{donation.refunded_fen}",
        metadata={
            "jifen_donation_id": str(donation.id),
            "jifen_community_id": str(donation.community_id),
        },
    )
    return _book_refund(donation, refund, RefundOrigin.JIFEN, actor=actor)


def _book_refund(
    donation: Donation, refund: dict, origin: RefundOrigin, actor: Member | None = None
) -> DonationRefund:
    amount = int(refund["amount"])
    income = ledger.ensure_account(donation.community_id, AccountKind.INCOME)
    cash = cash_account(donation.community_id, donation.fund)
    txn = ledger.post(
        donation.community_id,
        TransactionKind.REVERSAL,
        [(cash, -amount), (income, amount)],
        memo=f"捐赠退款 Donation refund · {donation.id}",
        reference=refund["id"],
        actor_id=actor.id if actor is not None else None,
    )
    row = DonationRefund(
        community_id=donation.community_id,
        donation_id=donation.id,
        amount_fen=amount,
        refund_id=refund["id"],
        status=RefundStatus.BOOKED,
        origin=origin,
        transaction_id=txn.id,
        requested_by_id=actor.id if actor is not None else None,
    )
    db.session.add(row)
    donation.refunded_fen += amount
    if donation.refunded_fen == donation.amount_fen:
        DONATION_LIFECYCLE.move(donation, DonationStatus.REFUNDED)
    db.session.flush()
    return row


def _open_dispute(donation: Donation) -> StripeDispute | None:
    return db.session.execute(
        sa.select(StripeDispute)
        .where(
            StripeDispute.community_id == donation.community_id,
            StripeDispute.donation_id == donation.id,
            StripeDispute.status.in_(OPEN_DISPUTE_STATUSES),
        )
        .limit(1)
    ).scalar_one_or_none()


# --- Stripe events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EventReceipt:
    event_id: str
    type: str
    outcome: str
    #: True when this event id had been received before: nothing was done again.
    duplicate: bool


def handle_event(event: dict) -> EventReceipt:
    """Record a verified Stripe event once, and do what it says.

    The event row is inserted first with ``ON CONFLICT DO NOTHING``: a replay
    (or a concurrent delivery, which waits on the unique index for the first
    to commit) inserts nothing and changes nothing.
    """
    obj = (event.get("data") or {}).get("object") or {}
    created = event.get("created")
    inserted = db.session.execute(
        sql.insert(StripeEvent)
        .values(
            event_id=event["id"],
            type=str(event.get("type", ""))[:100],
            object_id=obj.get("id"),
            outcome="received",
            created_at=_from_timestamp(created),
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(StripeEvent.id)
    ).scalar_one_or_none()
    if inserted is None:
        stored = db.session.execute(
            sa.select(StripeEvent).where(StripeEvent.event_id == event["id"])
        ).scalar_one()
        return EventReceipt(stored.event_id, stored.type, stored.outcome, duplicate=True)
    handler = EVENT_HANDLERS.get(event.get("type"), _ignore)
    outcome, community_id = handler(obj, event)
    db.session.execute(
        sa.update(StripeEvent)
        .where(StripeEvent.id == inserted)
        .values(outcome=outcome, community_id=community_id)
    )
    return EventReceipt(event["id"], event.get("type", ""), outcome, duplicate=False)


def _from_timestamp(value):
    from datetime import UTC, datetime

    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return utcnow()


def _ignore(_obj: dict, _event: dict) -> tuple[str, int | None]:
    return "ignored", None


def _payment_succeeded(intent: dict, _event: dict) -> tuple[str, int | None]:
    donation = donation_by_payment_intent(intent.get("id", ""), lock=True)
    if donation is None:
        return "unmatched", None
    if donation.status in (DonationStatus.SUCCEEDED, DonationStatus.REFUNDED):
        return "already_recorded", donation.community_id
    _book_donation(donation, intent, stripe_gateway.gateway())
    return "recorded", donation.community_id


def _payment_failed(intent: dict, _event: dict) -> tuple[str, int | None]:
    donation = donation_by_payment_intent(intent.get("id", ""), lock=True)
    if donation is None:
        return "unmatched", None
    if not DONATION_LIFECYCLE.may(donation.status, DonationStatus.FAILED):
        # A late failure of an earlier attempt: the donation was paid since.
        return "already_recorded", donation.community_id
    DONATION_LIFECYCLE.move(donation, DonationStatus.FAILED)
    return "recorded", donation.community_id


def _charge_refunded(charge: dict, _event: dict) -> tuple[str, int | None]:
    """Book each refund of the charge Jifen does not know yet (one made in Stripe's
    dashboard, or one of Jifen's whose request failed after Stripe answered): when
    the fund covers it, as a refund; otherwise it is kept as unmatched, for
    reconciliation."""
    intent_id = charge.get("payment_intent")
    donation = donation_by_payment_intent(intent_id, lock=True) if intent_id else None
    if donation is None or donation.status not in (
        DonationStatus.SUCCEEDED,
        DonationStatus.REFUNDED,
    ):
        return "unmatched", donation.community_id if donation else None
    known = set(
        db.session.execute(
            sa.select(DonationRefund.refund_id).where(
                DonationRefund.community_id == donation.community_id,
                DonationRefund.donation_id == donation.id,
            )
        ).scalars()
    )
    outcome = "already_recorded"
    for refund in stripe_gateway.gateway().list_refunds(donation.payment_intent_id):
        if refund["id"] in known or refund.get("status") not in ("succeeded", "pending"):
            continue
        amount = int(refund["amount"])
        origin = (
            RefundOrigin.JIFEN
            if "jifen_donation_id" in (refund.get("metadata") or {})
            else (RefundOrigin.STRIPE)
        )
        cash = sql.locked(cash_account(donation.community_id, donation.fund))
        left = donation.amount_fen - donation.refunded_fen
        if amount <= left and cash.balance >= amount:
            _book_refund(donation, refund, origin)
            outcome = "recorded"
        else:
            db.session.add(
                DonationRefund(
                    community_id=donation.community_id,
                    donation_id=donation.id,
                    amount_fen=amount,
                    refund_id=refund["id"],
                    status=RefundStatus.UNMATCHED,
                    origin=origin,
                )
            )
            db.session.flush()
            outcome = "unmatched"
    return outcome, donation.community_id


def _dispute(dispute: dict, event: dict) -> tuple[str, int | None]:
    """Keep the dispute's latest status; a closed dispute is never reopened by a late event."""
    donation = None
    if dispute.get("charge"):
        donation = db.session.execute(
            sa.select(Donation).where(Donation.charge_id == dispute["charge"])
        ).scalar_one_or_none()
    if donation is None and dispute.get("payment_intent"):
        donation = donation_by_payment_intent(dispute["payment_intent"])
    if donation is None:
        return "unmatched", None
    status = str(dispute.get("status") or "needs_response")[:40]
    at = _from_timestamp(event.get("created"))
    row = db.session.execute(
        sa.select(StripeDispute).where(StripeDispute.dispute_id == dispute["id"]).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        db.session.add(
            StripeDispute(
                community_id=donation.community_id,
                donation_id=donation.id,
                dispute_id=dispute["id"],
                amount_fen=int(dispute.get("amount") or 0),
                status=status,
                created_at=at,
                updated_at=at,
            )
        )
        db.session.flush()
        return "recorded", donation.community_id
    if row.status in FINAL_DISPUTE_STATUSES or at < row.updated_at:
        return "already_recorded", donation.community_id
    row.status, row.updated_at = status, at
    return "recorded", donation.community_id


EVENT_HANDLERS = {
    "payment_intent.succeeded": _payment_succeeded,
    "payment_intent.payment_failed": _payment_failed,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute,
    "charge.dispute.updated": _dispute,
    "charge.dispute.closed": _dispute,
    "transfer.reversed": payouts.on_transfer_reversed,
}


def unmatched_refunds(community: Community) -> list[DonationRefund]:
    """Refunds made at Stripe that the ledger could not book, for reconciliation."""
    return list(
        db.session.execute(
            sa.select(DonationRefund)
            .where(
                DonationRefund.community_id == community.id,
                DonationRefund.status == RefundStatus.UNMATCHED,
            )
            .order_by(DonationRefund.id)
        ).scalars()
    )


# --- other income ------------------------------------------------------------------------------


def record_income(
    community: Community,
    *,
    amount_fen: int,
    fund: Fund,
    source: IncomeSource,
    reference: str,
    note: str | None,
    actor: Member,
) -> IncomeEntry:
    """Charity-sale proceeds, a cash donation or a grant, into the fund's cash."""
    reference = reference.strip()
    if not reference:
        raise InvalidInput(
            _("A reference (receipt or sale) is required."),
            errors={"json": {"reference": ["Required."]}},
        )
    if amount_fen <= 0:
        raise InvalidInput(
            _("The amount must be positive."), errors={"json": {"amount_fen": ["Positive."]}}
        )
    entry = IncomeEntry(
        community_id=community.id,
        fund=fund,
        amount_fen=amount_fen,
        source=source,
        reference=reference,
        note=(note or "").strip() or None,
        status=IncomeStatus.RECORDED,
        recorded_by_id=actor.id,
    )
    db.session.add(entry)
    db.session.flush()
    txn = ledger.post(
        community.id,
        TransactionKind.INCOME,
        [
            (ledger.ensure_account(community.id, AccountKind.INCOME), -amount_fen),
            (cash_account(community.id, fund), amount_fen),
        ],
        memo=f"{INCOME_MEMOS[source]} · {reference}",
        reference=f"income:{entry.id}",
        actor_id=actor.id,
    )
    entry.transaction_id = txn.id
    return entry


#: Ledger memos are stored once, in both languages.
INCOME_MEMOS = {
    IncomeSource.CHARITY_SALE: "义卖 Charity sale",
    IncomeSource.CASH_DONATION: "现金捐赠 Cash donation",
    IncomeSource.GRANT: "资助 Grant",
    IncomeSource.OTHER: "其他收入 Other income",
}


def reverse_income(entry: IncomeEntry, *, reason: str, actor: Member) -> IncomeEntry:
    """Undo a wrong entry with a reversing transaction; the entry itself is never edited."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("A reason is required."), errors={"json": {"reason": ["Required."]}})
    entry = sql.locked(entry)
    INCOME_LIFECYCLE.check(entry, IncomeStatus.REVERSED)
    original = db.session.get(ledger.LedgerTransaction, entry.transaction_id)
    try:
        txn = ledger.reverse(original, memo=f"冲销 Reversal · {reason}", actor_id=actor.id)
    except ledger.InsufficientBalance as error:
        raise FundCannotCoverReversal() from error
    INCOME_LIFECYCLE.move(
        entry,
        IncomeStatus.REVERSED,
        reversal_transaction_id=txn.id,
        reversal_reason=reason,
        reversed_by_id=actor.id,
        reversed_at=utcnow(),
    )
    return entry
