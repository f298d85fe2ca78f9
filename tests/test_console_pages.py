"""The fund admins' console and the platform's pages through the test client, on both
databases: what each form changes, what it refuses and where it says so, that each
takes effect once, and who may open what."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from support.books import count
from support.coupons import issued_coupon
from support.pages import csrf_token, form_fields, page_client, sign_in

from app import auth, awards, communities, offers
from app.extensions import db
from models import (
    AuditEntry,
    Award,
    AwardStatus,
    Community,
    Coupon,
    CouponStatus,
    Member,
    Merchant,
    MerchantGroup,
    Offer,
    OfferKind,
    PointsRate,
    Role,
)


@pytest.fixture
def other_client(app, ctx):
    return page_client(app)


@pytest.fixture
def community(make_community):
    return make_community(name="北新社区", award_approval_threshold=1000)


@pytest.fixture
def zhang(make_member, community):
    return make_member(community, Role.FUND_ADMIN, username="fund-zhang", display_name="张主任")


@pytest.fixture
def liu(make_member, community):
    return make_member(community, Role.FUND_ADMIN, username="fund-liu", display_name="刘会计")


@pytest.fixture
def wang(make_member, community):
    return make_member(community, username="wang-ayi", display_name="王阿姨")


def page(response) -> str:
    return response.get_data(as_text=True)


def submit(client, path, data=None, form_from=None):
    """POST a page form with the hidden fields of the page it is on."""
    return client.post(path, data={**form_fields(client.get(form_from or path)), **(data or {})})


def flashes(text: str) -> list[str]:
    return re.findall(r'<p class="(?:notice|alert)" role="(?:status|alert)">(.*?)</p>', text)


def field_error(text: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', text)
    return found[1] if found else ""


def member_form(**fields):
    data = {
        "display_name": "李叔",
        "username": "li-shu",
        "password": "long-enough-1",
        "role": "resident",
        "merchant": "",
    }
    return {**data, **fields}


# --- who may open the console ------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/admin/members", "/admin/awards", "/admin/merchants", "/admin/settings"]
)
def test_the_console_is_for_fund_admins(client, make_member, community, wang, path):
    sign_in(client, "wang-ayi")
    assert client.get(path).status_code == 403
    make_member(None, Role.PLATFORM_ADMIN, username="district-op")
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/home"))})
    sign_in(client, "district-op")
    assert client.get(path).status_code in (403, 404)
    assert client.get("/platform/communities").status_code == 200


def test_residents_and_organizers_open_no_member_pages(client, make_member, community, wang):
    make_member(community, Role.ORGANIZER, username="chen-org")
    for username in ("wang-ayi", "chen-org"):
        sign_in(client, username)
        assert client.get("/admin/members").status_code == 403
        assert client.get(f"/admin/members/{wang.id}").status_code == 403
        client.post("/logout", data={"csrf_token": csrf_token(client.get("/home"))})


def test_platform_pages_are_for_platform_admins(client, community, zhang):
    sign_in(client, "fund-zhang")
    assert client.get("/platform/communities").status_code == 403
    assert client.get(f"/platform/communities/{community.slug}").status_code == 403


# --- members -------------------------------------------------------------------------------


def test_a_fund_admin_adds_finds_and_opens_members(client, community, zhang, wang):
    sign_in(client, "fund-zhang")
    added = submit(client, "/admin/members/new", member_form())
    created = db.session.execute(sa.select(Member).where(Member.username == "li-shu")).scalar_one()
    assert added.status_code == 303
    assert added.headers["Location"] == f"/admin/members/{created.id}"
    assert (created.role, created.community_id) == (Role.RESIDENT, community.id)
    assert flashes(page(client.get(added.headers["Location"]))) == ["已添加 李叔。"]
    assert auth.authenticate("li-shu", "long-enough-1") is not None

    found = page(client.get("/admin/members?q=王"))
    assert "王阿姨" in found and "李叔" not in found and "找到 1 位成员" in found
    staff_only = page(client.get("/admin/members?role=merchant_staff"))
    assert "找到 0 位成员" in staff_only
    assert (
        count(
            AuditEntry,
            AuditEntry.actor_id == zhang.id,
            AuditEntry.action == "member.create",
        )
        == 1
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "!!"}, "username", "2 到 80 个字母"),
        ({"username": "wang-ayi"}, "username", "这个用户名已被使用。"),
        ({"password": "short"}, "password", "至少 8 个字符。"),
        ({"display_name": ""}, "display_name", "请填写显示名称。"),
        ({"role": "merchant_staff"}, "merchant", "请选择这位收银员所在的商家。"),
        ({"role": "fund_admin"}, "role", "不是有效的选择"),
    ],
)
def test_the_member_form_refuses_bad_input_at_the_field(
    client, community, zhang, wang, fields, field, message
):
    sign_in(client, "fund-zhang")
    before = count(Member)
    refused = submit(client, "/admin/members/new", member_form(**fields))
    assert refused.status_code == 422
    assert message in field_error(page(refused), field)
    assert 'aria-invalid="true"' in page(refused)
    assert count(Member) == before


def test_the_member_form_speaks_english_too(client, community, zhang):
    sign_in(client, "fund-zhang")
    client.get("/lang/en")
    refused = submit(client, "/admin/members/new", member_form(password="short"))
    assert field_error(page(refused), "password") == "At least 8 characters."


def test_a_form_takes_effect_once(client, community, zhang):
    """The same form sent twice (a double tap) adds one member and sends both to the same
    page; sent again with other contents (after going back) it is refused, unchanged."""
    sign_in(client, "fund-zhang")
    hidden = form_fields(client.get("/admin/members/new"))
    first = client.post("/admin/members/new", data={**hidden, **member_form()})
    again = client.post("/admin/members/new", data={**hidden, **member_form()})
    assert (first.status_code, again.status_code) == (303, 303)
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(Member, Member.username == "li-shu") == 1
    other = client.post("/admin/members/new", data={**hidden, **member_form(username="zhao")})
    assert other.status_code == 409
    assert "这张表单已经提交过了" in page(other)
    assert count(Member, Member.username == "zhao") == 0
    no_key = client.post(
        "/admin/members/new", data={"csrf_token": hidden["csrf_token"], **member_form()}
    )
    assert no_key.status_code == 400 and "页面已过期" in page(no_key)


def test_a_double_tap_whose_first_answer_is_dropped_still_tells_what_happened(
    client, community, zhang
):
    """A browser drops the first answer of a double tap, and the message its cookie
    carried: the repeat's answer carries the same message to the same page."""
    sign_in(client, "fund-zhang")
    hidden = form_fields(client.get("/admin/members/new"))
    before = client.get_cookie("session").value
    first = client.post("/admin/members/new", data={**hidden, **member_form()})
    client.set_cookie("session", before)

    again = client.post("/admin/members/new", data={**hidden, **member_form()})

    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    shown = page(client.get(again.headers["Location"]))
    assert "李叔" in shown and 'class="notice' in shown
    assert count(Member, Member.username == "li-shu") == 1


