"""The ledger core (design.md §3): ``app.ledger.post`` and ``reverse`` move balances
in balanced transactions, refuse what does not balance or would overdraw, and make
accounts once. The database's own guards beneath them: ``test_ledger_guards.py``.
"""

from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from support.apps import ON_POSTGRES
from support.books import (
    account,
    balance_of,
    balances_of,
    count_in,
    post_award,
    wallet_account,
)

from app import ledger
from app.extensions import db
from app.ledger import (
    AlreadyReversed,
    InsufficientBalance,
    ReversalOfReversal,
    UnbalancedTransaction,
)
from models import (
    SOURCE_KINDS,
    Account,
    AccountKind,
    Fund,
    LedgerEntry,
    LedgerTransaction,
    Role,
    TransactionKind,
    Unit,
)
from models.ledger import POINTS_KINDS

# ---------------------------------------------------------------------------
# post: balanced transactions move balances


def test_balanced_transaction_moves_balances_and_records_entries(community, resident):
    issuance = account(community, AccountKind.ISSUANCE)
    txn = post_award(community, resident, 120, memo="清扫楼道")

    assert balances_of(issuance, wallet_account(resident)) == [-120, 120]
    assert txn.kind == TransactionKind.AWARD
    assert txn.memo == "清扫楼道"
    assert txn.reverses_id is None
    assert [(e.account_id, e.unit, e.amount) for e in txn.entries] == [
        (issuance.id, Unit.POINTS, -120),
        (wallet_account(resident).id, Unit.POINTS, 120),
    ]
    assert all(e.community_id == community.id for e in txn.entries)


def test_balance_attribute_of_a_loaded_account_is_refreshed(community, resident):
    loaded = wallet_account(resident)
    assert loaded.balance == 0
    post_award(community, resident, 30)
    assert loaded.balance == 30


def test_many_legs_and_both_units_in_one_transaction(community, make_member):
    alice, bob = make_member(community), make_member(community)
    issuance = account(community, AccountKind.ISSUANCE)
    income = account(community, AccountKind.INCOME)
    cash = account(community, AccountKind.FUND_CASH, fund=Fund.COMMUNITY)

    txn = ledger.post(
        community.id,
        TransactionKind.AWARD,
        [
            (issuance, -10),
            (wallet_account(alice), 4),
            (wallet_account(bob), 6),
            (income, -500),
            (cash, 500),
        ],
        memo="mixed",
    )

    assert balances_of(issuance, wallet_account(alice), wallet_account(bob), income, cash) == [
        -10,
        4,
        6,
        -500,
        500,
    ]
    assert len(txn.entries) == 5
    assert {e.unit for e in txn.entries} == {Unit.POINTS, Unit.FEN}


def test_legs_on_one_account_are_netted_and_zero_legs_dropped(community, resident):
    issuance = account(community, AccountKind.ISSUANCE)
    post_award(community, resident, 50)

    txn = ledger.post(
        community.id,
        TransactionKind.DEDUCTION,
        [
            (wallet_account(resident), -80),
            (wallet_account(resident), 60),
            (issuance, 20),
            (issuance, 0),
        ],
        memo="netted",
    )

    # -80 alone would overdraw the wallet of 50; the net -20 does not.
    assert balances_of(issuance, wallet_account(resident)) == [-30, 30]
    assert sorted(e.amount for e in txn.entries) == [-80, 20, 60]


def test_references_are_unique_per_community(community, make_community, resident):
    issuance = account(community, AccountKind.ISSUANCE)
    legs = [(issuance, -1), (wallet_account(resident), 1)]
    ledger.post(community.id, TransactionKind.AWARD, legs, memo="x", reference="award:1")

    with pytest.raises(IntegrityError) as caught, db.session.begin_nested():
        ledger.post(community.id, TransactionKind.AWARD, legs, memo="x", reference="award:1")
    if ON_POSTGRES:
        assert "uq_ledger_transactions_community_id_reference" in str(caught.value.orig)
    assert balance_of(wallet_account(resident)) == 1

    # Another community may use the same reference.
    other = make_community()
    other_issuance = account(other, AccountKind.ISSUANCE)
    other_cash = account(other, AccountKind.COUPON_ESCROW)
    ledger.post(
        other.id,
        TransactionKind.AWARD,
        [(other_issuance, -1), (other_cash, 1)],
        memo="x",
        reference="award:1",
    )
    assert balance_of(other_cash) == 1


# ---------------------------------------------------------------------------
# post: what it refuses


def assert_nothing_posted(community, *accounts_and_balances):
    assert count_in(LedgerTransaction, community) == 0
    assert count_in(LedgerEntry, community) == 0
    for acct, expected in accounts_and_balances:
        assert balance_of(acct) == expected


