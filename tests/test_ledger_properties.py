"""The ledger's invariants hold after every step of any sequence of operations.

A Hypothesis state machine plays awards and deductions (through
``app.awards.request_award``, some deductions larger than the wallet), transfers
between wallets, money coming in and moving between funds, a mixed
points-and-fen settlement, and reversals of earlier transactions (some already
reversed, some reversals themselves, some whose points are already spent). It
keeps its own model of every balance and predicts which operations the ledger
refuses. After each step: every unit sums to zero over the community, every
balance equals the sum of its entries, no non-source account is negative, the
model agrees with the database, and ``reconcile(community).ok``.

Each example runs inside a savepoint rolled back at its end. Awards run in a
savepoint of their own, as a request would; the other operations call the
ledger directly, relying on ``post`` leaving nothing behind when it refuses.
"""

from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from app import awards, ledger
from app.extensions import db
from app.ledger import AlreadyReversed, InsufficientBalance, ReversalOfReversal
from app.reconciliation import reconcile
from models import (
    SOURCE_KINDS,
    Account,
    AccountKind,
    Award,
    Fund,
    LedgerEntry,
    LedgerTransaction,
    Role,
    TransactionKind,
)

RESIDENTS = 3

SETTINGS = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class World:
    """What every example starts from: one community, committed to the test's transaction."""

    community: object
    admin: object
    residents: list
    wallets: list[Account]
    merchant_wallet: Account
    issuance: Account
    income: Account
    cash: dict[Fund, Account]
    receivable: Account
    payable: Account


@pytest.fixture
def world(make_community, make_member):
    community = make_community(award_approval_threshold=1_000_000)
    admin = make_member(community, Role.FUND_ADMIN)
    residents = [make_member(community) for _ in range(RESIDENTS)]
    merchant_id = make_member(community, Role.MERCHANT_STAFF).merchant_id

    def acct(kind, **owner):
        return ledger.ensure_account(community.id, kind, **owner)

    return World(
        community=community,
        admin=admin,
        residents=residents,
        wallets=[acct(AccountKind.WALLET, member_id=r.id) for r in residents],
        merchant_wallet=acct(AccountKind.WALLET, merchant_id=merchant_id),
        issuance=acct(AccountKind.ISSUANCE),
        income=acct(AccountKind.INCOME),
        cash={fund: acct(AccountKind.FUND_CASH, fund=fund) for fund in Fund},
        receivable=acct(AccountKind.MERCHANT_RECEIVABLE, merchant_id=merchant_id),
        payable=acct(AccountKind.MERCHANT_PAYABLE, merchant_id=merchant_id),
    )


