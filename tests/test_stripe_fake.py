"""The fake Stripe itself: what the suite relies on it to do as Stripe does."""

import json

import pytest
import stripe
from support.stripe_fake import WEBHOOK_SECRET, sign


def test_a_payment_intent_is_paid_with_a_fee_and_its_event_is_delivered_signed(stripe_fake):
    client = stripe_fake.client
    intent = client.v1.payment_intents.create(
        {"amount": 10_000, "currency": "cny", "metadata": {"donation": "1"}}
    )
    paid = stripe_fake.pay(intent.id)
    assert paid["status"] == "succeeded"
    charge = client.v1.charges.retrieve(
        paid["latest_charge"]["id"], {"expand": ["balance_transaction"]}
    )
    assert charge.balance_transaction.fee == 300
    assert charge.balance_transaction.net == 9_700

    delivered = stripe_fake.wait_for_event("payment_intent.succeeded", intent.id, timeout=10)
    event = stripe.Webhook.construct_event(delivered.payload, delivered.signature, WEBHOOK_SECRET)
    assert event.id == delivered.id
    assert event.data.object.metadata["donation"] == "1"
    # The harness signs the stored event exactly as localstripe delivered it.
    assert stripe_fake.event("payment_intent.succeeded", intent.id) == delivered


def test_a_declined_card_fails_the_payment_intent(stripe_fake):
    intent = stripe_fake.client.v1.payment_intents.create({"amount": 500, "currency": "cny"})
    failed = stripe_fake.pay(intent.id, "pm_card_chargeCustomerFail")
    assert failed["status"] == "requires_payment_method"
    assert stripe_fake.event("payment_intent.payment_failed", intent.id).type == (
        "payment_intent.payment_failed"
    )


def test_a_signed_event_verifies_and_a_wrong_secret_does_not(stripe_fake):
    delivery = stripe_fake.signed_event("charge.refunded", {"id": "ch_x", "object": "charge"})
    assert (
        stripe.Webhook.construct_event(delivery.payload, delivery.signature, WEBHOOK_SECRET).type
        == "charge.refunded"
    )
    forged = stripe_fake.signed_event("charge.refunded", {"id": "ch_x"}, secret="whsec_other")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(forged.payload, forged.signature, WEBHOOK_SECRET)
    t = json.loads(delivery.payload)["created"]
    assert delivery.signature == sign(delivery.payload, t)


def test_the_same_idempotency_key_and_body_replays_the_first_response(stripe_fake):
    account = stripe_fake.connected_account()
    params = {"amount": 1_234, "currency": "cny", "destination": account}
    first = stripe_fake.client.v1.transfers.create(params, {"idempotency_key": "statement-7"})
    again = stripe_fake.client.v1.transfers.create(params, {"idempotency_key": "statement-7"})
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    listed = stripe_fake.client.v1.transfers.list({"destination": account})
    assert [transfer.id for transfer in listed.data] == [first.id]


def test_the_same_idempotency_key_with_another_body_is_an_idempotency_error(stripe_fake):
    account = stripe_fake.connected_account()
    transfers = stripe_fake.client.v1.transfers
    transfers.create(
        {"amount": 100, "currency": "cny", "destination": account}, {"idempotency_key": "k-1"}
    )
    with pytest.raises(stripe.IdempotencyError):
        transfers.create(
            {"amount": 101, "currency": "cny", "destination": account},
            {"idempotency_key": "k-1"},
        )


def test_reset_forgets_idempotency_keys(stripe_fake):
    account = stripe_fake.connected_account()
    params = {"amount": 100, "currency": "cny", "destination": account}
    stripe_fake.client.v1.transfers.create(params, {"idempotency_key": "k-2"})
    stripe_fake.reset()
    account = stripe_fake.connected_account()
    other = {"amount": 200, "currency": "cny", "destination": account}
    assert stripe_fake.client.v1.transfers.create(other, {"idempotency_key": "k-2"}).amount == 200


def test_a_transfer_reaches_a_connected_account_and_emits_transfer_created(stripe_fake):
    account = stripe_fake.connected_account(type="express", country="CN")
    assert stripe_fake.client.v1.accounts.retrieve(account).capabilities["transfers"] == "active"
    transfer = stripe_fake.client.v1.transfers.create(
        {"amount": 6_914, "currency": "cny", "destination": account, "metadata": {"statement": "3"}}
    )
    assert transfer.id.startswith("tr_")
    fetched = stripe_fake.client.v1.transfers.retrieve(transfer.id)
    assert (fetched.amount, fetched.currency, fetched.destination) == (6_914, "cny", account)
    assert fetched.metadata["statement"] == "3"
    assert stripe_fake.event("transfer.created", transfer.id).object_id == transfer.id


