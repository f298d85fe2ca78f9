"""Coupons (积分券): merchant groups, issuance rules and runs, coupons, pay-codes.

An :class:`IssuanceRule` says who gets a coupon for a period (a month), how many
points it holds, where it may be spent, how long it is valid, how it is funded
and where its remaining points go when it expires. An :class:`IssuanceRun`
applies a rule to one period; the ``UNIQUE (community_id, rule_id, period,
member_id)`` key on :class:`Coupon` makes a second run of the same rule and
period issue nothing, whoever runs it and however often.

A coupon's points sit in the community's single ``coupon_escrow`` account until
they are redeemed, expire or are revoked. Each movement of a coupon's points in
or out of escrow is one :class:`CouponPosting`, written in the same database
transaction as the ledger transaction it belongs to: the ledger says how much
escrow moved, the postings say whose coupon it was. Reconciliation proves that
each coupon's ``points_remaining`` equals its postings, and that the postings of
each ledger transaction equal its escrow entries.

A pay-code (付款码) is derived from a per-member random salt
(:class:`PayCodeSecret`); resetting the salt invalidates every code made from
it. Each code may be used once: :class:`PayCodeUse` holds one row per used
(member, time window), and its unique key refuses a second use.
"""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, community_keyed, enum_column_type, in_community, utcnow
from .community import Member, Merchant


class CouponFunding(enum.StrEnum):
    #: Newly minted from the community's issuance account.
    GRANT = "grant"
    #: Moved out of the resident's own wallet.
    CONVERT = "convert"


class ExpiryTarget(enum.StrEnum):
    #: Remaining points go back to the resident's wallet.
    WALLET = "wallet"
    #: Remaining points go to the community's ``expired`` account.
    EXPIRED = "expired"


class Validity(enum.StrEnum):
    #: Until the end of the calendar month after the one the coupon is issued in.
    END_OF_NEXT_MONTH = "end_of_next_month"
    #: Through the end of the day ``valid_days`` days after the issue day.
    DAYS = "days"


class CouponStatus(enum.StrEnum):
    ISSUED = "issued"
    PARTLY_REDEEMED = "partly_redeemed"
    REDEEMED = "redeemed"
    EXPIRED = "expired"
    REVOKED = "revoked"


#: States a coupon never leaves; its points are all out of escrow.
FINAL_COUPON_STATUSES = frozenset(
    {CouponStatus.REDEEMED, CouponStatus.EXPIRED, CouponStatus.REVOKED}
)

#: ``YYYY-MM``, checked by the database as well as by the API.
PERIOD_CHECK = "period LIKE '____-__'"


def _in(values) -> str:
    return ", ".join(f"'{v.value}'" for v in sorted(values))


class MerchantGroup(Base):
    """A named set of partner merchants, such as the 微街长 shops, that a rule can name."""

    __tablename__ = "merchant_groups"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    merchants: Mapped[list[Merchant]] = relationship(
        secondary="merchant_group_members",
        primaryjoin="MerchantGroup.id == MerchantGroupMember.group_id",
        secondaryjoin="MerchantGroupMember.merchant_id == Merchant.id",
        order_by="Merchant.id",
        viewonly=True,
    )

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "name"),
        sa.CheckConstraint("name <> ''", name="name_not_empty"),
    )


class MerchantGroupMember(Base):
    __tablename__ = "merchant_group_members"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    group_id: Mapped[int] = mapped_column()
    merchant_id: Mapped[int] = mapped_column(index=True)

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "group_id", "merchant_id"),
        sa.ForeignKeyConstraint(
            ["community_id", "group_id"], ["merchant_groups.community_id", "merchant_groups.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "merchant_id"], ["merchants.community_id", "merchants.id"]
        ),
    )


