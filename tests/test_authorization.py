"""Who may call what: the role × endpoint matrix, and the rules around it.

Every case runs against a fresh pair of communities. A denied write must leave
the database exactly as it was; an allowed write must change it.
"""

from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa
from support.api import ApiClient, anonymous
from support.books import count
from support.names import unique

from app import auth, awards
from app.authz import POLICY
from app.extensions import db
from models import (
    Account,
    ApiToken,
    AuditEntry,
    Award,
    AwardStatus,
    Community,
    IdempotencyKey,
    LedgerEntry,
    LedgerTransaction,
    Member,
    Merchant,
    PlatformAdminToken,
    PlatformIdempotencyKey,
    Role,
    utcnow,
)

ROLES = (
    "anonymous",
    "resident",
    "organizer",
    "merchant_staff",
    "fund_admin",
    "platform_admin",
    "other_resident",  # a resident of another community
    "other_fund_admin",  # a fund admin of another community
)

#: Expected status per role, in the order of ROLES. Placeholders in paths:
#: {slug} the community, {target} a resident of it, {own} the caller
#: (the target for anonymous callers), {award} a pending award in it.
#: 404 in the last two columns: the object lives in another community; 404 for
#: someone else's wallet for those who may not list members: they cannot tell one exists.
#: 404 for merchant_staff and platform_admin on their {own} wallet: they hold none (a
#: platform admin is no member: {own} is then an id no member has).
MATRIX = {
    #                                            anon  res  org staff fund plat  o-res o-fund
    ("POST", "/communities"):                   (401, 403, 403, 403, 403, 201, 403, 403),
    ("GET", "/communities/{slug}"):             (401, 200, 200, 200, 200, 200, 404, 404),
    # creates a resident: platform admins add a community's fund admins only
    ("POST", "/communities/{slug}/members"):    (401, 403, 403, 403, 201, 403, 404, 404),
    ("GET", "/communities/{slug}/members"):     (401, 403, 200, 403, 200, 200, 404, 404),
    ("POST", "/communities/{slug}/merchants"):  (401, 403, 403, 403, 201, 201, 404, 404),
    ("GET", "/communities/{slug}/merchants"):   (401, 200, 200, 200, 200, 200, 404, 404),
    ("GET", "/members/{own}/balance"):          (401, 200, 200, 404, 200, 404, 200, 200),
    ("GET", "/members/{target}/balance"):       (401, 404, 403, 404, 200, 200, 404, 404),
    ("GET", "/members/{own}/transactions"):     (401, 200, 200, 404, 200, 404, 200, 200),
    ("GET", "/members/{target}/transactions"):  (401, 404, 403, 404, 200, 200, 404, 404),
    ("POST", "/communities/{slug}/awards"):     (401, 403, 403, 403, 201, 403, 404, 404),
    ("GET", "/communities/{slug}/awards"):      (401, 403, 403, 403, 200, 200, 404, 404),
    ("POST", "/awards/{award}/approve"):        (401, 403, 403, 403, 200, 403, 404, 404),
    ("POST", "/awards/{award}/reject"):         (401, 403, 403, 403, 200, 403, 404, 404),
    ("GET", "/communities/{slug}/audit-log"):   (401, 403, 403, 403, 200, 200, 404, 404),
    ("GET", "/me"):                             (401, 200, 200, 200, 200, 200, 200, 200),
    ("DELETE", "/auth/token"):                  (401, 204, 204, 204, 204, 204, 204, 204),
}  # fmt: skip

CASES = [
    pytest.param(method, path, role, expected, id=f"{method} {path} as {role}")
    for (method, path), row in MATRIX.items()
    for role, expected in zip(ROLES, row, strict=True)
]


@dataclass
class World:
    community: Community
    other: Community
    merchant: Merchant
    #: The callers, by role name (no entry for anonymous).
    actors: dict[str, Member]
    #: A resident of ``community`` with points, who is none of the callers.
    target: Member
    #: A fund admin who requested ``pending``; the matrix's fund admin is another one.
    requester: Member
    pending: Award