def test_a_refused_form_can_be_sent_again_with_its_key(client, community, zhang):
    sign_in(client, "fund-zhang")
    hidden = form_fields(client.get("/admin/members/new"))
    refused = client.post("/admin/members/new", data={**hidden, **member_form(password="x")})
    assert refused.status_code == 422
    fixed = client.post("/admin/members/new", data={**hidden, **member_form()})
    assert fixed.status_code == 303
    assert count(Member, Member.username == "li-shu") == 1


def test_deactivate_reset_and_reactivate_a_member(client, other_client, community, zhang, wang):
    sign_in(client, "fund-zhang")
    sign_in(other_client, "wang-ayi")
    path = f"/admin/members/{wang.id}"

    submit(client, f"{path}/deactivate", form_from=path)
    assert flashes(page(client.get(path))) == ["王阿姨 已停用，不能再登录。"]
    assert other_client.get("/home").status_code == 302  # signed out at the next page
    assert sign_in(other_client, "wang-ayi").status_code == 200  # refused

    submit(client, f"{path}/password", {"password": "new-password-9"}, form_from=path)
    assert flashes(page(client.get(path))) == ["王阿姨 的新密码已设置。请当面告知本人。"]
    submit(client, f"{path}/reactivate", form_from=path)
    # The old session ended with the old password: she signs in with the new one.
    assert other_client.get("/home").status_code == 302
    assert sign_in(other_client, "wang-ayi", password="new-password-9").status_code == 302
    assert other_client.get("/home").status_code == 200
    short = submit(client, f"{path}/password", {"password": "short"}, form_from=path)
    assert short.status_code == 303
    assert flashes(page(client.get(path))) == ["至少 8 个字符。"]


