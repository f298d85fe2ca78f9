"""Earning points in a real browser (headless Chromium) against a live server:
a resident signs up and checks in with the code on the organizer's screen, the
organizer finalizes, and the resident sees the points; in Chinese and English."""

import re
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from support.apps import app_on
from support.browser import phone_page, phones, seeding, serving, sign_in
from support.qr import decode_png

from app import activities, awards, communities
from app.extensions import db
from models import Activity, ActivityCategory, Role, utcnow

pytestmark = pytest.mark.browser


@dataclass
class Served:
    url: str
    app: object
    activity_id: int


@pytest.fixture
def live_server(tmp_path):
    """Start the app on loopback over a fresh SQLite file, seeded with an open activity.

    A factory, so a test can pass its own configuration.
    """
    with ExitStack() as stack:

        def serve(**config) -> Served:
            app = stack.enter_context(app_on(f"sqlite:///{tmp_path}/earning.sqlite", **config))
            activity_id = seed(app)
            return Served(stack.enter_context(serving(app)), app, activity_id)

        yield serve


def seed(app) -> int:
    """北新社区 (see :func:`seeding`), with its organizer 陈晓, 100 points for 王阿姨,
    and an activity open for check-in now."""
    with seeding(app) as (community, fund_admin, resident):
        organizer = communities.create_member(
            community,
            username="chen-org",
            password="password-1",
            display_name="陈晓",
            role=Role.ORGANIZER,
        )
        awards.request_award(community, resident, points=100, reason="绿化美化", actor=fund_admin)
        now = utcnow()
        activity = activities.create_activity(
            community,
            actor=organizer,
            title="北新街清扫",
            category=ActivityCategory.ENVIRONMENT,
            starts_at=now - timedelta(minutes=10),
            ends_at=now + timedelta(hours=2),
            points=50,
            place="北新街东段",
        )
        activities.publish(activity)
        db.session.flush()
        return activity.id


WORDS = {
    "zh": {
        "locale": "zh-CN",
        "username": "用户名",
        "password": "密码",
        "sign_in": "登录",
        "activities": "活动",
        "home": "首页",
        "sign_up": "报名",
        "signed_up": "报名成功，活动现场见！",
        "code": "签到码",
        "check_in": "签到",
        "checked_in": "签到成功，感谢您参加志愿服务！",
        "status": "已签到",
        "finalize": "确认名单，发放积分",
        "award": "确认发放积分",
        "finalized": "积分已发放：共 1 人次，合计 50 积分。",
        "balance": "150 积分",
        "worth": "折合 ¥3.00",
        "kind": "活动",
        "after": "余额 150",
    },
    "en": {
        "locale": "en-US",
        "username": "Username",
        "password": "Password",
        "sign_in": "Sign in",
        "activities": "Activities",
        "home": "Home",
        "sign_up": "Sign up",
        "signed_up": "You are signed up. See you there!",
        "code": "Check-in code",
        "check_in": "Check in",
        "checked_in": "You are checked in. Thank you for volunteering!",
        "status": "Checked in",
        "finalize": "Confirm and finalize",
        "award": "Award the points",
        "finalized": "Finalized. Attendances awarded: 1; points in all: 50.",
        "balance": "150 points",
        "worth": "Worth ¥3.00",
        "kind": "Activity",
        "after": "Balance 150",
    },
}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_resident_checks_in_by_typed_code_and_sees_the_points(live_server, language):
    words = WORDS[language]
    served = live_server()
    base, activity_path = served.url, f"/activities/{served.activity_id}"
    with phones(2, words["locale"]) as (organizer, resident):
        sign_in(organizer, base, "chen-org", language)
        organizer.goto(base + activity_path + "/screen")
        code = organizer.locator(".screen-code").inner_text().strip()
        assert re.fullmatch(r"[2-9A-HJ-NP-Z]{6}", code)
        qr = organizer.locator(".screen-qr")
        assert decode_png(qr.screenshot()) == qr.get_attribute("data-payload")
        assert qr.get_attribute("data-payload").endswith(f"{activity_path}/check-in?code={code}")
        organizer.goto(base + activity_path + "/attendance")
        rows = organizer.locator(".attendance-row")
        expect(rows).to_have_count(0)

        sign_in(resident, base, "wang-ayi", language)
        resident.get_by_role("navigation", name=re.compile("主菜单|Main")).get_by_role(
            "link", name=words["activities"], exact=True
        ).click()
        resident.get_by_role("link", name="北新街清扫").click()
        expect(resident).to_have_url(base + activity_path)
        resident.get_by_role("button", name=words["sign_up"], exact=True).click()
        expect(resident.locator(".notice")).to_have_text(words["signed_up"])
        resident.get_by_label(words["code"]).fill(code.lower())
        resident.get_by_role("button", name=words["check_in"], exact=True).click()
        expect(resident.locator(".notice")).to_have_text(words["checked_in"])

        # The organizer's list shows the arrival by itself, without a reload.
        expect(rows).to_have_count(1, timeout=12_000)
        expect(rows.first.locator(".name")).to_have_text("王阿姨")
        expect(rows.first.locator(".state")).to_have_text(words["status"])
        organizer.get_by_role("link", name=words["finalize"]).click()
        organizer.get_by_role("button", name=words["award"]).click()
        expect(organizer.locator(".notice").first).to_have_text(words["finalized"])

        resident.get_by_role("link", name=words["home"], exact=True).click()
        expect(resident.locator(".balance-points")).to_have_text(words["balance"])
        expect(resident.locator(".balance-value")).to_have_text(words["worth"])
        line = resident.locator(".history-line").first
        expect(line.locator(".memo")).to_have_text("北新街清扫")
        expect(line.locator(".amount")).to_have_text("+50")
        expect(line.locator(".kind")).to_have_text(words["kind"])
        expect(line.locator(".after")).to_have_text(words["after"])


def test_the_check_in_screen_refreshes_itself(live_server):
    """With 2-second windows the screen must show new codes, and QR images of them,
    without the page being loaded again; closing check-in ends the rotation."""
    served = live_server(CHECKIN_WINDOW_SECONDS=2)
    words = WORDS["zh"]
    with phone_page(words["locale"]) as organizer:
        sign_in(organizer, served.url, "chen-org")
        organizer.goto(f"{served.url}/activities/{served.activity_id}/screen")
        organizer.evaluate("window.stillTheSamePage = true")
        code = organizer.locator(".screen-code")
        qr = organizer.locator(".screen-qr")
        first = code.inner_text()

        expect(code).not_to_have_text(first, timeout=6_000)
        second = code.inner_text()
        expect(qr).to_have_attribute("data-payload", re.compile(f"code={second}$"))
        assert organizer.evaluate("window.stillTheSamePage") is True
        organizer.wait_for_function(
            "document.querySelector('.screen-qr').complete && "
            "document.querySelector('.screen-qr').src.includes('window=' + "
            "document.querySelector('[data-screen]').dataset.window)"
        )
        # The screen may turn over between reading the payload and taking the picture.
        for _attempt in range(5):
            before = qr.get_attribute("data-payload")
            picture = qr.screenshot()
            if qr.get_attribute("data-payload") == before:
                break
        assert decode_png(picture) == before

        with served.app.app_context():
            activities.close(db.session.get(Activity, served.activity_id))
            db.session.commit()
        expect(organizer.locator(".screen-status")).to_have_text("签到已结束。", timeout=6_000)
        expect(qr).to_be_hidden()
        assert organizer.evaluate("window.stillTheSamePage") is True
