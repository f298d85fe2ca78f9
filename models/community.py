"""Communities, their members and merchants, and API tokens.

A deployment serves many communities. Every community-owned row carries
``community_id`` and a ``UNIQUE (community_id, id)`` key, so children refer to
parents through composite foreign keys and the database itself refuses a row
that points into another community.
"""

import enum
import hashlib
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, community_keyed, enum_column_type, in_community, utcnow
from .ledger import Fund


class Role(enum.StrEnum):
    RESIDENT = "resident"
    ORGANIZER = "organizer"
    MERCHANT_STAFF = "merchant_staff"
    FUND_ADMIN = "fund_admin"
    PLATFORM_ADMIN = "platform_admin"


#: Roles whose holders are residents too and so own a points wallet.
WALLET_ROLES = frozenset({Role.RESIDENT, Role.ORGANIZER, Role.FUND_ADMIN})


class Community(Base):
    __tablename__ = "communities"

    #: This row's id is the ``community_id`` every other table carries.
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: Points worth one yuan; each redemption stores the rate it used.
    points_per_yuan: Mapped[int] = mapped_column(default=50)
    #: Manual awards or deductions above this many points wait for a second fund admin.
    award_approval_threshold: Mapped[int] = mapped_column(default=1000)
    #: Most points one member may earn here in a calendar month (Asia/Shanghai),
    #: manual awards included; attendance awards past it are recorded as capped.
    #: NULL for no cap.
    monthly_earning_cap: Mapped[int | None]
    #: The fund (charity 慈善基金 or community 社区基金) that reimburses merchants.
    reimbursing_fund: Mapped[Fund] = mapped_column(
        enum_column_type(Fund, "fund"), default=Fund.COMMUNITY, server_default=Fund.COMMUNITY.value
    )
    #: Settlement statements above this many fen need a second fund admin to approve.
    statement_approval_threshold_fen: Mapped[int] = mapped_column(
        default=50_000, server_default="50000"
    )
    #: A deactivated community stays in the books; its members can no longer sign in.
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        sa.CheckConstraint("points_per_yuan > 0", name="points_per_yuan_positive"),
        sa.CheckConstraint("award_approval_threshold >= 0", name="threshold_nonnegative"),
        sa.CheckConstraint(
            "monthly_earning_cap IS NULL OR monthly_earning_cap >= 0",
            name="earning_cap_nonnegative",
        ),
        sa.CheckConstraint("slug <> ''", name="slug_not_empty"),
        sa.CheckConstraint(
            "statement_approval_threshold_fen >= 0", name="statement_threshold_nonnegative"
        ),
    )


class Merchant(Base):
    """A partner shop: an organisation with staff members and a points wallet."""

    __tablename__ = "merchants"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    category: Mapped[str] = mapped_column(sa.String(100))
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    #: Free text as the shop states it, e.g. ``每天 8:00–21:00``.
    opening_hours: Mapped[str] = mapped_column(sa.String(200), default="")
    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    #: An inactive merchant stays in the books but accepts no coupons.
    active: Mapped[bool] = mapped_column(default=True)
    #: The merchant's Stripe connected account (``acct_...``) that settlement
    #: payouts are transferred to; only fund admins set it.
    stripe_account_id: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    community: Mapped[Community] = relationship(lazy="joined")

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "name"),
        # A unique index, not a constraint: SQLite adds one without rebuilding the table.
        sa.Index("uq_merchants_stripe_account_id", "stripe_account_id", unique=True),
    )


