"""The fund through the public API: donations via Stripe (the fake), refunds, disputes,
other income and the funds' balances."""

import pytest
import sqlalchemy as sa
from support.fund import FundWorld

from app import ledger
from app.extensions import db
from app.reconciliation import reconcile
from models import (
    AccountKind,
    AuditEntry,
    DonationRefund,
    DonationStatus,
    Fund,
    LedgerTransaction,
    Role,
    StripeEvent,
    TransactionKind,
)

PROBLEM = "application/problem+json"


@pytest.fixture
def world(stripe_app, stripe_fake, api, make_community, make_member):
    community = make_community()
    admin = make_member(community, Role.FUND_ADMIN)
    resident = make_member(community)
    return FundWorld(community, api.as_(admin), api.as_(resident), stripe_fake)


def events(**where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(StripeEvent).filter_by(**where))


def test_a_card_donation_reaches_the_fund_net_of_fee_through_the_real_webhook(world, app):
    started = world.start(10_000, donor_name="李先生", message="为社区添砖加瓦")
    assert started["status"] == "pending"
    assert started["client_secret"].startswith(started["payment_intent_id"] + "_secret_")
    intent = world.stripe_fake.client.v1.payment_intents.retrieve(started["payment_intent_id"])
    assert (intent.amount, intent.currency) == (10_000, "cny")
    assert intent.metadata["jifen_donation_id"] == str(started["donation_id"])
    assert intent.metadata["jifen_fund"] == "community"
    assert intent.metadata["jifen_community"] == world.slug

    world.stripe_fake.pay(started["payment_intent_id"])
    # localstripe delivers the signed event about a second later, as Stripe would.
    delivery = world.stripe_fake.wait_for_event(
        "payment_intent.succeeded", started["payment_intent_id"]
    )
    reply = world.deliver(delivery)

    assert reply.status_code == 200
    assert reply.get_json() == {
        "event_id": delivery.id,
        "type": "payment_intent.succeeded",
        "outcome": "recorded",
        "duplicate": False,
    }
    donation = world.donation(started["donation_id"])
    assert donation.status == DonationStatus.SUCCEEDED
    assert (donation.amount_fen, donation.fee_fen) == (10_000, 300)
    assert donation.charge_id.startswith("ch_")
    assert world.cash() == 9_700
    assert world.cash(Fund.CHARITY) == 0
    txn = db.session.get(LedgerTransaction, donation.transaction_id)
    assert (txn.kind, txn.reference) == (TransactionKind.DONATION, started["payment_intent_id"])
    assert sorted(entry.amount for entry in txn.entries) == [-10_000, -300, 300, 10_000]

    funds = world.admin_api.get(f"/communities/{world.slug}/funds").get_json()
    community_fund = next(f for f in funds["funds"] if f["fund"] == "community")
    assert community_fund["cash_fen"] == 9_700
    assert community_fund["shown"]["cash"] == "¥97.00"

    status = world.resident_api.get(
        f"/donations/by-payment-intent/{started['payment_intent_id']}"
    ).get_json()
    assert status == {
        "donation_id": started["donation_id"],
        "status": "succeeded",
        "fund": "community",
        "amount_fen": 10_000,
        "amount_shown": "¥100.00",
    }
    assert reconcile(world.community).ok
    result = app.test_cli_runner().invoke(args=["reconcile", "--community", world.slug])
    assert result.exit_code == 0, result.output


def test_a_bad_signature_is_refused_and_nothing_is_recorded(world):
    started = world.start(5_000)
    world.stripe_fake.pay(started["payment_intent_id"])
    genuine = world.stripe_fake.event("payment_intent.succeeded", started["payment_intent_id"])
    forged = world.stripe_fake.signed_event(
        "payment_intent.succeeded", genuine.event["data"]["object"], secret="whsec_wrong"
    )
    for delivery in (forged, type(genuine)(genuine.payload, "t=1,v1=00")):
        reply = world.deliver(delivery)
        assert reply.status_code == 400
        assert reply.content_type == PROBLEM
        assert reply.get_json()["type"] == "urn:jifen:problem:invalid-stripe-signature"
    tampered = type(genuine)(genuine.payload.replace(b"5000", b"9000"), genuine.signature)
    assert world.deliver(tampered).status_code == 400
    assert events() == 0
    assert world.donation(started["donation_id"]).status == DonationStatus.PENDING
    assert world.cash() == 0


