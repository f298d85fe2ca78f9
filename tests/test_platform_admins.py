"""Platform admins are kept apart from the members of communities: their own table,
tokens and form keys, one directory of usernames across both, and audit entries kept
in the community they acted in."""

import pytest
import sqlalchemy as sa
from support.concurrency import concurrently, new_community, post
from support.coupons import issued_coupon
from support.names import unique
from support.pages import sign_in

from app import auth, communities
from app.extensions import db
from models import (
    AuditEntry,
    Member,
    PlatformAdmin,
    PlatformAdminToken,
    Role,
    TokenDigest,
    Username,
)


def platform_admin_with_id(ident: int, password: str = "district-pass") -> PlatformAdmin:
    """A platform admin whose id is ``ident``: the two tables draw ids apart, so one
    and a member may share an id."""
    username = unique("district")
    db.session.add(Username(username=username, community_id=None))
    db.session.flush()
    admin = PlatformAdmin(
        id=ident,
        username=username,
        password_hash=auth.hash_password(password),
        display_name="区运营 Operator",
    )
    db.session.add(admin)
    db.session.flush()
    return admin


def test_a_platform_admin_is_no_member_of_any_community(api, make_community, make_member):
    community = make_community()
    fund_admin = make_member(community, Role.FUND_ADMIN)
    platform = make_member(None, Role.PLATFORM_ADMIN)

    listed = api.as_(fund_admin).get(f"/communities/{community.slug}/members?limit=200")

    assert isinstance(platform, PlatformAdmin)
    assert platform.username not in {m["username"] for m in listed.json["items"]}
    assert db.session.scalar(sa.select(Member).where(Member.username == platform.username)) is None
    assert db.session.get(Username, platform.username).community_id is None


def test_one_username_across_communities_and_platform_admins(api, make_community, make_member):
    first, second = make_community(), make_community()
    taken = make_member(first).username
    platform = make_member(None, Role.PLATFORM_ADMIN)
    fund_admin = make_member(second, Role.FUND_ADMIN)
    body = {"password": "password-1", "display_name": "重名 Same", "role": "resident"}

    for username in (taken, platform.username):
        refused = api.as_(fund_admin).post(
            f"/communities/{second.slug}/members", json={**body, "username": username}
        )
        assert refused.status_code == 409
        assert refused.json["type"] == "urn:jifen:problem:username-taken"
    with pytest.raises(communities.UsernameTaken):
        make_member(None, Role.PLATFORM_ADMIN, username=taken)
    assert db.session.scalar(sa.select(sa.func.count()).where(Member.username == taken)) == 1


def test_a_platform_admin_and_a_member_of_one_id_stay_apart(app, api, make_community, make_member):
    """Their tokens, page sessions and the check on acting on oneself tell them apart."""
    community = make_community()
    fund_admin = make_member(community, Role.FUND_ADMIN)
    platform = platform_admin_with_id(fund_admin.id)

    as_member, as_platform = api.as_(fund_admin), api.as_(platform)
    assert as_member.get("/me").json["roles"] == ["fund_admin"]
    assert as_platform.get("/me").json["roles"] == ["platform_admin"]

    communities.set_member_active(fund_admin, False, actor=platform)
    assert fund_admin.active is False

    client = app.test_client()
    assert sign_in(client, platform.username, "district-pass").status_code == 302
    with client.session_transaction() as session:
        assert session["_user_id"] == platform.get_id()
        assert platform.get_id().startswith("p")
    assert client.get("/platform/communities").status_code == 200


def test_a_platform_admin_of_a_residents_id_does_not_see_the_coupons_code(
    api, make_community, make_member
):
    """Only its holder is shown a coupon's code and token: not a platform admin who
    reads the holder's coupons and happens to have the holder's id."""
    community = make_community()
    fund_admin = make_member(community, Role.FUND_ADMIN)
    resident = make_member(community)
    coupon = issued_coupon(community, fund_admin, resident)
    platform = platform_admin_with_id(resident.id)

    for reader, holder in ((api.as_(platform), False), (api.as_(resident), True)):
        listed = reader.get(f"/members/{resident.id}/coupons")
        assert listed.status_code == 200
        (shown,) = [c for c in listed.json["items"] if c["id"] == coupon.id]
        assert (shown["code"] == coupon.code) is holder
        assert (shown["token"] is not None) is holder


def test_a_platform_admins_token_lives_apart_and_is_revoked(api, make_member):
    platform = make_member(None, Role.PLATFORM_ADMIN)
    client = api.as_(platform)
    digest = auth.token_digest(client.token)

    assert db.session.get(TokenDigest, digest).community_id is None
    assert client.delete("/auth/token").status_code == 204
    token = db.session.scalar(
        sa.select(PlatformAdminToken).where(PlatformAdminToken.digest == digest)
    )
    assert token.revoked_at is not None
    assert client.get("/me").status_code == 401


def test_a_new_community_is_audited_in_itself_by_its_platform_admin(api, client, make_member):
    platform = make_member(None, Role.PLATFORM_ADMIN, password="password-1")
    slug = unique("new")

    made = api.as_(platform).post(
        "/communities", json={"slug": slug, "name": "新社区", "points_per_yuan": 50}
    )

    assert made.status_code == 201
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "community.create"))
    assert (entry.community_id, entry.target_id) == (made.json["id"], made.json["id"])
    assert (entry.actor_id, entry.platform_admin_id) == (None, platform.id)


def test_the_audit_page_names_the_platform_admin(client, make_community, make_member):
    community = make_community()
    fund_admin = make_member(community, Role.FUND_ADMIN, password="password-1")
    platform = make_member(None, Role.PLATFORM_ADMIN, display_name="区运营 Operator")
    db.session.add(
        AuditEntry(
            community_id=community.id,
            platform_admin_id=platform.id,
            action="member.create",
            method="POST",
            path=f"/api/v1/communities/{community.slug}/members",
            status_code=201,
        )
    )
    db.session.flush()
    client.get("/lang/en")
    sign_in(client, fund_admin.username)

    page = client.get("/admin/audit").get_data(as_text=True)

    assert "区运营 Operator (Platform admin)" in page


@pytest.mark.postgres
def test_one_username_taken_at_once_in_two_communities_goes_to_one(pg):
    """The directory's key settles it: one member made, the other request refused."""
    first, second = new_community(), new_community()
    username = unique("same")
    body = {
        "username": username,
        "password": "password-1",
        "display_name": "同名",
        "role": "resident",
    }
    requests = [
        post(f"/api/v1/communities/{setup.slug}/members", body, setup.token)
        for setup in (first, second) * 4
    ]

    replies = concurrently(pg, requests)

    assert sorted(reply.status for reply in replies) == [201] + [409] * 7
    db.session.expire_all()
    owner = db.session.get(Username, username)
    member = db.session.scalar(sa.select(Member).where(Member.username == username))
    assert (member.community_id, member.username) == (owner.community_id, username)
