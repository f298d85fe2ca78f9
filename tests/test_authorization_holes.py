"""Authorization and business rules a probe got past: four eyes by one person,
split or capped awards escaping review, a cashier re-activating a retired shop,
member ids enumerable, and refusals that named a database constraint."""

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import IntegrityError
from support.apps import TEST_CONFIG
from support.names import unique

from app import create_app
from app.extensions import db
from models import Award, AwardStatus, Member, Merchant, Role


def award(client, community, member, points, reason="志愿服务"):
    return client.post(
        f"/communities/{community.slug}/awards",
        json={"member_id": member.id, "points": points, "reason": reason},
        key=True,
    )


def balance(client, member) -> int:
    return client.get(f"/members/{member.id}/balance").json["points"]


# --- 1. four eyes -------------------------------------------------------------


def test_a_fund_admin_cannot_make_another_fund_admin(api, make_community, make_member):
    community = make_community()
    admin = make_member(community, Role.FUND_ADMIN)
    body = {
        "username": unique("accomplice"),
        "password": "long-enough-1",
        "display_name": "帮手",
        "role": "fund_admin",
    }

    response = api.as_(admin).post(f"/communities/{community.slug}/members", json=body)

    assert response.status_code == 403
    assert response.json["type"] == "urn:jifen:problem:fund-admins-are-platform-work"
    assert db.session.scalar(sa.select(Member).where(Member.username == body["username"])) is None
    platform = make_member(None, Role.PLATFORM_ADMIN)
    made = api.as_(platform).post(f"/communities/{community.slug}/members", json=body)
    assert made.status_code == 201
    made_member = db.session.get(Member, made.json["id"])
    assert (made_member.created_by_id, made_member.created_by_platform_admin_id) == (
        None,
        platform.id,
    )


def test_members_record_who_created_them(api, make_community, make_member):
    community = make_community()
    admin = make_member(community, Role.FUND_ADMIN)
    body = {"username": unique("r"), "password": "long-enough-1", "display_name": "居民"}

    response = api.as_(admin).post(
        f"/communities/{community.slug}/members", json={**body, "role": "resident"}
    )

    assert db.session.get(Member, response.json["id"]).created_by_id == admin.id


def test_an_account_the_requester_created_cannot_approve(api, make_community, make_member):
    community = make_community(award_approval_threshold=100)
    requester = make_member(community, Role.FUND_ADMIN)
    # Made by the requester before fund admins were the platform's to make.
    accomplice = make_member(community, Role.FUND_ADMIN)
    accomplice.created_by_id = requester.id
    second = make_member(community, Role.FUND_ADMIN)
    resident = make_member(community)
    pending = award(api.as_(requester), community, resident, 5000).json
    assert pending["status"] == "pending"

    refused = api.as_(accomplice).post(f"/awards/{pending['id']}/approve", key=True)

    assert refused.status_code == 403
    assert refused.json["type"] == "urn:jifen:problem:second-admin-required"
    assert db.session.get(Award, pending["id"]).status == AwardStatus.PENDING
    assert balance(api.as_(second), resident) == 0
    approved = api.as_(second).post(f"/awards/{pending['id']}/approve", key=True)
    assert approved.json["status"] == "posted"
    assert balance(api.as_(second), resident) == 5000


def test_small_awards_to_one_member_in_a_day_add_up_to_the_threshold(
    api, make_community, make_member
):
    community = make_community(award_approval_threshold=1000)
    admin = api.as_(make_member(community, Role.FUND_ADMIN))
    resident, neighbour = make_member(community), make_member(community)

    statuses = [award(admin, community, resident, 300).json["status"] for _ in range(4)]

    assert statuses == ["posted", "posted", "posted", "pending"]
    assert balance(admin, resident) == 900
    # Deductions count by their size; another member's day is their own.
    assert award(admin, community, resident, -150).json["status"] == "pending"
    assert award(admin, community, neighbour, 1000).json["status"] == "posted"


def test_a_rejected_award_no_longer_counts_toward_the_day(api, make_community, make_member):
    community = make_community(award_approval_threshold=1000)
    requester = api.as_(make_member(community, Role.FUND_ADMIN))
    second = api.as_(make_member(community, Role.FUND_ADMIN))
    resident = make_member(community)
    pending = award(requester, community, resident, 5000).json
    second.post(f"/awards/{pending['id']}/reject", key=True)

    assert award(requester, community, resident, 800).json["status"] == "posted"


