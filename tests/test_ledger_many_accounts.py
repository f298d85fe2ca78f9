"""``ledger.post`` across many accounts at once (a coupon run converting many wallets):
the balances move a chunk at a time, with the same guarantees as one by one."""

import pytest
from support.books import balances_of, count_in

from app import ledger
from app.communities import wallet_of
from app.ledger import InsufficientBalance
from models import AccountKind, LedgerEntry, LedgerTransaction, TransactionKind

MANY = ledger.SET_BASED_CHUNK * 2 + 7  # more than one chunk, and a partial one


@pytest.fixture
def wallets(community, make_member):
    members = [make_member(community) for _ in range(MANY)]
    return [wallet_of(member) for member in members]


def test_many_accounts_take_the_set_based_path(community, wallets, monkeypatch):
    assert len(wallets) > ledger.SET_BASED_ACCOUNTS
    issuance = ledger.ensure_account(community.id, AccountKind.ISSUANCE)
    one_by_one = []
    monkeypatch.setattr(ledger, "_add_to_balance", lambda *a, **k: one_by_one.append(a))
    amounts = [index + 1 for index in range(len(wallets))]

    txn = ledger.post(
        community.id,
        TransactionKind.AWARD,
        [(issuance, -sum(amounts)), *zip(wallets, amounts, strict=True)],
        memo="many",
    )

    assert one_by_one == []
    assert balances_of(*wallets) == amounts
    assert balances_of(issuance) == [-sum(amounts)]
    assert wallets[0].balance == 1  # the loaded account was expired, and reads afresh
    assert len(txn.entries) == len(wallets) + 1


def test_one_short_account_refuses_the_whole_post_and_writes_nothing(community, wallets):
    issuance = ledger.ensure_account(community.id, AccountKind.ISSUANCE)
    ledger.post(
        community.id,
        TransactionKind.AWARD,
        [(issuance, -50 * len(wallets)), *((wallet, 50) for wallet in wallets)],
        memo="start",
    )
    escrow = ledger.ensure_account(community.id, AccountKind.COUPON_ESCROW)
    short = wallets[-3]
    legs = [(wallet, -40) for wallet in wallets if wallet is not short] + [(short, -60)]
    before = (count_in(LedgerTransaction, community), count_in(LedgerEntry, community))

    with pytest.raises(InsufficientBalance) as caught:
        ledger.post(
            community.id,
            TransactionKind.COUPON_ISSUE,
            [*legs, (escrow, 40 * (len(wallets) - 1) + 60)],
            memo="convert",
        )

    assert caught.value.extra == {"account_id": short.id}
    assert caught.value.detail == f"Account {short.id} does not hold the 60 needed."
    assert balances_of(*wallets) == [50] * len(wallets)
    assert balances_of(escrow) == [0]
    assert (count_in(LedgerTransaction, community), count_in(LedgerEntry, community)) == before
    # The database transaction is still usable.
    ledger.post(
        community.id,
        TransactionKind.COUPON_ISSUE,
        [*((wallet, -50) for wallet in wallets), (escrow, 50 * len(wallets))],
        memo="all of it",
    )
    assert balances_of(*wallets) == [0] * len(wallets)
