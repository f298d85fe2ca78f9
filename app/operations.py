"""Running Jifen: liveness and readiness probes, and riding out a database restart.

``/healthz`` answers while the process serves requests; ``/readyz`` while the
database answers and its schema is at the migrations' head (a load balancer
sends traffic only then; during a deploy that has not yet migrated, it waits).

When PostgreSQL restarts, every pooled connection dies with it. The request
that meets a dead connection answers a retryable 503 problem with
``Retry-After`` instead of a 500, and the pool is emptied, so the next request
connects afresh: the service recovers with no manual step. A client retries
with the same ``Idempotency-Key``; nothing is lost or done twice, as the
failed request's transaction never committed.
"""

import sqlite3
from pathlib import Path

import psycopg
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, current_app, jsonify, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DBAPIError

from .extensions import db
from .problems import Problem, handle_problem

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
#: Seconds a client should wait before retrying after the database was lost.
RETRY_AFTER = 2

blp = Blueprint("operations", __name__)


class DatabaseUnavailable(Problem):
    status, slug, title = 503, "database-unavailable", _l("Briefly unavailable")
    message = _l("The service lost its database for a moment. Retry in a few seconds.")
    headers = {"Retry-After": str(RETRY_AFTER)}


class NotReady(DatabaseUnavailable):
    slug, title = "not-ready", _l("Not ready")
    message = _l("The database is unreachable or its schema is not at the migrations' head.")


def init_app(app: Flask) -> None:
    app.register_blueprint(blp)
    app.register_error_handler(DBAPIError, _on_database_error)
    app.register_error_handler(psycopg.OperationalError, _on_driver_error)


@blp.get("/healthz")
def healthz():
    """The process is up and serving."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz():
    """The database answers and its schema is at the head of the migrations."""
    try:
        connection = db.session.connection()
        current = set(MigrationContext.configure(connection).get_current_heads())
    except DBAPIError as error:
        raise NotReady() from error
    expected = _heads()
    if current != expected:
        raise NotReady(
            f"The schema is at {sorted(current) or 'nothing'}; the code expects {sorted(expected)}."
        )
    return jsonify(status="ready", database="ok", migrations=sorted(current))


def _heads() -> set[str]:
    heads = current_app.extensions.get("jifen.migration_heads")
    if heads is None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        heads = set(ScriptDirectory.from_config(config).get_heads())
        current_app.extensions["jifen.migration_heads"] = heads
    return heads


def lost_database(error: DBAPIError) -> bool:
    """A dead or refused connection, not a bad statement: worth a retry."""
    if error.connection_invalidated:
        return True
    original = error.orig
    if isinstance(original, psycopg.OperationalError):
        return True
    return isinstance(original, sqlite3.OperationalError) and "locked" in str(original)


def _on_database_error(error: DBAPIError):
    if not lost_database(error):
        raise error
    return _unavailable()


def _on_driver_error(_error: psycopg.OperationalError):
    # The till's statements run on the bare driver: its errors come unwrapped.
    return _unavailable()


def _unavailable():
    try:
        db.session.rollback()
    except DBAPIError:
        db.session.invalidate()
    # Connections opened before the restart are all dead: drop them unused.
    db.engine.dispose(close=False)
    current_app.logger.warning("database unavailable; answered 503")
    return _render(DatabaseUnavailable())


def _render(problem: Problem):
    from .web import render_error  # the pages import much; load them once the app runs

    if request.path.startswith("/api/") or request.path in ("/healthz", "/readyz"):
        return handle_problem(problem)
    response = render_error(problem.status, problem.title, problem.detail)
    response = current_app.make_response(response)
    response.headers.update(problem.headers)
    return response


@blp.errorhandler(NotReady)
def _not_ready(problem: NotReady):
    return handle_problem(problem)
