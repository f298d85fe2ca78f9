"""What a partner merchant gives residents: 公益 + 低偿 + 折扣 (design.md §6)."""

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, community_keyed, enum_column_type, in_community, utcnow
from .community import Merchant


class OfferKind(enum.StrEnum):
    #: 公益: free for the resident; the merchant bears the whole bill.
    WELFARE = "welfare"
    #: 低偿: a fixed low price instead of the normal one; the merchant bears the difference.
    LOW_COST = "low_cost"
    #: 折扣: a percentage off the bill, borne by the merchant.
    DISCOUNT = "discount"


class Offer(Base):
    __tablename__ = "offers"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    merchant_id: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.String(1000), default="")
    kind: Mapped[OfferKind] = mapped_column(enum_column_type(OfferKind, "offer_kind"))
    #: For ``discount``: percent off the bill, 1–100.
    discount_percent: Mapped[int | None] = mapped_column(sa.Integer)
    #: For ``low_cost``: what the resident's bill becomes, in fen.
    price_fen: Mapped[int | None] = mapped_column()
    #: At most this many points on one bill; NULL for no cap.
    max_points_per_bill: Mapped[int | None] = mapped_column()
    #: First and last day (Asia/Shanghai) the offer applies; NULL for open-ended.
    active_from: Mapped[date | None] = mapped_column(sa.Date)
    active_until: Mapped[date | None] = mapped_column(sa.Date)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    merchant: Mapped[Merchant] = in_community("Offer", "Merchant", "merchant_id")

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.ForeignKeyConstraint(
            ["community_id", "merchant_id"], ["merchants.community_id", "merchants.id"]
        ),
        sa.CheckConstraint(
            "(kind = 'discount') = (discount_percent IS NOT NULL)", name="discount_has_percent"
        ),
        sa.CheckConstraint(
            "discount_percent IS NULL OR discount_percent BETWEEN 1 AND 100",
            name="discount_percent_range",
        ),
        sa.CheckConstraint(
            "(kind = 'low_cost') = (price_fen IS NOT NULL)", name="low_cost_has_price"
        ),
        sa.CheckConstraint("price_fen IS NULL OR price_fen >= 0", name="price_nonnegative"),
        sa.CheckConstraint(
            "max_points_per_bill IS NULL OR max_points_per_bill > 0", name="points_cap_positive"
        ),
        sa.CheckConstraint(
            "active_from IS NULL OR active_until IS NULL OR active_from <= active_until",
            name="active_dates_ordered",
        ),
        sa.CheckConstraint("title <> ''", name="title_not_empty"),
        sa.Index("ix_offers_merchant", "community_id", "merchant_id"),
    )
