"""A cashier at the till in a real browser: the camera (a fake one, fed the coupon's QR),
a handheld scanner, the preview, confirm, receipt, and a void from the history."""

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect
from support.apps import app_on
from support.browser import chromium, seeding, serving, sign_in, write_y4m
from support.coupons import earn, make_rule

from app import communities, coupon_tokens, issuance
from app.earnings import last_month
from app.extensions import db
from models import Coupon, Redemption, RedemptionStatus, Role

pytestmark = pytest.mark.browser

#: The fake camera's picture size (even, as 4:2:0 needs).


@dataclass
class Server:
    url: str
    app: Flask
    coupon_id: int
    token: str
    code: str


@pytest.fixture
def live_server(tmp_path):
    """The app on loopback over a database of its own: 王阿姨 holds a 250-point coupon,
    李老板 is the cashier of 微街长便民超市."""
    with app_on(f"sqlite:///{tmp_path}/pos.sqlite") as app:
        with seeding(app) as (community, admin, resident):
            earn(resident, 650)
            rule = make_rule(community, admin, name="月度积分券", points=250)
            issuance.issue_coupons(rule, last_month(), actor=admin)
            shop = communities.create_merchant(community, name="微街长便民超市", category="超市")
            communities.create_member(
                community,
                username="shop-li",
                password="password-1",
                display_name="李老板",
                role=Role.MERCHANT_STAFF,
                merchant_id=shop.id,
            )
            coupon = db.session.scalars(
                sa.select(Coupon).where(Coupon.member_id == resident.id)
            ).one()
            found = (coupon.id, coupon_tokens.coupon_token(coupon), coupon.code)
        with serving(app) as url:
            yield Server(url, app, *found)


@contextmanager
def till_page(video: Path):
    """A tablet-sized page whose camera shows ``video``."""
    with chromium(
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ) as browser:
        context = browser.new_context(viewport={"width": 800, "height": 1100}, locale="zh-CN")
        context.grant_permissions(["camera"])
        try:
            yield context.new_page()
        finally:
            context.close()


def key_in(page, amount: str):
    for key in amount:
        page.locator(f"[data-key='{key}']").click()


def test_a_cashier_scans_redeems_and_voids(live_server, tmp_path):
    video = tmp_path / "coupon.y4m"
    write_y4m(video, live_server.token)
    with till_page(video) as page:
        sign_in(page, live_server.url, "shop-li")
        page.get_by_role("link", name="收银", exact=True).click()
        expect(page.get_by_role("heading", name="收银 · 微街长便民超市")).to_be_visible()

        # The camera sees the coupon.
        page.get_by_role("button", name="用摄像头扫码").click()
        expect(page.locator("[data-source]")).to_have_text(
            re.compile(r"^积分券 \w{5} \w{5}：剩余 250 积分$"), timeout=15_000
        )
        key_in(page, "3.00")
        page.get_by_role("button", name="预览").click()
        confirm = page.locator("[data-step=confirm]")
        expect(confirm.locator("[data-shown=bill_fen]")).to_have_text("¥3.00")
        expect(confirm.locator("[data-shown=discount_fen]")).to_have_text("¥0.00")
        expect(confirm.locator("[data-field=points]")).to_have_text("150")
        expect(confirm.locator("[data-shown=points_value_fen]")).to_have_text("¥3.00")
        expect(confirm.locator("[data-shown=cash_fen]")).to_have_text("¥0.00")
        # A double tap sends one request, with one key.
        confirm.get_by_role("button", name="确认").dblclick()
        receipt = page.locator("[data-step=receipt]")
        expect(receipt).to_be_visible()
        expect(receipt.locator("[data-field=points]")).to_have_text("150")

        # A handheld scanner types the token and Enter; the coupon has 100 points left.
        page.get_by_role("button", name="下一笔").click()
        page.get_by_label("扫码枪或手输码").fill(live_server.token)
        page.get_by_label("扫码枪或手输码").press("Enter")
        page.get_by_label("账单（元）").fill("12.5")
        page.get_by_role("button", name="预览").click()
        expect(confirm.locator("[data-field=points]")).to_have_text("100")
        expect(confirm.locator("[data-shown=cash_fen]")).to_have_text("¥10.50")
        confirm.get_by_role("button", name="确认").click()
        expect(receipt.locator("[data-shown=cash_fen]")).to_have_text("¥10.50")

        # Used up now: the till says so, in Chinese.
        page.get_by_role("button", name="下一笔").click()
        page.get_by_label("扫码枪或手输码").fill(live_server.code)
        page.get_by_label("扫码枪或手输码").press("Enter")
        key_in(page, "1")
        page.get_by_role("button", name="预览").click()
        expect(page.locator("[data-error]")).to_have_text("这张积分券已用完。")

        # Void the first sale from the history.
        page.get_by_role("link", name="销售记录").click()
        expect(page.locator(".redemption-line")).to_have_count(2)
        expect(page.locator("[data-total=points]")).to_have_text("250")
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator(".redemption-line").last.get_by_role("button", name="撤销").click()
        expect(page.locator("[data-total=points]")).to_have_text("100")
        expect(page.locator(".redemption-line").last.locator("[data-status]")).to_have_text(
            "已撤销"
        )

    with live_server.app.app_context():
        rows = db.session.scalars(sa.select(Redemption).order_by(Redemption.id)).all()
        assert [(row.points, row.status) for row in rows] == [
            (150, RedemptionStatus.VOIDED),
            (100, RedemptionStatus.ACTIVE),
        ]
        coupon = db.session.get(Coupon, live_server.coupon_id)
        assert coupon.points_remaining == 150
