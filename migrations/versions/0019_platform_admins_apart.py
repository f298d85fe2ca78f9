"""Platform admins in a table of their own; members, API tokens, idempotency keys
and the audit log keyed ``(community_id, id)``.

A platform admin belongs to no community, and a primary key column cannot be
NULL, so while platform admins were members, the four tables that hold them or
what they do could not be keyed by community (docs/scaling.md). Now:

- ``platform_admins`` holds them, with their own bearer tokens
  (``platform_admin_tokens``) and form keys (``platform_idempotency_keys``);
  their rows leave ``members`` keeping their ids. A fund admin a platform admin
  made names its maker in ``members.created_by_platform_admin_id``.
- ``usernames`` and ``token_digests``: a username and a token's digest, each unique
  across Jifen, with the community that holds it (NULL: a platform admin's).
  Signing in and a bearer token name no community; these find it.
- ``audit_log`` keeps what happened in a community in that community, by a member
  of it (``actor_id``) or by a platform admin (``platform_admin_id``). Entries
  logged in no community before are given one: a member's, their community (a
  fund admin's page forms named none); a community's creation, the new
  community: the one its entry names as its target, else the last one made by
  the entry's time (the page's entries named none).
- ``jifen_redeem`` claims its idempotency key on ``(community_id, member_id, key)``.

On SQLite the four tables are rebuilt (batch mode), as migration 0016 does.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

import importlib.util
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _rekeying():
    """Migration 0016's helpers for rekeying a table, loaded from its file."""
    path = Path(__file__).with_name("0016_community_keys.py")
    spec = importlib.util.spec_from_file_location("jifen_migration_0016", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: 64-bit on PostgreSQL; INTEGER on SQLite, as the models declare it.
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

REKEYED = ("members", "api_tokens", "idempotency_keys", "audit_log")

#: Foreign keys to ``members.id`` alone, each made again with ``community_id``.
BY_ID_ALONE = {
    "api_tokens": "member_id",
    "idempotency_keys": "member_id",
    "audit_log": "actor_id",
    "members": "created_by_id",
}

SIGNS_IN = "username, password_hash, display_name, locale, active, created_at"
TOKEN_LIFE = "digest, created_at, expires_at, revoked_at"
STORED_RESPONSE = "key, fingerprint, status_code, content_type, body, created_at, expires_at"


def on_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def create_tables():
    op.create_table(
        "usernames",
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("community_id", BigInt, nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name="fk_usernames_community_id_communities"
        ),
        sa.PrimaryKeyConstraint("username", name="pk_usernames"),
        sa.UniqueConstraint("community_id", "username", name="uq_usernames_community_id_username"),
    )
    op.create_table(
        "token_digests",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("community_id", BigInt, nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name="fk_token_digests_community_id_communities"
        ),
        sa.PrimaryKeyConstraint("digest", name="pk_token_digests"),
        sa.UniqueConstraint("community_id", "digest", name="uq_token_digests_community_id_digest"),
    )
    op.create_table(
        "platform_admins",
        sa.Column("id", BigInt, nullable=False),
        sa.Column("created_by_id", BigInt, nullable=True),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("username <> ''", name="ck_platform_admins_username_not_empty"),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["platform_admins.id"],
            name="fk_platform_admins_created_by_id_platform_admins",
        ),
        sa.ForeignKeyConstraint(
            ["username"], ["usernames.username"], name="fk_platform_admins_username_usernames"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_platform_admins"),
        sa.UniqueConstraint("username", name="uq_platform_admins_username"),
    )
    op.create_table(
        "platform_admin_tokens",
        sa.Column("id", BigInt, nullable=False),
        sa.Column("platform_admin_id", BigInt, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["digest"],
            ["token_digests.digest"],
            name="fk_platform_admin_tokens_digest_token_digests",
        ),
        sa.ForeignKeyConstraint(
            ["platform_admin_id"],
            ["platform_admins.id"],
            name="fk_platform_admin_tokens_platform_admin_id_platform_admins",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_platform_admin_tokens"),
        sa.UniqueConstraint("digest", name="uq_platform_admin_tokens_digest"),
    )
    op.create_index(
        "ix_platform_admin_tokens_platform_admin_id",
        "platform_admin_tokens",
        ["platform_admin_id"],
    )
    op.create_table(
        "platform_idempotency_keys",
        sa.Column("id", BigInt, nullable=False),
        sa.Column("platform_admin_id", BigInt, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_admin_id"],
            ["platform_admins.id"],
            name="fk_platform_idempotency_keys_platform_admin_id_platform_admins",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_platform_idempotency_keys"),
        sa.UniqueConstraint(
            "platform_admin_id", "key", name="uq_platform_idempotency_keys_platform_admin_id_key"
        ),
    )
    op.create_index(
        "ix_platform_idempotency_keys_expires_at", "platform_idempotency_keys", ["expires_at"]
    )


def move_platform_admins():
    """Platform admins' rows, tokens and keys out of the community tables; their
    audit entries and the fund admins they made name them apart."""
    op.execute(
        "INSERT INTO usernames (username, community_id) SELECT username, community_id FROM members"
    )
    op.execute(
        f"INSERT INTO platform_admins (id, created_by_id, {SIGNS_IN}) "
        f"SELECT id, created_by_id, {SIGNS_IN} FROM members WHERE community_id IS NULL ORDER BY id"
    )
    op.execute(
        "INSERT INTO token_digests (digest, community_id) SELECT digest, community_id FROM api_tokens"
    )
    op.execute(
        f"INSERT INTO platform_admin_tokens (platform_admin_id, {TOKEN_LIFE}) "
        f"SELECT member_id, {TOKEN_LIFE} FROM api_tokens WHERE community_id IS NULL ORDER BY id"
    )
    op.execute("DELETE FROM api_tokens WHERE community_id IS NULL")
    op.execute(
        f"INSERT INTO platform_idempotency_keys (platform_admin_id, {STORED_RESPONSE}) "
        f"SELECT member_id, {STORED_RESPONSE} FROM idempotency_keys "
        "WHERE community_id IS NULL ORDER BY id"
    )
    op.execute("DELETE FROM idempotency_keys WHERE community_id IS NULL")
    if on_postgres():
        for table in ("platform_admins", "platform_admin_tokens", "platform_idempotency_keys"):
            op.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
            )

    op.add_column("members", sa.Column("created_by_platform_admin_id", BigInt))
    op.execute(
        "UPDATE members SET created_by_platform_admin_id = created_by_id, created_by_id = NULL "
        "WHERE created_by_id IN (SELECT id FROM platform_admins)"
    )
    op.add_column("audit_log", sa.Column("platform_admin_id", BigInt))
    with append_only_lifted("audit_log"):
        op.execute(
            "UPDATE audit_log SET platform_admin_id = actor_id, actor_id = NULL "
            "WHERE actor_id IN (SELECT id FROM platform_admins)"
        )
        op.execute(
            """UPDATE audit_log SET community_id = COALESCE(
                   (SELECT m.community_id FROM members m WHERE m.id = audit_log.actor_id),
                   (SELECT c.id FROM communities c
                     WHERE audit_log.action = 'community.create' AND c.id = audit_log.target_id),
                   (SELECT c.id FROM communities c
                     WHERE c.created_at <= audit_log.created_at
                     ORDER BY c.created_at DESC, c.id DESC LIMIT 1))
                WHERE community_id IS NULL"""
        )
    op.execute("DELETE FROM members WHERE community_id IS NULL")


@contextmanager
def append_only_lifted(table):
    """Around the one rewrite of ``table``'s rows this migration makes."""
    if on_postgres():
        op.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        yield
        op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
        return
    triggers = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
            "AND name LIKE ? ORDER BY name",
            (table, f"{table}_append_only_%"),
        )
        .all()
    )
    for name, _ in triggers:
        op.execute(f"DROP TRIGGER {name}")
    yield
    for _, statement in triggers:
        op.execute(statement)


