"""Month close: a community's books for one month, closed for good.

A fund admin asks for a month to be closed; a second, different fund admin
confirms. Confirming stores the month's reconciliation report as canonical
JSON with its SHA-256 and marks the row ``closed``. From then on the database
refuses every ledger transaction dated in the month (``starts_at`` to
``ends_at``, Asia/Shanghai's midnights in UTC) and every entry added to one
of its transactions: triggers on ``ledger_transactions`` and
``ledger_entries`` (migration 0013), on PostgreSQL and SQLite alike. A closed
row can no longer be changed or deleted, so the stored report is what it was
at the close; anyone can hash it again and compare.
"""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, community_keyed, enum_column_type, utcnow


class MonthCloseStatus(enum.StrEnum):
    #: A fund admin asked for the close; a second one must confirm it.
    REQUESTED = "requested"
    #: Confirmed: the month takes no more postings, its report is stored.
    CLOSED = "closed"
    #: The request was withdrawn (by either admin); it may be asked for again.
    WITHDRAWN = "withdrawn"


class MonthClose(Base):
    __tablename__ = "month_closes"

    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    __mapper_args__ = {"primary_key": ["id"]}

    #: ``YYYY-MM``, a calendar month in Asia/Shanghai.
    period: Mapped[str] = mapped_column(sa.String(7))
    #: The month's first moment and the first moment after it, in UTC: what the
    #: triggers compare a ledger transaction's ``created_at`` with.
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[MonthCloseStatus] = mapped_column(
        enum_column_type(MonthCloseStatus, "month_close_status")
    )
    requested_by_id: Mapped[int] = mapped_column()
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_by_id: Mapped[int | None] = mapped_column()
    closed_at: Mapped[datetime | None]
    withdrawn_by_id: Mapped[int | None] = mapped_column()
    withdrawn_at: Mapped[datetime | None]
    #: The community's highest ledger transaction id when the month closed. Every
    #: transaction dated in the month has an id at or below it, so the entries
    #: trigger looks a new entry's transaction up only below this mark.
    last_transaction_id: Mapped[int | None] = mapped_column()
    #: The month's reconciliation report, canonical JSON (sorted keys, no spaces,
    #: UTF-8), exactly as hashed.
    report: Mapped[str | None] = mapped_column(sa.Text)
    #: Hex SHA-256 of ``report``'s UTF-8 bytes.
    report_sha256: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "period"),
        sa.ForeignKeyConstraint(
            ["community_id", "requested_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "confirmed_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "withdrawn_by_id"], ["members.community_id", "members.id"]
        ),
        sa.CheckConstraint("length(period) = 7", name="period_is_month"),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint(
            "confirmed_by_id IS NULL OR confirmed_by_id <> requested_by_id", name="four_eyes"
        ),
        sa.CheckConstraint(
            "(status = 'closed') = (confirmed_by_id IS NOT NULL AND closed_at IS NOT NULL"
            " AND last_transaction_id IS NOT NULL AND report IS NOT NULL"
            " AND report_sha256 IS NOT NULL)",
            name="closed_with_report",
        ),
        sa.CheckConstraint(
            "(status = 'withdrawn') = (withdrawn_at IS NOT NULL)", name="withdrawn_with_time"
        ),
        sa.Index("ix_month_closes_community_status", "community_id", "status", "starts_at"),
    )
