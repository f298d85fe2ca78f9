"""Redemption at the till through the API: preview, redeem, void, refusals (design.md §6, §9)."""

import csv
import io
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from support.books import balance, count, escrow, reconciled, wallet
from support.coupons import earn, issued_coupon
from support.problems import problem

from app import communities, coupon_tokens, coupons, issuance_rules, offers, paycodes
from app.extensions import db
from models import (
    AccountKind,
    AuditEntry,
    CouponPosting,
    CouponStatus,
    LedgerTransaction,
    OfferKind,
    Redemption,
    RedemptionStatus,
    Role,
    SettlementStatement,
    StatementStatus,
    TransactionKind,
    utcnow,
)

SPLIT = ("bill_fen", "discount_fen", "points", "points_value_fen", "cash_fen")


def receivable(community, merchant):
    return balance(community, AccountKind.MERCHANT_RECEIVABLE, merchant_id=merchant.id)


def assert_reconciles(community):
    db.session.expire_all()
    reconciled(community)


def redemptions_in(community) -> int:
    return count(Redemption, Redemption.community_id == community.id)


def split_of(body) -> tuple:
    return tuple(body[name] for name in SPLIT)


# --- preview and redeem ---------------------------------------------------------------


def test_preview_changes_nothing_and_redeem_stores_the_split(
    till, community, admin, resident, shop, cashier
):
    coupon = issued_coupon(community, admin, resident, points=1000)
    token = coupon_tokens.coupon_token(coupon)
    body = {"token": token, "bill_fen": 1500}

    preview = till.post("/redemptions/preview", json=body)
    assert preview.status_code == 200, preview.json
    assert split_of(preview.json) == (1500, 0, 750, 1500, 0)
    assert preview.json["points_per_yuan"] == 50
    assert preview.json["points_available"] == 1000
    assert preview.json["source"] == "coupon"
    assert (preview.json["coupon_id"], preview.json["coupon_code"]) == (coupon.id, coupon.code)
    assert preview.json["merchant_id"] == shop.id
    assert redemptions_in(community) == 0
    assert escrow(community) == 1000

    made = till.post("/redemptions", json=body, key=True)
    assert made.status_code == 201, made.json
    receipt = made.json
    assert split_of(receipt) == (1500, 0, 750, 1500, 0)
    assert receipt["status"] == "active"
    assert (receipt["coupon_id"], receipt["member_id"]) == (coupon.id, None)
    assert (receipt["merchant_id"], receipt["cashier_id"]) == (shop.id, cashier.id)
    row = db.session.get(Redemption, receipt["id"])
    assert (row.bill_fen, row.discount_fen, row.points, row.points_value_fen, row.cash_fen) == (
        1500,
        0,
        750,
        1500,
        0,
    )
    txn = db.session.get(LedgerTransaction, receipt["transaction_id"])
    assert (txn.kind, txn.reference) == (TransactionKind.REDEMPTION, f"redemption:{row.id}")
    db.session.refresh(coupon)
    assert (coupon.status, coupon.points_remaining) == (CouponStatus.PARTLY_REDEEMED, 250)
    assert escrow(community) == 250
    assert receivable(community, shop) == 750
    postings = db.session.scalars(
        sa.select(CouponPosting.amount).where(CouponPosting.transaction_id == txn.id)
    ).all()
    assert postings == [-750]

    # The rest of the coupon on a bigger bill: only what is left is spent, the rest is cash.
    rest = till.post("/redemptions", json={"code": coupon.code, "bill_fen": 2000}, key=True)
    assert split_of(rest.json) == (2000, 0, 250, 500, 1500)
    db.session.refresh(coupon)
    assert (coupon.status, coupon.points_remaining) == (CouponStatus.REDEEMED, 0)
    assert coupon.closed_at is not None
    problem(till.post("/redemptions/preview", json=body), 409, "coupon-used-up")
    assert_reconciles(community)