def test_the_same_event_twice_changes_nothing_the_second_time(world):
    started = world.start(10_000)
    world.stripe_fake.pay(started["payment_intent_id"])
    delivery = world.stripe_fake.event("payment_intent.succeeded", started["payment_intent_id"])

    first = world.deliver(delivery).get_json()
    again = world.deliver(delivery).get_json()

    assert (first["outcome"], first["duplicate"]) == ("recorded", False)
    assert (again["outcome"], again["duplicate"]) == ("recorded", True)
    assert world.cash() == 9_700
    assert events(event_id=delivery.id) == 1


def test_events_out_of_order_and_a_second_event_for_one_payment_double_nothing(world):
    started = world.start(10_000)
    paid = world.stripe_fake.pay(started["payment_intent_id"])
    succeeded = world.stripe_fake.event("payment_intent.succeeded", started["payment_intent_id"])
    # An earlier attempt's failure, delivered late, and Stripe resending the success
    # under another event id.
    late_failure = world.stripe_fake.signed_event("payment_intent.payment_failed", paid)
    resent = world.stripe_fake.signed_event("payment_intent.succeeded", paid)

    assert world.deliver(succeeded).get_json()["outcome"] == "recorded"
    assert world.deliver(late_failure).get_json()["outcome"] == "already_recorded"
    assert world.deliver(resent).get_json()["outcome"] == "already_recorded"

    assert world.donation(started["donation_id"]).status == DonationStatus.SUCCEEDED
    assert world.cash() == 9_700
    assert events() == 3


def test_a_declined_card_marks_the_donation_failed(world):
    started = world.start(2_000)
    world.stripe_fake.pay(started["payment_intent_id"], "pm_card_chargeCustomerFail")
    failed = world.stripe_fake.event("payment_intent.payment_failed", started["payment_intent_id"])

    assert world.deliver(failed).get_json()["outcome"] == "recorded"

    assert world.donation(started["donation_id"]).status == DonationStatus.FAILED
    assert world.cash() == 0


def test_an_event_for_an_unknown_payment_is_stored_as_unmatched(world):
    intent = world.stripe_fake.client.v1.payment_intents.create({"amount": 900, "currency": "cny"})
    world.stripe_fake.pay(intent.id)
    delivery = world.stripe_fake.event("payment_intent.succeeded", intent.id)

    assert world.deliver(delivery).get_json()["outcome"] == "unmatched"
    stored = db.session.execute(sa.select(StripeEvent)).scalar_one()
    assert (stored.event_id, stored.object_id, stored.community_id) == (
        delivery.id,
        intent.id,
        None,
    )
    assert world.deliver(delivery).get_json()["duplicate"] is True


def test_refunds_in_parts_until_nothing_is_left(world):
    world.record_income(50_000)
    donation = world.donate(10_000)
    assert world.cash() == 59_700

    part = world.admin_api.post(
        f"/donations/{donation.id}/refund", json={"amount_fen": 4_000}, key=True
    )
    assert part.status_code == 201, part.get_json()
    body = part.get_json()
    assert (body["amount_fen"], body["status"], body["origin"]) == (4_000, "booked", "jifen")
    assert body["refund_id"].startswith("re_")
    assert world.cash() == 55_700
    stripe_refund = world.stripe_fake.client.v1.refunds.retrieve(body["refund_id"])
    assert stripe_refund.amount == 4_000
    assert world.donation(donation.id).refunded_fen == 4_000

    too_much = world.admin_api.post(
        f"/donations/{donation.id}/refund", json={"amount_fen": 6_001}, key=True
    )
    assert too_much.status_code == 409
    assert too_much.get_json()["type"] == "urn:jifen:problem:refund-exceeds-donation"

    rest = world.admin_api.post(f"/donations/{donation.id}/refund", json={}, key=True)
    assert rest.status_code == 201
    assert rest.get_json()["amount_fen"] == 6_000
    assert world.donation(donation.id).status == DonationStatus.REFUNDED
    assert world.cash() == 49_700  # Stripe kept its ¥3.00 fee: the fund bears it
    again = world.admin_api.post(f"/donations/{donation.id}/refund", json={}, key=True)
    assert again.get_json()["type"] == "urn:jifen:problem:donation-not-refundable"
    audited = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.community_id == world.community.id)
    ).all()
    assert audited.count("donation.refund") == 2
    assert reconcile(world.community).ok


