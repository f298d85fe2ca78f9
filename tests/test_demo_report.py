"""The 北新社区 demo's books: what the field report says, computed from the ledger.

539,900 points exchanged at the merchants by pay-code, worth ¥10,798; 71 coupons
issued, 345,700 of their points redeemed, worth ¥6,914 (seed-facts.md). The demo is
seeded once for the module, into a SQLite file of its own; the dashboard and the
notice board are then driven in a real browser, in Chinese and English, under a
Content-Security-Policy with no inline scripts or styles.
"""

import base64
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from support.api import ApiClient
from support.apps import TEST_CONFIG
from support.browser import chromium, serving

from app import create_app
from app.demo import PASSWORD, STREET_CHIEF_SHOPS
from app.extensions import db
from models import Member, Role

pytestmark = pytest.mark.demo

#: The policy the app's pages are built for: every script and style a file of the site.
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; script-src-attr 'none'; style-src 'self'; "
    "img-src 'self' data: blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)


@pytest.fixture(autouse=True)
def db_session():
    """Replaces the rolled-back session: the demo's database is a file of its own."""
    yield None


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})

    @app.after_request
    def strict_policy(response):
        response.headers["Content-Security-Policy"] = STRICT_CSP
        return response

    with app.app_context():
        result = app.test_cli_runner().invoke(args=["demo", "--no-serve"])
        assert result.exit_code == 0, result.output
        db.session.remove()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def as_member(app, username) -> ApiClient:
    client = ApiClient(app.test_client())
    token = client.post("/auth/token", json={"username": username, "password": PASSWORD})
    assert token.status_code == 201, token.json
    return ApiClient(app.test_client(), token.json["token"])


def test_the_report_shows_the_field_reports_figures(demo):
    with demo.app_context():
        report = as_member(demo, "fund").get("/communities/beixin/reconciliation").json

    redeemed = report["points"]["redeemed"]
    assert (redeemed["pay_code"], redeemed["pay_code_value_fen"]) == (539_900, 1_079_800)
    assert (redeemed["coupon"], redeemed["coupon_value_fen"]) == (345_700, 691_400)
    assert report["points"]["voided"] == {"coupon": 0, "pay_code": 0}
    assert report["coupons"]["issued_in_period"] == 71
    assert report["ok"] is True
    assert len(report["merchants"]) == 20
    coupon_shops = {m["name"] for m in report["merchants"] if m["coupon_points"]}
    assert coupon_shops == STREET_CHIEF_SHOPS
    assert sum(m["coupon_points"] for m in report["merchants"]) == 345_700
    assert sum(m["pay_code_value_fen"] for m in report["merchants"]) == 1_079_800


def test_the_past_months_are_settled_and_closed(demo):
    with demo.app_context():
        fund = as_member(demo, "fund")
        months = fund.get("/communities/beixin/periods").json["items"]
        closed = [m["period"] for m in months if m["status"] == "closed"]
        verified = [fund.get(f"/communities/beixin/periods/{p}/verify").json for p in closed]
        reports = [fund.get(f"/communities/beixin/periods/{p}/report").json for p in closed]

    assert len(closed) == 6
    assert [m["status"] for m in months][0] == "requested"
    assert all(v["content_intact"] and v["figures_match"] for v in verified), verified
    # A month's statements are approved and paid early in the month after it. The first
    # month had no redemptions (its coupons and the first payments came the month
    # after), so statements are approved from the third month on.
    settled = [r["rounding"]["statements"]["value_fen"] for r in reversed(reports)]
    assert settled[:2] == [0, 0] and all(value > 0 for value in settled[2:]), settled
    assert all(r["money"]["payable"]["closing_fen"] == 0 for r in reports)


def test_the_notice_board_shows_the_totals_and_no_resident(demo):
    with demo.app_context():
        board = demo.test_client().get("/c/beixin").get_data(as_text=True)
        names = db.session.scalars(
            sa.select(Member.display_name).where(Member.role.in_([Role.RESIDENT, Role.ORGANIZER]))
        ).all()

    text = re.sub(r"<[^>]+>", " ", board)
    assert "539,900" in text and "¥10,798.00" in text
    assert "345,700" in text and "¥6,914.00" in text
    assert re.search(r"\b71\b", text)
    assert "公益积分公示栏" in text
    for shown in names:
        for part in shown.split():
            if len(part) >= 2 and not part.isascii() and part not in TITLES:
                assert part not in text, part
    assert "/c/beixin/donate" in board


#: The words before a name in the demo's display names: what people are, not who.
TITLES = {"居民", "居民志愿者", "微街长", "网格员"}


def chart_images(page) -> list[dict]:
    return page.eval_on_selector_all(
        "figure.chart img",
        "imgs => imgs.map(i => ({src: i.src, width: i.naturalWidth, done: i.complete}))",
    )


def bars_in(src: str) -> int:
    svg = base64.b64decode(src.split(",", 1)[1]).decode()
    return len(re.findall(r'class="rect reactive tooltip-trigger"', svg))


@pytest.mark.browser
@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("zh-CN", {"heading": "仪表板", "coverage": "覆盖率", "board": "公益积分公示栏"}),
        (
            "en",
            {
                "heading": "Dashboard",
                "coverage": "Coverage",
                "board": "Public-welfare points notice board",
            },
        ),
    ],
)
def test_the_dashboard_and_the_board_in_a_browser(demo, locale, words):
    with serving(demo) as base, chromium() as browser:
        for viewport in ({"width": 390, "height": 844}, {"width": 1280, "height": 900}):
            context = browser.new_context(viewport=viewport, locale=locale)
            page = context.new_page()
            refused = []
            page.on("console", lambda message, seen=refused: seen.append(message.text))
            page.goto(base + "/login")
            page.locator("#username").fill("fund")
            page.locator("#password").fill(PASSWORD)
            page.locator("form button[type=submit]").click()
            expect(page).to_have_url(base + "/home")
            if locale == "en":
                page.goto(base + "/lang/en?next=/admin/dashboard")
            else:
                page.goto(base + "/admin/dashboard")
            expect(page.get_by_role("heading", level=1)).to_contain_text(words["heading"])
            expect(page.get_by_text(words["coverage"], exact=True)).to_be_visible()
            images = chart_images(page)
            assert len(images) == 4
            assert all(i["done"] and i["width"] > 0 for i in images), images
            assert all(bars_in(i["src"]) > 0 for i in images)
            page.goto(base + "/c/beixin" + ("?lang=en" if locale == "en" else ""))
            expect(page.get_by_role("heading", level=1)).to_contain_text(words["board"])
            board = chart_images(page)
            assert len(board) == 2 and all(i["width"] > 0 and bars_in(i["src"]) > 0 for i in board)
            assert not [text for text in refused if "Content Security Policy" in text], refused
            context.close()
