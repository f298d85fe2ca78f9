"""The coupon pages: a resident's coupons and pay-code, a fund admin's rules and runs."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from support.coupons import earn, issued_coupon, make_rule, spend
from support.pages import csrf_token, form_fields, sign_in, sign_out
from support.qr import decode_svg

from app import communities, coupon_tokens, coupons, issuance_rules, paycodes
from app.earnings import LOCAL_TZ, Period, last_month
from app.extensions import db
from models import IssuanceRule, IssuanceRun, Role, utcnow

SVG = re.compile(r"<svg[^>]*class=\"qr\"[^>]*>.*?</svg>", re.S)


@pytest.fixture
def community(make_community):
    return make_community(name="北新社区")


@pytest.fixture
def admin(make_member, community):
    return make_member(community, Role.FUND_ADMIN, username="fund-zhang", display_name="张主任")


@pytest.fixture
def resident(make_member, community):
    return make_member(community, username="wang-ayi", display_name="王阿姨")


@pytest.fixture
def chiefs(community):
    shops = [
        communities.create_merchant(community, name=name, category="商店")
        for name in ("微街长便民超市", "北新街理发店")
    ]
    return issuance_rules.create_merchant_group(
        community, name="微街长商家", merchant_ids=[shop.id for shop in shops]
    )


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def nav(text: str) -> list[str]:
    block = re.search(r'<nav class="[^"]*main-nav".*?</nav>', text, re.S)
    return re.findall(r">([^<]+)</a>", block[0]) if block else []


# --- resident ---------------------------------------------------------------------------


def test_a_resident_sees_open_coupons_first_and_past_ones_below(
    client, community, admin, resident, chiefs
):
    open_coupon = issued_coupon(
        community, admin, resident, name="月度积分券", merchant_group=chiefs
    )
    spend(open_coupon, 40, chiefs.merchants[0])
    revoked = issued_coupon(community, admin, resident, name="补发券")
    coupons.revoke_coupon(revoked, reason="重复", actor=admin)
    sign_in(client, "wang-ayi")

    text = page(client.get("/coupons"))

    assert "<h1>我的积分券</h1>" in text
    cards = re.findall(r'<li class="card coupon-card">(.*?)</li>', text, re.S)
    assert len(cards) == 1
    card = re.sub(r"\s+", " ", cards[0])
    assert "月度积分券" in card
    assert "<strong>60</strong> 积分" in card and "（共 100）" in card
    assert "折合 ¥1.20" in card
    assert "微街长商家：微街长便民超市和北新街理发店" in card
    last_day = (open_coupon.expires_at - timedelta(microseconds=1)).astimezone(LOCAL_TZ).date()
    assert f"<dt>有效期至</dt><dd>{last_day.isoformat()}</dd>" in card
    assert f'href="/coupons/{open_coupon.id}"' in card
    past = re.findall(r'<li class="history-line past-coupon">(.*?)</li>', text, re.S)
    assert len(past) == 1
    assert "补发券" in past[0] and "已收回" in past[0]
    assert nav(text) == ["首页", "活动", "积分券", "付款码", "商家", "居民码", "积分明细"]


def test_the_coupon_screen_shows_a_qr_that_decodes_to_the_token(client, community, admin, resident):
    coupon = issued_coupon(community, admin, resident)
    sign_in(client, "wang-ayi")

    text = page(client.get(f"/coupons/{coupon.id}"))

    assert '<body class="qr-screen">' in text
    assert decode_svg(SVG.search(text)[0]) == coupon_tokens.coupon_token(coupon)
    assert f"{coupon.code[:5]} {coupon.code[5:]}" in text
    assert "<strong>100</strong> 积分可用" in text
    assert "所有合作商家" in text
    assert "全屏显示" in text
    english = page(client.get(f"/coupons/{coupon.id}", headers={"Accept-Language": "en"}))
    assert "Show this to the cashier, or read out the code." in english


def test_a_closed_coupon_shows_why_and_no_qr(client, community, admin, resident):
    coupon = issued_coupon(community, admin, resident)
    coupons.revoke_coupon(coupon, reason="作废", actor=admin)
    expired = issued_coupon(community, admin, resident)
    coupons.expire_coupons(expired.expires_at, community=community)
    sign_in(client, "wang-ayi")

    revoked_page = page(client.get(f"/coupons/{coupon.id}"))
    expired_page = page(client.get(f"/coupons/{expired.id}"))

    assert "这张积分券已被社区基金收回。" in revoked_page
    assert "这张积分券已过期。" in expired_page
    for text in (revoked_page, expired_page):
        assert not SVG.search(text)
        assert coupon.code not in text


def test_nobody_else_opens_a_coupon(client, community, admin, resident, make_member):
    coupon = issued_coupon(community, admin, resident)
    make_member(community, username="li-shushu")
    sign_in(client, "li-shushu")
    assert client.get(f"/coupons/{coupon.id}").status_code == 404
    assert client.get("/coupons/999999999").status_code == 404


def test_staff_hold_no_coupons_or_pay_code(client, community, make_member):
    make_member(community, Role.MERCHANT_STAFF, username="cashier-zhou")
    sign_in(client, "cashier-zhou")
    assert nav(page(client.get("/home"))) == ["首页", "收银", "销售记录", "结算单"]
    for path in ("/coupons", "/pay-code", "/pay-code.json"):
        assert client.get(path).status_code == 404


def test_the_pay_code_screen_and_its_json(client, community, resident):
    sign_in(client, "wang-ayi")

    response = client.get("/pay-code")
    text = page(response)
    fetched = client.get("/pay-code.json")

    assert response.headers["Cache-Control"] == "no-store"
    assert fetched.headers["Cache-Control"] == "no-store"
    shown = re.search(r"data-digits[^>]*>([\d ]+)</p>", text)[1]
    code = shown.replace(" ", "")
    assert paycodes.verify_pay_code(code, community) == resident
    assert decode_svg(SVG.search(text)[0]) == code
    body = fetched.json
    assert paycodes.verify_pay_code(body["code"], community) == resident
    assert body["code_display"].replace(" ", "") == body["code"]
    assert decode_svg(body["svg"]) == body["code"]
    assert 0 <= body["refresh_in_ms"] <= 30_000
    assert "秒后更新" in text
    assert 'data-countdown="%(seconds)s 秒后更新"' in text


def test_resetting_the_pay_code_from_the_page(client, community, resident):
    sign_in(client, "wang-ayi")
    before = client.get("/pay-code.json").json["code"]
    assert client.post("/pay-code/reset").status_code == 400  # no CSRF token

    response = client.post(
        "/pay-code/reset", data={"csrf_token": csrf_token(client.get("/pay-code"))}
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/pay-code?reset=1"
    assert "付款码已重置" in page(client.get("/pay-code?reset=1"))
    with pytest.raises(paycodes.InvalidPayCode):
        paycodes.verify_pay_code(before, community)


# --- fund admin ---------------------------------------------------------------------------


def test_a_fund_admin_sees_rules_in_words(client, community, admin, chiefs):
    make_rule(
        community,
        admin,
        name="月度积分券",
        min_attendances=4,
        tiers=[(300, 100), (600, 200)],
        merchant_group=chiefs,
    )
    make_rule(
        community, admin, name="短期券", min_points_earned=None, min_attendances=2, valid_days=30
    )
    sign_in(client, "fund-zhang")

    text = re.sub(r"\s+", " ", page(client.get("/admin/issuance-rules")))

    money = ["仪表板", "基金", "结算", "收入", "捐赠"]
    console = ["首页", "成员", "积分奖惩", *money, "商家", "发券规则", "发券记录", "设置", "活动"]
    assert nav(text) == console
    assert "当月获得积分至少 300，或参加活动至少 4 次" in text
    assert "获得满 300 积分发 100 积分; 获得满 600 积分发 200 积分" in text
    assert "微街长商家：微街长便民超市和北新街理发店" in text
    assert "至下月底" in text and "30 天" in text
    assert "当月参加活动至少 2 次" in text
    assert "社区发放（新增积分）" in text and "退回居民的积分账户" in text
    english = page(client.get("/admin/issuance-rules", headers={"Accept-Language": "en"}))
    assert "100 points from 300 earned" in english
    assert "30 days" in english


def rule_form(**fields) -> dict:
    return {
        "name": "月度积分券",
        "min_points_earned": "300",
        "points": "100",
        "merchant_group": "",
        "validity": "end_of_next_month",
        "funding": "grant",
        "on_expiry": "wallet",
        **fields,
    }


def test_a_fund_admin_makes_a_rule_from_the_page(client, community, admin, chiefs):
    sign_in(client, "fund-zhang")
    token = form_fields(client.get("/admin/issuance-rules/new"))

    response = client.post(
        "/admin/issuance-rules/new",
        data={
            **token,
            **rule_form(
                points="",
                merchant_group=str(chiefs.id),
                validity="days",
                valid_days="45",
                funding="convert",
                on_expiry="expired",
                **{"tiers-0-min_points_earned": "300", "tiers-0-points": "80"},
                **{"tiers-1-min_points_earned": "500", "tiers-1-points": "150"},
            ),
        },
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/issuance-rules"
    rule = db.session.scalars(
        sa.select(IssuanceRule).where(IssuanceRule.community_id == community.id)
    ).one()
    assert [(t.min_points_earned, t.points) for t in rule.tiers] == [(300, 80), (500, 150)]
    assert (rule.points, rule.valid_days, rule.merchant_group_id) == (None, 45, chiefs.id)
    assert (rule.funding.value, rule.on_expiry.value, rule.created_by_id) == (
        "convert",
        "expired",
        admin.id,
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "请填写规则名称。"),
        ({"min_points_earned": ""}, "请填写领券条件"),
        ({"points": ""}, "二者选其一"),
        ({"tiers-0-min_points_earned": "300", "tiers-0-points": "80"}, "二者选其一"),
        ({"tiers-0-min_points_earned": "300"}, "每一档都要填两个数字。"),
        (
            {
                "points": "",
                "tiers-0-min_points_earned": "300",
                "tiers-0-points": "80",
                "tiers-1-min_points_earned": "300",
                "tiers-1-points": "90",
            },
            "各档的获得积分不能相同。",
        ),
        ({"validity": "days"}, "请填写天数。"),
        ({"points": "0"}, "至少为 1。"),
        ({"merchant_group": "999999"}, "不是有效的选择"),
    ],
)
def test_the_rule_form_explains_what_is_wrong(client, community, admin, fields, message):
    sign_in(client, "fund-zhang")
    token = form_fields(client.get("/admin/issuance-rules/new"))
    text = page(client.post("/admin/issuance-rules/new", data={**token, **rule_form(**fields)}))
    assert message in text
    assert not db.session.scalars(
        sa.select(IssuanceRule.id).where(IssuanceRule.community_id == community.id)
    ).first()


def test_a_duplicate_rule_name_is_explained(client, community, admin):
    make_rule(community, admin, name="月度积分券")
    sign_in(client, "fund-zhang")
    token = form_fields(client.get("/admin/issuance-rules/new"))
    text = page(client.post("/admin/issuance-rules/new", data={**token, **rule_form()}))
    assert "已有同名的规则。" in text


def test_a_fund_admin_starts_a_run_from_the_page(client, community, admin, make_member):
    for _ in range(2):
        earn(make_member(community), 300)
    rule = make_rule(community, admin, name="月度积分券")
    sign_in(client, "fund-zhang")
    form = page(client.get("/admin/issuance-runs"))
    assert f'value="{last_month()}"' in form
    assert 'type="month"' in form

    token = form_fields(client.get("/admin/issuance-runs"))
    response = client.post(
        "/admin/issuance-runs",
        data={**token, "rule": str(rule.id), "period": str(last_month())},
    )

    run = db.session.scalars(sa.select(IssuanceRun).where(IssuanceRun.rule_id == rule.id)).one()
    assert response.headers["Location"] == f"/admin/issuance-runs?run={run.id}"
    assert (run.issued, run.points, run.actor_id) == (2, 200, admin.id)
    text = re.sub(r"\s+", " ", page(client.get(f"/admin/issuance-runs?run={run.id}")))
    assert 'class="card run just-started" role="status"' in text
    assert "2 张积分券，共 200 积分" in text
    assert "张主任" in text


def test_the_run_form_refuses_a_month_not_over(client, community, admin):
    rule = make_rule(community, admin)
    sign_in(client, "fund-zhang")
    token = form_fields(client.get("/admin/issuance-runs"))
    this_month = str(Period.containing(utcnow()))
    for period, message in (
        (this_month, "这个月还没有结束"),
        ("2026-13", "请填写月份，例如 2026-10。"),
    ):
        text = page(
            client.post(
                "/admin/issuance-runs",
                data={**token, "rule": str(rule.id), "period": period},
            )
        )
        assert message in text
    assert not db.session.scalars(
        sa.select(IssuanceRun.id).where(IssuanceRun.community_id == community.id)
    ).first()


def test_runs_page_without_rules_asks_for_one(client, community, admin):
    sign_in(client, "fund-zhang")
    assert "请先新建发券规则。" in page(client.get("/admin/issuance-runs"))


@pytest.mark.parametrize(
    "path", ["/admin/issuance-rules", "/admin/issuance-rules/new", "/admin/issuance-runs"]
)
def test_residents_and_platform_admins_do_not_get_admin_pages(
    client, community, resident, make_member, path
):
    sign_in(client, "wang-ayi")
    assert client.get(path).status_code == 403
    sign_out(client)
    make_member(None, Role.PLATFORM_ADMIN, username="district-op")
    sign_in(client, "district-op")
    assert client.get(path).status_code == 403
