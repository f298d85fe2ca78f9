"""``flask demo``: migrate, seed the 北新社区 demo community, and serve it.

The seed goes through the same domain functions as the API, so demo balances
are real ledger postings that ``flask reconcile`` proves. Six months of history
come first (``app.demo_history``: the 94 street chiefs, the monthly coupons, the
payments at the 20 merchants, each month settled and closed); then the story:
awards dated last month, last month's coupons issued, so residents hold
coupons, and last month's close waiting for a second fund admin.
"""

from contextlib import contextmanager
from datetime import datetime, timedelta

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from werkzeug.serving import run_simple

from models import (
    ActivityCategory,
    Award,
    Community,
    Coupon,
    CouponFunding,
    ExpiryTarget,
    LedgerTransaction,
    Member,
    Merchant,
    OfferKind,
    PointsRule,
    Redemption,
    Role,
    utcnow,
)

from . import (
    activities,
    awards,
    communities,
    finalization,
    issuance,
    issuance_rules,
    month_close,
    offers,
    paycodes,
    redemptions,
)
from . import attendance as attending
from .demo_history import seed_history
from .earnings import LOCAL_TZ, last_month
from .extensions import db

SLUG = "beixin"
PASSWORD = "jifen-demo"  # noqa: S105 (the demo's published password)

PEOPLE = (
    ("admin", "平台管理员 Platform admin", Role.PLATFORM_ADMIN),
    ("fund", "社区基金 张主任 Fund admin Zhang", Role.FUND_ADMIN),
    ("fund2", "社区基金 刘会计 Fund admin Liu", Role.FUND_ADMIN),
    ("organizer", "网格员 陈晓 Organizer Chen", Role.ORGANIZER),
    ("resident", "居民 王秀兰 Resident Wang", Role.RESIDENT),
    ("resident2", "居民 李建国 Resident Li", Role.RESIDENT),
    ("resident3", "居民 赵敏 Resident Zhao", Role.RESIDENT),
)

#: Where each demo account starts, and what it is for.
STARTS = {
    Role.RESIDENT: ("/home", "points, coupons, pay-code, activities"),
    Role.ORGANIZER: ("/activities", "activities, check-in QR, attendance, finalizing"),
    Role.MERCHANT_STAFF: ("/pos", "the till: scan, redeem, void; today's sales"),
    Role.FUND_ADMIN: ("/home", "the console: members, merchants, awards, coupons, settings"),
    Role.PLATFORM_ADMIN: ("/home", "all communities: create, fund admins, overview"),
}

#: Every account the demo seeds, as (username, name, role), in the order shown.
ACCOUNTS = (*PEOPLE, ("cashier", "收银员 小周 Cashier Zhou", Role.MERCHANT_STAFF))


AWARDS = (
    ("resident", 150, "环境卫生整治：北新街清扫 Street cleanup"),
    ("resident", 200, "绿化美化：社区花坛补植 Greening"),
    ("resident", 100, "矛盾化解：邻里纠纷调解 Dispute mediation"),
    ("resident2", 300, "安全巡逻：夜间巡查 Safety patrol"),
    ("resident3", 120, "关爱老人：上门陪伴 Elder care"),
    ("resident2", -20, "重复登记更正 Correction of a double entry"),
)


#: Points one resident may earn a month; this month's mediation award meets it.
MONTHLY_EARNING_CAP = 150

