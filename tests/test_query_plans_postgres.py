"""The hot reads find their rows through an index on PostgreSQL: a balance, a
member's history (first page and by cursor), a member's coupons, the till's read,
a merchant's redemptions and a month's reconciliation report.

Each statement the requests run is captured and explained with sequential scans
switched off: the planner then takes a sequential scan only where no index can
serve the query, so one left in a plan is a table read whole, however small the
test's data. Tables that grow with the city (the ledger, coupons, redemptions,
members, tokens...) may not be; the few that hold a community's settings may."""

import pytest
from support.coupons import earn, issued_coupon

from app import auth, communities, query_plans, sql, wallets
from app.earnings import last_month
from app.extensions import db
from app.redemptions import till

pytestmark = pytest.mark.postgres


def tables_read_whole(statement: str, parameters) -> set[str]:
    driver = db.session.connection().connection.driver_connection
    return query_plans.tables_read_whole(driver, statement, parameters)


def statements_run():
    return query_plans.statements_run(db.engine)


def assert_read_by_index(seen):
    assert seen, "no statement was captured"
    whole = {
        statement: tables
        for statement, parameters in seen
        if (tables := tables_read_whole(statement, parameters))
    }
    assert whole == {}


@pytest.fixture
def books(api, community, admin, resident, shop, cashier):
    """A resident with a history and a coupon, and a cashier who took part of it."""
    for points in (50, 60, 70):
        earn(resident, points)
    coupon = issued_coupon(community, admin, resident, points=200)
    cashier_api = api.as_(cashier)
    for bill in (100, 140):
        made = cashier_api.post(
            "/redemptions", json={"code": coupon.code, "bill_fen": bill}, key=True
        )
        assert made.status_code == 201, made.json
    return coupon


def test_a_members_reads_use_indexes(api, books, resident):
    me = api.as_(resident)
    with statements_run() as seen:
        assert me.get(f"/members/{resident.id}/balance").status_code == 200
        first = me.get(f"/members/{resident.id}/transactions?limit=2")
        assert first.json["next_cursor"]
        later = me.get(
            f"/members/{resident.id}/transactions?limit=2&cursor={first.json['next_cursor']}"
        )
        assert later.status_code == 200 and later.json["items"]
        assert me.get(f"/members/{resident.id}/coupons").status_code == 200
    hot = {sql.driver_sql(auth._ACTOR_BY_DIGEST), sql.driver_sql(wallets._BALANCE)}
    assert hot <= {statement for statement, _ in seen}, "the hot reads were not captured"
    assert_read_by_index(seen)


def test_a_merchants_history_uses_indexes(api, books, shop, cashier):
    staff = api.as_(cashier)
    with statements_run() as seen:
        first = staff.get(f"/merchants/{shop.id}/redemptions?limit=1")
        assert first.json["next_cursor"]
        later = staff.get(
            f"/merchants/{shop.id}/redemptions?limit=1&cursor={first.json['next_cursor']}"
        )
        assert later.json["items"]
    assert_read_by_index(seen)


def test_the_tills_read_uses_indexes(books, cashier):
    secret, _ = auth.issue_token(cashier)
    db.session.flush()
    parameters = {
        "code": books.code,
        "coupon_id": books.id,
        "digest": auth.token_digest(secret),
        "offer_id": None,
        "today": communities.local_today(),
    }
    for by, statement in till.READ.items():
        assert tables_read_whole(statement, parameters) == set(), by


def test_a_months_report_uses_indexes(api, books, community, admin):
    with statements_run() as seen:
        report = api.as_(admin).get(
            f"/communities/{community.slug}/reconciliation?period={last_month()}"
        )
        assert report.status_code == 200
    assert_read_by_index(seen)
