"""Paying statements by Stripe Connect transfers, against the fake Stripe: end to end,
a reversal after payment, Stripe's refusal, and a crash between the transfer and
its record. Each ends with exactly the transfers it should have made."""

import pytest
import sqlalchemy as sa
from support.settlement import date_redemptions, merchant_balance, redeem
from support.stripe_fixtures import post_event

from app.extensions import db
from app.payouts import by_stripe
from app.reconciliation import reconcile
from models import (
    AccountKind,
    PayoutAttempt,
    SettlementStatement,
    StatementStatus,
)

PROBLEM = "application/problem+json"


@pytest.fixture
def connected(stripe_app, stripe_fake, api, world):
    """``world``'s shop linked to a new connected account by a fund admin."""
    account = stripe_fake.connected_account()
    reply = api.as_(world.admin).request(
        "PUT", f"/merchants/{world.shop.id}/stripe-account", json={"stripe_account_id": account}
    )
    assert reply.status_code == 200
    assert reply.json["stripe_account_id"] == account
    return account


def approved_statement(api, world, bills=(1000, 2000, 1500)) -> dict:
    ids = [redeem(api, world, bill)["id"] for bill in bills]
    period = date_redemptions(ids)
    settled = api.as_(world.admin).post(
        f"/communities/{world.slug}/settlements", json={"period": str(period)}, key=True
    )
    [statement] = settled.json["statements"]
    approved = api.as_(world.second_admin).post(f"/statements/{statement['id']}/approve", key=True)
    assert approved.status_code == 200, approved.json
    return approved.json


def transfers_to(stripe_fake, account) -> list[dict]:
    listing = stripe_fake.client.v1.transfers.list({"destination": account, "limit": 100})
    return [transfer.to_dict() for transfer in listing.data]


def pay(api, member, statement_id, key=True):
    return api.as_(member).post(
        f"/statements/{statement_id}/pay", json={"method": "stripe"}, key=key
    )


def test_redemptions_to_a_stripe_transfer_end_to_end(app, api, world, stripe_fake, connected):
    statement = approved_statement(api, world)

    reply = pay(api, world.admin, statement["id"])

    assert reply.status_code == 200, reply.json
    assert reply.json["status"] == "paid"
    [transfer] = transfers_to(stripe_fake, connected)
    assert transfer["amount"] == statement["amount_fen"] == 4500
    assert transfer["currency"] == "cny"
    assert transfer["metadata"]["statement_id"] == str(statement["id"])
    [payout] = api.as_(world.cashier).get(f"/statements/{statement['id']}").json["payouts"]
    assert payout["stripe_transfer_id"] == transfer["id"]
    assert payout["destination"] == connected
    assert merchant_balance(world.community, AccountKind.PAID_OUT, world.shop) == 4500
    assert merchant_balance(world.community, AccountKind.MERCHANT_PAYABLE, world.shop) == 0
    result = app.test_cli_runner().invoke(args=["reconcile", "--community", world.slug])
    assert result.exit_code == 0, result.output


def test_a_double_click_pays_once(api, world, stripe_fake, connected):
    statement = approved_statement(api, world)

    first = pay(api, world.admin, statement["id"], key="click")
    second = pay(api, world.admin, statement["id"], key="click")
    third = pay(api, world.second_admin, statement["id"])

    assert first.status_code == second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert third.status_code == 409
    assert third.json["type"] == "urn:jifen:problem:statement-already-paid"
    assert len(transfers_to(stripe_fake, connected)) == 1


def test_a_reversed_transfer_returns_the_statement_and_the_retry_pays_once_more(
    api, world, stripe_fake, connected
):
    statement = approved_statement(api, world)
    path = f"/statements/{statement['id']}"
    pay(api, world.admin, statement["id"])
    [transfer] = transfers_to(stripe_fake, connected)

    delivery = stripe_fake.reverse_transfer(transfer["id"])
    received = post_event(api.client, delivery)
    replayed = post_event(api.client, delivery)

    assert received.status_code == 200
    assert received.json["outcome"] == "recorded"
    assert replayed.json["duplicate"] is True
    returned = api.as_(world.cashier).get(path).json
    assert returned["status"] == "returned"
    assert transfer["id"] in returned["return_reason"]
    assert merchant_balance(world.community, AccountKind.MERCHANT_PAYABLE, world.shop) == 4500
    assert merchant_balance(world.community, AccountKind.PAID_OUT, world.shop) == 0
    assert reconcile(world.community).ok

    again = pay(api, world.second_admin, statement["id"])
    once_more = pay(api, world.admin, statement["id"])

    assert again.status_code == 200
    assert again.json["status"] == "paid"
    assert once_more.status_code == 409
    transfers = transfers_to(stripe_fake, connected)
    assert len(transfers) == 2
    assert {t["id"] for t in transfers} - {transfer["id"]}
    attempts = api.as_(world.admin).get(path).json["payouts"]
    assert [(a["number"], a["status"]) for a in attempts] == [(1, "returned"), (2, "succeeded")]
    assert merchant_balance(world.community, AccountKind.PAID_OUT, world.shop) == 4500
    assert reconcile(world.community).ok


