"""Declarative base shared by every model.

The naming convention gives every constraint a predictable name, so migrations
and error handlers can refer to them (``ck_accounts_balance_nonnegative``...).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, relationship

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
