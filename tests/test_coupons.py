"""A coupon's life after issue: lifecycle, where it is valid, codes, revocation, expiry."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from support.books import balance, count, escrow, reconciled, wallet
from support.coupons import earn, issued_coupon, make_rule, spend

from app import communities, coupon_tokens, coupons, issuance, issuance_rules
from app.coupon_tokens import CouponExpired
from app.coupons import (
    CouponRevoked,
    CouponUsedUp,
    IllegalCouponTransition,
    UnknownCoupon,
)
from app.earnings import last_month
from app.extensions import db
from app.problems import InvalidInput
from models import (
    AccountKind,
    Coupon,
    CouponFunding,
    CouponPosting,
    CouponStatus,
    ExpiryTarget,
    LedgerTransaction,
    Role,
    TransactionKind,
    utcnow,
)


def postings(coupon) -> list[int]:
    return list(
        db.session.scalars(
            sa.select(CouponPosting.amount)
            .where(CouponPosting.coupon_id == coupon.id)
            .order_by(CouponPosting.id)
        )
    )


# --- lifecycle ------------------------------------------------------------------------


@pytest.mark.parametrize("start", list(CouponStatus))
@pytest.mark.parametrize("new", list(CouponStatus))
def test_transitions(start, new):
    coupon = Coupon(id=1, status=start, points=100, points_remaining=100)
    allowed = {
        CouponStatus.ISSUED: {"partly_redeemed", "redeemed", "expired", "revoked"},
        CouponStatus.PARTLY_REDEEMED: {"partly_redeemed", "redeemed", "expired", "revoked"}
        # A voided redemption gives points back: a coupon reopens.
        | {"issued"},
        CouponStatus.REDEEMED: {"issued", "partly_redeemed"},
    }.get(start, set())
    if new.value in allowed:
        coupons.transition(coupon, new)
        assert coupon.status == new
        assert (coupon.closed_at is not None) == (new in coupons.FINAL_COUPON_STATUSES)
    else:
        with pytest.raises(IllegalCouponTransition) as caught:
            coupons.transition(coupon, new)
        assert caught.value.status == 409
        assert coupon.status == start


def test_partial_redemption_keeps_escrow_in_step(community, admin, resident, shop):
    coupon = issued_coupon(community, admin, resident)
    spend(coupon, 30, shop)
    assert (coupon.status, coupon.points_remaining) == (CouponStatus.PARTLY_REDEEMED, 70)
    spend(coupon, 70, shop)
    assert (coupon.status, coupon.points_remaining) == (CouponStatus.REDEEMED, 0)
    assert coupon.closed_at is not None
    assert postings(coupon) == [100, -30, -70]
    assert escrow(community) == 0
    assert balance(community, AccountKind.MERCHANT_RECEIVABLE, merchant_id=shop.id) == 100
    assert reconciled(community).coupons["redeemed"] == 1
    with pytest.raises(CouponUsedUp):
        coupons.check_usable(coupon)


# --- where a coupon is valid ----------------------------------------------------------


def test_coupon_valid_at_every_merchant_or_the_rules_group(
    community, admin, make_member, shop, make_community
):
    barber = communities.create_merchant(community, name="理发店", category="理发")
    foreign = communities.create_merchant(make_community(), name="外地店", category="超市")
    chiefs = issuance_rules.create_merchant_group(
        community, name="微街长商家", merchant_ids=[shop.id]
    )
    everywhere = issued_coupon(community, admin, make_member(community))
    chiefs_only = issued_coupon(community, admin, make_member(community), merchant_group=chiefs)

    assert coupons.coupon_valid_at(everywhere, shop)
    assert coupons.coupon_valid_at(everywhere, barber)
    assert not coupons.coupon_valid_at(everywhere, foreign)
    assert coupons.coupon_valid_at(chiefs_only, shop)
    assert not coupons.coupon_valid_at(chiefs_only, barber)
    assert not coupons.coupon_valid_at(chiefs_only, foreign)

    issuance_rules.add_to_group(chiefs, barber)
    issuance_rules.remove_from_group(chiefs, shop)
    assert coupons.coupon_valid_at(chiefs_only, barber)
    assert not coupons.coupon_valid_at(chiefs_only, shop)


# --- short codes ----------------------------------------------------------------------


def test_codes_have_no_look_alikes():
    codes = set(coupon_tokens.new_codes(500))
    assert len(codes) == 500
    assert all(len(code) == 10 for code in codes)
    assert not set("".join(codes)) & set("01ILOU")


def test_a_draw_beyond_the_last_whole_code_space_is_made_up(monkeypatch):
    """Draws at or above the largest multiple of 30^10 would make low codes likelier."""
    beyond = (coupon_tokens._KEPT_BELOW).to_bytes(8, "little")
    last = (coupon_tokens._KEPT_BELOW - 1).to_bytes(8, "little")
    reads = iter([beyond + last, (1).to_bytes(8, "little")])
    monkeypatch.setattr(coupon_tokens.secrets, "token_bytes", lambda n: next(reads)[:n])
    assert coupon_tokens.new_codes(2) == ["ZZZZZZZZZZ", "3222222222"]


def test_a_typed_code_finds_the_coupon(community, admin, resident, make_community):
    coupon = issued_coupon(community, admin, resident)
    typed = " ".join([coupon.code[:5].lower(), coupon.code[5:]])
    assert coupons.coupon_by_code(typed, community) is coupon
    assert coupons.coupon_by_code(f"{coupon.code[:5]}-{coupon.code[5:]}", community) is coupon
    with pytest.raises(UnknownCoupon):
        coupons.coupon_by_code(coupon.code, make_community())
    with pytest.raises(UnknownCoupon):
        coupons.coupon_by_code("XXXXXXXXXX", community)
    coupons.revoke_coupon(coupon, reason="重复发放", actor=admin)
    with pytest.raises(CouponRevoked):
        coupons.coupon_by_code(coupon.code, community)


# --- revocation -----------------------------------------------------------------------


def test_revoking_a_granted_coupon_returns_points_to_issuance(community, admin, resident):
    coupon = issued_coupon(community, admin, resident)
    issuance_before = balance(community, AccountKind.ISSUANCE)

    coupons.revoke_coupon(coupon, reason=" 发错了 ", actor=admin)

    assert (coupon.status, coupon.points_remaining) == (CouponStatus.REVOKED, 0)
    assert coupon.closed_at is not None
    assert balance(community, AccountKind.ISSUANCE) == issuance_before + 100
    assert escrow(community) == 0
    assert wallet(resident) == 300
    assert postings(coupon) == [100, -100]
    txn = db.session.scalars(
        sa.select(LedgerTransaction).where(
            LedgerTransaction.reference == f"coupon-revocation:{coupon.id}",
            LedgerTransaction.community_id == community.id,
        )
    ).one()
    assert txn.kind == TransactionKind.COUPON_REVOCATION
    assert txn.actor_id == admin.id
    assert txn.memo.endswith(": 发错了")
    assert reconciled(community).coupons["revoked"] == 1
    with pytest.raises(CouponRevoked):
        coupons.check_usable(coupon)


def test_revoking_a_converted_coupon_returns_the_rest_to_the_wallet(
    community, admin, resident, shop
):
    coupon = issued_coupon(community, admin, resident, funding=CouponFunding.CONVERT)
    assert wallet(resident) == 200
    spend(coupon, 40, shop)

    coupons.revoke_coupon(coupon, reason="居民迁出", actor=admin)

    assert wallet(resident) == 260
    assert balance(community, AccountKind.MERCHANT_RECEIVABLE, merchant_id=shop.id) == 40
    assert escrow(community) == 0
    assert postings(coupon) == [100, -40, -60]
    reconciled(community)


def test_a_coupon_is_revoked_once_and_only_while_open(community, admin, resident, shop):
    coupon = issued_coupon(community, admin, resident)
    with pytest.raises(InvalidInput):
        coupons.revoke_coupon(coupon, reason="  ", actor=admin)
    coupons.revoke_coupon(coupon, reason="第一次", actor=admin)
    with pytest.raises(IllegalCouponTransition):
        coupons.revoke_coupon(coupon, reason="第二次", actor=admin)
    used = issued_coupon(community, admin, resident)
    spend(used, 100, shop)
    with pytest.raises(IllegalCouponTransition):
        coupons.revoke_coupon(used, reason="已用完", actor=admin)
    assert escrow(community) == 0
    reconciled(community)


# --- expiry ---------------------------------------------------------------------------


def test_expiry_moves_remaining_points_as_each_rule_says(community, admin, make_member, shop):
    back, lapsed, partly = (make_member(community) for _ in range(3))
    # Each earns in months of their own, so each rule issues to one resident.
    months = [last_month()]
    for _ in range(4):
        months.append(months[-1].previous())
    to_wallet = issued_coupon(community, admin, back, period=months[0])
    to_expired = issued_coupon(
        community, admin, lapsed, period=months[1], on_expiry=ExpiryTarget.EXPIRED
    )
    partial = issued_coupon(community, admin, partly, period=months[2])
    spend(partial, 25, shop)
    later = issued_coupon(community, admin, back, period=months[3], valid_days=90)
    revoked = issued_coupon(community, admin, lapsed, period=months[4], valid_days=1)
    coupons.revoke_coupon(revoked, reason="作废", actor=admin)
    moment = to_wallet.expires_at
    assert later.expires_at > moment

    assert coupons.expire_coupons(moment - timedelta(seconds=1), community=community).coupons == 0
    result = coupons.expire_coupons(moment, community=community)

    assert (result.coupons, result.points, result.to_wallets, result.to_expired) == (
        3,
        275,
        175,
        100,
    )
    db.session.expire_all()
    for coupon in (to_wallet, to_expired, partial):
        assert (coupon.status, coupon.points_remaining) == (CouponStatus.EXPIRED, 0)
        assert coupon.closed_at == moment
    assert later.status == CouponStatus.ISSUED
    assert revoked.status == CouponStatus.REVOKED
    assert wallet(back) == 300 * 2 + 100
    assert wallet(partly) == 300 + 75
    assert balance(community, AccountKind.EXPIRED) == 100
    assert escrow(community) == 100  # the coupon valid for 90 days
    assert postings(partial) == [100, -25, -75]
    counts = reconciled(community).coupons
    assert counts == {"issued": 5, "open": 1, "redeemed": 0, "expired": 3, "revoked": 1}
    with pytest.raises(CouponExpired):
        coupons.check_usable(to_wallet)
    # Nothing is left to expire.
    assert coupons.expire_coupons(moment, community=community).coupons == 0


def test_expiry_runs_over_every_community_in_batches(make_community, make_member, monkeypatch):
    monkeypatch.setattr(coupons, "WALLET_BATCH_SIZE", 2)
    places = [make_community() for _ in range(2)]
    held = []
    for place in places:
        admin = make_member(place, Role.FUND_ADMIN)
        rule = make_rule(place, admin, on_expiry=ExpiryTarget.EXPIRED)
        for _ in range(3):
            earn(make_member(place), 300)
        issuance.issue_coupons(rule, last_month())
        held += db.session.scalars(sa.select(Coupon).where(Coupon.community_id == place.id)).all()
    moment = max(coupon.expires_at for coupon in held)
    progress = []

    result = coupons.expire_coupons(moment, progress=lambda *args: progress.append(args))

    assert result.coupons >= 6
    assert progress[-1] == (result.coupons, result.coupons)
    for place in places:
        assert balance(place, AccountKind.EXPIRED) == 300
        assert escrow(place) == 0
        expiries = count(
            LedgerTransaction,
            LedgerTransaction.community_id == place.id,
            LedgerTransaction.kind == TransactionKind.COUPON_EXPIRY,
        )
        assert expiries == 2  # three coupons, two per batch
        reconciled(place)


def test_a_token_of_an_expired_coupon_is_refused_before_expiry_runs(community, admin, resident):
    coupon = issued_coupon(community, admin, resident)
    token = coupon_tokens.coupon_token(coupon)
    assert coupons.verify_coupon(token, community) is coupon
    with pytest.raises(CouponExpired):
        coupons.verify_coupon(token, community, now=coupon.expires_at)
    assert coupons.verify_coupon(token, community, now=utcnow()) is coupon