def as_it_is(table: str) -> sa.Table:
    """SQLite: migration 0016's reflection of ``table``, with a name for the one
    foreign key SQLite keeps unnamed (``created_by_id``'s, made as a column's
    constraint by migration 0013)."""
    reflected = _rekeying().as_it_is(table)
    for key in list(reflected.foreign_key_constraints):
        if key.name is None:
            columns = "_".join(key.column_keys)
            key.name = f"fk_{table}_{columns}_{key.referred_table.name}"
    return reflected


def redeem_function(on_conflict: str) -> str:
    """``jifen_redeem`` as migration 0009 made it, claiming its key on ``on_conflict``."""
    text = Path(__file__).with_name("0009_redeem.pg.sql").read_text()
    old = "ON CONFLICT (member_id, key) DO NOTHING"
    assert text.count(old) == 1, "jifen_redeem's key claim is not where 0019 expects it"
    return text.replace(old, f"ON CONFLICT ({on_conflict}) DO NOTHING")


def upgrade():
    create_tables()
    move_platform_admins()
    if on_postgres():
        upgrade_postgres()
    else:
        upgrade_sqlite()


def upgrade_postgres():
    rekeying = _rekeying()
    for table, column in BY_ID_ALONE.items():
        op.drop_constraint(f"fk_{table}_{column}_members", table, type_="foreignkey")
    op.drop_constraint(op.f("ck_members_platform_admin_has_no_community"), "members", type_="check")
    with rekeying.references_made_again(["uq_members_community_id_id"]):
        for table in REKEYED:
            drops = [f"DROP CONSTRAINT pk_{table}"]
            if table == "members":
                drops.append("DROP CONSTRAINT uq_members_community_id_id")
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN community_id SET NOT NULL, {', '.join(drops)}, "
                f"ADD CONSTRAINT pk_{table} PRIMARY KEY (community_id, id)"
            )
            op.create_index(f"ix_{table}_id", table, ["id"])
    for table, column in BY_ID_ALONE.items():
        op.create_foreign_key(
            f"fk_{table}_community_id_{column}_members",
            table,
            "members",
            ["community_id", column],
            ["community_id", "id"],
        )

    op.drop_constraint("uq_members_username", "members", type_="unique")
    op.create_unique_constraint(
        "uq_members_community_id_username", "members", ["community_id", "username"]
    )
    op.create_foreign_key(
        "fk_members_community_id_username_usernames",
        "members",
        "usernames",
        ["community_id", "username"],
        ["community_id", "username"],
    )
    op.create_foreign_key(
        "fk_members_created_by_platform_admin_id_platform_admins",
        "members",
        "platform_admins",
        ["created_by_platform_admin_id"],
        ["id"],
    )
    op.create_check_constraint(
        op.f("ck_members_platform_admins_apart"), "members", "role <> 'platform_admin'"
    )
    op.create_check_constraint(
        op.f("ck_members_one_maker"),
        "members",
        "created_by_id IS NULL OR created_by_platform_admin_id IS NULL",
    )

    op.drop_constraint("uq_api_tokens_digest", "api_tokens", type_="unique")
    op.create_unique_constraint(
        "uq_api_tokens_community_id_digest", "api_tokens", ["community_id", "digest"]
    )
    op.create_foreign_key(
        "fk_api_tokens_community_id_digest_token_digests",
        "api_tokens",
        "token_digests",
        ["community_id", "digest"],
        ["community_id", "digest"],
    )
    op.drop_index("ix_api_tokens_member_id", table_name="api_tokens")
    op.create_index(
        "ix_api_tokens_community_id_member_id", "api_tokens", ["community_id", "member_id"]
    )

    op.drop_constraint("uq_idempotency_keys_member_id_key", "idempotency_keys", type_="unique")
    op.create_unique_constraint(
        "uq_idempotency_keys_community_id_member_id_key",
        "idempotency_keys",
        ["community_id", "member_id", "key"],
    )

    op.drop_index("ix_audit_log_community_id_id", table_name="audit_log")
    op.create_foreign_key(
        "fk_audit_log_platform_admin_id_platform_admins",
        "audit_log",
        "platform_admins",
        ["platform_admin_id"],
        ["id"],
    )
    op.create_check_constraint(
        op.f("ck_audit_log_one_actor"),
        "audit_log",
        "(actor_id IS NULL) <> (platform_admin_id IS NULL)",
    )
    op.execute(redeem_function("community_id, member_id, key"))


