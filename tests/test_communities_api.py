"""Communities, their members and their merchants on the API (design.md §9): who
adds them, what is validated, and that no password ever shows."""

import pytest
import sqlalchemy as sa
from support.api import anonymous
from support.books import count
from support.names import unique

from app import communities
from app.extensions import db
from models import Account, AccountKind, Member, Role

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
    assert again.json["type"] == "urn:jifen:problem:slug-taken"


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


def test_only_a_platform_admin_makes_a_fund_admin(api, make_community, admin_of):
    community = make_community()
    admin = admin_of(community)
    before = count(Member)

    response = admin.post(f"/communities/{community.slug}/members", json=new_member("fund_admin"))

    assert response.status_code == 403
    assert response.json["type"] == "urn:jifen:problem:fund-admins-are-platform-work"
    assert count(Member) == before


def test_platform_admins_add_fund_admins_only_and_nobody_adds_platform_admins(
    platform, make_community, admin_of
):
    community = make_community()
    fund_admin = admin_of(community)
    path = f"/communities/{community.slug}/members"
    before = count(Member)

    resident = platform.post(path, json=new_member("resident"))
    platform_admin = fund_admin.post(path, json=new_member("platform_admin"))

    assert resident.status_code == platform_admin.status_code == 403
    assert resident.json["type"] == "urn:jifen:problem:fund-admins-only-by-platform"
    assert platform_admin.json["type"] == "urn:jifen:problem:platform-admin-by-command-only"
    assert count(Member) == before
    assert platform.post(path, json=new_member("fund_admin")).status_code == 201


def test_only_platform_admins_belong_to_no_community(make_community):
    """Not reachable through the API, which always names a community: the domain's own check."""
    member = dict(password="a-long-password", display_name="新成员")
    with pytest.raises(communities.CommunityMismatch):
        communities.create_member(None, username=unique("r"), role=Role.RESIDENT, **member)
    with pytest.raises(communities.CommunityMismatch):
        communities.create_member(
            make_community(), username=unique("p"), role=Role.PLATFORM_ADMIN, **member
        )


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
    assert response.json["type"] == "urn:jifen:problem:username-taken"
    assert response.json["detail"] == f"用户名“{taken.username}”已被占用。"
    assert "password" not in response.get_data(as_text=True)
    english = admin_of(community).post(
        f"/communities/{community.slug}/members",
        json=new_member("resident", username=taken.username),
        headers={"Accept-Language": "en"},
    )
    assert english.json["title"] == "Username taken"
    assert english.json["detail"] == f"The username '{taken.username}' is taken."


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
    assert again.json["type"] == "urn:jifen:problem:merchant-name-taken"
    invalid = admin.post(f"/communities/{community.slug}/merchants", json={"name": ""})
    assert invalid.status_code == 422
    assert set(invalid.json["errors"]["json"]) == {"name", "category"}
