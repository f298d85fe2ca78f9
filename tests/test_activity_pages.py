"""The earning pages: activities, sign-up, check-in by code, the organizer's screen,
attendance and finalizing, the member code and the history; Chinese first."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from support.activities import make_activity, per_hour
from support.pages import page_client, sign_in, sign_out, submit
from support.qr import decode_svg

from app import activities, awards, checkin_codes, earnings, finalization
from app import attendance as attending
from app.extensions import db
from models import Activity, ActivityStatus, Attendance, AttendanceStatus, AuditEntry, Role


@pytest.fixture
def other_client(app, ctx):
    return page_client(app)


class World:
    def __init__(self, make_community, make_member):
        self.community = make_community(name="北新社区")
        self.organizer = make_member(
            self.community, Role.ORGANIZER, username="chen-org", display_name="陈晓"
        )
        self.resident = make_member(self.community, username="wang-ayi", display_name="王阿姨")
        self.neighbour = make_member(self.community, username="li-shu", display_name="李叔")


@pytest.fixture
def world(make_community, make_member):
    return World(make_community, make_member)


def page_of(response) -> str:
    return response.get_data(as_text=True)


def flashes(page: str) -> list[str]:
    return re.findall(r'<p class="(?:notice|alert)" role="(?:status|alert)">(.*?)</p>', page)


def attended(world, clock, **fields):
    """An activity the resident attended, finalized."""
    activity = make_activity(world.community, world.organizer, now=clock.now, **fields)
    attending.record_check_in(activity, actor=world.organizer, member_id=world.resident.id)
    finalization.finalize(activity, actor=world.organizer)
    db.session.flush()
    return activity


def current_code(activity) -> str:
    return checkin_codes.code_for(activity, checkin_codes.window_at(activities.utcnow()))


# --- residents ------------------------------------------------------------------------------


def test_resident_signs_up_and_checks_in_with_the_typed_code(client, world, clock):
    activity = make_activity(world.community, world.organizer, now=clock.now, place="北新街东段")
    later = make_activity(
        world.community,
        world.organizer,
        now=clock.now,
        title="花坛补植",
        starts=timedelta(days=2),
        **per_hour(20, 60),
    )
    make_activity(world.community, world.organizer, now=clock.now, title="草稿活动", publish=False)
    db.session.flush()
    sign_in(client, "wang-ayi")

    listing = page_of(client.get("/activities"))
    assert "即将开展的活动" in listing
    assert "北新街清扫" in listing and "环境卫生整治" in listing
    assert "每小时 20 积分，最多 60 积分" in listing
    assert "草稿活动" not in listing
    assert listing.index("北新街清扫") < listing.index("花坛补植")
    assert "新建活动" not in listing

    detail_path = f"/activities/{activity.id}"
    detail = page_of(client.get(detail_path))
    assert "<h1>北新街清扫</h1>" in detail
    assert "北新街东段" in detail and "50 积分" in detail
    assert "已报 0 人，共" not in detail and "已有 0 人参加，不限人数" in detail

    signed = submit(client, f"{detail_path}/signup", token_from=detail_path)
    assert signed.status_code == 302
    assert flashes(page_of(client.get(detail_path))) == ["报名成功，活动现场见！"]

    wrong = submit(client, f"{detail_path}/check-in", {"code": "ZZZZZZ"}, token_from=detail_path)
    assert wrong.status_code == 422
    assert "这不是本活动的签到码" in page_of(wrong)
    assert 'value="ZZZZZZ"' in page_of(wrong)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attendance)) == 0

    code = current_code(activity).lower()
    done = submit(client, f"{detail_path}/check-in", {"code": code}, token_from=detail_path)
    assert done.status_code == 302
    assert done.headers["Location"] == detail_path
    after = page_of(client.get(detail_path))
    assert flashes(after) == ["签到成功，感谢您参加志愿服务！"]
    assert "签到时间：" in after
    assert "签退码" not in after  # fixed points: nothing to check out for
    again = submit(client, f"{detail_path}/check-in", {"code": code}, token_from=detail_path)
    assert again.status_code == 302
    assert flashes(page_of(client.get(detail_path))) == ["您之前已经签到过了。"]
    assert later.id


def test_the_qr_link_opens_the_check_in_page_with_the_code(client, world, clock):
    activity = make_activity(world.community, world.organizer, now=clock.now)
    db.session.flush()
    path = f"/activities/{activity.id}/check-in?code=AB2CD3"

    anonymous = client.get(path)
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/login?next=")

    sign_in(client, "wang-ayi", path=anonymous.headers["Location"])
    page = page_of(client.get(path))
    assert "<h1>签到</h1>" in page
    assert 'value="AB2CD3"' in page
    expired = submit(client, f"/activities/{activity.id}/check-in", {"code": ""}, token_from=path)
    assert expired.status_code == 422
    assert "请输入组织者屏幕上显示的签到码。" in page_of(expired)


def test_refusals_are_explained_on_the_page(client, world, make_member, clock):
    activity = make_activity(world.community, world.organizer, now=clock.now, capacity=1)
    old = current_code(activity)
    attending.sign_up(activity, world.neighbour)
    db.session.flush()
    sign_in(client, "wang-ayi")
    detail_path = f"/activities/{activity.id}"

    assert "抱歉，这个活动的名额已满。" in page_of(client.get(detail_path))
    submit(client, f"{detail_path}/signup", token_from=detail_path)
    assert flashes(page_of(client.get(detail_path))) == ["抱歉，这个活动的名额已满。"]

    clock.advance(minutes=5)
    expired = submit(client, f"{detail_path}/check-in", {"code": old}, token_from=detail_path)
    assert "签到码已过期" in page_of(expired)
    out = submit(
        client, f"{detail_path}/check-out", {"code": current_code(activity)}, token_from=detail_path
    )
    assert out.status_code == 302
    assert flashes(page_of(client.get(detail_path))) == ["还没有签到，无法签退。"]
    submit(client, f"{detail_path}/check-out", {"code": ""}, token_from=detail_path)
    assert flashes(page_of(client.get(detail_path))) == ["请输入组织者屏幕上显示的签到码。"]


def test_withdrawing_gives_the_place_back(client, world, clock):
    activity = make_activity(world.community, world.organizer, now=clock.now)
    attending.sign_up(activity, world.resident)
    db.session.flush()
    sign_in(client, "wang-ayi")
    detail_path = f"/activities/{activity.id}"
    assert "您已报名。" in page_of(client.get(detail_path))
    submit(client, f"{detail_path}/withdraw", token_from=detail_path)
    page = page_of(client.get(detail_path))
    assert flashes(page) == ["已取消报名。"]
    assert activities.signup_of(activity, world.resident) is None
    attending.sign_up(activity, world.resident)
    activities.close(activity)
    db.session.flush()
    submit(client, f"{detail_path}/withdraw", token_from=detail_path)
    assert flashes(page_of(client.get(detail_path))) == ["活动目前的状态不允许这样操作。"]
    assert activities.signup_of(activity, world.resident) is not None


def test_drafts_are_hidden_from_residents(client, world, clock):
    draft = make_activity(world.community, world.organizer, now=clock.now, publish=False)
    db.session.flush()
    sign_in(client, "wang-ayi")
    response = client.get(f"/activities/{draft.id}")
    assert response.status_code == 404
    assert "<h1>页面不存在</h1>" in page_of(response)
    assert client.get("/activities/new").status_code == 403


def test_past_activities_show_the_points_and_the_cap(client, world, make_member, clock):
    world.community.monthly_earning_cap = 80
    fund = make_member(world.community, Role.FUND_ADMIN)
    awards.request_award(world.community, world.resident, points=50, reason="绿化", actor=fund)
    activity = attended(world, clock, points=50)
    sign_in(client, "wang-ayi")

    listing = page_of(client.get("/activities"))
    assert "本月已获得 80 积分 · 每月上限 80" in listing
    assert "我参加过的活动" in listing
    assert "获得 30 积分 · 已达每月上限，原应得 50 积分" in listing
    detail = page_of(client.get(f"/activities/{activity.id}"))
    assert "积分已发放" in detail
    english = page_of(client.get("/activities", headers={"Accept-Language": "en"}))
    assert "Earned 30 points · monthly limit reached: 50 points would have been due" in english


def test_capped_gives_each_claim_what_the_room_left_allows(make_community):
    """The cap's arithmetic, in finalizing's order: an award uses up room for the next."""
    community = make_community(monthly_earning_cap=100)
    claims = [(1, 60), (2, 60), (1, 60), (3, 20)]
    assert earnings.capped(community, claims, {1: 10, 3: 100}) == [60, 60, 30, 0]
    community.monthly_earning_cap = None
    assert earnings.capped(community, claims, {1: 10}) == [60, 60, 60, 20]


def test_the_cap_shows_before_finalizing_and_finalizing_matches(client, world, make_member, clock):
    """The attendance list and the confirm step say what the cap leaves each person, and
    finalizing then awards exactly that."""
    world.community.monthly_earning_cap = 70
    fund = make_member(world.community, Role.FUND_ADMIN)
    awards.request_award(world.community, world.resident, points=40, reason="清扫", actor=fund)
    activity = make_activity(world.community, world.organizer, now=clock.now, points=50)
    for person in (world.resident, world.neighbour):
        attending.record_check_in(activity, actor=world.organizer, member_id=person.id)
    db.session.flush()
    sign_in(client, "wang-ayi")
    assert "受每月上限限制，您本月最多还能得 30 积分。" in page_of(client.get("/activities"))
    sign_out(client)
    sign_in(client, "chen-org")

    rows = page_of(client.get(f"/activities/{activity.id}/attendance?partial=1"))
    assert '应得 50 积分 <span class="capped">· 受每月上限限制只能得 30</span>' in rows
    confirm = page_of(client.get(f"/activities/{activity.id}/finalize"))
    assert "应得 50 积分；受每月上限限制，只能得 30 积分。" in confirm
    assert "共 2 人，合计 80 积分" in confirm
    submit(
        client,
        f"/activities/{activity.id}/finalize",
        token_from=f"/activities/{activity.id}/finalize",
    )
    given = dict(
        db.session.execute(
            sa.select(Attendance.member_id, Attendance.points_awarded).where(
                Attendance.activity_id == activity.id
            )
        ).all()
    )
    assert given == {world.resident.id: 30, world.neighbour.id: 50}
    assert client.get(f"/activities/{activity.id}/finalize").status_code == 302


def test_history_says_what_each_line_was_for_and_pages_back(client, world, make_member, clock):
    fund = make_member(world.community, Role.FUND_ADMIN)
    for n in range(1, 21):
        awards.request_award(
            world.community, world.resident, points=n, reason=f"第{n}次", actor=fund
        )
    activity = attended(world, clock, title="敬老院探访")
    sign_in(client, "wang-ayi")

    page = page_of(client.get("/history"))
    assert "<h1>积分明细</h1>" in page
    assert "<strong>260</strong> 积分" in page
    lines = re.findall(r'<li class="history-line">(.*?)</li>', page, re.S)
    assert len(lines) == 20
    assert '<span class="memo">敬老院探访</span>' in lines[0]
    assert f'href="/activities/{activity.id}">活动</a>' in lines[0]
    assert "+50" in lines[0] and "余额 260" in lines[0]
    assert '<span class="kind">奖励</span>' in lines[1]
    older = re.search(r'href="(/history\?cursor=[^"]+)"', page)[1]
    rest = re.findall(r'<span class="memo">(.*?)</span>', page_of(client.get(older)))
    assert rest == ["第1次"]
    home = page_of(client.get("/home"))
    assert "查看全部积分明细" in home and f'href="/activities/{activity.id}">活动</a>' in home
    assert client.get("/history?cursor=bad").status_code == 422


def test_member_code_page(client, world, make_member):
    sign_in(client, "wang-ayi")
    page = page_of(client.get("/my-code"))
    assert "<h1>我的居民码</h1>" in page
    code = checkin_codes.member_code(world.resident)
    assert f'data-payload="{code}"' in page
    assert decode_svg(client.get("/my-code.svg").get_data(as_text=True)) == code
    make_member(world.community, Role.MERCHANT_STAFF, username="cashier-zhou")
    sign_out(client)
    sign_in(client, "cashier-zhou")
    assert client.get("/my-code").status_code == 404


def test_navigation_follows_the_role(client, other_client, world, make_member):
    make_member(world.community, Role.MERCHANT_STAFF, username="cashier-zhou")
    sign_in(client, "wang-ayi")
    sign_in(other_client, "chen-org")

    def links(c):
        nav = re.search(r'<nav class="main-nav"[^>]*>(.*?)</nav>', page_of(c.get("/home")), re.S)
        return re.findall(r">([^<]+)</a>", nav[1])

    # Each role's own work first; a resident's own pages come later for an organizer.
    assert links(client) == ["首页", "活动", "积分券", "付款码", "商家", "居民码", "积分明细"]
    wallet = ["积分券", "付款码", "商家", "居民码", "积分明细"]
    assert links(other_client) == ["首页", "活动", "新建活动", *wallet]
    sign_out(client)
    sign_in(client, "cashier-zhou")
    assert links(client) == ["首页", "收银", "销售记录", "结算单"]  # the till, and no activities
    assert "新建活动" in page_of(other_client.get("/activities"))
    assert "新建活动" not in page_of(client.get("/activities"))


def test_platform_admins_have_no_activity_list_of_their_own(client, make_member):
    make_member(None, Role.PLATFORM_ADMIN, username="district-op")
    sign_in(client, "district-op")
    nav = re.search(r'<nav class="main-nav"[^>]*>(.*?)</nav>', page_of(client.get("/home")), re.S)
    assert re.findall(r">([^<]+)</a>", nav[1]) == ["首页", "社区"]
    assert client.get("/activities").status_code == 404


# --- organizers -----------------------------------------------------------------------------


def activity_form(**fields):
    data = {
        "title": "社区花坛补植",
        "category": "greening",
        "starts_at": "2030-05-01T09:00",
        "ends_at": "2030-05-01T11:30",
        "place": "北新社区花坛",
        "description": "",
        "capacity": "",
        "points_rule": "fixed",
        "points": "80",
        "max_points": "",
    }
    return {**data, **fields}


def test_organizer_creates_and_publishes_from_the_form(client, world):
    sign_in(client, "chen-org")
    form_page = page_of(client.get("/activities/new"))
    assert "<h1>新建活动</h1>" in form_page and "活动类别" in form_page
    assert "环境卫生整治" in form_page and "矛盾化解" in form_page

    saved = submit(client, "/activities/new", activity_form(publish="1"))

    assert saved.status_code == 302
    activity = db.session.scalars(
        sa.select(Activity).where(Activity.community_id == world.community.id)
    ).one()
    assert saved.headers["Location"] == f"/activities/{activity.id}"
    assert activity.status == ActivityStatus.PUBLISHED
    assert activity.starts_at.isoformat() == "2030-05-01T01:00:00+00:00"
    assert activity.capacity is None
    page = page_of(client.get(saved.headers["Location"]))
    assert flashes(page) == ["活动已保存。"]
    assert "2030-05-01 09:00 – 11:30" in page
    assert "显示签到二维码" in page
    audited = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.actor_id == world.organizer.id)
    ).all()
    assert audited == ["activity.create"]

    draft = submit(
        client,
        "/activities/new",
        activity_form(
            save="1",
            points_rule="per_hour",
            points="20",
            max_points="60",
            ends_at="2030-05-02T10:00",
        ),
        token_from="/activities/new",
    )
    assert draft.status_code == 302
    created = db.session.get(Activity, int(draft.headers["Location"].rsplit("/", 1)[1]))
    assert (created.status, created.max_points) == (ActivityStatus.DRAFT, 60)
    assert "2030-05-01 09:00 – 2030-05-02 10:00" in page_of(client.get(draft.headers["Location"]))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ends_at": "2030-05-01T08:00"}, "结束时间必须晚于开始时间。"),
        ({"points_rule": "per_hour"}, "按小时计分时，请填写每人每次最多积分。"),
        ({"title": "  "}, "请填写活动名称。"),
        ({"points": "0"}, "至少 1 积分。"),
        ({"starts_at": ""}, "请填写开始日期和时间。"),
    ],
)
def test_the_form_explains_what_is_wrong(client, world, fields, message):
    sign_in(client, "chen-org")
    response = submit(client, "/activities/new", activity_form(**fields))
    assert response.status_code == 422
    page = page_of(response)
    assert "请检查标出的内容。" in page
    assert message in page
    assert 'aria-invalid="true"' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Activity)) == 0


def test_publish_close_and_cancel_from_the_page(client, world, clock):
    activity = make_activity(world.community, world.organizer, now=clock.now, publish=False)
    db.session.flush()
    sign_in(client, "chen-org")
    detail_path = f"/activities/{activity.id}"

    for move, status in (("publish", "报名中"), ("close", "签到已结束"), ("cancel", "已取消")):
        assert submit(client, f"{detail_path}/{move}", token_from=detail_path).status_code == 302
        assert flashes(page_of(client.get(detail_path))) == [f"活动状态已更新为：{status}。"]
    submit(client, f"{detail_path}/publish", token_from="/activities")
    assert flashes(page_of(client.get(detail_path))) == ["活动目前的状态不允许这样操作。"]
    db.session.expire_all()
    assert db.session.get(Activity, activity.id).status == ActivityStatus.CANCELLED


def test_the_screen_shows_the_code_and_its_qr(client, world, clock):
    activity = make_activity(world.community, world.organizer, now=clock.now)
    attending.record_check_in(activity, actor=world.organizer, member_id=world.neighbour.id)
    db.session.flush()
    sign_in(client, "chen-org")
    code = checkin_codes.rotating_code(activity, clock.now)

    page = page_of(client.get(f"/activities/{activity.id}/screen"))
    assert f'<p class="screen-code" aria-live="polite">{code.code}</p>' in page
    assert f'data-window="{code.window}"' in page
    assert "签到码每 30 秒更新一次。" in page
    assert '<strong class="screen-count">1</strong>' in page
    assert "checkin-screen.js" in page

    clock.advance(seconds=30)
    data = client.get(f"/activities/{activity.id}/screen.json").json
    assert data["window"] == code.window + 1
    assert data["code"] != code.code
    assert data["checked_in"] == 1
    assert data["qr"] == f"/activities/{activity.id}/check-in-qr.svg?window={data['window']}"
    assert data["url"].endswith(f"/activities/{activity.id}/check-in?code={data['code']}")
    assert decode_svg(client.get(data["qr"]).get_data(as_text=True)) == data["url"]
    assert (
        client.get(
            f"/activities/{activity.id}/check-in-qr.svg?window={code.window - 1}"
        ).status_code
        == 422
    )

    activities.close(activity)
    db.session.flush()
    closed = page_of(client.get(f"/activities/{activity.id}/screen"))
    assert "现在不能签到：活动状态为“签到已结束”。" in closed
    assert client.get(f"/activities/{activity.id}/screen.json").status_code == 409


def test_residents_cannot_open_the_screen(client, world, clock):
    activity = make_activity(world.community, world.organizer, now=clock.now)
    db.session.flush()
    sign_in(client, "wang-ayi")
    for suffix in ("screen", "screen.json", "check-in-qr.svg", "attendance"):
        assert client.get(f"/activities/{activity.id}/{suffix}").status_code == 403


def test_attendance_check_in_review_and_finalize(client, world, make_member, clock):
    activity = make_activity(world.community, world.organizer, now=clock.now, points=40)
    late = make_member(world.community, display_name="赵敏")
    attending.sign_up(activity, world.resident)
    attending.sign_up(activity, late)
    db.session.flush()
    sign_in(client, "chen-org")
    path = f"/activities/{activity.id}/attendance"

    page = page_of(client.get(path))
    assert "已报名、尚未签到" in page and "王阿姨" in page and "还没有人签到。" in page

    scanned = submit(client, path, {"member_code": checkin_codes.member_code(world.neighbour)})
    assert scanned.status_code == 302
    assert flashes(page_of(client.get(path))) == ["李叔 已签到。"]
    submit(client, path, {"member_id": str(world.resident.id)})
    assert flashes(page_of(client.get(path))) == ["王阿姨 已签到。"]
    submit(client, path, {"member_id": str(world.resident.id)})
    assert flashes(page_of(client.get(path))) == ["王阿姨 之前已经签到了。"]
    submit(client, path, {"member_code": "JFM.1.2.XXXX"})
    assert flashes(page_of(client.get(path))) == ["这不是本社区有效的居民码。"]
    for empty in ({}, {"member_id": "abc"}, {"member_id": "1", "member_code": "JFM.1.1.A"}):
        submit(client, path, empty)
        assert flashes(page_of(client.get(path))) == ["请扫描或输入居民码。"]

    rows = page_of(client.get(path + "?partial=1"))
    assert "<html" not in rows
    assert rows.count('class="attendance-row') == 2
    assert "应得 40 积分" in rows

    by_member = {a.member_id: a for a in db.session.scalars(attending.attendance_list(activity))}
    neighbour_row = by_member[world.neighbour.id]
    submit(client, f"/attendances/{neighbour_row.id}/exclude", {"reason": ""}, token_from=path)
    assert flashes(page_of(client.get(path))) == ["设为不计入时请填写原因。"]
    submit(
        client, f"/attendances/{neighbour_row.id}/exclude", {"reason": "提前离开"}, token_from=path
    )
    assert "不计入：提前离开" in page_of(client.get(path))
    submit(client, f"/attendances/{neighbour_row.id}/reinstate", token_from=path)
    submit(client, f"/attendances/{neighbour_row.id}/check-out", token_from=path)
    submit(
        client,
        f"/attendances/{neighbour_row.id}/exclude",
        {"reason": "未参加清扫"},
        token_from=path,
    )
    db.session.expire_all()
    neighbour_row = db.session.get(Attendance, neighbour_row.id)
    assert neighbour_row.status == AttendanceStatus.EXCLUDED
    assert neighbour_row.checked_out_at is not None

    finalized = submit(client, f"/activities/{activity.id}/finalize", token_from=path)
    assert finalized.status_code == 302
    page = page_of(client.get(path))
    assert flashes(page) == ["积分已发放：共 1 人次，合计 40 积分。"]
    assert "积分已于" in page and "确认名单，发放积分" not in page
    assert "+40" in page and "不计入：未参加清扫" in page
    submit(client, f"/activities/{activity.id}/finalize", token_from=f"/activities/{activity.id}")
    assert flashes(page_of(client.get(path))) == ["积分已发放：共 0 人次，合计 0 积分。"]
    submit(client, f"/attendances/{neighbour_row.id}/reinstate", token_from=path)
    assert flashes(page_of(client.get(path))) == ["活动目前的状态不允许这样操作。"]
    english = page_of(client.get(path, headers={"Accept-Language": "en"}))
    assert "Points were awarded on" in english


def test_finalize_refuses_open_per_hour_attendances_on_the_page(client, world, clock):
    activity = make_activity(
        world.community, world.organizer, now=clock.now, starts=timedelta(hours=-1), **per_hour()
    )
    attending.record_check_in(activity, actor=world.organizer, member_id=world.resident.id)
    db.session.flush()
    sign_in(client, "chen-org")
    path = f"/activities/{activity.id}/attendance"
    assert "签退后计算积分" in page_of(client.get(path))
    submit(client, f"/activities/{activity.id}/finalize", token_from=path)
    assert flashes(page_of(client.get(path))) == [
        "还有人没有签退。请先为他们签退，或把他们设为不计入。"
    ]
    assert db.session.get(Activity, activity.id).status == ActivityStatus.PUBLISHED


def test_forms_without_a_csrf_token_are_refused(client, world, clock):
    activity = make_activity(world.community, world.organizer, now=clock.now)
    db.session.flush()
    sign_in(client, "wang-ayi")
    response = client.post(
        f"/activities/{activity.id}/check-in", data={"code": current_code(activity)}
    )
    assert response.status_code == 400
    assert "页面已过期" in page_of(response)
    assert activities.attendance_of(activity, world.resident) is None
