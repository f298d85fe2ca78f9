"""The fund admin's pages: the dashboard with its charts and what waits for approval,
closing a month from it, the reconciliation report and its downloads, the audit log
and its filters; and who may open them."""

import base64
import csv
import io
import re
from datetime import datetime

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from support.api import award
from support.pages import csrf_token, page_client, sign_in

from app.demo import dated
from app.earnings import LOCAL_TZ, last_month
from app.extensions import db
from models import AuditEntry, MonthClose, MonthCloseStatus, Role


@pytest.fixture
def admins(community, make_member, api):
    """Two fund admins of ``community`` (awards above 1,000 points wait for the second),
    and a resident who earned last month."""
    community.award_approval_threshold = 1_000
    first = make_member(community, Role.FUND_ADMIN, username="zhang-zhuren", display_name="张主任")
    second = make_member(community, Role.FUND_ADMIN, username="liu-kuaiji", display_name="刘会计")
    resident = make_member(community, display_name="王秀兰")
    month = last_month()
    with dated(datetime(month.year, month.month, 12, 10, tzinfo=LOCAL_TZ)):
        assert award(api.as_(first), community, resident, 300).status_code == 201
    assert award(api.as_(first), community, resident, 5_000).json["status"] == "pending"
    return first, second, resident


def page(client, path, status=200) -> str:
    reply = client.get(path)
    assert reply.status_code == status, reply.get_data(as_text=True)[:500]
    return reply.get_data(as_text=True)


def charts(html: str) -> list[str]:
    return re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)"', html)


def test_the_dashboard_shows_funds_charts_and_what_waits(client, admins):
    first, _second, _resident = admins
    sign_in(client, first.username)

    html = page(client, "/admin/dashboard")

    assert "仪表板" in html and "覆盖率" in html
    drawn = charts(html)
    assert len(drawn) == 4
    svgs = [base64.b64decode(chart).decode() for chart in drawn]
    assert all(svg.startswith("<svg") and "<script" not in svg for svg in svgs)
    assert 'class="rect reactive tooltip-trigger"' in svgs[0]  # last month's 300 points
    assert "给 王秀兰 奖励 +5,000 积分：志愿服务" in html
    assert "待审批 (1)" in html
    assert f"申请结账 {last_month()}" in html

    client.get("/lang/en")
    english = page(client, "/admin/dashboard")
    assert "Dashboard" in english and "Coverage" in english
    assert "Award of +5,000 points to 王秀兰: 志愿服务" in english


def test_a_month_is_closed_from_the_dashboard_by_two_admins(app, client, admins):
    first, second, _resident = admins
    month = last_month()
    sign_in(client, first.username)
    token = csrf_token(client.get("/admin/dashboard"))

    asked = client.post(f"/admin/months/{month}/request", data={"csrf_token": token})
    assert asked.status_code == 302
    html = page(client, "/admin/dashboard")
    assert f"已申请结账 {month}。" in html
    assert f"结账 {month}" in html  # waiting for approval
    assert "确认结账" not in html  # not for the admin who asked
    refused = client.post(f"/admin/months/{month}/confirm", data={"csrf_token": token})
    assert refused.status_code == 302
    assert "须由另一位基金管理员确认" in page(client, "/admin/dashboard")

    other_client = page_client(app)
    sign_in(other_client, second.username)
    html = page(other_client, "/admin/dashboard")
    assert "确认结账" in html
    confirmed = other_client.post(
        f"/admin/months/{month}/confirm",
        data={"csrf_token": csrf_token(other_client.get("/admin/dashboard"))},
    )
    assert confirmed.status_code == 302
    close = db.session.scalar(sa.select(MonthClose).where(MonthClose.period == str(month)))
    assert close.status == MonthCloseStatus.CLOSED
    assert close.report_sha256 in page(other_client, "/admin/dashboard")


def test_the_reconciliation_page_and_its_downloads(client, admins, community):
    first, _second, _resident = admins
    sign_in(client, first.username)

    html = page(client, f"/admin/reconciliation?period={last_month()}")

    assert "对账报告" in html and "全部检查通过。" in html
    assert re.search(r"铸造 · 手动奖励</th><td>300</td>", html)
    csv_reply = client.get(f"/admin/reconciliation/export.csv?period={last_month()}")
    rows = {
        (row["section"], row["item"]): row
        for row in csv.DictReader(io.StringIO(csv_reply.get_data(as_text=True)))
    }
    assert rows[("points", "minted.manual_awards")]["value"] == "300"
    book = load_workbook(io.BytesIO(client.get("/admin/reconciliation/export.xlsx").get_data()))
    assert "积分 Points" in book.sheetnames
    page(client, "/admin/reconciliation?period=2026-13", status=422)


def test_the_audit_log_filters_by_who_what_and_when(client, admins, community, api):
    first, second, resident = admins
    award(api.as_(second), community, resident, 20)
    sign_in(client, first.username)

    everything = page(client, "/admin/audit")
    by_second = page(client, f"/admin/audit?actor={second.id}")
    by_action = page(client, "/admin/audit?action=member.create")
    today = datetime.now(LOCAL_TZ).date().isoformat()
    today_only = page(client, f"/admin/audit?from={today}&to={today}")
    nothing = page(client, "/admin/audit?from=2001-01-01&to=2001-01-31")

    logged = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.community_id == community.id)
    )
    assert everything.count("<code>award.create</code>") == 3 == logged
    assert by_second.count("<code>award.create</code>") == 1
    assert "刘会计" in by_second
    assert "award.create</code>" not in by_action
    assert today_only.count("<code>award.create</code>") == 3
    assert "没有符合条件的记录。" in nothing
    page(client, "/admin/audit?from=yesterday", status=422)


def test_who_may_open_the_fund_admins_pages(client, admins, make_member, community):
    _first, _second, resident = admins
    sign_in(client, resident.username)
    for path in ("/admin/dashboard", "/admin/reconciliation", "/admin/audit"):
        page(client, path, status=403)
    platform = make_member(None, Role.PLATFORM_ADMIN)
    other = page_client(client.application)
    sign_in(other, platform.username)
    page(other, "/admin/dashboard", status=404)
