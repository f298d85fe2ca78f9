"""Redemptions at a partner merchant's till: 公益 + 低偿 + 折扣 (design.md §6).

A :class:`Redemption` records one bill paid partly with points: the bill
``B``, the merchant's discount ``D`` under the offer, the points ``P`` spent
from a coupon or (through a pay-code) a wallet, their value ``V`` in fen at the
stored rate, and the cash ``C`` collected at the till. ``D + V + C = B`` is a
CHECK constraint; the points move in one ledger transaction (coupon escrow or
the wallet -> the merchant's receivable) whose reference is
``redemption:{id}``. A void posts the reversing transaction and marks the row
``voided``; settlement sets ``statement_id`` (``models.settlement``), after
which the redemption can no longer be voided.
"""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, community_keyed, enum_column_type, in_community, utcnow
from .community import Member, Merchant
from .coupon import Coupon
from .offer import Offer


class RedemptionStatus(enum.StrEnum):
    ACTIVE = "active"
    VOIDED = "voided"


class Redemption(Base):
    __tablename__ = "redemptions"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    merchant_id: Mapped[int] = mapped_column()
    #: The merchant staff member who confirmed it at the till.
    cashier_id: Mapped[int] = mapped_column()
    offer_id: Mapped[int | None] = mapped_column()
    #: What was spent: a coupon, or (pay-code) the wallet of ``member_id``; exactly one.
    coupon_id: Mapped[int | None] = mapped_column()
    member_id: Mapped[int | None] = mapped_column()
    #: ``B``: the bill before anything, in fen.
    bill_fen: Mapped[int]
    #: ``D``: what the merchant bears under the offer.
    discount_fen: Mapped[int]
    #: ``P``: points spent.
    points: Mapped[int]
    #: ``V = floor(P * 100 / rate)``: fen the fund owes the merchant, via settlement.
    points_value_fen: Mapped[int]
    #: ``C = B - D - V``: fen the resident paid at the till.
    cash_fen: Mapped[int]
    #: The community's rate when redeemed; settlement converts at this rate.
    points_per_yuan: Mapped[int]
    status: Mapped[RedemptionStatus] = mapped_column(
        enum_column_type(RedemptionStatus, "redemption_status")
    )
    #: The ledger transaction that moved the points. Set in the same database
    #: transaction as the row, just after it: its reference names the row's id.
    transaction_id: Mapped[int | None] = mapped_column()
    #: The reversing transaction of a void.
    void_transaction_id: Mapped[int | None] = mapped_column()
    voided_at: Mapped[datetime | None]
    voided_by_id: Mapped[int | None] = mapped_column()
    #: The settlement statement that paid it; NULL until settled. A settled
    #: redemption cannot be voided. Checked by triggers, not a foreign key
    #: (migration 0011): the statement must exist and be of the redemption's
    #: merchant. A foreign key checks each row on its own, a million checks for
    #: a city's month; the trigger checks a settlement's rows in one join. Not
    #: indexed, so that settling, on PostgreSQL, updates the row in place (HOT).
    statement_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    merchant: Mapped[Merchant] = in_community("Redemption", "Merchant", "merchant_id")
    offer: Mapped[Offer | None] = in_community("Redemption", "Offer", "offer_id")
    coupon: Mapped[Coupon | None] = in_community("Redemption", "Coupon", "coupon_id")
    member: Mapped[Member | None] = in_community("Redemption", "Member", "member_id")

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.ForeignKeyConstraint(
            ["community_id", "merchant_id"], ["merchants.community_id", "merchants.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "cashier_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(["community_id", "offer_id"], ["offers.community_id", "offers.id"]),
        sa.ForeignKeyConstraint(
            ["community_id", "coupon_id"], ["coupons.community_id", "coupons.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "voided_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "transaction_id"],
            ["ledger_transactions.community_id", "ledger_transactions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "void_transaction_id"],
            ["ledger_transactions.community_id", "ledger_transactions.id"],
        ),
        sa.CheckConstraint("bill_fen > 0", name="bill_positive"),
        sa.CheckConstraint(
            "discount_fen >= 0 AND discount_fen <= bill_fen", name="discount_within_bill"
        ),
        sa.CheckConstraint("points > 0", name="points_positive"),
        sa.CheckConstraint("points_value_fen >= 0", name="value_nonnegative"),
        sa.CheckConstraint("cash_fen >= 0", name="cash_nonnegative"),
        sa.CheckConstraint(
            "discount_fen + points_value_fen + cash_fen = bill_fen", name="split_adds_up"
        ),
        sa.CheckConstraint("points_per_yuan > 0", name="rate_positive"),
        sa.CheckConstraint("(coupon_id IS NULL) <> (member_id IS NULL)", name="one_source"),
        sa.CheckConstraint(
            f"(status = '{RedemptionStatus.VOIDED.value}') = (void_transaction_id IS NOT NULL)"
            " AND (void_transaction_id IS NULL) = (voided_at IS NULL)",
            name="voided_with_reversal",
        ),
        # A merchant's history pages by id, and its totals sum what the index carries
        # (migration 0018): a merchant's rows lie scattered over a city's table.
        sa.Index(
            "ix_redemptions_merchant",
            "community_id",
            "merchant_id",
            "id",
            postgresql_include=[
                "status",
                "points",
                "points_value_fen",
                "discount_fen",
                "cash_fen",
                "bill_fen",
            ],
        ),
        sa.Index("ix_redemptions_coupon_id", "coupon_id"),
    )
