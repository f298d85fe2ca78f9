"""The double-entry ledger.

Every movement of points or money is one :class:`LedgerTransaction` with two or
more :class:`LedgerEntry` rows. Entries are signed integers (points, or fen)
and, within one transaction, the entries of each unit sum to zero. Entries are
never updated or deleted; a mistake is undone by a reversing transaction that
points at the original through ``reverses_id``.

An :class:`Account` keeps its running ``balance`` on the row, changed in the
same database transaction as its entries by a guarded ``UPDATE`` so that no
read-then-write race can overdraw it. Only source accounts (``issuance`` for
points, ``income`` for money) may go negative, which is what makes the sum of
all balances of a unit in a community zero at every moment.

The database enforces what must never happen: named CHECK constraints on
amounts and balances, composite foreign keys that keep an entry in its
account's community and unit, and (on PostgreSQL) a deferred constraint
trigger that refuses, at commit, a transaction whose entries do not balance.
"""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, community_keyed, enum_column_type, utcnow


class Unit(enum.StrEnum):
    POINTS = "points"
    FEN = "fen"


class AccountKind(enum.StrEnum):
    ISSUANCE = "issuance"
    WALLET = "wallet"
    COUPON_ESCROW = "coupon_escrow"
    MERCHANT_RECEIVABLE = "merchant_receivable"
    RETIRED = "retired"
    EXPIRED = "expired"
    INCOME = "income"
    FUND_CASH = "fund_cash"
    MERCHANT_PAYABLE = "merchant_payable"
    PAID_OUT = "paid_out"


POINTS_KINDS = frozenset(
    {
        AccountKind.ISSUANCE,
        AccountKind.WALLET,
        AccountKind.COUPON_ESCROW,
        AccountKind.MERCHANT_RECEIVABLE,
        AccountKind.RETIRED,
        AccountKind.EXPIRED,
    }
)
#: Sources of value: the only accounts allowed below zero.
SOURCE_KINDS = frozenset({AccountKind.ISSUANCE, AccountKind.INCOME})


class Fund(enum.StrEnum):
    CHARITY = "charity"  # 慈善基金
    COMMUNITY = "community"  # 社区基金


class TransactionKind(enum.StrEnum):
    AWARD = "award"
    DEDUCTION = "deduction"
    ATTENDANCE_AWARD = "attendance_award"
    COUPON_ISSUE = "coupon_issue"
    REDEMPTION = "redemption"
    COUPON_EXPIRY = "coupon_expiry"
    COUPON_REVOCATION = "coupon_revocation"
    DONATION = "donation"
    INCOME = "income"
    SETTLEMENT = "settlement"
    PAYOUT = "payout"
    REVERSAL = "reversal"


def _in(values) -> str:
    return ", ".join(f"'{v.value}'" for v in sorted(values))


