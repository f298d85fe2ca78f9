"""``Idempotency-Key`` on value-moving writes (design.md §3), through the API."""

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from support.books import postings_of, transaction_count, wallet
from support.problems import PROBLEM

from app.extensions import db
from models import Award, IdempotencyKey, Role, utcnow


@pytest.fixture
def community(make_community):
    return make_community()


def awards_path(community):
    return f"/communities/{community.slug}/awards"


def award_count(community) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Award).where(Award.community_id == community.id)
    )


def stored_keys(member, key) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(IdempotencyKey)
        .where(IdempotencyKey.member_id == member.id, IdempotencyKey.key == key)
    )


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(None, id="missing"),
        pytest.param("   ", id="blank"),
        pytest.param("k" * 256, id="too-long"),
    ],
)
def test_a_value_moving_write_needs_a_key(api, community, admin, resident, key):
    response = api.as_(admin).post(
        awards_path(community),
        json={"member_id": resident.id, "points": 10, "reason": "清扫"},
        key=key,
    )

    assert response.status_code == 400
    assert response.content_type == PROBLEM
    assert response.json["type"] == "urn:jifen:problem:idempotency-key-required"
    assert response.json["status"] == 400
    assert "Idempotency-Key" in response.json["detail"]
    assert award_count(community) == 0
    assert transaction_count(community.id) == 0
    assert wallet(resident) == 0


def test_a_key_of_255_characters_is_accepted(api, community, admin, resident):
    response = api.as_(admin).post(
        awards_path(community),
        json={"member_id": resident.id, "points": 10, "reason": "清扫"},
        key="k" * 255,
    )
    assert response.status_code == 201, response.json
    assert wallet(resident) == 10


def test_same_key_and_body_replays_the_first_response(api, community, admin, resident):
    client = api.as_(admin)
    body = {"member_id": resident.id, "points": 120, "reason": "环境卫生整治"}

    first = client.post(awards_path(community), json=body, key="retry-me")
    second = client.post(awards_path(community), json=body, key="retry-me")
    third = client.post(awards_path(community), json=body, key="retry-me")

    assert first.status_code == 201, first.json
    assert "Idempotent-Replayed" not in first.headers
    for replay in (second, third):
        assert replay.status_code == 201
        assert replay.get_data() == first.get_data()
        assert replay.content_type == first.content_type
        assert replay.headers["Idempotent-Replayed"] == "true"
    award_id = first.json["id"]
    assert award_count(community) == 1
    assert transaction_count(community.id) == 1
    assert postings_of(award_id) == 1
    assert wallet(resident) == 120
    assert stored_keys(admin, "retry-me") == 1


def test_the_body_is_compared_as_json_not_as_bytes(api, community, admin, resident):
    client = api.as_(admin)
    body = {"member_id": resident.id, "points": 7, "reason": "清扫"}
    first = client.post(awards_path(community), json=body, key="canonical")
    assert first.status_code == 201, first.json

    # The same JSON, keys reordered and spaced out.
    reformatted = json.dumps(dict(reversed(body.items())), indent=2, ensure_ascii=False)
    replay = client.client.post(
        f"/api/v1{awards_path(community)}",
        data=reformatted.encode(),
        content_type="application/json",
        headers={"Authorization": f"Bearer {client.token}", "Idempotency-Key": "canonical"},
    )

    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_data() == first.get_data()
    assert award_count(community) == 1
    assert wallet(resident) == 7


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"points": 121}, id="other-points"),
        pytest.param({"reason": "另一个原因"}, id="other-reason"),
    ],
)
def test_same_key_with_another_body_is_a_conflict(api, community, admin, resident, changed):
    client = api.as_(admin)
    body = {"member_id": resident.id, "points": 120, "reason": "环境卫生整治"}
    first = client.post(awards_path(community), json=body, key="one-request")
    assert first.status_code == 201, first.json

    reused = client.post(
        awards_path(community),
        json={**body, **changed},
        key="one-request",
        headers={"Accept-Language": "en"},
    )

    assert reused.status_code == 409
    assert reused.content_type == PROBLEM
    assert reused.json["type"] == "urn:jifen:problem:idempotency-key-reused"
    assert "different request" in reused.json["detail"]
    assert award_count(community) == 1
    assert wallet(resident) == 120
    # The first response is still what the key replays.
    again = client.post(awards_path(community), json=body, key="one-request")
    assert again.get_data() == first.get_data()


def test_same_key_on_another_path_is_a_conflict(api, community, make_member, admin, resident):
    second_admin = make_member(community, Role.FUND_ADMIN)
    community.award_approval_threshold = 100
    pending = api.as_(admin).post(
        awards_path(community),
        json={"member_id": resident.id, "points": 500, "reason": "大型活动"},
        key=True,
    )
    assert pending.json["status"] == "pending"
    client = api.as_(second_admin)
    approved = client.post(f"/awards/{pending.json['id']}/approve", key="shared")
    assert approved.status_code == 200, approved.json

    rejected = client.post(f"/awards/{pending.json['id']}/reject", key="shared")

    assert rejected.status_code == 409
    assert rejected.json["type"] == "urn:jifen:problem:idempotency-key-reused"
    assert wallet(resident) == 500


