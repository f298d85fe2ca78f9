"""Awards and deductions on the API (design.md §9): posted at once up to the
threshold, above it waiting for a second fund admin, and never beyond a balance."""

import pytest
from support.api import award
from support.books import count

from app.extensions import db
from models import Award, AwardStatus, LedgerTransaction, Role


def points_of(client, member) -> int:
    response = client.get(f"/members/{member.id}/balance")
    assert response.status_code == 200
    return response.json["points"]


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
