"""Each redemption rule has one author that the till's two-statement path and the
locking path both call: changing the one definition changes both paths.

On PostgreSQL, where both paths exist. Each test changes a rule in its one
place and shows that the till (which would otherwise serve the request) and
the locking path (which answers whatever the till leaves) both follow it.
"""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from support.coupons import issued_coupon
from support.problems import problem

from app import auth, authz, communities, coupons, ledger, redemptions
from app.authz import Grant
from app.extensions import db
from app.ledger import InsufficientBalance
from app.redemptions import till as till_path
from models import AccountKind, ApiToken, Redemption, Role, TransactionKind, utcnow

pytestmark = pytest.mark.postgres


@pytest.fixture
def served(monkeypatch):
    """What the till answered, request by request: a status, or None when it
    left the request to the locking path."""
    answers = []
    redeem = till_path.Till.redeem

    def recording(self, asked, render):
        response = redeem(self, asked, render)
        answers.append(None if response is None else response.status_code)
        return response

    monkeypatch.setattr(till_path.Till, "redeem", recording)
    return answers


@pytest.fixture
def locking_path(monkeypatch):
    """Switch the till off, so the locking path serves every request."""

    def off(monkeypatch_=monkeypatch):
        monkeypatch_.setattr(till_path.Till, "redeem", lambda _self, _asked, _render: None)

    return off


def redemptions_of(coupon) -> int:
    return db.session.scalar(sa.select(sa.func.count()).where(Redemption.coupon_id == coupon.id))


def test_the_till_serves_a_plain_redemption(served, api, community, admin, resident, cashier):
    """The baseline the tests below change: the till answers by itself."""
    coupon = issued_coupon(community, admin, resident)
    made = api.as_(cashier).post(
        "/redemptions", json={"code": coupon.code, "bill_fen": 100}, key=True
    )
    assert made.status_code == 201
    assert served == [201]


def test_token_liveness_is_one_rule(
    served, locking_path, monkeypatch, api, community, admin, resident, cashier
):
    """``auth.token_refusal`` decides for both paths: an expired token is taken
    by both when the rule is changed to accept it, and refused by both when
    the rule refuses every token."""
    coupon = issued_coupon(community, admin, resident, points=1000)
    till = api.as_(cashier)
    token = db.session.scalars(
        sa.select(ApiToken).where(ApiToken.member_id == cashier.id).order_by(ApiToken.id.desc())
    ).first()
    token.expires_at = utcnow() - timedelta(minutes=1)
    db.session.flush()
    body = {"code": coupon.code, "bill_fen": 100}

    assert till.post("/redemptions", json=body, key=True).status_code == 401
    assert served == [None]

    monkeypatch.setattr(auth, "token_refusal", lambda **_seen: None)
    assert till.post("/redemptions", json=body, key=True).status_code == 201
    assert served[-1] == 201
    with monkeypatch.context() as patched:
        locking_path(patched)
        assert till.post("/redemptions", json=body, key=True).status_code == 201
    assert redemptions_of(coupon) == 2

    refuse_all = lambda **_seen: auth.BearerTokenNotLive()  # noqa: E731
    monkeypatch.setattr(auth, "token_refusal", refuse_all)
    token.expires_at = utcnow() + timedelta(days=1)
    db.session.flush()
    problem(till.post("/redemptions", json=body, key=True), 401, "bearer-token-not-live")
    assert served[-1] is None
    assert redemptions_of(coupon) == 2


def test_the_role_grant_is_one_rule(served, monkeypatch, api, community, admin, resident, cashier):
    """``authz.POLICY`` decides for both paths: withdraw the grant from merchant
    staff and the till leaves the request, which the locking path refuses."""
    coupon = issued_coupon(community, admin, resident)
    monkeypatch.setitem(authz.POLICY, "redemption.create", Grant(roles=frozenset({Role.ORGANIZER})))
    refused = api.as_(cashier).post(
        "/redemptions", json={"code": coupon.code, "bill_fen": 100}, key=True
    )
    problem(refused, 403, "forbidden")
    assert served == [None]
    assert redemptions_of(coupon) == 0


def test_where_a_coupon_is_valid_is_one_rule(
    served, monkeypatch, api, community, admin, resident, cashier
):
    """``coupons.valid_at`` is the SQL both the locking path runs and the till's
    read is built from: make it refuse every merchant and rebuild the read."""
    coupon = issued_coupon(community, admin, resident)
    monkeypatch.setattr(coupons, "valid_at", lambda *_columns: sa.false())
    monkeypatch.setattr(till_path, "READ", till_path.reads())
    assert "false AS valid_here" in till_path.READ["code"]
    refused = api.as_(cashier).post(
        "/redemptions", json={"code": coupon.code, "bill_fen": 100}, key=True
    )
    problem(refused, 422, "coupon-not-valid-at-merchant")
    assert served == [None]
    assert redemptions_of(coupon) == 0


REFUSE_EVERY_MOVE = """
CREATE OR REPLACE FUNCTION jifen_move_balances(
    p_community_id bigint, p_account_ids bigint[], p_amounts bigint[]
) RETURNS bigint LANGUAGE sql AS $$ SELECT p_account_ids[1] $$
"""


def test_the_guarded_balance_move_is_one_rule(served, api, community, admin, resident, cashier):
    """On PostgreSQL ``jifen_move_balances`` moves every balance: replaced (inside
    this test's transaction) by one that refuses everything, it refuses an
    award posted through ``ledger.post`` and a till's redemption alike."""
    coupon = issued_coupon(community, admin, resident)
    db.session.execute(sa.text(REFUSE_EVERY_MOVE))
    issuance = ledger.ensure_account(community.id, AccountKind.ISSUANCE)
    wallet = ledger.ensure_account(community.id, AccountKind.WALLET, member_id=resident.id)
    with pytest.raises(InsufficientBalance):
        ledger.post(
            community.id, TransactionKind.AWARD, [(issuance, -10), (wallet, 10)], memo="test"
        )
    refused = api.as_(cashier).post(
        "/redemptions", json={"code": coupon.code, "bill_fen": 100}, key=True
    )
    problem(refused, 409, "insufficient-balance")
    assert served == [None]
    assert redemptions_of(coupon) == 0
    assert isinstance(redemptions.writer(), redemptions.PostgresWriter)


def test_the_rate_in_force_is_one_rule(
    served, locking_path, monkeypatch, api, community, admin, resident, cashier
):
    """``communities.rate_in_force`` decides the rate both paths store: a rate
    scheduled from today applies to a till's redemption and to the locking path's."""
    coupon = issued_coupon(community, admin, resident, points=1000)
    communities.schedule_points_per_yuan(community, 100, communities.local_today(), actor=admin)
    till = api.as_(cashier)
    body = {"code": coupon.code, "bill_fen": 100}

    fast = till.post("/redemptions", json=body, key=True)
    assert (fast.status_code, fast.json["points_per_yuan"], fast.json["points"]) == (201, 100, 100)
    assert served == [201]
    with monkeypatch.context() as patched:
        locking_path(patched)
        slow = till.post("/redemptions", json=body, key=True)
    assert (slow.status_code, slow.json["points_per_yuan"], slow.json["points"]) == (201, 100, 100)
    assert api.as_(resident).get(f"/members/{resident.id}/balance").json["points_per_yuan"] == 100
