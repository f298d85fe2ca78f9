"""Volunteer activities and their attendances (design.md §4).

An activity moves ``draft → published → closed → finalized``; a draft,
published or closed activity can be ``cancelled``. Residents sign up while it
is published. Check-in is open from an hour before the start to the end, in
three ways: the resident types or scans the rotating code on the organizer's
screen (:mod:`app.checkin_codes`), or an organizer scans the resident's member
code, or checks the member in by hand (and may then give the time, copying a
paper list). Check-out works the same way. An attendance is unique per
activity and member, so a repeated check-in returns the first one.

Finalizing confirms every attendance the organizer has not excluded and
awards it once: its points (fixed, or per hour of the recorded times inside
the activity's own hours, up to ``max_points``) go from issuance to the
member's wallet as one ``ATTENDANCE_AWARD`` transaction referenced
``attendance:{id}``, which the database keeps unique. The community's monthly
earning cap (:mod:`app.earnings`) can cut an award; the attendance then keeps
both numbers and is marked capped. Finalizing again does nothing.

Moving anything to the state it is already in does nothing, so retries are
harmless; any other illegal move raises a named error.
"""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from models import (
    WALLET_ROLES,
    Account,
    AccountKind,
    Activity,
    ActivityCategory,
    ActivitySignup,
    ActivityStatus,
    Attendance,
    AttendanceStatus,
    CheckInMethod,
    Community,
    Member,
    PointsRule,
    TransactionKind,
    utcnow,
)

from . import checkin_codes, earnings, ledger
from .authz import ORGANIZERS
from .communities import wallet_of
from .extensions import db
from .lifecycle import Lifecycle
from .problems import Conflict, Forbidden, InvalidInput, NotFound

#: Check-in opens this long before an activity starts.
CHECK_IN_OPENS_BEFORE = timedelta(hours=1)

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

ATTENDANCE_TRANSITIONS = {
    AttendanceStatus.CHECKED_IN: {
        AttendanceStatus.CHECKED_OUT,
        AttendanceStatus.EXCLUDED,
        AttendanceStatus.AWARDED,
    },
    AttendanceStatus.CHECKED_OUT: {AttendanceStatus.EXCLUDED, AttendanceStatus.AWARDED},
    AttendanceStatus.EXCLUDED: {AttendanceStatus.CHECKED_IN, AttendanceStatus.CHECKED_OUT},
    AttendanceStatus.AWARDED: set(),
}

#: Attendances still waiting for the organizer's decision at finalization.
OPEN_ATTENDANCE = (AttendanceStatus.CHECKED_IN, AttendanceStatus.CHECKED_OUT)


class IllegalActivityTransition(Conflict):
    slug, title = "illegal-activity-transition", "Not possible in the activity's state"


class IllegalAttendanceTransition(Conflict):
    slug, title = "illegal-attendance-transition", "Not possible in the attendance's state"


class ActivityFull(Conflict):
    slug, title = "activity-full", "Activity full"


class CheckInClosed(Conflict):
    slug, title = "check-in-closed", "Check-in is not open"


class NotCheckedIn(Conflict):
    slug, title = "not-checked-in", "Not checked in"


class AttendancesNotCheckedOut(Conflict):
    slug, title = "attendances-not-checked-out", "Attendances without a check-out"


ACTIVITY = Lifecycle("Activity", ACTIVITY_TRANSITIONS, IllegalActivityTransition)
ATTENDANCE = Lifecycle("Attendance", ATTENDANCE_TRANSITIONS, IllegalAttendanceTransition)


def _move(lifecycle: Lifecycle, obj, new, changes: dict) -> bool:
    """Move ``obj`` to ``new`` with its ``changes``; False, changing nothing, if it is there."""
    if obj.status == new:
        return False
    lifecycle.move(obj, new, **changes)
    return True