def upgrade_sqlite():
    rekeying = _rekeying()
    for table in REKEYED:
        with (
            rekeying.rebuilt(table),
            op.batch_alter_table(table, recreate="always", copy_from=as_it_is(table)) as batch,
        ):
            if table == "members":
                batch.drop_constraint("uq_members_community_id_id", type_="unique")
            batch.alter_column("community_id", existing_type=sa.Integer(), nullable=False)
            batch.create_primary_key(f"pk_{table}", ["community_id", "id"])
            column = BY_ID_ALONE[table]
            batch.drop_constraint(f"fk_{table}_{column}_members", type_="foreignkey")
            batch.create_foreign_key(
                f"fk_{table}_community_id_{column}_members",
                "members",
                ["community_id", column],
                ["community_id", "id"],
            )
            batch.create_index(f"ix_{table}_id", ["id"])
            if table == "members":
                batch.drop_constraint(
                    op.f("ck_members_platform_admin_has_no_community"), type_="check"
                )
                batch.drop_constraint("uq_members_username", type_="unique")
                batch.create_unique_constraint(
                    "uq_members_community_id_username", ["community_id", "username"]
                )
                batch.create_foreign_key(
                    "fk_members_community_id_username_usernames",
                    "usernames",
                    ["community_id", "username"],
                    ["community_id", "username"],
                )
                batch.create_foreign_key(
                    "fk_members_created_by_platform_admin_id_platform_admins",
                    "platform_admins",
                    ["created_by_platform_admin_id"],
                    ["id"],
                )
                batch.create_check_constraint(
                    op.f("ck_members_platform_admins_apart"), "role <> 'platform_admin'"
                )
                batch.create_check_constraint(
                    op.f("ck_members_one_maker"),
                    "created_by_id IS NULL OR created_by_platform_admin_id IS NULL",
                )
            elif table == "api_tokens":
                batch.drop_constraint("uq_api_tokens_digest", type_="unique")
                batch.create_unique_constraint(
                    "uq_api_tokens_community_id_digest", ["community_id", "digest"]
                )
                batch.create_foreign_key(
                    "fk_api_tokens_community_id_digest_token_digests",
                    "token_digests",
                    ["community_id", "digest"],
                    ["community_id", "digest"],
                )
                batch.drop_index("ix_api_tokens_member_id")
                batch.create_index(
                    "ix_api_tokens_community_id_member_id", ["community_id", "member_id"]
                )
            elif table == "idempotency_keys":
                batch.drop_constraint("uq_idempotency_keys_member_id_key", type_="unique")
                batch.create_unique_constraint(
                    "uq_idempotency_keys_community_id_member_id_key",
                    ["community_id", "member_id", "key"],
                )
            else:
                batch.drop_index("ix_audit_log_community_id_id")
                batch.create_foreign_key(
                    "fk_audit_log_platform_admin_id_platform_admins",
                    "platform_admins",
                    ["platform_admin_id"],
                    ["id"],
                )
                batch.create_check_constraint(
                    op.f("ck_audit_log_one_actor"),
                    "(actor_id IS NULL) <> (platform_admin_id IS NULL)",
                )