def test_keys_are_per_caller(api, community, make_member, admin, resident):
    other_admin = make_member(community, Role.FUND_ADMIN)
    body = {"member_id": resident.id, "points": 30, "reason": "清扫"}

    mine = api.as_(admin).post(awards_path(community), json=body, key="same-string")
    theirs = api.as_(other_admin).post(awards_path(community), json=body, key="same-string")
    # Another body under the same string is no conflict either: a different caller's key.
    third_admin = make_member(community, Role.FUND_ADMIN)
    other_body = api.as_(third_admin).post(
        awards_path(community), json={**body, "points": 45}, key="same-string"
    )

    assert [r.status_code for r in (mine, theirs, other_body)] == [201, 201, 201]
    assert "Idempotent-Replayed" not in theirs.headers
    assert "Idempotent-Replayed" not in other_body.headers
    assert len({mine.json["id"], theirs.json["id"], other_body.json["id"]}) == 3
    assert theirs.json["requested_by_id"] == other_admin.id
    assert award_count(community) == 3
    assert wallet(resident) == 30 + 30 + 45


def test_a_failed_request_stores_nothing_and_may_be_retried(api, community, admin, resident):
    client = api.as_(admin)
    deduction = {"member_id": resident.id, "points": -50, "reason": "扣减"}

    refused = client.post(awards_path(community), json=deduction, key="deduct-50")

    assert refused.status_code == 409
    assert refused.content_type == PROBLEM
    assert refused.json["type"] == "urn:jifen:problem:insufficient-balance"
    assert stored_keys(admin, "deduct-50") == 0
    assert award_count(community) == 0
    assert transaction_count(community.id) == 0
    assert wallet(resident) == 0

    # A retry while it still cannot succeed fails the same way, not as a replay.
    again = client.post(awards_path(community), json=deduction, key="deduct-50")
    assert again.status_code == 409
    assert "Idempotent-Replayed" not in again.headers

    top_up = {"member_id": resident.id, "points": 80, "reason": "奖励"}
    topped_up = client.post(awards_path(community), json=top_up, key=True)
    assert topped_up.status_code == 201, topped_up.json

    retried = client.post(awards_path(community), json=deduction, key="deduct-50")

    assert retried.status_code == 201, retried.json
    assert "Idempotent-Replayed" not in retried.headers
    assert retried.json["points"] == -50
    assert retried.json["status"] == "posted"
    assert wallet(resident) == 30
    assert stored_keys(admin, "deduct-50") == 1
    assert award_count(community) == 2
    # From now on the key replays the success.
    replay = client.post(awards_path(community), json=deduction, key="deduct-50")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_data() == retried.get_data()
    assert wallet(resident) == 30


def test_a_key_lives_for_the_configured_hours(api, app, community, admin, resident):
    before = utcnow()
    response = api.as_(admin).post(
        awards_path(community),
        json={"member_id": resident.id, "points": 5, "reason": "清扫"},
        key="ttl",
    )
    assert response.status_code == 201
    row = db.session.execute(
        sa.select(IdempotencyKey).where(IdempotencyKey.member_id == admin.id)
    ).scalar_one()
    ttl = timedelta(hours=app.config["IDEMPOTENCY_TTL_HOURS"])
    assert ttl >= timedelta(hours=24)
    assert before + ttl <= row.expires_at <= utcnow() + ttl
    assert (row.key, row.status_code, row.community_id) == ("ttl", 201, community.id)
    assert row.body == response.get_data()


@pytest.mark.parametrize("same_body", [True, False], ids=["same-body", "other-body"])
def test_an_expired_key_is_treated_as_new(api, community, admin, resident, same_body):
    client = api.as_(admin)
    body = {"member_id": resident.id, "points": 10, "reason": "清扫"}
    first = client.post(awards_path(community), json=body, key="old-key")
    assert first.status_code == 201
    db.session.execute(
        sa.update(IdempotencyKey)
        .where(IdempotencyKey.member_id == admin.id, IdempotencyKey.key == "old-key")
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )

    later = client.post(
        awards_path(community), json=body if same_body else {**body, "points": 15}, key="old-key"
    )

    assert later.status_code == 201, later.json
    assert "Idempotent-Replayed" not in later.headers
    assert later.json["id"] != first.json["id"]
    assert award_count(community) == 2
    assert wallet(resident) == (20 if same_body else 25)
    # The key now stands for the new request, for a fresh lifetime.
    row = db.session.execute(
        sa.select(IdempotencyKey).where(IdempotencyKey.member_id == admin.id)
    ).scalar_one()
    assert row.expires_at > utcnow() + timedelta(hours=23)
    replay = client.post(
        awards_path(community), json=body if same_body else {**body, "points": 15}, key="old-key"
    )
    assert replay.get_data() == later.get_data()
    assert replay.headers["Idempotent-Replayed"] == "true"
