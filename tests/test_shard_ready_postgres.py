"""The schema as Citus would need it to distribute the community-owned tables by
``community_id``, read from PostgreSQL's catalog after the migrations.

Citus refuses ``create_distributed_table(t, 'community_id')`` when a primary key,
unique constraint or unique index of ``t`` leaves ``community_id`` out, and refuses a foreign key
between two distributed tables that does not join on it; a table that is not
distributed may not point at one that is.

Every community-owned table does, but for one kind of exception, listed here, and
the list may only shrink. ``STRIPE_IDS``: the fund's tables, and merchants'
connected accounts, keep every Stripe object id unique across all communities, so
that no replay or sync can book one twice anywhere; distributed, that guard would
move into a reference table of Stripe ids that each booking inserts into first. Any
other table, and any new one, must be distributable as it is.

``REFERENCE``: the tables Citus would copy to every worker. The directory of
usernames and token digests names a community in ``community_id`` without being
owned by one, as it is what finds the community for a sign-in or a bearer token. A
community-owned table may point at a reference table only (the platform admin who
made a fund admin, or who acted in an audit entry), and a reference table at
reference tables only. The platform admins' tokens and form keys stay on the
coordinator, as does ``stripe_events``.
"""

import pytest
import sqlalchemy as sa

from app.extensions import db

pytestmark = pytest.mark.postgres

#: Tables copied to every worker.
REFERENCE = {"communities", "usernames", "token_digests", "platform_admins"}

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
    return (
        set(
            db.session.scalars(
                sa.text(
                    """SELECT table_name FROM information_schema.columns
                        WHERE table_schema = current_schema() AND column_name = 'community_id'"""
                )
            )
        )
        - REFERENCE
    )


def refusals() -> dict[str, list[str]]:
    """What would stop distributing each community-owned table, by table."""
    owned = community_owned()
    found: dict[str, list[str]] = {}
    for row in db.session.execute(CONSTRAINTS).mappings():
        table, columns = row["table_name"], list(row["columns"])
        if row["type"] in ("p", "u") and table in owned and "community_id" not in columns:
            found.setdefault(table, []).append(f"{row['name']} {columns} leaves community_id out")
        if row["type"] != "f":
            continue
        if row["referenced"] in owned:
            pairs = dict(zip(columns, row["referenced_columns"], strict=True))
            if table not in owned:
                found.setdefault(table, []).append(
                    f"{row['name']}: not community-owned, points at {row['referenced']}"
                )
            elif pairs.get("community_id") != "community_id":
                found.setdefault(table, []).append(
                    f"{row['name']} {columns} -> {row['referenced']} does not join on community_id"
                )
        elif row["referenced"] not in REFERENCE and (table in owned or table in REFERENCE):
            found.setdefault(table, []).append(
                f"{row['name']}: points at {row['referenced']}, neither distributed nor a "
                "reference table"
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
    others = set(blocked) - set(STRIPE_IDS)
    assert others == set(), {table: blocked[table] for table in others}


def test_the_fund_tables_keep_only_their_stripe_ids_global():
    blocked = refusals()
    for table, columns in STRIPE_IDS.items():
        for refusal in blocked.get(table, []):
            assert any(f"'{column}'" in refusal for column in columns), refusal


def test_the_list_of_exceptions_only_shrinks():
    blocked = refusals()
    assert set(STRIPE_IDS) - set(blocked) == set(), "distributable now: take it off STRIPE_IDS"


def test_the_community_owned_tables_are_found():
    owned = community_owned()
    assert {"ledger_entries", "coupons", "redemptions", "settlement_statements"} <= owned
    assert {"members", "api_tokens", "idempotency_keys", "audit_log"} <= owned
    assert owned.isdisjoint(REFERENCE)


def test_a_key_left_global_or_a_table_pointing_the_wrong_way_is_found():
    """The checks find what they look for: a unique key without the community, a
    foreign key from a community's table to a coordinator's, and one from a
    reference table into a community's (made ``NOT VALID``: only the catalog is read)."""
    db.session.execute(sa.text("ALTER TABLE members ADD CONSTRAINT uq_members_probe UNIQUE (id)"))
    db.session.execute(
        sa.text(
            "ALTER TABLE audit_log ADD CONSTRAINT fk_audit_log_probe FOREIGN KEY (id) "
            "REFERENCES platform_admin_tokens (id) NOT VALID"
        )
    )
    db.session.execute(
        sa.text(
            "ALTER TABLE usernames ADD COLUMN probe_member_id BIGINT, "
            "ADD CONSTRAINT fk_usernames_probe FOREIGN KEY (community_id, probe_member_id) "
            "REFERENCES members (community_id, id) NOT VALID"
        )
    )

    blocked = refusals()

    assert any("uq_members_probe" in refusal for refusal in blocked["members"])
    assert any("fk_audit_log_probe" in refusal for refusal in blocked["audit_log"])
    assert any("fk_usernames_probe" in refusal for refusal in blocked["usernames"])