OFFERS = [
    # kind, terms, cap, bill -> D, P, V, C (coupon of 1000 points, rate 50)
    ("none", None, {}, None, 3000, 0, 1000, 2000, 1000),
    ("discount", OfferKind.DISCOUNT, {"discount_percent": 15}, None, 999, 149, 425, 850, 0),
    ("low_cost", OfferKind.LOW_COST, {"price_fen": 1000}, None, 3000, 2000, 500, 1000, 0),
    ("capped", OfferKind.DISCOUNT, {"discount_percent": 10}, 100, 10000, 1000, 100, 200, 8800),
    ("small bill", None, {}, None, 3, 0, 1, 2, 1),
]


@pytest.mark.parametrize(
    ("kind", "terms", "cap", "bill", "d", "p", "v", "c"),
    [case[1:] for case in OFFERS],
    ids=[case[0] for case in OFFERS],
)
def test_redemption_stores_exactly_the_split_per_offer(
    till, community, admin, resident, shop, kind, terms, cap, bill, d, p, v, c
):
    coupon = issued_coupon(community, admin, resident, points=1000)
    body = {"code": coupon.code, "bill_fen": bill}
    if kind is not None:
        offer = offers.create_offer(shop, title="优惠", kind=kind, max_points_per_bill=cap, **terms)
        body["offer_id"] = offer.id
    made = till.post("/redemptions", json=body, key=True)
    assert made.status_code == 201, made.json
    assert split_of(made.json) == (bill, d, p, v, c)
    assert made.json["offer_id"] == body.get("offer_id")
    row = db.session.get(Redemption, made.json["id"])
    assert (row.discount_fen, row.points, row.points_value_fen, row.cash_fen) == (d, p, v, c)
    assert receivable(community, shop) == p
    assert_reconciles(community)


def test_a_rate_of_30_is_used_and_stored(api, make_community, make_member):
    community = make_community(points_per_yuan=30, award_approval_threshold=10**6)
    admin = make_member(community, Role.FUND_ADMIN)
    resident = make_member(community)
    shop = communities.create_merchant(community, name="理发店", category="理发")
    till = api.as_(make_member(community, Role.MERCHANT_STAFF, merchant_id=shop.id))
    coupon = issued_coupon(community, admin, resident, points=100)

    made = till.post("/redemptions", json={"code": coupon.code, "bill_fen": 11}, key=True)

    assert split_of(made.json) == (11, 0, 3, 10, 1)
    assert made.json["points_per_yuan"] == 30
    # The rate is the one at redemption time: a later change does not touch the stored row.
    community.points_per_yuan = 50
    db.session.flush()
    assert db.session.get(Redemption, made.json["id"]).points_per_yuan == 30


def test_a_pay_code_spends_the_wallet_once(till, community, resident, shop):
    earn(resident, 400)
    code = paycodes.pay_code(resident).code
    body = {"pay_code": code, "bill_fen": 1000, "merchant_id": shop.id}

    preview = till.post("/redemptions/preview", json=body)
    assert split_of(preview.json) == (1000, 0, 400, 800, 200)
    assert (preview.json["source"], preview.json["member_id"]) == ("pay_code", resident.id)
    assert wallet(resident) == 400

    made = till.post("/redemptions", json=body, key=True)
    assert made.status_code == 201, made.json
    assert (made.json["member_id"], made.json["coupon_id"]) == (resident.id, None)
    assert wallet(resident) == 0
    assert receivable(community, shop) == 400

    problem(till.post("/redemptions", json=body, key=True), 409, "pay-code-used")
    assert redemptions_in(community) == 1
    assert_reconciles(community)


def test_a_retry_with_the_same_key_returns_the_same_receipt(till, community, admin, resident):
    coupon = issued_coupon(community, admin, resident)
    body = {"code": coupon.code, "bill_fen": 100}
    first = till.post("/redemptions", json=body, key="till-1-0001")
    again = till.post("/redemptions", json=body, key="till-1-0001")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert redemptions_in(community) == 1
    db.session.refresh(coupon)
    assert coupon.points_remaining == 50
    other = till.post("/redemptions", json={**body, "bill_fen": 101}, key="till-1-0001")
    problem(other, 409, "idempotency-key-reused")
    problem(till.post("/redemptions", json=body), 400, "idempotency-key-required")


# --- refusals ---------------------------------------------------------------------------