@pytest.fixture
def world(make_community, make_member):
    community = make_community()
    other = make_community()
    staff = make_member(community, Role.MERCHANT_STAFF)
    actors = {
        "resident": make_member(community),
        "organizer": make_member(community, Role.ORGANIZER),
        "merchant_staff": staff,
        "fund_admin": make_member(community, Role.FUND_ADMIN),
        "platform_admin": make_member(None, Role.PLATFORM_ADMIN),
        "other_resident": make_member(other),
        "other_fund_admin": make_member(other, Role.FUND_ADMIN),
    }
    requester = make_member(community, Role.FUND_ADMIN)
    target = make_member(community)
    awards.request_award(community, target, points=120, reason="环境卫生整治", actor=requester)
    pending = awards.request_award(
        community, target, points=1500, reason="大额奖励", actor=requester
    )
    assert pending.status == AwardStatus.PENDING
    granted_by = {community.id: requester, other.id: actors["other_fund_admin"]}
    for member in actors.values():
        if member.role in (Role.RESIDENT, Role.ORGANIZER, Role.FUND_ADMIN):
            awards.request_award(
                member.community,
                member,
                points=10,
                reason="志愿服务",
                actor=granted_by[member.community_id],
            )
    db.session.flush()
    merchant = db.session.get(Merchant, staff.merchant_id)
    return World(community, other, merchant, actors, target, requester, pending)


def snapshot() -> dict:
    """Everything a write could change, read straight from the database."""

    models = (
        Community,
        Member,
        Merchant,
        Award,
        LedgerTransaction,
        LedgerEntry,
        AuditEntry,
        ApiToken,
        PlatformAdminToken,
        IdempotencyKey,
        PlatformIdempotencyKey,
    )
    return {
        **{model.__tablename__: count(model) for model in models},
        "revoked tokens": count(ApiToken, ApiToken.revoked_at.is_not(None))
        + count(PlatformAdminToken, PlatformAdminToken.revoked_at.is_not(None)),
        "awards": db.session.execute(
            sa.select(Award.id, Award.status, Award.decided_by_id).order_by(Award.id)
        ).all(),
        "balances": db.session.execute(
            sa.select(Account.id, Account.balance).order_by(Account.id)
        ).all(),
    }


def body_for(method: str, path: str, world: World):
    if method != "POST":
        return None
    if path == "/communities":
        return {"slug": unique("new"), "name": "新社区"}
    if path.endswith("/members"):
        return {
            "username": unique("new"),
            "password": "long-enough-1",
            "display_name": "新居民",
            "role": "resident",
        }
    if path.endswith("/merchants"):
        return {"name": unique("shop"), "category": "餐饮"}
    if path.endswith("/awards"):
        return {"member_id": world.target.id, "points": 10, "reason": "垃圾分类"}
    return None


def client_for(api: ApiClient, app, world: World, role: str) -> ApiClient:
    if role == "anonymous":
        return anonymous(app)
    return api.as_(world.actors[role])


