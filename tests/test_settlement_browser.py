"""Settlement in a real browser: the fund admin settles last month, approves and pays by
bank reference; the shop's cashier sees the statement paid and downloads its PDF in
Chinese and in English."""

from datetime import datetime

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from support.apps import TEST_CONFIG
from support.browser import phone_page, seeding, serving
from support.coupons import earn, make_rule
from support.settlement import fund, pdftotext

from app import communities, create_app, issuance, redemptions
from app.earnings import LOCAL_TZ, last_month
from app.extensions import db
from models import Coupon, Redemption, Role, SettlementStatement, StatementStatus

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(tmp_path):
    """北新社区 with 张主任 (fund admin) and 李老板, cashier of 微街长便民超市, whose till took
    three coupon redemptions (¥45.00 from the fund) last month."""
    app = create_app(
        {**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/settle.sqlite"}
    )
    with seeding(app) as (community, admin, resident):
        earn(resident, 650)
        issuance.issue_coupons(make_rule(community, admin, points=5000), last_month(), actor=admin)
        shop = communities.create_merchant(community, name="微街长便民超市", category="超市")
        cashier = communities.create_member(
            community,
            username="shop-li",
            password="password-1",
            display_name="李老板",
            role=Role.MERCHANT_STAFF,
            merchant_id=shop.id,
        )
        fund(community, 100_000)
        code = db.session.scalars(
            sa.select(Coupon.code).where(Coupon.member_id == resident.id)
        ).one()
        for bill in (1000, 2000, 1500):
            redemptions.redeem(cashier, code=code, bill_fen=bill)
        period = last_month()
        db.session.execute(
            sa.update(Redemption).values(
                created_at=datetime(period.year, period.month, 20, 18, tzinfo=LOCAL_TZ)
            )
        )
    with serving(app) as url:
        yield url, app, str(period)


def sign_in(page, url, username):
    page.goto(url + "/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill("password-1")
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(url + "/home")


def test_a_month_is_settled_approved_paid_and_read_by_the_merchant(live_server, tmp_path):
    url, app, period = live_server
    with phone_page() as page:
        sign_in(page, url, "fund-zhang")
        page.get_by_text("更多", exact=True).click()
        page.get_by_role("link", name="结算", exact=True).click()
        expect(page.get_by_label("月份").first).to_have_value(period)
        page.get_by_role("button", name="结算", exact=True).click()
        expect(page.get_by_role("status")).to_have_text(
            f"已生成 {period} 结算单 1 张，合计 ¥45.00。"
        )
        card = page.locator(".statement")
        expect(card.locator("[data-status]")).to_have_text("草稿")
        expect(card.locator("[data-amount]")).to_have_text("¥45.00")

        card.get_by_role("button", name="批准").click()
        expect(card.locator("[data-status]")).to_have_text("已审批")
        card.get_by_label("付款方式").select_option("bank")
        card.get_by_label("银行转账流水号").fill("BOC-20261203-01")
        card.get_by_role("button", name="付款 ¥45.00").click()
        expect(card.locator("[data-status]")).to_have_text("已付款")
        page.get_by_role("button", name="退出").click()

        sign_in(page, url, "shop-li")
        page.get_by_text("更多", exact=True).click()
        page.get_by_role("link", name="结算单").click()
        expect(page.get_by_role("heading", name="结算单 · 微街长便民超市")).to_be_visible()
        statement = page.locator(".statement")
        expect(statement.locator("[data-status]")).to_have_text("已付款")
        expect(statement.locator("[data-amount]")).to_have_text("¥45.00")
        texts = {}
        for lang, label in (("zh", "PDF（中文）"), ("en", "PDF（英文）")):
            with page.expect_download() as download:
                statement.get_by_role("link", name=label).click()
            saved = tmp_path / f"statement-{lang}.pdf"
            download.value.save_as(saved)
            texts[lang] = pdftotext(saved.read_bytes())

    for lang, heading in (("zh", "结算单"), ("en", "Settlement statement")):
        assert "微街长便民超市" in texts[lang]
        assert "¥45.00" in texts[lang]
        assert "BOC-20261203-01" in texts[lang]
        assert heading in texts[lang]
    with app.app_context():
        [row] = db.session.scalars(sa.select(SettlementStatement)).all()
        assert (row.status, row.amount_fen) == (StatementStatus.PAID, 4500)
