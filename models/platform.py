"""What belongs to no community: platform admins with their tokens and form keys, and
the directory that says which community a username or a bearer token belongs to.

A platform admin (a district's operator) works across communities, so none of
this is keyed by community; distributed by community (docs/scaling.md), these are
the coordinator's tables, and the directory a reference table that routes a
sign-in or a token to its community's worker.
"""

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base
from .community import Role, SignsIn, TokenLife
from .operations import StoredResponse


class Username(Base):
    """A username, unique across Jifen, and the community of the member who has it
    (NULL: a platform admin's). A member's row refers to its own."""

    __tablename__ = "usernames"

    username: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    community_id: Mapped[int | None] = mapped_column(sa.ForeignKey("communities.id"))

    __table_args__ = (sa.UniqueConstraint("community_id", "username"),)


class TokenDigest(Base):
    """A bearer token's digest and the community that holds the token (NULL: a
    platform admin's): a token names no community, its digest finds one."""

    __tablename__ = "token_digests"

    digest: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    community_id: Mapped[int | None] = mapped_column(sa.ForeignKey("communities.id"))

    __table_args__ = (sa.UniqueConstraint("community_id", "digest"),)


class PlatformAdmin(SignsIn, Base):
    """A district's operator: creates communities and their first fund admins, and
    reads every community's data. Answers as a member of no community does."""

    __tablename__ = "platform_admins"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The platform admin who added this one (NULL for the first, made from the
    #: command line).
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("platform_admins.id"))

    __table_args__ = (
        sa.ForeignKeyConstraint(["username"], ["usernames.username"]),
        sa.UniqueConstraint("username"),
        sa.CheckConstraint("username <> ''", name="username_not_empty"),
    )

    SESSION_PREFIX = "p"
    role = Role.PLATFORM_ADMIN
    community_id = None
    community = None
    merchant_id = None
    merchant = None

    @property
    def is_active(self) -> bool:
        return self.active


class PlatformAdminToken(TokenLife, Base):
    """A platform admin's bearer token."""

    __tablename__ = "platform_admin_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_admin_id: Mapped[int] = mapped_column(sa.ForeignKey("platform_admins.id"), index=True)

    __table_args__ = (
        sa.ForeignKeyConstraint(["digest"], ["token_digests.digest"]),
        sa.UniqueConstraint("digest"),
    )


class PlatformIdempotencyKey(StoredResponse, Base):
    """A platform admin's idempotency key (their page forms, each sent once)."""

    __tablename__ = "platform_idempotency_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_admin_id: Mapped[int] = mapped_column(sa.ForeignKey("platform_admins.id"))

    __table_args__ = (sa.UniqueConstraint("platform_admin_id", "key"),)