@pytest.mark.parametrize(("method", "path", "role", "expected"), CASES)
def test_role_endpoint_matrix(app, api, world, method, path, role, expected):
    caller = world.actors.get(role, world.target)
    own = caller.id if isinstance(caller, Member) else db.session.scalar(sa.func.max(Member.id)) + 1
    url = path.format(
        slug=world.community.slug, target=world.target.id, own=own, award=world.pending.id
    )
    client = client_for(api, app, world, role)
    before = snapshot()

    response = client.request(method, url, json=body_for(method, path, world), key=True)

    assert response.status_code == expected, response.get_json()
    after = snapshot()
    if expected >= 400:
        assert response.mimetype == "application/problem+json"
        assert response.json["status"] == expected
        assert after == before, "a denied request changed the database"
    elif method != "GET":
        assert after != before, "an allowed write changed nothing"
    else:
        assert after == before
    if expected == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("hidden", "missing"),
    [
        ("/communities/{slug}", "/communities/no-such-community"),
        ("/communities/{slug}/members", "/communities/no-such-community/members"),
        ("/members/{target}/balance", "/members/999999999/balance"),
        ("/awards/{award}/approve", "/awards/999999999/approve"),
    ],
)
def test_another_communitys_objects_look_exactly_like_missing_ones(api, world, hidden, missing):
    """A 404 for another community's object must not reveal that it exists."""
    client = api.as_(world.actors["other_fund_admin"])
    values = {"slug": world.community.slug, "target": world.target.id, "award": world.pending.id}
    method = "POST" if hidden.endswith("/approve") else "GET"

    seen = client.request(method, hidden.format(**values), key=True)
    unseen = client.request(method, missing, key=True)

    assert seen.status_code == unseen.status_code == 404
    hidden_value = str(next(v for k, v in values.items() if f"{{{k}}}" in hidden))
    missing_value = "no-such-community" if "no-such-community" in missing else "999999999"
    assert seen.json["detail"].replace(hidden_value, "X") == unseen.json["detail"].replace(
        missing_value, "X"
    )
    assert {**seen.json, "detail": None} == {**unseen.json, "detail": None}


def test_platform_admin_reads_every_community(api, world, make_member):
    admin = api.as_(world.actors["platform_admin"])
    other_resident = world.actors["other_resident"]
    for community in (world.community, world.other):
        assert admin.get(f"/communities/{community.slug}").status_code == 200
        members = admin.get(f"/communities/{community.slug}/members")
        assert members.status_code == 200
        assert members.json["items"]
        assert admin.get(f"/communities/{community.slug}/awards").status_code == 200
    balance = admin.get(f"/members/{other_resident.id}/balance")
    assert balance.status_code == 200
    assert balance.json["points"] == 10
    history = admin.get(f"/members/{world.target.id}/transactions")
    assert [line["points"] for line in history.json["items"]] == [120]


def test_platform_admin_creates_communities_and_their_fund_admins(api, world):
    admin = api.as_(world.actors["platform_admin"])
    slug = unique("district")
    created = admin.post("/communities", json={"slug": slug, "name": "新建社区"})
    assert created.status_code == 201
    fund = admin.post(
        f"/communities/{slug}/members",
        json={
            "username": unique("fund"),
            "password": "long-enough-1",
            "display_name": "主任",
            "role": "fund_admin",
        },
    )
    assert fund.status_code == 201
    assert fund.json["role"] == "fund_admin"
    assert fund.json["community_id"] == created.json["id"]

    # ...and the new fund admin runs their community from there.
    new_admin = db.session.get(Member, fund.json["id"])
    resident = api.as_(new_admin).post(
        f"/communities/{slug}/members",
        json={
            "username": unique("res"),
            "password": "long-enough-1",
            "display_name": "居民",
            "role": "resident",
        },
    )
    assert resident.status_code == 201


@pytest.mark.parametrize("role", ["resident", "organizer", "merchant_staff"])
def test_platform_admin_creates_no_one_but_fund_admins(api, world, role):
    admin = api.as_(world.actors["platform_admin"])
    body = {
        "username": unique("x"),
        "password": "long-enough-1",
        "display_name": "某人",
        "role": role,
    }
    if role == "merchant_staff":
        body["merchant_id"] = world.merchant.id
    before = snapshot()
    response = admin.post(f"/communities/{world.community.slug}/members", json=body)
    assert response.status_code == 403
    assert snapshot() == before


def test_platform_admin_cannot_award_or_decide(api, world):
    admin = api.as_(world.actors["platform_admin"])
    before = snapshot()
    award = admin.post(
        f"/communities/{world.community.slug}/awards",
        json={"member_id": world.target.id, "points": 5, "reason": "测试"},
        key=True,
    )
    approve = admin.post(f"/awards/{world.pending.id}/approve", key=True)
    assert (award.status_code, approve.status_code) == (403, 403)
    assert snapshot() == before


