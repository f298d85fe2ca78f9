"""The migrations build exactly the models' schema, and take it down again.

Runs on whichever database the run targets, in a database of its own: a fresh
SQLite file, or on PostgreSQL a uniquely named database created for the test
and dropped after it. The session's shared database is not touched.
"""

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

import models
from app import create_app
from app.extensions import db

APPEND_ONLY = ("ledger_entries", "ledger_transactions", "audit_log")


@pytest.fixture
def on_postgres(database_url):
    return sa.make_url(database_url).get_backend_name() == "postgresql"


@pytest.fixture
def empty_database_url(database_url, on_postgres, tmp_path):
    """A database of this test's own, next to the session's on the same server."""
    if not on_postgres:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite'}"
        return
    name = f"jifen_migrations_{uuid.uuid4().hex[:12]}"
    server = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            # template0 takes no connections, so a busy template1 cannot get in the way.
            connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE template0')
        try:
            yield sa.make_url(database_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with server.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        server.dispose()


@pytest.fixture
def migration_app(empty_database_url):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": empty_database_url,
        }
    )
    with app.app_context():
        yield app
        db.engine.dispose()


def schema_differences() -> list:
    with db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), models.metadata)


def head_revision(app) -> str:
    config = app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config).get_current_head()


def table_names() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def on_postgres_now() -> bool:
    return db.engine.dialect.name == "postgresql"


def triggers() -> set[str]:
    with db.engine.connect() as connection:
        if on_postgres_now():
            query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        else:
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        return set(connection.exec_driver_sql(query).scalars())


def functions() -> set[str]:
    with db.engine.connect() as connection:
        return set(
            connection.exec_driver_sql(
                "SELECT proname FROM pg_proc JOIN pg_namespace n ON n.oid = pronamespace "
                "WHERE nspname = 'public'"
            ).scalars()
        )


def assert_migrated_schema_is_the_models():
    assert table_names() == set(models.metadata.tables) | {"alembic_version"}
    assert schema_differences() == []
    names = triggers()
    if on_postgres_now():
        assert "ledger_entries_balanced" in names
        assert {f"{table}_append_only" for table in APPEND_ONLY} <= names
        assert {"ledger_check_balanced", "jifen_refuse_change", "jifen_redeem"} <= functions()
    else:
        for table in APPEND_ONLY:
            assert {f"{table}_append_only_update", f"{table}_append_only_delete"} <= names


def test_upgrade_and_downgrade(migration_app, on_postgres):
    """Upgrade gives the models' schema; downgrade to base leaves only alembic_version."""
    assert on_postgres_now() == on_postgres
    assert table_names() == set()

    upgrade()
    assert_migrated_schema_is_the_models()
    with db.engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert version == head_revision(migration_app)
    if on_postgres_now():
        with db.engine.connect() as connection:
            deferred = connection.exec_driver_sql(
                "SELECT tgdeferrable AND tginitdeferred FROM pg_trigger "
                "WHERE tgname = 'ledger_entries_balanced'"
            ).scalar_one()
        assert deferred is True

    downgrade(revision="base")
    assert table_names() == {"alembic_version"}
    assert triggers() == set()
    if on_postgres_now():
        assert functions() == set()
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 0

    upgrade()
    assert_migrated_schema_is_the_models()


def test_the_comparison_would_notice_a_difference(migration_app):
    """Guard against a vacuous check: a schema missing an index is reported."""
    upgrade()
    with db.engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_ledger_entries_account_id_id")
    differences = schema_differences()
    assert [(kind, index.name) for kind, index in differences] == [
        ("add_index", "ix_ledger_entries_account_id_id")
    ]


def test_0006_gives_every_existing_merchant_its_receivable(migration_app):
    """Merchants added before 0006 got their receivable account at their first
    redemption; jifen_redeem only looks it up, so 0006 adds the missing ones."""
    upgrade(revision="0005")
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO communities (id, slug, name, points_per_yuan, "
            "award_approval_threshold, monthly_earning_cap, created_at) "
            "VALUES (1, 'old', '老社区', 50, 500, NULL, CURRENT_TIMESTAMP)"
        )
        connection.exec_driver_sql(
            "INSERT INTO merchants (id, community_id, name, category, address, "
            "opening_hours, phone, active, created_at) "
            "VALUES (7, 1, '老店', '超市', '', '', '', true, CURRENT_TIMESTAMP), "
            "(8, 1, '新店', '超市', '', '', '', true, CURRENT_TIMESTAMP)"
        )
        connection.exec_driver_sql(
            "INSERT INTO accounts (community_id, kind, unit, key, merchant_id, balance, "
            "may_go_negative, created_at) VALUES (1, 'merchant_receivable', 'points', "
            "'merchant_receivable:merchant:8', 8, 40, false, CURRENT_TIMESTAMP)"
        )
    upgrade()
    with db.engine.connect() as connection:
        receivables = connection.exec_driver_sql(
            "SELECT key, merchant_id, balance FROM accounts "
            "WHERE kind = 'merchant_receivable' ORDER BY key"
        ).all()
    assert [tuple(row) for row in receivables] == [
        ("merchant_receivable:merchant:7", 7, 0),
        ("merchant_receivable:merchant:8", 8, 40),
    ]