def test_an_award_past_the_monthly_cap_needs_a_second_admin(api, make_community, make_member):
    community = make_community(award_approval_threshold=100_000, monthly_earning_cap=500)
    requester = api.as_(make_member(community, Role.FUND_ADMIN))
    second = api.as_(make_member(community, Role.FUND_ADMIN))
    resident = make_member(community)

    first = award(requester, community, resident, 400).json
    over = award(requester, community, resident, 200).json

    assert (first["status"], over["status"]) == ("posted", "pending")
    assert balance(requester, resident) == 400
    assert second.post(f"/awards/{over['id']}/approve", key=True).json["status"] == "posted"
    assert balance(requester, resident) == 600


# --- 2. a shop's governance ---------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"active": True}, {"name": "新名字"}, {"category": "别的"}, {"phone": "1", "active": True}],
)
def test_a_cashier_cannot_change_governance_fields(api, make_community, make_member, change):
    community = make_community()
    admin = api.as_(make_member(community, Role.FUND_ADMIN))
    cashier = make_member(community, Role.MERCHANT_STAFF)
    shop = db.session.get(Merchant, cashier.merchant_id)
    assert admin.patch(f"/merchants/{shop.id}", json={"active": False}).json["active"] is False
    name = shop.name

    response = api.as_(cashier).patch(f"/merchants/{shop.id}", json=change)

    assert response.status_code == 403
    assert response.json["type"] == "urn:jifen:problem:governed-by-fund-admins"
    db.session.refresh(shop)
    assert (shop.active, shop.name, shop.phone) == (False, name, "")


def test_a_cashier_edits_the_shops_profile(api, make_community, make_member):
    community = make_community()
    cashier = make_member(community, Role.MERCHANT_STAFF)

    response = api.as_(cashier).patch(
        f"/merchants/{cashier.merchant_id}",
        json={"opening_hours": "每天 8:00–21:00", "phone": "010-1234", "address": "北新街 1 号"},
    )

    assert response.status_code == 200
    assert (response.json["opening_hours"], response.json["phone"]) == (
        "每天 8:00–21:00",
        "010-1234",
    )


# --- 4. enumeration -----------------------------------------------------------


def _same_as_missing(response, missing):
    assert response.status_code == missing.status_code == 404
    body, expected = response.json, missing.json
    assert {k: body[k] for k in ("type", "title", "status")} == {
        k: expected[k] for k in ("type", "title", "status")
    }


@pytest.mark.parametrize("suffix", ["balance", "transactions", "pay-code", "code"])
def test_a_resident_cannot_tell_a_neighbour_from_nobody(api, make_community, make_member, suffix):
    community = make_community()
    resident = api.as_(make_member(community))
    neighbour = make_member(community)
    stranger = make_member(make_community())
    missing_id = max(neighbour.id, stranger.id) + 10_000

    missing = resident.get(f"/members/{missing_id}/{suffix}")
    for other in (neighbour, stranger):
        seen = resident.get(f"/members/{other.id}/{suffix}")
        _same_as_missing(seen, missing)
        assert seen.json["detail"] == missing.json["detail"].replace(str(missing_id), str(other.id))


# --- 5. refusals people can read ----------------------------------------------


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_deciding_a_decided_award_is_a_named_refusal(api, make_community, make_member, decision):
    community = make_community(award_approval_threshold=100)
    requester = api.as_(make_member(community, Role.FUND_ADMIN))
    second = api.as_(make_member(community, Role.FUND_ADMIN))
    resident = make_member(community)
    pending = award(requester, community, resident, 500).json
    second.post(f"/awards/{pending['id']}/approve", key=True)

    for caller in (requester, second):
        response = caller.post(f"/awards/{pending['id']}/{decision}", key=True)
        assert response.status_code == 409
        assert response.json["type"] == "urn:jifen:problem:illegal-award-transition"
        text = response.get_data(as_text=True)
        assert "ck_" not in text and "constraint" not in text.lower()
    assert balance(second, resident) == 500


def test_a_database_refusal_names_no_constraint(database_url):
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url})

    @app.route("/api/v1/_refused")
    def refused():
        raise IntegrityError(
            "INSERT ...", {}, Exception('violates check constraint "ck_awards_four_eyes"')
        )

    @app.route("/_refused_page")
    def refused_page():
        return refused()

    assert isinstance(app, Flask)
    with app.test_client() as client:
        api_response = client.get("/api/v1/_refused")
        page = client.get("/_refused_page")
    assert api_response.status_code == page.status_code == 409
    assert api_response.json["type"] == "urn:jifen:problem:conflicts-with-stored-data"
    for text in (api_response.get_data(as_text=True), page.get_data(as_text=True)):
        assert "ck_awards" not in text and "constraint" not in text.lower()