def transition(activity: Activity, new: ActivityStatus, **changes) -> bool:
    """The only place an activity's status changes, with the fields that go with it."""
    return _move(ACTIVITY, activity, new, changes)


def transition_attendance(attendance: Attendance, new: AttendanceStatus, **changes) -> bool:
    """The only place an attendance's status changes, with the fields that go with it."""
    return _move(ATTENDANCE, attendance, new, changes)


def _invalid(field: str, message: str, detail: str | None = None) -> InvalidInput:
    return InvalidInput(detail or message, errors={"json": {field: [message]}})


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
        raise _invalid("title", "Required.", "An activity needs a title.")
    if ends_at <= starts_at:
        raise _invalid(
            "ends_at", "Must be after starts_at.", "The activity must end after it starts."
        )
    if points <= 0:
        raise _invalid("points", "More than zero.")
    if capacity is not None and capacity <= 0:
        raise _invalid("capacity", "More than zero, or null for no limit.")
    if points_rule == PointsRule.PER_HOUR and (max_points is None or max_points <= 0):
        raise _invalid(
            "max_points",
            "Required for the per-hour rule: the most one attendance earns.",
            "Per-hour activities need max_points.",
        )
    if points_rule == PointsRule.FIXED and max_points is not None:
        raise _invalid("max_points", "Only for the per-hour rule.")
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


def _lock(activity: Activity) -> None:
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


def _is_participant(activity: Activity, member: Member) -> bool:
    return signup_of(activity, member) is not None or attendance_of(activity, member) is not None


def _check_capacity(activity: Activity, member: Member) -> None:
    if activity.capacity is None or _is_participant(activity, member):
        return
    if participant_count(activity) >= activity.capacity:
        raise ActivityFull(f"Activity {activity.id} is full ({activity.capacity} places).")


def _check_attendee(activity: Activity, member: Member, field: str = "member_id") -> None:
    if member.community_id != activity.community_id or not member.active:
        raise _invalid(field, "Unknown member.", f"No member {member.id} in this community.")
    if member.role not in WALLET_ROLES:
        raise _invalid(
            field,
            "This member holds no wallet.",
            f"Member {member.id} ({member.role.value}) holds no points wallet to earn into.",
        )


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


def sign_up(activity: Activity, member: Member) -> tuple[ActivitySignup, bool]:
    """Take a place; ``(signup, created)``, so signing up twice returns the first."""
    _check_attendee(activity, member)
    _lock(activity)
    existing = signup_of(activity, member)
    if existing is not None:
        return existing, False
    if activity.status != ActivityStatus.PUBLISHED or activity.ends_at <= utcnow():
        raise IllegalActivityTransition(
            f"Activity {activity.id} is not open for sign-up ({activity.status.value})."
        )
    _check_capacity(activity, member)
    signup = ActivitySignup(
        community_id=activity.community_id, activity_id=activity.id, member_id=member.id
    )
    db.session.add(signup)
    db.session.flush()
    return signup, True


def withdraw(activity: Activity, member: Member) -> None:
    """Give the place back before the activity is closed; nothing if there was none."""
    signup = signup_of(activity, member)
    if signup is None:
        return
    if activity.status != ActivityStatus.PUBLISHED:
        raise IllegalActivityTransition(
            f"Activity {activity.id} is {activity.status.value}; sign-ups can no longer change."
        )
    db.session.delete(signup)
    db.session.flush()


@dataclass(frozen=True)
class Attendee:
    """Who is being checked in or out, and how."""

    member: Member
    method: CheckInMethod
    #: The time an organizer gave; None means now.
    at: datetime | None = None


