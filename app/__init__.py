"""Jifen: community public-welfare points (公益积分).

``create_app`` builds the application: configuration, then small ``register_*``
steps for extensions, the database boundary, blueprints, error handlers and
CLI commands. ``flask --app app ...`` and ``gunicorn 'app:create_app()'`` use it.
"""

from pathlib import Path

import sqlalchemy as sa
import swagger_ui_bundle
from flask import Flask, current_app, g, has_request_context, request, send_from_directory, session
from flask_login import current_user
from psycopg.types.array import ListBinaryDumper
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import HTTPException

from . import config as jifen_config
from . import headers, inputs, logs, metrics, operations, ratelimit, replica
from .auth import PageSessions
from .extensions import api as rest_api
from .extensions import babel, csrf, db, login_manager, migrate
from .problems import Problem, StoredDataConflict, handle_problem
from .stripe_gateway import register_stripe

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
    )
    app.config.update(jifen_config.DEFAULTS)
    app.config.update(jifen_config.from_environment(app.instance_path))
    app.config.update(config or {})
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = jifen_config.instance_secret_key(app.instance_path)
    register_extensions(app)
    register_services(app)
    register_stripe(app)
    register_request_boundary(app)
    register_blueprints(app)
    operations.init_app(app)
    register_error_handlers(app)
    register_cli(app)
    return app


def register_extensions(app: Flask) -> None:
    app.session_interface = PageSessions()
    # No SQL parameter (a password hash, a token digest, a name) in any error text.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
        "hide_parameters": True,
    }
    metrics.init_app(app)
    logs.init_app(app)
    headers.init_app(app)
    replica.configure(app.config)
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _configure_sqlite(db.engine)
        else:
            _configure_postgresql(db.engine)
        replica.init_app(db.engines)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), compare_type=True)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    login_manager.login_message = None
    csrf.init_app(app)
    ratelimit.init_app(app)
    inputs.init_app(app)


def register_services(app: Flask) -> None:
    """Domain services whose implementation depends on the database, chosen once."""
    from . import ledger, redemptions

    ledger.init_app(app)
    redemptions.init_app(app)


def select_locale() -> str:
    """The language picked on the page, else the member's, else the browser's; Chinese first.

    Outside a request (the command line, whose help and output are English) English.
    """
    if not has_request_context():
        return "en"
    languages = tuple(current_app.config["LANGUAGES"])
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    return request.accept_languages.best_match(languages, default=languages[0])


def _configure_sqlite(engine: sa.Engine) -> None:
    """Real transactions on SQLite: foreign keys on, and ``BEGIN IMMEDIATE``.

    pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; taking
    the write lock at BEGIN also makes concurrent writers queue instead of
    failing midway with "database is locked".
    """

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 10000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _configure_postgresql(engine: sa.Engine) -> None:
    """Lists go to PostgreSQL as binary arrays.

    Batches pass their rows as arrays (``app.sql.insert_many``, the guarded balance
    moves): a coupon run sends 1,500 of them, 100,000 values in all. psycopg
    writes an array in its binary format in about a third of the CPU of its text
    format, which it otherwise picks for a list."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.adapters.register_dumper(list, ListBinaryDumper)


def register_request_boundary(app: Flask) -> None:
    """One commit per request: services only flush; here we commit or roll back."""

    @app.after_request
    def _commit_or_roll_back(response):
        if not db.session.registry.has():
            return response  # no session was opened (the till's redemption)
        session = db.session()
        if not (session.in_transaction() or session.new or session.dirty or session.deleted):
            return response
        if response.status_code < 400:
            session.commit()
        else:
            session.rollback()
        return response


def register_blueprints(app: Flask) -> None:
    from .api import register_api
    from .web import blp as web_blp

    register_api(app)
    app.register_blueprint(web_blp)

    docs_static = Path(swagger_ui_bundle.swagger_ui_path)

    @app.route("/api/docs/static/<path:filename>")
    def swagger_ui_static(filename):
        return send_from_directory(docs_static, filename, max_age=86400)


def wants_problem() -> bool:
    return request.path.startswith("/api/")


def register_error_handlers(app: Flask) -> None:
    from .web import render_error, render_problem

    def on_problem(error: Problem):
        g.problem = error.slug  # for the refusals metric
        if wants_problem():
            return handle_problem(error)
        return render_problem(error)

    def on_http_exception(error: HTTPException):
        if wants_problem():
            return rest_api.handle_http_exception(error)
        return render_error(error.code, error.name, error.description)

    def on_integrity_error(error: IntegrityError):
        """The constraint's name is for the log; the client gets a sentence."""
        db.session.rollback()
        constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
        app.logger.warning("write refused by the database: constraint %s", constraint)
        return on_problem(StoredDataConflict())

    def on_data_error(error: DataError | OverflowError):
        db.session.rollback()
        return on_problem(inputs.database_refused(error))

    app.register_error_handler(Problem, on_problem)
    app.register_error_handler(DataError, on_data_error)
    # SQLite refuses an integer past 64 bits, and datetime a year past 9999,
    # with OverflowError: a page form's number, not a fault.
    app.register_error_handler(OverflowError, on_data_error)
    app.register_error_handler(HTTPException, on_http_exception)
    app.register_error_handler(IntegrityError, on_integrity_error)


def register_cli(app: Flask) -> None:
    from .cli import register_commands

    register_commands(app)
