"""Portable SQL the ORM does not say for us."""

import functools
from collections.abc import Sequence

import sqlalchemy as sa
from psycopg.pq import TransactionStatus
from psycopg.rows import namedtuple_row
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict
from sqlalchemy.orm.util import identity_key

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


def among(column: sa.ColumnElement, values) -> sa.ColumnElement[bool]:
    """``column IN values``. On PostgreSQL the values go as one array (``= ANY``):
    a batch of a thousand ids is then one parameter, not a thousand placeholders
    rendered into a statement too long for the driver to keep parsed."""
    values = list(values)
    if on_postgresql():
        return column == sa.any_(sa.bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


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


# --- hot reads ---------------------------------------------------------------------
#
# Every API request reads its bearer token's member, and a balance read one row
# more. Through the ORM each such statement cost more CPU than the database spent
# answering it (building the cache key, the execution context, the loading of
# entities); on PostgreSQL they go to the driver as prepared statements instead,
# on the session's own connection, so they see the request's transaction. A read
# that comes before any write runs outside a transaction: a request that only
# reads then costs its reads' round trips alone, with no BEGIN and no COMMIT.


_PSYCOPG = psycopg_dialect.dialect()


@functools.cache
def driver_sql(statement: sa.Executable) -> str:
    """``statement`` as psycopg's text, compiled once: hot statements are module constants."""
    return str(statement.compile(dialect=_PSYCOPG))


#: Called with each hot read's text and parameters (see app.query_plans): these
#: statements pass SQLAlchemy's events by.
watchers: list = []

#: Where a pooled connection keeps its cursor for hot reads, so the cursor's
#: adapters stay looked up from one request to the next.
_CURSOR = "jifen.hot_cursor"


def hot_row(statement: sa.Select, parameters: dict):
    """The first row of ``statement`` or None: on PostgreSQL through the driver's
    prepared statement (values as the driver gives them), elsewhere through the
    session (values as SQLAlchemy's types give them; :func:`adopt` knows which)."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return db.session.execute(statement, parameters).first()
    pooled = connection.connection
    cursor = pooled.info.get(_CURSOR)
    if cursor is None or cursor.connection is not pooled.driver_connection:
        cursor = pooled.info[_CURSOR] = pooled.driver_connection.cursor(row_factory=namedtuple_row)
    text = driver_sql(statement)
    for watch in watchers:
        watch(text, parameters)
    driver = pooled.driver_connection
    if driver.info.transaction_status != TransactionStatus.IDLE:
        return cursor.execute(text, parameters, prepare=True).fetchone()
    driver.autocommit = True
    try:
        return cursor.execute(text, parameters, prepare=True).fetchone()
    finally:
        driver.autocommit = False


def columns_of(model, prefix: str) -> list[sa.Label]:
    """``model``'s columns labelled ``prefix`` + name, to read several models in one row."""
    return [column.label(prefix + column.key) for column in model.__table__.columns]


@functools.cache
def _processors(model) -> tuple[tuple[str, object], ...]:
    """What SQLAlchemy's types make of the driver's values (an enum from its text...)."""
    return tuple(
        (column.key, column.type.result_processor(_PSYCOPG, None))
        for column in model.__table__.columns
    )


def adopt(model, row, prefix: str):
    """The session's persistent ``model`` whose columns ``row`` holds under ``prefix``
    (see :func:`columns_of`), or None when its id is NULL (an outer join found none).

    The identity map's instance when the session holds one; else one made from the
    row and attached as loaded: the values go into the new instance's dict, which
    ``make_transient_to_detached`` then takes as loaded state, as a query's loading
    does, at a fraction of its cost."""
    ident = getattr(row, prefix + "id")
    if ident is None:
        return None
    known = db.session.identity_map.get(identity_key(model, ident))
    if known is not None:
        return known
    raw = not isinstance(row, sa.Row)
    instance = model()
    values = instance_dict(instance)
    for key, process in _processors(model):
        value = getattr(row, prefix + key)
        values[key] = process(value) if raw and process is not None else value
    make_transient_to_detached(instance)
    db.session.add(instance)
    return instance
