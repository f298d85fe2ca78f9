"""The fund's money coming in and going back: donations, refunds, other income, Stripe events.

A community holds two funds, charity (慈善基金) and community (社区基金), each a
``fund_cash`` account. Money reaches them two ways:

- a :class:`Donation` through a Stripe PaymentIntent, booked once Stripe's
  signed ``payment_intent.succeeded`` event arrives: one ``donation`` ledger
  transaction whose reference is the PaymentIntent id, net of Stripe's fee
  (see ``app.fund``); a :class:`DonationRefund` gives part or all of it back;
- an :class:`IncomeEntry` a fund admin records (义卖 proceeds, cash donations,
  grants), corrected only by a reversal with a reason.

Every Stripe object id (PaymentIntent, Charge, Refund, Dispute, event) is
UNIQUE here, so no replay or re-sync can book it twice. Each table but
:class:`StripeEvent` is community-owned, keyed ``(community_id, id)``.
"""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, community_keyed, enum_column_type, in_community, utcnow
from .ledger import Fund

#: A Stripe id: ``pi_...``, ``ch_...``, ``re_...``, ``dp_...``, ``evt_...``.
StripeId = sa.String(255)


class DonationStatus(enum.StrEnum):
    #: The PaymentIntent exists; the donor has not paid (or Stripe has not said so).
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    #: The last attempt failed; the donor may still pay with another card.
    FAILED = "failed"
    #: Given back in full.
    REFUNDED = "refunded"


class Donation(Base):
    """A donation through Stripe to one of the community's funds."""

    __tablename__ = "donations"

    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    fund: Mapped[Fund] = mapped_column(enum_column_type(Fund, "fund"))
    #: What the donor gave, in fen (before Stripe's fee).
    amount_fen: Mapped[int]
    donor_name: Mapped[str | None] = mapped_column(sa.String(100))
    message: Mapped[str | None] = mapped_column(sa.String(500))
    status: Mapped[DonationStatus] = mapped_column(
        enum_column_type(DonationStatus, "donation_status")
    )
    #: Set in the same database transaction as the row, just after Stripe
    #: answered: the PaymentIntent's metadata names the row's id.
    payment_intent_id: Mapped[str | None] = mapped_column(StripeId, unique=True)
    #: The charge that paid it; known once it succeeded.
    charge_id: Mapped[str | None] = mapped_column(StripeId, unique=True)
    #: Stripe's fee on the charge, from its balance transaction.
    fee_fen: Mapped[int | None]
    #: Fen given back so far (refunds booked in the ledger).
    refunded_fen: Mapped[int] = mapped_column(default=0)
    #: The ``donation`` ledger transaction; set when it succeeded.
    transaction_id: Mapped[int | None] = mapped_column()
    #: The member who asked for it through the API; NULL from the public page.
    created_by_id: Mapped[int | None] = mapped_column()
    #: The public page's own key for one donation form, so a double submit is one donation.
    request_key: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    succeeded_at: Mapped[datetime | None]

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "request_key"),
        sa.ForeignKeyConstraint(
            ["community_id", "transaction_id"],
            ["ledger_transactions.community_id", "ledger_transactions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "created_by_id"], ["members.community_id", "members.id"]
        ),
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.CheckConstraint(
            "fee_fen IS NULL OR (fee_fen >= 0 AND fee_fen <= amount_fen)", name="fee_within_amount"
        ),
        sa.CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refunded_within_amount"
        ),
        sa.CheckConstraint(
            "(status IN ('succeeded', 'refunded')) = (transaction_id IS NOT NULL)",
            name="paid_has_transaction",
        ),
        sa.CheckConstraint(
            "(status = 'refunded') = (refunded_fen = amount_fen)", name="refunded_in_full"
        ),
    )


class RefundStatus(enum.StrEnum):
    #: Booked: the fund's cash went back to the donor.
    BOOKED = "booked"
    #: Made at Stripe outside Jifen when the fund could not cover it: listed for
    #: reconciliation, nothing booked.
    UNMATCHED = "unmatched"


class RefundOrigin(enum.StrEnum):
    #: A fund admin refunded in Jifen.
    JIFEN = "jifen"
    #: Someone refunded at Stripe (the dashboard); Jifen learnt it from ``charge.refunded``.
    STRIPE = "stripe"


