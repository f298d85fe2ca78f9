"""Portable SQL the ORM does not say for us."""

from sqlalchemy.dialects import postgresql, sqlite

from .extensions import db


def insert(model):
    """``INSERT`` for the session's database, with its ``ON CONFLICT`` clauses."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)
