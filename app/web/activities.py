"""Pages for earning points: activities, check-in, the organizer's screen, finalizing.

Each view states its action from :data:`app.authz.POLICY`, as the API's do, and
calls the same domain functions. A refused change (a wrong code, a full
activity) is rolled back and said in the reader's language on the page.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from flask import (
    Response,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from models import (
    Activity,
    ActivityStatus,
    Attendance,
    AttendanceStatus,
    Community,
    Member,
    PointsRule,
    utcnow,
)

from .. import activities, checkin_codes, earnings, finalization, qr, wallets
from .. import attendance as attending
from ..communities import wallet_of
from ..earnings import LOCAL_TZ, Period, earnings_of
from ..extensions import db
from ..pagination import page
from ..problems import Conflict, InvalidInput, NotFound, Problem
from . import blp
from .activity_forms import ActionForm, ActivityForm, CodeForm, ExcludeForm, MemberCodeForm
from .earning_labels import (
    ACTIVITY_STATUS_LABELS,
    ATTENDANCE_STATUS_LABELS,
    CATEGORY_LABELS,
    KIND_LABELS,
    problem_text,
)
from .pages import once, page_action

T = TypeVar("T")

#: Refusals a page explains in place; anything else is the error page.
EXPLAINED = (Conflict, InvalidInput)
#: Lines per page of the wallet history.
HISTORY_PAGE = 20
UPCOMING_SHOWN = 50


def refused(problem: Problem) -> None:
    """Undo whatever the refused change flushed, and say why on the next page."""
    db.session.rollback()
    flash(str(problem_text(problem)), "error")


def attempt(change: Callable[[], T], said: Callable[[T], str]) -> T | None:
    """Make a change and say so on the next page, or say why it was refused."""
    try:
        result = change()
    except EXPLAINED as problem:
        refused(problem)
        return None
    flash(said(result), "success")
    return result


@blp.app_template_filter("category_label")
def category_label(category) -> str:
    return CATEGORY_LABELS[category]


@blp.app_template_filter("activity_status_label")
def activity_status_label(status) -> str:
    return ACTIVITY_STATUS_LABELS[status]


#: A published activity's phase, which its status alone does not tell.
PHASE_LABELS = {
    "open": _l("Open for sign-up"),
    "under-way": _l("Under way"),
    "ended": _l("Ended: points not given yet"),
}


def phase(activity: Activity, now=None) -> str | None:
    """``open`` before a published activity starts, ``under-way`` while it runs, ``ended``
    after; None for any other status (its label says enough)."""
    if activity.status != ActivityStatus.PUBLISHED:
        return None
    now = now or utcnow()
    if now < activity.starts_at:
        return "open"
    return "under-way" if now <= activity.ends_at else "ended"


@blp.app_template_filter("activity_badge")
def activity_badge(activity: Activity) -> tuple[str, str]:
    """The badge's class and words: the phase of a published activity, else its status."""
    current = phase(activity)
    if current is None:
        return f"status-{activity.status.value}", activity_status_label(activity.status)
    return f"phase-{current}", PHASE_LABELS[current]


def promised(activity: Activity) -> int:
    """The most one attendance can earn: the fixed points, or the per-hour maximum."""
    return activity.points if activity.points_rule == PointsRule.FIXED else activity.max_points


@blp.app_template_filter("attendance_status_label")
def attendance_status_label(status) -> str:
    return ATTENDANCE_STATUS_LABELS[status]


@blp.app_template_filter("kind_label")
def kind_label(kind: str) -> str:
    label = KIND_LABELS.get(kind)
    return str(label) if label is not None else ""


@blp.app_template_filter("local_clock")
def local_clock(moment) -> str:
    return format_datetime(moment, "HH:mm")


@blp.app_template_filter("time_range_ends")
def time_range_ends(activity: Activity) -> tuple[str, str]:
    """``("2026-11-21 09:00", "11:30")``: the end's date only when it is another day."""
    start, end = (t.astimezone(LOCAL_TZ) for t in (activity.starts_at, activity.ends_at))
    end_format = "HH:mm" if start.date() == end.date() else "yyyy-MM-dd HH:mm"
    return format_datetime(start, "yyyy-MM-dd HH:mm"), format_datetime(end, end_format)


@blp.app_template_filter("time_range")
def time_range(activity: Activity) -> str:
    """``2026-11-21 09:00 – 11:30``."""
    return " – ".join(time_range_ends(activity))


def _actor() -> Member:
    return g.actor


# --- residents ------------------------------------------------------------------------------


@blp.get("/activities")
@page_action("activity.read")
def activity_list():
    actor = _actor()
    community = actor.community
    if community is None:
        raise NotFound(_("Platform admins belong to no community; open a community's activities."))
    organizing = organizer_groups(community, actor) if activities.manages(actor) else None
    upcoming = []
    if organizing is None:
        upcoming = db.session.scalars(
            activities.listing(community, actor, upcoming=True)
            .order_by(Activity.starts_at, Activity.id)
            .limit(UPCOMING_SHOWN)
        ).all()
    signed_up = set(
        db.session.scalars(
            sa.select(activities.ActivitySignup.activity_id).where(
                activities.ActivitySignup.member_id == actor.id
            )
        )
    )
    mine = db.session.scalars(
        attending.attendances_of_member(actor).order_by(Attendance.id.desc()).limit(50)
    ).all()
    now = utcnow()
    earned = earnings_of(actor, Period.containing(now)).points_earned if wallet_of(actor) else None
    return render_template(
        "activities/list.html",
        organizing=organizing,
        upcoming=upcoming,
        signed_up=signed_up,
        mine=mine,
        earned_this_month=earned,
        cap=community.monthly_earning_cap,
        room=earnings.room_this_month(actor) if wallet_of(actor) else None,
    )


