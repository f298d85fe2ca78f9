"""Settlement: the fund pays merchants back for the points redeemed at their tills.

A :class:`SettlementStatement` gathers one merchant's active, unsettled
redemptions of one month (Asia/Shanghai) — each redemption names its statement
through ``Redemption.statement_id`` — with their totals: points, fen (the sum
of each redemption's stored ``points_value_fen``) and the rounding remainder
the floors dropped. Approval moves the points receivable -> retired and the
fen from the reimbursing fund's cash -> the merchant's payable, in one ledger
transaction. Paying moves payable -> paid out.

Each payment is a :class:`PayoutAttempt`: a Stripe Connect transfer, whose
Stripe idempotency key is derived from the statement and the attempt's number,
or a recorded bank transfer. A payout that comes back (the transfer reversed,
the bank transfer returned) puts the money back as payable, and the next
attempt, with the next number and so a new Stripe key, pays again without a new
approval. Partial unique indexes let at most one attempt per statement be
pending and at most one have succeeded, whatever the code does.
"""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, community_keyed, enum_column_type, in_community, utcnow
from .community import Merchant


class StatementStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    #: A Stripe transfer is being made, or was interrupted: paying again finishes it.
    PAYING = "paying"
    PAID = "paid"
    #: Paid, then the payout came back; the money is payable again.
    RETURNED = "returned"
    REJECTED = "rejected"


#: Statuses in which the statement's approval transaction has been posted.
APPROVED_STATUSES = frozenset(
    {
        StatementStatus.APPROVED,
        StatementStatus.PAYING,
        StatementStatus.PAID,
        StatementStatus.RETURNED,
    }
)


class PayoutMethod(enum.StrEnum):
    STRIPE = "stripe"
    BANK = "bank"


class PayoutStatus(enum.StrEnum):
    #: Recorded before the Stripe transfer is asked for; its outcome is not known yet.
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    #: Stripe refused it: nothing was paid.
    FAILED = "failed"
    #: Paid, then reversed by Stripe or returned by the bank.
    RETURNED = "returned"


def _in(values) -> str:
    return ", ".join(f"'{v.value}'" for v in sorted(values))


class SettlementStatement(Base):
    __tablename__ = "settlement_statements"

    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    __mapper_args__ = {"primary_key": ["id"]}

    merchant_id: Mapped[int] = mapped_column()
    #: The month settled, ``YYYY-MM`` in Asia/Shanghai.
    period: Mapped[str] = mapped_column(sa.String(7))
    status: Mapped[StatementStatus] = mapped_column(
        enum_column_type(StatementStatus, "statement_status")
    )
    #: How many redemptions (lines) the statement settles.
    redemptions: Mapped[int]
    #: Sum of the lines' points.
    points: Mapped[int]
    #: Sum of the lines' stored ``points_value_fen``: what the fund pays.
    amount_fen: Mapped[int]
    #: Sum over the lines of what each floor dropped, in hundredths of a point
    #: (``app.money.points_value``'s remainder): shown, never silently lost.
    rounding_remainder: Mapped[int]
    #: Above the community's threshold when made: a fund admin other than its
    #: creator must approve it.
    needs_second_approver: Mapped[bool]
    #: NULL when made by the command line.
    created_by_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column()
    approved_at: Mapped[datetime | None]
    #: receivable -> retired (points) and fund cash -> payable (fen), one transaction.
    approval_transaction_id: Mapped[int | None] = mapped_column()
    rejected_by_id: Mapped[int | None] = mapped_column()
    rejected_at: Mapped[datetime | None]
    reject_reason: Mapped[str | None] = mapped_column(sa.String(500))
    paid_at: Mapped[datetime | None]

    merchant: Mapped[Merchant] = in_community("SettlementStatement", "Merchant", "merchant_id")

    __table_args__ = community_keyed(
        sa.ForeignKeyConstraint(
            ["community_id", "merchant_id"], ["merchants.community_id", "merchants.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "created_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "approved_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "rejected_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "approval_transaction_id"],
            ["ledger_transactions.community_id", "ledger_transactions.id"],
        ),
        sa.CheckConstraint("redemptions > 0", name="has_redemptions"),
        sa.CheckConstraint("points > 0", name="points_positive"),
        sa.CheckConstraint("amount_fen >= 0", name="amount_nonnegative"),
        sa.CheckConstraint("rounding_remainder >= 0", name="remainder_nonnegative"),
        sa.CheckConstraint("length(period) = 7", name="period_is_month"),
        sa.CheckConstraint(
            "NOT needs_second_approver OR approved_by_id IS NULL OR created_by_id IS NULL"
            " OR approved_by_id <> created_by_id",
            name="four_eyes",
        ),
        sa.CheckConstraint(
            f"(status IN ({_in(APPROVED_STATUSES)})) = (approval_transaction_id IS NOT NULL)"
            " AND (approval_transaction_id IS NULL) = (approved_at IS NULL)",
            name="approved_with_transaction",
        ),
        sa.CheckConstraint(
            f"(status = '{StatementStatus.REJECTED.value}') = (rejected_at IS NOT NULL)",
            name="rejected_with_time",
        ),
        sa.CheckConstraint(
            f"(status = '{StatementStatus.PAID.value}') = (paid_at IS NOT NULL)",
            name="paid_with_time",
        ),
        # One statement per merchant and month, rejected ones aside: a rejected
        # statement gives its redemptions back, and settling again makes a new one.
        sa.Index(
            "uq_settlement_statements_merchant_period",
            "community_id",
            "merchant_id",
            "period",
            unique=True,
            postgresql_where=sa.text("status <> 'rejected'"),
            sqlite_where=sa.text("status <> 'rejected'"),
        ),
        sa.Index("ix_settlement_statements_period", "community_id", "period", "status"),
        sa.Index("ix_settlement_statements_merchant", "community_id", "merchant_id", "id"),
    )


