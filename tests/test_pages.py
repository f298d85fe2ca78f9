"""The pages: sign-in, language choice, home, errors; Chinese first."""

import re
from datetime import timedelta

import pytest
from support.apps import login_limited
from support.pages import csrf_token, sign_in, sign_out

from app import activities, awards
from app.extensions import db
from models import ActivityCategory, Role, utcnow


@pytest.fixture
def resident(make_community, make_member):
    community = make_community(name="北新社区")
    return make_member(community, username="wang-ayi", display_name="王阿姨")


def test_login_page_is_chinese_by_default(client):
    response = client.get("/login")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="zh-CN">' in page
    assert "<h1>登录</h1>" in page
    assert "用户名" in page and "密码" in page
    assert 'lang="en" hreflang="en"' in page and ">English</a>" in page


def test_login_page_follows_the_browser_language(client):
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(
        as_text=True
    )
    assert '<html lang="en">' in page
    assert "<h1>Sign in</h1>" in page
    assert "Username" in page and "Password" in page
    assert ">中文</a>" in page


def test_chosen_language_wins_over_the_browser(client):
    response = client.get("/lang/en?next=/login", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    page = client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "<h1>Sign in</h1>" in page
    page = client.get("/lang/zh", follow_redirects=True).get_data(as_text=True)
    assert "<h1>登录</h1>" in page


def test_unknown_language_is_refused(client):
    assert client.get("/lang/fr").status_code == 404
    with client.session_transaction() as session:
        assert "lang" not in session


def test_language_choice_is_saved_on_the_member(client, resident):
    sign_in(client, "wang-ayi")
    client.get("/lang/en")
    db.session.refresh(resident)
    assert resident.locale == "en"
    sign_out(client)
    with client.session_transaction() as session:
        session.pop("lang")
    sign_in(client, "wang-ayi")
    page = client.get("/home", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Hello, 王阿姨" in page


def test_the_signed_in_cookie_means_nothing_to_the_api(app, client, resident):
    sign_in(client, "wang-ayi")
    assert client.get("/home").status_code == 200

    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers
    assert client.get("/home").status_code == 200
    sessions = app.session_interface
    for path, opened in (("/api/v1/me", False), ("/home", True)):
        with app.test_request_context(path) as request_context:
            session = sessions.open_session(app, request_context.request)
            assert sessions.is_null_session(session) is not opened


def test_login_without_csrf_token_is_refused(client, resident):
    response = client.post("/login", data={"username": "wang-ayi", "password": "password-1"})
    assert response.status_code == 400
    assert "页面已过期" in response.get_data(as_text=True)
    assert client.get("/home").status_code == 302


@pytest.mark.parametrize("username", ["wang-ayi", "nobody-here"])
def test_wrong_credentials_show_one_error_and_do_not_sign_in(client, resident, username):
    response = sign_in(client, username, password="wrong-password")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "用户名或密码不正确。" in page
    assert f'value="{username}"' in page
    assert "wrong-password" not in page
    home = client.get("/home")
    assert home.status_code == 302
    assert home.headers["Location"] == "/login?next=%2Fhome"


def test_empty_fields_are_explained(client):
    token = csrf_token(client.get("/login"))
    page = client.post("/login", data={"csrf_token": token}).get_data(as_text=True)
    assert "请输入用户名。" in page and "请输入密码。" in page


def test_inactive_member_cannot_sign_in(client, resident):
    resident.active = False
    db.session.flush()
    assert "用户名或密码不正确。" in sign_in(client, "wang-ayi").get_data(as_text=True)


def test_resident_sees_balance_and_history(client, resident, make_member):
    fund_admin = make_member(resident.community, Role.FUND_ADMIN)
    awards.request_award(
        resident.community, resident, points=120, reason="环境卫生整治", actor=fund_admin
    )
    awards.request_award(
        resident.community, resident, points=-20, reason="扣除重复登记", actor=fund_admin
    )
    db.session.flush()

    response = sign_in(client, "wang-ayi")
    assert response.status_code == 302
    assert response.headers["Location"] == "/home"
    page = client.get("/home").get_data(as_text=True)
    assert "王阿姨，您好" in page
    assert "居民志愿者" in page and "北新社区" in page
    assert "<strong>100</strong> 积分" in page
    assert "折合 ¥2.00" in page
    assert "50 积分 = ¥1" in page
    lines = re.findall(r'<li class="history-line">(.*?)</li>', page, re.S)
    assert len(lines) == 2
    assert "扣除重复登记" in lines[0] and "-20" in lines[0] and "余额 100" in lines[0]
    assert "环境卫生整治" in lines[1] and "+120" in lines[1] and "余额 120" in lines[1]
    assert re.search(r">20\d\d-\d\d-\d\d \d\d:\d\d</time>", lines[1])


def test_large_balances_get_thousands_separators(client, resident, make_member):
    resident.community.award_approval_threshold = 1_000_000
    fund_admin = make_member(resident.community, Role.FUND_ADMIN)
    awards.request_award(
        resident.community, resident, points=539_900, reason="累计兑换", actor=fund_admin
    )
    db.session.flush()
    sign_in(client, "wang-ayi")
    page = client.get("/home").get_data(as_text=True)
    assert "<strong>539,900</strong>" in page
    assert "折合 ¥10,798.00" in page
    assert "+539,900" in page


def test_home_shows_only_the_last_ten_lines(client, resident, make_member):
    fund_admin = make_member(resident.community, Role.FUND_ADMIN)
    for n in range(1, 13):
        awards.request_award(
            resident.community, resident, points=n, reason=f"第{n}次", actor=fund_admin
        )
    db.session.flush()
    sign_in(client, "wang-ayi")
    page = client.get("/home").get_data(as_text=True)
    memos = re.findall(r'<span class="memo">(.*?)</span>', page)
    assert memos == [f"第{n}次" for n in range(12, 2, -1)]


def test_new_resident_has_no_history_yet(client, resident):
    sign_in(client, "wang-ayi")
    page = client.get("/home").get_data(as_text=True)
    assert "<strong>0</strong> 积分" in page
    assert "还没有积分。" in page


def test_merchant_staff_home_is_todays_sales(client, make_community, make_member):
    community = make_community(name="北新社区")
    cashier = make_member(
        community, Role.MERCHANT_STAFF, username="cashier-li", display_name="李店员"
    )
    sign_in(client, "cashier-li")
    page = client.get("/home", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Hello, 李店员" in page
    assert f"Today's sales · {cashier.merchant.name}" in page
    assert "Open the till" in page and "No sales yet today." in page
    assert "My points" not in page


def test_platform_admin_home_spans_all_communities(client, make_community, make_member):
    community = make_community(name="青江社区")
    make_member(None, Role.PLATFORM_ADMIN, username="district-op")
    sign_in(client, "district-op")
    page = client.get("/home").get_data(as_text=True)
    assert "全部社区" in page and "青江社区" in page
    assert f'href="/platform/communities/{community.slug}"' in page
    assert "我的积分" not in page


def test_logout_signs_out(client, resident):
    sign_in(client, "wang-ayi")
    token = csrf_token(client.get("/home"))
    assert client.post("/logout").status_code == 400
    assert client.get("/home").status_code == 200
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert client.get("/home").status_code == 302


def test_root_sends_to_login_or_home(client, resident):
    assert client.get("/").headers["Location"] == "/login"
    sign_in(client, "wang-ayi")
    assert client.get("/").headers["Location"] == "/home"
    assert client.get("/login").headers["Location"] == "/home"


def test_login_returns_to_a_local_next_page(client, resident):
    response = sign_in(client, "wang-ayi", path="/login?next=/home%3Fpage%3D2")
    assert response.headers["Location"] == "/home?page=2"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_never_leaves_the_site(client, resident, target):
    login = sign_in(client, "wang-ayi", path=f"/login?next={target}")
    assert login.headers["Location"] == "/home"
    switch = client.get("/lang/en", query_string={"next": target})
    assert switch.headers["Location"] == "/"


def test_unknown_page_is_a_translated_html_404(client):
    response = client.get("/no-such-page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "<h1>页面不存在</h1>" in page
    assert "requested URL" not in page
    english = client.get("/no-such-page", headers={"Accept-Language": "en"})
    assert "<h1>Page not found</h1>" in english.get_data(as_text=True)
    assert client.get("/api/v1/no-such-thing").mimetype == "application/problem+json"


def test_refusal_details_show_only_in_the_readers_language(client, make_community, make_member):
    """A refusal's detail is said in the reader's language, Chinese or English."""
    community = make_community()
    organizer = make_member(community, Role.ORGANIZER)
    make_member(community, username="wang-ayi")
    draft = activities.create_activity(
        community,
        actor=organizer,
        title="草稿",
        category=ActivityCategory.OTHER,
        starts_at=utcnow() + timedelta(days=1),
        ends_at=utcnow() + timedelta(days=1, hours=1),
        points=10,
    )
    sign_in(client, "wang-ayi")
    chinese = client.get(f"/activities/{draft.id}").get_data(as_text=True)
    assert "<h1>页面不存在</h1>" in chinese
    assert f'<p class="detail">没有活动 {draft.id}。</p>' in chinese
    english = client.get(f"/activities/{draft.id}", headers={"Accept-Language": "en"})
    assert f'<p class="detail">No activity {draft.id}.</p>' in english.get_data(as_text=True)


def test_method_not_allowed_is_translated(client):
    response = client.get("/logout")
    assert response.status_code == 405
    assert "<h1>不能这样操作</h1>" in response.get_data(as_text=True)


@pytest.fixture
def rate_limited_client(database_url, ctx):
    """An app with the login limit on (the session's app has it off)."""
    with login_limited(database_url, "2 per minute") as limited:
        yield limited.test_client()


def test_login_posts_are_rate_limited(rate_limited_client, resident):
    for _ in range(2):
        assert sign_in(rate_limited_client, "wang-ayi", password="guess-1234").status_code == 200
    response = sign_in(rate_limited_client, "wang-ayi")
    page = response.get_data(as_text=True)
    assert response.status_code == 429
    assert "<h1>尝试次数过多</h1>" in page
    assert "这个账户的密码错误次数过多。请稍候再试。" in page
    assert rate_limited_client.get("/home").status_code == 302
