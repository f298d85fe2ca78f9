"""Words the earning pages show for codes the domain uses: categories, states, errors."""

from flask_babel import lazy_gettext as _l

from models import ActivityStatus, AttendanceStatus, TransactionKind

from ..activities import CATEGORY_LABELS
from ..problems import Problem

__all__ = ["CATEGORY_LABELS"]

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


def problem_text(problem: Problem) -> str:
    """A refused request, said for the person at the page: its type's message."""
    return problem.shown