def test_role_changes_keep_points_and_shops_straight(client, community, zhang, wang):
    shop = communities.create_merchant(community, name="便民超市", category="超市")
    sign_in(client, "fund-zhang")
    path = f"/admin/members/{wang.id}"

    submit(client, f"{path}/role", {"role": "organizer", "merchant": ""}, form_from=path)
    assert flashes(page(client.get(path))) == ["王阿姨 的身份已改为：活动组织者。"]
    db.session.refresh(wang)
    assert wang.role == Role.ORGANIZER

    awards.request_award(community, wang, points=10, reason="测试", actor=zhang)
    db.session.flush()
    staff = submit(
        client, f"{path}/role", {"role": "merchant_staff", "merchant": str(shop.id)}, form_from=path
    )
    assert staff.status_code == 303
    assert flashes(page(client.get(path))) == [
        "这位成员还有积分；改成没有积分账户的身份会让这些积分无处可用。"
    ]
    db.session.refresh(wang)
    assert wang.role == Role.ORGANIZER


def test_fund_admins_are_the_platforms_to_manage(client, community, zhang, liu):
    sign_in(client, "fund-zhang")
    path = f"/admin/members/{liu.id}"
    text = page(client.get(path))
    assert "基金管理员由平台管理员管理。" in text and "停用" not in text
    submit(client, f"{path}/deactivate", form_from="/admin/members/new")
    assert flashes(page(client.get(path))) == ["只有平台管理员可以添加、任命或管理基金管理员。"]
    db.session.refresh(liu)
    assert liu.active
    submit(client, f"/admin/members/{zhang.id}/deactivate", form_from="/admin/members/new")
    db.session.refresh(zhang)
    assert zhang.active


# --- awards and their approval -------------------------------------------------------------


def award_form(**fields):
    data = {"member": "wang-ayi", "direction": "award", "points": "100", "reason": "清扫"}
    return {**data, **fields}


def test_awards_below_the_threshold_are_booked_and_above_wait(
    client, other_client, community, zhang, liu, wang
):
    sign_in(client, "fund-zhang")
    booked = submit(client, "/admin/awards", award_form())
    assert booked.status_code == 303
    assert flashes(page(client.get("/admin/awards"))) == ["王阿姨 的 +100 积分已入账。"]
    deducted = submit(client, "/admin/awards", award_form(direction="deduct", points="30"))
    assert deducted.status_code == 303
    submit(client, "/admin/awards", award_form(points="1500", reason="义卖组织"))
    waiting = db.session.execute(
        sa.select(Award).where(
            Award.community_id == community.id, Award.status == AwardStatus.PENDING
        )
    ).scalar_one()
    assert "等待另一位基金管理员批准" in page(client.get("/admin/awards"))
    mine = submit(client, f"/admin/awards/{waiting.id}/approve", form_from="/admin/awards")
    assert mine.status_code == 303
    assert flashes(page(client.get("/admin/awards"))) == ["这笔奖励不能由您审批，或已经审批过了。"]

    sign_in(other_client, "fund-liu")
    assert "有 1 笔奖励等待您审批。" in page(other_client.get("/home"))
    submit(other_client, f"/admin/awards/{waiting.id}/approve", form_from="/admin/awards")
    db.session.refresh(waiting)
    assert (waiting.status, waiting.decided_by_id) == (AwardStatus.POSTED, liu.id)
    points = [
        a.points
        for a in db.session.scalars(
            sa.select(Award).where(Award.community_id == community.id).order_by(Award.id)
        )
    ]
    assert points == [100, -30, 1500]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"member": "nobody"}, "member", "本社区没有使用这个用户名的在册成员。"),
        ({"points": "0"}, "points", "请填写 1 到 1,000,000。"),
        ({"reason": ""}, "reason", "请填写原因。"),
    ],
)
def test_the_award_form_refuses_bad_input_at_the_field(
    client, community, zhang, wang, fields, field, message
):
    sign_in(client, "fund-zhang")
    refused = submit(client, "/admin/awards", award_form(**fields))
    assert refused.status_code == 422
    assert field_error(page(refused), field) == message
    assert count(Award, Award.community_id == community.id) == 0