def resolve_attendee(
    activity: Activity,
    *,
    actor: Member,
    code: str | None = None,
    member_id: int | None = None,
    member_code: str | None = None,
    at: datetime | None = None,
) -> Attendee:
    """Turn a check-in or check-out request into the member it is for.

    ``code``: the caller checks themselves in with the activity's rotating
    code. ``member_id`` or ``member_code``: an organizer records someone, and
    may give the time it happened.
    """
    given = [
        name
        for name, value in (("code", code), ("member_id", member_id), ("member_code", member_code))
        if value is not None
    ]
    if len(given) != 1:
        raise InvalidInput(
            "Send exactly one of code, member_id or member_code.",
            errors={"json": {"_schema": ["Exactly one of code, member_id or member_code."]}},
        )
    if code is not None:
        if at is not None:
            raise _invalid("at", "Only an organizer recording someone else gives a time.")
        if activity.status != ActivityStatus.PUBLISHED:
            raise CheckInClosed(f"Check-in for activity {activity.id} is not open.")
        _check_attendee(activity, actor, "code")
        checkin_codes.verify_code(activity, code, utcnow())
        return Attendee(actor, CheckInMethod.CODE)
    if actor.role not in ORGANIZERS:
        raise Forbidden("Only organizers check other members in or out; use the activity's code.")
    if member_code is not None:
        ids = checkin_codes.read_member_code(member_code)
        if ids.community_id != activity.community_id:
            raise checkin_codes.MemberCodeInvalid(
                "This member code belongs to another community.",
                errors={"json": {"member_code": ["From another community."]}},
            )
        member_id, method = ids.member_id, CheckInMethod.MEMBER_CODE
    else:
        method = CheckInMethod.ORGANIZER
    member = db.session.get(Member, member_id)
    if member is None:
        raise _invalid("member_id", "Unknown member.", f"No member {member_id} in this community.")
    _check_attendee(activity, member, "member_code" if member_code is not None else "member_id")
    if at is not None and at > utcnow():
        raise _invalid("at", "Not in the future.")
    return Attendee(member, method, at.astimezone(UTC) if at is not None else None)


def check_in(activity: Activity, attendee: Attendee, *, actor: Member) -> tuple[Attendance, bool]:
    """Record the arrival; ``(attendance, created)``, so a repeat returns the first."""
    _lock(activity)
    existing = attendance_of(activity, attendee.member)
    if existing is not None:
        return existing, False
    at = attendee.at or utcnow()
    open_states = (ActivityStatus.PUBLISHED,)
    if attendee.method != CheckInMethod.CODE:
        # Organizers may still add someone from the paper list while reviewing.
        open_states += (ActivityStatus.CLOSED,)
    if activity.status not in open_states:
        raise CheckInClosed(f"Check-in for activity {activity.id} is {activity.status.value}.")
    opens = activity.starts_at - CHECK_IN_OPENS_BEFORE
    if not opens <= at <= activity.ends_at:
        raise CheckInClosed(
            f"Check-in for activity {activity.id} is open from {opens.isoformat()} "
            f"to {activity.ends_at.isoformat()}."
        )
    _check_capacity(activity, attendee.member)
    attendance = Attendance(
        community_id=activity.community_id,
        activity_id=activity.id,
        member_id=attendee.member.id,
        status=AttendanceStatus.CHECKED_IN,
        checked_in_at=at,
        check_in_method=attendee.method,
        checked_in_by_id=actor.id,
        capped=False,
    )
    db.session.add(attendance)
    db.session.flush()
    return attendance, True


def check_out(activity: Activity, attendee: Attendee) -> Attendance:
    """Record the departure; checking out again keeps the first time."""
    attendance = attendance_of(activity, attendee.member)
    if attendance is None:
        raise NotCheckedIn(f"Member {attendee.member.id} has not checked in to this activity.")
    if activity.status not in (ActivityStatus.PUBLISHED, ActivityStatus.CLOSED):
        raise CheckInClosed(f"Activity {activity.id} is {activity.status.value}.")
    at = attendee.at or utcnow()
    if attendance.status == AttendanceStatus.CHECKED_IN and at < attendance.checked_in_at:
        raise _invalid("at", "Not before the check-in.")
    transition_attendance(attendance, AttendanceStatus.CHECKED_OUT, checked_out_at=at)
    db.session.flush()
    return attendance


