"""Test fixtures.

The schema is built once per session, through the Alembic migrations, on the
database named by ``JIFEN_TEST_DATABASE_URL`` (a fresh SQLite file when unset).
Each test runs inside one connection-level transaction that is rolled back at
the end; the app's own commits become savepoints inside it. Tests that need
real commits (deferred triggers, concurrency) use ``committing_app`` instead
and keep to a community of their own.
"""

import ipaddress
import socket

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.orm import scoped_session, sessionmaker
from support.api import ApiClient
from support.apps import DATABASE_URL, ON_POSTGRES, app_on
from support.names import unique
from support.pages import page_client

from app import communities
from app.extensions import db
from models import Role

#: Fixtures of a community to test in, the earning tests' clock, the fake Stripe and settlement.
pytest_plugins = [
    "support.community",
    "support.clock",
    "support.stripe_fixtures",
    "support.settlement",
    "support.site",
]


def pytest_report_header(config):
    return f"database: {DATABASE_URL or 'SQLite (temporary file)'}"


def pytest_collection_modifyitems(config, items):
    if ON_POSTGRES:
        # These tests run on a SQLite file of their own (a live site in a browser,
        # the demo): the PostgreSQL pass would repeat them unchanged.
        for item in items:
            for marker in ("browser", "pages", "demo"):
                if item.get_closest_marker(marker):
                    item.add_marker(pytest.mark.skip(reason=f"{marker}: SQLite pass only"))
        return
    skip = pytest.mark.skip(reason="runs on PostgreSQL (the README test command runs both)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Fail any test that reaches past this machine."""
    real_connect = socket.socket.connect

    def guarded_connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if ON_POSTGRES:
        engine = sa.create_engine(DATABASE_URL)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
        return DATABASE_URL
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'jifen.sqlite'}"


@pytest.fixture(scope="session")
def app(database_url):
    with app_on(database_url) as app:
        with app.app_context():
            upgrade()
        yield app


@pytest.fixture(autouse=True)
def db_session(request, app):
    """Run the test inside one transaction and roll it back afterwards."""
    own = request.node.get_closest_marker("own_databases")
    if own or {"committing_app", "live_server", "site"} & set(request.fixturenames):
        yield None
        return
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
            scopefunc=original.registry.scopefunc,
        )
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture
def committing_app(database_url):
    """An app whose commits are real, for triggers and concurrency (PostgreSQL)."""
    engine = {"pool_size": 70, "max_overflow": 0}
    with app_on(database_url, SQLALCHEMY_ENGINE_OPTIONS=engine) as app:
        yield app
        with app.app_context():
            db.session.remove()


@pytest.fixture
def pg(committing_app):
    """Inside :func:`committing_app`: what a test commits is really committed."""
    with committing_app.app_context():
        yield committing_app


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def make_community(ctx):
    def make(slug=None, name="测试社区", points_per_yuan=50, **fields):
        community = communities.create_community(
            slug or unique("c"), name, points_per_yuan=points_per_yuan
        )
        for key, value in fields.items():
            setattr(community, key, value)
        db.session.flush()
        return community

    return make


@pytest.fixture
def make_member(ctx):
    def make(community, role=Role.RESIDENT, username=None, password="password-1", **fields):
        if role == Role.MERCHANT_STAFF and "merchant_id" not in fields:
            fields["merchant_id"] = communities.create_merchant(
                community, name=unique("shop"), category="test"
            ).id
        return communities.create_member(
            None if role == Role.PLATFORM_ADMIN else community,
            username=username or unique(role.value),
            password=password,
            display_name=fields.pop("display_name", "测试 Test"),
            role=role,
            **fields,
        )

    return make


@pytest.fixture
def api(app, ctx):
    return ApiClient(app.test_client())


@pytest.fixture
def client(app, ctx):
    """A page client: one browser, with cookies."""
    return page_client(app)


@pytest.fixture
def cli(app, ctx):
    return app.test_cli_runner()
