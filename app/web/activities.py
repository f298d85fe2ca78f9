"""Pages for earning points: activities, signing up, check-in, one's code and history.

The organizers' pages are :mod:`app.web.organizing`.

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
    Member,
    PointsRule,
    utcnow,
)

from .. import activities, checkin_codes, earnings, qr, wallets
from .. import attendance as attending
from ..communities import wallet_of
from ..earnings import LOCAL_TZ, Period, earnings_of
from ..extensions import db
from ..pagination import page
from ..problems import Conflict, InvalidInput, NotFound, Problem
from . import blp
from .activity_forms import ActionForm, CodeForm
from .earning_labels import (
    ACTIVITY_STATUS_LABELS,
    ATTENDANCE_STATUS_LABELS,
    CATEGORY_LABELS,
    KIND_LABELS,
    problem_text,
)
from .pages import page_action

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
        own_activity=actor.is_member(activity.community_id, activity.created_by_id),
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
