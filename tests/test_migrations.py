"""The migrations build exactly the models' schema, and take it down again.

Runs on whichever database the run targets, in a database of its own: a fresh
SQLite file, or on PostgreSQL a uniquely named database created for the test
and dropped after it. The session's shared database is not touched.
"""

import re
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


def included_columns() -> dict[str, list[str]]:
    """Each index's ``INCLUDE`` columns as PostgreSQL holds them (which the
    comparison of schemas does not look at)."""
    with db.engine.connect() as connection:
        definitions = connection.exec_driver_sql(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        ).all()
    found = {name: re.search(r" INCLUDE \((.*)\)$", definition) for name, definition in definitions}
    return {name: included[1].split(", ") for name, included in found.items() if included}


def included_by_the_models() -> dict[str, list[str]]:
    return {
        index.name: list(index.dialect_options["postgresql"]["include"])
        for table in models.metadata.tables.values()
        for index in table.indexes
        if index.dialect_options["postgresql"]["include"]
    }


def assert_migrated_schema_is_the_models():
    assert table_names() == set(models.metadata.tables) | {"alembic_version"}
    assert schema_differences() == []
    names = triggers()
    if on_postgres_now():
        assert included_columns() == included_by_the_models()
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


#: Rows of the first migrations' tables, written at 0015 with the SQL of the day.
ROWS_AT_0015 = (
    "INSERT INTO communities (id, slug, name, points_per_yuan, award_approval_threshold, "
    "created_at) VALUES (1, 'old', '老社区', 50, 500, CURRENT_TIMESTAMP), "
    "(2, 'other', '别的社区', 50, 500, CURRENT_TIMESTAMP)",
    "INSERT INTO merchants (id, community_id, name, category, created_at) "
    "VALUES (7, 1, '老店', '超市', CURRENT_TIMESTAMP)",
    "INSERT INTO members (id, community_id, username, password_hash, display_name, role, "
    "active, created_at) VALUES (10, 1, 'fund', 'x', '基金', 'fund_admin', true, "
    "CURRENT_TIMESTAMP), (11, 1, 'resident', 'x', '居民', 'resident', true, CURRENT_TIMESTAMP), "
    "(12, 2, 'elsewhere', 'x', '别处', 'fund_admin', true, CURRENT_TIMESTAMP)",
    "INSERT INTO accounts (id, community_id, kind, unit, key, member_id, balance, "
    "may_go_negative, created_at) VALUES "
    "(3, 1, 'issuance', 'points', 'issuance', NULL, -300, true, CURRENT_TIMESTAMP), "
    "(4, 1, 'wallet', 'points', 'wallet:member:11', 11, 300, false, CURRENT_TIMESTAMP)",
    "INSERT INTO ledger_transactions (id, community_id, kind, memo, reference, actor_id, "
    "created_at) VALUES (20, 1, 'award', '好人好事', 'award:40', 10, '2026-11-20 08:00:00')",
    "INSERT INTO ledger_entries (id, community_id, transaction_id, account_id, unit, amount) "
    "VALUES (30, 1, 20, 3, 'points', -300), (31, 1, 20, 4, 'points', 300)",
    "INSERT INTO awards (id, community_id, member_id, points, reason, status, requested_by_id, "
    "transaction_id, created_at) VALUES (40, 1, 11, 300, '好人好事', 'posted', 10, 20, "
    "CURRENT_TIMESTAMP)",
    "INSERT INTO issuance_rules (id, community_id, name, min_points_earned, points, validity, "
    "funding, on_expiry, created_by_id, created_at) VALUES (50, 1, '月度', 100, 100, "
    "'end_of_next_month', 'grant', 'wallet', 10, CURRENT_TIMESTAMP)",
    "INSERT INTO issuance_runs (id, community_id, rule_id, period, actor_id, issued, points, "
    "skipped, created_at) VALUES (60, 1, 50, '2026-11', 10, 1, 100, 0, CURRENT_TIMESTAMP)",
    "INSERT INTO coupons (id, community_id, rule_id, run_id, member_id, period, code, points, "
    "points_remaining, status, issued_at, expires_at) VALUES (70, 1, 50, 60, 11, '2026-11', "
    "'ABCDEFGH', 100, 100, 'issued', '2026-12-01 00:00:00', '2027-01-01 00:00:00')",
    "INSERT INTO coupon_postings (id, community_id, coupon_id, transaction_id, amount) "
    "VALUES (80, 1, 70, 20, 100)",
)
KEPT = {
    "merchants": [7],
    "accounts": [3, 4],
    "ledger_transactions": [20],
    "ledger_entries": [30, 31],
    "awards": [40],
    "issuance_rules": [50],
    "issuance_runs": [60],
    "coupons": [70],
    "coupon_postings": [80],
}


