"""Volunteer activities, sign-ups and attendances: how residents earn points.

An organizer creates an :class:`Activity` (a draft), publishes it, runs
check-in and finalizes it. Residents sign up (:class:`ActivitySignup`) and
check in and out; each check-in is one :class:`Attendance`, unique per
activity and member, so a repeated check-in is never a second attendance.
Finalizing awards every confirmed attendance once, from issuance into the
member's wallet, as a ledger transaction referenced ``attendance:{id}``.
"""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, community_keyed, enum_column_type, in_community, utcnow
from .community import Member


class ActivityCategory(enum.StrEnum):
    ENVIRONMENT = "environment"  # 环境卫生整治
    GREENING = "greening"  # 绿化美化
    MEDIATION = "mediation"  # 矛盾化解
    ELDER_CARE = "elder_care"  # 关爱老人
    SAFETY_PATROL = "safety_patrol"  # 安全巡逻
    CULTURE = "culture"  # 文化活动
    OTHER = "other"


class PointsRule(enum.StrEnum):
    #: ``points`` for each attendance.
    FIXED = "fixed"
    #: ``points`` per hour attended, at most ``max_points`` for one attendance.
    PER_HOUR = "per_hour"


class ActivityStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    #: Check-in has ended; the organizer reviews attendances before finalizing.
    CLOSED = "closed"
    CANCELLED = "cancelled"
    FINALIZED = "finalized"


class AttendanceStatus(enum.StrEnum):
    CHECKED_IN = "checked_in"
    CHECKED_OUT = "checked_out"
    #: Left out of the award by the organizer, with a reason.
    EXCLUDED = "excluded"
    #: Confirmed at finalization; its points are recorded (possibly capped).
    AWARDED = "awarded"


class CheckInMethod(enum.StrEnum):
    #: The resident scanned the activity QR or typed its short code.
    CODE = "code"
    #: The organizer scanned the resident's member QR.
    MEMBER_CODE = "member_code"
    #: The organizer checked the member in by hand.
    ORGANIZER = "organizer"


class Activity(Base):
    __tablename__ = "activities"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.String(2000), default="")
    category: Mapped[ActivityCategory] = mapped_column(
        enum_column_type(ActivityCategory, "activity_category")
    )
    place: Mapped[str] = mapped_column(sa.String(200), default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    #: Most participants (sign-ups and walk-ins together); NULL for no limit.
    capacity: Mapped[int | None]
    points_rule: Mapped[PointsRule] = mapped_column(enum_column_type(PointsRule, "points_rule"))
    #: Per attendance (fixed) or per hour (per_hour).
    points: Mapped[int]
    #: The most one attendance earns under the per-hour rule.
    max_points: Mapped[int | None]
    status: Mapped[ActivityStatus] = mapped_column(
        enum_column_type(ActivityStatus, "activity_status")
    )
    #: HMAC key of the rotating check-in code (hex); never leaves the server.
    checkin_secret: Mapped[str] = mapped_column(sa.String(64))
    created_by_id: Mapped[int] = mapped_column()
    finalized_by_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    finalized_at: Mapped[datetime | None]

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.ForeignKeyConstraint(
            ["community_id", "created_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "finalized_by_id"], ["members.community_id", "members.id"]
        ),
        sa.CheckConstraint("title <> ''", name="title_not_empty"),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"),
        sa.CheckConstraint("points > 0", name="points_positive"),
        sa.CheckConstraint(
            "(points_rule = 'per_hour') = (max_points IS NOT NULL)", name="max_points_per_hour"
        ),
        sa.CheckConstraint("max_points IS NULL OR max_points > 0", name="max_points_positive"),
        sa.CheckConstraint(
            "(status = 'finalized') = (finalized_at IS NOT NULL)", name="finalized_has_time"
        ),
        sa.Index("ix_activities_community_status_starts", "community_id", "status", "starts_at"),
    )


def _one_per_member_and_activity() -> tuple:
    """The keys of a row that puts one member at one activity, both of its community."""
    return (
        sa.UniqueConstraint("community_id", "activity_id", "member_id"),
        sa.ForeignKeyConstraint(
            ["community_id", "activity_id"], ["activities.community_id", "activities.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"], ["members.community_id", "members.id"]
        ),
    )


class ActivitySignup(Base):
    """A member's place in an activity, taken before it starts; withdrawing deletes it."""

    __tablename__ = "activity_signups"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    activity_id: Mapped[int] = mapped_column()
    member_id: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        *_one_per_member_and_activity(),
        sa.Index("ix_activity_signups_member_id", "member_id"),
    )


