"""Finalizing an activity (design.md §4): awarding each confirmed attendance once.

Finalizing confirms every attendance the organizer has not excluded and
awards it once: its points (fixed, or per hour of the recorded times inside
the activity's own hours, up to ``max_points``) go from issuance to the
member's wallet as one ``ATTENDANCE_AWARD`` transaction referenced
``attendance:{id}``, which the database keeps unique. The community's monthly
earning cap (:mod:`app.earnings`) can cut an award; the attendance then keeps
both numbers and is marked capped. Finalizing again does nothing.

It takes the activity's row lock, like sign-ups and check-ins
(:mod:`app.attendance`), then the balances it moves, so the cap sees every
earlier award to the same wallets.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from models import (
    Account,
    AccountKind,
    Activity,
    ActivitySignup,
    ActivityStatus,
    Attendance,
    AttendanceStatus,
    Community,
    Member,
    PointsRule,
    TransactionKind,
    utcnow,
)

from . import earnings, ledger
from .activities import ACTIVITY, IllegalActivityTransition, lock, transition
from .attendance import transition_attendance
from .communities import wallet_of
from .extensions import db
from .problems import Conflict

#: Attendances still waiting for the organizer's decision at finalization.
OPEN_ATTENDANCE = (AttendanceStatus.CHECKED_IN, AttendanceStatus.CHECKED_OUT)


class AttendancesNotCheckedOut(Conflict):
    slug = "attendances-not-checked-out"
    title = _l("Attendances without a check-out")
    message = _l("Some people have not checked out yet. Check them out or leave them out first.")


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
    lock(activity)
    if activity.status == ActivityStatus.FINALIZED:
        return Finalization(activity)
    if not ACTIVITY.may(activity.status, ActivityStatus.FINALIZED):
        raise IllegalActivityTransition(
            _(
                "Activity %(id)s is %(status)s; it cannot be finalized.",
                id=activity.id,
                status=activity.status.value,
            )
        )
    attendances = open_attendances(activity)
    still_in = [a for a in attendances if attendance_points(activity, a) is None]
    if still_in:
        raise AttendancesNotCheckedOut(
            ngettext(
                "%(num)s attendance of this per-hour activity has no check-out; "
                "check it out or exclude it first.",
                "%(num)s attendances of this per-hour activity have no check-out; "
                "check them out or exclude them first.",
                len(still_in),
            ),
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
