"""The fund under real commits and real concurrency on PostgreSQL.

Each test makes a community of its own (unique slug) and leaves it consistent.
"""

import json
from collections import Counter

import pytest
import sqlalchemy as sa
from support.stripe_fixtures import WEBHOOK_PATH, use_fake_stripe
from test_postgres import concurrently, new_member, post, unique

from app import auth, communities, fund
from app.extensions import db
from app.reconciliation import reconcile
from models import Donation, DonationRefund, Fund, IncomeEntry, LedgerTransaction, Role, StripeEvent

pytestmark = pytest.mark.postgres


@pytest.fixture
def stripe_pg(pg, stripe_fake):
    with use_fake_stripe(pg, stripe_fake):
        yield pg


def setup():
    community = communities.create_community(unique("pg-fund"), "基金并发社区")
    admin_token, _ = auth.issue_token(new_member(community, Role.FUND_ADMIN))
    resident_token, _ = auth.issue_token(new_member(community, Role.RESIDENT))
    db.session.commit()
    return community, admin_token, resident_token


def paid_donation(app, stripe_fake, community, token, amount_fen=10_000):
    client = app.test_client()
    started = post(
        f"/api/v1/communities/{community.slug}/donations",
        {"amount_fen": amount_fen, "fund": "community"},
        token,
    )(client).get_json()
    stripe_fake.pay(started["payment_intent_id"])
    return started, stripe_fake.event("payment_intent.succeeded", started["payment_intent_id"])


def deliver(delivery):
    def request(client):
        return client.post(WEBHOOK_PATH, data=delivery.payload, headers=delivery.headers)

    return request


def cash(community):
    db.session.expire_all()
    return fund.cash_account(community.id, Fund.COMMUNITY).balance


def test_one_event_delivered_by_eight_threads_at_once_is_booked_once(stripe_pg, stripe_fake):
    community, _, resident = setup()
    started, delivery = paid_donation(stripe_pg, stripe_fake, community, resident)

    replies = concurrently(stripe_pg, [deliver(delivery)] * 8)

    assert [reply.status for reply in replies] == [200] * 8
    bodies = [json.loads(reply.body) for reply in replies]
    assert Counter(body["duplicate"] for body in bodies) == {False: 1, True: 7}
    assert {body["outcome"] for body in bodies} == {"recorded"}
    assert cash(community) == 9_700
    donation = db.session.get(Donation, started["donation_id"])
    transactions = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(LedgerTransaction)
        .where(LedgerTransaction.reference == started["payment_intent_id"])
    )
    assert (donation.status.value, transactions) == ("succeeded", 1)
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(StripeEvent)
            .where(StripeEvent.event_id == delivery.id)
        )
        == 1
    )
    assert reconcile(community).ok
    db.session.rollback()


@pytest.mark.parametrize("one_key", [False, True], ids=["two-keys", "one-key"])
def test_two_refunds_of_one_donation_at_once_one_wins(stripe_pg, stripe_fake, one_key):
    """Two admins (two keys): one refund, the other a 409. One admin's retry (one key):
    one refund, answered twice alike."""
    community, admin, resident = setup()
    income = post(
        f"/api/v1/communities/{community.slug}/income",
        {"amount_fen": 50_000, "fund": "community", "source": "grant", "reference": "街道拨款"},
        admin,
    )(stripe_pg.test_client())
    assert income.status_code == 201
    started, delivery = paid_donation(stripe_pg, stripe_fake, community, resident)
    assert deliver(delivery)(stripe_pg.test_client()).status_code == 200

    path = f"/api/v1/donations/{started['donation_id']}/refund"
    refund = post(path, {}, admin)
    replies = concurrently(stripe_pg, [refund, refund if one_key else post(path, {}, admin)])

    if one_key:
        assert [reply.status for reply in replies] == [201, 201]
        assert replies[0].body == replies[1].body
    else:
        assert sorted(reply.status for reply in replies) == [201, 409]
        refused = json.loads(next(reply.body for reply in replies if reply.status == 409))
        assert refused["type"] == "urn:jifen:problem:donation-not-refundable"
    refunds = db.session.scalars(
        sa.select(DonationRefund).where(DonationRefund.donation_id == started["donation_id"])
    ).all()
    assert [r.amount_fen for r in refunds] == [10_000]
    stripe_refunds = stripe_fake.client.v1.refunds.list(
        {"payment_intent": started["payment_intent_id"]}
    ).data
    assert [r.id for r in stripe_refunds] == [refunds[0].refund_id]
    assert cash(community) == 50_000 + 9_700 - 10_000
    assert reconcile(community).ok
    db.session.rollback()


def test_twenty_retries_of_one_income_entry_record_it_once(stripe_pg):
    community, admin, _ = setup()
    body = {"amount_fen": 6_914, "fund": "community", "source": "charity_sale", "reference": "义卖"}
    headers = {"Authorization": f"Bearer {admin}", "Idempotency-Key": unique("income")}
    # Read here: the threads have no app context to load expired attributes in.
    path = f"/api/v1/communities/{community.slug}/income"

    def request(client):
        return client.post(path, json=body, headers=headers)

    replies = concurrently(stripe_pg, [request] * 20)

    assert {reply.status for reply in replies} == {201}
    assert len({reply.body for reply in replies}) == 1
    entries = db.session.scalars(
        sa.select(IncomeEntry).where(IncomeEntry.community_id == community.id)
    ).all()
    assert len(entries) == 1
    assert cash(community) == 6_914
    assert reconcile(community).ok
    db.session.rollback()
