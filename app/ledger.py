"""The ledger's writes: :func:`post` (and :func:`reverse`, which calls it).

Domain services build a list of ``(account, amount)`` legs and call
:func:`post`; it checks the legs balance per unit, moves each account balance
by the guarded move, and writes the transaction and its entries. Nothing here
commits: the request (or CLI command) that called it commits once, or rolls
everything back.

Every value movement is posted here but one: on PostgreSQL a redemption's rows
are written by the PL/pgSQL function ``jifen_redeem`` in one round trip
(``app.redemptions``), because a till waits on it and every till of a community
moves its one coupon-escrow row. Both move balances by the same guarded move,
which has one author per database: on PostgreSQL the function
``jifen_move_balances`` (migration 0009), called by :func:`post` and by
``jifen_redeem``; on SQLite, the single-writer embedded database, the
statements of :class:`SqliteBalances`. Which one runs is chosen once, when the
app is created (:func:`init_app`).
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql

from models import (
    SOURCE_KINDS,
    Account,
    AccountKind,
    Fund,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
    Unit,
)
from models.ledger import POINTS_KINDS

from . import sql
from .extensions import db
from .problems import Conflict, Problem

Leg = tuple[Account, int]


class UnbalancedTransaction(Problem):
    status, slug, title = 500, "unbalanced-transaction", _l("Ledger transaction does not balance")


class InsufficientBalance(Conflict):
    slug, title = "insufficient-balance", _l("Insufficient balance")
    message = _l("Not enough points. Scan again and check the amount.")


class AlreadyReversed(Conflict):
    slug, title = "already-reversed", _l("Transaction already reversed")


class MonthClosed(Conflict):
    """The database refused a posting dated in a closed month (migration 0014)."""

    slug, title = "month-closed", _l("The month is closed")
    message = _l(
        "Nothing more can be posted in a closed month; post the correction into the open month."
    )


#: The name the month-close triggers give their refusal, on both databases.
MONTH_CLOSED = "ledger_month_closed"


def month_closed(error: sa.exc.IntegrityError) -> bool:
    """Whether the error is that refusal: PostgreSQL names it as the constraint,
    SQLite's trigger starts its message with it."""
    diagnosis = getattr(error.orig, "diag", None)
    return getattr(diagnosis, "constraint_name", None) == MONTH_CLOSED or str(
        error.orig
    ).startswith(MONTH_CLOSED)


class ReversalOfReversal(Conflict):
    slug, title = "reversal-not-reversible", _l("A reversal cannot itself be reversed")
    message = _l("A reversal cannot itself be reversed; post a new transaction instead.")


def account_key(kind: AccountKind, *, member_id=None, merchant_id=None, fund=None) -> str:
    if member_id is not None:
        return f"{kind.value}:member:{member_id}"
    if merchant_id is not None:
        return f"{kind.value}:merchant:{merchant_id}"
    if fund is not None:
        return f"{kind.value}:{Fund(fund).value}"
    return kind.value


#: Built once: nearly every request looks an account up by its key.
_ACCOUNT_BY_KEY = sa.select(Account).where(
    Account.community_id == sa.bindparam("community_id"), Account.key == sa.bindparam("key")
)


def ensure_account(
    community_id: int, kind: AccountKind, *, member_id=None, merchant_id=None, fund=None
) -> Account:
    """The community's account of this kind and owner, created on first use.

    ``INSERT ... ON CONFLICT DO NOTHING`` makes concurrent first uses safe.
    """
    key = account_key(kind, member_id=member_id, merchant_id=merchant_id, fund=fund)
    where = {"community_id": community_id, "key": key}
    account = db.session.execute(_ACCOUNT_BY_KEY, where).scalar_one_or_none()
    if account is not None:
        return account
    values = dict(
        community_id=community_id,
        kind=kind,
        unit=Unit.POINTS if kind in POINTS_KINDS else Unit.FEN,
        key=key,
        member_id=member_id,
        merchant_id=merchant_id,
        fund=fund,
        balance=0,
        may_go_negative=kind in SOURCE_KINDS,
    )
    db.session.execute(
        sql.insert(Account)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["community_id", "key"])
    )
    return db.session.execute(_ACCOUNT_BY_KEY, where).scalar_one()


