"""Volunteer activities (design.md §4): creating, publishing, closing and cancelling
them, and what each caller sees of them.

An activity moves ``draft → published → closed → finalized``; a draft,
published or closed activity can be ``cancelled``. Moving it to the state it
is already in does nothing, so retries are harmless; any other illegal move
raises :class:`IllegalActivityTransition`. Drafts are the organizers' own: to
anyone else they do not exist.

What residents do at an activity (sign up, check in and out, and the
organizer's review of it) is :mod:`app.attendance`; awarding the points is
:mod:`app.finalization`. Both take the activity's row lock (:func:`lock`)
first, so that sign-ups, check-ins and finalizing one activity take turns.
"""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    Activity,
    ActivityCategory,
    ActivitySignup,
    ActivityStatus,
    Attendance,
    Community,
    Member,
    PointsRule,
    utcnow,
)

from .authz import ORGANIZERS
from .extensions import db
from .lifecycle import Lifecycle
from .problems import Conflict, NotFound, invalid_field

ACTIVITY_TRANSITIONS = {
    ActivityStatus.DRAFT: {ActivityStatus.PUBLISHED, ActivityStatus.CANCELLED},
    ActivityStatus.PUBLISHED: {
        ActivityStatus.CLOSED,
        ActivityStatus.CANCELLED,
        ActivityStatus.FINALIZED,
    },
    ActivityStatus.CLOSED: {ActivityStatus.FINALIZED, ActivityStatus.CANCELLED},
    ActivityStatus.CANCELLED: set(),
    ActivityStatus.FINALIZED: set(),
}


#: Each category's words for a reader (pages, reports and exports).
CATEGORY_LABELS = {
    ActivityCategory.ENVIRONMENT: _l("Environment cleanup"),
    ActivityCategory.GREENING: _l("Greening"),
    ActivityCategory.MEDIATION: _l("Dispute mediation"),
    ActivityCategory.ELDER_CARE: _l("Elder care"),
    ActivityCategory.SAFETY_PATROL: _l("Safety patrol"),
    ActivityCategory.CULTURE: _l("Culture"),
    ActivityCategory.OTHER: _l("Other"),
}


class IllegalActivityTransition(Conflict):
    slug = "illegal-activity-transition"
    title = _l("Not possible in the activity's state")
    message = _l("This cannot be done in the activity's present state.")


ACTIVITY = Lifecycle(_l("Activity"), ACTIVITY_TRANSITIONS, IllegalActivityTransition)


def transition(activity: Activity, new: ActivityStatus, **changes) -> bool:
    """The only place an activity's status changes, with the fields that go with it;
    False, changing nothing, if it is there already."""
    return ACTIVITY.reach(activity, new, **changes)


def create_activity(
    community: Community,
    *,
    actor: Member,
    title: str,
    category: ActivityCategory,
    starts_at: datetime,
    ends_at: datetime,
    points: int,
    points_rule: PointsRule = PointsRule.FIXED,
    max_points: int | None = None,
    description: str = "",
    place: str = "",
    capacity: int | None = None,
) -> Activity:
    """A draft activity; :func:`publish` opens it to residents."""
    title = title.strip()
    if not title:
        raise invalid_field("title", "Required.", _("An activity needs a title."))
    if ends_at <= starts_at:
        raise invalid_field(
            "ends_at", "Must be after starts_at.", _("The activity must end after it starts.")
        )
    if points <= 0:
        raise invalid_field("points", "More than zero.", _("The points must be more than zero."))
    if capacity is not None and capacity <= 0:
        raise invalid_field(
            "capacity",
            "More than zero, or null for no limit.",
            _("The number of places must be more than zero, or left empty for no limit."),
        )
    if points_rule == PointsRule.PER_HOUR and (max_points is None or max_points <= 0):
        raise invalid_field(
            "max_points",
            "Required for the per-hour rule: the most one attendance earns.",
            _("Per-hour activities need a maximum of points for one attendance."),
        )
    if points_rule == PointsRule.FIXED and max_points is not None:
        raise invalid_field(
            "max_points",
            "Only for the per-hour rule.",
            _("Only the per-hour rule takes a maximum of points per attendance."),
        )
    activity = Activity(
        community_id=community.id,
        title=title,
        description=description.strip(),
        category=category,
        place=place.strip(),
        starts_at=starts_at.astimezone(UTC),
        ends_at=ends_at.astimezone(UTC),
        capacity=capacity,
        points_rule=points_rule,
        points=points,
        max_points=max_points,
        status=ActivityStatus.DRAFT,
        checkin_secret=secrets.token_hex(32),
        created_by_id=actor.id,
    )
    db.session.add(activity)
    db.session.flush()
    return activity