def test_stripe_refusing_leaves_the_statement_approved_and_a_retry_pays_once(
    api, world, stripe_fake, connected
):
    statement = approved_statement(api, world)
    stripe_fake.refuse_transfers_to(connected)

    refused = pay(api, world.admin, statement["id"], key="first-try")

    assert refused.status_code == 502
    assert refused.content_type == PROBLEM
    assert refused.json["type"] == "urn:jifen:problem:payout-refused"
    shown = api.as_(world.admin).get(f"/statements/{statement['id']}").json
    assert shown["status"] == "approved"
    assert "transfers capability" in shown["payout_error"]
    assert transfers_to(stripe_fake, connected) == []
    assert merchant_balance(world.community, AccountKind.MERCHANT_PAYABLE, world.shop) == 4500

    stripe_fake.accept_transfers_to(connected)
    retried = pay(api, world.admin, statement["id"], key="first-try")

    assert retried.status_code == 200
    assert retried.json["status"] == "paid"
    assert retried.json["payout_error"] is None
    assert len(transfers_to(stripe_fake, connected)) == 1
    attempts = api.as_(world.admin).get(f"/statements/{statement['id']}").json["payouts"]
    assert [(a["number"], a["status"]) for a in attempts] == [(1, "failed"), (2, "succeeded")]
    assert reconcile(world.community).ok


class Crash(Exception):
    """The process dying between Stripe's answer and the database's commit."""


@pytest.mark.parametrize("same_key", [True, False], ids=["same-key", "new-key"])
def test_a_crash_after_the_transfer_is_made_is_finished_by_the_retry_with_one_transfer(
    api, world, stripe_fake, connected, monkeypatch, same_key
):
    statement = approved_statement(api, world)

    def crash(attempt, transfer_id):
        raise Crash(transfer_id)

    monkeypatch.setattr(by_stripe, "transfer_created", crash)
    with pytest.raises(Crash):
        pay(api, world.admin, statement["id"], key="pay-it")
    db.session.rollback()
    monkeypatch.undo()

    interrupted = db.session.get(SettlementStatement, statement["id"])
    assert interrupted.status == StatementStatus.PAYING
    assert len(transfers_to(stripe_fake, connected)) == 1
    bank = api.as_(world.admin).post(
        f"/statements/{statement['id']}/pay", json={"method": "bank", "reference": "B1"}, key=True
    )
    assert bank.status_code == 409
    assert bank.json["type"] == "urn:jifen:problem:stripe-payout-pending"

    retried = pay(
        api,
        world.second_admin if not same_key else world.admin,
        statement["id"],
        key="pay-it" if same_key else True,
    )

    assert retried.status_code == 200, retried.json
    assert retried.json["status"] == "paid"
    [transfer] = transfers_to(stripe_fake, connected)
    [attempt] = db.session.scalars(
        sa.select(PayoutAttempt).where(PayoutAttempt.statement_id == statement["id"])
    ).all()
    assert attempt.stripe_transfer_id == transfer["id"]
    assert attempt.number == 1
    assert merchant_balance(world.community, AccountKind.PAID_OUT, world.shop) == 4500
    assert reconcile(world.community).ok


def test_a_merchant_without_a_stripe_account_is_paid_by_bank(stripe_app, api, world):
    statement = approved_statement(api, world)

    reply = pay(api, world.admin, statement["id"])

    assert reply.status_code == 409
    assert reply.json["type"] == "urn:jifen:problem:merchant-not-connected"
    assert db.session.get(SettlementStatement, statement["id"]).status == StatementStatus.APPROVED


def test_without_stripe_a_stripe_payment_is_refused(api, world):
    statement = approved_statement(api, world)

    reply = pay(api, world.admin, statement["id"])

    assert reply.status_code == 503
    assert reply.json["type"] == "urn:jifen:problem:stripe-not-configured"
    assert db.session.get(SettlementStatement, statement["id"]).status == StatementStatus.APPROVED


def test_only_fund_admins_link_a_stripe_account_and_each_to_one_merchant(api, world, make_member):
    from app import communities

    path = f"/merchants/{world.shop.id}/stripe-account"
    staff = api.as_(world.cashier).request("PUT", path, json={"stripe_account_id": "acct_1"})
    bad = api.as_(world.admin).request("PUT", path, json={"stripe_account_id": "not-an-acct"})
    linked = api.as_(world.admin).request("PUT", path, json={"stripe_account_id": "acct_1"})
    other = communities.create_merchant(world.community, name="理发店", category="理发")
    taken = api.as_(world.admin).request(
        "PUT", f"/merchants/{other.id}/stripe-account", json={"stripe_account_id": "acct_1"}
    )
    unlinked = api.as_(world.admin).request("PUT", path, json={"stripe_account_id": None})

    assert staff.status_code == 403
    assert bad.status_code == 422
    assert linked.status_code == 200
    assert taken.status_code == 409
    assert taken.json["type"] == "urn:jifen:problem:stripe-account-taken"
    assert unlinked.status_code == 200
    assert unlinked.json["stripe_account_id"] is None
