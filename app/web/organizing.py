"""Organizers' pages: the activity form, the rotating check-in screen, the live attendance
list and finalizing, which lists what each person will get before it awards anything."""

from dataclasses import dataclass

import sqlalchemy as sa
from flask import (
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from models import (
    Activity,
    ActivityStatus,
    Attendance,
    AttendanceStatus,
    Community,
    Member,
    PointsRule,
)

from .. import activities, checkin_codes, earnings, finalization, qr
from .. import attendance as attending
from ..earnings import LOCAL_TZ
from ..extensions import db
from ..problems import InvalidInput, Problem
from . import blp
from .activities import _actor, activity_status_label, attempt
from .activity_forms import ActionForm, ActivityForm, ExcludeForm, MemberCodeForm
from .pages import once, page_action

# --- organizers -----------------------------------------------------------------------------


@blp.get("/activities/new")
@page_action("activity.organize")
def new_activity():
    return render_template("activities/form.html", form=ActivityForm())


@blp.post("/activities/new")
@page_action("activity.create")
@once
def create_activity():
    form = ActivityForm()
    if form.validate_on_submit():
        try:
            activity = activities.create_activity(
                _actor().community, actor=_actor(), **form.domain_values(LOCAL_TZ)
            )
        except InvalidInput as problem:
            _field_errors(form, problem)
        else:
            if request.form.get("publish"):
                activities.publish(activity)
            flash(_("The activity is saved."), "success")
            return redirect(url_for("web.activity_page", activity_id=activity.id))
    return render_template("activities/form.html", form=form), 422


def _field_errors(form: ActivityForm, problem: Problem) -> None:
    """Put a domain refusal next to the field it is about."""
    fields = (problem.extra.get("errors") or {}).get("json") or {}
    messages = {
        "ends_at": _("The activity must end after it starts."),
        "max_points": _("With the per-hour rule, give the most points for one attendance."),
    }
    for field in form:
        if field.name in fields:
            field.errors = [*field.errors, messages.get(field.name, _("Please check this field."))]


ACTIVITY_MOVES = {
    "publish": activities.publish,
    "close": activities.close,
    "cancel": activities.cancel,
}


@blp.post("/activities/<int:activity_id>/<any(publish, close, cancel):move>")
@page_action("activity.manage")
def move_activity(activity, move):
    attempt(
        lambda: ACTIVITY_MOVES[move](activity),
        lambda moved: _(
            "The activity is now: %(status)s.", status=activity_status_label(moved.status)
        ),
    )
    return redirect(url_for("web.activity_page", activity_id=activity.id))


@blp.get("/activities/<int:activity_id>/screen")
@page_action("activity.check_in_code")
def screen(activity):
    """The rotating check-in QR, large, for a phone or a TV; it refreshes itself."""
    try:
        shown = checkin_codes.display(activity, attending.check_in_code(activity))
    except attending.CheckInClosed:
        shown = None
    return render_template(
        "activities/screen.html",
        activity=activity,
        shown=shown,
        checked_in=_checked_in(activity),
        window_seconds=checkin_codes.window_seconds(),
    )


def _checked_in(activity: Activity) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(attending.attendance_list(activity).subquery())
    )


@blp.get("/activities/<int:activity_id>/screen.json")
@page_action("activity.check_in_code")
def screen_json(activity):
    """What the screen's script fetches every window: the new code, its QR, the count."""
    shown = checkin_codes.display(activity, attending.check_in_code(activity))
    return jsonify(
        code=shown.code,
        url=shown.url,
        window=shown.window,
        refresh_in=shown.refresh_in,
        qr=url_for("web.screen_qr", activity_id=activity.id, window=shown.window),
        checked_in=_checked_in(activity),
    )


@blp.get("/activities/<int:activity_id>/check-in-qr.svg")
@page_action("activity.check_in_code")
def screen_qr(activity):
    window = request.args.get("window", type=int)
    code = attending.check_in_code(activity, window)
    body = qr.svg(checkin_codes.checkin_url(activity, code.code))
    return Response(body, mimetype=qr.SVG, headers={"Cache-Control": "no-store"})


@dataclass(frozen=True)
class AwardLine:
    """What finalizing now would give one attendance: its points due, and what the
    monthly cap leaves of them."""

    attendance: Attendance
    due: int
    given: int

    @property
    def capped(self) -> bool:
        return self.given < self.due


def award_preview(activity: Activity) -> dict[int, AwardLine]:
    """By attendance id, what :func:`app.finalization.finalize` would award now: the open
    attendances in its order, each cut by the cap as it would be. Per-hour attendances
    still without a check-out are left out (finalizing refuses them)."""
    countable = [
        (attendance, due)
        for attendance in finalization.open_attendances(activity)
        if (due := finalization.attendance_points(activity, attendance)) is not None
    ]
    community = db.session.get(Community, activity.community_id)
    given = earnings.capped_now(
        community, [(attendance.member_id, due) for attendance, due in countable]
    )
    return {
        attendance.id: AwardLine(attendance, due, points)
        for (attendance, due), points in zip(countable, given, strict=True)
    }