def test_staff_hold_no_points_to_award(client, community, zhang, make_member):
    cashier = make_member(community, Role.MERCHANT_STAFF, username="shop-li")
    sign_in(client, "fund-zhang")
    refused = submit(client, "/admin/awards", award_form(member=cashier.username))
    assert field_error(page(refused), "member") == "这位成员没有积分账户：商家店员不获得积分。"


# --- settings and the rate -------------------------------------------------------------------


def test_settings_change_the_cap_and_the_threshold(client, community, zhang):
    sign_in(client, "fund-zhang")
    saved = submit(
        client,
        "/admin/settings",
        {"monthly_earning_cap": "300", "award_approval_threshold": "500"},
    )
    assert saved.status_code == 303
    db.session.refresh(community)
    assert (community.monthly_earning_cap, community.award_approval_threshold) == (300, 500)
    submit(client, "/admin/settings", {"monthly_earning_cap": "", "award_approval_threshold": "0"})
    db.session.refresh(community)
    assert (community.monthly_earning_cap, community.award_approval_threshold) == (None, 0)
    refused = submit(
        client, "/admin/settings", {"monthly_earning_cap": "-1", "award_approval_threshold": "1"}
    )
    assert field_error(page(refused), "monthly_earning_cap") == "请填写 0 或更大的数。"


def test_a_rate_is_scheduled_from_today_on(client, community, zhang):
    sign_in(client, "fund-zhang")
    today = communities.local_today()
    past = submit(
        client,
        "/admin/settings/rate",
        {"points_per_yuan": "40", "effective_from": (today - timedelta(days=1)).isoformat()},
        form_from="/admin/settings",
    )
    assert past.status_code == 422
    assert "新比例只能从今天或以后开始" in field_error(page(past), "effective_from")
    for points in ("40", "45"):  # the same day again replaces it
        submit(
            client,
            "/admin/settings/rate",
            {"points_per_yuan": points, "effective_from": today.isoformat()},
            form_from="/admin/settings",
        )
    assert [
        (r.effective_from, r.points_per_yuan) for r in communities.rate_schedule(community)
    ] == [(today, 45)]
    assert communities.points_per_yuan_on(community) == 45
    assert "现在 45 积分 = ¥1。" in page(client.get("/admin/settings"))


def test_the_rate_in_force_on_each_day(make_community, make_member):
    community = make_community(points_per_yuan=50)
    admin = make_member(community, Role.FUND_ADMIN)
    today = communities.local_today()
    later = today + timedelta(days=10)
    assert communities.points_per_yuan_on(community, today) == 50
    communities.schedule_points_per_yuan(community, 40, later, actor=admin)
    communities.schedule_points_per_yuan(community, 60, today + timedelta(days=20), actor=admin)
    assert communities.points_per_yuan_on(community, today) == 50
    assert communities.points_per_yuan_on(community, later) == 40
    assert communities.points_per_yuan_on(community, today + timedelta(days=25)) == 60
    other = make_community(points_per_yuan=30)
    assert communities.points_per_yuan_on(other, later) == 30
    with pytest.raises(communities.InvalidInput):
        communities.schedule_points_per_yuan(community, 0, later, actor=admin)
    assert count(PointsRate, PointsRate.community_id == community.id) == 2


# --- merchants, offers, groups ---------------------------------------------------------------


def merchant_form(**fields):
    data = {
        "name": "便民早餐店",
        "category": "餐饮",
        "address": "北新街 8 号",
        "opening_hours": "6:00–10:00",
        "phone": "",
    }
    return {**data, **fields}


