"""The API contract (design.md §9): tokens, the caller, communities, members,
merchants, balances, history with cursors, and awards with approval."""

import base64
import json

import pytest
import sqlalchemy as sa
from conftest import TEST_CONFIG, ApiClient, unique

from app import create_app
from app.extensions import db
from models import (
    Account,
    AccountKind,
    ApiToken,
    Award,
    AwardStatus,
    LedgerTransaction,
    Member,
    Role,
)

PASSWORD = "password-1"  # noqa: S105 - what make_member gives everyone


def anonymous(app) -> ApiClient:
    return ApiClient(app.test_client())


def award(client, community, member, points, reason="志愿服务"):
    return client.post(
        f"/communities/{community.slug}/awards",
        json={"member_id": member.id, "points": points, "reason": reason},
        key=True,
    )


def points_of(client, member) -> int:
    response = client.get(f"/members/{member.id}/balance")
    assert response.status_code == 200
    return response.json["points"]


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


# --- POST /auth/token -------------------------------------------------------


def test_token_for_good_credentials(app, api, make_community, make_member):
    member = make_member(make_community(), Role.ORGANIZER)

    response = anonymous(app).post(
        "/auth/token", json={"username": member.username, "password": PASSWORD}
    )

    assert response.status_code == 201
    body = response.json
    assert body["token"].startswith("jf_")
    assert body["token_type"] == "Bearer"  # noqa: S105
    assert body["expires_at"]
    assert body["user"] == {
        "id": member.id,
        "username": member.username,
        "display_name": member.display_name,
        "role": "organizer",
        "roles": ["organizer"],
        "community_id": member.community_id,
        "merchant_id": None,
    }
    assert PASSWORD not in response.get_data(as_text=True)
    # Only a digest is stored, and the token works.
    stored = db.session.execute(sa.select(ApiToken.digest).where(ApiToken.member_id == member.id))
    assert body["token"] not in {digest for (digest,) in stored}
    me = ApiClient(app.test_client(), body["token"]).get("/me")
    assert me.status_code == 200
    assert me.json["id"] == member.id


def test_wrong_password_and_unknown_user_look_the_same(app, api, make_community, make_member):
    member = make_member(make_community())
    client = anonymous(app)

    wrong = client.post("/auth/token", json={"username": member.username, "password": "nope-nope"})
    unknown = client.post("/auth/token", json={"username": unique("ghost"), "password": PASSWORD})

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json
    assert wrong.json["detail"] == "Unknown username or wrong password."
    assert wrong.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]
    assert count(ApiToken, ApiToken.member_id == member.id) == 0


def test_token_request_needs_both_fields(app, api):
    response = anonymous(app).post("/auth/token", json={"username": "someone"})
    assert response.status_code == 422
    assert "password" in response.json["errors"]["json"]