class Account(Base):
    __tablename__ = "accounts"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    kind: Mapped[AccountKind] = mapped_column(enum_column_type(AccountKind, "account_kind"))
    unit: Mapped[Unit] = mapped_column(enum_column_type(Unit, "unit"))
    #: Unique name within the community, e.g. ``issuance`` or ``wallet:member:42``.
    key: Mapped[str] = mapped_column(sa.String(64))
    member_id: Mapped[int | None] = mapped_column()
    merchant_id: Mapped[int | None] = mapped_column()
    fund: Mapped[Fund | None] = mapped_column(enum_column_type(Fund, "fund"))
    #: Points or fen; equals the sum of this account's entries at every commit.
    balance: Mapped[int] = mapped_column(default=0)
    #: True only for source accounts; read by the guarded balance update.
    may_go_negative: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "key"),
        sa.UniqueConstraint("community_id", "id", "unit"),
        sa.ForeignKeyConstraint(
            ["community_id", "member_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "merchant_id"], ["merchants.community_id", "merchants.id"]
        ),
        sa.CheckConstraint("may_go_negative OR balance >= 0", name="balance_nonnegative"),
        sa.CheckConstraint(
            f"may_go_negative = (kind IN ({_in(SOURCE_KINDS)}))", name="negative_only_for_sources"
        ),
        sa.CheckConstraint(
            f"(unit = 'points') = (kind IN ({_in(POINTS_KINDS)}))", name="unit_matches_kind"
        ),
        sa.Index("ix_accounts_member", "member_id"),
        sa.Index("ix_accounts_merchant", "merchant_id"),
    )


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"))
    kind: Mapped[TransactionKind] = mapped_column(
        enum_column_type(TransactionKind, "transaction_kind")
    )
    #: What a person reading the history sees: the award reason, the activity...
    memo: Mapped[str] = mapped_column(sa.String(500))
    #: The domain object this transaction settles (e.g. ``award:17``); unique, so
    #: posting for the same object twice is refused by the database.
    reference: Mapped[str | None] = mapped_column(sa.String(100))
    #: The transaction this one reverses; each may be reversed at most once.
    reverses_id: Mapped[int | None] = mapped_column()
    #: Who posted it, always of the transaction's community; NULL for the command line and Stripe.
    actor_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    entries: Mapped[list["LedgerEntry"]] = relationship(
        back_populates="transaction",
        primaryjoin="and_(LedgerEntry.transaction_id == LedgerTransaction.id, "
        "LedgerEntry.community_id == LedgerTransaction.community_id)",
        foreign_keys="[LedgerEntry.community_id, LedgerEntry.transaction_id]",
        order_by="LedgerEntry.id",
    )

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.UniqueConstraint("community_id", "reference"),
        sa.UniqueConstraint("community_id", "reverses_id"),
        sa.ForeignKeyConstraint(
            ["community_id", "actor_id"], ["members.community_id", "members.id"]
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "reverses_id"],
            ["ledger_transactions.community_id", "ledger_transactions.id"],
        ),
        sa.CheckConstraint("reverses_id IS NULL OR reverses_id <> id", name="not_self_reversing"),
        #: Reconciliation, the month close and issuance read a community's transactions
        #: by time; on PostgreSQL from this index alone (migration 0020).
        sa.Index(
            "ix_ledger_transactions_community_created_at",
            "community_id",
            "created_at",
            postgresql_include=["id", "kind", "reverses_id"],
        ),
    )


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    #: Unique on its own; indexed, as rows are looked up by id alone.
    id: Mapped[int] = mapped_column(autoincrement=True, index=True)
    community_id: Mapped[int] = mapped_column()
    transaction_id: Mapped[int] = mapped_column()
    account_id: Mapped[int] = mapped_column()
    #: Copied from the account (the foreign key makes them agree) so the
    #: balance trigger can sum per unit without a join.
    unit: Mapped[Unit] = mapped_column(enum_column_type(Unit, "unit"))
    #: Signed: positive credits the account's balance, negative debits it.
    amount: Mapped[int]

    transaction: Mapped[LedgerTransaction] = relationship(
        back_populates="entries",
        primaryjoin="and_(LedgerEntry.transaction_id == LedgerTransaction.id, "
        "LedgerEntry.community_id == LedgerTransaction.community_id)",
        foreign_keys=[community_id, transaction_id],
    )
    account: Mapped[Account] = relationship(
        primaryjoin="LedgerEntry.account_id == Account.id",
        foreign_keys=[account_id],
        viewonly=True,
    )

    __mapper_args__ = {"primary_key": ["id"]}
    __table_args__ = community_keyed(
        sa.ForeignKeyConstraint(
            ["community_id", "transaction_id"],
            ["ledger_transactions.community_id", "ledger_transactions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "account_id", "unit"],
            ["accounts.community_id", "accounts.id", "accounts.unit"],
        ),
        sa.CheckConstraint("amount <> 0", name="amount_nonzero"),
        # On PostgreSQL both carry what reconciliation sums, so it reads the entries of
        # each account, and of each transaction, in index order alone (migration 0013).
        # A community's entries are one range of the second (migration 0017): in a
        # city's table they lie among every other community's, page after page.
        sa.Index(
            "ix_ledger_entries_account_id_id",
            "account_id",
            "id",
            postgresql_include=["community_id", "amount"],
        ),
        sa.Index(
            "ix_ledger_entries_community_id_transaction_id",
            "community_id",
            "transaction_id",
            postgresql_include=["account_id", "unit", "amount"],
        ),
    )
