"""Declarative base shared by every model.

The naming convention gives every constraint a predictable name, so migrations
and error handlers can refer to them (``ck_accounts_balance_nonnegative``...).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, relationship
from sqlalchemy.schema import CreateColumn

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.TypeDecorator):
    """Timezone-aware UTC timestamps on PostgreSQL and SQLite alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def enum_column_type(enum_cls, name):
    """A portable enum: VARCHAR plus a named CHECK, storing the enum *values*."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


def in_community(owner: str, target: str, column: str, **options):
    """A read-only many-to-one from ``owner.column`` to ``target`` that also
    matches ``community_id``: the same composite key the foreign key enforces,
    so a row only ever reaches into its own community."""
    return relationship(
        target,
        primaryjoin=f"and_({owner}.{column} == {target}.id, "
        f"{owner}.community_id == {target}.community_id)",
        foreign_keys=f"[{owner}.community_id, {owner}.{column}]",
        viewonly=True,
        **options,
    )


#: 64-bit on PostgreSQL; plain INTEGER on SQLite so primary keys alias the rowid.
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), int: BigInt}


# --- community-keyed tables ------------------------------------------------------
#
# A community-owned table's primary key is ``(community_id, id)``, so PostgreSQL
# can be sharded by community (Citus distributes on ``community_id`` and wants it
# in every primary and unique key). ``id`` stays unique on its own, drawn from the
# table's sequence, and is what the ORM maps as the identity, so code and URLs
# keep naming a row by its ``id``.
#
# SQLite gives a generated id only to a one-column ``INTEGER PRIMARY KEY`` (the
# rowid). It is the embedded single-node database and is never sharded, so there
# the same declaration renders as ``id INTEGER PRIMARY KEY`` plus
# ``UNIQUE (community_id, id)``, which the composite foreign keys refer to.

COMMUNITY_KEY = ("community_id", "id")


def _community_keyed(table: sa.Table | None) -> bool:
    return table is not None and tuple(c.name for c in table.primary_key.columns) == COMMUNITY_KEY


@compiles(sa.PrimaryKeyConstraint, "sqlite")
def _sqlite_community_key(constraint, compiler, **kw):
    if _community_keyed(constraint.table):
        return "UNIQUE (community_id, id)"
    return compiler.visit_primary_key_constraint(constraint, **kw)


@compiles(CreateColumn, "sqlite")
def _sqlite_community_id_column(element, compiler, **kw):
    column = element.element
    if column.name == "id" and _community_keyed(column.table):
        return "id INTEGER NOT NULL PRIMARY KEY"
    return compiler.visit_create_column(element, **kw)


def community_keyed(*table_args) -> tuple:
    """``__table_args__`` for a community-owned table: ``(community_id, id)`` as
    the primary key, then ``table_args``. Declare the columns as::

        community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
        #: Unique on its own; indexed, as rows are looked up by id alone.
        id: Mapped[int] = mapped_column(autoincrement=True, index=True)
        __mapper_args__ = {"primary_key": ["id"]}
    """
    return (sa.PrimaryKeyConstraint(*COMMUNITY_KEY), *table_args)
