"""Earning points: activities, sign-ups, check-in and check-out, finalization."""

from flask import Response, g

from models import Activity, Attendance

from ... import activities, checkin_codes, earnings, finalization, qr
from ... import attendance as attending
from ...authz import requires
from ...idempotency import idempotent
from ...pagination import PageArgs, newest_first, page, page_schema
from ..blueprint import Blueprint
from .schemas import (
    ActivityDetailOut,
    ActivityIn,
    ActivityListArgs,
    ActivityOut,
    AttendanceIn,
    AttendanceOut,
    CheckInCodeOut,
    EarningRules,
    ExcludeIn,
    FinalizeOut,
    MemberAttendanceOut,
    MemberCodeOut,
    SignupOut,
    WindowArgs,
)

blp = Blueprint("activities", __name__, url_prefix="/api/v1", description="Earning points")


def image_doc(mimetype: str) -> dict:
    return {"responses": {"200": {"description": "QR image", "content": {mimetype: {}}}}}


png_doc, svg_doc = image_doc(qr.PNG), image_doc(qr.SVG)


def qr_response(payload: str, fmt: str, *, cache: str) -> Response:
    body, mimetype = qr.image(payload, fmt)
    return Response(body, mimetype=mimetype, headers={"Cache-Control": cache})


@blp.route("/communities/<slug>/earning-rules", methods=["GET"])
@requires("community.read")
@blp.response(200, EarningRules)
def earning_rules(community):
    """The community's earning rules: the monthly cap per member."""
    return community


@blp.route("/communities/<slug>/earning-rules", methods=["PUT"])
@requires("earning_rules.update")
@blp.arguments(EarningRules)
@blp.response(200, EarningRules)
def set_earning_rules(data, community):
    """Set the monthly earning cap (fund admins); null for no cap."""
    return earnings.set_monthly_cap(community, data["monthly_earning_cap"])


@blp.route("/communities/<slug>/activities", methods=["POST"])
@requires("activity.create")
@blp.arguments(ActivityIn)
@blp.response(201, ActivityOut)
def create_activity(data, community):
    """Create an activity (a draft until published)."""
    return activities.create_activity(community, actor=g.actor, **data)


@blp.route("/communities/<slug>/activities", methods=["GET"])
@requires("activity.read")
@blp.arguments(ActivityListArgs, location="query")
@blp.response(200, page_schema(ActivityOut, "ActivityPage"))
def list_activities(args, community):
    """Activities newest first; ``?upcoming=true`` for those residents can still join."""
    query = activities.listing(
        community, g.actor, status=args.get("status"), upcoming=args.get("upcoming", False)
    )
    return page(newest_first(query, Activity.id), args)


@blp.route("/activities/<int:activity_id>", methods=["GET"])
@requires("activity.read")
@blp.response(200, ActivityDetailOut)
def get_activity(activity):
    """One activity, with the places taken and whether the caller signed up."""
    return activities.detail(activity, g.actor)


@blp.route("/activities/<int:activity_id>/publish", methods=["POST"])
@requires("activity.manage")
@blp.response(200, ActivityOut)
def publish(activity):
    """Publish a draft: residents see it and may sign up."""
    return activities.publish(activity)


@blp.route("/activities/<int:activity_id>/close", methods=["POST"])
@requires("activity.manage")
@blp.response(200, ActivityOut)
def close(activity):
    """End check-in; attendances can still be reviewed before finalizing."""
    return activities.close(activity)


@blp.route("/activities/<int:activity_id>/cancel", methods=["POST"])
@requires("activity.manage")
@blp.response(200, ActivityOut)
def cancel(activity):
    """Cancel the activity; nobody is awarded."""
    return activities.cancel(activity)


@blp.route("/activities/<int:activity_id>/finalize", methods=["POST"])
@requires("activity.finalize")
@idempotent
@blp.response(200, FinalizeOut)
def finalize(activity):
    """Confirm every attendance not excluded and award each once.

    Finalizing a finalized activity does nothing and reports zero awarded.
    """
    return finalization.finalize(activity, actor=g.actor)


@blp.route("/activities/<int:activity_id>/check-in-code", methods=["GET"])
@requires("activity.check_in_code")
@blp.response(200, CheckInCodeOut)
def check_in_code(activity):
    """The rotating check-in code for the organizer's screen, and its QR payload."""
    code = attending.check_in_code(activity)
    return checkin_codes.display(activity, code)


def check_in_qr(activity, window: int | None, fmt: str) -> Response:
    code = attending.check_in_code(activity, window)
    return qr_response(checkin_codes.checkin_url(activity, code.code), fmt, cache="no-store")