def test_a_refund_the_fund_cannot_cover_is_refused_before_stripe_is_asked(world):
    donation = world.donate(10_000)  # the fund holds 9,700 after the fee
    reply = world.admin_api.post(f"/donations/{donation.id}/refund", json={}, key=True)

    assert reply.status_code == 409
    assert reply.get_json()["type"] == "urn:jifen:problem:fund-cannot-cover-refund"
    assert (
        world.stripe_fake.client.v1.refunds.list(
            {"payment_intent": donation.payment_intent_id}
        ).data
        == []
    )
    assert world.cash() == 9_700


def test_no_refund_while_a_dispute_is_open(world):
    world.record_income(50_000)
    donation = world.donate(10_000)
    opened = world.stripe_fake.open_dispute(donation.payment_intent_id)
    assert world.deliver(opened).get_json()["outcome"] == "recorded"

    refused = world.admin_api.post(f"/donations/{donation.id}/refund", json={}, key=True)
    assert refused.status_code == 409
    assert refused.get_json()["type"] == "urn:jifen:problem:donation-disputed"

    closed = world.stripe_fake.close_dispute(opened.object_id, "won")
    assert world.deliver(closed).get_json()["outcome"] == "recorded"
    # A late duplicate of the opening does not reopen it.
    late = world.stripe_fake.signed_event(
        "charge.dispute.created", opened.event["data"]["object"], created=opened.event["created"]
    )
    assert world.deliver(late).get_json()["outcome"] == "already_recorded"
    refunded = world.admin_api.post(f"/donations/{donation.id}/refund", json={}, key=True)
    assert refunded.status_code == 201


def test_a_refund_made_at_stripe_is_booked_when_the_fund_covers_it(world):
    world.record_income(20_000)
    donation = world.donate(10_000)
    outside = world.stripe_fake.client.v1.refunds.create(
        {"payment_intent": donation.payment_intent_id, "amount": 2_500}
    )
    delivery = world.stripe_fake.object_event("charge.refunded", donation.charge_id)

    assert world.deliver(delivery).get_json()["outcome"] == "recorded"
    refund = db.session.execute(
        sa.select(DonationRefund).where(DonationRefund.refund_id == outside.id)
    ).scalar_one()
    assert (refund.status.value, refund.origin.value, refund.amount_fen) == (
        "booked",
        "stripe",
        2_500,
    )
    assert world.cash() == 20_000 + 9_700 - 2_500
    assert world.deliver(delivery).get_json()["duplicate"] is True
    assert world.cash() == 27_200


def test_a_refund_made_at_stripe_the_fund_cannot_cover_is_listed_unmatched(world):
    donation = world.donate(10_000)
    outside = world.stripe_fake.client.v1.refunds.create(
        {"payment_intent": donation.payment_intent_id}
    )
    delivery = world.stripe_fake.object_event("charge.refunded", donation.charge_id)

    assert world.deliver(delivery).get_json()["outcome"] == "unmatched"
    assert world.cash() == 9_700
    listed = world.admin_api.get(f"/communities/{world.slug}/refunds?status=unmatched").get_json()
    assert [(r["refund_id"], r["amount_fen"], r["transaction_id"]) for r in listed["items"]] == [
        (outside.id, 10_000, None)
    ]
    assert world.donation(donation.id).refunded_fen == 0
    assert reconcile(world.community).ok


def test_income_is_recorded_and_a_wrong_entry_reversed_with_a_reason(world):
    entry = world.record_income(
        12_345, which="charity", source="cash_donation", reference="收据 0042", note="张阿姨"
    )
    assert (entry["status"], entry["amount_shown"], entry["source"]) == (
        "recorded",
        "¥123.45",
        "cash_donation",
    )
    assert world.cash(Fund.CHARITY) == 12_345

    missing_reason = world.admin_api.post(f"/income/{entry['id']}/reverse", json={}, key=True)
    assert missing_reason.status_code == 422
    reversed_ = world.admin_api.post(
        f"/income/{entry['id']}/reverse", json={"reason": "金额录错"}, key=True
    )
    assert reversed_.status_code == 200
    assert (reversed_.get_json()["status"], reversed_.get_json()["reversal_reason"]) == (
        "reversed",
        "金额录错",
    )
    assert world.cash(Fund.CHARITY) == 0
    twice = world.admin_api.post(
        f"/income/{entry['id']}/reverse", json={"reason": "again"}, key=True
    )
    assert twice.status_code == 409
    assert twice.get_json()["type"] == "urn:jifen:problem:income-already-reversed"
    listed = world.admin_api.get(f"/communities/{world.slug}/income").get_json()["items"]
    assert [item["id"] for item in listed] == [entry["id"]]
    original = db.session.get(LedgerTransaction, entry["transaction_id"])
    assert original.reference == f"income:{entry['id']}"
    assert reconcile(world.community).ok


