"""Which tables PostgreSQL's plan for a statement reads whole.

The hot reads (a balance, a member's history and coupons, the till's read, a
merchant's redemptions, a month's report) must find their rows through an index
however big the books grow. The tests hold them to it on a small database with
sequential scans switched off, where a sequential scan left in a plan means no
index can serve the query; the city benchmark asks the same of the plans the
planner makes, with its normal settings, at a city's size.
"""

from contextlib import contextmanager

import sqlalchemy as sa

from . import sql

#: A community's settings and its partners: they grow with the number of
#: communities and merchants, not with residents or time, so reading one whole is
#: no sign of a missing index.
SMALL = frozenset(
    {
        "communities",
        "points_rates",
        "merchants",
        "merchant_groups",
        "merchant_group_members",
        "offers",
        "issuance_rules",
        "alembic_version",
    }
)


@contextmanager
def statements_run(engine):
    """The reads sent through ``engine`` meanwhile, with their parameters, and the
    hot reads sent to the driver directly (:func:`app.sql.hot_row`)."""
    seen: list[tuple[str, dict]] = []

    def record(_conn, _cursor, statement, parameters, _context, executemany):
        if not executemany and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    def hot(statement, parameters):
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    sql.watchers.append(hot)
    try:
        yield seen
    finally:
        sql.watchers.remove(hot)
        sa.event.remove(engine, "before_cursor_execute", record)


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def tables_read_whole(driver, statement: str, parameters, *, seqscan: bool = False) -> set[str]:
    """The tables, besides :data:`SMALL`, that the plan of ``statement`` scans
    sequentially; ``driver`` is a psycopg connection. With ``seqscan`` False the
    planner takes such a scan only where no index serves the query."""
    with driver.cursor() as cursor:
        if not seqscan:
            cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            (document,) = cursor.fetchone()
        finally:
            if not seqscan:
                cursor.execute("RESET enable_seqscan")
    return {
        node["Relation Name"]
        for node in nodes(document[0]["Plan"])
        if node["Node Type"] == "Seq Scan" and node["Relation Name"] not in SMALL
    }
