"""Request bookkeeping: idempotency keys and the append-only audit log."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, community_keyed, utcnow


class StoredResponse:
    """The first response to a value-moving request, replayed for retries.

    Keys are scoped to the caller, as a client can only retry its own requests.
    """

    key: Mapped[str] = mapped_column(sa.String(255))
    #: SHA-256 over method, path and canonical body: same key, other body is a conflict.
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    content_type: Mapped[str | None] = mapped_column(sa.String(100))
    body: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class IdempotencyKey(StoredResponse, Base):
    """A member's idempotency key, kept in the member's community."""

    __tablename__ = "idempotency_keys"

    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    member_id: Mapped[int] = mapped_column()

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "member_id", "key"),
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"], ["members.community_id", "members.id"]
        ),
    )


class AuditEntry(Base):
    """Who did what, when and from where, for every admin write. Never updated or deleted.

    Kept in the community the write was in; its actor is a member of that community
    or a platform admin."""

    __tablename__ = "audit_log"

    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    actor_id: Mapped[int | None] = mapped_column()
    platform_admin_id: Mapped[int | None] = mapped_column(sa.ForeignKey("platform_admins.id"))
    #: The permission exercised, e.g. ``award.create``.
    action: Mapped[str] = mapped_column(sa.String(64))
    method: Mapped[str] = mapped_column(sa.String(8))
    path: Mapped[str] = mapped_column(sa.String(500))
    status_code: Mapped[int] = mapped_column(sa.Integer)
    #: The id of the object created or changed, when the response names one.
    target_id: Mapped[int | None] = mapped_column()
    remote_addr: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.ForeignKeyConstraint(
            ["community_id", "actor_id"], ["members.community_id", "members.id"]
        ),
        sa.CheckConstraint("(actor_id IS NULL) <> (platform_admin_id IS NULL)", name="one_actor"),
    )