#: One activity of each category: (category, title, day from today, start hour, hours,
#: points rule, state to leave it in, attendances as (username, minutes in, minutes out)).
ACTIVITIES = (
    (ActivityCategory.ENVIRONMENT, "北新街环境卫生整治 Street cleanup", -3, 9, 2,
     {"points": 50}, "finalized",
     (("resident", 5, None), ("resident2", 0, None), ("resident3", 15, None))),
    (ActivityCategory.GREENING, "社区花坛补植 Flower-bed replanting", -6, 14, 3,
     {"points": 20, "points_rule": PointsRule.PER_HOUR, "max_points": 60}, "finalized",
     (("resident", 10, 160), ("resident2", 0, 180))),
    (ActivityCategory.MEDIATION, "邻里纠纷调解 Neighbour dispute mediation", -2, 19, 2,
     {"points": 100}, "finalized",
     (("resident", 0, None), ("resident2", 20, None))),
    (ActivityCategory.ELDER_CARE, "关爱老人上门陪伴 Visiting elderly neighbours", 2, 9.5, 2,
     {"points": 80, "capacity": 10}, "published", ()),
    (ActivityCategory.SAFETY_PATROL, "夜间安全巡逻 Night safety patrol", None, None, 2.5,
     {"points": 60}, "published",
     (("resident3", 10, None),)),
    (ActivityCategory.CULTURE, "旧物义卖 Second-hand charity sale", 5, 9, 3,
     {"points": 40}, "published", ()),
    (ActivityCategory.OTHER, "垃圾分类宣传 Waste-sorting outreach", 8, 10, 2,
     {"points": 30}, "draft", ()),
)  # fmt: skip

#: Left out of the award, with the reason, when the mediation is finalized.
EXCLUDED = {("邻里纠纷调解 Neighbour dispute mediation", "resident2"): "未到场 Did not take part"}


@contextmanager
def dated(moment: datetime):
    """Write history: awards, redemptions and ledger transactions made inside carry
    ``moment``.

    For seeding (the demo, tests) only: the hook is process-wide while it lasts.
    """

    def stamp(_mapper, _connection, target):
        target.created_at = moment

    for model in DATED:
        sa.event.listen(model, "before_insert", stamp)
    try:
        yield
    finally:
        for model in DATED:
            sa.event.remove(model, "before_insert", stamp)


#: What :func:`dated` stamps. A redemption's own time is what settlement reads: on
#: PostgreSQL the till's one-statement writer stamps it with the present instead.
DATED = (Award, LedgerTransaction, Redemption)


#: The 20 partner merchants: name, category, address, hours, and their offers as
#: (title, kind, terms) where terms are the offer's percent, price or cap.
MERCHANTS = (
    ("微街长便民超市", "超市 Grocery", "北新街 1 号", "每天 7:30–22:00",
     (("积分抵扣 九五折", OfferKind.DISCOUNT, {"discount_percent": 5}),)),
    ("微街长理发店", "理发 Barber", "北新街 12 号", "每天 9:00–20:00",
     (("七十岁以上老人免费理发", OfferKind.WELFARE, {}),
      ("志愿者低偿理发", OfferKind.LOW_COST, {"price_fen": 1000}))),
    ("北新社区食堂", "餐饮 Canteen", "北新街 3 号", "每天 10:30–13:30, 16:30–19:00",
     (("长者低偿午餐", OfferKind.LOW_COST, {"price_fen": 800, "max_points_per_bill": 400}),)),
    ("老王修鞋铺", "修补 Repairs", "青江路 8 号", "周一至周六 8:00–18:00",
     (("公益修鞋", OfferKind.WELFARE, {}),)),
    ("清白江药房", "药房 Pharmacy", "青江路 20 号", "每天 8:00–22:00",
     (("常用药九折", OfferKind.DISCOUNT, {"discount_percent": 10, "max_points_per_bill": 500}),)),
    ("川味面馆", "餐饮 Noodles", "北新街 18 号", "每天 6:30–14:00", ()),
    ("便民洗衣店", "洗衣 Laundry", "大同路 5 号", "每天 8:30–20:30",
     (("棉被清洗八折", OfferKind.DISCOUNT, {"discount_percent": 20}),)),
    ("北新水果店", "水果 Fruit", "北新街 25 号", "每天 7:00–22:00",
     (("满额九五折", OfferKind.DISCOUNT, {"discount_percent": 5}),)),
    ("社区书屋", "文化 Books", "文化巷 2 号", "周二至周日 9:00–18:00",
     (("儿童绘本免费借阅", OfferKind.WELFARE, {}),)),
    ("家电维修部", "维修 Appliances", "大同路 16 号", "每天 9:00–19:00",
     (("上门检测低偿", OfferKind.LOW_COST, {"price_fen": 2000}),)),
    ("花香花店", "花卉 Flowers", "青江路 31 号", "每天 8:00–21:00",
     (("社区绿化苗木八五折", OfferKind.DISCOUNT, {"discount_percent": 15}),)),
    ("邻里茶馆", "茶馆 Teahouse", "文化巷 9 号", "每天 9:00–22:00",
     (("长者茶水低偿", OfferKind.LOW_COST, {"price_fen": 300}),)),
    ("北新眼镜店", "眼镜 Optician", "北新街 40 号", "每天 9:30–21:00",
     (("免费验光", OfferKind.WELFARE, {}),
      ("配镜九折", OfferKind.DISCOUNT, {"discount_percent": 10, "max_points_per_bill": 1000}))),
    ("巧手裁缝", "裁缝 Tailor", "青江路 3 号", "周一至周六 9:00–18:00",
     (("改衣低偿", OfferKind.LOW_COST, {"price_fen": 500}),)),
    ("好邻居早餐店", "餐饮 Breakfast", "大同路 1 号", "每天 6:00–10:30",
     (("环卫工人免费早餐", OfferKind.WELFARE, {}),)),
    ("青白江文具店", "文具 Stationery", "文化巷 15 号", "每天 8:00–20:00",
     (("学生文具九折", OfferKind.DISCOUNT, {"discount_percent": 10}),)),
    ("北新家政服务站", "家政 Housekeeping", "北新街 52 号", "每天 8:00–18:00",
     (("独居老人保洁低偿", OfferKind.LOW_COST, {"price_fen": 1500}),)),
    ("社区健身房", "健身 Fitness", "大同路 30 号", "每天 6:00–22:00",
     (("志愿者月卡八折", OfferKind.DISCOUNT,
       {"discount_percent": 20, "max_points_per_bill": 2000}),)),
    ("阳光照相馆", "摄影 Photo", "青江路 45 号", "每天 9:00–19:00",
     (("长者证件照免费", OfferKind.WELFARE, {}),)),
    ("北新五金店", "五金 Hardware", "大同路 22 号", "每天 8:00–19:00",
     (("社区维修材料九五折", OfferKind.DISCOUNT, {"discount_percent": 5}),)),
)  # fmt: skip