def downgrade():
    if on_postgres():
        downgrade_postgres()
    else:
        downgrade_sqlite()
    move_platform_admins_back()
    for table in (
        "platform_idempotency_keys",
        "platform_admin_tokens",
        "platform_admins",
        "token_digests",
        "usernames",
    ):
        op.drop_table(table)


def downgrade_postgres():
    rekeying = _rekeying()
    op.execute(redeem_function("member_id, key"))
    op.drop_constraint(op.f("ck_audit_log_one_actor"), "audit_log", type_="check")
    op.drop_constraint(
        "fk_audit_log_platform_admin_id_platform_admins", "audit_log", type_="foreignkey"
    )
    op.create_index("ix_audit_log_community_id_id", "audit_log", ["community_id", "id"])
    op.drop_constraint(
        "uq_idempotency_keys_community_id_member_id_key", "idempotency_keys", type_="unique"
    )
    op.create_unique_constraint(
        "uq_idempotency_keys_member_id_key", "idempotency_keys", ["member_id", "key"]
    )
    op.drop_index("ix_api_tokens_community_id_member_id", table_name="api_tokens")
    op.create_index("ix_api_tokens_member_id", "api_tokens", ["member_id"])
    op.drop_constraint(
        "fk_api_tokens_community_id_digest_token_digests", "api_tokens", type_="foreignkey"
    )
    op.drop_constraint("uq_api_tokens_community_id_digest", "api_tokens", type_="unique")
    op.create_unique_constraint("uq_api_tokens_digest", "api_tokens", ["digest"])
    op.drop_constraint(op.f("ck_members_one_maker"), "members", type_="check")
    op.drop_constraint(op.f("ck_members_platform_admins_apart"), "members", type_="check")
    op.drop_constraint(
        "fk_members_created_by_platform_admin_id_platform_admins", "members", type_="foreignkey"
    )
    op.drop_constraint("fk_members_community_id_username_usernames", "members", type_="foreignkey")
    op.drop_constraint("uq_members_community_id_username", "members", type_="unique")
    op.create_unique_constraint("uq_members_username", "members", ["username"])
    for table, column in BY_ID_ALONE.items():
        op.drop_constraint(f"fk_{table}_community_id_{column}_members", table, type_="foreignkey")
    with rekeying.references_made_again(["pk_members"]):
        for table in REKEYED:
            op.drop_index(f"ix_{table}_id", table_name=table)
            adds = [f"ADD CONSTRAINT pk_{table} PRIMARY KEY (id)"]
            if table == "members":
                adds.append("ADD CONSTRAINT uq_members_community_id_id UNIQUE (community_id, id)")
            op.execute(
                f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, {', '.join(adds)}, "
                "ALTER COLUMN community_id DROP NOT NULL"
            )
    for table, column in BY_ID_ALONE.items():
        op.create_foreign_key(f"fk_{table}_{column}_members", table, "members", [column], ["id"])
    op.create_check_constraint(
        op.f("ck_members_platform_admin_has_no_community"),
        "members",
        "(role = 'platform_admin') = (community_id IS NULL)",
    )


