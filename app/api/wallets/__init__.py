"""A member's wallet: balance and history."""

from ... import wallets
from ...authz import requires
from ...pagination import PageArgs, page, page_schema
from ..blueprint import Blueprint
from .schemas import BalanceOut, HistoryLineOut

blp = Blueprint("wallets", __name__, url_prefix="/api/v1", description="Balances and history")


@blp.route("/members/<int:member_id>/balance", methods=["GET"])
@requires("member.read")
@blp.response(200, BalanceOut)
def balance(member):
    """The member's points and their value in fen."""
    return wallets.balance(member)


@blp.route("/members/<int:member_id>/transactions", methods=["GET"])
@requires("member.read")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(HistoryLineOut, "HistoryPage"))
def transactions(args, member):
    """The member's ledger history, newest first, with the running balance."""
    return page(lambda before, limit: wallets.history(member, before=before, limit=limit), args)