def _check_reviewable(attendance: Attendance) -> None:
    if attendance.activity.status not in (ActivityStatus.PUBLISHED, ActivityStatus.CLOSED):
        raise IllegalActivityTransition(
            f"Activity {attendance.activity_id} is {attendance.activity.status.value}; "
            "its attendances can no longer change."
        )


def exclude(attendance: Attendance, *, reason: str, actor: Member) -> Attendance:
    """Leave an attendance out of the award, saying why."""
    reason = reason.strip()
    if not reason:
        raise _invalid("reason", "Required.", "Excluding an attendance needs a reason.")
    _check_reviewable(attendance)
    transition_attendance(
        attendance, AttendanceStatus.EXCLUDED, excluded_reason=reason, excluded_by_id=actor.id
    )
    db.session.flush()
    return attendance


def reinstate(attendance: Attendance) -> Attendance:
    """Undo an exclusion: back to checked in, or checked out if it was."""
    _check_reviewable(attendance)
    if attendance.status != AttendanceStatus.EXCLUDED:
        return attendance
    back = (
        AttendanceStatus.CHECKED_OUT
        if attendance.checked_out_at is not None
        else AttendanceStatus.CHECKED_IN
    )
    transition_attendance(attendance, back, excluded_reason=None, excluded_by_id=None)
    db.session.flush()
    return attendance


