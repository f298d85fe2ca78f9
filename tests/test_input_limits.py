"""Each class of input the database or Python cannot hold is a 4xx problem,
before and after sign-in, in paths, query strings and bodies alike."""

import json

import pytest
from support.api import ApiClient
from support.pages import page_client, sign_in, submit

from models import Role

BIG = 2**63
PROBLEM = "application/problem+json"


@pytest.fixture
def admin_api(api, make_community, make_member):
    community = make_community()
    return api.as_(make_member(community, Role.FUND_ADMIN)), community


def _refused(response, status=None):
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.status_code >= 400
    if status:
        assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return response.json


@pytest.mark.parametrize(
    "path",
    [
        f"/members/{BIG}/balance",
        f"/redemptions/{BIG * 4}",
        f"/coupons/{BIG}/qr.png",
        f"/activities/{BIG}/attendances",
    ],
)
def test_ids_past_64_bits_in_paths(app, admin_api, path):
    client, _ = admin_api
    for caller in (client, ApiClient(app.test_client())):
        _refused(caller.get(path))


def test_nul_in_a_path_and_a_query_string(app, admin_api):
    client, community = admin_api
    _refused(client.get("/communities/a%00b"), 422)
    body = _refused(client.get(f"/communities/{community.slug}/audit-log?action=a%00b"), 422)
    assert "action" in body["errors"]["query"]
    _refused(ApiClient(app.test_client()).get("/communities/a%00b"))


@pytest.mark.parametrize("text", ["a\x00b", "\ud800", "x\udfffy"])
def test_text_the_database_cannot_store_names_its_field(app, admin_api, make_member, text):
    client, community = admin_api
    resident = make_member(community)

    body = _refused(
        client.post(
            f"/communities/{community.slug}/awards",
            json={"member_id": resident.id, "points": 5, "reason": text},
            key=True,
        ),
        422,
    )

    assert body["type"] == "urn:jifen:problem:unstorable-text"
    assert "reason" in body["errors"]["json"]
    signing_in = ApiClient(app.test_client()).post(
        "/auth/token", json={"username": text, "password": "x"}
    )
    _refused(signing_in, 422)


def test_nul_in_the_idempotency_key(admin_api, make_member):
    client, community = admin_api
    resident = make_member(community)
    _refused(
        client.post(
            f"/communities/{community.slug}/awards",
            json={"member_id": resident.id, "points": 5, "reason": "r"},
            key="k\x00ey",
        ),
        422,
    )


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "1900-01-01T00:00:00"]
)
def test_times_outside_what_can_be_held(admin_api, moment):
    client, community = admin_api
    body = _refused(
        client.post(
            f"/communities/{community.slug}/activities",
            json={
                "title": "t",
                "category": "culture",
                "starts_at": moment,
                "ends_at": moment,
                "points": 5,
            },
        ),
        422,
    )
    assert "starts_at" in body["errors"]["json"]


def test_dates_outside_what_can_be_held_in_a_query(api, make_community, make_member):
    community = make_community()
    cashier = make_member(community, Role.MERCHANT_STAFF)
    body = _refused(
        api.as_(cashier).get(f"/merchants/{cashier.merchant_id}/redemptions?until=9999-12-31"),
        422,
    )
    assert "until" in body["errors"]["query"]


@pytest.mark.parametrize("signed_in", [True, False])
def test_json_nested_to_exhaust_the_parser(app, admin_api, signed_in):
    client, community = admin_api
    caller = client if signed_in else ApiClient(app.test_client())
    deep = "[" * 100_000 + "]" * 100_000
    for path in (f"/communities/{community.slug}/awards", "/auth/token"):
        response = caller.client.post(
            f"/api/v1{path}",
            data=deep,
            content_type="application/json",
            headers={"Authorization": f"Bearer {client.token}", "Idempotency-Key": "k"},
        )
        assert response.status_code in (400, 413)
        assert response.mimetype == PROBLEM
    shallow_but_deep = json.dumps({"username": [[[[[[[[[[]]]]]]]]]] * 1}).replace(
        "[]", "[" * 40 + "]" * 40
    )
    response = caller.client.post(
        "/api/v1/auth/token", data=shallow_but_deep, content_type="application/json"
    )
    assert _refused(response, 400)["type"] == "urn:jifen:problem:json-too-deep"


def test_bodies_past_the_limit_are_413(app, admin_api):
    client, community = admin_api
    big = json.dumps(
        {"username": "x" * (app.config["API_MAX_CONTENT_LENGTH"] + 1), "password": "p"}
    )
    response = client.client.post("/api/v1/auth/token", data=big, content_type="application/json")
    assert _refused(response, 413)["type"] == "urn:jifen:problem:request-too-large"


def test_a_page_forms_number_past_64_bits_is_refused(app, api, make_community, make_member):
    community = make_community()
    organizer = make_member(community, Role.ORGANIZER)
    activity = (
        api.as_(organizer)
        .post(
            f"/communities/{community.slug}/activities",
            json={
                "title": "清扫",
                "category": "environment",
                "starts_at": "2026-12-01T09:00:00",
                "ends_at": "2026-12-01T11:00:00",
                "points": 10,
            },
        )
        .json
    )
    api.as_(organizer).post(f"/activities/{activity['id']}/publish")
    client = page_client(app)
    sign_in(client, organizer.username)
    response = submit(client, f"/activities/{activity['id']}/attendance", {"member_id": str(2**70)})
    assert response.status_code == 422


def test_every_error_response_in_the_openapi_document_is_problem_json(app, ctx):
    spec = app.test_client().get("/api/openapi.json").json
    responses = spec["components"]["responses"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                if status != "default" and int(status) < 400:
                    continue
                if "$ref" in response:
                    response = responses[response["$ref"].rsplit("/", 1)[1]]
                assert list(response["content"]) == ["application/problem+json"], (
                    method,
                    path,
                    status,
                )
