"""The pages work under the Content-Security-Policy in a real browser: no script,
style or image is refused on any of them, and Swagger UI still renders."""

from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from support.apps import TEST_CONFIG
from support.browser import phone_page, seeding, serving
from support.coupons import earn, make_rule

from app import communities, create_app, issuance
from app.earnings import last_month
from app.extensions import db
from models import Coupon, Role

pytestmark = [pytest.mark.browser, pytest.mark.pages]


@dataclass
class Site:
    url: str
    coupon_id: int


@pytest.fixture
def live_server(tmp_path):
    """王阿姨 holds a coupon; 李老板 is a cashier; 刘网格员 runs an activity."""
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/csp.sqlite"})
    with seeding(app) as (community, admin, resident):
        earn(resident, 650)
        rule = make_rule(community, admin, name="月度积分券", points=250)
        issuance.issue_coupons(rule, last_month(), actor=admin)
        shop = communities.create_merchant(community, name="微街长便民超市", category="超市")
        for username, name, role, extra in (
            ("shop-li", "李老板", Role.MERCHANT_STAFF, {"merchant_id": shop.id}),
            ("grid-liu", "刘网格员", Role.ORGANIZER, {}),
        ):
            communities.create_member(
                community,
                username=username,
                password="password-1",
                display_name=name,
                role=role,
                **extra,
            )
        coupon_id = db.session.scalars(sa.select(Coupon.id)).one()
    with serving(app) as url:
        yield Site(url, coupon_id)


def sign_in(page, url, username):
    page.goto(url + "/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill("password-1")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(url + "/home")


def test_no_page_breaks_the_content_security_policy(live_server):
    url = live_server.url
    refused = []
    with phone_page() as page:
        page.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.goto(url + "/api/docs")
        expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)

        sign_in(page, url, "wang-ayi")
        for path in ("/home", "/coupons", f"/coupons/{live_server.coupon_id}", "/pay-code"):
            page.goto(url + path)
            page.wait_for_load_state("networkidle")
        expect(page.locator("svg, img").first).to_be_visible()
        page.context.clear_cookies()

        sign_in(page, url, "shop-li")
        page.goto(url + "/pos")
        page.wait_for_load_state("networkidle")
        page.goto(url + "/pos/history")
        page.wait_for_load_state("networkidle")
        page.context.clear_cookies()

        sign_in(page, url, "grid-liu")
        page.goto(url + "/activities/new")
        page.wait_for_load_state("networkidle")

    assert refused == []
