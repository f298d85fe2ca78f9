"""The pages: mobile-first, Simplified Chinese by default, English on request."""

from flask import Blueprint, render_template

blp = Blueprint("web", __name__)


def render_error(status: int, title: str, detail: str):
    return render_template("error.html", status=status, title=title, detail=detail), status


from . import views  # noqa: E402,F401