def nothing_changed(community, coupon, points=100):
    db.session.expire_all()
    assert redemptions_in(community) == 0
    assert coupon.points_remaining == points
    assert escrow(community) >= points


def test_the_merchant_is_the_cashiers_own(till, community, admin, resident, make_member, api):
    coupon = issued_coupon(community, admin, resident)
    other = communities.create_merchant(community, name="老街茶馆", category="茶馆")
    body = {"code": coupon.code, "bill_fen": 100, "merchant_id": other.id}
    problem(till.post("/redemptions", json=body, key=True), 403, "merchant-mismatch")
    problem(till.post("/redemptions/preview", json=body), 403, "merchant-mismatch")
    for role in (Role.RESIDENT, Role.FUND_ADMIN):
        caller = api.as_(make_member(community, role))
        problem(caller.post("/redemptions", json={**body, "merchant_id": None}, key=True), 403)
    nothing_changed(community, coupon)


def test_an_inactive_merchant_redeems_nothing(till, community, admin, resident, shop):
    coupon = issued_coupon(community, admin, resident)
    offers.update_merchant(shop, active=False)
    problem(
        till.post("/redemptions", json={"code": coupon.code, "bill_fen": 100}, key=True),
        409,
        "merchant-inactive",
    )
    nothing_changed(community, coupon)


@pytest.mark.parametrize("bill", [0, -1, 10_000_001])
def test_a_bill_out_of_range_is_refused(till, community, admin, resident, bill):
    coupon = issued_coupon(community, admin, resident)
    body = {"code": coupon.code, "bill_fen": bill}
    assert problem(till.post("/redemptions", json=body, key=True), 422, "bill-out-of-range")[
        "errors"
    ]["json"]["bill_fen"]
    nothing_changed(community, coupon)


@pytest.mark.parametrize(
    "body",
    [
        {"bill_fen": 100},
        {"bill_fen": 100, "code": "X", "pay_code": "1"},
        {"bill_fen": "1.00", "code": "X"},
        {"bill_fen": 1.5, "code": "X"},
    ],
)
def test_malformed_bodies_are_field_errors(till, body):
    assert problem(till.post("/redemptions", json=body, key=True), 422)["errors"]


def test_offers_of_another_merchant_or_not_current_are_refused(
    till, community, admin, resident, shop, make_community
):
    coupon = issued_coupon(community, admin, resident)
    other = communities.create_merchant(community, name="老街茶馆", category="茶馆")
    theirs = offers.create_offer(other, title="九折", kind=OfferKind.DISCOUNT, discount_percent=10)
    withdrawn = offers.create_offer(shop, title="旧", kind=OfferKind.DISCOUNT, discount_percent=5)
    offers.update_offer(withdrawn, active=False)
    past = offers.create_offer(
        shop,
        title="上月",
        kind=OfferKind.DISCOUNT,
        discount_percent=5,
        active_until=date.today() - timedelta(days=3),
    )
    foreign_shop = communities.create_merchant(make_community(), name="外地店", category="超市")
    foreign = offers.create_offer(foreign_shop, title="外", kind=OfferKind.WELFARE)
    cases = [
        (theirs.id, "offer-of-another-merchant"),
        (withdrawn.id, "offer-not-current"),
        (past.id, "offer-not-current"),
        (foreign.id, "unknown-offer"),
        (10**9, "unknown-offer"),
    ]
    for offer_id, slug in cases:
        body = {"code": coupon.code, "bill_fen": 100, "offer_id": offer_id}
        problem(till.post("/redemptions", json=body, key=True), 422, slug)
    nothing_changed(community, coupon)


def test_welfare_and_zero_value_bills_have_nothing_to_redeem(
    till, community, admin, resident, shop
):
    coupon = issued_coupon(community, admin, resident)
    welfare = offers.create_offer(shop, title="免费理发", kind=OfferKind.WELFARE)
    free = till.post(
        "/redemptions",
        json={"code": coupon.code, "bill_fen": 3000, "offer_id": welfare.id},
        key=True,
    )
    assert "免费" in problem(free, 422, "nothing-to-redeem")["detail"]
    one_fen = till.post(
        "/redemptions",
        json={"code": coupon.code, "bill_fen": 1},
        key=True,
        headers={"Accept-Language": "en"},
    )
    assert "less than one point" in problem(one_fen, 422, "nothing-to-redeem")["detail"]
    nothing_changed(community, coupon)


