"""Tokens and the caller: ``POST /auth/token``, ``DELETE /auth/token``, ``GET /me``."""

from flask_babel import gettext as _

from ... import auth, ratelimit, wallets
from ...authz import requires
from ...communities import wallet_of
from ...extensions import db
from ...problems import Unauthorized
from ..blueprint import Blueprint
from .schemas import MeSchema, TokenRequest, TokenResponse

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Sign-in and the caller")


@blp.route("/auth/token", methods=["POST"])
@blp.arguments(TokenRequest)
@blp.response(201, TokenResponse)
@blp.doc(security=[])
def create_token(credentials):
    """Exchange a username and password for a bearer token."""
    username = credentials["username"]
    ratelimit.check_sign_in(username)
    member = auth.authenticate(username, credentials["password"])
    if member is None:
        ratelimit.sign_in_failed(username)
        raise Unauthorized(_("Unknown username or wrong password."))
    ratelimit.sign_in_succeeded(username)
    secret, token = auth.issue_token(member)
    db.session.flush()
    return {"token": secret, "expires_at": token.expires_at, "user": member}


@blp.route("/auth/token", methods=["DELETE"])
@requires("me.read")
@blp.response(204)
def revoke_token():
    """Revoke the bearer token this request was made with."""
    auth.revoke_token(auth.bearer_secret())


@blp.route("/me", methods=["GET"])
@requires("me.read")
@blp.response(200, MeSchema)
def me():
    """The caller: roles, community and wallet."""
    member = auth.api_actor()
    wallet = None
    if wallet_of(member) is not None:
        wallet = wallets.balance(member)
    return {
        **{f: getattr(member, f) for f in ("id", "username", "display_name", "role")},
        "community_id": member.community_id,
        "merchant_id": member.merchant_id,
        "community": member.community,
        "wallet": wallet,
    }