class Attendance(Base):
    """One member at one activity: both times, how they checked in, and the award."""

    __tablename__ = "attendances"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    activity_id: Mapped[int] = mapped_column()
    member_id: Mapped[int] = mapped_column()
    status: Mapped[AttendanceStatus] = mapped_column(
        enum_column_type(AttendanceStatus, "attendance_status")
    )
    checked_in_at: Mapped[datetime]
    checked_out_at: Mapped[datetime | None]
    check_in_method: Mapped[CheckInMethod] = mapped_column(
        enum_column_type(CheckInMethod, "check_in_method")
    )
    #: Who recorded the check-in: the member themselves, or an organizer.
    checked_in_by_id: Mapped[int] = mapped_column()
    excluded_reason: Mapped[str | None] = mapped_column(sa.String(500))
    excluded_by_id: Mapped[int | None] = mapped_column()
    #: What the activity's rule gives this attendance, before the monthly cap.
    points_computed: Mapped[int | None]
    #: What reached the wallet: ``points_computed`` unless the monthly cap cut it.
    points_awarded: Mapped[int | None]
    #: True when the monthly earning cap cut the award.
    capped: Mapped[bool] = mapped_column(default=False)
    #: The ATTENDANCE_AWARD transaction; NULL when nothing was awarded.
    transaction_id: Mapped[int | None] = mapped_column()
    awarded_at: Mapped[datetime | None]

    activity: Mapped[Activity] = in_community(
        "Attendance", "Activity", "activity_id", lazy="joined"
    )
    member: Mapped[Member] = relationship(
        foreign_keys=[member_id], primaryjoin="Attendance.member_id == Member.id", viewonly=True
    )

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        *_one_per_member_and_activity(),
        sa.ForeignKeyConstraint(
            ["community_id", "checked_in_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "excluded_by_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "transaction_id"],
            ["ledger_transactions.community_id", "ledger_transactions.id"],
        ),
        sa.CheckConstraint(
            "checked_out_at IS NULL OR checked_out_at >= checked_in_at", name="out_after_in"
        ),
        sa.CheckConstraint(
            "status <> 'checked_out' OR checked_out_at IS NOT NULL", name="checked_out_has_time"
        ),
        sa.CheckConstraint(
            "(status = 'excluded') = (excluded_reason IS NOT NULL)", name="excluded_has_reason"
        ),
        sa.CheckConstraint(
            "excluded_reason IS NULL OR excluded_reason <> ''", name="reason_not_empty"
        ),
        sa.CheckConstraint(
            "(status = 'awarded') = (points_computed IS NOT NULL AND points_awarded IS NOT NULL)",
            name="awarded_has_points",
        ),
        sa.CheckConstraint(
            "points_awarded IS NULL OR (points_awarded >= 0 AND points_awarded <= points_computed)",
            name="award_within_computed",
        ),
        sa.CheckConstraint(
            "capped = (COALESCE(points_awarded, 0) < COALESCE(points_computed, 0))",
            name="capped_when_cut",
        ),
        sa.CheckConstraint(
            "(transaction_id IS NOT NULL) = (COALESCE(points_awarded, 0) > 0)",
            name="transaction_when_awarded",
        ),
        sa.Index("ix_attendances_member_id", "member_id"),
        sa.Index("ix_attendances_transaction_id", "transaction_id"),
    )
