"""A community whose books the reconciliation tests check: every kind of posting made
through the API (awards last month; this month an activity, coupons granted and
converted, redemptions by coupon and pay-code, a void, an expiry, donations through
the fake Stripe with a refund, income and a reversal), committed for real so a module
builds it once. Its ``expected`` figures are worked out here from the amounts used,
not read from the report.

The community's rate is 30 points a yuan, so a floor leaves a remainder.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import sqlalchemy as sa

from app import communities, coupons
from app.demo import dated
from app.earnings import LOCAL_TZ, Period, last_month
from app.extensions import db
from models import Redemption, Role, utcnow
from support.api import ApiClient
from support.names import unique
from support.stripe_fixtures import post_event

RATE = 30


def value(points: int) -> int:
    return points * 100 // RATE


def remainder(points: int) -> int:
    return points * 100 % RATE


@dataclass
class ReconWorld:
    slug: str
    community_id: int
    admin: ApiClient
    second_admin: ApiClient
    admin_ids: tuple[int, int]
    last: Period
    this: Period
    fees: dict[str, int]
    ids: dict[str, int] = field(default_factory=dict)

    def report(self, period: Period | str | None = None, fmt: str | None = None):
        query = []
        if period is not None:
            query.append(f"period={period}")
        if fmt is not None:
            query.append(f"format={fmt}")
        path = f"/communities/{self.slug}/reconciliation" + ("?" + "&".join(query) if query else "")
        return self.admin.get(path)

    # --- what the books must say, worked out from the amounts -----------------------------

    def expected_last_month(self) -> dict:
        return {
            "points": {
                "minted": {
                    "activity_awards": 0,
                    "manual_awards": 400 + 300 + 350 + 100,
                    "coupon_grants": 0,
                    "total": 1150,
                },
                "returned_to_issuance": {
                    "deductions": 50,
                    "reversed_awards": 0,
                    "revoked_grants": 0,
                    "total": 50,
                },
                "opening": _points_balances(),
                "closing": _points_balances(issuance=-1100, wallets=1100),
            },
            "money": {"income": {"charity_sale_fen": 69_140, "net_fen": 69_140}},
            "participation": {"volunteers": 4, "attendances": 0, "by_category": []},
        }

    def expected_this_month(self) -> dict:
        coupon_redeemed = 90 + 110 + 60
        fee_community, fee_charity = self.fees["community"], self.fees["charity"]
        settled = value(90) + value(110) + value(240)
        community_cash = 69_140 + 10_000 - fee_community + 5_000 - 5_000 - 2_000 - settled
        charity_cash = 5_000 - fee_charity + 100_000
        outstanding = 830 + 400
        ratio = (Decimal(community_cash) / Decimal(value(outstanding))).quantize(
            Decimal("0.0001"), ROUND_DOWN
        )
        return {
            "points": {
                "minted": {
                    "activity_awards": 150,
                    "manual_awards": 0,
                    "coupon_grants": 600,
                    "total": 750,
                },
                "converted_to_coupons": 180,
                "redeemed": {
                    "coupon": coupon_redeemed,
                    "coupon_value_fen": value(90) + value(110) + value(60),
                    "pay_code": 240,
                    "pay_code_value_fen": value(240),
                },
                "voided": {"coupon": 60, "pay_code": 0},
                "redeemed_net": coupon_redeemed + 240 - 60,
                "expired": 180,
                "expired_to_wallets": 0,
                "revoked_to_wallets": 0,
                "settled": 440,
                "received_by_merchants": coupon_redeemed + 240,
                "opening": _points_balances(issuance=-1100, wallets=1100),
                "closing": _points_balances(
                    issuance=-1850, wallets=830, coupon_escrow=400, retired=440, expired=180
                ),
            },
            "coupons": {
                "issued_in_period": 6,
                "issued_points": 3 * 200 + 3 * 60,
                "redemptions": 2,
                "issued": 6,
                "open": 2,
                "not_yet_used": 2,
                "partly_redeemed": 0,
                "redeemed": 1,
                "expired": 3,
                "revoked": 0,
            },
            "money": {
                "income": {
                    "donations_fen": 15_000,
                    "stripe_fees_fen": fee_community + fee_charity,
                    "donations_net_fen": 15_000 - fee_community - fee_charity,
                    "charity_sale_fen": 0,
                    "cash_donation_fen": 5_000,
                    "grant_fen": 100_000,
                    "other_fen": 0,
                    "reversed_fen": 5_000,
                    "refunds_fen": 2_000,
                    "net_fen": 15_000 - fee_community - fee_charity + 105_000 - 5_000 - 2_000,
                },
                "funds": {
                    "community": {
                        "opening_fen": 69_140,
                        "donations_fen": 10_000,
                        "stripe_fees_fen": fee_community,
                        "other_income_fen": 5_000,
                        "income_reversed_fen": 5_000,
                        "refunds_fen": 2_000,
                        "to_merchant_payable_fen": settled,
                        "closing_fen": community_cash,
                        "reimburses_merchants": True,
                    },
                    "charity": {
                        "opening_fen": 0,
                        "donations_fen": 5_000,
                        "stripe_fees_fen": fee_charity,
                        "other_income_fen": 100_000,
                        "income_reversed_fen": 0,
                        "refunds_fen": 0,
                        "to_merchant_payable_fen": 0,
                        "closing_fen": charity_cash,
                        "reimburses_merchants": False,
                    },
                },
                "payable": {
                    "opening_fen": 0,
                    "approved_fen": settled,
                    "paid_fen": settled,
                    "returned_fen": 0,
                    "closing_fen": 0,
                },
                "paid_out": {
                    "opening_fen": 0,
                    "paid_fen": settled,
                    "returned_fen": 0,
                    "closing_fen": settled,
                },
                "refunds": {
                    "booked_count": 1,
                    "booked_fen": 2_000,
                    "unmatched_count": 0,
                    "unmatched_fen": 0,
                },
            },
            "liability": {
                "wallets": 830,
                "coupon_escrow": 400,
                "receivable": 0,
                "outstanding_points": outstanding,
                "points_per_yuan": RATE,
                "value_fen": value(outstanding),
                "remainder_centipoints": remainder(outstanding),
                "reimbursing_fund": "community",
                "reimbursing_fund_cash_fen": community_cash,
                "coverage_ratio": str(ratio),
                "coverage_warning": ratio < 1,
            },
            "rounding": {
                "redemptions": {
                    "count": 3,
                    "points": 90 + 110 + 240,
                    "value_fen": value(90) + value(110) + value(240),
                    "remainder_centipoints": remainder(90) + remainder(110) + remainder(240),
                },
                "statements": {
                    "count": 1,
                    "points": 440,
                    "value_fen": settled,
                    "remainder_centipoints": remainder(90) + remainder(110) + remainder(240),
                },
            },
            "merchants": [
                {
                    "merchant_id": self.ids["shop"],
                    "name": "微街长便民超市",
                    "redemptions": 3,
                    "coupon_points": 200,
                    "coupon_value_fen": value(90) + value(110),
                    "pay_code_points": 240,
                    "pay_code_value_fen": value(240),
                    "value_fen": value(90) + value(110) + value(240),
                    "voided": 0,
                },
                {
                    "merchant_id": self.ids["barber"],
                    "name": "北新街理发店",
                    "redemptions": 0,
                    "coupon_points": 0,
                    "coupon_value_fen": 0,
                    "pay_code_points": 0,
                    "pay_code_value_fen": 0,
                    "value_fen": 0,
                    "voided": 1,
                },
            ],
            "participation": {
                "volunteers": 3,
                "attendances": 3,
                "by_category": [
                    {"category": "greening", "attendances": 3, "volunteers": 3, "points": 150}
                ],
            },
            "corrections": [],
        }


def _points_balances(**given) -> dict:
    names = ("issuance", "wallets", "coupon_escrow", "receivable", "retired", "expired")
    return {name: given.get(name, 0) for name in names}


def _ok(reply, status=201) -> dict:
    assert reply.status_code == status, reply.get_json()
    return reply.get_json()


def build(app, stripe_fake) -> ReconWorld:
    """Make the community and its postings, committing as the API does; the caller holds
    ``app`` configured for ``stripe_fake``."""
    client = app.test_client()
    community = communities.create_community(unique("recon"), "对账社区", points_per_yuan=RATE)
    community.award_approval_threshold = 1_000_000

    def member(role, name, **fields):
        return communities.create_member(
            community,
            username=unique(role.value),
            password="password-1",
            display_name=name,
            role=role,
            **fields,
        )

    admin, second = member(Role.FUND_ADMIN, "张主任"), member(Role.FUND_ADMIN, "刘会计")
    organizer = member(Role.ORGANIZER, "陈晓")
    r1, r2, r3, r4 = (member(Role.RESIDENT, name) for name in ("王秀兰", "李建国", "赵敏", "周婷"))
    shop = communities.create_merchant(community, name="微街长便民超市", category="超市")
    barber = communities.create_merchant(community, name="北新街理发店", category="理发")
    cashier = member(Role.MERCHANT_STAFF, "收银员", merchant_id=shop.id)
    barber_cashier = member(Role.MERCHANT_STAFF, "理发店收银", merchant_id=barber.id)
    db.session.commit()

    api = ApiClient(client)
    as_admin, as_second, as_organizer = api.as_(admin), api.as_(second), api.as_(organizer)
    as_cashier, as_barber = api.as_(cashier), api.as_(barber_cashier)
    slug = community.slug
    last, this = last_month(), Period.containing(utcnow())
    world = ReconWorld(
        slug=slug,
        community_id=community.id,
        admin=as_admin,
        second_admin=as_second,
        admin_ids=(admin.id, second.id),
        last=last,
        this=this,
        fees={},
        ids={"shop": shop.id, "barber": barber.id, "r1": r1.id, "r2": r2.id, "r3": r3.id},
    )

    # Last month: manual awards and a deduction, and a charity sale.
    with dated(datetime(last.year, last.month, 15, 10, tzinfo=LOCAL_TZ)):
        for resident, points in ((r1, 400), (r2, 300), (r3, 350), (r4, 100), (r3, -50)):
            _ok(
                as_admin.post(
                    f"/communities/{slug}/awards",
                    json={"member_id": resident.id, "points": points, "reason": "志愿服务"},
                    key=True,
                )
            )
        world.ids["sale"] = _ok(
            as_admin.post(
                f"/communities/{slug}/income",
                json={
                    "amount_fen": 69_140,
                    "fund": "community",
                    "source": "charity_sale",
                    "reference": "旧物义卖",
                },
                key=True,
            )
        )["id"]

    # This month: an activity finalized for three residents.
    now = utcnow()
    activity = _ok(
        as_organizer.post(
            f"/communities/{slug}/activities",
            json={
                "title": "社区花坛补植",
                "category": "greening",
                "starts_at": (now - timedelta(minutes=10)).isoformat(),
                "ends_at": (now + timedelta(hours=2)).isoformat(),
                "points": 50,
            },
            key=True,
        )
    )
    _ok(as_organizer.post(f"/activities/{activity['id']}/publish", key=True), 200)
    for resident in (r1, r2, r4):
        _ok(
            as_organizer.post(
                f"/activities/{activity['id']}/attendances",
                json={"member_id": resident.id},
                key=True,
            )
        )
    _ok(as_organizer.post(f"/activities/{activity['id']}/finalize", key=True), 200)

    # Coupons for last month: granted (200 points), and converted from wallets (60, a day).
    grant = _ok(
        as_admin.post(
            f"/communities/{slug}/issuance-rules",
            json={
                "name": "月度积分券",
                "min_points_earned": 300,
                "points": 200,
                "funding": "grant",
                "on_expiry": "expired",
            },
            key=True,
        )
    )
    convert = _ok(
        as_admin.post(
            f"/communities/{slug}/issuance-rules",
            json={
                "name": "兑换券",
                "min_points_earned": 300,
                "points": 60,
                "valid_days": 1,
                "funding": "convert",
                "on_expiry": "expired",
            },
            key=True,
        )
    )
    for rule in (grant, convert):
        run = _ok(
            as_admin.post(
                f"/communities/{slug}/issuance-runs",
                json={"rule_id": rule["id"], "period": str(last)},
                key=True,
            )
        )
        assert run["issued"] == 3, run

    def grant_coupon(resident):
        listed = _ok(api.as_(resident).get(f"/members/{resident.id}/coupons"), 200)["items"]
        return next(c for c in listed if c["points"] == 200)

    def redeem(till, body):
        return _ok(till.post("/redemptions", json=body, key=True))

    first = grant_coupon(r1)["code"]
    assert redeem(as_cashier, {"code": first, "bill_fen": 300})["points"] == 90
    assert redeem(as_cashier, {"code": first, "bill_fen": 500})["points"] == 110
    voided = redeem(as_barber, {"code": grant_coupon(r2)["code"], "bill_fen": 200})
    assert voided["points"] == 60
    _ok(as_barber.post(f"/redemptions/{voided['id']}/void", key=True), 200)
    pay_code = _ok(api.as_(r3).get(f"/members/{r3.id}/pay-code"), 200)["code"]
    assert redeem(as_cashier, {"pay_code": pay_code, "bill_fen": 1000})["points"] == 240

    # The converted coupons are valid a day: two days on, they expire into ``expired``.
    expired = coupons.expire_coupons(now + timedelta(days=2), community=community)
    assert expired.coupons == 3
    db.session.commit()

    # Donations through Stripe, one partly refunded; income, one reversed.
    stripe_fake.set_fees(290, 30)
    for fund_name, amount in (("community", 10_000), ("charity", 5_000)):
        started = _ok(
            api.as_(r4).post(
                f"/communities/{slug}/donations",
                json={"amount_fen": amount, "fund": fund_name, "donor_name": "周婷"},
                key=True,
            )
        )
        stripe_fake.pay(started["payment_intent_id"])
        delivery = stripe_fake.event("payment_intent.succeeded", started["payment_intent_id"])
        assert post_event(client, delivery).get_json()["outcome"] == "recorded"
        world.fees[fund_name] = stripe_fake.fee_of(amount)
        world.ids[f"donation_{fund_name}"] = started["donation_id"]
    _ok(
        as_admin.post(
            f"/donations/{world.ids['donation_community']}/refund",
            json={"amount_fen": 2_000},
            key=True,
        )
    )
    for amount, fund_name, source in (
        (100_000, "charity", "grant"),
        (5_000, "community", "cash_donation"),
    ):
        entry = _ok(
            as_admin.post(
                f"/communities/{slug}/income",
                json={
                    "amount_fen": amount,
                    "fund": fund_name,
                    "source": source,
                    "reference": f"收据 {uuid.uuid4().hex[:6]}",
                },
                key=True,
            )
        )
    _ok(as_admin.post(f"/income/{entry['id']}/reverse", json={"reason": "重复登记"}, key=True), 200)

    # The shop's redemptions settled as last month's (settlement takes a finished month,
    # by the redemption's own time), approved, and paid by a Stripe transfer.
    db.session.execute(
        sa.update(Redemption)
        .where(Redemption.community_id == community.id)
        .values(created_at=datetime(last.year, last.month, 20, 12, tzinfo=LOCAL_TZ))
    )
    db.session.commit()
    [statement] = _ok(
        as_admin.post(f"/communities/{slug}/settlements", json={"period": str(last)}, key=True)
    )["statements"]
    assert statement["merchant_id"] == shop.id and statement["points"] == 440, statement
    _ok(as_admin.post(f"/statements/{statement['id']}/approve", key=True), 200)
    account = stripe_fake.connected_account()
    _ok(
        as_admin.put(
            f"/merchants/{shop.id}/stripe-account", json={"stripe_account_id": account}, key=True
        ),
        200,
    )
    paid = _ok(
        as_admin.post(f"/statements/{statement['id']}/pay", json={"method": "stripe"}, key=True),
        200,
    )
    assert paid["status"] == "paid", paid
    world.ids["statement"] = statement["id"]
    world.ids["shop_account"] = account
    db.session.commit()
    return world