@pytest.mark.parametrize(
    "amounts",
    [
        pytest.param((-10, 9), id="off-by-one"),
        pytest.param((10, 10), id="same-sign"),
    ],
)
def test_refuses_unbalanced_transactions(community, resident, amounts):
    issuance = account(community, AccountKind.ISSUANCE)
    with pytest.raises(UnbalancedTransaction, match="do not sum to zero") as caught:
        ledger.post(
            community.id,
            TransactionKind.AWARD,
            [(issuance, amounts[0]), (wallet_account(resident), amounts[1])],
            memo="x",
        )
    assert caught.value.status == 500
    assert caught.value.type == "urn:jifen:problem:unbalanced-transaction"
    assert_nothing_posted(community, (issuance, 0), (wallet_account(resident), 0))


def test_refuses_legs_that_balance_only_across_units(community, resident):
    """10 points against 10 fen sum to zero, but each unit must balance on its own."""
    issuance = account(community, AccountKind.ISSUANCE)
    cash = account(community, AccountKind.FUND_CASH, fund=Fund.CHARITY)
    with pytest.raises(UnbalancedTransaction, match="'points': -10") as caught:
        ledger.post(community.id, TransactionKind.AWARD, [(issuance, -10), (cash, 10)], memo="x")
    assert "'fen': 10" in caught.value.detail
    assert_nothing_posted(community, (issuance, 0), (cash, 0))


@pytest.mark.parametrize(
    "legs",
    [
        pytest.param(lambda issuance, wallet: [(wallet, 10)], id="one-leg"),
        pytest.param(lambda issuance, wallet: [(wallet, 10), (issuance, 0)], id="one-non-zero-leg"),
        pytest.param(lambda issuance, wallet: [], id="no-legs"),
    ],
)
def test_refuses_fewer_than_two_legs(community, resident, legs):
    issuance = account(community, AccountKind.ISSUANCE)
    with pytest.raises(UnbalancedTransaction, match="at least two non-zero entries"):
        ledger.post(
            community.id, TransactionKind.AWARD, legs(issuance, wallet_account(resident)), memo="x"
        )
    assert_nothing_posted(community, (issuance, 0), (wallet_account(resident), 0))


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param(10.0, id="float"),
        pytest.param(Decimal("10"), id="decimal"),
        pytest.param("10", id="string"),
        pytest.param(True, id="bool"),
    ],
)
def test_refuses_non_integer_amounts(community, resident, amount):
    issuance = account(community, AccountKind.ISSUANCE)
    negated = -amount if not isinstance(amount, str) else "-10"
    with pytest.raises(UnbalancedTransaction, match="Amounts are integers"):
        ledger.post(
            community.id,
            TransactionKind.AWARD,
            [(issuance, negated), (wallet_account(resident), amount)],
            memo="x",
        )
    assert_nothing_posted(community, (issuance, 0), (wallet_account(resident), 0))


def test_refuses_a_leg_in_another_community(community, make_community, make_member):
    other = make_community()
    stranger = make_member(other)
    issuance = account(community, AccountKind.ISSUANCE)
    with pytest.raises(UnbalancedTransaction, match="transaction's community"):
        ledger.post(
            community.id,
            TransactionKind.AWARD,
            [(issuance, -5), (wallet_account(stranger), 5)],
            memo="x",
        )
    assert_nothing_posted(community, (issuance, 0))
    assert balance_of(wallet_account(stranger)) == 0
    assert count_in(LedgerTransaction, other) == 0


# ---------------------------------------------------------------------------
# the guarded update


def test_overdraft_raises_insufficient_balance_and_leaves_nothing_behind(community, resident):
    issuance = account(community, AccountKind.ISSUANCE)
    post_award(community, resident, 100)
    txns, entries = count_in(LedgerTransaction, community), count_in(LedgerEntry, community)

    with pytest.raises(InsufficientBalance) as caught:
        ledger.post(
            community.id,
            TransactionKind.DEDUCTION,
            [(issuance, 101), (wallet_account(resident), -101)],
            memo="too much",
        )

    error = caught.value
    assert error.status == 409
    assert error.type == "urn:jifen:problem:insufficient-balance"
    assert error.extra == {"account_id": wallet_account(resident).id}
    assert "101" in error.detail
    # No rollback was needed: post itself left no row and no balance moved,
    # neither on the wallet nor on the issuance account updated before it.
    assert issuance.id < wallet_account(resident).id
    assert (count_in(LedgerTransaction, community), count_in(LedgerEntry, community)) == (
        txns,
        entries,
    )
    assert balances_of(issuance, wallet_account(resident)) == [-100, 100]

    # The session is still good: the exact balance can be taken.
    ledger.post(
        community.id,
        TransactionKind.DEDUCTION,
        [(issuance, 100), (wallet_account(resident), -100)],
        memo="all of it",
    )
    assert balances_of(issuance, wallet_account(resident)) == [0, 0]


