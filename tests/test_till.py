"""The till's two-statement redemption on PostgreSQL (app/redemptions/till.py):
it serves the plain success exactly as the general path would, and hands
everything else to the general path having changed nothing."""

from datetime import datetime

import pytest
import sqlalchemy as sa
from support.coupons import issued_coupon
from support.problems import problem
from support.redemptions import balances, written

from app import coupon_tokens, coupons, idempotency, offers, redemptions
from app.extensions import db
from app.redemptions import till as till_path
from models import Coupon, CouponStatus, IdempotencyKey, OfferKind, Redemption, utcnow

pytestmark = pytest.mark.postgres

#: What differs between two redemptions of two coupons, whichever path made them.
OWN = ("id", "transaction_id", "coupon_id", "created_at")


def general_path_fails(*_args, **_kwargs):
    raise AssertionError("the general path ran")


@pytest.fixture
def only_the_till(monkeypatch):
    monkeypatch.setattr(redemptions, "redeem", general_path_fails)


REQUESTS = {
    "code, part of the coupon": lambda coupon, offer: {"code": coupon.code, "bill_fen": 1500},
    "code, all of it": lambda coupon, offer: {"code": coupon.code.lower(), "bill_fen": 2500},
    "QR token": lambda coupon, offer: {
        "token": coupon_tokens.coupon_token(coupon),
        "bill_fen": 800,
    },
    "offer, capped": lambda coupon, offer: {
        "code": coupon.code,
        "bill_fen": 5000,
        "offer_id": offer.id,
    },
}


@pytest.mark.parametrize("shape", REQUESTS)
def test_the_till_and_the_general_path_write_the_same_rows_and_receipts(
    shape, monkeypatch, till, community, admin, make_member, shop
):
    offer = offers.create_offer(
        shop, title="九折", kind=OfferKind.DISCOUNT, discount_percent=10, max_points_per_bill=600
    )
    results = []
    for path in ("till", "general"):
        with monkeypatch.context() as patched:
            if path == "till":
                patched.setattr(redemptions, "redeem", general_path_fails)
            else:
                patched.setattr(till_path.Till, "redeem", lambda _self, _asked, _render: None)
            coupon = issued_coupon(community, admin, make_member(community), points=1000)
            before = balances(community.id)
            made = till.post("/redemptions", json=REQUESTS[shape](coupon, offer), key=True)
        assert made.status_code == 201, made.json
        receipt = made.json
        assert receipt["coupon_id"] == coupon.id
        stored = db.session.scalars(
            sa.select(IdempotencyKey).order_by(IdempotencyKey.id.desc()).limit(1)
        ).one()
        assert (stored.status_code, stored.content_type) == (201, made.content_type)
        assert stored.body == made.data
        redemption = db.session.get(Redemption, receipt["id"])
        assert redemption.transaction_id == receipt["transaction_id"]
        assert redemption.created_at == datetime.fromisoformat(receipt["created_at"])
        results.append(
            (
                written(redemption, before),
                {name: value for name, value in receipt.items() if name not in OWN},
                receipt["created_at"][-6:],
            )
        )
    assert results[0] == results[1]


def test_codes_tokens_and_offers_are_served_by_the_till(
    only_the_till, till, community, admin, resident, shop
):
    coupon = issued_coupon(community, admin, resident, points=1000)
    offer = offers.create_offer(shop, title="减五元", kind=OfferKind.LOW_COST, price_fen=500)
    by_code = till.post("/redemptions", json={"code": coupon.code, "bill_fen": 100}, key=True)
    by_token = till.post(
        "/redemptions",
        json={"token": coupon_tokens.coupon_token(coupon), "bill_fen": 100},
        key=True,
    )
    with_offer = till.post(
        "/redemptions",
        json={"code": coupon.code, "bill_fen": 1000, "offer_id": offer.id},
        key=True,
    )
    assert [r.status_code for r in (by_code, by_token, with_offer)] == [201, 201, 201]
    assert with_offer.json["discount_fen"] == 500
    db.session.expire_all()
    coupon = db.session.get(Coupon, coupon.id)
    assert (coupon.points_remaining, coupon.status) == (
        1000 - 50 - 50 - 250,
        CouponStatus.PARTLY_REDEEMED,
    )


def test_a_coupon_spent_between_read_and_write_goes_to_the_general_path(
    monkeypatch, till, community, admin, resident, shop, cashier
):
    """Another till spends most of the coupon after this one read it: the call
    refuses, and the general path answers from what is left."""
    coupon = issued_coupon(community, admin, resident, points=100)
    write = till_path._write

    def spent_meanwhile(cursor, arguments):
        other = redemptions.quote(cashier, code=coupon.code, bill_fen=180, _redeeming=True)
        redemptions.writer().record(other, cashier)
        db.session.flush()
        return write(cursor, arguments)

    monkeypatch.setattr(till_path, "_write", spent_meanwhile)
    made = till.post("/redemptions", json={"code": coupon.code, "bill_fen": 100}, key=True)
    assert made.status_code == 201, made.json
    assert made.json["points"] == 10
    db.session.expire_all()
    assert db.session.get(Coupon, coupon.id).status == CouponStatus.REDEEMED
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(Redemption.coupon_id == coupon.id)) == 2
    )


def test_a_coupon_revoked_between_read_and_write_goes_to_the_general_path(
    monkeypatch, till, community, admin, resident
):
    coupon = issued_coupon(community, admin, resident, points=100)
    write = till_path._write

    def revoked_meanwhile(cursor, arguments):
        coupons.revoke_coupon(db.session.get(Coupon, coupon.id), reason="错发", actor=admin)
        db.session.flush()
        return write(cursor, arguments)

    monkeypatch.setattr(till_path, "_write", revoked_meanwhile)
    refused = till.post("/redemptions", json={"code": coupon.code, "bill_fen": 100}, key=True)
    problem(refused, 409, "coupon-revoked")
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(Redemption.coupon_id == coupon.id)) == 0
    )


def test_a_key_taken_between_read_and_write_replays_that_response(
    monkeypatch, till, community, admin, resident, cashier
):
    """A retry with the same key committed first: the call writes nothing, and
    the general path replays what that retry stored."""
    coupon = issued_coupon(community, admin, resident, points=1000)
    write = till_path._write
    stored = b'{"stored": "by the first request"}'

    def taken_meanwhile(cursor, arguments):
        db.session.add(
            IdempotencyKey(
                community_id=community.id,
                member_id=cashier.id,
                key="same-key",
                fingerprint=idempotency.fingerprint(),
                status_code=201,
                content_type="application/json",
                body=stored,
                created_at=utcnow(),
                expires_at=idempotency.expires_at(utcnow()),
            )
        )
        db.session.flush()
        return write(cursor, arguments)

    monkeypatch.setattr(till_path, "_write", taken_meanwhile)
    replayed = till.post(
        "/redemptions", json={"code": coupon.code, "bill_fen": 100}, key="same-key"
    )
    assert (replayed.status_code, replayed.data) == (201, stored)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(Redemption.coupon_id == coupon.id)) == 0
    )