@blp.get("/activities/<int:activity_id>/attendance")
@page_action("attendance.list")
def attendance(activity):
    """The live attendance list, with check-in by member code and the way to finalize."""
    rows = db.session.scalars(
        attending.attendance_list(activity).order_by(Attendance.checked_in_at, Attendance.id)
    ).all()
    waiting = db.session.scalars(
        sa.select(Member)
        .join(activities.ActivitySignup, activities.ActivitySignup.member_id == Member.id)
        .where(
            activities.ActivitySignup.activity_id == activity.id,
            Member.id.not_in(
                sa.select(Attendance.member_id).where(Attendance.activity_id == activity.id)
            ),
        )
        .order_by(activities.ActivitySignup.id)
    ).all()
    context = dict(
        activity=activity,
        rows=rows,
        waiting=waiting,
        points_of=lambda row: finalization.attendance_points(activity, row),
        preview=award_preview(activity) if activity.status != ActivityStatus.FINALIZED else {},
        action_form=ActionForm(),
        exclude_form=ExcludeForm(),
        editable=activity.status in (ActivityStatus.PUBLISHED, ActivityStatus.CLOSED),
        per_hour=activity.points_rule == PointsRule.PER_HOUR,
    )
    if request.args.get("partial"):
        return render_template("activities/_attendance_rows.html", **context)
    return render_template("activities/attendance.html", member_form=MemberCodeForm(), **context)


def _back_to_attendance(activity_id: int):
    return redirect(url_for("web.attendance", activity_id=activity_id))


@blp.post("/activities/<int:activity_id>/attendance")
@page_action("attendance.check_in")
def record_attendance(activity):
    """The organizer checks a resident in: a scanned member code, or a signed-up name."""
    form = MemberCodeForm()
    if form.validate_on_submit():
        attempt(lambda: attending.record_check_in(activity, actor=_actor(), **form.who()), _arrived)
    else:
        flash(_("Please scan or type the resident's member code."), "error")
    return _back_to_attendance(activity.id)


def _arrived(result: tuple[Attendance, bool]) -> str:
    attendance, created = result
    name = attendance.member.display_name
    if created:
        return _("%(name)s is checked in.", name=name)
    return _("%(name)s was already checked in.", name=name)


@blp.post("/attendances/<int:attendance_id>/check-out")
@page_action("attendance.review")
def check_out_attendee(attendance):
    """The organizer records someone leaving (who forgot, or has no phone)."""
    attempt(
        lambda: attending.record_check_out(
            attendance.activity, actor=_actor(), member_id=attendance.member_id
        ),
        lambda done: _("%(name)s is checked out.", name=done.member.display_name),
    )
    return _back_to_attendance(attendance.activity_id)


@blp.post("/attendances/<int:attendance_id>/exclude")
@page_action("attendance.review")
def exclude(attendance):
    form = ExcludeForm()
    if form.validate_on_submit():
        attempt(
            lambda: attending.exclude(attendance, reason=form.reason.data, actor=_actor()),
            lambda done: _("%(name)s is left out.", name=done.member.display_name),
        )
    else:
        flash(_("Please give a reason for leaving someone out."), "error")
    return _back_to_attendance(attendance.activity_id)


@blp.post("/attendances/<int:attendance_id>/reinstate")
@page_action("attendance.review")
def reinstate(attendance):
    attempt(
        lambda: attending.reinstate(attendance),
        lambda done: _("%(name)s counts again.", name=done.member.display_name),
    )
    return _back_to_attendance(attendance.activity_id)


@blp.get("/activities/<int:activity_id>/finalize")
@page_action("activity.finalize")
def confirm_finalize(activity):
    """The step before finalizing, which cannot be undone: who gets what, cap included."""
    if activity.status not in (ActivityStatus.PUBLISHED, ActivityStatus.CLOSED):
        return _back_to_attendance(activity.id)
    preview = award_preview(activity)
    open_rows = finalization.open_attendances(activity)
    without_check_out = [row for row in open_rows if row.id not in preview]
    excluded = db.session.scalars(
        attending.attendance_list(activity)
        .where(Attendance.status == AttendanceStatus.EXCLUDED)
        .order_by(Attendance.id)
    ).all()
    lines = list(preview.values())
    return render_template(
        "activities/finalize.html",
        activity=activity,
        lines=lines,
        total=sum(line.given for line in lines),
        without_check_out=without_check_out,
        excluded=excluded,
        action_form=ActionForm(),
    )


@blp.post("/activities/<int:activity_id>/finalize")
@page_action("activity.finalize")
def finalize(activity):
    attempt(
        lambda: finalization.finalize(activity, actor=_actor()),
        lambda result: _(
            "Finalized. Attendances awarded: %(num)s; points in all: %(points)s.",
            num=result.awarded,
            points=f"{result.points_awarded:,}",
        ),
    )
    return _back_to_attendance(activity.id)
