"""A resident signs in with a real browser (headless Chromium) against a live server."""

import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import TEST_CONFIG
from flask_migrate import upgrade
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from app import awards, communities, create_app
from app.extensions import db
from models import Role

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def live_server(tmp_path):
    """The app served on loopback over a database of its own, with real commits.

    The rolled-back transaction of the other tests cannot be shared with a
    server thread, so this one migrates and seeds a fresh SQLite file.
    """
    app = create_app(
        {**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/browser.sqlite"}
    )
    with seeding(app) as (community, fund_admin, resident):
        community.award_approval_threshold = 2000  # both awards of the day post at once
        for points, reason in ((600, "环境卫生整治"), (650, "调解邻里纠纷")):
            awards.request_award(
                community, resident, points=points, reason=reason, actor=fund_admin
            )
    with serving(app) as url:
        yield url


@contextmanager
def seeding(app):
    """Migrate ``app``'s database and add 北新社区 with its fund admin 张主任 and the
    resident 王阿姨 (password ``password-1``); yield them to add more, then commit."""
    with app.app_context():
        upgrade()
        community = communities.create_community("beixin", "北新社区")
        people = [
            communities.create_member(
                community,
                username=username,
                password="password-1",
                display_name=name,
                role=role,
            )
            for username, name, role in (
                ("fund-zhang", "张主任", Role.FUND_ADMIN),
                ("wang-ayi", "王阿姨", Role.RESIDENT),
            )
        ]
        yield community, *people
        db.session.commit()


@contextmanager
def serving(app):
    """Serve ``app`` on a free loopback port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        with app.app_context():
            db.engine.dispose()


@contextmanager
def phone_page(locale="zh-CN"):
    """A phone-sized page in headless Chromium; a missing browser fails the test, never skips it."""
    assert Path(CHROMIUM).exists(), f"the browser tests need Debian's chromium at {CHROMIUM}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale=locale)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


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
