"""Sign-in, the language choice and the home page."""

from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .. import auth, ratelimit, wallets
from ..communities import wallet_of
from . import blp
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
    member = current_user._get_current_object()
    if wallet_of(member) is None:
        return render_template("home.html", member=member, balance=None, history=())
    return render_template(
        "home.html",
        member=member,
        balance=wallets.balance(member),
        history=wallets.history(member, before=None, limit=HOME_HISTORY_LINES),
    )
