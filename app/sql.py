"""Portable SQL the ORM does not say for us."""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .extensions import db


def on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def insert(model):
    """``INSERT`` for the session's database, with its ``ON CONFLICT`` clauses."""
    return (postgresql.insert if on_postgresql() else sqlite.insert)(model)


def insert_many(
    table: sa.Table,
    rows: Sequence[dict],
    *,
    same: dict,
    on_conflict_do_nothing: bool = False,
    returning: Sequence[sa.Column] = (),
) -> list[sa.Row]:
    """Insert ``rows`` (the columns that differ) with ``same`` (the columns alike in all).

    PostgreSQL gets one ``INSERT ... SELECT ... FROM unnest(arrays)``: one
    parameter per column, however many rows, so the server does the per-row
    work. SQLite gets a multi-row ``INSERT``. Returns the ``returning``
    columns of the rows inserted (a conflict skips a row).
    """
    if not rows:
        return []
    if not on_postgresql():
        statement = sqlite.insert(table)
        if on_conflict_do_nothing:
            statement = statement.on_conflict_do_nothing()
        if returning:
            # RETURNING also makes SQLAlchemy send the rows in multi-row batches.
            statement = statement.returning(*returning)
            return db.session.execute(statement, [{**same, **row} for row in rows]).all()
        db.session.execute(statement, [{**same, **row} for row in rows])
        return []
    varying = list(rows[0])
    arrays = [
        sa.bindparam(
            f"array_{name}", [row[name] for row in rows], type_=postgresql.ARRAY(table.c[name].type)
        )
        for name in varying
    ]
    unnested = sa.func.unnest(*arrays).table_valued(*varying).render_derived(name="unnested")
    constants = [
        sa.literal(value, type_=table.c[name].type).label(name) for name, value in same.items()
    ]
    source = sa.select(*constants, *(unnested.c[name] for name in varying))
    statement = postgresql.insert(table).from_select([*same, *varying], source)
    if on_conflict_do_nothing:
        statement = statement.on_conflict_do_nothing()
    if returning:
        return db.session.execute(statement.returning(*returning)).all()
    db.session.execute(statement)
    return []