def test_an_empty_wallet_has_nothing_to_redeem(till, community, resident):
    body = {"pay_code": paycodes.pay_code(resident).code, "bill_fen": 1000}
    refused = problem(till.post("/redemptions", json=body, key=True), 422, "nothing-to-redeem")
    assert refused["detail"] == "居民已没有可用积分。"
    assert redemptions_in(community) == 0


def test_coupons_that_cannot_be_spent_here_are_refused(
    till, community, admin, resident, shop, make_member, make_community
):
    elsewhere = communities.create_merchant(community, name="老街茶馆", category="茶馆")
    group = issuance_rules.create_merchant_group(
        community, name="别家", merchant_ids=[elsewhere.id]
    )
    restricted = issued_coupon(community, admin, resident, merchant_group=group)
    body = {"code": restricted.code, "bill_fen": 100}
    problem(till.post("/redemptions", json=body, key=True), 422, "coupon-not-valid-at-merchant")

    revoked = issued_coupon(community, admin, make_member(community))
    coupons.revoke_coupon(revoked, reason="测试", actor=admin)
    body = {"code": revoked.code, "bill_fen": 100}
    problem(till.post("/redemptions", json=body, key=True), 409, "coupon-revoked")

    expired = issued_coupon(community, admin, make_member(community))
    token = coupon_tokens.coupon_token(expired)
    expired.expires_at = utcnow() - timedelta(seconds=1)
    expired.issued_at = utcnow() - timedelta(days=2)
    db.session.flush()
    problem(
        till.post("/redemptions", json={"code": expired.code, "bill_fen": 100}, key=True),
        409,
        "coupon-expired",
    )

    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    problem(till.post("/redemptions", json={"token": tampered, "bill_fen": 100}, key=True), 422)
    problem(
        till.post("/redemptions", json={"token": "nonsense", "bill_fen": 100}, key=True),
        422,
        "invalid-coupon-token",
    )
    problem(
        till.post("/redemptions", json={"code": "ZZZZZZZZZZ", "bill_fen": 100}, key=True),
        404,
        "unknown-coupon",
    )

    foreign_community = make_community(award_approval_threshold=10**6)
    foreign_admin = make_member(foreign_community, Role.FUND_ADMIN)
    foreign = issued_coupon(foreign_community, foreign_admin, make_member(foreign_community))
    body = {"token": coupon_tokens.coupon_token(foreign), "bill_fen": 100}
    problem(till.post("/redemptions", json=body, key=True), 422, "coupon-of-another-community")
    assert redemptions_in(community) == 0


def test_pay_codes_expired_invalid_or_foreign_are_refused(
    app, till, community, resident, make_member, make_community
):
    earn(resident, 400)
    old = paycodes.pay_code(resident, now=utcnow() - timedelta(seconds=5 * 30)).code
    problem(
        till.post("/redemptions", json={"pay_code": old, "bill_fen": 100}, key=True),
        409,
        "pay-code-expired",
    )
    problem(
        till.post("/redemptions", json={"pay_code": "12345678901", "bill_fen": 100}, key=True),
        422,
        "invalid-pay-code",
    )
    stranger = make_member(make_community())
    code = paycodes.pay_code(stranger).code
    problem(
        till.post("/redemptions", json={"pay_code": code, "bill_fen": 100}, key=True),
        422,
        "pay-code-of-another-community",
    )
    assert wallet(resident) == 400
    assert redemptions_in(community) == 0


# --- void -------------------------------------------------------------------------------