class IssuanceRule(Base):
    """Who gets a coupon each period, worth what, valid where and how long, funded how.

    Rules are not edited once made: coupons and runs refer to them, and a
    changed rule would misstate what was issued. Make a new rule instead.
    """

    __tablename__ = "issuance_rules"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    #: Eligible with at least this many points earned in the period (awards and
    #: attendance awards credited to the wallet)...
    min_points_earned: Mapped[int | None] = mapped_column()
    #: ...or with at least this many attendance awards in the period.
    min_attendances: Mapped[int | None] = mapped_column()
    #: A fixed coupon value; NULL when the rule has tiers by points earned.
    points: Mapped[int | None] = mapped_column()
    #: NULL: valid at every partner merchant of the community.
    merchant_group_id: Mapped[int | None] = mapped_column()
    validity: Mapped[Validity] = mapped_column(enum_column_type(Validity, "coupon_validity"))
    valid_days: Mapped[int | None] = mapped_column()
    funding: Mapped[CouponFunding] = mapped_column(
        enum_column_type(CouponFunding, "coupon_funding")
    )
    on_expiry: Mapped[ExpiryTarget] = mapped_column(
        enum_column_type(ExpiryTarget, "coupon_expiry_target")
    )
    created_by_id: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    tiers: Mapped[list["IssuanceTier"]] = relationship(
        primaryjoin="and_(IssuanceTier.rule_id == IssuanceRule.id, "
        "IssuanceTier.community_id == IssuanceRule.community_id)",
        foreign_keys="[IssuanceTier.community_id, IssuanceTier.rule_id]",
        order_by="IssuanceTier.min_points_earned",
        cascade="all, delete-orphan",
    )
    merchant_group: Mapped[MerchantGroup | None] = in_community(
        "IssuanceRule", "MerchantGroup", "merchant_group_id"
    )

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "name"),
        sa.ForeignKeyConstraint(
            ["community_id", "created_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "merchant_group_id"],
            ["merchant_groups.community_id", "merchant_groups.id"],
        ),
        sa.CheckConstraint("name <> ''", name="name_not_empty"),
        sa.CheckConstraint(
            "min_points_earned IS NOT NULL OR min_attendances IS NOT NULL",
            name="eligibility_given",
        ),
        sa.CheckConstraint(
            "min_points_earned IS NULL OR min_points_earned > 0", name="min_points_positive"
        ),
        sa.CheckConstraint(
            "min_attendances IS NULL OR min_attendances > 0", name="min_attendances_positive"
        ),
        sa.CheckConstraint("points IS NULL OR points > 0", name="points_positive"),
        sa.CheckConstraint(
            f"(validity = '{Validity.DAYS.value}') = (valid_days IS NOT NULL)",
            name="valid_days_with_days",
        ),
        sa.CheckConstraint(
            "valid_days IS NULL OR (valid_days >= 1 AND valid_days <= 366)",
            name="valid_days_range",
        ),
    )


class IssuanceTier(Base):
    """One step of a tiered rule: at least ``min_points_earned`` earned gives ``points``."""

    __tablename__ = "issuance_tiers"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    rule_id: Mapped[int] = mapped_column()
    min_points_earned: Mapped[int]
    points: Mapped[int]

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "rule_id", "min_points_earned"),
        sa.ForeignKeyConstraint(
            ["community_id", "rule_id"], ["issuance_rules.community_id", "issuance_rules.id"]
        ),
        sa.CheckConstraint("min_points_earned > 0", name="min_points_positive"),
        sa.CheckConstraint("points > 0", name="points_positive"),
    )


class IssuanceRun(Base):
    """One application of a rule to a period, with what it issued (0 when run again)."""

    __tablename__ = "issuance_runs"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    rule_id: Mapped[int] = mapped_column()
    #: ``YYYY-MM``: the month (Asia/Shanghai) whose earnings decide eligibility.
    period: Mapped[str] = mapped_column(sa.String(7))
    #: NULL when started from the command line.
    actor_id: Mapped[int | None] = mapped_column()
    issued: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(default=0)
    #: Eligible residents left out because their wallet did not hold a
    #: ``convert`` coupon's points.
    skipped: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    rule: Mapped[IssuanceRule] = in_community("IssuanceRun", "IssuanceRule", "rule_id")

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.ForeignKeyConstraint(
            ["community_id", "actor_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "rule_id"], ["issuance_rules.community_id", "issuance_rules.id"]
        ),
        sa.CheckConstraint(PERIOD_CHECK, name="period_format"),
        sa.CheckConstraint(
            "issued >= 0 AND points >= 0 AND skipped >= 0", name="counts_nonnegative"
        ),
    )


