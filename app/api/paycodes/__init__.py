"""A resident's pay-code (付款码): the current code, and resetting its secret."""

from ... import paycodes
from ...authz import requires
from ..blueprint import Blueprint
from .schemas import PayCodeOut

blp = Blueprint("paycodes", __name__, url_prefix="/api/v1", description="Pay-codes")

NO_STORE = {"Cache-Control": "no-store"}


@blp.route("/members/<int:member_id>/pay-code", methods=["GET"])
@requires("paycode.show")
@blp.response(200, PayCodeOut)
def pay_code(member):
    """The member's current pay-code; fetch the next one at ``refresh_at``."""
    return paycodes.pay_code(member), 200, NO_STORE


@blp.route("/members/<int:member_id>/pay-code/reset", methods=["POST"])
@requires("paycode.reset")
@blp.response(204)
def reset(member):
    """Give the member a new pay-code secret: every earlier code stops working.

    For a lost or shared phone; a fund admin may do it for a resident. The
    member fetches the new code with ``GET .../pay-code``.
    """
    paycodes.reset_pay_code(member)
