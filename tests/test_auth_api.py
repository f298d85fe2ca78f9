"""Signing in on the API (design.md §9): a token for good credentials, one refusal
for a wrong password or an unknown user, the limit on attempts, and who the caller is."""

from contextlib import ExitStack

import pytest
import sqlalchemy as sa
from support.api import ApiClient, anonymous, award
from support.apps import login_limited
from support.books import count
from support.names import unique

from app.extensions import db
from models import ApiToken, Role

PASSWORD = "password-1"  # noqa: S105 - what make_member gives everyone


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
    assert wrong.json["detail"] == "用户名或密码不正确。"
    assert wrong.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]
    assert count(ApiToken, ApiToken.member_id == member.id) == 0


def test_token_request_needs_both_fields(app, api):
    response = anonymous(app).post("/auth/token", json={"username": "someone"})
    assert response.status_code == 422
    assert "password" in response.json["errors"]["json"]


@pytest.fixture
def rate_limited_app(database_url):
    """An app with login rate limiting on (the session's app has it off)."""
    with login_limited(database_url, "3 per minute") as app:
        yield app


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
    address = unique("198.51.100.1")

    def login(worker):
        return worker.test_client().post(
            "/api/v1/auth/token",
            json={"username": member.username, "password": "wrong-password"},
            environ_base={"REMOTE_ADDR": address},
        )

    with ExitStack() as stack:
        workers = [
            stack.enter_context(login_limited(database_url, "2 per minute", REDIS_URL))
            for _worker in range(2)
        ]
        statuses = [login(worker).status_code for worker in (*workers, workers[0])]

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