def test_income_that_was_spent_cannot_be_reversed(world):
    entry = world.record_income(10_000)
    donation = world.donate(10_000)
    world.admin_api.post(f"/donations/{donation.id}/refund", json={}, key=True)
    assert world.cash() == 9_700

    refused = world.admin_api.post(
        f"/income/{entry['id']}/reverse", json={"reason": "录错"}, key=True
    )

    assert refused.status_code == 409
    assert refused.get_json()["type"] == "urn:jifen:problem:fund-cannot-cover-reversal"
    assert world.cash() == 9_700


def test_the_same_idempotency_key_records_income_once(world):
    body = {"amount_fen": 800, "fund": "community", "source": "grant", "reference": "街道拨款"}
    first = world.admin_api.post(f"/communities/{world.slug}/income", json=body, key="grant-1")
    again = world.admin_api.post(f"/communities/{world.slug}/income", json=body, key="grant-1")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.get_json() == again.get_json()
    assert world.cash() == 800


def test_funds_show_what_the_reimbursing_fund_owes_merchants(world, make_member):
    world.record_income(30_000)
    shop = make_member(world.community, Role.MERCHANT_STAFF).merchant_id
    cash = ledger.ensure_account(world.community.id, AccountKind.FUND_CASH, fund=Fund.COMMUNITY)
    payable = ledger.ensure_account(
        world.community.id, AccountKind.MERCHANT_PAYABLE, merchant_id=shop
    )
    paid = ledger.ensure_account(world.community.id, AccountKind.PAID_OUT, merchant_id=shop)
    ledger.post(
        world.community.id, TransactionKind.SETTLEMENT, [(cash, -5_000), (payable, 5_000)], memo="t"
    )
    ledger.post(
        world.community.id, TransactionKind.PAYOUT, [(payable, -2_000), (paid, 2_000)], memo="t"
    )

    funds = world.admin_api.get(f"/communities/{world.slug}/funds").get_json()

    assert funds["reimbursing_fund"] == "community"
    by_fund = {f["fund"]: f for f in funds["funds"]}
    assert by_fund["community"] == {
        "fund": "community",
        "name": "社区基金",
        "cash_fen": 25_000,
        "payable_fen": 3_000,
        "paid_out_fen": 2_000,
        "reimburses_merchants": True,
        "shown": {"cash": "¥250.00", "payable": "¥30.00", "paid_out": "¥20.00"},
    }
    assert (by_fund["charity"]["payable_fen"], by_fund["charity"]["reimburses_merchants"]) == (
        0,
        False,
    )


def test_who_may_do_what(world, api, make_member):
    platform = api.as_(make_member(None, Role.PLATFORM_ADMIN))
    assert platform.get(f"/communities/{world.slug}/funds").status_code == 200
    assert platform.get(f"/communities/{world.slug}/donations").status_code == 200
    refused = platform.post(
        f"/communities/{world.slug}/income",
        json={"amount_fen": 1, "fund": "charity", "source": "other", "reference": "x"},
        key=True,
    )
    assert refused.status_code == 403
    assert world.resident_api.get(f"/communities/{world.slug}/funds").status_code == 403
    assert world.resident_api.get(f"/communities/{world.slug}/donations").status_code == 403


def test_a_donation_outside_the_limits_is_refused(world):
    for amount in (99, 10_000_001):
        reply = world.resident_api.post(
            f"/communities/{world.slug}/donations",
            json={"amount_fen": amount, "fund": "charity"},
            key=True,
        )
        assert reply.status_code == 422
        assert reply.get_json()["type"] == "urn:jifen:problem:donation-amount-out-of-range"


def test_without_stripe_the_donation_and_webhook_say_stripe_is_not_configured(
    api, make_community, make_member, stripe_fake
):
    community = make_community()
    resident = api.as_(make_member(community))
    started = resident.post(
        f"/communities/{community.slug}/donations",
        json={"amount_fen": 1_000, "fund": "charity"},
        key=True,
    )
    assert started.status_code == 503
    assert started.get_json()["type"] == "urn:jifen:problem:stripe-not-configured"
    delivery = stripe_fake.signed_event("payment_intent.succeeded", {"id": "pi_x"})
    from support.stripe_fixtures import post_event

    webhook = post_event(api.client, delivery)
    assert webhook.status_code == 503
    assert events() == 0