@pytest.fixture
def rate_limited_app(database_url):
    """An app with login rate limiting on (the session's app has it off)."""
    app = create_app(
        {
            **TEST_CONFIG,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "LOGIN_ACCOUNT_FAILURES": "3 per minute",
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def test_login_is_rate_limited(rate_limited_app, make_community, make_member):
    member = make_member(make_community())
    db.session.commit()
    client = rate_limited_app.test_client()

    def login(password, address="192.0.2.1"):
        return client.post(
            "/api/v1/auth/token",
            json={"username": member.username, "password": password},
            environ_base={"REMOTE_ADDR": address},
        )

    statuses = [login("wrong-password").status_code for _ in range(3)]
    fourth = login(PASSWORD)
    elsewhere = login(PASSWORD, address="192.0.2.2")

    assert statuses == [401, 401, 401]
    assert fourth.status_code == 429
    assert fourth.mimetype == "application/problem+json"
    assert fourth.json["status"] == 429
    assert fourth.json["type"] == "urn:jifen:problem:sign-in-locked"
    assert 0 < int(fourth.headers["Retry-After"]) <= 60
    assert "token" not in fourth.json
    # The account is locked wherever the guesses come from.
    assert elsewhere.status_code == 429


REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_reachable() -> bool:
    import redis

    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


@pytest.mark.skipif(not redis_reachable(), reason="no Redis at 127.0.0.1:6379")
def test_workers_share_the_sign_in_limit_through_redis(database_url, make_community, make_member):
    member = make_member(make_community())
    db.session.commit()
    config = {
        **TEST_CONFIG,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "LOGIN_ACCOUNT_FAILURES": "2 per minute",
    }
    workers = [create_app(config), create_app(config)]
    address = unique("198.51.100.1")

    def login(worker):
        return worker.test_client().post(
            "/api/v1/auth/token",
            json={"username": member.username, "password": "wrong-password"},
            environ_base={"REMOTE_ADDR": address},
        )

    statuses = [login(worker).status_code for worker in (*workers, workers[0])]
    for worker in workers:
        with worker.app_context():
            db.engine.dispose()

    assert statuses == [401, 401, 429]


def test_the_session_app_is_not_rate_limited(app, api, make_community, make_member):
    member = make_member(make_community())
    client = anonymous(app)
    statuses = {
        client.post("/auth/token", json={"username": member.username, "password": "x"}).status_code
        for _ in range(12)
    }
    assert statuses == {401}


# --- GET /me ----------------------------------------------------------------


def test_me_for_a_resident(api, make_community, make_member):
    community = make_community(points_per_yuan=40)
    admin = make_member(community, Role.FUND_ADMIN)
    resident = make_member(community, display_name="王秀兰")
    assert award(api.as_(admin), community, resident, 150).status_code == 201

    response = api.as_(resident).get("/me")

    assert response.status_code == 200
    assert response.json == {
        "id": resident.id,
        "username": resident.username,
        "display_name": "王秀兰",
        "role": "resident",
        "roles": ["resident"],
        "community_id": community.id,
        "merchant_id": None,
        "community": {
            "id": community.id,
            "slug": community.slug,
            "name": community.name,
            "points_per_yuan": 40,
        },
        "wallet": {"points": 150, "value_fen": 375},
    }


def test_me_for_staff_and_platform_admins_has_no_wallet(api, make_community, make_member):
    community = make_community()
    staff = make_member(community, Role.MERCHANT_STAFF)
    admin = make_member(None, Role.PLATFORM_ADMIN)

    as_staff = api.as_(staff).get("/me").json
    as_admin = api.as_(admin).get("/me").json

    assert as_staff["roles"] == ["merchant_staff"]
    assert as_staff["merchant_id"] == staff.merchant_id
    assert as_staff["community"]["slug"] == community.slug
    assert as_staff["wallet"] is None
    assert as_admin["roles"] == ["platform_admin"]
    assert as_admin["community"] is None
    assert as_admin["community_id"] is None
    assert as_admin["wallet"] is None


# --- POST /communities ------------------------------------------------------


@pytest.fixture
def platform(api, make_member, ctx):
    return api.as_(make_member(None, Role.PLATFORM_ADMIN))


@pytest.mark.parametrize("slug", ["Has Space", "UPPER", "-leading", "trailing-", "", "a" * 65])
def test_bad_slugs_are_refused(platform, slug):
    response = platform.post("/communities", json={"slug": slug, "name": "社区"})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert list(response.json["errors"]) == ["json"]
    assert "slug" in response.json["errors"]["json"]


def test_community_needs_a_name_and_a_positive_rate(platform):
    response = platform.post("/communities", json={"slug": unique("c"), "points_per_yuan": 0})
    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {"name", "points_per_yuan"}


def test_community_defaults_and_custom_rate(platform):
    default = platform.post("/communities", json={"slug": unique("c"), "name": "北新社区"})
    custom = platform.post(
        "/communities", json={"slug": unique("c"), "name": "南城社区", "points_per_yuan": 30}
    )
    assert (default.status_code, custom.status_code) == (201, 201)
    assert default.json["points_per_yuan"] == 50
    assert default.json["name"] == "北新社区"
    assert custom.json["points_per_yuan"] == 30
    assert isinstance(default.json["id"], int)
    fetched = platform.get(f"/communities/{custom.json['slug']}")
    assert fetched.json == custom.json


def test_duplicate_slug_is_a_conflict(platform):
    slug = unique("c")
    assert platform.post("/communities", json={"slug": slug, "name": "一"}).status_code == 201
    again = platform.post("/communities", json={"slug": slug, "name": "二"})
    assert again.status_code == 409
    assert again.json["type"] == "urn:jifen:problem:conflict"


# --- POST /communities/{slug}/members ---------------------------------------


@pytest.fixture
def admin_of(api, make_member):
    def make(community):
        return api.as_(make_member(community, Role.FUND_ADMIN))

    return make


def new_member(role, **extra):
    return {
        "username": unique(role),
        "password": "a-long-password",
        "display_name": "新成员",
        "role": role,
        **extra,
    }


@pytest.mark.parametrize("role", ["resident", "organizer"])
def test_fund_admin_adds_members(app, api, make_community, admin_of, role):
    community = make_community()
    body = new_member(role)

    response = admin_of(community).post(f"/communities/{community.slug}/members", json=body)

    assert response.status_code == 201
    created = response.json
    assert created["role"] == role
    assert created["community_id"] == community.id
    assert created["username"] == body["username"]
    assert created["active"] is True
    assert created["merchant_id"] is None
    text = response.get_data(as_text=True)
    assert "password" not in text
    assert body["password"] not in text
    login = anonymous(app).post(
        "/auth/token", json={"username": body["username"], "password": body["password"]}
    )
    assert login.status_code == 201
    assert login.json["user"]["id"] == created["id"]
    assert "password" not in login.get_data(as_text=True)


def test_merchant_staff_need_a_merchant_of_the_same_community(api, make_community, admin_of):
    community, elsewhere = make_community(), make_community()
    admin = admin_of(community)
    path = f"/communities/{community.slug}/members"
    shop = admin.post(
        f"/communities/{community.slug}/merchants", json={"name": "便民超市", "category": "超市"}
    ).json
    other_shop = (
        admin_of(elsewhere)
        .post(
            f"/communities/{elsewhere.slug}/merchants", json={"name": "外地店", "category": "超市"}
        )
        .json
    )
    before = count(Member)

    missing = admin.post(path, json=new_member("merchant_staff"))
    foreign = admin.post(path, json=new_member("merchant_staff", merchant_id=other_shop["id"]))
    unknown = admin.post(path, json=new_member("merchant_staff", merchant_id=999_999_999))
    resident_with_shop = admin.post(path, json=new_member("resident", merchant_id=shop["id"]))

    for response in (missing, foreign, unknown, resident_with_shop):
        assert response.status_code == 422
        assert "merchant_id" in response.json["errors"]["json"]
    assert count(Member) == before

    staff = admin.post(path, json=new_member("merchant_staff", merchant_id=shop["id"]))
    assert staff.status_code == 201
    assert staff.json["merchant_id"] == shop["id"]
    assert staff.json["role"] == "merchant_staff"


def test_short_password_is_refused(api, make_community, admin_of):
    community = make_community()
    admin = admin_of(community)
    before = count(Member)
    body = new_member("resident", password="short")  # noqa: S106
    response = admin.post(f"/communities/{community.slug}/members", json=body)
    assert response.status_code == 422
    assert "password" in response.json["errors"]["json"]
    assert "short" not in response.get_data(as_text=True)
    assert count(Member) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [("username", "has space"), ("username", ""), ("display_name", ""), ("role", "mayor")],
)
def test_member_fields_are_validated(api, make_community, admin_of, field, value):
    community = make_community()
    response = admin_of(community).post(
        f"/communities/{community.slug}/members", json={**new_member("resident"), field: value}
    )
    assert response.status_code == 422
    assert field in response.json["errors"]["json"]


def test_duplicate_username_is_a_conflict(api, make_community, make_member, admin_of):
    community = make_community()
    taken = make_member(community)
    response = admin_of(community).post(
        f"/communities/{community.slug}/members",
        json=new_member("resident", username=taken.username),
    )
    assert response.status_code == 409
    assert "password" not in response.get_data(as_text=True)


def test_member_list_never_shows_passwords(api, make_community, make_member, admin_of):
    community = make_community()
    make_member(community)
    response = admin_of(community).get(f"/communities/{community.slug}/members?role=resident")
    assert response.status_code == 200
    assert [item["role"] for item in response.json["items"]] == ["resident"]
    text = response.get_data(as_text=True)
    assert "password" not in text
    assert "argon2" not in text


# --- POST /communities/{slug}/merchants -------------------------------------


def test_fund_admin_adds_merchants(api, make_community, make_member, admin_of):
    community = make_community()
    admin = admin_of(community)

    shop = {"name": "微街长便民超市", "category": "超市"}
    response = admin.post(f"/communities/{community.slug}/merchants", json=shop)

    assert response.status_code == 201
    merchant = response.json
    assert merchant["name"] == "微街长便民超市"
    assert merchant["category"] == "超市"
    assert merchant["community_id"] == community.id
    accounts = db.session.execute(
        sa.select(Account.kind, Account.balance).where(Account.merchant_id == merchant["id"])
    ).all()
    assert sorted(accounts) == [
        (AccountKind.MERCHANT_RECEIVABLE, 0),
        (AccountKind.WALLET, 0),
    ]
    resident = api.as_(make_member(community))
    listed = resident.get(f"/communities/{community.slug}/merchants")
    assert [m["id"] for m in listed.json["items"]] == [merchant["id"]]

    again = admin.post(f"/communities/{community.slug}/merchants", json=shop)
    assert again.status_code == 409
    invalid = admin.post(f"/communities/{community.slug}/merchants", json={"name": ""})
    assert invalid.status_code == 422
    assert set(invalid.json["errors"]["json"]) == {"name", "category"}


# --- balance and history ----------------------------------------------------


def test_balance_value_at_another_rate_shows_the_remainder(api, make_community, make_member):
    community = make_community(points_per_yuan=30)
    admin = make_member(community, Role.FUND_ADMIN)
    resident = make_member(community)
    assert award(api.as_(admin), community, resident, 100).status_code == 201

    response = api.as_(resident).get(f"/members/{resident.id}/balance")

    # floor(100 * 100 / 30) = 333 fen; 10000 - 333 * 30 = 10 hundredths of a point left.
    assert response.json == {
        "member_id": resident.id,
        "points": 100,
        "value_fen": 333,
        "remainder_centipoints": 10,
        "points_per_yuan": 30,
    }


def test_empty_wallet(api, make_community, make_member):
    resident = make_member(make_community())
    client = api.as_(resident)
    assert client.get(f"/members/{resident.id}/balance").json["points"] == 0
    assert client.get(f"/members/{resident.id}/transactions").json == {
        "items": [],
        "next_cursor": None,
    }


@pytest.fixture
def history(api, make_community, make_member):
    """A resident with five wallet movements: +100, +50, -30, +200, +7."""
    community = make_community()
    admin = api.as_(make_member(community, Role.FUND_ADMIN))
    resident = make_member(community)
    for points in (100, 50, -30, 200, 7):
        assert award(admin, community, resident, points, reason=f"r{points}").status_code == 201
    return resident


def test_history_is_newest_first_with_running_balance(api, history):
    response = api.as_(history).get(f"/members/{history.id}/transactions")

    assert response.status_code == 200
    items = response.json["items"]
    assert [(i["points"], i["balance_after"]) for i in items] == [
        (7, 327),
        (200, 320),
        (-30, 120),
        (50, 150),
        (100, 100),
    ]
    assert [i["kind"] for i in items] == ["award", "award", "deduction", "award", "award"]
    assert [i["memo"] for i in items] == ["r7", "r200", "r-30", "r50", "r100"]
    assert response.json["next_cursor"] is None
    ids = [i["id"] for i in items]
    assert ids == sorted(ids, reverse=True)


def test_history_cursor_walks_every_page_once(api, history):
    client = api.as_(history)
    everything = client.get(f"/members/{history.id}/transactions").json["items"]
    pages, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(f"/members/{history.id}/transactions{query}")
        assert response.status_code == 200
        pages.append(response.json["items"])
        cursor = response.json["next_cursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [2, 2, 1]
    walked = [item for page in pages for item in page]
    assert walked == everything
    assert len({item["id"] for item in walked}) == 5


def cursor_of(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        "%%%",
        cursor_of([1]),
        cursor_of({"after": 3}),
        cursor_of({"before": "3"}),
        cursor_of({"before": 1.5}),
        cursor_of({"before": True}),
        cursor_of({"before": 10**30}),
        cursor_of({"before": -(10**30)}),
    ],
)
def test_a_bad_cursor_is_a_problem(api, history, cursor):
    response = api.as_(history).get(f"/members/{history.id}/transactions?cursor={cursor}")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"] == {"query": {"cursor": ["Invalid."]}}


@pytest.mark.parametrize("limit", ["0", "201", "many"])
def test_a_bad_limit_is_a_problem(api, history, limit):
    response = api.as_(history).get(f"/members/{history.id}/transactions?limit={limit}")
    assert response.status_code == 422
    assert "limit" in response.json["errors"]["query"]


# --- awards -----------------------------------------------------------------


@pytest.fixture
def fund(api, make_community, make_member):
    """A community with two fund admins and a resident."""

    class Fund:
        community = make_community()
        first = api.as_(make_member(community, Role.FUND_ADMIN))
        second = api.as_(make_member(community, Role.FUND_ADMIN))
        resident = make_member(community)
        wallet = api.as_(resident)

    return Fund


def test_award_and_deduction(fund):
    given = award(fund.first, fund.community, fund.resident, 120, "环境卫生整治")
    taken = award(fund.first, fund.community, fund.resident, -20, "重复登记更正")

    assert (given.status_code, taken.status_code) == (201, 201)
    assert given.json["status"] == taken.json["status"] == "posted"
    assert given.json["points"] == 120
    assert given.json["reason"] == "环境卫生整治"
    assert given.json["transaction_id"] is not None
    assert given.json["decided_by_id"] is None
    assert taken.json["points"] == -20
    assert points_of(fund.wallet, fund.resident) == 100


def test_deduction_beyond_the_balance_changes_nothing(fund):
    assert award(fund.first, fund.community, fund.resident, 50).status_code == 201
    awards_before, txns_before = count(Award), count(LedgerTransaction)

    response = award(fund.first, fund.community, fund.resident, -51, "扣分")

    assert response.status_code == 409
    assert response.json["type"] == "urn:jifen:problem:insufficient-balance"
    assert points_of(fund.wallet, fund.resident) == 50
    assert (count(Award), count(LedgerTransaction)) == (awards_before, txns_before)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"points": 0}, "points"),
        ({"points": "10"}, "points"),
        ({"points": 1.5}, "points"),
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"member_id": 999_999_999}, "member_id"),
    ],
)
def test_invalid_awards_are_refused(fund, body, field):
    before = count(Award)
    response = fund.first.post(
        f"/communities/{fund.community.slug}/awards",
        json={"member_id": fund.resident.id, "points": 10, "reason": "理由", **body},
        key=True,
    )
    assert response.status_code == 422
    assert field in response.json["errors"]["json"]
    assert count(Award) == before
    assert points_of(fund.wallet, fund.resident) == 0


