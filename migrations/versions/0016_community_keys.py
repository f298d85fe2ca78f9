"""The community-owned tables of the first migrations keyed ``(community_id, id)``.

So that PostgreSQL can be distributed by community (docs/scaling.md): each of
``TABLES`` gets ``(community_id, id)`` as its primary key in place of ``id``
alone and of the unique ``(community_id, id)`` beside it, keeps an index on
``id`` (rows are still looked up by id alone, drawn from the same sequence), and
every foreign key that referred to the old keys is made again, by its own
definition, against the new one. The actors that are always of the row's
community (``ACTORS``) are referred to by ``(community_id, actor)``, and a
coupon's postings are unique per transaction within the community.

Members, their API tokens, their idempotency keys and the audit log keep ``id``
alone: a platform admin belongs to no community (see
tests/test_shard_ready_postgres.py). No function names a changed key:
``jifen_redeem``'s one ``ON CONFLICT`` is on the idempotency key's.

On PostgreSQL each table's two indexes are built anew and the foreign keys
into it checked again, under an exclusive lock: minutes at city size. SQLite
renders ``(community_id, id)`` as ``id INTEGER PRIMARY KEY`` plus ``UNIQUE
(community_id, id)`` (``models.base``): the same keys under other names, and
the actors' foreign keys can only change by rebuilding the table, so there
each table is rebuilt (batch mode), with its triggers made again.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


TABLES = (
    "merchants",
    "accounts",
    "ledger_transactions",
    "ledger_entries",
    "awards",
    "activities",
    "activity_signups",
    "attendances",
    "merchant_groups",
    "merchant_group_members",
    "issuance_rules",
    "issuance_tiers",
    "issuance_runs",
    "coupons",
    "coupon_postings",
    "pay_code_secrets",
    "pay_code_uses",
    "offers",
    "redemptions",
)

#: Tables without a unique ``(community_id, id)`` before this revision: nothing referred
#: to them by it (the ledger's entries refer to an account with its unit).
WITHOUT_COMMUNITY_ID_ID = frozenset({"accounts", "ledger_entries"})

#: Columns naming a member who is always of the row's community: a fund admin, an
#: organizer or a cashier acting in it (platform admins only read community data).
ACTORS = {
    "awards": ("requested_by_id", "decided_by_id"),
    "issuance_rules": ("created_by_id",),
    "issuance_runs": ("actor_id",),
    "ledger_transactions": ("actor_id",),
}

#: Unique keys that left ``community_id`` out.
UNIQUES = {"coupon_postings": ("coupon_id", "transaction_id")}

#: The foreign keys that rely on one of the named keys, each with its definition.
REFERENCES = sa.text(
    """
    SELECT fk.conrelid::regclass::text AS table_name, fk.conname AS name,
           pg_get_constraintdef(fk.oid) AS definition
      FROM pg_constraint fk
      JOIN pg_constraint k ON k.conrelid = fk.confrelid AND k.conindid = fk.conindid
     WHERE fk.contype = 'f' AND k.contype IN ('p', 'u') AND k.conname = ANY(:keys)
     ORDER BY 1, 2
    """
)


def on_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    if on_postgres():
        old_keys = [f"pk_{t}" for t in TABLES]
        old_keys += [f"uq_{t}_community_id_id" for t in TABLES if t not in WITHOUT_COMMUNITY_ID_ID]
        with references_made_again(old_keys):
            for table in TABLES:
                drops = [f"DROP CONSTRAINT pk_{table}"]
                if table not in WITHOUT_COMMUNITY_ID_ID:
                    drops.append(f"DROP CONSTRAINT uq_{table}_community_id_id")
                op.execute(
                    f"ALTER TABLE {table} {', '.join(drops)}, "
                    f"ADD CONSTRAINT pk_{table} PRIMARY KEY (community_id, id)"
                )
                op.create_index(f"ix_{table}_id", table, ["id"])
        for table, columns in ACTORS.items():
            for column in columns:
                op.drop_constraint(f"fk_{table}_{column}_members", table, type_="foreignkey")
                op.create_foreign_key(
                    f"fk_{table}_community_id_{column}_members", table, "members",
                    ["community_id", column], ["community_id", "id"],
                )
        for table, columns in UNIQUES.items():
            op.drop_constraint(f"uq_{table}_{'_'.join(columns)}", table, type_="unique")
            op.create_unique_constraint(
                f"uq_{table}_community_id_{'_'.join(columns)}", table, ["community_id", *columns]
            )
        return

    for table in TABLES:
        with rebuilt(table), op.batch_alter_table(
            table, recreate="always", copy_from=as_it_is(table)
        ) as batch:
            if table not in WITHOUT_COMMUNITY_ID_ID:
                batch.drop_constraint(f"uq_{table}_community_id_id", type_="unique")
            # Rendered as ``id INTEGER PRIMARY KEY`` and ``UNIQUE (community_id, id)``.
            batch.create_primary_key(f"pk_{table}", ["community_id", "id"])
            for column in ACTORS.get(table, ()):
                batch.drop_constraint(f"fk_{table}_{column}_members", type_="foreignkey")
                batch.create_foreign_key(
                    f"fk_{table}_community_id_{column}_members", "members",
                    ["community_id", column], ["community_id", "id"],
                )
            if table in UNIQUES:
                columns = UNIQUES[table]
                batch.drop_constraint(f"uq_{table}_{'_'.join(columns)}", type_="unique")
                batch.create_unique_constraint(
                    f"uq_{table}_community_id_{'_'.join(columns)}", ["community_id", *columns]
                )
            batch.create_index(f"ix_{table}_id", ["id"])


def downgrade():
    if on_postgres():
        for table, columns in UNIQUES.items():
            op.drop_constraint(f"uq_{table}_community_id_{'_'.join(columns)}", table, type_="unique")
            op.create_unique_constraint(f"uq_{table}_{'_'.join(columns)}", table, list(columns))
        for table, columns in ACTORS.items():
            for column in columns:
                op.drop_constraint(
                    f"fk_{table}_community_id_{column}_members", table, type_="foreignkey"
                )
                op.create_foreign_key(
                    f"fk_{table}_{column}_members", table, "members", [column], ["id"]
                )
        with references_made_again([f"pk_{t}" for t in TABLES]):
            for table in TABLES:
                op.drop_index(f"ix_{table}_id", table_name=table)
                adds = [f"ADD CONSTRAINT pk_{table} PRIMARY KEY (id)"]
                if table not in WITHOUT_COMMUNITY_ID_ID:
                    adds.append(
                        f"ADD CONSTRAINT uq_{table}_community_id_id UNIQUE (community_id, id)"
                    )
                op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, {', '.join(adds)}")
        return

    for table in reversed(TABLES):
        # Names for what SQLite keeps unnamed: the primary key and ``UNIQUE (community_id, id)``.
        naming = {"pk": "pk_%(table_name)s", "uq": "uq_%(table_name)s_%(column_0_N_name)s"}
        with rebuilt(table), op.batch_alter_table(
            table, recreate="always", naming_convention=naming
        ) as batch:
            batch.drop_index(f"ix_{table}_id")
            if table in WITHOUT_COMMUNITY_ID_ID:
                batch.drop_constraint(f"uq_{table}_community_id_id", type_="unique")
            for column in ACTORS.get(table, ()):
                batch.drop_constraint(
                    f"fk_{table}_community_id_{column}_members", type_="foreignkey"
                )
                batch.create_foreign_key(f"fk_{table}_{column}_members", "members", [column], ["id"])
            if table in UNIQUES:
                columns = UNIQUES[table]
                batch.drop_constraint(
                    f"uq_{table}_community_id_{'_'.join(columns)}", type_="unique"
                )
                batch.create_unique_constraint(f"uq_{table}_{'_'.join(columns)}", list(columns))


@contextmanager
def references_made_again(keys):
    """PostgreSQL: drop the foreign keys that rely on ``keys`` (by their index),
    and make each again by its own definition once the keys have changed."""
    references = op.get_bind().execute(REFERENCES, {"keys": keys}).all()
    for table, name, _ in references:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    yield
    for table, name, definition in references:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


def as_it_is(table: str) -> sa.Table:
    """SQLite: ``table`` reflected as batch mode does, with ``community_id`` already
    flagged as a part of the primary key to come (else SQLAlchemy warns that the
    columns flagged and the key differ)."""
    reflected = sa.Table(
        table,
        sa.MetaData(),
        autoload_with=op.get_bind(),
        listeners=[("column_reflect", op.get_context().impl.autogen_column_reflect)],
    )
    reflected.c.community_id.primary_key = True
    return reflected


@contextmanager
def rebuilt(table):
    """SQLite: around a batch rebuild of ``table``. The new copy is renamed into
    place while other tables' triggers name the table, which SQLite refuses
    unless renames are done the legacy way (no check of triggers); and the
    table's own triggers (append-only, the closed month, the statement's
    merchant) go with the old copy, so they are made again as they were."""
    triggers = op.get_bind().exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? ORDER BY name",
        (table,),
    ).scalars().all()
    op.execute("PRAGMA legacy_alter_table = ON")
    try:
        yield
    finally:
        op.execute("PRAGMA legacy_alter_table = OFF")
    for statement in triggers:
        op.execute(statement)