class LedgerMachine(RuleBasedStateMachine):
    transactions = Bundle("transactions")

    def __init__(self, world: World):
        super().__init__()
        self.w = world
        self.example = db.session.begin_nested()
        self.sources = {
            a.id
            for a in db.session.scalars(
                sa.select(Account).where(
                    Account.community_id == world.community.id, Account.kind.in_(SOURCE_KINDS)
                )
            )
        }
        #: the model: account id -> expected balance
        self.expected = dict(
            db.session.execute(
                sa.select(Account.id, Account.balance).where(
                    Account.community_id == world.community.id
                )
            ).all()
        )
        #: transaction id -> its legs, and what became of it
        self.legs: dict[int, list[tuple[int, int]]] = {}
        self.reversed: set[int] = set()
        self.reversals: set[int] = set()
        self.refused = 0

    def teardown(self):
        """The whole reconciliation report, once per example: the invariants above
        already check its ledger rules after every step, at a fraction of its cost."""
        try:
            report = reconcile(self.w.community)
            assert report.ok, [check for check in report.checks if not check.ok]
        finally:
            self.example.rollback()

    # -- the model ------------------------------------------------------------

    def allows(self, legs) -> bool:
        """Would every non-source account stay at or above zero?"""
        net: dict[int, int] = {}
        for account_id, amount in legs:
            net[account_id] = net.get(account_id, 0) + amount
        return all(
            account_id in self.sources or self.expected[account_id] + amount >= 0
            for account_id, amount in net.items()
        )

    def post(self, kind, legs, memo):
        """Post through the ledger; check the refusal the model predicts."""
        ids = [(account.id, amount) for account, amount in legs]
        before = self.ledger_size()
        if self.allows(ids):
            txn = ledger.post(self.w.community.id, kind, legs, memo=memo)
            return self.record(txn.id, ids)
        with pytest.raises(InsufficientBalance):
            ledger.post(self.w.community.id, kind, legs, memo=memo)
        assert self.ledger_size() == before
        self.refused += 1
        return multiple()

    def record(self, txn_id, ids):
        for account_id, amount in ids:
            self.expected[account_id] += amount
        self.legs[txn_id] = ids
        return txn_id

    def ledger_size(self):
        return tuple(
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(model)
                .where(model.community_id == self.w.community.id)
            )
            for model in (LedgerTransaction, LedgerEntry)
        )

    # -- rules ----------------------------------------------------------------

    @rule(target=transactions, who=st.integers(0, RESIDENTS - 1), points=st.integers(-600, 500))
    def award_or_deduct(self, who, points):
        """A fund admin's award (> 0) or deduction (< 0), as one request would make it."""
        if points == 0:
            return multiple()
        wallet = self.w.wallets[who]
        ids = [(self.w.issuance.id, -points), (wallet.id, points)]
        try:
            with db.session.begin_nested():
                made = awards.request_award(
                    self.w.community,
                    self.w.residents[who],
                    points=points,
                    reason="奖励" if points > 0 else "扣减",
                    actor=self.w.admin,
                )
        except InsufficientBalance:
            assert not self.allows(ids)
            self.refused += 1
            return multiple()
        assert self.allows(ids)
        assert made.status.value == "posted"
        return self.record(made.transaction_id, ids)

    @rule(
        target=transactions,
        pair=st.permutations(range(RESIDENTS + 1)).map(lambda p: p[:2]),
        points=st.integers(1, 400),
    )
    def transfer(self, pair, points):
        """Points from one wallet to another (a merchant's wallet among them)."""
        wallets = [*self.w.wallets, self.w.merchant_wallet]
        source, destination = (wallets[i] for i in pair)
        return self.post(
            TransactionKind.AWARD, [(source, -points), (destination, points)], "transfer"
        )

    @rule(target=transactions, fund=st.sampled_from(Fund), fen=st.integers(1, 100_000))
    def money_comes_in(self, fund, fen):
        return self.post(
            TransactionKind.INCOME, [(self.w.income, -fen), (self.w.cash[fund], fen)], "donation"
        )

    @rule(target=transactions, to_charity=st.booleans(), fen=st.integers(1, 100_000))
    def move_between_funds(self, to_charity, fen):
        charity, community = self.w.cash[Fund.CHARITY], self.w.cash[Fund.COMMUNITY]
        source, destination = (community, charity) if to_charity else (charity, community)
        return self.post(
            TransactionKind.INCOME, [(source, -fen), (destination, fen)], "fund transfer"
        )

    @rule(target=transactions, who=st.integers(0, RESIDENTS - 1), points=st.integers(1, 300))
    def settle_at_the_merchant(self, who, points):
        """Both units in one transaction, each debit able to refuse it."""
        fen = points * 2
        return self.post(
            TransactionKind.SETTLEMENT,
            [
                (self.w.wallets[who], -points),
                (self.w.receivable, points),
                (self.w.cash[Fund.COMMUNITY], -fen),
                (self.w.payable, fen),
            ],
            "settlement",
        )

    @rule(target=transactions, txn_id=transactions)
    def reverse(self, txn_id):
        original = db.session.get(LedgerTransaction, txn_id)
        before = self.ledger_size()
        mirrored = [(account_id, -amount) for account_id, amount in self.legs[txn_id]]
        if txn_id in self.reversals:
            with pytest.raises(ReversalOfReversal):
                ledger.reverse(original, memo="undo")
        elif txn_id in self.reversed:
            with pytest.raises(AlreadyReversed):
                ledger.reverse(original, memo="undo")
        elif not self.allows(mirrored):
            with pytest.raises(InsufficientBalance):
                ledger.reverse(original, memo="undo")
        else:
            reversal = ledger.reverse(original, memo="undo")
            assert reversal.reverses_id == txn_id
            self.reversed.add(txn_id)
            self.reversals.add(reversal.id)
            return self.record(reversal.id, mirrored)
        assert self.ledger_size() == before
        self.refused += 1
        return multiple()

    # -- invariants -----------------------------------------------------------

    @invariant()
    def every_unit_sums_to_zero(self):
        totals = db.session.execute(
            sa.select(Account.unit, sa.func.sum(Account.balance))
            .where(Account.community_id == self.w.community.id)
            .group_by(Account.unit)
        ).all()
        assert {unit.value: int(total) for unit, total in totals} == {"points": 0, "fen": 0}

    @invariant()
    def every_balance_is_the_sum_of_its_entries(self):
        sums = dict(
            db.session.execute(
                sa.select(LedgerEntry.account_id, sa.func.sum(LedgerEntry.amount))
                .where(LedgerEntry.community_id == self.w.community.id)
                .group_by(LedgerEntry.account_id)
            ).all()
        )
        balances = dict(
            db.session.execute(
                sa.select(Account.id, Account.balance).where(
                    Account.community_id == self.w.community.id
                )
            ).all()
        )
        assert balances == {account_id: int(sums.get(account_id, 0)) for account_id in balances}
        assert balances == self.expected

    @invariant()
    def only_sources_are_negative(self):
        negative = db.session.scalars(
            sa.select(Account.kind).where(
                Account.community_id == self.w.community.id, Account.balance < 0
            )
        ).all()
        assert set(negative) <= SOURCE_KINDS

    @invariant()
    def every_transaction_balances_per_unit(self):
        unbalanced = db.session.execute(
            sa.select(LedgerEntry.transaction_id)
            .where(LedgerEntry.community_id == self.w.community.id)
            .group_by(LedgerEntry.transaction_id, LedgerEntry.unit)
            .having(sa.func.sum(LedgerEntry.amount) != 0)
        ).all()
        assert unbalanced == []


def test_invariants_hold_after_every_step(world):
    machines = []

    def factory():
        machines.append(LedgerMachine(world))
        return machines[-1]

    run_state_machine_as_test(factory, settings=SETTINGS)

    # Every example rolled back: the community is as the fixture left it.
    for model in (LedgerTransaction, Award):
        left = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(model)
            .where(model.community_id == world.community.id)
        )
        assert left == 0
    # The examples did reach both outcomes.
    assert any(m.legs for m in machines)
    assert any(m.refused for m in machines)
    assert any(m.reversed for m in machines)