def test_awards_go_only_to_wallets_of_this_community(fund, make_community, make_member):
    stranger = make_member(make_community())
    staff = make_member(fund.community, Role.MERCHANT_STAFF)
    for member in (stranger, staff):
        response = award(fund.first, fund.community, member, 10)
        assert response.status_code == 422
        assert "member_id" in response.json["errors"]["json"]


def test_large_award_waits_for_a_second_admin(fund):
    requested = award(fund.first, fund.community, fund.resident, 1001, "大型活动组织")
    assert requested.status_code == 201
    assert requested.json["status"] == "pending"
    assert requested.json["transaction_id"] is None
    assert points_of(fund.wallet, fund.resident) == 0
    award_id = requested.json["id"]

    approved = fund.second.post(f"/awards/{award_id}/approve", key=True)

    assert approved.status_code == 200
    assert approved.json["status"] == "posted"
    assert approved.json["transaction_id"] is not None
    assert approved.json["decided_at"] is not None
    assert points_of(fund.wallet, fund.resident) == 1001

    again = fund.second.post(f"/awards/{award_id}/approve", key=True)
    assert again.status_code == 409
    assert again.json["type"] == "urn:jifen:problem:illegal-award-transition"
    assert points_of(fund.wallet, fund.resident) == 1001
    rejected_late = fund.second.post(f"/awards/{award_id}/reject", key=True)
    assert rejected_late.status_code == 409