def test_overdraft_on_the_second_of_several_debits_undoes_the_first(community, make_member):
    """Accounts are updated in id order; a refusal late in the order undoes earlier moves."""
    alice, bob = make_member(community), make_member(community)
    issuance = account(community, AccountKind.ISSUANCE)
    post_award(community, alice, 10)
    post_award(community, bob, 10)
    escrow = account(community, AccountKind.COUPON_ESCROW)

    with pytest.raises(InsufficientBalance) as caught:
        ledger.post(
            community.id,
            TransactionKind.COUPON_ISSUE,
            [(wallet_account(alice), -10), (wallet_account(bob), -11), (escrow, 21)],
            memo="x",
        )

    assert caught.value.extra == {"account_id": wallet_account(bob).id}
    assert balances_of(issuance, wallet_account(alice), wallet_account(bob), escrow) == [
        -20,
        10,
        10,
        0,
    ]
    assert count_in(LedgerTransaction, community) == 2


def test_sources_may_go_negative(community):
    issuance = account(community, AccountKind.ISSUANCE)
    income = account(community, AccountKind.INCOME)
    escrow = account(community, AccountKind.COUPON_ESCROW)
    cash = account(community, AccountKind.FUND_CASH, fund=Fund.COMMUNITY)

    ledger.post(community.id, TransactionKind.COUPON_ISSUE, [(issuance, -7), (escrow, 7)], memo="x")
    ledger.post(community.id, TransactionKind.INCOME, [(income, -900), (cash, 900)], memo="x")

    assert balances_of(issuance, escrow, income, cash) == [-7, 7, -900, 900]
    assert issuance.may_go_negative and income.may_go_negative
    assert {AccountKind.ISSUANCE, AccountKind.INCOME} == SOURCE_KINDS


NON_SOURCE_KINDS = sorted(set(AccountKind) - SOURCE_KINDS)
MERCHANT_KINDS = {
    AccountKind.MERCHANT_RECEIVABLE,
    AccountKind.MERCHANT_PAYABLE,
    AccountKind.PAID_OUT,
}


@pytest.mark.parametrize("kind", NON_SOURCE_KINDS, ids=[k.value for k in NON_SOURCE_KINDS])
def test_other_accounts_may_not_go_negative(community, make_member, kind):
    owner = {}
    if kind == AccountKind.WALLET:
        owner = {"member_id": make_member(community).id}
    elif kind in MERCHANT_KINDS:
        owner = {"merchant_id": make_member(community, Role.MERCHANT_STAFF).merchant_id}
    elif kind == AccountKind.FUND_CASH:
        owner = {"fund": Fund.CHARITY}
    debited = account(community, kind, **owner)
    source = account(
        community, AccountKind.ISSUANCE if kind in POINTS_KINDS else AccountKind.INCOME
    )
    assert not debited.may_go_negative

    ledger.post(community.id, TransactionKind.AWARD, [(source, -5), (debited, 5)], memo="in")
    with pytest.raises(InsufficientBalance):
        ledger.post(community.id, TransactionKind.AWARD, [(source, 6), (debited, -6)], memo="out")
    assert balances_of(source, debited) == [-5, 5]

    ledger.post(community.id, TransactionKind.AWARD, [(source, 5), (debited, -5)], memo="out")
    assert balances_of(source, debited) == [0, 0]


# ---------------------------------------------------------------------------
# reverse


def test_reverse_mirrors_the_entries_and_points_at_the_original(community, make_member):
    alice, bob = make_member(community), make_member(community)
    issuance = account(community, AccountKind.ISSUANCE)
    original = ledger.post(
        community.id,
        TransactionKind.AWARD,
        [(issuance, -30), (wallet_account(alice), 10), (wallet_account(bob), 20)],
        memo="活动积分",
        actor_id=alice.id,
    )

    reversal = ledger.reverse(original, memo="录入错误", actor_id=bob.id)

    assert reversal.kind == TransactionKind.REVERSAL
    assert reversal.reverses_id == original.id
    assert reversal.memo == "录入错误"
    assert reversal.actor_id == bob.id
    assert reversal.community_id == community.id
    assert [(e.account_id, e.unit, e.amount) for e in reversal.entries] == [
        (e.account_id, e.unit, -e.amount) for e in original.entries
    ]
    assert balances_of(issuance, wallet_account(alice), wallet_account(bob)) == [0, 0, 0]
    # The original is untouched: both stay in the history.
    assert [e.amount for e in original.entries] == [-30, 10, 20]
    assert count_in(LedgerTransaction, community) == 2


