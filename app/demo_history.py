"""The 北新社区 demo's past: six months before last, each settled and closed.

The field report behind Jifen (seed-facts.md) says Beixin's 94 micro street
chiefs (微街长) and its residents have so far exchanged 539,900 points, worth
¥10,798, directly at the 20 partner merchants, and that 71 monthly coupons
were issued, of which 345,700 points were redeemed, worth ¥6,914 (50 points =
¥1). This module writes that history through the domain functions the API
uses, dated into its months (``app.demo.dated``); the present-day story in
``app.demo`` adds the last few points (one coupon redemption and one pay-code
payment this month, and last month's two coupons), so that the reconciliation
report and the notice board show exactly those totals, computed from the
ledger.

Each past month: the chiefs' monthly patrol award; two activities of the
seed's categories, finalized; a merit award above the approval threshold for
the month's most active chiefs, approved by a second fund admin; the
charity-sale proceeds. Early next month: the coupon run for the month (tiers:
2,000 points earned give a 4,000-point coupon, 4,000 give 6,000, valid at the
微街长 shops), the coupons spent at those shops, pay-code payments at every
merchant, then the month settled (approved by the second admin, paid by bank
transfer) and closed with four eyes.

The people who only make up the numbers never sign in: random passwords,
hashed with argon2's cheapest profile so that the demo seeds in seconds.
"""

import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import argon2
import sqlalchemy as sa
from flask import current_app

from models import (
    ActivityCategory,
    Coupon,
    CouponFunding,
    ExpiryTarget,
    Fund,
    IncomeSource,
    Member,
    Merchant,
    MerchantGroup,
    Role,
)

from . import (
    activities,
    awards,
    communities,
    finalization,
    fund,
    issuance,
    issuance_rules,
    month_close,
    paycodes,
    payouts,
    redemptions,
    settlement,
)
from . import attendance as attending
from .earnings import LOCAL_TZ, Period, last_month
from .extensions import db

#: Months of history before last month.
MONTHS = 6
#: Pay-code points spent at the merchants in those months (539,900 less this month's 250).
PAY_CODE_POINTS = 539_650
#: Coupons of those months: 69 (71 less last month's two), of which this many points are
#: spent (345,700 less this month's 180): every one in full, but for 480 points of one.
COUPON_POINTS_SPENT = 345_520
#: Coupons per month, and how many of them are the 6,000-point tier.
COUPONS = (12, 12, 12, 11, 11, 11)
LARGE_COUPONS = (6, 6, 6, 6, 6, 5)
#: Each past month's pay-code spending, points.
PAY_CODE_MONTHS = (60_000, 80_000, 90_000, 100_000, 100_000, 109_650)

CHIEF_PATROL = 1_000
MERIT = {6_000: 4_000, 4_000: 2_000}
ACTIVITY_POINTS = 200
CHARITY_SALE_FEN = 69_140
DISTRICT_GRANT_FEN = 3_000_000
CASH_DONATION_FEN = 50_000

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉"
STREETS = ("北新街", "青江路", "大同路", "文化巷", "新华街", "团结路")
ACTIVITY_PLAN = (
    (ActivityCategory.ENVIRONMENT, "环境卫生整治：背街小巷清扫"),
    (ActivityCategory.GREENING, "绿化美化：花坛补植"),
    (ActivityCategory.MEDIATION, "矛盾化解：商户邻里调解"),
    (ActivityCategory.SAFETY_PATROL, "安全巡逻：消防通道巡查"),
    (ActivityCategory.ELDER_CARE, "关爱老人：独居老人探访"),
    (ActivityCategory.CULTURE, "文化活动：旧物义卖"),
)


def name(index: int) -> str:
    return SURNAMES[index % len(SURNAMES)] + GIVEN[(index * 7) % len(GIVEN)]


def at(period: Period, day: int, hour: int = 10) -> datetime:
    return datetime(period.year, period.month, day, hour, tzinfo=LOCAL_TZ)


@contextmanager
def cheap_hashing():
    """Members made inside get argon2's cheapest hash: they never sign in."""
    saved = current_app.extensions.get("jifen.argon2")
    current_app.extensions["jifen.argon2"] = argon2.PasswordHasher.from_parameters(
        argon2.profiles.CHEAPEST
    )
    try:
        yield
    finally:
        if saved is None:
            current_app.extensions.pop("jifen.argon2", None)
        else:
            current_app.extensions["jifen.argon2"] = saved


@dataclass
class Crowd:
    chiefs: list[Member]
    volunteers: list[Member]
    cashiers: dict[int, Member]
    #: Points each payer holds, as the seeding moves them (no read of the database).
    wallets: dict[int, int] = field(default_factory=dict)
    #: Pay-code windows each payer has used.
    windows: dict[int, set] = field(default_factory=dict)


