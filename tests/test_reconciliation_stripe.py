"""The Stripe check of the reconciliation report, both ways: what Stripe lists against the
ledger (a transfer made outside Jifen, a payment whose webhook never came), what the
ledger names against Stripe, and a deployment without Stripe."""

import pytest
from support.api import ApiClient
from support.stripe_fixtures import post_event

from app import communities, ledger
from app.reconciliation import STRIPE_CHECK
from models import AccountKind, Fund, Role, TransactionKind


@pytest.fixture
def books(stripe_app, make_community, make_member):
    community = make_community()
    admin = make_member(community, Role.FUND_ADMIN)
    shop = communities.create_merchant(community, name="微街长便民超市", category="超市")
    return community, admin, shop


def stripe_check(api, community, admin) -> dict:
    report = api.as_(admin).get(f"/communities/{community.slug}/reconciliation").json
    [check] = [c for c in report["invariants"] if c["name"] == STRIPE_CHECK]
    return check


def donate(api, stripe_fake, community, member, amount=10_000, *, deliver=True) -> str:
    started = (
        api.as_(member)
        .post(
            f"/communities/{community.slug}/donations",
            json={"amount_fen": amount, "fund": "community"},
            key=True,
        )
        .json
    )
    stripe_fake.pay(started["payment_intent_id"])
    if deliver:
        delivery = stripe_fake.event("payment_intent.succeeded", started["payment_intent_id"])
        assert post_event(api.client, delivery).json["outcome"] == "recorded"
    return started["payment_intent_id"]


def test_donations_booked_once_match(api, stripe_fake, books):
    community, admin, _shop = books
    donate(api, stripe_fake, community, admin)

    check = stripe_check(api, community, admin)

    assert check == {"name": STRIPE_CHECK, "ok": True, "skipped": False, "detail": ""}


def test_a_transfer_made_outside_jifen_is_unmatched(api, stripe_fake, books):
    community, admin, shop = books
    account = stripe_fake.connected_account()
    reply = api.as_(admin).put(
        f"/merchants/{shop.id}/stripe-account", json={"stripe_account_id": account}, key=True
    )
    assert reply.status_code == 200, reply.json
    outside = stripe_fake.client.v1.transfers.create(
        {"amount": 4_500, "currency": "cny", "destination": account}
    )

    check = stripe_check(api, community, admin)

    assert check["ok"] is False
    assert check["detail"] == f"Transfer {outside.id}: 4500 to {account}, no ledger transaction"
    problem = api.as_(admin).get(f"/communities/{community.slug}/reconciliation").json
    assert problem["ok"] is False


def test_a_payment_the_ledger_never_booked_and_a_booking_stripe_never_saw(api, stripe_fake, books):
    community, admin, _shop = books
    unbooked = donate(api, stripe_fake, community, admin, deliver=False)
    income = ledger.ensure_account(community.id, AccountKind.INCOME)
    cash = ledger.ensure_account(community.id, AccountKind.FUND_CASH, fund=Fund.COMMUNITY)
    invented = ledger.post(
        community.id,
        TransactionKind.DONATION,
        [(income, -3_000), (cash, 3_000)],
        memo="捐赠 no such payment",
        reference="pi_nosuchpayment",
    )

    check = stripe_check(api, community, admin)

    assert check["ok"] is False
    assert check["detail"].split("; ") == [
        f"PaymentIntent {unbooked}: succeeded at Stripe, no ledger transaction",
        f"ledger transaction {invented.id}: PaymentIntent pi_nosuchpayment is not a paid "
        "payment at Stripe",
    ]


def test_without_stripe_the_check_says_it_did_not_run(api, make_community, make_member):
    community = make_community()
    admin = make_member(community, Role.FUND_ADMIN)

    report = (
        ApiClient(api.client, api.as_(admin).token)
        .get(f"/communities/{community.slug}/reconciliation")
        .json
    )

    [check] = [c for c in report["invariants"] if c["name"] == STRIPE_CHECK]
    assert check["skipped"] is True and check["ok"] is True
    assert check["detail"] == "not checked: Stripe is not configured (no STRIPE_API_KEY)"
    assert report["ok"] is True