def attendance_points(activity: Activity, attendance: Attendance) -> int | None:
    """What the rule gives this attendance before the monthly cap.

    Per hour: whole minutes between check-in and check-out that fall inside the
    activity's own hours, times ``points`` / 60, rounded down, at most
    ``max_points``. None while a per-hour attendance has no check-out.
    """
    if activity.points_rule == PointsRule.FIXED:
        return activity.points
    if attendance.checked_out_at is None:
        return None
    start = max(attendance.checked_in_at, activity.starts_at)
    end = min(attendance.checked_out_at, activity.ends_at)
    minutes = max(0, int((end - start).total_seconds()) // 60)
    return min(activity.max_points, minutes * activity.points // 60)


@dataclass(frozen=True)
class Finalization:
    activity: Activity
    #: What this call did; all zero when the activity was finalized already.
    awarded: int = 0
    points_awarded: int = 0
    capped: int = 0
    excluded: int = 0
    #: Signed up, never checked in.
    absent: int = 0

    @property
    def id(self) -> int:
        return self.activity.id


def open_attendances(activity: Activity) -> list[Attendance]:
    return list(
        db.session.execute(
            sa.select(Attendance)
            .where(
                Attendance.community_id == activity.community_id,
                Attendance.activity_id == activity.id,
                Attendance.status.in_(OPEN_ATTENDANCE),
            )
            .order_by(Attendance.id)
        ).scalars()
    )


def _lock_accounts(accounts: list[Account]) -> None:
    """Lock the balances finalization reads and moves, in id order like every post, so that
    the cap sees every earlier award to these wallets and no lock order can deadlock."""
    db.session.execute(
        sa.select(Account.id)
        .where(Account.id.in_(sorted(a.id for a in accounts)))
        .order_by(Account.id)
        .with_for_update()
    )


def finalize(activity: Activity, *, actor: Member) -> Finalization:
    """Confirm every attendance not excluded and award each once; again, do nothing."""
    _lock(activity)
    if activity.status == ActivityStatus.FINALIZED:
        return Finalization(activity)
    if not ACTIVITY.may(activity.status, ActivityStatus.FINALIZED):
        raise IllegalActivityTransition(
            f"Activity {activity.id} is {activity.status.value}; it cannot be finalized."
        )
    attendances = open_attendances(activity)
    still_in = [a for a in attendances if attendance_points(activity, a) is None]
    if still_in:
        raise AttendancesNotCheckedOut(
            f"{len(still_in)} attendance(s) of this per-hour activity have no check-out; "
            "check them out or exclude them first.",
            attendance_ids=[a.id for a in still_in],
        )
    now = utcnow()
    community = db.session.get(Community, activity.community_id)
    issuance = ledger.ensure_account(activity.community_id, AccountKind.ISSUANCE)
    members = {
        m.id: m
        for m in db.session.scalars(
            sa.select(Member).where(Member.id.in_({a.member_id for a in attendances}))
        )
    }
    wallets = {member_id: wallet_of(member) for member_id, member in members.items()}
    _lock_accounts([issuance, *wallets.values()])
    earned = earnings.points_earned(
        activity.community_id, earnings.Period.containing(now), member_ids=members
    )
    awarded = points_total = capped = 0
    for attendance in attendances:
        computed = attendance_points(activity, attendance)
        room = earnings.room_under_cap(community, earned.get(attendance.member_id, 0))
        points = computed if room is None else min(computed, room)
        transaction_id = None
        if points > 0:
            transaction_id = ledger.post(
                activity.community_id,
                TransactionKind.ATTENDANCE_AWARD,
                [(issuance, -points), (wallets[attendance.member_id], points)],
                memo=activity.title,
                reference=f"attendance:{attendance.id}",
                actor_id=actor.id,
            ).id
            earned[attendance.member_id] = earned.get(attendance.member_id, 0) + points
        transition_attendance(
            attendance,
            AttendanceStatus.AWARDED,
            points_computed=computed,
            points_awarded=points,
            capped=points < computed,
            transaction_id=transaction_id,
            awarded_at=now,
        )
        awarded += 1
        points_total += points
        capped += points < computed
    transition(activity, ActivityStatus.FINALIZED, finalized_at=now, finalized_by_id=actor.id)
    db.session.flush()
    return Finalization(
        activity,
        awarded=awarded,
        points_awarded=points_total,
        capped=capped,
        excluded=_count(Attendance, activity, Attendance.status == AttendanceStatus.EXCLUDED),
        absent=_absent(activity),
    )


def _count(model, activity: Activity, *where) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(model)
        .where(
            model.community_id == activity.community_id, model.activity_id == activity.id, *where
        )
    )


def _absent(activity: Activity) -> int:
    arrived = sa.select(Attendance.member_id).where(Attendance.activity_id == activity.id)
    return _count(ActivitySignup, activity, ActivitySignup.member_id.not_in(arrived))


def record_check_in(activity: Activity, *, actor: Member, **request) -> tuple[Attendance, bool]:
    """Check in the member a request names (see :func:`resolve_attendee`)."""
    return check_in(activity, resolve_attendee(activity, actor=actor, **request), actor=actor)


def record_check_out(activity: Activity, *, actor: Member, **request) -> Attendance:
    return check_out(activity, resolve_attendee(activity, actor=actor, **request))


def check_in_code(activity: Activity, window: int | None = None) -> checkin_codes.RotatingCode:
    """The code for the organizer's screen; only while check-in is open."""
    if activity.status != ActivityStatus.PUBLISHED:
        raise CheckInClosed(f"Check-in for activity {activity.id} is {activity.status.value}.")
    return checkin_codes.rotating_code(activity, utcnow(), window)


def manages(actor: Member) -> bool:
    return actor.role in ORGANIZERS


def visible(activity: Activity, actor: Member) -> Activity:
    """Drafts are the organizers' own: to anyone else they do not exist."""
    if activity.status == ActivityStatus.DRAFT and not manages(actor):
        raise NotFound(f"No activity {activity.id!r}.")
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


def attendances_of_member(member: Member):
    """The select behind a member's activity history."""
    return sa.select(Attendance).where(
        Attendance.community_id == member.community_id, Attendance.member_id == member.id
    )


def attendance_list(activity: Activity):
    return sa.select(Attendance).where(
        Attendance.community_id == activity.community_id, Attendance.activity_id == activity.id
    )
