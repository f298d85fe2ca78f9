"""Manual awards and deductions by fund admins, with four-eyes approval."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, community_keyed, enum_column_type, utcnow
from .community import Member


class AwardStatus(enum.StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    REJECTED = "rejected"


class Award(Base):
    """A fund admin's manual award (points > 0) or deduction (points < 0)."""

    __tablename__ = "awards"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    member_id: Mapped[int] = mapped_column()
    #: Signed: a deduction is negative.
    points: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[AwardStatus] = mapped_column(enum_column_type(AwardStatus, "award_status"))
    #: The fund admin who asked; like the decider, always of the award's community.
    requested_by_id: Mapped[int] = mapped_column()
    #: The second fund admin who approved or rejected; NULL below the threshold.
    decided_by_id: Mapped[int | None] = mapped_column()
    transaction_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]

    member: Mapped[Member] = relationship(
        foreign_keys=[member_id], primaryjoin="Award.member_id == Member.id", viewonly=True
    )

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "requested_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "decided_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "transaction_id"],
            ["ledger_transactions.community_id", "ledger_transactions.id"],
        ),
        sa.CheckConstraint("points <> 0", name="points_nonzero"),
        sa.CheckConstraint("reason <> ''", name="reason_not_empty"),
        sa.CheckConstraint(
            "decided_by_id IS NULL OR decided_by_id <> requested_by_id", name="four_eyes"
        ),
        sa.CheckConstraint(
            "(status = 'posted') = (transaction_id IS NOT NULL)", name="posted_has_transaction"
        ),
        sa.Index("ix_awards_community_status", "community_id", "status"),
    )
