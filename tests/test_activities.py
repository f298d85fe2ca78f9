"""The activity domain functions on their own: lifecycles, points per rule, one transaction."""

from datetime import timedelta

import pytest
from support.activities import make_activity, per_hour

from app import activities, checkin_codes, finalization
from app import attendance as attending
from app.attendance import Attendee
from app.extensions import db
from app.problems import InvalidInput
from models import ActivityStatus, AttendanceStatus, CheckInMethod, Role


@pytest.fixture
def people(make_community, make_member):
    community = make_community()
    return community, make_member(community, Role.ORGANIZER), make_member(community)


def test_several_steps_in_one_transaction_keep_every_change(people, clock):
    """Locking the activity reloads it, which must not drop what was not yet flushed."""
    community, organizer, resident = people
    activity = make_activity(community, organizer, now=clock.now, publish=False)
    activity.place = "北新街东段"
    activities.publish(activity)
    attendance, created = attending.check_in(
        activity, Attendee(resident, CheckInMethod.ORGANIZER), actor=organizer
    )
    result = finalization.finalize(activity, actor=organizer)
    db.session.expire_all()
    assert created
    assert (activity.status, activity.place) == (ActivityStatus.FINALIZED, "北新街东段")
    assert attendance.status == AttendanceStatus.AWARDED
    assert result.points_awarded == 50


def test_every_illegal_activity_move_is_named(people, clock):
    community, organizer, _resident = people
    activity = make_activity(community, organizer, now=clock.now, publish=False)
    assert activities.transition(activity, ActivityStatus.DRAFT) is False
    for target in (ActivityStatus.CLOSED, ActivityStatus.FINALIZED):
        with pytest.raises(activities.IllegalActivityTransition):
            activities.transition(activity, target)
    activities.cancel(activity)
    for target in set(ActivityStatus) - {ActivityStatus.CANCELLED}:
        with pytest.raises(activities.IllegalActivityTransition):
            activities.transition(activity, target)


def test_an_awarded_attendance_is_final(people, clock):
    community, organizer, resident = people
    activity = make_activity(community, organizer, now=clock.now)
    attendance, _ = attending.check_in(
        activity, Attendee(resident, CheckInMethod.ORGANIZER), actor=organizer
    )
    finalization.finalize(activity, actor=organizer)
    for target in set(AttendanceStatus) - {AttendanceStatus.AWARDED}:
        with pytest.raises(attending.IllegalAttendanceTransition):
            attending.transition_attendance(attendance, target)


@pytest.mark.parametrize(
    ("arrive", "leave", "points"),
    [
        (0, 60, 10),
        (0, 59, 9),  # 59 minutes: floor(59 * 10 / 60) = 9
        (-30, 30, 5),  # before the start does not count
        (90, 400, 25),  # after the end does not count: 90..240 = 150 min = 25
        (0, 240, 30),  # 40 points, capped at max_points
        (10, 10, 0),
        (250, 300, 0),  # wholly after the end
    ],
)
def test_per_hour_points(people, clock, arrive, leave, points):
    community, organizer, resident = people
    activity = make_activity(
        community, organizer, now=clock.now, starts=timedelta(hours=-5), hours=4, **per_hour()
    )
    attendance = activities.Attendance(
        checked_in_at=activity.starts_at + timedelta(minutes=arrive),
        checked_out_at=activity.starts_at + timedelta(minutes=leave),
    )
    assert finalization.attendance_points(activity, attendance) == points
    attendance.checked_out_at = None
    assert finalization.attendance_points(activity, attendance) is None


def test_fixed_points_do_not_need_a_check_out(people, clock):
    community, organizer, _resident = people
    activity = make_activity(community, organizer, now=clock.now, points=35)
    attendance = activities.Attendance(checked_in_at=clock.now, checked_out_at=None)
    assert finalization.attendance_points(activity, attendance) == 35


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"points": 0}, "points"), ({"capacity": 0}, "capacity"), ({"title": " "}, "title")],
)
def test_create_activity_guards_what_the_schema_also_checks(people, clock, fields, field):
    community, organizer, _resident = people
    with pytest.raises(InvalidInput) as refused:
        make_activity(community, organizer, now=clock.now, **fields)
    assert field in refused.value.extra["errors"]["json"]


def test_sign_up_and_withdraw_only_while_open(people, clock):
    community, organizer, resident = people
    activity = make_activity(community, organizer, now=clock.now)
    attending.withdraw(activity, resident)  # nothing to give back: nothing happens
    activities.close(activity)
    with pytest.raises(activities.IllegalActivityTransition):
        attending.sign_up(activity, resident)
    ended = make_activity(community, organizer, now=clock.now, starts=timedelta(hours=-3), hours=2)
    with pytest.raises(activities.IllegalActivityTransition):
        attending.sign_up(ended, resident)


def test_no_check_in_or_out_once_cancelled_or_finalized(people, clock):
    community, organizer, resident = people
    cancelled = make_activity(community, organizer, now=clock.now)
    activities.cancel(cancelled)
    with pytest.raises(attending.CheckInClosed):
        attending.record_check_in(cancelled, actor=organizer, member_id=resident.id)
    finalized = make_activity(community, organizer, now=clock.now)
    attending.record_check_in(finalized, actor=organizer, member_id=resident.id)
    finalization.finalize(finalized, actor=organizer)
    with pytest.raises(attending.CheckInClosed):
        attending.record_check_out(finalized, actor=organizer, member_id=resident.id)


def test_reviewing_attendances(people, clock):
    community, organizer, resident = people
    activity = make_activity(community, organizer, now=clock.now)
    attendance, _ = attending.record_check_in(activity, actor=organizer, member_id=resident.id)
    with pytest.raises(InvalidInput):
        attending.exclude(attendance, reason="   ", actor=organizer)
    assert attending.reinstate(attendance).status == AttendanceStatus.CHECKED_IN
    with pytest.raises(InvalidInput) as unknown:
        attending.record_check_in(activity, actor=organizer, member_id=999_999_999)
    assert "member_id" in unknown.value.extra["errors"]["json"]


def test_a_qr_that_is_not_a_check_in_link_is_refused(people, clock):
    community, organizer, resident = people
    activity = make_activity(community, organizer, now=clock.now)
    for payload in ("https://example.com/activities/1/other?code=ABCDEF", "/activities/1/check-in"):
        with pytest.raises(checkin_codes.CheckInCodeInvalid):
            attending.record_check_in(activity, actor=resident, code=payload)
