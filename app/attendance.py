"""Residents at an activity (design.md §4): signing up, checking in and out, and the
organizer's review of the attendances before finalizing.

Residents sign up while an activity is published; a capacity counts everyone
holding a place, signed up or checked in. Check-in is open from an hour
before the start to the end, in three ways: the resident types or scans the
rotating code on the organizer's screen (:mod:`app.checkin_codes`), or an
organizer scans the resident's member code, or checks the member in by hand
(and may then give the time, copying a paper list). Check-out works the same
way. An attendance is unique per activity and member, so a repeated check-in
returns the first one, and signing up twice returns the first sign-up.

Until the activity is finalized (:mod:`app.finalization`) the organizer may
exclude an attendance, saying why, and reinstate it. An attendance moved to
the state it is in already stays as it is; any other illegal move raises
:class:`IllegalAttendanceTransition`.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    WALLET_ROLES,
    Activity,
    ActivitySignup,
    ActivityStatus,
    Attendance,
    AttendanceStatus,
    CheckInMethod,
    Member,
    utcnow,
)

from . import checkin_codes
from .activities import (
    IllegalActivityTransition,
    attendance_of,
    lock,
    manages,
    participant_count,
    signup_of,
)
from .earnings import LOCAL_TZ
from .extensions import db
from .lifecycle import Lifecycle
from .problems import Conflict, Forbidden, InvalidInput, invalid_field

#: Check-in opens this long before an activity starts.
CHECK_IN_OPENS_BEFORE = timedelta(hours=1)

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


class IllegalAttendanceTransition(Conflict):
    slug = "illegal-attendance-transition"
    title = _l("Not possible in the attendance's state")
    message = _l("This cannot be done to this attendance now.")


class ActivityFull(Conflict):
    slug, title = "activity-full", _l("Activity full")
    message = _l("Sorry, this activity is full.")


class CheckInClosed(Conflict):
    slug, title = "check-in-closed", _l("Check-in is not open")
    message = _l("Check-in for this activity is not open.")


class NotCheckedIn(Conflict):
    slug, title = "not-checked-in", _l("Not checked in")
    message = _l("There is no check-in to check out from.")


class OthersByOrganizersOnly(Forbidden):
    slug = "others-by-organizers-only"
    title = _l("Only organizers check others in or out")
    message = _l(
        "Only organizers check other people in or out. Check yourself in with the code on "
        "the organizer's screen."
    )


ATTENDANCE = Lifecycle(_l("Attendance"), ATTENDANCE_TRANSITIONS, IllegalAttendanceTransition)


def transition_attendance(attendance: Attendance, new: AttendanceStatus, **changes) -> bool:
    """The only place an attendance's status changes, with the fields that go with it;
    False, changing nothing, if it is there already."""
    return ATTENDANCE.reach(attendance, new, **changes)


def _local(moment: datetime) -> str:
    """A time as people at the activity read it: Asia/Shanghai, to the minute."""
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def _is_participant(activity: Activity, member: Member) -> bool:
    return signup_of(activity, member) is not None or attendance_of(activity, member) is not None


def _check_capacity(activity: Activity, member: Member) -> None:
    if activity.capacity is None or _is_participant(activity, member):
        return
    if participant_count(activity) >= activity.capacity:
        raise ActivityFull(
            _(
                "Activity %(id)s is full (%(places)s places).",
                id=activity.id,
                places=activity.capacity,
            )
        )


def _check_attendee(activity: Activity, member: Member, field: str = "member_id") -> None:
    if member.community_id != activity.community_id or not member.active:
        raise invalid_field(
            field, "Unknown member.", _("No member %(id)s in this community.", id=member.id)
        )
    if member.role not in WALLET_ROLES:
        raise invalid_field(
            field,
            "This member holds no wallet.",
            _(
                "Member %(id)s (%(role)s) holds no points wallet to earn into.",
                id=member.id,
                role=member.role.value,
            ),
        )


def sign_up(activity: Activity, member: Member) -> tuple[ActivitySignup, bool]:
    """Take a place; ``(signup, created)``, so signing up twice returns the first."""
    _check_attendee(activity, member)
    lock(activity)
    existing = signup_of(activity, member)
    if existing is not None:
        return existing, False
    if activity.status != ActivityStatus.PUBLISHED or activity.ends_at <= utcnow():
        raise IllegalActivityTransition(
            _(
                "Activity %(id)s is not open for sign-up (%(status)s).",
                id=activity.id,
                status=activity.status.value,
            )
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
            _(
                "Activity %(id)s is %(status)s; sign-ups can no longer change.",
                id=activity.id,
                status=activity.status.value,
            )
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
            _("Send exactly one of code, member_id or member_code."),
            errors={"json": {"_schema": ["Exactly one of code, member_id or member_code."]}},
        )
    if code is not None:
        if at is not None:
            raise invalid_field(
                "at",
                "Only an organizer recording someone else gives a time.",
                _("Only an organizer recording someone else gives a time."),
            )
        if activity.status != ActivityStatus.PUBLISHED:
            raise CheckInClosed(_("Check-in for activity %(id)s is not open.", id=activity.id))
        _check_attendee(activity, actor, "code")
        checkin_codes.verify_code(activity, code, utcnow())
        return Attendee(actor, CheckInMethod.CODE)
    if not manages(actor):
        raise OthersByOrganizersOnly()
    if member_code is not None:
        ids = checkin_codes.read_member_code(member_code)
        if ids.community_id != activity.community_id:
            raise checkin_codes.MemberCodeInvalid(
                _("This member code belongs to another community."),
                errors={"json": {"member_code": ["From another community."]}},
            )
        member_id, method = ids.member_id, CheckInMethod.MEMBER_CODE
    else:
        method = CheckInMethod.ORGANIZER
    member = db.session.get(Member, member_id)
    if member is None:
        raise invalid_field(
            "member_id", "Unknown member.", _("No member %(id)s in this community.", id=member_id)
        )
    _check_attendee(activity, member, "member_code" if member_code is not None else "member_id")
    if at is not None and at > utcnow():
        raise invalid_field("at", "Not in the future.", _("The time cannot be in the future."))
    return Attendee(member, method, at.astimezone(UTC) if at is not None else None)


def check_in(activity: Activity, attendee: Attendee, *, actor: Member) -> tuple[Attendance, bool]:
    """Record the arrival; ``(attendance, created)``, so a repeat returns the first."""
    lock(activity)
    existing = attendance_of(activity, attendee.member)
    if existing is not None:
        return existing, False
    at = attendee.at or utcnow()
    open_states = (ActivityStatus.PUBLISHED,)
    if attendee.method != CheckInMethod.CODE:
        # Organizers may still add someone from the paper list while reviewing.
        open_states += (ActivityStatus.CLOSED,)
    if activity.status not in open_states:
        raise CheckInClosed(
            _(
                "Check-in for activity %(id)s is %(status)s.",
                id=activity.id,
                status=activity.status.value,
            )
        )
    opens = activity.starts_at - CHECK_IN_OPENS_BEFORE
    if not opens <= at <= activity.ends_at:
        raise CheckInClosed(
            _(
                "Check-in for activity %(id)s is open from %(opens)s to %(closes)s.",
                id=activity.id,
                opens=_local(opens),
                closes=_local(activity.ends_at),
            )
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
        raise NotCheckedIn(
            _("Member %(id)s has not checked in to this activity.", id=attendee.member.id)
        )
    if activity.status not in (ActivityStatus.PUBLISHED, ActivityStatus.CLOSED):
        raise CheckInClosed(
            _("Activity %(id)s is %(status)s.", id=activity.id, status=activity.status.value)
        )
    at = attendee.at or utcnow()
    if attendance.status == AttendanceStatus.CHECKED_IN and at < attendance.checked_in_at:
        raise invalid_field(
            "at", "Not before the check-in.", _("The check-out cannot be before the check-in.")
        )
    transition_attendance(attendance, AttendanceStatus.CHECKED_OUT, checked_out_at=at)
    db.session.flush()
    return attendance


def record_check_in(activity: Activity, *, actor: Member, **request) -> tuple[Attendance, bool]:
    """Check in the member a request names (see :func:`resolve_attendee`)."""
    return check_in(activity, resolve_attendee(activity, actor=actor, **request), actor=actor)


def record_check_out(activity: Activity, *, actor: Member, **request) -> Attendance:
    return check_out(activity, resolve_attendee(activity, actor=actor, **request))


def check_in_code(activity: Activity, window: int | None = None) -> checkin_codes.RotatingCode:
    """The code for the organizer's screen; only while check-in is open."""
    if activity.status != ActivityStatus.PUBLISHED:
        raise CheckInClosed(
            _(
                "Check-in for activity %(id)s is %(status)s.",
                id=activity.id,
                status=activity.status.value,
            )
        )
    return checkin_codes.rotating_code(activity, utcnow(), window)


def _check_reviewable(attendance: Attendance) -> None:
    if attendance.activity.status not in (ActivityStatus.PUBLISHED, ActivityStatus.CLOSED):
        raise IllegalActivityTransition(
            _(
                "Activity %(id)s is %(status)s; its attendances can no longer change.",
                id=attendance.activity_id,
                status=attendance.activity.status.value,
            )
        )


def exclude(attendance: Attendance, *, reason: str, actor: Member) -> Attendance:
    """Leave an attendance out of the award, saying why."""
    reason = reason.strip()
    if not reason:
        raise invalid_field("reason", "Required.", _("Excluding an attendance needs a reason."))
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


def attendance_list(activity: Activity):
    """The select behind an activity's attendance list."""
    return sa.select(Attendance).where(
        Attendance.community_id == activity.community_id, Attendance.activity_id == activity.id
    )


def attendances_of_member(member: Member):
    """The select behind a member's activity history."""
    return sa.select(Attendance).where(
        Attendance.community_id == member.community_id, Attendance.member_id == member.id
    )
