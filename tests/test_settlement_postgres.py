"""Settlement under real commits and real concurrency on PostgreSQL: every write path
(settle, approve, reject, pay by bank and by Stripe, a returned payout, a reversal
from Stripe, linking an account) called twice at the same moment does its work once.

Each test makes a community of its own (unique slug) and leaves it consistent.
"""

import json
from collections import Counter
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from support.concurrency import concurrently, new_member, post
from support.coupons import earn, make_rule
from support.names import unique
from support.settlement import fund, in_month
from support.stripe_fixtures import WEBHOOK_PATH, use_fake_stripe

from app import auth, communities, issuance
from app.earnings import last_month
from app.extensions import db
from app.reconciliation import reconcile
from models import (
    Account,
    AccountKind,
    Coupon,
    PayoutAttempt,
    Redemption,
    Role,
    SettlementStatement,
    StatementStatus,
)

pytestmark = pytest.mark.postgres


@dataclass
class Setup:
    community_id: int
    slug: str
    shop_id: int
    admin: str
    second: str
    cashier: str
    code: str


def setup(bills=(1000, 2000, 1500)) -> Setup:
    """A committed community: two fund admins' tokens, a funded community fund, and a
    shop whose cashier redeemed ``bills`` last month."""
    community = communities.create_community(unique("pg-settle"), "结算并发社区")
    community.award_approval_threshold = 1_000_000
    admin = new_member(community, Role.FUND_ADMIN)
    second = new_member(community, Role.FUND_ADMIN)
    resident = new_member(community)
    earn(resident, 300)
    issuance.issue_coupons(make_rule(community, admin, points=10_000), last_month(), actor=admin)
    shop = communities.create_merchant(community, name="微街长便民超市", category="超市")
    cashier = new_member(community, Role.MERCHANT_STAFF, merchant_id=shop.id)
    fund(community, 1_000_000)
    code = db.session.scalars(sa.select(Coupon.code).where(Coupon.member_id == resident.id)).one()
    found = Setup(
        community.id,
        community.slug,
        shop.id,
        auth.issue_token(admin)[0],
        auth.issue_token(second)[0],
        auth.issue_token(cashier)[0],
        code,
    )
    db.session.commit()
    return found


def call(app, request):
    with app.test_client() as client:
        return request(client)


def redeem_last_month(app, world: Setup, bills) -> None:
    for bill in bills:
        reply = call(
            app, post("/api/v1/redemptions", {"code": world.code, "bill_fen": bill}, world.cashier)
        )
        assert reply.status_code == 201, reply.get_json()
    db.session.execute(
        sa.update(Redemption)
        .where(Redemption.community_id == world.community_id)
        .values(created_at=in_month(last_month()))
    )
    db.session.commit()


def settled(app, world: Setup, bills=(1000, 2000, 1500)) -> dict:
    redeem_last_month(app, world, bills)
    path = f"/api/v1/communities/{world.slug}/settlements"
    reply = call(app, post(path, {"period": str(last_month())}, world.admin))
    [statement] = reply.get_json()["statements"]
    return statement


def approved(app, world: Setup) -> dict:
    statement = settled(app, world)
    reply = call(app, post(f"/api/v1/statements/{statement['id']}/approve", None, world.second))
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


def body(reply) -> dict:
    return json.loads(reply.body)


def balance(world: Setup, kind, **owner) -> int:
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Account.balance), 0)).where(
            Account.community_id == world.community_id,
            Account.kind == kind,
            *(getattr(Account, name) == value for name, value in owner.items()),
        )
    )


def assert_consistent(app, world: Setup) -> None:
    db.session.expire_all()
    from models import Community

    report = reconcile(db.session.get(Community, world.community_id))
    assert report.ok, [check for check in report.checks if not check.ok]
    result = app.test_cli_runner().invoke(args=["reconcile", "--community", world.slug])
    assert result.exit_code == 0, result.output
    db.session.rollback()


def statuses(replies) -> Counter:
    return Counter(reply.status for reply in replies)


