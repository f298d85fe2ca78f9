"""Coupons under real commits and real concurrency on PostgreSQL.

Each test makes a community of its own (unique slug) and leaves it consistent.
"""

import json
import threading
from collections import Counter

import pytest
import sqlalchemy as sa
from support.books import balance, count, escrow, reconciled
from support.concurrency import concurrently, new_member, post
from support.coupons import earn, make_rule
from support.names import unique

from app import auth, communities, coupons, issuance, paycodes
from app.earnings import last_month
from app.extensions import db
from models import (
    AccountKind,
    Community,
    Coupon,
    CouponFunding,
    CouponStatus,
    IssuanceRun,
    LedgerTransaction,
    PayCodeUse,
    Role,
    TransactionKind,
)

pytestmark = pytest.mark.postgres


def setup(residents=5):
    """A committed community: a fund admin (with a token), residents who earned 300 last month."""
    community = communities.create_community(unique("pg-coupons"), "并发发券社区")
    admin = new_member(community, Role.FUND_ADMIN)
    people = [new_member(community) for _ in range(residents)]
    for person in people:
        earn(person, 300)
    rule = make_rule(community, admin)
    token, _ = auth.issue_token(admin)
    db.session.commit()
    return community, admin, people, rule, token


def assert_reconciles(community):
    db.session.expire_all()
    reconciled(community)
    db.session.rollback()


def test_concurrent_runs_of_one_rule_and_period_issue_once(pg):
    community, _admin, people, rule, token = setup(residents=30)
    path = f"/api/v1/communities/{community.slug}/issuance-runs"
    body = {"rule_id": rule.id, "period": str(last_month())}

    replies = concurrently(pg, [post(path, body, token) for _ in range(8)])

    assert {reply.status for reply in replies} == {201}
    results = sorted((json.loads(r.body)["issued"], json.loads(r.body)["points"]) for r in replies)
    assert results == [(0, 0)] * 7 + [(30, 3000)]
    db.session.expire_all()
    assert count(Coupon, Coupon.community_id == community.id) == len(people)
    assert count(IssuanceRun, IssuanceRun.rule_id == rule.id) == 8
    issues = count(
        LedgerTransaction,
        LedgerTransaction.community_id == community.id,
        LedgerTransaction.kind == TransactionKind.COUPON_ISSUE,
    )
    assert issues == 1
    assert escrow(community) == 3000
    assert_reconciles(community)


def test_concurrent_revocations_return_the_points_once(pg):
    community, _admin, people, rule, token = setup(residents=1)
    issuance.issue_coupons(rule, last_month())
    db.session.commit()
    coupon = db.session.scalars(sa.select(Coupon).where(Coupon.member_id == people[0].id)).one()
    issuance_before = balance(community, AccountKind.ISSUANCE)
    db.session.commit()
    path = f"/api/v1/coupons/{coupon.id}/revoke"

    replies = concurrently(pg, [post(path, {"reason": "并发作废"}, token) for _ in range(8)])

    statuses = Counter(reply.status for reply in replies)
    assert statuses == {200: 1, 409: 7}
    for reply in replies:
        if reply.status == 409:
            assert json.loads(reply.body)["type"] == "urn:jifen:problem:illegal-coupon-transition"
    db.session.expire_all()
    assert db.session.get(Coupon, coupon.id).status == CouponStatus.REVOKED
    assert balance(community, AccountKind.ISSUANCE) == issuance_before + 100
    assert escrow(community) == 0
    reference = f"coupon-revocation:{coupon.id}"
    assert count(LedgerTransaction, LedgerTransaction.reference == reference) == 1
    assert_reconciles(community)


def test_a_pay_code_scanned_at_two_tills_at_once_is_used_once(pg):
    community, _admin, people, _rule, _token = setup(residents=1)
    code = paycodes.pay_code(people[0]).code
    db.session.commit()
    community_id = community.id
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def till():
        with pg.app_context():
            here = db.session.get(Community, community_id)
            barrier.wait(timeout=30)
            try:
                paycodes.consume_pay_code(code, here)
                db.session.commit()
                outcomes.append("paid")
            except paycodes.PayCodeUsed:
                db.session.rollback()
                outcomes.append("used")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=till) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["paid"] + ["used"] * 7
    assert count(PayCodeUse, PayCodeUse.member_id == people[0].id) == 1


def test_expiry_and_reconcile_commit_on_postgres(pg):
    community, admin, _people, rule, _token = setup(residents=3)
    run = issuance.issue_coupons(rule, last_month(), actor=admin)
    db.session.commit()
    moment = db.session.scalars(sa.select(Coupon.expires_at).where(Coupon.run_id == run.id)).first()

    result = coupons.expire_coupons(moment, community=community)
    db.session.commit()

    assert (result.coupons, result.to_wallets) == (3, 300)
    assert escrow(community) == 0
    cli = pg.test_cli_runner().invoke(args=["reconcile", "--community", community.slug])
    assert cli.exit_code == 0, cli.output
    assert "coupons issued 3, open 0, redeemed 0, expired 3, revoked 0" in cli.output


def test_a_convert_run_and_revocations_at_once_do_not_deadlock(pg):
    community, admin, people, _rule, token = setup(residents=40)
    for person in people:
        earn(person, 700)
    first = make_rule(community, admin, funding=CouponFunding.CONVERT, points=200)
    issuance.issue_coupons(first, last_month(), actor=admin)
    second = make_rule(community, admin, funding=CouponFunding.CONVERT, points=300)
    db.session.commit()
    held = db.session.scalars(sa.select(Coupon.id).where(Coupon.rule_id == first.id)).all()
    requests = [
        post(f"/api/v1/coupons/{coupon_id}/revoke", {"reason": "迁出"}, token)
        for coupon_id in held[::4]
    ]
    run_path = f"/api/v1/communities/{community.slug}/issuance-runs"
    requests.append(post(run_path, {"rule_id": second.id, "period": str(last_month())}, token))

    replies = concurrently(pg, requests)

    assert [reply.status for reply in replies] == [200] * 10 + [201]
    assert json.loads(replies[-1].body)["issued"] == 40
    db.session.expire_all()
    # 300 + 700 earned, 200 and 300 converted, 200 back for a revoked coupon.
    wallets = sorted(balance(community, AccountKind.WALLET, member_id=p.id) for p in people)
    assert wallets == [500] * 30 + [700] * 10
    assert escrow(community) == 30 * 200 + 40 * 300
    assert_reconciles(community)