#: The shops whose owners are 微街长 (micro street chiefs): the monthly coupons' group.
STREET_CHIEF_SHOPS = frozenset(
    {"微街长便民超市", "微街长理发店", "老王修鞋铺", "北新水果店", "好邻居早餐店", "巧手裁缝"}
)


def seed_merchants(community: Community) -> list[Merchant]:
    shops = []
    for name, category, address, hours, shop_offers in MERCHANTS:
        shop = communities.create_merchant(
            community, name=name, category=category, address=address, opening_hours=hours
        )
        for title, kind, terms in shop_offers:
            offers.create_offer(shop, title=title, kind=kind, **terms)
        shops.append(shop)
    return shops


def seed() -> bool:
    """Create the demo community once; return False when it already exists."""
    if db.session.execute(sa.select(Community.id).where(Community.slug == SLUG)).first():
        return False
    community = communities.create_community(SLUG, "北新社区", points_per_yuan=50)
    shops = seed_merchants(community)
    shop = shops[0]
    people: dict[str, Member] = {}
    for username, name, role in PEOPLE:
        people[username] = communities.create_member(
            None if role == Role.PLATFORM_ADMIN else community,
            username=username,
            password=PASSWORD,
            display_name=name,
            role=role,
        )
    username, name, role = ACCOUNTS[-1]
    people[username] = communities.create_member(
        community,
        username=username,
        password=PASSWORD,
        display_name=name,
        role=role,
        merchant_id=shop.id,
    )
    period = last_month()
    with dated(datetime(period.year, period.month, 15, 10, tzinfo=LOCAL_TZ)):
        for username, points, reason in AWARDS:
            awards.request_award(
                community, people[username], points=points, reason=reason, actor=people["fund"]
            )
    chiefs = issuance_rules.create_merchant_group(
        community,
        name="微街长商家",
        merchant_ids=[shop.id for shop in shops if shop.name in STREET_CHIEF_SHOPS],
    )
    seed_history(community, people, shops, chiefs)
    rule = issuance_rules.create_rule(
        community,
        name="月度积分券 Monthly coupon",
        min_points_earned=300,
        tiers=[(300, 100), (400, 200)],
        merchant_group=chiefs,
        funding=CouponFunding.GRANT,
        on_expiry=ExpiryTarget.WALLET,
        actor=people["fund"],
    )
    issuance.issue_coupons(rule, period, actor=people["fund"])
    community.monthly_earning_cap = MONTHLY_EARNING_CAP
    seed_activities(community, people)
    seed_redemptions(people)
    # Last month waits for a second fund admin to confirm its close.
    month_close.request_close(community, period, actor=people["fund"])
    return True