def test_two_settlements_of_one_month_at_once_make_its_statement_once(pg):
    world = setup()
    redeem_last_month(pg, world, (1000, 2000, 1500))
    path = f"/api/v1/communities/{world.slug}/settlements"
    requests = [
        post(path, {"period": str(last_month())}, token) for token in (world.admin, world.second)
    ]

    replies = concurrently(pg, requests)

    assert statuses(replies) == {201: 2}
    made = sorted(len(body(reply)["statements"]) for reply in replies)
    assert made == [0, 1]
    statements = db.session.scalars(
        sa.select(SettlementStatement).where(SettlementStatement.community_id == world.community_id)
    ).all()
    assert [(s.redemptions, s.amount_fen) for s in statements] == [(3, 4500)]
    assert_consistent(pg, world)


def test_two_admins_approving_at_once_one_wins(pg):
    world = setup()
    statement = settled(pg, world)
    path = f"/api/v1/statements/{statement['id']}/approve"

    replies = concurrently(pg, [post(path, None, world.admin), post(path, None, world.second)])

    assert statuses(replies) == {200: 1, 409: 1}
    [conflict] = [body(r) for r in replies if r.status == 409]
    assert conflict["type"] == "urn:jifen:problem:statement-status-conflict"
    assert balance(world, AccountKind.MERCHANT_PAYABLE, merchant_id=world.shop_id) == 4500
    assert_consistent(pg, world)


def test_approving_and_rejecting_at_once_one_wins(pg):
    world = setup()
    statement = settled(pg, world)
    base = f"/api/v1/statements/{statement['id']}"

    replies = concurrently(
        pg,
        [
            post(f"{base}/approve", None, world.second),
            post(f"{base}/reject", {"reason": "重复 duplicate"}, world.admin),
        ],
    )

    assert statuses(replies) == {200: 1, 409: 1}
    final = db.session.get(SettlementStatement, statement["id"]).status
    settled_lines = db.session.scalar(
        sa.select(sa.func.count()).where(Redemption.statement_id == statement["id"])
    )
    assert (final, settled_lines) in ((StatementStatus.APPROVED, 3), (StatementStatus.REJECTED, 0))
    assert_consistent(pg, world)


def test_two_admins_paying_by_bank_at_once_pay_once(pg):
    world = setup()
    statement = approved(pg, world)
    path = f"/api/v1/statements/{statement['id']}/pay"

    replies = concurrently(
        pg,
        [
            post(path, {"method": "bank", "reference": "BOC-1"}, world.admin),
            post(path, {"method": "bank", "reference": "BOC-2"}, world.second),
        ],
    )

    assert statuses(replies) == {200: 1, 409: 1}
    [conflict] = [body(r) for r in replies if r.status == 409]
    assert conflict["type"] == "urn:jifen:problem:statement-already-paid"
    assert balance(world, AccountKind.PAID_OUT, merchant_id=world.shop_id) == 4500
    assert_consistent(pg, world)


def test_two_returns_of_one_bank_payout_at_once_return_it_once(pg):
    world = setup()
    statement = approved(pg, world)
    base = f"/api/v1/statements/{statement['id']}"
    call(pg, post(f"{base}/pay", {"method": "bank", "reference": "BOC-9"}, world.admin))

    replies = concurrently(
        pg,
        [
            post(f"{base}/return", {"reason": "退回 returned"}, t)
            for t in (world.admin, world.second)
        ],
    )

    assert statuses(replies) == {200: 1, 409: 1}
    assert balance(world, AccountKind.MERCHANT_PAYABLE, merchant_id=world.shop_id) == 4500
    assert balance(world, AccountKind.PAID_OUT, merchant_id=world.shop_id) == 0
    assert_consistent(pg, world)


def test_linking_one_stripe_account_to_two_merchants_at_once_links_one(pg):
    world = setup()
    from models import Community

    other = communities.create_merchant(
        db.session.get(Community, world.community_id), name="理发店", category="理发"
    )
    db.session.commit()

    def put(merchant_id, token):
        def request(client):
            return client.put(
                f"/api/v1/merchants/{merchant_id}/stripe-account",
                json={"stripe_account_id": "acct_same"},
                headers={"Authorization": f"Bearer {token}"},
            )

        return request

    replies = concurrently(pg, [put(world.shop_id, world.admin), put(other.id, world.second)])

    assert statuses(replies) == {200: 1, 409: 1}
    from models import Merchant

    linked = db.session.scalars(
        sa.select(Merchant.id).where(Merchant.stripe_account_id == "acct_same")
    ).all()
    assert len(linked) == 1


