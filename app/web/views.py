"""Sign-in, the language choice and the home page."""

import sqlalchemy as sa
from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from models import Award, AwardStatus, Coupon, Member, Merchant, Role

from .. import (
    activities,
    auth,
    communities,
    coupons,
    earnings,
    offers,
    ratelimit,
    redemptions,
    wallets,
)
from ..communities import wallet_of
from ..extensions import db
from . import blp
from .activities import organizer_groups
from .forms import LoginForm

#: Wallet lines shown on the home page, newest first.
HOME_HISTORY_LINES = 10


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None.

    ``next`` comes from the address bar, so it must never send anyone to
    another site. A path with one leading slash names no scheme and no host;
    ``//``, a backslash (browsers read it as a slash) or a control character
    (browsers strip it) could turn it into one that does.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or not target.isprintable():
        return None
    return target


@blp.get("/")
def index():
    return redirect(url_for("web.home" if current_user.is_authenticated else "web.login"))


@blp.route("/login", methods=["GET", "POST"])
def login():
    next_path = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_path or url_for("web.home"))
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        username = form.username.data
        ratelimit.check_sign_in(username)
        member = auth.authenticate(username, form.password.data)
        if member is not None:
            ratelimit.sign_in_succeeded(username)
            login_user(member)
            return redirect(next_path or url_for("web.home"))
        ratelimit.sign_in_failed(username)
        failed = True
    return render_template("login.html", form=form, next_path=next_path, failed=failed)


@blp.post("/logout")
def logout():
    logout_user()
    return redirect(url_for("web.login"))


@blp.get("/lang/<code>")
def choose_language(code: str):
    """Remember the reader's language: in the session, and on the member if signed in."""
    if code not in current_app.config["LANGUAGES"]:
        abort(404)
    session["lang"] = code
    if current_user.is_authenticated:
        current_user.locale = code
    return redirect(safe_next(request.args.get("next")) or url_for("web.index"))


@blp.get("/home")
@login_required
def home():
    """Each role's own start: a resident's points, an organizer's activities, a cashier's
    sales today, a fund admin's console, the platform's overview of communities."""
    member = current_user._get_current_object()
    match member.role:
        case Role.MERCHANT_STAFF:
            return _cashier_home(member)
        case Role.FUND_ADMIN:
            return _console_home(member)
        case Role.PLATFORM_ADMIN:
            return render_template("platform/overview.html", rows=communities.overview())
    wallet = wallet_of(member)
    open_coupons = db.session.scalar(
        sa.select(sa.func.count()).where(
            Coupon.community_id == member.community_id,
            Coupon.member_id == member.id,
            Coupon.status.in_(coupons.OPEN_STATUSES),
        )
    )
    return render_template(
        "home.html",
        member=member,
        balance=wallets.balance(member),
        history=wallets.history(member, before=None, limit=HOME_HISTORY_LINES),
        room=earnings.room_this_month(member),
        open_coupons=open_coupons,
        organizing=organizer_groups(member.community, member)
        if activities.manages(member)
        else None,
        holds_points=wallet.balance != 0 or open_coupons > 0,
    )


#: Today's sales listed on a cashier's home page.
TODAY_SHOWN = 5


def _cashier_home(member: Member):
    merchant = member.merchant
    today = offers.local_today()
    query = redemptions.history_query(merchant, since=today, until=today)
    return render_template(
        "home_cashier.html",
        member=member,
        merchant=merchant,
        totals=redemptions.totals(query),
        latest=redemptions.newest(query, TODAY_SHOWN),
    )


def _console_home(member: Member):
    community = member.community

    def count(model, *where):
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(model)
            .where(model.community_id == community.id, *where)
        )

    return render_template(
        "home_console.html",
        member=member,
        community=community,
        pending=count(
            Award, Award.status == AwardStatus.PENDING, Award.requested_by_id != member.id
        ),
        members=count(Member, Member.active),
        merchants=count(Merchant, Merchant.active),
        open_coupons=count(Coupon, Coupon.status.in_(coupons.OPEN_STATUSES)),
        rate=communities.points_per_yuan_on(community),
    )