def downgrade_sqlite():
    rekeying = _rekeying()
    naming = {"pk": "pk_%(table_name)s", "uq": "uq_%(table_name)s_%(column_0_N_name)s"}
    for table in reversed(REKEYED):
        with (
            rekeying.rebuilt(table),
            op.batch_alter_table(table, recreate="always", naming_convention=naming) as batch,
        ):
            batch.drop_index(f"ix_{table}_id")
            batch.alter_column("community_id", existing_type=sa.Integer(), nullable=True)
            column = BY_ID_ALONE[table]
            batch.drop_constraint(f"fk_{table}_community_id_{column}_members", type_="foreignkey")
            batch.create_foreign_key(f"fk_{table}_{column}_members", "members", [column], ["id"])
            if table == "members":
                batch.drop_constraint(op.f("ck_members_one_maker"), type_="check")
                batch.drop_constraint(op.f("ck_members_platform_admins_apart"), type_="check")
                batch.drop_constraint(
                    "fk_members_created_by_platform_admin_id_platform_admins", type_="foreignkey"
                )
                batch.drop_constraint(
                    "fk_members_community_id_username_usernames", type_="foreignkey"
                )
                batch.drop_constraint("uq_members_community_id_username", type_="unique")
                batch.create_unique_constraint("uq_members_username", ["username"])
                batch.create_check_constraint(
                    op.f("ck_members_platform_admin_has_no_community"),
                    "(role = 'platform_admin') = (community_id IS NULL)",
                )
            elif table == "api_tokens":
                batch.drop_index("ix_api_tokens_community_id_member_id")
                batch.create_index("ix_api_tokens_member_id", ["member_id"])
                batch.drop_constraint(
                    "fk_api_tokens_community_id_digest_token_digests", type_="foreignkey"
                )
                batch.drop_constraint("uq_api_tokens_community_id_digest", type_="unique")
                batch.create_unique_constraint("uq_api_tokens_digest", ["digest"])
            elif table == "idempotency_keys":
                batch.drop_constraint(
                    "uq_idempotency_keys_community_id_member_id_key", type_="unique"
                )
                batch.create_unique_constraint(
                    "uq_idempotency_keys_member_id_key", ["member_id", "key"]
                )
            else:
                batch.drop_constraint(op.f("ck_audit_log_one_actor"), type_="check")
                batch.drop_constraint(
                    "fk_audit_log_platform_admin_id_platform_admins", type_="foreignkey"
                )
                batch.create_index("ix_audit_log_community_id_id", ["community_id", "id"])


