"""Test fixtures.

The schema is built once per session, through the Alembic migrations, on the
database named by ``JIFEN_TEST_DATABASE_URL`` (a fresh SQLite file when unset).
Each test runs inside one connection-level transaction that is rolled back at
the end; the app's own commits become savepoints inside it. Tests that need
real commits (deferred triggers, concurrency) use ``committing_app`` instead
and keep to a community of their own.
"""

import ipaddress
import os
import socket
import uuid

import pytest
import sqlalchemy as sa
from flask import g, has_app_context
from flask_migrate import upgrade
from sqlalchemy.orm import scoped_session, sessionmaker

from app import auth, communities, create_app
from app.extensions import db
from models import Role

#: Fixtures and helpers shared by the coupon tests, and the live site of the page tests.
pytest_plugins = ["coupon_world", "browser_site"]

DATABASE_URL = os.environ.get("JIFEN_TEST_DATABASE_URL")
ON_POSTGRES = bool(DATABASE_URL and DATABASE_URL.startswith("postgresql"))

TEST_CONFIG = {
    "TESTING": True,
    "ARGON2_PROFILE": "CHEAPEST",
    "RATELIMIT_ENABLED": False,
    "SECRET_KEY": "test-secret-key",
    # A fixed coupon signing key, so no test writes a key file into instance/.
    "JIFEN_SIGNING_KEYS": "test-1:" + "A" * 43,
}


def pytest_report_header(config):
    return f"database: {DATABASE_URL or 'SQLite (temporary file)'}"


def pytest_collection_modifyitems(config, items):
    if ON_POSTGRES:
        # The page tests drive a live site over a SQLite file of its own: the
        # PostgreSQL pass would repeat them unchanged.
        once = pytest.mark.skip(reason="drives pages: runs on the SQLite pass only")
        for item in items:
            if item.get_closest_marker("pages"):
                item.add_marker(once)
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
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def db_session(request, app):
    """Run the test inside one transaction and roll it back afterwards."""
    if {"committing_app", "live_server", "site"} & set(request.fixturenames):
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
    app = create_app(
        {
            **TEST_CONFIG,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 70, "max_overflow": 0},
        }
    )
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def pg(committing_app):
    """Inside :func:`committing_app`: what a test commits is really committed."""
    with committing_app.app_context():
        yield committing_app


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


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


class ApiClient:
    """The test client, speaking as one member with a bearer token."""

    def __init__(self, client, token=None):
        self.client = client
        self.token = token

    def as_(self, member) -> "ApiClient":
        secret, _ = auth.issue_token(member)
        db.session.flush()
        return ApiClient(self.client, secret)

    def request(self, method, path, *, json=None, key=None, headers=None):
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if key is True:
            key = str(uuid.uuid4())
        if key:
            headers["Idempotency-Key"] = key
        if has_app_context():
            # The request reuses the test's app context, so its session and its
            # ``g``. Commit what the test set up (a failed request rolls the
            # session back) and start the request with an empty ``g``, as in
            # production, so no caller is remembered from the last request.
            db.session.commit()
            g.__dict__.clear()
        return self.client.open(f"/api/v1{path}", method=method, json=json, headers=headers)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def api(app, ctx):
    return ApiClient(app.test_client())