def test_the_requester_cannot_approve_their_own_award_but_a_second_admin_can(api, world):
    requester = api.as_(world.requester)
    before = snapshot()
    own = requester.post(f"/awards/{world.pending.id}/approve", key=True)
    assert own.status_code == 403
    assert own.json["type"] == "urn:jifen:problem:second-admin-required"
    assert snapshot() == before

    balance_before = api.as_(world.target).get(f"/members/{world.target.id}/balance").json
    second = api.as_(world.actors["fund_admin"]).post(
        f"/awards/{world.pending.id}/approve", key=True
    )
    assert second.status_code == 200
    assert second.json["status"] == "posted"
    assert second.json["decided_by_id"] == world.actors["fund_admin"].id
    balance_after = api.as_(world.target).get(f"/members/{world.target.id}/balance").json
    assert balance_after["points"] == balance_before["points"] + 1500


def test_the_requester_cannot_reject_their_own_award_either(api, world):
    response = api.as_(world.requester).post(f"/awards/{world.pending.id}/reject", key=True)
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(Award, world.pending.id).status == AwardStatus.PENDING


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
def test_nobody_creates_a_platform_admin_through_the_api(api, world, role):
    client = api.as_(world.actors[role])
    before = snapshot()
    response = client.post(
        f"/communities/{world.community.slug}/members",
        json={
            "username": unique("boss"),
            "password": "long-enough-1",
            "display_name": "Boss",
            "role": "platform_admin",
        },
    )
    assert response.status_code == (404 if role.startswith("other_") else 403)
    assert snapshot() == before


def test_a_revoked_token_is_refused(api, world):
    member = world.actors["resident"]
    client, spare = api.as_(member), api.as_(member)
    assert client.get("/me").status_code == 200

    assert client.delete("/auth/token").status_code == 204

    refused = client.get("/me")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.delete("/auth/token").status_code == 401
    # Revoking one token leaves the member's other sessions alone.
    assert spare.get("/me").status_code == 200


def test_an_expired_token_is_refused(app, api, world):
    secret, token = auth.issue_token(world.actors["fund_admin"])
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    response = ApiClient(app.test_client(), secret).get(f"/communities/{world.community.slug}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_disabled_members_token_is_refused(app, api, world):
    member = world.actors["fund_admin"]
    client = api.as_(member)
    assert client.get("/me").status_code == 200
    member.active = False
    db.session.flush()
    before = snapshot()
    response = client.post(
        f"/communities/{world.community.slug}/awards",
        json={"member_id": world.target.id, "points": 5, "reason": "测试"},
        key=True,
    )
    assert response.status_code == 401
    assert snapshot() == before
    login = ApiClient(app.test_client()).post(
        "/auth/token", json={"username": member.username, "password": "password-1"}
    )
    assert login.status_code == 401


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer jf_not-a-real-token", "Token abc"],
)
def test_anything_but_a_valid_bearer_token_is_refused(app, ctx, header):
    response = app.test_client().get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def api_views(app):
    """(rule, method, view) for every API route under /api/v1."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.rule, method, app.view_functions[rule.endpoint]


def test_every_api_view_declares_its_action(app):
    views = list(api_views(app))
    assert len(views) >= 15
    undeclared = [
        f"{method} {rule}"
        for rule, method, view in views
        if not hasattr(view, "required_action") and (method, rule) != ("POST", "/api/v1/auth/token")
    ]
    assert undeclared == [], "views without @requires(...)"
    for _rule, _method, view in views:
        if hasattr(view, "required_action"):
            assert view.required_action in POLICY


def test_every_matrix_row_is_a_real_route(app):
    """The matrix cannot silently test paths that no longer exist."""
    routes = {(method, rule.removeprefix("/api/v1")) for rule, method, _view in api_views(app)}
    placeholders = {
        "{slug}": "<slug>",
        "{own}": "<int:member_id>",
        "{target}": "<int:member_id>",
        "{award}": "<int:award_id>",
    }
    for method, path in MATRIX:
        for placeholder, converter in placeholders.items():
            path = path.replace(placeholder, converter)
        assert (method, path) in routes