def move_platform_admins_back():
    """Platform admins back among the members, after the members' ids (the two
    tables' ids may overlap), with their tokens, keys and audit entries."""
    offset = "(SELECT COALESCE(max(id), 0) FROM members)"
    op.execute(
        f"CREATE TEMPORARY TABLE platform_admin_ids AS SELECT id, id + {offset} AS member_id FROM platform_admins"
    )
    moved = "(SELECT member_id FROM platform_admin_ids WHERE platform_admin_ids.id = {})"
    op.execute(
        f"INSERT INTO members (id, community_id, role, created_by_id, {SIGNS_IN}) "
        f"SELECT {moved.format('p.id')}, NULL, 'platform_admin', "
        f"{moved.format('p.created_by_id')}, {SIGNS_IN} FROM platform_admins p ORDER BY p.id"
    )
    op.execute(
        f"INSERT INTO api_tokens (community_id, member_id, {TOKEN_LIFE}) "
        f"SELECT NULL, {moved.format('t.platform_admin_id')}, {TOKEN_LIFE} "
        "FROM platform_admin_tokens t ORDER BY t.id"
    )
    op.execute(
        f"INSERT INTO idempotency_keys (community_id, member_id, {STORED_RESPONSE}) "
        f"SELECT NULL, {moved.format('k.platform_admin_id')}, {STORED_RESPONSE} "
        "FROM platform_idempotency_keys k ORDER BY k.id"
    )
    op.execute(
        f"UPDATE members SET created_by_id = {moved.format('created_by_platform_admin_id')} "
        "WHERE created_by_platform_admin_id IS NOT NULL"
    )
    with append_only_lifted("audit_log"):
        op.execute(
            f"UPDATE audit_log SET actor_id = {moved.format('platform_admin_id')} "
            "WHERE platform_admin_id IS NOT NULL"
        )
    op.execute("DROP TABLE platform_admin_ids")
    if on_postgres():
        op.execute(
            "SELECT setval(pg_get_serial_sequence('members', 'id'), "
            "COALESCE((SELECT max(id) FROM members), 0) + 1, false)"
        )
    op.drop_column("audit_log", "platform_admin_id")
    op.drop_column("members", "created_by_platform_admin_id")
