"""The fund admins' console and the platform's pages, end to end in a browser on the
live demo site: a fund admin sets up a new merchant with an offer and a cashier, who
signs in and redeems there; awards go through four eyes; a platform admin creates a
community whose first fund admin signs in; settings and dated rates. Every form takes
effect once and says what is wrong next to the field, in Chinese and English."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from support.names import short_name
from support.site import new_resident

from app import communities, paycodes
from app.extensions import db
from models import (
    Award,
    AwardStatus,
    Community,
    Member,
    Merchant,
    Offer,
    OfferKind,
    PointsRate,
    Redemption,
)

pytestmark = [pytest.mark.browser, pytest.mark.pages]


def member(username: str) -> Member:
    return db.session.execute(sa.select(Member).where(Member.username == username)).scalar_one()


def resident_with(points: int) -> dict:
    return new_resident("蒋阿姨", points)


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_a_new_merchant_with_an_offer_and_a_cashier_who_redeems_there(site, phone):
    """The console end to end: a fund admin adds a merchant (a double tap adds it once),
    gives it a 10% offer (a missing percent is refused next to its field) and a cashier;
    the cashier signs in and redeems a resident's pay-code at that merchant."""
    shop, cashier = short_name("早餐店"), short_name("cashier")
    admin = phone("fund")
    admin.get_by_role("navigation", name="主菜单").get_by_text("更多").click()
    admin.get_by_role("link", name="商家", exact=True).click()
    admin.get_by_role("link", name="添加商家").click()
    admin.get_by_label("商家名称").fill(shop)
    admin.get_by_label("商家类别").fill("餐饮")
    admin.get_by_label("地址").fill("北新街 8 号")
    admin.get_by_role("button", name="添加这家商家").dblclick()
    expect(admin.get_by_role("heading", level=1)).to_have_text(shop)
    expect(admin.locator(".notice")).to_have_text(f"{shop} 已成为合作商家。")
    assert site.read(lambda: count(Merchant, Merchant.name == shop)) == 1

    admin.get_by_text("新建优惠").click()
    admin.get_by_role("textbox", name="优惠").fill("早餐九折")
    admin.get_by_label("折扣", exact=True).check()
    admin.get_by_role("button", name="添加优惠").click()
    expect(admin.locator("#discount_percent-error")).to_have_text("折扣优惠需要填写折扣比例。")
    expect(admin.get_by_label("优惠百分比（仅折扣）")).to_have_attribute("aria-invalid", "true")
    admin.get_by_label("优惠百分比（仅折扣）").fill("10")
    admin.get_by_role("button", name="添加优惠").click()
    expect(admin.locator(".notice")).to_have_text("优惠“早餐九折”已上架。")

    admin.get_by_label("显示名称").fill("收银员 小吴")
    admin.get_by_label("用户名（用于登录）").fill(cashier)
    admin.get_by_label("初始密码").fill("short")
    admin.get_by_role("button", name="添加这位收银员").click()
    expect(admin.locator("#password-error")).to_have_text("至少 8 个字符。")
    admin.get_by_label("初始密码").fill("cashier-pass-1")
    admin.get_by_role("button", name="添加这位收银员").click()
    expect(admin.locator(".notice")).to_have_text("收银员 小吴 现在可以登录收银了。")

    payer = site.run(lambda: resident_with(500))
    code = site.run(lambda: paycodes.pay_code(db.session.get(Member, payer["id"])).code)
    till = phone(cashier, password="cashier-pass-1")
    till.get_by_role("link", name="打开收银").click()
    expect(till.get_by_role("heading", level=1)).to_have_text(f"收银 · {shop}")
    till.get_by_label("扫码枪或手输码").fill(code)
    till.get_by_label("扫码枪或手输码").press("Enter")
    till.get_by_label("账单（元）").fill("10")
    till.get_by_label("优惠").select_option(index=1)  # the shop's one offer
    till.get_by_role("button", name="预览").click()
    confirm = till.locator("[data-step=confirm]")
    expect(confirm.locator("[data-shown=discount_fen]")).to_have_text("¥1.00")
    expect(confirm.locator("[data-field=points]")).to_have_text("450")
    expect(confirm.locator("[data-shown=cash_fen]")).to_have_text("¥0.00")
    confirm.get_by_role("button", name="确认").click()
    expect(till.locator("[data-step=receipt]")).to_be_visible()

    def recorded():
        merchant = db.session.execute(sa.select(Merchant).where(Merchant.name == shop)).scalar_one()
        rows = db.session.execute(
            sa.select(Redemption).where(Redemption.merchant_id == merchant.id)
        ).scalars()
        return [(row.points, row.discount_fen, row.offer.kind, row.member_id) for row in rows]

    assert site.read(recorded) == [(450, 100, OfferKind.DISCOUNT, payer["id"])]
    assert site.read(lambda: count(Offer, Offer.title == "早餐九折")) == 1