@blp.route("/activities/<int:activity_id>/check-in-qr.png", methods=["GET"])
@requires("activity.check_in_code")
@blp.arguments(WindowArgs, location="query")
@blp.doc(**png_doc)
def check_in_qr_png(args, activity):
    """The check-in QR as PNG, for the current (or ``?window=``) code."""
    return check_in_qr(activity, args.get("window"), "png")


@blp.route("/activities/<int:activity_id>/check-in-qr.svg", methods=["GET"])
@requires("activity.check_in_code")
@blp.arguments(WindowArgs, location="query")
@blp.doc(**svg_doc)
def check_in_qr_svg(args, activity):
    """The check-in QR as SVG, for the current (or ``?window=``) code."""
    return check_in_qr(activity, args.get("window"), "svg")


@blp.route("/activities/<int:activity_id>/signup", methods=["POST"])
@requires("activity.sign_up")
@blp.response(201, SignupOut)
@blp.alt_response(200, schema=SignupOut, description="Already signed up")
def sign_up(activity):
    """Take a place in the activity; signing up again returns the first sign-up."""
    signup, created = attending.sign_up(activities.visible(activity, g.actor), g.actor)
    return signup, 201 if created else 200


@blp.route("/activities/<int:activity_id>/signup", methods=["DELETE"])
@requires("activity.sign_up")
@blp.response(204)
def withdraw(activity):
    """Give the place back."""
    attending.withdraw(activity, g.actor)


@blp.route("/activities/<int:activity_id>/attendances", methods=["POST"])
@requires("attendance.check_in")
@blp.arguments(AttendanceIn)
@blp.response(201, AttendanceOut)
@blp.alt_response(200, schema=AttendanceOut, description="Already checked in")
def check_in(data, activity):
    """Check in: ``{code}`` for yourself, or ``{member_id}`` / ``{member_code}`` as organizer.

    Safe to retry: checking in again returns the first attendance with 200.
    """
    attendance, created = attending.record_check_in(activity, actor=g.actor, **data)
    return attendance, 201 if created else 200


@blp.route("/activities/<int:activity_id>/attendances", methods=["PATCH"])
@requires("attendance.check_in")
@blp.arguments(AttendanceIn)
@blp.response(200, AttendanceOut)
def check_out(data, activity):
    """Check out, with the same body as check-in; again keeps the first time."""
    return attending.record_check_out(activity, actor=g.actor, **data)


@blp.route("/activities/<int:activity_id>/attendances", methods=["GET"])
@requires("attendance.list")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(AttendanceOut, "AttendancePage"))
def list_attendances(args, activity):
    """Everyone checked in, newest first."""
    return page(newest_first(attending.attendance_list(activity), Attendance.id), args)


@blp.route("/attendances/<int:attendance_id>/exclude", methods=["POST"])
@requires("attendance.review")
@blp.arguments(ExcludeIn)
@blp.response(200, AttendanceOut)
def exclude(data, attendance):
    """Leave an attendance out of the award, with a reason."""
    return attending.exclude(attendance, reason=data["reason"], actor=g.actor)


@blp.route("/attendances/<int:attendance_id>/reinstate", methods=["POST"])
@requires("attendance.review")
@blp.response(200, AttendanceOut)
def reinstate(attendance):
    """Undo an exclusion."""
    return attending.reinstate(attendance)


@blp.route("/members/<int:member_id>/attendances", methods=["GET"])
@requires("member.read")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(MemberAttendanceOut, "MemberAttendancePage"))
def member_attendances(args, member):
    """The activities the member attended, newest first, with the points each gave."""
    return page(newest_first(attending.attendances_of_member(member), Attendance.id), args)


@blp.route("/members/<int:member_id>/code", methods=["GET"])
@requires("member.code")
@blp.response(200, MemberCodeOut)
def member_code(member):
    """The member's own code, for an organizer to scan at check-in."""
    return checkin_codes.member_code_of(member)


def member_code_qr(member, fmt: str) -> Response:
    code = checkin_codes.member_code_of(member)
    return qr_response(code.code, fmt, cache="private, max-age=300")


@blp.route("/members/<int:member_id>/code.png", methods=["GET"])
@requires("member.code")
@blp.doc(**png_doc)
def member_code_png(member):
    """The member's code as a PNG QR image."""
    return member_code_qr(member, "png")


@blp.route("/members/<int:member_id>/code.svg", methods=["GET"])
@requires("member.code")
@blp.doc(**svg_doc)
def member_code_svg(member):
    """The member's code as an SVG QR image."""
    return member_code_qr(member, "svg")
