"""Portable SQL the ORM does not say for us."""

import functools
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .extensions import db


def on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def locked(instance):
    """``instance`` read afresh, its row locked for this transaction (``FOR UPDATE
    OF`` its own table: rows that eager loads join in stay unlocked)."""
    model = type(instance)
    return db.session.execute(
        sa.select(model)
        .where(model.id == instance.id)
        .with_for_update(of=model)
        .execution_options(populate_existing=True)
    ).scalar_one()


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
    varying = tuple(rows[0])
    statement = _unnest_insert(
        table, varying, tuple(same), on_conflict_do_nothing, tuple(c.name for c in returning)
    )
    params = {f"array_{name}": [row[name] for row in rows] for name in varying}
    params.update((f"same_{name}", value) for name, value in same.items())
    result = db.session.execute(statement, params)
    return result.all() if returning else []


@functools.cache
def _unnest_insert(
    table: sa.Table,
    varying: tuple[str, ...],
    same: tuple[str, ...],
    on_conflict_do_nothing: bool,
    returning: tuple[str, ...],
) -> sa.Insert:
    """:func:`insert_many`'s PostgreSQL statement, built once per shape: runs
    insert thousands of batches, and building it cost more than sending it."""
    arrays = [
        sa.bindparam(f"array_{name}", type_=postgresql.ARRAY(table.c[name].type))
        for name in varying
    ]
    unnested = sa.func.unnest(*arrays).table_valued(*varying).render_derived(name="unnested")
    constants = [
        sa.bindparam(f"same_{name}", type_=table.c[name].type).label(name) for name in same
    ]
    source = sa.select(*constants, *(unnested.c[name] for name in varying))
    statement = postgresql.insert(table).from_select([*same, *varying], source)
    if on_conflict_do_nothing:
        statement = statement.on_conflict_do_nothing()
    if returning:
        statement = statement.returning(*(table.c[name] for name in returning))
    return statement
