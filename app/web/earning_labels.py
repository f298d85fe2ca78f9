"""Words the earning pages show for codes the domain uses: categories, states, errors."""

from flask_babel import lazy_gettext as _l

from models import ActivityCategory, ActivityStatus, AttendanceStatus, TransactionKind

from ..problems import Problem

CATEGORY_LABELS = {
    ActivityCategory.ENVIRONMENT: _l("Environment cleanup"),
    ActivityCategory.GREENING: _l("Greening"),
    ActivityCategory.MEDIATION: _l("Dispute mediation"),
    ActivityCategory.ELDER_CARE: _l("Elder care"),
    ActivityCategory.SAFETY_PATROL: _l("Safety patrol"),
    ActivityCategory.CULTURE: _l("Culture"),
    ActivityCategory.OTHER: _l("Other"),
}

ACTIVITY_STATUS_LABELS = {
    ActivityStatus.DRAFT: _l("Draft"),
    ActivityStatus.PUBLISHED: _l("Open"),
    ActivityStatus.CLOSED: _l("Check-in ended"),
    ActivityStatus.CANCELLED: _l("Cancelled"),
    ActivityStatus.FINALIZED: _l("Points awarded"),
}

ATTENDANCE_STATUS_LABELS = {
    AttendanceStatus.CHECKED_IN: _l("Checked in"),
    AttendanceStatus.CHECKED_OUT: _l("Checked out"),
    AttendanceStatus.EXCLUDED: _l("Not counted"),
    AttendanceStatus.AWARDED: _l("Points awarded"),
}

#: What a wallet history line was for; kinds without a label show the memo alone.
KIND_LABELS = {
    TransactionKind.AWARD: _l("Award"),
    TransactionKind.DEDUCTION: _l("Deduction"),
    TransactionKind.ATTENDANCE_AWARD: _l("Activity"),
    TransactionKind.REVERSAL: _l("Correction"),
    TransactionKind.REDEMPTION: _l("Spent at a shop"),
    TransactionKind.COUPON_ISSUE: _l("Coupon issued"),
    TransactionKind.COUPON_EXPIRY: _l("Coupon expired"),
    TransactionKind.COUPON_REVOCATION: _l("Coupon withdrawn"),
}

#: A refused request, said for the person at the page (the API's detail is English).
PROBLEM_TEXTS = {
    "check-in-code-invalid": _l(
        "That code is not this activity's. Please check the code on the organizer's screen."
    ),
    "check-in-code-expired": _l(
        "That code has expired. Please type the code the organizer's screen shows now."
    ),
    "check-in-closed": _l("Check-in for this activity is not open."),
    "activity-full": _l("Sorry, this activity is full."),
    "not-checked-in": _l("There is no check-in to check out from."),
    "illegal-activity-transition": _l("This cannot be done in the activity's present state."),
    "illegal-attendance-transition": _l("This cannot be done to this attendance now."),
    "member-code-invalid": _l("That is not a valid member code of this community."),
    "attendances-not-checked-out": _l(
        "Some people have not checked out yet. Check them out or leave them out first."
    ),
    "invalid-input": _l("Please check what you entered."),
}


def problem_text(problem: Problem) -> str:
    return PROBLEM_TEXTS.get(problem.slug) or PROBLEM_TEXTS["invalid-input"]