#: The moment each organizer's move stamps on the activity.
STAMPS = {
    ActivityStatus.PUBLISHED: "published_at",
    ActivityStatus.CLOSED: "closed_at",
    ActivityStatus.CANCELLED: "cancelled_at",
}


def move(activity: Activity, new: ActivityStatus) -> Activity:
    """Publish, close or cancel the activity, noting when."""
    transition(activity, new, **{STAMPS[new]: utcnow()})
    db.session.flush()
    return activity


def publish(activity: Activity) -> Activity:
    """Open the activity to residents: they see it and may sign up and check in."""
    return move(activity, ActivityStatus.PUBLISHED)


def close(activity: Activity) -> Activity:
    """End check-in; the organizer reviews attendances, then finalizes."""
    return move(activity, ActivityStatus.CLOSED)


def cancel(activity: Activity) -> Activity:
    """Call the activity off; nobody is awarded."""
    return move(activity, ActivityStatus.CANCELLED)


def lock(activity: Activity) -> None:
    """Serialise sign-ups, check-ins and finalization of one activity (row lock on PostgreSQL;
    SQLite's ``BEGIN IMMEDIATE`` already serialises every writer). Pending changes are
    flushed first, as the refresh would otherwise drop them."""
    db.session.flush()
    db.session.refresh(activity, with_for_update=True)


def participant_count(activity: Activity) -> int:
    """Members holding a place: signed up, or checked in without signing up."""
    members = sa.union(
        sa.select(ActivitySignup.member_id).where(ActivitySignup.activity_id == activity.id),
        sa.select(Attendance.member_id).where(Attendance.activity_id == activity.id),
    ).subquery()
    return db.session.scalar(sa.select(sa.func.count()).select_from(members))


def signup_of(activity: Activity, member: Member) -> ActivitySignup | None:
    return db.session.execute(
        sa.select(ActivitySignup).where(
            ActivitySignup.community_id == activity.community_id,
            ActivitySignup.activity_id == activity.id,
            ActivitySignup.member_id == member.id,
        )
    ).scalar_one_or_none()


def attendance_of(activity: Activity, member: Member) -> Attendance | None:
    return db.session.execute(
        sa.select(Attendance).where(
            Attendance.community_id == activity.community_id,
            Attendance.activity_id == activity.id,
            Attendance.member_id == member.id,
        )
    ).scalar_one_or_none()


def manages(actor: Member) -> bool:
    return actor.role in ORGANIZERS


def visible(activity: Activity, actor: Member) -> Activity:
    """Drafts are the organizers' own: to anyone else they do not exist, so the refusal is
    the plain ``not-found`` a missing activity gets."""
    if activity.status == ActivityStatus.DRAFT and not manages(actor):
        raise NotFound(_("No activity %(id)s.", id=activity.id))
    return activity


def listing(community: Community, actor: Member, *, status=None, upcoming=False):
    """The select behind activity lists: drafts only for organizers, upcoming ones on request."""
    query = sa.select(Activity).where(Activity.community_id == community.id)
    if not manages(actor):
        query = query.where(Activity.status != ActivityStatus.DRAFT)
    if status is not None:
        query = query.where(Activity.status == status)
    if upcoming:
        query = query.where(
            Activity.status == ActivityStatus.PUBLISHED, Activity.ends_at > utcnow()
        )
    return query


@dataclass(frozen=True)
class Detail:
    """An activity as one caller sees it: the places taken, and their own place."""

    activity: Activity
    participants: int
    signup: ActivitySignup | None
    attendance: Attendance | None

    @property
    def places_left(self) -> int | None:
        if self.activity.capacity is None:
            return None
        return max(0, self.activity.capacity - self.participants)

    @property
    def signed_up(self) -> bool:
        return self.signup is not None

    def __getattr__(self, name):
        return getattr(self.activity, name)


def detail(activity: Activity, actor: Member) -> Detail:
    visible(activity, actor)
    return Detail(
        activity,
        participant_count(activity),
        signup_of(activity, actor),
        attendance_of(activity, actor),
    )
