"""The schema as Citus would need it to distribute the community-owned tables by
``community_id``, read from PostgreSQL's catalog after the migrations.

Citus refuses ``create_distributed_table(t, 'community_id')`` when a primary key,
unique constraint or unique index of ``t`` leaves ``community_id`` out, and refuses a foreign key
between two distributed tables that does not join on it; a table that is not
distributed may not point at one that is.

Two kinds of table do not hold to that today, each listed here, and the lists may
only shrink. ``NOT_YET``: the tables that hold platform admins or their doings. A
platform admin is a member of no community (``community_id`` NULL, which no primary
key column may be), so:

- ``members`` keeps ``id`` as its primary key beside a unique ``(community_id, id)``;
  ``username`` is unique across communities, as signing in names no community; and
  ``created_by_id`` refers to ``members.id`` alone, as a platform admin makes each
  fund admin;
- ``api_tokens`` is looked up by ``digest`` alone (a bearer token names no
  community), unique across communities, and a platform admin's tokens have no
  community; ``member_id`` refers to ``members.id``;
- ``idempotency_keys`` holds a platform admin's page forms too (each form is sent
  once under its key): no community, unique per ``(member_id, key)``, ``member_id``
  to ``members.id``;
- ``audit_log`` logs what platform admins do, some of it in no community (a new
  community), and names its actor by ``members.id`` alone, as a platform admin acts
  in communities not theirs.

docs/scaling.md says what distributing them takes. ``STRIPE_IDS``: the fund's
tables, and merchants' connected accounts, keep every Stripe object id unique across
all communities, so that no replay
or sync can book one twice anywhere; distributed, that guard would move into a
reference table of Stripe ids that each booking inserts into first. Any other
table, and any new one, must be distributable as it is."""

import pytest
import sqlalchemy as sa

from app.extensions import db

pytestmark = pytest.mark.postgres

#: Tables keyed by ``id`` alone, as they hold platform admins, who belong to no community.
NOT_YET = {"api_tokens", "audit_log", "idempotency_keys", "members"}

#: Tables whose Stripe ids are unique across communities, and those columns.
STRIPE_IDS = {
    "donations": {"payment_intent_id", "charge_id"},
    "donation_refunds": {"refund_id"},
    "payout_attempts": {"stripe_transfer_id", "stripe_idempotency_key"},
    "stripe_disputes": {"dispute_id"},
    # A merchant's connected account: one Stripe account is one merchant, anywhere.
    "merchants": {"stripe_account_id"},
    # An event may name no community (a transfer made outside Jifen): its own id.
    "stripe_events": {"event_id", "id"},
}


CONSTRAINTS = sa.text(
    """
    SELECT c.relname AS table_name, k.conname AS name, k.contype AS type,
           ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY AS u(n, i)
                   JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n
                  ORDER BY u.i) AS columns,
           f.relname AS referenced,
           ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY AS u(n, i)
                   JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n
                  ORDER BY u.i) AS referenced_columns
      FROM pg_constraint k
      JOIN pg_class c ON c.oid = k.conrelid
      JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = current_schema()
      LEFT JOIN pg_class f ON f.oid = k.confrelid
     WHERE k.contype IN ('p', 'u', 'f')
    """
)


#: Unique indexes that back no constraint (``CREATE UNIQUE INDEX``): Citus holds them
#: to the same rule as unique constraints.
UNIQUE_INDEXES = sa.text(
    """
    SELECT c.relname AS table_name, i.relname AS name,
           ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY AS u(n, o)
                   JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.n
                  ORDER BY u.o) AS columns
      FROM pg_index x
      JOIN pg_class i ON i.oid = x.indexrelid
      JOIN pg_class c ON c.oid = x.indrelid
      JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = current_schema()
     WHERE x.indisunique
       AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
    """
)


def community_owned() -> set[str]:
    return set(
        db.session.scalars(
            sa.text(
                """SELECT table_name FROM information_schema.columns
                    WHERE table_schema = current_schema() AND column_name = 'community_id'"""
            )
        )
    )


def refusals() -> dict[str, list[str]]:
    """What would stop distributing each community-owned table, by table."""
    owned = community_owned()
    found: dict[str, list[str]] = {}
    for row in db.session.execute(CONSTRAINTS).mappings():
        table, columns = row["table_name"], list(row["columns"])
        if row["type"] in ("p", "u") and table in owned and "community_id" not in columns:
            found.setdefault(table, []).append(f"{row['name']} {columns} leaves community_id out")
        if row["type"] == "f" and row["referenced"] in owned:
            pairs = dict(zip(columns, row["referenced_columns"], strict=True))
            if table not in owned:
                found.setdefault(table, []).append(
                    f"{row['name']}: not community-owned, points at {row['referenced']}"
                )
            elif pairs.get("community_id") != "community_id":
                found.setdefault(table, []).append(
                    f"{row['name']} {columns} -> {row['referenced']} does not join on community_id"
                )
    for row in db.session.execute(UNIQUE_INDEXES).mappings():
        table, columns = row["table_name"], list(row["columns"])
        if table in owned and "community_id" not in columns:
            found.setdefault(table, []).append(
                f"unique index {row['name']} {columns} leaves community_id out"
            )
    return found


def test_every_community_owned_table_could_be_distributed_by_community():
    blocked = refusals()
    others = set(blocked) - NOT_YET - set(STRIPE_IDS)
    assert others == set(), {table: blocked[table] for table in others}


def test_the_fund_tables_keep_only_their_stripe_ids_global():
    blocked = refusals()
    for table, columns in STRIPE_IDS.items():
        for refusal in blocked.get(table, []):
            assert any(f"'{column}'" in refusal for column in columns), refusal


def test_the_lists_of_exceptions_only_shrink():
    blocked = refusals()
    assert NOT_YET - set(blocked) == set(), "keyed by community now: take it off NOT_YET"
    assert set(STRIPE_IDS) - set(blocked) == set(), "distributable now: take it off STRIPE_IDS"


def test_the_community_owned_tables_are_found():
    owned = community_owned()
    assert {"ledger_entries", "coupons", "redemptions", "settlement_statements"} <= owned
    assert "communities" not in owned