def test_an_award_above_the_threshold_waits_for_a_second_fund_admin(site, phone):
    """Manual awards and the four-eyes queue: above the threshold an award waits; the
    admin who asked cannot approve it; a second fund admin approves and it is booked."""
    payer = site.run(lambda: resident_with(10))
    first = phone("fund")
    first.get_by_role("link", name="积分奖惩").click()
    first.get_by_label("成员（用户名）").fill(payer["username"])
    first.get_by_label("积分", exact=True).fill("1500")
    first.get_by_label("原因").fill("组织社区义卖")
    first.get_by_role("button", name="确认入账").click()
    expect(first.locator(".notice")).to_have_text("蒋阿姨 的 +1,500 积分需等另一位基金管理员批准。")
    queue = first.locator(".pending-award").filter(has_text="组织社区义卖")
    expect(queue).to_have_count(0)  # not in one's own approval queue

    second = phone("fund2")
    expect(second.locator(".alert")).to_contain_text("等待您审批")
    second.get_by_role("link", name="积分奖惩").click()
    pending = second.locator(".pending-award").filter(has_text="组织社区义卖")
    pending.get_by_role("button", name="批准").click()
    expect(second.locator(".notice")).to_have_text("蒋阿姨 的 +1,500 积分已入账。")

    def decided():
        award = db.session.execute(
            sa.select(Award).where(Award.member_id == payer["id"], Award.points == 1500)
        ).scalar_one()
        return award.status, award.requested_by_id != award.decided_by_id

    assert site.read(decided) == (AwardStatus.POSTED, True)


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("zh", {"username": "用户名（用于登录）", "add": "添加这位成员", "bad": "2 到 80 个"}),
        ("en", {"username": "Username (to sign in)", "add": "Add the member", "bad": "2 to 80"}),
    ],
)
def test_members_are_added_once_and_refused_with_the_fields_message(site, phone, language, words):
    """Bad input is refused next to its field in the reader's language; a double submit
    adds one member; a fund admin cannot make another fund admin (no such choice)."""
    username = short_name("m")
    admin = phone("fund", language)
    admin.goto(site.url + "/admin/members/new")
    assert "fund_admin" not in admin.get_by_label(re.compile("^(身份|Role)$")).evaluate(
        "s => Array.from(s.options).map(o => o.value)"
    )
    admin.get_by_label(re.compile("^(显示名称|Name shown)$")).fill("新成员")
    admin.get_by_label(words["username"]).fill("!!")
    admin.get_by_label(re.compile("^(初始密码|First password)$")).fill("long-enough-1")
    admin.get_by_role("button", name=words["add"]).click()
    expect(admin.locator("#username-error")).to_contain_text(words["bad"])
    admin.get_by_label(words["username"]).fill(username)
    admin.get_by_label(re.compile("^(初始密码|First password)$")).fill("long-enough-1")
    admin.get_by_role("button", name=words["add"]).dblclick()
    expect(admin.get_by_role("heading", level=1)).to_have_text("新成员")
    assert site.read(lambda: count(Member, Member.username == username)) == 1


def test_settings_and_a_dated_rate(site, phone):
    """The community's settings: the monthly cap and the award threshold, and a new
    points-per-yuan from a later day (refused for a day in the past)."""
    admin = phone("fund")
    admin.goto(site.url + "/admin/settings")
    day = site.read(lambda: communities.local_today())
    admin.get_by_label("多少积分 = ¥1").fill("40")
    admin.get_by_label("开始日期").fill((day - timedelta(days=1)).isoformat())
    admin.get_by_role("button", name="设置比例").click()
    expect(admin.locator("#effective_from-error")).to_have_text(
        "新比例只能从今天或以后开始；已核销的消费保留原比例。"
    )
    later = day + timedelta(days=30)
    admin.get_by_label("开始日期").fill(later.isoformat())
    admin.get_by_role("button", name="设置比例").click()
    expect(admin.locator(".notice")).to_have_text(f"从 {later.isoformat()} 起，40 积分 = ¥1。")
    expect(admin.get_by_text("现在 50 积分 = ¥1。")).to_be_visible()
    expect(admin.locator(".console-list")).to_contain_text("尚未生效")

    def rates():
        community = member("fund").community
        return [
            (rate.effective_from, rate.points_per_yuan)
            for rate in communities.rate_schedule(community)
        ], communities.points_per_yuan_on(community, later)

    assert site.read(rates) == ([(later, 40)], 40)
    site.run(
        lambda: db.session.execute(sa.delete(PointsRate).where(PointsRate.effective_from == later))
    )


def test_a_platform_admin_sets_up_a_community_whose_fund_admin_signs_in(site, phone):
    """Platform admins: a new community with its first fund admin, who signs in to its
    console; deactivating the community stops its members signing in."""
    slug, username = short_name("qj"), short_name("zhao")
    platform = phone("admin")
    platform.get_by_role("link", name="添加或管理社区").click()
    platform.get_by_label("社区名称").fill("青江社区")
    platform.get_by_label("简称（用于网址）").fill(slug)
    platform.get_by_label("第一位基金管理员：显示名称").fill("赵主任")
    platform.get_by_label("第一位基金管理员：用户名").fill(username)
    platform.get_by_label("第一位基金管理员：初始密码").fill("qingjiang-1")
    platform.get_by_role("button", name="建立社区").click()
    expect(platform.get_by_role("heading", level=1)).to_have_text("青江社区")
    expect(platform.locator(".console-list")).to_contain_text("赵主任")

    admin = phone(username, password="qingjiang-1")
    expect(admin.get_by_role("heading", level=1)).to_have_text("管理台 · 青江社区")

    platform.get_by_role("button", name="停用这个社区").click()
    expect(platform.locator(".notice")).to_contain_text("已停用")
    assert (
        site.read(
            lambda: db.session.execute(
                sa.select(Community.active).where(Community.slug == slug)
            ).scalar_one()
        )
        is False
    )
    admin.reload()
    expect(admin).to_have_url(re.compile("/login"))