def test_merchants_with_staff_and_offers(client, community, zhang):
    sign_in(client, "fund-zhang")
    made = submit(client, "/admin/merchants/new", merchant_form())
    shop = db.session.execute(
        sa.select(Merchant).where(
            Merchant.community_id == community.id, Merchant.name == "便民早餐店"
        )
    ).scalar_one()
    path = f"/admin/merchants/{shop.id}"
    assert made.headers["Location"] == path
    twin = submit(client, "/admin/merchants/new", merchant_form())
    assert field_error(page(twin), "name") == "本社区已有同名的合作商家。"

    submit(
        client,
        f"{path}/offers",
        {"title": "九折", "kind": "discount", "discount_percent": "10"},
        form_from=path,
    )
    submit(
        client,
        f"{path}/offers",
        {"title": "低偿早餐", "kind": "low_cost", "price": "3.50"},
        form_from=path,
    )
    refused = submit(
        client, f"{path}/offers", {"title": "低偿", "kind": "low_cost"}, form_from=path
    )
    assert field_error(page(refused), "price") == "低偿优惠需要填写价格。"
    listed = {
        o.title: (o.kind, o.discount_percent, o.price_fen)
        for o in db.session.scalars(sa.select(Offer).where(Offer.merchant_id == shop.id))
    }
    assert listed == {
        "九折": (OfferKind.DISCOUNT, 10, None),
        "低偿早餐": (OfferKind.LOW_COST, None, 350),
    }
    first = db.session.execute(
        sa.select(Offer).where(Offer.merchant_id == shop.id, Offer.title == "九折")
    ).scalar_one()
    submit(client, f"/admin/offers/{first.id}/withdraw", form_from=path)
    db.session.refresh(first)
    assert not offers.is_current(first)
    submit(client, f"/admin/offers/{first.id}/restore", form_from=path)
    db.session.refresh(first)
    assert offers.is_current(first)

    submit(
        client,
        f"{path}/staff",
        {"display_name": "小吴", "username": "shop-wu", "password": "cashier-pass-1"},
        form_from=path,
    )
    cashier = db.session.execute(sa.select(Member).where(Member.username == "shop-wu")).scalar_one()
    assert (cashier.role, cashier.merchant_id) == (Role.MERCHANT_STAFF, shop.id)

    saved = submit(client, path, {**merchant_form(phone="028-1234"), "active": ""})
    assert saved.status_code == 303
    db.session.refresh(shop)
    assert (shop.phone, shop.active) == ("028-1234", False)


def test_merchant_groups(client, community, zhang):
    shops = [
        communities.create_merchant(community, name=name, category="商店")
        for name in ("微街长便民超市", "北新街理发店", "老王修鞋铺")
    ]
    sign_in(client, "fund-zhang")
    made = submit(
        client,
        "/admin/merchant-groups",
        {"name": "微街长商家", "merchants": [str(shops[0].id), str(shops[1].id)]},
    )
    assert made.status_code == 303
    group = db.session.execute(
        sa.select(MerchantGroup).where(MerchantGroup.community_id == community.id)
    ).scalar_one()
    assert {m.name for m in group.merchants} == {"微街长便民超市", "北新街理发店"}
    twin = submit(client, "/admin/merchant-groups", {"name": "微街长商家"})
    assert field_error(page(twin), "name") == "已有同名的商家组。"
    path = f"/admin/merchant-groups/{group.id}"
    submit(
        client, f"{path}/add", {"merchant": str(shops[2].id)}, form_from="/admin/merchant-groups"
    )
    submit(
        client, f"{path}/remove", {"merchant": str(shops[0].id)}, form_from="/admin/merchant-groups"
    )
    db.session.expire_all()
    assert {m.name for m in group.merchants} == {"北新街理发店", "老王修鞋铺"}


# --- runs and revocation ---------------------------------------------------------------------