def make_crowd(community, shops: list[Merchant], cashier: Member) -> Crowd:
    def member(username, display, role, **fields):
        return communities.create_member(
            community,
            username=username,
            password=secrets.token_urlsafe(16),
            display_name=display,
            role=role,
            **fields,
        )

    with cheap_hashing():
        chiefs = [
            member(
                f"chief{n:02d}",
                f"微街长 {name(n)} · {STREETS[n % len(STREETS)]}{n // len(STREETS) + 1}段",
                Role.ORGANIZER,
            )
            for n in range(1, 95)
        ]
        volunteers = [
            member(f"volunteer{n:02d}", f"居民志愿者 {name(n + 200)}", Role.RESIDENT)
            for n in range(1, 41)
        ]
        cashiers = {shops[0].id: cashier}
        for n, shop in enumerate(shops[1:], start=2):
            cashiers[shop.id] = member(
                f"cashier{n:02d}", f"收银员 {shop.name}", Role.MERCHANT_STAFF, merchant_id=shop.id
            )
    payers = chiefs + volunteers
    return Crowd(
        chiefs,
        volunteers,
        cashiers,
        wallets={m.id: 0 for m in payers},
        windows={m.id: set() for m in payers},
    )


def seed_history(community, people: dict[str, Member], shops: list[Merchant], group: MerchantGroup):
    """Write the six months before last, each settled and closed; then last month's
    coupon run and spending for the sixth month, its settlement and close."""
    from .demo import dated

    admin, second = people["fund"], people["fund2"]
    crowd = make_crowd(community, shops, people["cashier"])
    rule = issuance_rules.create_rule(
        community,
        name="微街长月度积分券",
        min_points_earned=2_000,
        tiers=[(2_000, 4_000), (4_000, 6_000)],
        merchant_group=group,
        funding=CouponFunding.GRANT,
        on_expiry=ExpiryTarget.EXPIRED,
        actor=admin,
    )
    chief_shops = [shop for shop in shops if shop.id in {m.id for m in group.merchants}]
    first = last_month()
    for _back in range(MONTHS):
        first = first.previous()
    months = [first]
    while len(months) < MONTHS:
        months.append(months[-1].next())
    with dated(at(first, 2)):
        fund.record_income(
            community,
            amount_fen=DISTRICT_GRANT_FEN,
            fund=Fund.COMMUNITY,
            source=IncomeSource.GRANT,
            reference="青白江区社区发展资助",
            note=None,
            actor=admin,
        )
    coupons_left = COUPON_POINTS_SPENT
    for index, month in enumerate([*months, last_month()]):
        if index < MONTHS:
            _earn(community, month, index, crowd, people, admin, second, dated)
        if index == 0:
            continue
        previous = months[index - 1]
        coupons_left = _spend_coupons(
            rule, previous, month, crowd, chief_shops, admin, coupons_left, dated
        )
        _pay_by_code(month, crowd, shops, PAY_CODE_MONTHS[index - 1], dated)
        _settle(community, previous, month, admin, second, dated)
        month_close.request_close(community, previous, actor=admin)
        month_close.confirm_close(community, previous, actor=second)
    assert coupons_left == 0, coupons_left


def _earn(community, month, index, crowd, people, admin, second, dated):
    with dated(at(month, 5)):
        for chief in crowd.chiefs:
            _award(community, chief, CHIEF_PATROL, "微街长巡查", admin, crowd)
    start = (index * 13) % len(crowd.chiefs)
    merit = [crowd.chiefs[(start + k) % len(crowd.chiefs)] for k in range(COUPONS[index])]
    with dated(at(month, 6)):
        for rank, chief in enumerate(merit):
            points = MERIT[6_000] if rank < LARGE_COUPONS[index] else MERIT[4_000]
            award = awards.request_award(
                community, chief, points=points, reason="月度优秀微街长", actor=admin
            )
            awards.decide_award(award, approve=True, actor=second)
            crowd.wallets[chief.id] += points
    organizer = people["organizer"]
    for slot in range(2):
        category, title = ACTIVITY_PLAN[(index * 2 + slot) % len(ACTIVITY_PLAN)]
        starts = at(month, 10 + slot * 7, 9)
        activity = activities.create_activity(
            community,
            actor=organizer,
            title=title,
            category=category,
            starts_at=starts,
            ends_at=starts + timedelta(hours=2),
            points=ACTIVITY_POINTS,
            place="北新社区",
        )
        activities.publish(activity)
        attendees = [
            crowd.volunteers[(index * 5 + slot * 11 + k) % len(crowd.volunteers)] for k in range(10)
        ]
        for member in attendees:
            attending.record_check_in(
                activity, actor=organizer, member_id=member.id, at=starts + timedelta(minutes=5)
            )
        with dated(starts + timedelta(hours=3)):
            finalization.finalize(activity, actor=organizer)
        for member in attendees:
            crowd.wallets[member.id] += ACTIVITY_POINTS
    with dated(at(month, 15)):
        fund.record_income(
            community,
            amount_fen=CHARITY_SALE_FEN,
            fund=Fund.COMMUNITY,
            source=IncomeSource.CHARITY_SALE,
            reference=f"{month}旧物义卖",
            note=None,
            actor=admin,
        )
        fund.record_income(
            community,
            amount_fen=CASH_DONATION_FEN,
            fund=Fund.CHARITY,
            source=IncomeSource.CASH_DONATION,
            reference=f"{month}商户现金捐赠",
            note=None,
            actor=admin,
        )