class DonationRefund(Base):
    """Money given back to a donor: a Stripe Refund and its ledger transaction."""

    __tablename__ = "donation_refunds"

    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    donation_id: Mapped[int] = mapped_column()
    amount_fen: Mapped[int]
    refund_id: Mapped[str] = mapped_column(StripeId, unique=True)
    status: Mapped[RefundStatus] = mapped_column(enum_column_type(RefundStatus, "refund_status"))
    origin: Mapped[RefundOrigin] = mapped_column(enum_column_type(RefundOrigin, "refund_origin"))
    #: The ledger transaction giving the fund's cash back; NULL when unmatched.
    transaction_id: Mapped[int | None] = mapped_column()
    requested_by_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    donation: Mapped[Donation] = in_community("DonationRefund", "Donation", "donation_id")

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.ForeignKeyConstraint(
            ["community_id", "donation_id"], ["donations.community_id", "donations.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "transaction_id"],
            ["ledger_transactions.community_id", "ledger_transactions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "requested_by_id"], ["members.community_id", "members.id"]
        ),
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.CheckConstraint(
            "(status = 'booked') = (transaction_id IS NOT NULL)", name="booked_has_transaction"
        ),
        sa.Index("ix_donation_refunds_donation", "community_id", "donation_id"),
    )


#: Stripe's dispute statuses while the money is still contested.
OPEN_DISPUTE_STATUSES = frozenset(
    {"warning_needs_response", "warning_under_review", "needs_response", "under_review"}
)


class StripeDispute(Base):
    """A card dispute on a donation's charge. While one is open, no refund is made:
    the bank may already be taking the money back."""

    __tablename__ = "stripe_disputes"

    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    donation_id: Mapped[int] = mapped_column()
    dispute_id: Mapped[str] = mapped_column(StripeId, unique=True)
    amount_fen: Mapped[int]
    #: Stripe's own status (``needs_response``, ``won``, ``lost``...).
    status: Mapped[str] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.ForeignKeyConstraint(
            ["community_id", "donation_id"], ["donations.community_id", "donations.id"]
        ),
        sa.Index("ix_stripe_disputes_donation", "community_id", "donation_id"),
    )


class StripeEvent(Base):
    """Every verified Stripe event, once: its id is UNIQUE, so a replay or a late
    duplicate finds it and changes nothing.

    Not community-owned, unlike the tables above: an event is stored before
    Jifen knows whom it concerns (the community comes from the object's
    metadata or from the donation it names), and an event that concerns no
    community at all (another system's PaymentIntent on the same Stripe
    account, a dispute on an unknown charge) must be stored all the same, so
    that it too is handled once. ``community_id`` is filled in when the event
    matched. The row is written in the same database transaction as the
    event's effects: if handling fails, both roll back and Stripe's retry
    starts afresh; no lock or half-written row is left to block it. Sharded,
    this small table stays on the coordinator, keyed by the event id.
    """

    __tablename__ = "stripe_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(StripeId, unique=True)
    type: Mapped[str] = mapped_column(sa.String(100))
    #: The id of the event's object (``pi_...``, ``ch_...``, ``dp_...``).
    object_id: Mapped[str | None] = mapped_column(StripeId)
    community_id: Mapped[int | None] = mapped_column(sa.ForeignKey("communities.id"))
    #: What Jifen did with it: ``recorded``, ``ignored``, ``unmatched``...
    outcome: Mapped[str] = mapped_column(sa.String(40))
    #: Stripe's ``created`` for the event.
    created_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.Index("ix_stripe_events_object_id", "object_id"),)


class IncomeSource(enum.StrEnum):
    CHARITY_SALE = "charity_sale"  # 义卖
    CASH_DONATION = "cash_donation"
    GRANT = "grant"
    OTHER = "other"


class IncomeStatus(enum.StrEnum):
    RECORDED = "recorded"
    REVERSED = "reversed"


class IncomeEntry(Base):
    """Money a fund admin records: charity-sale proceeds, cash donations, grants."""

    __tablename__ = "income_entries"

    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    fund: Mapped[Fund] = mapped_column(enum_column_type(Fund, "fund"))
    amount_fen: Mapped[int]
    source: Mapped[IncomeSource] = mapped_column(enum_column_type(IncomeSource, "income_source"))
    #: The receipt, sale or grant letter it comes from, as written on paper.
    reference: Mapped[str] = mapped_column(sa.String(100))
    note: Mapped[str | None] = mapped_column(sa.String(500))
    status: Mapped[IncomeStatus] = mapped_column(enum_column_type(IncomeStatus, "income_status"))
    recorded_by_id: Mapped[int] = mapped_column()
    transaction_id: Mapped[int | None] = mapped_column()
    #: A wrong entry is never edited: a reversal with its reason undoes it.
    reversal_transaction_id: Mapped[int | None] = mapped_column()
    reversal_reason: Mapped[str | None] = mapped_column(sa.String(500))
    reversed_by_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reversed_at: Mapped[datetime | None]

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.ForeignKeyConstraint(
            ["community_id", "recorded_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "reversed_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "transaction_id"],
            ["ledger_transactions.community_id", "ledger_transactions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "reversal_transaction_id"],
            ["ledger_transactions.community_id", "ledger_transactions.id"],
        ),
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.CheckConstraint("reference <> ''", name="reference_not_empty"),
        sa.CheckConstraint(
            "(status = 'reversed') = (reversal_transaction_id IS NOT NULL) "
            "AND (reversal_transaction_id IS NULL) = (reversal_reason IS NULL)",
            name="reversed_with_reason",
        ),
    )
