"""The live site the page tests drive: the demo community (北新社区, every role, 20
merchants, activities, coupons, sales), migrated and seeded once per run into a
SQLite file of its own and served on loopback; and one headless Chromium per test
module, with a new phone-sized context (390×844) per test.

The site's database is a file, not the session's rolled-back transaction, so the
server thread can commit; tests add what they need through :meth:`Site.run` and
use names of their own, so they never depend on one another's changes. The page
tests drive pages, not the database: they run on the SQLite pass only (marker
``pages``; see conftest).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from playwright.sync_api import Browser, Page, sync_playwright

from app import awards, communities, create_app, demo
from app.extensions import db
from models import AwardStatus, Member, Role

from .apps import TEST_CONFIG
from .browser import CHROMIUM, CHROMIUM_ARGS, LOCALES, PHONE, serving
from .browser import sign_in as sign_in_as
from .names import short_name

#: Every demo account's password.
PASSWORD = demo.PASSWORD


@dataclass
class Site:
    url: str
    app: Flask

    def run(self, change: Callable):
        """Run ``change`` in the site's app context and commit what it did."""
        with self.app.app_context():
            result = change()
            db.session.commit()
            return result

    def read(self, query: Callable):
        with self.app.app_context():
            try:
                return query()
            finally:
                db.session.rollback()


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    app = create_app(
        {
            **TEST_CONFIG,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path_factory.mktemp('site')}/site.sqlite",
        }
    )
    with app.app_context():
        upgrade()
        demo.seed()
        db.session.commit()
    with serving(app) as url:
        yield Site(url, app)


@pytest.fixture(scope="module")
def playwright():
    """Playwright for a test module (its sync API runs once per thread at a time)."""
    assert Path(CHROMIUM).exists(), f"the page tests need Debian's chromium at {CHROMIUM}"
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def chromium(playwright):
    """One headless Chromium for a test module; a missing browser fails, never skips."""
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def sessions() -> dict:
    """Cookies of the members signed in so far in this module, to open a phone already
    signed in (signing in through the form is tested where it matters)."""
    return {}


@pytest.fixture
def phone(chromium: Browser, site: Site, sessions: dict):
    """``phone(username=None, language="zh")``: a fresh phone-sized page on the member's
    home page, signed in."""
    contexts = []

    def open_phone(username=None, language="zh", password=PASSWORD) -> Page:
        known = sessions.get((username, password))
        context = chromium.new_context(
            viewport=PHONE, locale=LOCALES[language], storage_state=known
        )
        contexts.append(context)
        page = context.new_page()
        if username and known:
            page.goto(site.url + "/home")
        elif username:
            sign_in(page, site.url, username, language, password)
            sessions[(username, password)] = context.storage_state()
        return page

    yield open_phone
    for context in contexts:
        context.close()


def sign_in(page: Page, base: str, username: str, language: str = "zh", password=PASSWORD):
    """Sign a demo account in: every demo password is the same, unless told."""
    sign_in_as(page, base, username, language, password=password)


@pytest.fixture
def camera_phone(playwright):
    """``camera_phone(video)``: a phone page whose camera shows ``video``, in a Chromium of
    its own (the fake camera is fixed when the browser starts)."""
    browsers = []

    def open_phone(video: Path) -> Page:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS
            + [
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        browsers.append(browser)
        context = browser.new_context(viewport=PHONE, locale=LOCALES["zh"])
        context.grant_permissions(["camera"])
        return context.new_page()

    yield open_phone
    for browser in browsers:
        browser.close()


def demo_member(username: str) -> Member:
    """A demo account, in the site's app context."""
    return db.session.execute(sa.select(Member).where(Member.username == username)).scalar_one()


def new_resident(name: str, points: int = 0) -> dict:
    """A resident of the demo community holding ``points`` (awarded by ``fund``, and
    approved by ``fund2`` when the award needs a second admin), with the ids a test
    needs after the commit."""
    fund = demo_member("fund")
    resident = communities.create_member(
        fund.community,
        username=short_name("r"),
        password="password-1",
        display_name=name,
        role=Role.RESIDENT,
    )
    if points:
        award = awards.request_award(
            fund.community, resident, points=points, reason="志愿服务", actor=fund
        )
        if award.status == AwardStatus.PENDING:
            awards.decide_award(award, approve=True, actor=demo_member("fund2"))
    return {"id": resident.id, "username": resident.username}