def test_the_threshold_itself_posts_at_once(fund):
    response = award(fund.first, fund.community, fund.resident, 1000)
    assert response.json["status"] == "posted"
    deduction = award(fund.first, fund.community, fund.resident, -1001)
    assert deduction.json["status"] == "pending"
    assert points_of(fund.wallet, fund.resident) == 1000


def test_rejected_award_moves_nothing(fund):
    award_id = award(fund.first, fund.community, fund.resident, 5000).json["id"]
    txns_before = count(LedgerTransaction)

    rejected = fund.second.post(f"/awards/{award_id}/reject", key=True)

    assert rejected.status_code == 200
    assert rejected.json["status"] == "rejected"
    assert rejected.json["transaction_id"] is None
    assert points_of(fund.wallet, fund.resident) == 0
    assert count(LedgerTransaction) == txns_before
    late = fund.second.post(f"/awards/{award_id}/approve", key=True)
    assert late.status_code == 409
    assert db.session.get(Award, award_id).status == AwardStatus.REJECTED


def test_approving_a_pending_deduction_beyond_the_balance_fails_cleanly(fund):
    assert award(fund.first, fund.community, fund.resident, 500).status_code == 201
    award_id = award(fund.first, fund.community, fund.resident, -1200).json["id"]

    response = fund.second.post(f"/awards/{award_id}/approve", key=True)

    assert response.status_code == 409
    assert response.json["type"] == "urn:jifen:problem:insufficient-balance"
    db.session.expire_all()
    assert db.session.get(Award, award_id).status == AwardStatus.PENDING
    assert points_of(fund.wallet, fund.resident) == 500