def ids_by_table() -> dict[str, list[int]]:
    with db.engine.connect() as connection:
        return {
            table: list(connection.exec_driver_sql(f"SELECT id FROM {table} ORDER BY id").scalars())
            for table in KEPT
        }


def keyed_by_community(table: str) -> bool:
    """Whether ``(community_id, id)`` keys the table: its primary key on PostgreSQL;
    on SQLite ``id`` (the rowid) with an unnamed ``UNIQUE (community_id, id)``."""
    inspector = sa.inspect(db.engine)
    key = inspector.get_pk_constraint(table)["constrained_columns"]
    if on_postgres_now():
        return key == ["community_id", "id"]
    return key == ["id"] and any(
        u["column_names"] == ["community_id", "id"] and u["name"] is None
        for u in inspector.get_unique_constraints(table)
    )


def actor_key(table: str, column: str) -> list[str]:
    for key in sa.inspect(db.engine).get_foreign_keys(table):
        if column in key["constrained_columns"] and key["referred_table"] == "members":
            return key["constrained_columns"]
    raise AssertionError(f"{table}.{column} names no member")


def test_0016_keys_the_first_tables_by_community_and_keeps_their_rows(migration_app):
    upgrade(revision="0015")
    with db.engine.begin() as connection:
        for statement in ROWS_AT_0015:
            connection.exec_driver_sql(statement)
    assert not keyed_by_community("ledger_transactions")

    upgrade(revision="0016")
    assert ids_by_table() == KEPT
    assert all(keyed_by_community(table) for table in KEPT)
    assert actor_key("ledger_transactions", "actor_id") == ["community_id", "actor_id"]
    assert actor_key("awards", "requested_by_id") == ["community_id", "requested_by_id"]
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
        # A fund admin of another community may not ask for this one's award.
        connection.exec_driver_sql(
            "INSERT INTO awards (id, community_id, member_id, points, reason, status, "
            "requested_by_id, created_at) VALUES (41, 1, 11, 5, '越权', 'pending', 12, "
            "CURRENT_TIMESTAMP)"
        )

    downgrade(revision="0015")
    assert ids_by_table() == KEPT
    assert not any(keyed_by_community(table) for table in KEPT)
    assert actor_key("ledger_transactions", "actor_id") == ["actor_id"]
    assert schema_differences() != []

    upgrade()
    assert ids_by_table() == KEPT
    assert_migrated_schema_is_the_models()