def post(
    community_id: int,
    kind: TransactionKind,
    legs: Sequence[Leg],
    *,
    memo: str,
    reference: str | None = None,
    reverses: LedgerTransaction | None = None,
    actor_id: int | None = None,
) -> LedgerTransaction:
    """Record one balanced transaction and move the balances it touches.

    Raises :class:`InsufficientBalance` (naming the account) when a guarded
    update finds a non-source account would go below zero, and
    :class:`MonthClosed` when the database refuses a posting into a closed month. The balances move
    before anything is written, so a refused post leaves nothing behind and the
    caller's database transaction stays usable.
    """
    legs = [(account, amount) for account, amount in legs if amount != 0]
    _check_balanced(community_id, legs)
    _move_balances(community_id, _net_by_account(legs))
    txn = LedgerTransaction(
        community_id=community_id,
        kind=kind,
        memo=memo,
        reference=reference,
        reverses_id=reverses.id if reverses is not None else None,
        actor_id=actor_id,
    )
    db.session.add(txn)
    try:
        db.session.flush()
        entries = [
            dict(account_id=account.id, unit=account.unit, amount=amount)
            for account, amount in legs
        ]
        same = dict(community_id=community_id, transaction_id=txn.id)
        if len(entries) > SET_BASED_ACCOUNTS:
            sql.insert_many(LedgerEntry.__table__, entries, same=same)
        else:
            db.session.execute(sa.insert(LedgerEntry), [{**same, **entry} for entry in entries])
    except sa.exc.IntegrityError as error:
        if month_closed(error):
            raise MonthClosed() from error
        raise
    return txn


def reverse(
    original: LedgerTransaction, *, memo: str, actor_id: int | None = None
) -> LedgerTransaction:
    """Post the mirror image of ``original``; a transaction is reversed at most once."""
    if original.kind == TransactionKind.REVERSAL:
        raise ReversalOfReversal()
    already = db.session.execute(
        sa.select(LedgerTransaction.id).where(
            LedgerTransaction.community_id == original.community_id,
            LedgerTransaction.reverses_id == original.id,
        )
    ).scalar_one_or_none()
    if already is not None:
        raise AlreadyReversed(
            _(
                "Transaction %(id)s was already reversed by %(reversal)s.",
                id=original.id,
                reversal=already,
            )
        )
    accounts = {
        a.id: a
        for a in db.session.execute(
            sa.select(Account).where(Account.id.in_({e.account_id for e in original.entries}))
        ).scalars()
    }
    legs = [(accounts[e.account_id], -e.amount) for e in original.entries]
    return post(
        original.community_id,
        TransactionKind.REVERSAL,
        legs,
        memo=memo,
        reverses=original,
        actor_id=actor_id,
    )


def _check_balanced(community_id: int, legs: Sequence[Leg]) -> None:
    if len(legs) < 2:
        raise UnbalancedTransaction("A transaction needs at least two non-zero entries.")
    totals: dict[Unit, int] = defaultdict(int)
    for account, amount in legs:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise UnbalancedTransaction(f"Amounts are integers, got {amount!r}.")
        if account.community_id != community_id:
            raise UnbalancedTransaction("Every entry must belong to the transaction's community.")
        totals[account.unit] += amount
    unbalanced = {unit.value: total for unit, total in totals.items() if total}
    if unbalanced:
        raise UnbalancedTransaction(f"Entries do not sum to zero per unit: {unbalanced}.")


def _net_by_account(legs: Iterable[Leg]) -> dict[int, int]:
    net: dict[int, int] = defaultdict(int)
    for account, amount in legs:
        net[account.id] += amount
    return {account_id: amount for account_id, amount in net.items() if amount}


def init_app(app) -> None:
    """Choose the guarded balance move for the app's database, once."""
    with app.app_context():
        dialect = db.engine.dialect.name
    app.extensions["jifen.balances"] = (
        PostgresBalances() if dialect == "postgresql" else SqliteBalances()
    )


def _move_balances(community_id: int, net: dict[int, int]) -> None:
    """Move every balance of ``net`` by the guarded move, or none of them."""
    refused = current_app.extensions["jifen.balances"].move(community_id, net)
    if refused is not None:
        raise InsufficientBalance(
            _(
                "Account %(account)s does not hold the %(amount)s needed.",
                account=refused,
                amount=-net[refused],
            ),
            account_id=refused,
        )
    for account_id in net:
        loaded = db.session.identity_map.get(db.session.identity_key(Account, account_id))
        if loaded is not None:
            db.session.expire(loaded, ["balance"])