@pytest.fixture
def stripe_pg(pg, stripe_fake):
    with use_fake_stripe(pg, stripe_fake):
        yield pg


def connect(app, world: Setup, stripe_fake) -> str:
    account = stripe_fake.connected_account()

    def put(client):
        return client.put(
            f"/api/v1/merchants/{world.shop_id}/stripe-account",
            json={"stripe_account_id": account},
            headers={"Authorization": f"Bearer {world.admin}"},
        )

    assert call(app, put).status_code == 200
    return account


def transfers_to(stripe_fake, account) -> list[dict]:
    listing = stripe_fake.client.v1.transfers.list({"destination": account, "limit": 100})
    return [transfer.to_dict() for transfer in listing.data]


def test_two_admins_paying_by_stripe_at_once_make_one_transfer(stripe_pg, stripe_fake):
    world = setup()
    account = connect(stripe_pg, world, stripe_fake)
    statement = approved(stripe_pg, world)
    path = f"/api/v1/statements/{statement['id']}/pay"

    replies = concurrently(
        stripe_pg, [post(path, {"method": "stripe"}, t) for t in (world.admin, world.second)]
    )

    assert statuses(replies) == {200: 1, 409: 1}
    [conflict] = [body(r) for r in replies if r.status == 409]
    assert conflict["type"] in (
        "urn:jifen:problem:payout-in-progress",
        "urn:jifen:problem:statement-already-paid",
    )
    [transfer] = transfers_to(stripe_fake, account)
    assert transfer["amount"] == statement["amount_fen"]
    assert db.session.get(SettlementStatement, statement["id"]).status == StatementStatus.PAID
    assert_consistent(stripe_pg, world)


def test_eight_retries_of_one_stripe_payment_make_one_transfer(stripe_pg, stripe_fake):
    world = setup()
    account = connect(stripe_pg, world, stripe_fake)
    statement = approved(stripe_pg, world)
    request = post(f"/api/v1/statements/{statement['id']}/pay", {"method": "stripe"}, world.admin)

    replies = concurrently(stripe_pg, [request] * 8)

    assert 200 in statuses(replies)
    assert set(statuses(replies)) <= {200, 409}
    assert len(transfers_to(stripe_fake, account)) == 1
    attempts = db.session.scalars(
        sa.select(PayoutAttempt).where(PayoutAttempt.statement_id == statement["id"])
    ).all()
    assert [(a.number, a.status.value) for a in attempts] == [(1, "succeeded")]
    assert_consistent(stripe_pg, world)


def test_one_reversal_delivered_by_four_threads_returns_the_payout_once(stripe_pg, stripe_fake):
    world = setup()
    account = connect(stripe_pg, world, stripe_fake)
    statement = approved(stripe_pg, world)
    call(
        stripe_pg,
        post(f"/api/v1/statements/{statement['id']}/pay", {"method": "stripe"}, world.admin),
    )
    [transfer] = transfers_to(stripe_fake, account)
    delivery = stripe_fake.reverse_transfer(transfer["id"])

    def deliver(client):
        return client.post(WEBHOOK_PATH, data=delivery.payload, headers=delivery.headers)

    replies = concurrently(stripe_pg, [deliver] * 4)

    assert statuses(replies) == {200: 4}
    assert sum(not body(reply)["duplicate"] for reply in replies) == 1
    assert db.session.get(SettlementStatement, statement["id"]).status == StatementStatus.RETURNED
    assert balance(world, AccountKind.MERCHANT_PAYABLE, merchant_id=world.shop_id) == 4500
    assert balance(world, AccountKind.PAID_OUT, merchant_id=world.shop_id) == 0
    assert_consistent(stripe_pg, world)
