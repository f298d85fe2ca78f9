"""A resident shows a coupon and the pay-code in a real browser; the QR on screen decodes."""

from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect
from support.apps import app_on
from support.browser import phone_page, seeding, serving, sign_in
from support.coupons import earn, make_rule
from support.qr import decode_png

from app import coupon_tokens, issuance, paycodes
from app.earnings import last_month
from app.extensions import db
from models import Community, Coupon, utcnow

pytestmark = pytest.mark.browser

#: A short pay-code window, so the test sees the code change without waiting 30 s.
WINDOW_SECONDS = 2


@dataclass
class Server:
    url: str
    app: Flask
    coupon_id: int
    token: str


@pytest.fixture
def live_server(tmp_path):
    """The app on loopback over a database of its own (the name tells conftest to stand aside):
    王阿姨 earned 650 points last month and holds last month's coupon."""
    database_url = f"sqlite:///{tmp_path}/coupons.sqlite"
    with app_on(database_url, PAY_CODE_WINDOW_SECONDS=WINDOW_SECONDS) as app:
        with seeding(app) as (community, admin, resident):
            earn(resident, 650)
            rule = make_rule(community, admin, name="月度积分券", tiers=[(300, 100), (600, 250)])
            issuance.issue_coupons(rule, last_month(), actor=admin)
            coupon = db.session.scalars(
                sa.select(Coupon).where(Coupon.member_id == resident.id)
            ).one()
            token = coupon_tokens.coupon_token(coupon)
            coupon_id = coupon.id
        with serving(app) as url:
            yield Server(url, app, coupon_id, token)


def test_a_resident_shows_a_coupon_full_screen_and_it_scans(live_server):
    with phone_page() as page:
        sign_in(page, live_server.url, "wang-ayi")
        page.get_by_role("link", name="积分券", exact=True).click()

        card = page.locator(".coupon-card")
        expect(card).to_have_count(1)
        expect(card.locator(".coupon-points")).to_contain_text("250 积分")
        expect(card.locator(".coupon-value")).to_have_text("折合 ¥5.00")
        card.get_by_role("link", name="出示二维码").click()

        expect(page).to_have_url(f"{live_server.url}/coupons/{live_server.coupon_id}")
        expect(page.locator(".site-header")).to_be_hidden()
        qr = page.get_by_role("img", name="积分券二维码")
        expect(qr).to_be_visible()
        assert qr.bounding_box()["width"] >= 300  # large on a 390-pixel phone
        assert decode_png(page.screenshot()) == live_server.token
        code = page.locator(".qr-code-text").inner_text().replace(" ", "")
        with live_server.app.app_context():
            coupon = db.session.get(Coupon, live_server.coupon_id)
            assert code == coupon.code


def test_the_pay_code_changes_by_itself_and_each_code_scans(live_server):
    with phone_page() as page:
        sign_in(page, live_server.url, "wang-ayi")
        page.get_by_role("link", name="付款码").click()
        expect(page.get_by_role("heading", name="付款码")).to_be_visible()
        page.evaluate("window.stillThisPage = true")

        digits = page.locator("[data-digits]")
        first = digits.inner_text().replace(" ", "")
        assert decode_png(page.locator("[data-qr]").screenshot()) == first

        expect(digits).not_to_have_text(digits.inner_text(), timeout=3 * WINDOW_SECONDS * 1000)
        second = digits.inner_text().replace(" ", "")
        read_at = utcnow()
        assert second != first
        assert decode_png(page.locator("[data-qr]").screenshot()) == second
        assert page.evaluate("window.stillThisPage") is True  # fetched, not reloaded
        expect(page.locator("[data-seconds]")).to_contain_text("秒后更新")
        with live_server.app.app_context():
            community = db.session.scalars(sa.select(Community)).one()
            member = paycodes.verify_pay_code(second, community, now=read_at)
            assert member.username == "wang-ayi"