def test_a_run_lists_who_got_what_and_a_coupon_can_be_withdrawn(client, community, zhang, wang):
    coupon = issued_coupon(community, zhang, wang)
    sign_in(client, "fund-zhang")
    path = f"/admin/issuance-runs/{coupon.run_id}"
    text = page(client.get(path))
    assert "王阿姨 · 100 积分" in text and "收回这张积分券" in text
    refused = submit(client, f"/admin/coupons/{coupon.id}/revoke", {"reason": ""}, form_from=path)
    assert refused.status_code == 303
    assert flashes(page(client.get(path))) == ["收回积分券时请填写原因。"]
    submit(client, f"/admin/coupons/{coupon.id}/revoke", {"reason": "重复发放"}, form_from=path)
    assert flashes(page(client.get(path))) == ["王阿姨 的积分券已收回，100 积分已退回。"]
    db.session.refresh(coupon)
    assert coupon.status == CouponStatus.REVOKED
    assert "收回这张积分券" not in page(client.get(path))
    late = "/admin/awards"  # a form sent from a page opened before the coupon was withdrawn
    submit(client, f"/admin/coupons/{coupon.id}/revoke", {"reason": "再收"}, form_from=late)
    assert flashes(page(client.get(path))) == ["这张积分券已经失效。"]
    assert (
        count(Coupon, Coupon.community_id == community.id, Coupon.status == CouponStatus.REVOKED)
        == 1
    )


# --- the platform ------------------------------------------------------------------------------


def community_form(**fields):
    data = {
        "name": "青江社区",
        "slug": "qingjiang",
        "points_per_yuan": "50",
        "admin_name": "赵主任",
        "admin_username": "zhao-zr",
        "admin_password": "qingjiang-1",
    }
    return {**data, **fields}


def test_a_platform_admin_sets_up_and_deactivates_a_community(
    client, other_client, make_member, community, zhang
):
    make_member(None, Role.PLATFORM_ADMIN, username="district-op")
    sign_in(client, "district-op")
    made = submit(client, "/platform/communities", community_form())
    assert made.headers["Location"] == "/platform/communities/qingjiang"
    created = db.session.execute(sa.select(Community).where(Community.slug == "qingjiang")).one()[0]
    admin = db.session.execute(sa.select(Member).where(Member.username == "zhao-zr")).scalar_one()
    assert (admin.role, admin.community_id) == (Role.FUND_ADMIN, created.id)
    twin = submit(client, "/platform/communities", community_form(admin_username="other"))
    assert field_error(page(twin), "slug") == "已有社区使用这个简称。"

    path = f"/platform/communities/{community.slug}"
    submit(
        client,
        f"{path}/fund-admins",
        {"display_name": "钱会计", "username": "qian-kj", "password": "qian-pass-1"},
        form_from=path,
    )
    resident = make_member(community, username="sun-ds")
    submit(client, f"{path}/promote", {"username": "sun-ds"}, form_from=path)
    db.session.refresh(resident)
    assert resident.role == Role.FUND_ADMIN
    admins = page(client.get(path))
    assert "钱会计" in admins and "sun-ds" in admins

    sign_in(other_client, "fund-zhang")
    submit(client, f"{path}/deactivate", form_from=path)
    db.session.refresh(community)
    assert community.active is False
    assert other_client.get("/home").status_code == 302
    db.session.expire_all()
    assert auth.authenticate("fund-zhang", "password-1") is None
    submit(client, f"{path}/reactivate", form_from=path)
    db.session.expire_all()
    assert auth.authenticate("fund-zhang", "password-1") is not None


def test_a_platform_admin_manages_a_fund_admin(client, make_member, community, zhang):
    make_member(None, Role.PLATFORM_ADMIN, username="district-op")
    sign_in(client, "district-op")
    back = f"/platform/communities/{community.slug}"
    moved = submit(
        client,
        f"/admin/members/{zhang.id}/password?next={back}",
        {"password": "renewed-pass-1"},
        form_from=back,
    )
    assert moved.headers["Location"] == back
    db.session.expire_all()
    assert auth.authenticate("fund-zhang", "renewed-pass-1") is not None
    submit(client, f"/admin/members/{zhang.id}/deactivate?next={back}", form_from=back)
    db.session.refresh(zhang)
    assert zhang.active is False
