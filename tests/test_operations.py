"""Probes, metrics, and a lost database answered as a retryable 503."""

import psycopg
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from prometheus_client.parser import text_string_to_metric_families
from support.apps import TEST_CONFIG
from support.coupons import issued_coupon

from app import create_app
from app.extensions import db


def test_healthz(app, ctx):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_when_the_schema_is_at_head(app, ctx):
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "ready"
    script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
    assert response.json["migrations"] == [script.get_current_head()]


def test_readyz_refuses_a_database_that_was_not_migrated(tmp_path, committing_app):
    """(``committing_app`` keeps the test's rolled-back session out of the way.)"""
    unmigrated = create_app(
        {**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/empty.sqlite"}
    )
    response = unmigrated.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.json["type"] == "urn:jifen:problem:not-ready"
    assert response.headers["Retry-After"]
    with unmigrated.app_context():
        db.engine.dispose()


def test_readyz_refuses_an_unreachable_database(committing_app):
    gone = create_app(
        {
            **TEST_CONFIG,
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/none",
        }
    )
    response = gone.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["type"] == "urn:jifen:problem:not-ready"


def samples(app) -> dict:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_refusals_and_redemptions(
    app, api, community, admin, resident, shop, cashier
):
    coupon = issued_coupon(community, admin, resident)
    before = samples(app)

    api.get("/keys")
    api.get("/me")  # no token: 401
    receipt = api.as_(cashier).post(
        "/redemptions", json={"code": coupon.code, "bill_fen": 1000}, key=True
    )
    after = samples(app)

    assert receipt.status_code == 201
    keys = dict(route="/api/v1/keys", method="GET", status="200")
    assert value(after, "jifen_http_requests_total", **keys) == (
        value(before, "jifen_http_requests_total", **keys) + 1
    )
    latency = dict(route="/api/v1/keys", method="GET")
    assert value(after, "jifen_http_request_duration_seconds_count", **latency) == (
        value(before, "jifen_http_request_duration_seconds_count", **latency) + 1
    )
    assert value(after, "jifen_refusals_total", type="bearer-token-missing") == (
        value(before, "jifen_refusals_total", type="bearer-token-missing") + 1
    )
    assert value(after, "jifen_redemptions_total", channel="api") == (
        value(before, "jifen_redemptions_total", channel="api") + 1
    )


def test_metrics_can_ask_for_the_scrapers_token(database_url):
    guarded = create_app(
        {**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url, "METRICS_TOKEN": "scrape-me"}
    )
    client = guarded.test_client()
    assert client.get("/metrics").status_code == 401
    good = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert good.status_code == 200
    assert b"jifen_http_requests_total" in good.get_data()
    with guarded.app_context():
        db.engine.dispose()


@pytest.fixture
def losing_app(database_url):
    app = create_app(
        {**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url, "PROPAGATE_EXCEPTIONS": False}
    )

    @app.get("/api/v1/_lost")
    def lost():
        raise sa.exc.OperationalError(
            "SELECT 1", {}, psycopg.OperationalError("server closed the connection"), True
        )

    @app.get("/_lost_page")
    def lost_page():
        return lost()

    @app.get("/api/v1/_driver_lost")
    def driver_lost():
        raise psycopg.OperationalError("consuming input failed: server closed the connection")

    @app.get("/api/v1/_bad_sql")
    def bad_sql():
        db.session.execute(sa.text("SELECT no_such_column FROM communities"))

    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("path", ["/api/v1/_lost", "/api/v1/_driver_lost", "/_lost_page"])
def test_a_lost_database_answers_a_retryable_503(losing_app, path):
    response = losing_app.test_client().get(path)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    if path.startswith("/api/"):
        assert response.json["type"] == "urn:jifen:problem:database-unavailable"


def test_a_bad_statement_is_still_a_500(losing_app):
    response = losing_app.test_client().get("/api/v1/_bad_sql")
    assert response.status_code == 500