def test_unknown_award_is_not_found(fund):
    assert fund.second.post("/awards/999999999/approve", key=True).status_code == 404


def test_award_list_filters_by_status(fund):
    small = award(fund.first, fund.community, fund.resident, 10).json["id"]
    big = award(fund.first, fund.community, fund.resident, 2000).json["id"]
    bigger = award(fund.first, fund.community, fund.resident, 3000).json["id"]
    assert fund.second.post(f"/awards/{bigger}/reject", key=True).status_code == 200

    pending = fund.first.get(f"/communities/{fund.community.slug}/awards?status=pending")
    everything = fund.first.get(f"/communities/{fund.community.slug}/awards")
    rejected = fund.first.get(f"/communities/{fund.community.slug}/awards?status=rejected")
    bad = fund.first.get(f"/communities/{fund.community.slug}/awards?status=lost")

    assert [a["id"] for a in pending.json["items"]] == [big]
    assert [a["id"] for a in everything.json["items"]] == [bigger, big, small]
    assert [a["id"] for a in rejected.json["items"]] == [bigger]
    assert bad.status_code == 422
    assert "status" in bad.json["errors"]["query"]


def test_award_list_pages(fund):
    ids = [award(fund.first, fund.community, fund.resident, n).json["id"] for n in (1, 2, 3)]
    first = fund.first.get(f"/communities/{fund.community.slug}/awards?limit=2").json
    rest = fund.first.get(
        f"/communities/{fund.community.slug}/awards?limit=2&cursor={first['next_cursor']}"
    ).json
    assert [a["id"] for a in first["items"] + rest["items"]] == ids[::-1]
    assert rest["next_cursor"] is None


def test_awards_need_an_idempotency_key(fund):
    response = fund.first.post(
        f"/communities/{fund.community.slug}/awards",
        json={"member_id": fund.resident.id, "points": 10, "reason": "理由"},
    )
    assert response.status_code == 400
    assert response.json["type"] == "urn:jifen:problem:idempotency-key-required"
    assert points_of(fund.wallet, fund.resident) == 0