@pytest.mark.parametrize(
    "params",
    [
        {"amount": 0, "currency": "cny"},
        {"amount": -5, "currency": "cny"},
        {"amount": 100, "currency": "CNY"},
        {"amount": 100, "currency": "yuan"},
    ],
)
def test_a_transfer_checks_amount_and_currency(stripe_fake, params):
    account = stripe_fake.connected_account()
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_fake.client.v1.transfers.create({**params, "destination": account})
    assert refused.value.http_status == 400


def test_a_transfer_to_an_unknown_account_is_404(stripe_fake):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_fake.client.v1.transfers.create(
            {"amount": 100, "currency": "cny", "destination": "acct_nobody"}
        )
    assert refused.value.http_status == 404
    assert refused.value.code == "resource_missing"


def test_the_fake_refuses_transfers_to_a_chosen_destination_until_reset(stripe_fake):
    refused_account = stripe_fake.connected_account()
    other = stripe_fake.connected_account()
    stripe_fake.refuse_transfers_to(refused_account)
    params = {"amount": 100, "currency": "cny"}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_fake.client.v1.transfers.create(
            {**params, "destination": refused_account}, {"idempotency_key": "pay-1"}
        )
    assert refused.value.code == "insufficient_capabilities_for_transfer"
    assert stripe_fake.client.v1.transfers.create({**params, "destination": other}).amount == 100
    # A refusal is not cached: once the account can receive, the same key pays.
    stripe_fake.accept_transfers_to(refused_account)
    paid = stripe_fake.client.v1.transfers.create(
        {**params, "destination": refused_account}, {"idempotency_key": "pay-1"}
    )
    assert paid.destination == refused_account


def test_a_reversed_transfer_emits_a_signed_transfer_reversed(stripe_fake):
    account = stripe_fake.connected_account()
    transfer = stripe_fake.client.v1.transfers.create(
        {"amount": 1_000, "currency": "cny", "destination": account}
    )
    delivery = stripe_fake.reverse_transfer(transfer.id, amount=400)
    event = stripe.Webhook.construct_event(delivery.payload, delivery.signature, WEBHOOK_SECRET)
    assert event.type == "transfer.reversed"
    assert (event.data.object.id, event.data.object.amount_reversed) == (transfer.id, 400)
    assert stripe_fake.client.v1.transfers.retrieve(transfer.id).reversed is False
    stripe_fake.reverse_transfer(transfer.id)
    assert stripe_fake.client.v1.transfers.retrieve(transfer.id).reversed is True
    with pytest.raises(stripe.InvalidRequestError):
        stripe_fake.reverse_transfer(transfer.id, amount=1)


def test_payment_intents_and_transfers_list_by_period(stripe_fake, stripe_gateway):
    from datetime import UTC, datetime, timedelta

    intent = stripe_fake.client.v1.payment_intents.create({"amount": 100, "currency": "cny"})
    account = stripe_fake.connected_account()
    transfer = stripe_fake.client.v1.transfers.create(
        {"amount": 100, "currency": "cny", "destination": account}
    )
    now = datetime.now(UTC)
    around = (now - timedelta(minutes=1), now + timedelta(minutes=1))
    later = (now + timedelta(minutes=1), now + timedelta(minutes=2))
    assert [p["id"] for p in stripe_gateway.list_payment_intents(*around)] == [intent.id]
    assert [t["id"] for t in stripe_gateway.list_transfers(*around)] == [transfer.id]
    assert list(stripe_gateway.list_payment_intents(*later)) == []
    assert list(stripe_gateway.list_transfers(*later)) == []


def test_disputes_open_and_close_with_signed_events(stripe_fake):
    intent = stripe_fake.client.v1.payment_intents.create({"amount": 800, "currency": "cny"})
    stripe_fake.pay(intent.id)
    opened = stripe_fake.open_dispute(intent.id)
    assert opened.type == "charge.dispute.created"
    dispute = opened.event["data"]["object"]
    assert (dispute["payment_intent"], dispute["amount"], dispute["status"]) == (
        intent.id,
        800,
        "needs_response",
    )
    closed = stripe_fake.close_dispute(dispute["id"], "lost")
    assert closed.event["data"]["object"]["status"] == "lost"