class SignsIn:
    """What every person who signs in has: a username, a password (its argon2id hash)
    and the Flask-Login protocol, kept here so the models need no Flask import."""

    #: Unique across Jifen (``usernames``): signing in names no community.
    username: Mapped[str] = mapped_column(sa.String(80))
    #: argon2id hash; the password itself is never stored.
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    display_name: Mapped[str] = mapped_column(sa.String(200))
    #: Preferred page language ('zh' or 'en'); NULL follows the browser.
    locale: Mapped[str | None] = mapped_column(sa.String(8))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    #: Marks a page session's id with the table its person is in.
    SESSION_PREFIX = ""

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def is_member(self, community_id: int, member_id: int) -> bool:
        """Whether this is the member ``(community_id, member_id)``: ids alone may be a
        member's and a platform admin's at once, as each table draws its own."""
        return (self.community_id, self.id) == (community_id, member_id)

    def get_id(self) -> str:
        """The id a page session keeps: the person's id and a stamp of their password,
        so a new password (a reset after a lost phone) ends every session made before it."""
        stamp = hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]
        return f"{self.SESSION_PREFIX}{self.id}.{stamp}"


class Member(SignsIn, Base):
    """A person of one community who signs in: a resident, organizer, cashier or fund
    admin. Platform admins, who belong to none, are :class:`PlatformAdmin`."""

    __tablename__ = "members"

    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    role: Mapped[Role] = mapped_column(enum_column_type(Role, "role"))
    #: The shop a ``merchant_staff`` member works for.
    merchant_id: Mapped[int | None] = mapped_column()
    #: Who added this member, when one of the community did: an award's approver may
    #: not be an account its requester made.
    created_by_id: Mapped[int | None] = mapped_column()
    #: The platform admin who added this member (a community's fund admins).
    created_by_platform_admin_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("platform_admins.id")
    )

    community: Mapped[Community] = relationship(lazy="joined")
    merchant: Mapped[Merchant | None] = in_community("Member", "Merchant", "merchant_id")

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.ForeignKeyConstraint(
            ["community_id", "merchant_id"], ["merchants.community_id", "merchants.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "created_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "username"], ["usernames.community_id", "usernames.username"]
        ),
        sa.UniqueConstraint("community_id", "username"),
        sa.CheckConstraint("role <> 'platform_admin'", name="platform_admins_apart"),
        sa.CheckConstraint(
            "(role = 'merchant_staff') = (merchant_id IS NOT NULL)", name="staff_has_merchant"
        ),
        sa.CheckConstraint(
            "created_by_id IS NULL OR created_by_platform_admin_id IS NULL", name="one_maker"
        ),
        sa.CheckConstraint("username <> ''", name="username_not_empty"),
    )

    @property
    def is_active(self) -> bool:
        return self.may_sign_in(self.active, self.community.active)

    @staticmethod
    def may_sign_in(member_active: bool, community_active: bool | None) -> bool:
        """Signs in only while both the member and their community (if any) are active."""
        return member_active and community_active is not False


class PointsRate(Base):
    """A community's points-per-yuan from a day on (Asia/Shanghai).

    The rate in force on a day is the latest row whose ``effective_from`` is
    not after it; before the first row, ``Community.points_per_yuan``. Each
    redemption stores the rate it used, so a new rate never changes the past.
    """

    __tablename__ = "points_rates"

    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    points_per_yuan: Mapped[int]
    effective_from: Mapped[date] = mapped_column(sa.Date)
    #: The fund admin who set it.
    created_by_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "effective_from"),
        sa.ForeignKeyConstraint(
            ["community_id", "created_by_id"], ["members.community_id", "members.id"]
        ),
        sa.CheckConstraint("points_per_yuan > 0", name="points_per_yuan_positive"),
    )


class TokenLife:
    """A revocable bearer token's row: only the SHA-256 digest of its secret is stored."""

    #: hex SHA-256 of the secret part of the token.
    digest: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ApiToken(TokenLife, Base):
    """A member's bearer token. ``token_digests`` says which community holds it."""

    __tablename__ = "api_tokens"

    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    member_id: Mapped[int] = mapped_column()

    member: Mapped[Member] = in_community("ApiToken", "Member", "member_id")

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "digest"], ["token_digests.community_id", "token_digests.digest"]
        ),
        sa.UniqueConstraint("community_id", "digest"),
        sa.Index("ix_api_tokens_community_id_member_id", "community_id", "member_id"),
    )