def seed_redemptions(people: dict[str, Member]) -> None:
    """At the 微街长便民超市 till: 王秀兰 spends part of her coupon on a ¥3.60 bill
    (180 of 200 points), and 李建国 pays ¥5.00 with his pay-code (250 points)."""
    cashier = people["cashier"]
    coupon = db.session.execute(
        sa.select(Coupon).where(Coupon.member_id == people["resident"].id)
    ).scalar_one()
    redemptions.redeem(cashier, code=coupon.code, bill_fen=360)
    code = paycodes.pay_code(people["resident2"]).code
    redemptions.redeem(cashier, pay_code=code, bill_fen=500)


def seed_activities(community: Community, people: dict[str, Member]) -> None:
    """Activities of every kind, the past ones finalized through the same domain functions
    as the API, so their awards are ledger postings like any other."""
    organizer = people["organizer"]
    now = utcnow()
    today = now.astimezone(LOCAL_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    for category, title, day, hour, hours, rule, state, attendances in ACTIVITIES:
        if day is None:  # under way now, for the check-in screen
            starts = now - timedelta(minutes=30)
        else:
            starts = today + timedelta(days=day, hours=hour)
        activity = activities.create_activity(
            community,
            actor=organizer,
            title=title,
            category=category,
            starts_at=starts,
            ends_at=starts + timedelta(hours=hours),
            place="北新社区 Beixin community",
            **rule,
        )
        if state == "draft":
            continue
        activities.publish(activity)
        for username, minutes_in, minutes_out in attendances:
            _attend(activity, organizer, people[username], starts, minutes_in, minutes_out)
            reason = EXCLUDED.get((title, username))
            if reason:
                attendance = activities.attendance_of(activity, people[username])
                attending.exclude(attendance, reason=reason, actor=organizer)
        if category == ActivityCategory.ELDER_CARE:
            attending.sign_up(activity, people["resident2"])
        if state == "finalized":
            finalization.finalize(activity, actor=organizer)


def _attend(activity, organizer, member, starts: datetime, minutes_in, minutes_out) -> None:
    recorded = dict(actor=organizer, member_id=member.id)
    attending.record_check_in(activity, at=starts + timedelta(minutes=minutes_in), **recorded)
    if minutes_out is not None:
        attending.record_check_out(activity, at=starts + timedelta(minutes=minutes_out), **recorded)


def sign_in_guide(base_url: str) -> list[str]:
    """How to sign in, printed on every start: the address, the password, and each
    account with what it is for and the page it starts on."""
    lines = [
        f"Sign in at {base_url}/login with any account below; the password for all: {PASSWORD}"
    ]
    for username, name, role in ACCOUNTS:
        start, purpose = STARTS[role]
        lines.append(f"  {username:<10} {role.value:<15} {name}")
        lines.append(f"  {'':<10} {purpose}: {base_url}{start}")
    return lines


@click.command("demo")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--serve/--no-serve", default=True, help="Start the server after seeding.")
def demo_command(host, port, serve):
    """Migrate the database, seed the 北新社区 demo and serve it."""
    upgrade()
    created = seed()
    db.session.commit()
    click.echo("Seeded 北新社区 (beixin)." if created else "Demo community already there.")
    click.echo(f"Database: {current_app.config['SQLALCHEMY_DATABASE_URI']}")
    for line in sign_in_guide(f"http://{host}:{port}"):
        click.echo(line)
    click.echo(f"API docs: http://{host}:{port}/api/docs")
    if serve:
        # Not app.run(): under the flask command it does nothing (FLASK_RUN_FROM_CLI).
        run_simple(host, port, current_app._get_current_object(), threaded=True)
