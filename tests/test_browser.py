"""A resident signs in with a real browser (headless Chromium) against a live server."""

import pytest
from playwright.sync_api import expect
from support.apps import app_on
from support.browser import phone_page, seeding, serving

from app import awards

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(tmp_path):
    """The app served on loopback over a database of its own, with real commits.

    The rolled-back transaction of the other tests cannot be shared with a
    server thread, so this one migrates and seeds a fresh SQLite file.
    """
    with app_on(f"sqlite:///{tmp_path}/browser.sqlite") as app:
        with seeding(app) as (community, fund_admin, resident):
            community.award_approval_threshold = 2000  # both awards of the day post at once
            for points, reason in ((600, "环境卫生整治"), (650, "调解邻里纠纷")):
                awards.request_award(
                    community, resident, points=points, reason=reason, actor=fund_admin
                )
        with serving(app) as url:
            yield url


def test_resident_signs_in_and_switches_to_english(live_server):
    with phone_page() as page:
        page.goto(live_server + "/")
        expect(page).to_have_url(live_server + "/login")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.get_by_role("heading", name="登录")).to_be_visible()

        page.get_by_label("用户名").fill("wang-ayi")
        page.get_by_label("密码").fill("password-1")
        page.get_by_role("button", name="登录").click()

        expect(page).to_have_url(live_server + "/home")
        expect(page.get_by_role("heading", name="王阿姨，您好")).to_be_visible()
        expect(page.locator(".balance-points")).to_have_text("1,250 积分")
        expect(page.locator(".balance-value")).to_have_text("折合 ¥25.00")
        history = page.locator(".history-line")
        expect(history).to_have_count(2)
        expect(history.first.locator(".memo")).to_have_text("调解邻里纠纷")
        expect(history.first.locator(".amount")).to_have_text("+650")
        expect(history.first.locator(".after")).to_have_text("余额 1,250")
        expect(page.get_by_role("button", name="退出登录")).to_be_visible()

        page.get_by_role("link", name="English").click()

        expect(page).to_have_url(live_server + "/home")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("heading", name="Hello, 王阿姨")).to_be_visible()
        expect(page.locator(".balance-points")).to_have_text("1,250 points")
        expect(page.locator(".balance-value")).to_have_text("Worth ¥25.00")
        expect(page.get_by_text("Recent points history")).to_be_visible()
        expect(page.get_by_role("link", name="中文")).to_be_visible()

        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(live_server + "/login")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
