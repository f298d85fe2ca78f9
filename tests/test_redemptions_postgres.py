"""Redemption under real commits and real concurrency on PostgreSQL.

Each test makes a community of its own (unique slug) and leaves it consistent.
"""

import json
from collections import Counter

import pytest
import sqlalchemy as sa
from support.books import balance, escrow, reconciled
from support.concurrency import concurrently, invoke_reconcile, new_member, post
from support.coupons import earn, make_rule
from support.names import unique
from support.problems import PROBLEM

from app import auth, communities, issuance
from app.earnings import last_month
from app.extensions import db
from models import AccountKind, Coupon, CouponPosting, CouponStatus, Redemption, Role

pytestmark = pytest.mark.postgres


def setup(points=100, cashiers=1):
    """A committed community: one resident's coupon of ``points``, a shop and its cashiers."""
    community = communities.create_community(unique("pg-redeem"), "并发核销社区")
    admin = new_member(community, Role.FUND_ADMIN)
    resident = new_member(community)
    earn(resident, 300)
    rule = make_rule(community, admin, points=points)
    issuance.issue_coupons(rule, last_month(), actor=admin)
    shop = communities.create_merchant(community, name="微街长便民超市", category="超市")
    tokens = [
        auth.issue_token(new_member(community, Role.MERCHANT_STAFF, merchant_id=shop.id))[0]
        for _ in range(cashiers)
    ]
    coupon = db.session.scalars(sa.select(Coupon).where(Coupon.member_id == resident.id)).one()
    found = (community, shop, coupon.id, coupon.code, tokens)
    db.session.commit()
    return found


def assert_consistent(app, community, shop, coupon_id, spent):
    db.session.expire_all()
    coupon = db.session.get(Coupon, coupon_id)
    postings = db.session.scalar(
        sa.select(sa.func.sum(CouponPosting.amount)).where(CouponPosting.coupon_id == coupon_id)
    )
    assert coupon.points_remaining == postings == coupon.points - spent
    assert escrow(community) == coupon.points_remaining
    receivable = balance(community, AccountKind.MERCHANT_RECEIVABLE, merchant_id=shop.id)
    active = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Redemption.points), 0)).where(
            Redemption.community_id == community.id, Redemption.status == "active"
        )
    )
    assert receivable == active == spent
    reconciled(community)
    result = invoke_reconcile(app, community.slug)
    assert result.exit_code == 0, result.output
    db.session.rollback()


def test_64_redemptions_of_one_coupon_spend_exactly_its_points(pg):
    community, shop, coupon_id, code, [token] = setup(points=100)
    body = {"code": code, "bill_fen": 20}  # 10 points each: the coupon covers 10 of 64

    replies = concurrently(pg, [post("/api/v1/redemptions", body, token) for _ in range(64)])

    statuses = Counter(reply.status for reply in replies)
    assert statuses == {201: 10, 409: 54}
    for reply in replies:
        if reply.status == 409:
            assert reply.content_type == PROBLEM
            assert json.loads(reply.body)["type"] == "urn:jifen:problem:coupon-used-up"
        else:
            assert json.loads(reply.body)["points"] == 10
    assert db.session.get(Coupon, coupon_id).status == CouponStatus.REDEEMED
    assert_consistent(pg, community, shop, coupon_id, spent=100)


def test_two_cashiers_spend_the_whole_coupon_at_once_one_wins(pg):
    community, shop, coupon_id, code, tokens = setup(points=100, cashiers=2)
    body = {"code": code, "bill_fen": 500}

    replies = concurrently(pg, [post("/api/v1/redemptions", body, token) for token in tokens])

    assert sorted(reply.status for reply in replies) == [201, 409]
    assert_consistent(pg, community, shop, coupon_id, spent=100)


def test_a_redeem_racing_a_void(pg):
    community, shop, coupon_id, code, [token] = setup(points=100)
    with pg.test_client() as client:
        first = post("/api/v1/redemptions", {"code": code, "bill_fen": 120}, token)(client)
    assert first.status_code == 201
    void = post(f"/api/v1/redemptions/{first.json['id']}/void", None, token)
    redeem = post("/api/v1/redemptions", {"code": code, "bill_fen": 200}, token)

    replies = concurrently(pg, [void, redeem])

    assert replies[0].status == 200
    assert replies[1].status == 201
    # Whichever ran first, the second saw the coupon as the first left it.
    assert json.loads(replies[1].body)["points"] in (40, 100)
    spent = json.loads(replies[1].body)["points"]
    assert_consistent(pg, community, shop, coupon_id, spent=spent)


def test_twenty_retries_with_one_key_redeem_once_and_answer_alike(pg):
    """A till retrying one request on twenty connections at once: one redemption,
    and every answer is its receipt, byte for byte."""
    community, shop, coupon_id, code, [token] = setup(points=100)
    request = post("/api/v1/redemptions", {"code": code, "bill_fen": 60}, token)

    replies = concurrently(pg, [request] * 20)

    assert {reply.status for reply in replies} == {201}
    assert len({reply.body for reply in replies}) == 1
    assert sum(reply.headers.get("Idempotent-Replayed") != "true" for reply in replies) == 1
    assert_consistent(pg, community, shop, coupon_id, spent=30)