class Coupon(Base):
    """A resident's points coupon: spendable in parts until used up, expired or revoked."""

    __tablename__ = "coupons"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    rule_id: Mapped[int] = mapped_column()
    run_id: Mapped[int] = mapped_column()
    member_id: Mapped[int] = mapped_column()
    period: Mapped[str] = mapped_column(sa.String(7))
    #: The short code people type (no look-alike letters); unique in the community.
    code: Mapped[str] = mapped_column(sa.String(10))
    #: Points issued.
    points: Mapped[int]
    #: Points still in escrow for this coupon; equals the sum of its postings.
    points_remaining: Mapped[int]
    status: Mapped[CouponStatus] = mapped_column(enum_column_type(CouponStatus, "coupon_status"))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The first moment the coupon is no longer valid.
    expires_at: Mapped[datetime]
    #: When it became redeemed, expired or revoked.
    closed_at: Mapped[datetime | None]

    rule: Mapped[IssuanceRule] = in_community(
        "Coupon", "IssuanceRule", "rule_id", lazy="joined", innerjoin=True
    )
    member: Mapped[Member] = in_community("Coupon", "Member", "member_id")

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "code"),
        #: At most one coupon per resident per rule and period.
        sa.UniqueConstraint("community_id", "rule_id", "period", "member_id"),
        sa.ForeignKeyConstraint(
            ["community_id", "rule_id"], ["issuance_rules.community_id", "issuance_rules.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "run_id"], ["issuance_runs.community_id", "issuance_runs.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"], ["members.community_id", "members.id"]
        ),
        sa.CheckConstraint(PERIOD_CHECK, name="period_format"),
        sa.CheckConstraint("length(code) >= 8 AND length(code) <= 10", name="code_length"),
        sa.CheckConstraint("points > 0", name="points_positive"),
        sa.CheckConstraint(
            "points_remaining >= 0 AND points_remaining <= points", name="remaining_within_points"
        ),
        sa.CheckConstraint(
            f"(status = '{CouponStatus.ISSUED.value}' AND points_remaining = points)"
            f" OR (status = '{CouponStatus.PARTLY_REDEEMED.value}'"
            " AND points_remaining > 0 AND points_remaining < points)"
            f" OR (status IN ({_in(FINAL_COUPON_STATUSES)}) AND points_remaining = 0)",
            name="remaining_matches_status",
        ),
        sa.CheckConstraint(
            f"(status IN ({_in(FINAL_COUPON_STATUSES)})) = (closed_at IS NOT NULL)",
            name="closed_when_final",
        ),
        sa.CheckConstraint("expires_at > issued_at", name="expires_after_issue"),
        sa.Index("ix_coupons_member_id_id", "member_id", "id"),
        sa.Index("ix_coupons_status_expires_at", "status", "expires_at"),
        sa.Index("ix_coupons_run_id", "run_id"),
        #: A community's coupons by status, counted by the report (migration 0017).
        sa.Index("ix_coupons_community_id_status", "community_id", "status"),
    )


class CouponPosting(Base):
    """The part of one ledger transaction's escrow entries that belongs to one coupon.

    Positive when points enter escrow for the coupon (issue), negative when they
    leave it (redemption, expiry, revocation). Never updated or deleted.
    """

    __tablename__ = "coupon_postings"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    coupon_id: Mapped[int] = mapped_column()
    transaction_id: Mapped[int] = mapped_column()
    #: Signed points, as the escrow entry it accounts for.
    amount: Mapped[int]

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "coupon_id", "transaction_id"),
        sa.ForeignKeyConstraint(
            ["community_id", "coupon_id"], ["coupons.community_id", "coupons.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "transaction_id"],
            ["ledger_transactions.community_id", "ledger_transactions.id"],
        ),
        sa.CheckConstraint("amount <> 0", name="amount_nonzero"),
        sa.Index("ix_coupon_postings_transaction_id", "transaction_id"),
    )


class PayCodeSecret(Base):
    """A member's pay-code salt; the secret itself is derived from it and the app's key."""

    __tablename__ = "pay_code_secrets"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    member_id: Mapped[int] = mapped_column()
    #: Random, hex; replaced on reset, which invalidates every code made from the old one.
    salt: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "member_id"),
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"], ["members.community_id", "members.id"]
        ),
        sa.CheckConstraint("length(salt) = 64", name="salt_length"),
    )


class PayCodeUse(Base):
    """A pay-code that was used: one row per member and time window, so each code works once."""

    __tablename__ = "pay_code_uses"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    member_id: Mapped[int] = mapped_column()
    #: The code's time window: seconds since the epoch divided by the window length.
    window_index: Mapped[int]
    used_at: Mapped[datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "member_id", "window_index"),
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"], ["members.community_id", "members.id"]
        ),
        sa.CheckConstraint("window_index > 0", name="window_positive"),
    )