class PayoutAttempt(Base):
    """One try at paying a statement: a Stripe transfer or a bank transfer."""

    __tablename__ = "payout_attempts"

    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    __mapper_args__ = {"primary_key": ["id"]}

    statement_id: Mapped[int] = mapped_column()
    #: 1 for the first attempt at paying the statement, then 2, 3...
    number: Mapped[int]
    method: Mapped[PayoutMethod] = mapped_column(enum_column_type(PayoutMethod, "payout_method"))
    status: Mapped[PayoutStatus] = mapped_column(enum_column_type(PayoutStatus, "payout_status"))
    amount_fen: Mapped[int]
    #: The merchant's Stripe connected account paid (Stripe only).
    destination: Mapped[str | None] = mapped_column(sa.String(255))
    #: Sent with the transfer: the same attempt always asks with the same key,
    #: so Stripe makes its transfer at most once however often it is asked.
    stripe_idempotency_key: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    #: Stripe's Transfer id (``tr_...``), once known.
    stripe_transfer_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    #: The bank transfer's reference, as the fund admin recorded it.
    bank_reference: Mapped[str | None] = mapped_column(sa.String(200))
    #: Why Stripe refused (failed attempts).
    error: Mapped[str | None] = mapped_column(sa.String(500))
    #: payable -> paid out.
    transaction_id: Mapped[int | None] = mapped_column()
    created_by_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    #: Why the payout came back: the bank's reason, or Stripe's reversal.
    return_reason: Mapped[str | None] = mapped_column(sa.String(500))
    returned_at: Mapped[datetime | None]
    #: NULL when Stripe reported it.
    returned_by_id: Mapped[int | None] = mapped_column()
    #: paid out -> payable: the reversal of ``transaction_id``.
    return_transaction_id: Mapped[int | None] = mapped_column()

    __table_args__ = community_keyed(
        sa.ForeignKeyConstraint(
            ["community_id", "statement_id"],
            ["settlement_statements.community_id", "settlement_statements.id"],
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "created_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "returned_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "transaction_id"],
            ["ledger_transactions.community_id", "ledger_transactions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "return_transaction_id"],
            ["ledger_transactions.community_id", "ledger_transactions.id"],
        ),
        sa.UniqueConstraint("community_id", "statement_id", "number"),
        sa.UniqueConstraint("community_id", "bank_reference"),
        sa.CheckConstraint("number > 0", name="number_positive"),
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.CheckConstraint(
            "(method = 'stripe') = (stripe_idempotency_key IS NOT NULL)"
            " AND (method = 'stripe') = (destination IS NOT NULL)"
            " AND (method = 'bank') = (bank_reference IS NOT NULL)"
            " AND (method = 'stripe' OR stripe_transfer_id IS NULL)",
            name="method_fields",
        ),
        sa.CheckConstraint(
            "(status IN ('succeeded', 'returned')) = (transaction_id IS NOT NULL)"
            " AND (transaction_id IS NULL) = (completed_at IS NULL)"
            " AND (method = 'bank' OR status NOT IN ('succeeded', 'returned')"
            " OR stripe_transfer_id IS NOT NULL)",
            name="paid_with_transaction",
        ),
        sa.CheckConstraint("(status = 'failed') = (error IS NOT NULL)", name="failed_with_error"),
        sa.CheckConstraint(
            "(status = 'returned') = (return_transaction_id IS NOT NULL)"
            " AND (return_transaction_id IS NULL) = (return_reason IS NULL)"
            " AND (return_reason IS NULL) = (returned_at IS NULL)",
            name="returned_with_reversal",
        ),
        # At most one attempt of a statement in flight, and at most one that paid.
        sa.Index(
            "uq_payout_attempts_pending",
            "community_id",
            "statement_id",
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        ),
        sa.Index(
            "uq_payout_attempts_succeeded",
            "community_id",
            "statement_id",
            unique=True,
            postgresql_where=sa.text("status = 'succeeded'"),
            sqlite_where=sa.text("status = 'succeeded'"),
        ),
    )
