"""A member's wallet on the API (design.md §9): the balance and what it is worth,
and the history, newest first, walked page by page with cursors."""

import base64
import json

import pytest
from support.api import award

from models import Role


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


def test_merchant_staff_hold_no_wallet(api, make_community, make_member):
    staff = make_member(make_community(), Role.MERCHANT_STAFF)
    client = api.as_(staff)
    for path in (f"/members/{staff.id}/balance", f"/members/{staff.id}/transactions"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json["type"] == "urn:jifen:problem:no-wallet"


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