class PostgresBalances:
    """The guarded move on PostgreSQL: one call to ``jifen_move_balances``."""

    _MOVE = sa.select(
        sa.func.jifen_move_balances(
            sa.bindparam("community_id", type_=sa.BigInteger),
            sa.bindparam("ids", type_=postgresql.ARRAY(sa.BigInteger)),
            sa.bindparam("amounts", type_=postgresql.ARRAY(sa.BigInteger)),
        )
    )

    def move(self, community_id: int, net: dict[int, int]) -> int | None:
        """The refused account's id (nothing moved), or None (all moved)."""
        ids = sorted(net)
        return db.session.execute(
            self._MOVE,
            {"community_id": community_id, "ids": ids, "amounts": [net[i] for i in ids]},
        ).scalar_one()


#: On SQLite, a post touching more accounts than this (a coupon run converting
#: points out of thousands of wallets) moves their balances a chunk at a time,
#: not one UPDATE per account.
SET_BASED_ACCOUNTS = 20
#: Accounts per statement on that path (each row updated searches a CASE over
#: this many ids).
SET_BASED_CHUNK = 100


class SqliteBalances:
    """The guarded move on SQLite, whose ``BEGIN IMMEDIATE`` already holds the
    database's one write lock, so no other writer can come between a read and
    an update. Accounts are moved in id order, as on PostgreSQL."""

    def move(self, community_id: int, net: dict[int, int]) -> int | None:
        """The refused account's id (nothing moved), or None (all moved)."""
        if len(net) > SET_BASED_ACCOUNTS:
            return self._move_many(community_id, net)
        moved: list[tuple[int, int]] = []
        for account_id, amount in sorted(net.items()):
            if not _add_to_balance(community_id, account_id, amount, guarded=True):
                for done_id, done in reversed(moved):
                    _add_to_balance(community_id, done_id, -done, guarded=False)
                return account_id
            moved.append((account_id, amount))
        return None

    def _move_many(self, community_id: int, net: dict[int, int]) -> int | None:
        """Two statements per hundred accounts: read and check them all, then
        move them; the ``balance_nonnegative`` CHECK stands behind the check."""
        ids = sorted(net)
        chunks = [ids[i : i + SET_BASED_CHUNK] for i in range(0, len(ids), SET_BASED_CHUNK)]
        for chunk in chunks:
            rows = db.session.execute(
                sa.select(Account.id, Account.balance, Account.may_go_negative)
                .where(Account.community_id == community_id, Account.id.in_(chunk))
                .order_by(Account.id)
            )
            for account_id, balance, may_go_negative in rows:
                if not may_go_negative and balance + net[account_id] < 0:
                    return account_id
        for chunk in chunks:
            db.session.execute(
                sa.update(Account)
                .where(Account.community_id == community_id, Account.id.in_(chunk))
                .values(
                    balance=Account.balance
                    + sa.case(
                        {account_id: net[account_id] for account_id in chunk}, value=Account.id
                    )
                )
                .execution_options(synchronize_session=False)
            )
        return None


def _balance_move(*, guarded: bool) -> sa.Update:
    amount = sa.bindparam("amount", type_=sa.BigInteger)
    condition = (Account.community_id == sa.bindparam("in_community")) & (
        Account.id == sa.bindparam("account")
    )
    if guarded:
        condition &= sa.or_(Account.may_go_negative, Account.balance + amount >= 0)
    return (
        sa.update(Account)
        .where(condition)
        .values(balance=Account.balance + amount)
        .execution_options(synchronize_session=False)
    )


#: Built once: on SQLite every posting runs one per account it moves.
_MOVES = {True: _balance_move(guarded=True), False: _balance_move(guarded=False)}


def _add_to_balance(community_id: int, account_id: int, amount: int, *, guarded: bool) -> bool:
    """Add ``amount`` to the balance; the guarded update is refused (False)
    when a non-source account would go below zero. The WHERE clause, not a
    prior read, decides.
    """
    result = db.session.execute(
        _MOVES[guarded],
        {"in_community": community_id, "account": account_id, "amount": amount},
    )
    return result.rowcount == 1