def test_void_gives_the_points_back_once(till, community, admin, resident, shop):
    coupon = issued_coupon(community, admin, resident)
    made = till.post("/redemptions", json={"code": coupon.code, "bill_fen": 500}, key=True).json
    db.session.refresh(coupon)
    assert coupon.status == CouponStatus.REDEEMED

    voided = till.post(f"/redemptions/{made['id']}/void", key=True)
    assert voided.status_code == 200, voided.json
    assert voided.json["status"] == "voided"
    assert voided.json["voided_at"]
    reversal = db.session.get(LedgerTransaction, voided.json["void_transaction_id"])
    assert (reversal.kind, reversal.reverses_id) == (
        TransactionKind.REVERSAL,
        made["transaction_id"],
    )
    db.session.refresh(coupon)
    assert (coupon.status, coupon.points_remaining, coupon.closed_at) == (
        CouponStatus.ISSUED,
        100,
        None,
    )
    assert escrow(community) == 100
    assert receivable(community, shop) == 0
    voids = count(
        AuditEntry,
        AuditEntry.action == "redemption.void",
        AuditEntry.community_id == community.id,
    )
    assert voids == 1

    problem(
        till.post(f"/redemptions/{made['id']}/void", key=True), 409, "redemption-already-voided"
    )
    assert_reconciles(community)
    # The coupon can be spent again.
    again = till.post("/redemptions", json={"code": coupon.code, "bill_fen": 60}, key=True)
    assert again.json["points"] == 30


def test_void_of_a_partial_redemption_and_a_pay_code(till, community, admin, resident, shop):
    coupon = issued_coupon(community, admin, resident)
    first = till.post("/redemptions", json={"code": coupon.code, "bill_fen": 40}, key=True).json
    second = till.post("/redemptions", json={"code": coupon.code, "bill_fen": 60}, key=True).json
    till.post(f"/redemptions/{first['id']}/void", key=True)
    db.session.refresh(coupon)
    assert (coupon.status, coupon.points_remaining) == (CouponStatus.PARTLY_REDEEMED, 70)
    assert second["points"] == 30

    earn(resident, 100)  # 300 earned for the coupon, now 400 in the wallet
    paid = till.post(
        "/redemptions",
        json={"pay_code": paycodes.pay_code(resident).code, "bill_fen": 100},
        key=True,
    ).json
    assert wallet(resident) == 350
    till.post(f"/redemptions/{paid['id']}/void", key=True)
    assert wallet(resident) == 400
    assert receivable(community, shop) == 30
    assert_reconciles(community)


def test_void_after_the_window_or_settlement_or_by_others_is_refused(
    app, till, api, community, admin, resident, make_member
):
    coupon = issued_coupon(community, admin, resident)
    made = till.post("/redemptions", json={"code": coupon.code, "bill_fen": 40}, key=True).json
    row = db.session.get(Redemption, made["id"])

    other_staff = api.as_(make_member(community, Role.MERCHANT_STAFF))
    problem(other_staff.post(f"/redemptions/{row.id}/void", key=True), 403)
    problem(api.as_(admin).post(f"/redemptions/{row.id}/void", key=True), 403)

    statement = SettlementStatement(
        community_id=community.id,
        merchant_id=row.merchant_id,
        period="2026-01",
        status=StatementStatus.DRAFT,
        redemptions=1,
        points=row.points,
        amount_fen=row.points_value_fen,
        rounding_remainder=0,
        needs_second_approver=False,
    )
    db.session.add(statement)
    db.session.flush()
    row.statement_id = statement.id
    db.session.flush()
    problem(till.post(f"/redemptions/{row.id}/void", key=True), 409, "redemption-settled")
    row.statement_id = None
    row.created_at = utcnow() - timedelta(minutes=app.config["REDEMPTION_VOID_MINUTES"] + 1)
    db.session.flush()
    english = {"Accept-Language": "en"}
    late = till.post(f"/redemptions/{row.id}/void", key=True, headers=english)
    assert "30 minutes" in problem(late, 409, "void-window-closed")["detail"]
    db.session.expire_all()
    assert row.status == RedemptionStatus.ACTIVE


def test_void_of_a_revoked_coupons_redemption_is_refused(till, community, admin, resident):
    coupon = issued_coupon(community, admin, resident)
    made = till.post("/redemptions", json={"code": coupon.code, "bill_fen": 40}, key=True).json
    coupons.revoke_coupon(coupon, reason="误发", actor=admin)
    problem(till.post(f"/redemptions/{made['id']}/void", key=True), 409, "coupon-closed")
    assert_reconciles(community)