@dataclass(frozen=True)
class OrganizerGroups:
    """An organizer's activities by what they need next; each activity in one group."""

    under_way: list[Activity]
    to_finalize: list[Activity]
    upcoming: list[Activity]
    drafts: list[Activity]

    def __bool__(self) -> bool:
        return any((self.under_way, self.to_finalize, self.upcoming, self.drafts))


def organizer_groups(community, actor: Member) -> OrganizerGroups:
    listed = db.session.scalars(
        activities.listing(community, actor)
        .where(
            Activity.status.in_(
                [ActivityStatus.DRAFT, ActivityStatus.PUBLISHED, ActivityStatus.CLOSED]
            )
        )
        .order_by(Activity.starts_at, Activity.id)
    ).all()
    now = utcnow()
    groups = OrganizerGroups([], [], [], [])
    for activity in listed:
        if activity.status == ActivityStatus.DRAFT:
            groups.drafts.append(activity)
        elif activity.status == ActivityStatus.CLOSED or phase(activity, now) == "ended":
            groups.to_finalize.append(activity)
        elif phase(activity, now) == "under-way":
            groups.under_way.append(activity)
        else:
            groups.upcoming.append(activity)
    return groups


@blp.get("/activities/<int:activity_id>")
@page_action("activity.read")
def activity_page(activity):
    actor = _actor()
    detail = activities.detail(activity, actor)
    return render_template(
        "activities/detail.html",
        detail=detail,
        activity=activity,
        code_form=CodeForm(),
        action_form=ActionForm(),
        check_in_open=_check_in_open(activity),
        own_activity=activity.created_by_id == actor.id,
        room=earnings.room_this_month(actor) if wallet_of(actor) else None,
    )


def _check_in_open(activity: Activity) -> bool:
    now = utcnow()
    return (
        activity.status == ActivityStatus.PUBLISHED
        and activity.starts_at - attending.CHECK_IN_OPENS_BEFORE <= now <= activity.ends_at
    )


@blp.post("/activities/<int:activity_id>/signup")
@page_action("activity.sign_up")
def sign_up(activity):
    attempt(
        lambda: attending.sign_up(activities.visible(activity, _actor()), _actor()),
        lambda _signup: _("You are signed up. See you there!"),
    )
    return redirect(url_for("web.activity_page", activity_id=activity.id))


@blp.post("/activities/<int:activity_id>/withdraw")
@page_action("activity.sign_up")
def withdraw(activity):
    attempt(
        lambda: attending.withdraw(activity, _actor()),
        lambda _none: _("Your place is given back."),
    )
    return redirect(url_for("web.activity_page", activity_id=activity.id))


@blp.route("/activities/<int:activity_id>/check-in", methods=["GET", "POST"])
@page_action("attendance.check_in")
def check_in(activity):
    """Where the QR on the organizer's screen leads, and where a typed code is sent."""
    activities.visible(activity, _actor())
    form = CodeForm()
    if request.method == "GET" and request.args.get("code"):
        form.code.data = request.args["code"]
    error = None
    if form.validate_on_submit():
        try:
            attendance, created = attending.record_check_in(
                activity, actor=_actor(), code=form.code.data
            )
        except EXPLAINED as problem:
            db.session.rollback()
            error = problem_text(problem)
        else:
            if created:
                flash(_("You are checked in. Thank you for volunteering!"), "success")
            else:
                flash(_("You were already checked in."), "success")
            return redirect(url_for("web.activity_page", activity_id=activity.id))
    status = 422 if error or form.errors else 200
    page = render_template("activities/check_in.html", activity=activity, form=form, error=error)
    return page, status


@blp.post("/activities/<int:activity_id>/check-out")
@page_action("attendance.check_in")
def check_out(activity):
    form = CodeForm()
    if form.validate_on_submit():
        attempt(
            lambda: attending.record_check_out(activity, actor=_actor(), code=form.code.data),
            lambda _attendance: _("You are checked out. Thank you!"),
        )
    else:
        flash(_("Please type the code on the organizer's screen."), "error")
    return redirect(url_for("web.activity_page", activity_id=activity.id))


@blp.get("/my-code")
@login_required
def my_code():
    """The resident's member code, for the organizer to scan."""
    code = checkin_codes.member_code_of(current_user._get_current_object())
    return render_template("activities/my_code.html", code=code)


@blp.get("/my-code.svg")
@login_required
def my_code_svg():
    code = checkin_codes.member_code_of(current_user._get_current_object())
    return Response(qr.svg(code.code), mimetype=qr.SVG, headers={"Cache-Control": "private"})


@blp.get("/history")
@login_required
def history():
    """The whole wallet history, newest first, a page at a time."""
    member = current_user._get_current_object()
    lines = page(
        lambda before, limit: wallets.history(member, before=before, limit=limit),
        {"cursor": request.args.get("cursor"), "limit": HISTORY_PAGE},
    )
    return render_template(
        "activities/history.html",
        balance=wallets.balance(member),
        history=lines["items"],
        next_cursor=lines["next_cursor"],
    )


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
