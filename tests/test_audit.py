"""Every admin write leaves exactly one audit row; reads and failures leave none."""

import pytest
import sqlalchemy as sa
from support.names import unique

from app.extensions import db
from models import AuditEntry, Community, Role


def audit_rows():
    return db.session.execute(sa.select(AuditEntry).order_by(AuditEntry.id)).scalars().all()


@pytest.fixture
def setting(api, make_community, make_member):
    class Setting:
        community = make_community()
        platform = make_member(None, Role.PLATFORM_ADMIN)
        fund = make_member(community, Role.FUND_ADMIN)
        second = make_member(community, Role.FUND_ADMIN)
        resident = make_member(community)

    return Setting


def pending_award(api, setting) -> int:
    response = api.as_(setting.fund).post(
        f"/communities/{setting.community.slug}/awards",
        json={"member_id": setting.resident.id, "points": 5000, "reason": "大额"},
        key=True,
    )
    assert response.json["status"] == "pending"
    return response.json["id"]


def write(api, setting, name):
    """Perform one audited write; return (actor, method, path, response)."""
    slug = setting.community.slug
    if name == "community.create":
        actor, method, path = setting.platform, "POST", "/communities"
        body = {"slug": unique("c"), "name": "新社区"}
    elif name == "member.create":
        actor, method, path = setting.fund, "POST", f"/communities/{slug}/members"
        body = {
            "username": unique("m"),
            "password": "long-enough-1",
            "display_name": "新人",
            "role": "resident",
        }
    elif name == "merchant.create":
        actor, method, path = setting.fund, "POST", f"/communities/{slug}/merchants"
        body = {"name": unique("shop"), "category": "餐饮"}
    elif name == "award.create":
        actor, method, path = setting.fund, "POST", f"/communities/{slug}/awards"
        body = {"member_id": setting.resident.id, "points": 10, "reason": "清扫"}
    else:
        verb = name.split(".")[1]
        award_id = pending_award(api, setting)
        actor, method, path = setting.second, "POST", f"/awards/{award_id}/{verb}"
        body = None
    response = api.as_(actor).request(
        method, path, json=body, key=True, headers={"User-Agent": "jifen-tests/1.0"}
    )
    return actor, method, "/api/v1" + path, response


@pytest.mark.parametrize(
    "name",
    [
        "community.create",
        "member.create",
        "merchant.create",
        "award.create",
        "award.approve",
        "award.reject",
    ],
)
def test_each_admin_write_leaves_one_audit_row(api, setting, name):
    before = {row.id for row in audit_rows()}
    actor, method, path, response = write(api, setting, name)
    assert response.status_code in (200, 201), response.json

    new = [row for row in audit_rows() if row.id not in before]
    if name in ("award.approve", "award.reject"):
        # The pending award it decides was itself an audited write.
        requested, new = new[:-1], new[-1:]
        assert [row.action for row in requested] == ["award.create"]
    assert len(new) == 1
    row = new[0]
    if actor.role == Role.PLATFORM_ADMIN:
        assert (row.actor_id, row.platform_admin_id) == (None, actor.id)
    else:
        assert (row.actor_id, row.platform_admin_id) == (actor.id, None)
    assert row.community_id is not None
    assert row.action == ("award.decide" if name in ("award.approve", "award.reject") else name)
    assert row.method == method
    assert row.path == path
    assert row.status_code == response.status_code
    assert row.target_id == response.json["id"]
    assert row.remote_addr == "127.0.0.1"
    assert row.user_agent == "jifen-tests/1.0"
    assert row.created_at is not None
    if name == "community.create":
        assert db.session.get(Community, row.target_id).slug == response.json["slug"]
    else:
        assert row.community_id == setting.community.id


def test_reads_leave_no_audit_rows(api, setting):
    slug = setting.community.slug
    fund, platform = api.as_(setting.fund), api.as_(setting.platform)
    before = len(audit_rows())
    for client, path in [
        (fund, "/me"),
        (fund, f"/communities/{slug}"),
        (fund, f"/communities/{slug}/members"),
        (fund, f"/communities/{slug}/merchants"),
        (fund, f"/communities/{slug}/awards"),
        (fund, f"/members/{setting.resident.id}/balance"),
        (fund, f"/members/{setting.resident.id}/transactions"),
        (platform, f"/communities/{slug}/members"),
    ]:
        assert client.get(path).status_code == 200, path
    assert len(audit_rows()) == before


def test_failed_writes_leave_no_audit_rows(api, setting, make_community, make_member):
    slug = setting.community.slug
    award_id = pending_award(api, setting)
    fund, resident = api.as_(setting.fund), api.as_(setting.resident)
    stranger = api.as_(make_member(make_community(), Role.FUND_ADMIN))
    # Nothing awarded to them today, so a deduction goes straight to the ledger.
    penniless = make_member(setting.community)
    before = len(audit_rows())

    attempts = [
        # not allowed
        (resident, "POST", f"/communities/{slug}/merchants", {"name": "店", "category": "c"}, 403),
        (stranger, "POST", f"/communities/{slug}/members", {}, 404),
        (fund, "POST", f"/awards/{award_id}/approve", None, 403),  # requested it themselves
        # invalid
        (
            fund,
            "POST",
            f"/communities/{slug}/members",
            {"username": unique("m"), "password": "short", "display_name": "x", "role": "resident"},
            422,
        ),
        (
            fund,
            "POST",
            f"/communities/{slug}/awards",
            {"member_id": setting.resident.id, "points": 0, "reason": "零"},
            422,
        ),
        (api.as_(setting.platform), "POST", "/communities", {"slug": slug, "name": "重复"}, 409),
        # refused by the ledger
        (
            fund,
            "POST",
            f"/communities/{slug}/awards",
            {"member_id": penniless.id, "points": -1, "reason": "扣"},
            409,
        ),
    ]
    for client, method, path, body, status in attempts:
        response = client.request(method, path, json=body, key=True)
        assert response.status_code == status, (path, response.json)

    assert len(audit_rows()) == before


def test_a_replayed_retry_leaves_no_second_row(api, setting):
    fund = api.as_(setting.fund)
    path = f"/communities/{setting.community.slug}/awards"
    body = {"member_id": setting.resident.id, "points": 10, "reason": "清扫"}
    before = len(audit_rows())

    first = fund.post(path, json=body, key="retry-me")
    retry = fund.post(path, json=body, key="retry-me")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json == first.json
    assert [row.target_id for row in audit_rows()[before:]] == [first.json["id"]]
