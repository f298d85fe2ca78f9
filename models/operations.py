"""Request bookkeeping: idempotency keys and the append-only audit log."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class IdempotencyKey(Base):
    """The first response to a value-moving request, replayed for retries.

    Keys are scoped to the caller, as a client can only retry its own requests.
    """

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The caller's community (NULL for a platform admin).
    community_id: Mapped[int | None] = mapped_column(sa.ForeignKey("communities.id"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"))
    key: Mapped[str] = mapped_column(sa.String(255))
    #: SHA-256 over method, path and canonical body: same key, other body is a conflict.
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    content_type: Mapped[str | None] = mapped_column(sa.String(100))
    body: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (sa.UniqueConstraint("member_id", "key"),)


class AuditEntry(Base):
    """Who did what, when and from where, for every admin write. Never updated or deleted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int | None] = mapped_column(sa.ForeignKey("communities.id"))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"))
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

    __table_args__ = (sa.Index("ix_audit_log_community_id_id", "community_id", "id"),)