def test_a_receipt_can_be_read_by_its_merchant_and_the_fund(till, api, community, admin, resident):
    coupon = issued_coupon(community, admin, resident)
    made = till.post("/redemptions", json={"code": coupon.code, "bill_fen": 40}, key=True).json
    assert till.get(f"/redemptions/{made['id']}").json == made
    assert api.as_(admin).get(f"/redemptions/{made['id']}").json["points"] == 20
    problem(api.as_(resident).get(f"/redemptions/{made['id']}"), 403)


# --- the merchant's history -------------------------------------------------------------


def test_history_filters_totals_pages_and_csv(till, api, community, admin, resident, shop):
    coupon = issued_coupon(community, admin, resident, points=1000)
    discount = offers.create_offer(shop, title="九折", kind=OfferKind.DISCOUNT, discount_percent=10)
    made = [
        till.post("/redemptions", json={"code": coupon.code, "bill_fen": bill, **extra}, key=True)
        for bill, extra in ((100, {}), (1000, {"offer_id": discount.id}), (333, {}))
    ]
    ids = [reply.json["id"] for reply in made]
    till.post(f"/redemptions/{ids[0]}/void", key=True)
    old = db.session.get(Redemption, ids[2])
    old.created_at = utcnow() - timedelta(days=40)
    db.session.flush()
    path = f"/merchants/{shop.id}/redemptions"

    listed = till.get(path).json
    assert [item["id"] for item in listed["items"]] == ids[::-1]
    # Active ones only: 1000 with 10% off (D 100, P 450, V 900, C 0) and 333 (P 166, V 332, C 1).
    assert listed["totals"] == {
        "count": 2,
        "points": 616,
        "points_value_fen": 1232,
        "discount_fen": 100,
        "cash_fen": 1,
        "bill_fen": 1333,
    }
    first = till.get(path + "?limit=2").json
    assert [item["id"] for item in first["items"]] == [ids[2], ids[1]]
    rest = till.get(path + f"?limit=2&cursor={first['next_cursor']}").json
    assert [item["id"] for item in rest["items"]] == [ids[0]]
    assert rest["next_cursor"] is None
    assert rest["totals"] == first["totals"] == listed["totals"]

    voided = till.get(path + "?status=voided").json
    assert [item["id"] for item in voided["items"]] == [ids[0]]
    assert voided["totals"]["count"] == 0
    today = (utcnow() + timedelta(hours=8)).date()
    recent = till.get(path + f"?since={today - timedelta(days=1)}&until={today}").json
    assert [item["id"] for item in recent["items"]] == [ids[1], ids[0]]
    long_ago = till.get(path + f"?until={today - timedelta(days=30)}").json
    assert [item["id"] for item in long_ago["items"]] == [ids[2]]

    english = {"Accept-Language": "en"}
    csv_reply = till.get(path + "?format=csv&status=active", headers=english)
    assert csv_reply.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(csv_reply.get_data(as_text=True))))
    assert rows[0][:8] == [
        "No.",
        "Time",
        "Status",
        "Bill (¥)",
        "Shop's discount (¥)",
        "Points",
        "Points value (¥)",
        "Cash (¥)",
    ]
    assert [row[0] for row in rows[1:]] == [str(ids[2]), str(ids[1])]
    assert rows[2][2:8] == ["Done", "10.00", "1.00", "450", "9.00", "0.00"]
    made_at = db.session.get(Redemption, ids[1]).created_at
    assert rows[2][1] == (made_at + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")
    assert rows[2][9] == coupon.code
    in_chinese = list(csv.reader(io.StringIO(till.get(path + ".csv").get_data(as_text=True))))
    assert in_chinese[0][:3] == ["编号", "时间", "状态"]
    assert len(in_chinese) == 4

    assert api.as_(admin).get(path).json["totals"]["count"] == 2
    problem(api.as_(resident).get(path), 403)
    other = communities.create_merchant(community, name="老街茶馆", category="茶馆")
    problem(till.get(f"/merchants/{other.id}/redemptions"), 403)
    problem(till.get(path + "?format=xml"), 422)