def _award(community, member, points, reason, admin, crowd):
    awards.request_award(community, member, points=points, reason=reason, actor=admin)
    crowd.wallets[member.id] += points


def _spend_coupons(rule, earned, month, crowd, shops, admin, left, dated):
    """Early in ``month``: ``earned``'s coupons issued, and each spent at a 微街长 shop
    in one bill (the last one issued keeps what exceeds the points to be spent)."""
    with dated(at(month, 2)):
        issuance.issue_coupons(rule, earned, actor=admin)
    issued = sorted(
        (c for c in _coupons_of(rule, earned)), key=lambda coupon: (coupon.member_id, coupon.id)
    )
    for number, coupon in enumerate(issued):
        spent = min(coupon.points, left)
        if spent == 0:
            continue
        shop = shops[number % len(shops)]
        with dated(at(month, 8 + number % 10, 11)):
            redemptions.redeem(crowd.cashiers[shop.id], code=coupon.code, bill_fen=spent * 2)
        left -= spent
    return left


def _coupons_of(rule, period):
    return db.session.execute(
        sa.select(Coupon).where(
            Coupon.community_id == rule.community_id,
            Coupon.rule_id == rule.id,
            Coupon.period == str(period),
        )
    ).scalars()


#: Points one pay-code payment spends at most, and at least (smaller sums wait).
LARGEST_PAYMENT = 3_600
SMALLEST_PAYMENT = 1_200


def _pay_by_code(month, crowd, shops, target, dated):
    """Pay-code payments at the merchants in ``month`` until ``target`` points are spent.
    Each payer pays at most twice in all (a pay-code works once in its half-minute)."""
    payers = [*crowd.chiefs, *crowd.volunteers]
    payers.sort(key=lambda m: (-crowd.wallets[m.id], m.id))
    spent = number = 0
    for payer in payers:
        if spent == target:
            break
        if len(crowd.windows[payer.id]) >= 2:
            continue
        points = min(crowd.wallets[payer.id] - 100, LARGEST_PAYMENT, target - spent)
        if points < min(SMALLEST_PAYMENT, target - spent):
            continue
        shop = shops[number % len(shops)]
        code = _fresh_code(payer, crowd)
        with dated(at(month, 18 + number % 10, 15)):
            redemptions.redeem(crowd.cashiers[shop.id], pay_code=code, bill_fen=points * 2)
        crowd.wallets[payer.id] -= points
        spent += points
        number += 1
    assert spent == target, (str(month), spent, target)


def _fresh_code(payer, crowd) -> str:
    """A pay-code of a half-minute window this payer has not used: this one or the next."""
    for ahead in (0, paycodes.window_seconds()):
        moment = datetime.now(LOCAL_TZ) + timedelta(seconds=ahead)
        window = paycodes.window_of(moment)
        if window not in crowd.windows[payer.id]:
            crowd.windows[payer.id].add(window)
            return paycodes.pay_code(payer, moment).code
    raise AssertionError(f"payer {payer.id} has paid in both windows")


def _settle(community, period, month, admin, second, dated):
    """Early in ``month``: ``period`` settled, approved by the second admin, paid by bank."""
    with dated(at(month, 3)):
        statements = settlement.settle(community, period, actor=admin, now=at(month, 3))
    with dated(at(month, 4)):
        for statement in statements:
            settlement.approve(statement, actor=second, now=at(month, 4))
    with dated(at(month, 5, 16)):
        for statement in statements:
            payouts.pay_by_bank(
                statement,
                reference=f"BOC-{period}-{statement.merchant_id:02d}",
                actor=admin,
                now=at(month, 5, 16),
            )