#: Platform admins among the members, as before 0019: one who made a fund admin, used a
#: token and a form key, and created a community from the page (its audit entry names no
#: community) and one through the API (naming it as its target); and a fund admin's page
#: form, audited in no community then.
ROWS_AT_0018 = (
    "INSERT INTO communities (id, slug, name, points_per_yuan, award_approval_threshold, "
    "created_at) VALUES (1, 'old', '老社区', 50, 500, '2026-11-01 08:00:00'), "
    "(2, 'newer', '新社区', 50, 500, '2026-11-02 08:00:00')",
    "INSERT INTO members (id, community_id, username, password_hash, display_name, role, "
    "active, created_at, created_by_id) VALUES "
    "(5, NULL, 'district', 'x', '区运营', 'platform_admin', true, '2026-10-01 08:00:00', NULL), "
    "(6, 1, 'fund', 'x', '基金', 'fund_admin', true, '2026-11-01 08:00:01', 5), "
    "(7, 1, 'resident', 'x', '居民', 'resident', true, '2026-11-01 09:00:00', 6)",
    "INSERT INTO api_tokens (id, community_id, member_id, digest, created_at, expires_at) "
    "VALUES (1, NULL, 5, 'aa', '2026-11-01 08:00:00', '2026-12-31 00:00:00'), "
    "(2, 1, 7, 'bb', '2026-11-01 09:00:00', '2026-12-31 00:00:00')",
    "INSERT INTO idempotency_keys (id, community_id, member_id, key, fingerprint, status_code, "
    "created_at, expires_at) VALUES (1, NULL, 5, 'form:k1', 'f1', 303, '2026-11-01 08:00:00', "
    "'2026-11-02 08:00:00'), (2, 1, 7, 'k2', 'f2', 201, '2026-11-01 09:00:00', "
    "'2026-11-02 09:00:00')",
    "INSERT INTO audit_log (id, community_id, actor_id, action, method, path, status_code, "
    "target_id, created_at) VALUES "
    "(1, NULL, 5, 'community.create', 'POST', '/platform/communities', 303, NULL, "
    "'2026-11-01 08:00:02'), "
    "(2, 1, 5, 'member.create', 'POST', '/platform/communities/old/fund-admins', 303, NULL, "
    "'2026-11-01 08:00:03'), "
    "(3, NULL, 5, 'community.create', 'POST', '/api/v1/communities', 201, 2, "
    "'2026-11-02 08:00:01'), "
    "(4, 1, 6, 'member.create', 'POST', '/api/v1/communities/old/members', 201, 7, "
    "'2026-11-01 09:00:01'), "
    "(5, NULL, 6, 'award.create', 'POST', '/admin/awards', 303, NULL, '2026-11-03 08:00:00')",
)


def rows(statement: str) -> list[tuple]:
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(statement)]


def test_0019_moves_platform_admins_apart_and_keeps_every_row(migration_app):
    upgrade(revision="0018")
    with db.engine.begin() as connection:
        for statement in ROWS_AT_0018:
            connection.exec_driver_sql(statement)

    upgrade(revision="0019")
    assert rows("SELECT id, username FROM platform_admins") == [(5, "district")]
    assert rows(
        "SELECT id, created_by_id, created_by_platform_admin_id FROM members ORDER BY id"
    ) == [
        (6, None, 5),
        (7, 6, None),
    ]
    assert rows("SELECT username, community_id FROM usernames ORDER BY username") == [
        ("district", None),
        ("fund", 1),
        ("resident", 1),
    ]
    assert rows("SELECT digest, community_id FROM token_digests ORDER BY digest") == [
        ("aa", None),
        ("bb", 1),
    ]
    assert rows("SELECT platform_admin_id, digest FROM platform_admin_tokens") == [(5, "aa")]
    assert rows("SELECT member_id, digest FROM api_tokens") == [(7, "bb")]
    assert rows("SELECT platform_admin_id, key FROM platform_idempotency_keys") == [(5, "form:k1")]
    assert rows("SELECT member_id, key FROM idempotency_keys") == [(7, "k2")]
    assert rows(
        "SELECT id, community_id, actor_id, platform_admin_id FROM audit_log ORDER BY id"
    ) == [(1, 1, None, 5), (2, 1, None, 5), (3, 2, None, 5), (4, 1, 6, None), (5, 1, 6, None)]
    assert all(keyed_by_community(t) for t in ("members", "api_tokens", "audit_log"))
    assert actor_key("audit_log", "actor_id") == ["community_id", "actor_id"]

    downgrade(revision="0018")
    assert rows("SELECT id, community_id, role FROM members ORDER BY id") == [
        (6, 1, "fund_admin"),
        (7, 1, "resident"),
        (12, None, "platform_admin"),
    ]
    assert rows("SELECT id, created_by_id FROM members ORDER BY id") == [
        (6, 12),
        (7, 6),
        (12, None),
    ]
    assert rows("SELECT member_id, community_id, digest FROM api_tokens ORDER BY digest") == [
        (12, None, "aa"),
        (7, 1, "bb"),
    ]
    assert rows("SELECT member_id, key FROM idempotency_keys ORDER BY key") == [
        (12, "form:k1"),
        (7, "k2"),
    ]
    assert rows("SELECT id, community_id, actor_id FROM audit_log ORDER BY id") == [
        (1, 1, 12),
        (2, 1, 12),
        (3, 2, 12),
        (4, 1, 6),
        (5, 1, 6),
    ]

    upgrade()
    assert_migrated_schema_is_the_models()