def test_reverse_is_refused_when_the_points_are_spent(community, resident):
    issuance = account(community, AccountKind.ISSUANCE)
    original = post_award(community, resident, 40)
    ledger.post(
        community.id,
        TransactionKind.DEDUCTION,
        [(issuance, 15), (wallet_account(resident), -15)],
        memo="spent",
    )
    with pytest.raises(InsufficientBalance):
        ledger.reverse(original, memo="too late")
    assert balances_of(issuance, wallet_account(resident)) == [-25, 25]
    assert count_in(LedgerTransaction, community) == 2


def test_a_transaction_is_reversed_at_most_once(community, resident):
    original = post_award(community, resident, 40)
    first = ledger.reverse(original, memo="undo")

    with pytest.raises(AlreadyReversed) as caught:
        ledger.reverse(original, memo="undo again")

    assert caught.value.status == 409
    assert caught.value.type == "urn:jifen:problem:already-reversed"
    assert str(first.id) in caught.value.detail
    assert balance_of(wallet_account(resident)) == 0
    assert count_in(LedgerTransaction, community) == 2


def test_the_database_refuses_a_second_reversal_when_the_check_is_bypassed(community, resident):
    issuance = account(community, AccountKind.ISSUANCE)
    original = post_award(community, resident, 40)
    ledger.reverse(original, memo="undo")
    post_award(community, resident, 40)  # so the bypassing reversal is not refused for the balance

    with pytest.raises(IntegrityError) as caught, db.session.begin_nested():
        ledger.post(
            community.id,
            TransactionKind.REVERSAL,
            [(issuance, 40), (wallet_account(resident), -40)],
            memo="undo again, bypassing reverse()",
            reverses=original,
        )

    message = str(caught.value.orig)
    if ON_POSTGRES:
        assert "uq_ledger_transactions_community_id_reverses_id" in message
    else:
        assert "ledger_transactions.community_id, ledger_transactions.reverses_id" in message
    assert balances_of(issuance, wallet_account(resident)) == [-40, 40]
    assert count_in(LedgerTransaction, community) == 3


def test_a_reversal_cannot_be_reversed(community, resident):
    reversal = ledger.reverse(post_award(community, resident, 40), memo="undo")
    with pytest.raises(ReversalOfReversal) as caught:
        ledger.reverse(reversal, memo="redo")
    assert caught.value.status == 409
    assert balance_of(wallet_account(resident)) == 0
    assert count_in(LedgerTransaction, community) == 2


# ---------------------------------------------------------------------------
# ensure_account


def test_ensure_account_is_idempotent(community, resident):
    first = ledger.ensure_account(community.id, AccountKind.WALLET, member_id=resident.id)
    again = ledger.ensure_account(community.id, AccountKind.WALLET, member_id=resident.id)

    assert first is again
    assert first.key == f"wallet:member:{resident.id}"
    assert (first.unit, first.balance, first.may_go_negative) == (Unit.POINTS, 0, False)
    rows = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Account)
        .where(Account.community_id == community.id, Account.key == first.key)
    )
    assert rows == 1


def test_ensure_account_creates_each_kind_once_with_its_unit(community, make_member):
    merchant_id = make_member(community, Role.MERCHANT_STAFF).merchant_id
    before = count_in(Account, community)

    payable = account(community, AccountKind.MERCHANT_PAYABLE, merchant_id=merchant_id)
    again = account(community, AccountKind.MERCHANT_PAYABLE, merchant_id=merchant_id)
    # The receivable came with the merchant.
    receivable = account(community, AccountKind.MERCHANT_RECEIVABLE, merchant_id=merchant_id)

    assert again.id == payable.id
    assert count_in(Account, community) == before + 1
    assert receivable.key == f"merchant_receivable:merchant:{merchant_id}"
    assert payable.key == f"merchant_payable:merchant:{merchant_id}"
    assert (receivable.unit, payable.unit) == (Unit.POINTS, Unit.FEN)
    charity = account(community, AccountKind.FUND_CASH, fund=Fund.CHARITY)
    fund = account(community, AccountKind.FUND_CASH, fund="community")
    assert (charity.key, fund.key) == ("fund_cash:charity", "fund_cash:community")
    assert account(community, AccountKind.INCOME).may_go_negative is True


def test_ensure_account_keys_are_per_community(community, make_community):
    other = make_community()
    mine, theirs = account(community, AccountKind.ISSUANCE), account(other, AccountKind.ISSUANCE)
    assert mine.key == theirs.key == "issuance"
    assert mine.id != theirs.id
