"""Reports read from a streaming replica when ``REPORTS_DATABASE_URL`` names one.

The reconciliation report and the dashboard read a community's books whole: at a
city's size the heaviest reads there are, and none of them writes. Inside
:func:`reports_reads` every statement the session sends goes to the ``reports``
bind (Flask-SQLAlchemy's ``SQLALCHEMY_BINDS``), whose connections are read-only,
so a write there fails loudly instead of landing anywhere. Without the setting
they run on the primary, as everything else does. A month close computes its
report on the primary: it must see exactly what it locks and closes.

A replica runs a little behind the primary (PostgreSQL's streaming replication,
typically well under a second): a report read there may miss the last postings,
never part of one, as each statement sees one committed state of the replica.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import sqlalchemy as sa
from flask_sqlalchemy.session import Session as FlaskSession

REPORTS = "reports"
_reading_reports: ContextVar[bool] = ContextVar("jifen_reading_reports", default=False)


@contextmanager
def reports_reads() -> Iterator[None]:
    """The session's statements meanwhile go to the reports database, if one is set."""
    token = _reading_reports.set(True)
    try:
        yield
    finally:
        _reading_reports.reset(token)


class Session(FlaskSession):
    """Flask-SQLAlchemy's session, sending reports' reads to the ``reports`` bind."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is None and _reading_reports.get():
            engine = self._db.engines.get(REPORTS)
            if engine is not None:
                return engine
        return super().get_bind(mapper, clause, bind, **kwargs)


def configure(config: dict) -> None:
    """``REPORTS_DATABASE_URL`` as the ``reports`` bind (before the engines are made)."""
    url = config.get("REPORTS_DATABASE_URL")
    if url:
        config["SQLALCHEMY_BINDS"] = {**config.get("SQLALCHEMY_BINDS", {}), REPORTS: url}


def init_app(engines: dict[str | None, sa.Engine]) -> None:
    """Make the reports database's connections read-only."""
    engine = engines.get(REPORTS)
    if engine is None:
        return
    statement = (
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"
        if engine.dialect.name == "postgresql"
        else "PRAGMA query_only = ON"
    )

    @sa.event.listens_for(engine, "connect")
    def _read_only(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()
        if engine.dialect.name == "postgresql":
            dbapi_connection.commit()
