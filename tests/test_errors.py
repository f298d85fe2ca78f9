"""One error body for the whole API (RFC 9457), and the published contract."""

import pytest
from support.api import ApiClient
from support.apps import TEST_CONFIG
from support.names import unique
from support.problems import PROBLEM

from app import create_app
from app.extensions import db
from models import Role


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert isinstance(body["type"], str)
    return body


def test_401_names_the_scheme(app, ctx):
    response = app.test_client().get("/api/v1/me")
    body = assert_problem(response, 401)
    assert body["type"] == "urn:jifen:problem:bearer-token-missing"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="jifen"'


def test_403(api, make_community, make_member):
    resident = make_member(make_community())
    body = assert_problem(
        api.as_(resident).post("/communities", json={"slug": "x", "name": "x"}), 403
    )
    assert body["type"] == "urn:jifen:problem:forbidden"


@pytest.mark.parametrize(
    "path", ["/api/v1/no-such-thing", "/api/nothing", "/api/v1/members/x/balance"]
)
def test_404_for_unknown_routes(app, ctx, path):
    assert_problem(app.test_client().get(path), 404)


def test_404_for_unknown_objects(api, make_member, ctx):
    admin = api.as_(make_member(None, Role.PLATFORM_ADMIN))
    body = assert_problem(admin.get("/communities/no-such-place"), 404)
    assert body["type"] == "urn:jifen:problem:not-found"


def test_405_lists_the_allowed_methods(app, ctx):
    response = app.test_client().put("/api/v1/me")
    assert_problem(response, 405)
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert "GET" in allowed
    assert "PUT" not in allowed


def test_409(api, make_community, make_member):
    community = make_community()
    admin = api.as_(make_member(None, Role.PLATFORM_ADMIN))
    response = admin.post("/communities", json={"slug": community.slug, "name": "重复"})
    body = assert_problem(response, 409)
    assert body["type"] == "urn:jifen:problem:slug-taken"
    assert community.slug in body["detail"]


def test_422_lists_errors_by_location_and_field(api, make_member, ctx):
    admin = api.as_(make_member(None, Role.PLATFORM_ADMIN))
    response = admin.post("/communities", json={"slug": "Not A Slug", "points_per_yuan": "many"})
    body = assert_problem(response, 422)
    assert set(body["errors"]) == {"json"}
    assert set(body["errors"]["json"]) == {"slug", "name", "points_per_yuan"}
    assert all(isinstance(messages, list) for messages in body["errors"]["json"].values())


def test_422_from_the_query_string(api, make_community, make_member):
    community = make_community()
    admin = api.as_(make_member(community, Role.FUND_ADMIN))
    body = assert_problem(admin.get(f"/communities/{community.slug}/members?limit=0"), 422)
    assert set(body["errors"]) == {"query"}
    assert "limit" in body["errors"]["query"]


def test_422_from_the_domain_uses_the_same_shape(api, make_community, make_member):
    community = make_community()
    admin = api.as_(make_member(community, Role.FUND_ADMIN))
    response = admin.post(
        f"/communities/{community.slug}/members",
        json={
            "username": unique("u"),
            "password": "short",
            "display_name": "x",
            "role": "resident",
        },
    )
    body = assert_problem(response, 422)
    assert body["type"] == "urn:jifen:problem:invalid-input"
    assert list(body["errors"]["json"]) == ["password"]


@pytest.mark.parametrize("data", ["{bad json", "[1, 2", '{"username": }'])
def test_400_for_malformed_json(app, ctx, data):
    response = app.test_client().post(
        "/api/v1/auth/token", data=data, content_type="application/json"
    )
    assert_problem(response, 400)


def test_every_error_is_problem_json_even_for_the_token_endpoint(app, ctx):
    response = app.test_client().post("/api/v1/auth/token", json={"username": "x", "password": "y"})
    assert_problem(response, 401)


@pytest.fixture
def failing_app(database_url):
    """A fresh app, not in testing mode, with a route that raises."""
    app = create_app({**TEST_CONFIG, "TESTING": False, "SQLALCHEMY_DATABASE_URI": database_url})

    def explode():
        raise RuntimeError("secret internal detail: db password hunter2")

    app.add_url_rule("/api/v1/explode", "explode", explode)
    yield app
    with app.app_context():
        db.engine.dispose()


def test_500_is_problem_json_without_a_traceback(failing_app):
    response = failing_app.test_client().get("/api/v1/explode")

    body = assert_problem(response, 500)
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    assert "hunter2" not in text
    assert "RuntimeError" not in text
    assert "File " not in text
    assert body["title"] == "Internal Server Error"


# --- the OpenAPI document and its docs page ------------------------------------

CONTRACT = {
    "/api/v1/auth/token": {"post", "delete"},
    "/api/v1/me": {"get"},
    "/api/v1/communities": {"post"},
    "/api/v1/communities/{slug}": {"get"},
    "/api/v1/communities/{slug}/members": {"post", "get"},
    "/api/v1/communities/{slug}/merchants": {"post", "get"},
    "/api/v1/communities/{slug}/awards": {"post", "get"},
    "/api/v1/awards/{award_id}/approve": {"post"},
    "/api/v1/awards/{award_id}/reject": {"post"},
    "/api/v1/members/{member_id}/balance": {"get"},
    "/api/v1/members/{member_id}/transactions": {"get"},
}


@pytest.fixture
def openapi(app, ctx):
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def test_openapi_document_is_openapi_3(openapi):
    assert openapi["openapi"].startswith("3.")
    assert openapi["info"]["title"] == "Jifen"


def test_openapi_has_every_contract_path(openapi):
    for path, methods in CONTRACT.items():
        assert path in openapi["paths"], path
        assert methods <= set(openapi["paths"][path]), path


def test_openapi_has_every_api_route(app, openapi):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", f"{{{name}}}").replace(f"<{name}>", f"{{{name}}}")
        assert path in openapi["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in openapi["paths"][path], (method, path)


def test_openapi_documents_the_idempotency_key_on_awards(openapi):
    parameters = openapi["paths"]["/api/v1/communities/{slug}/awards"]["post"]["parameters"]
    header = next(p for p in parameters if p["name"] == "Idempotency-Key")
    assert header["in"] == "header"
    assert header["required"] is True
    approve = openapi["paths"]["/api/v1/awards/{award_id}/approve"]["post"]["parameters"]
    assert "Idempotency-Key" in {p["name"] for p in approve}


def test_openapi_documents_bearer_auth(openapi):
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert openapi["security"] == [{"bearerAuth": []}]
    # Signing in is the one call that needs no token.
    assert openapi["paths"]["/api/v1/auth/token"]["post"]["security"] == []


def test_swagger_ui_is_served_from_this_server(app, ctx):
    client = app.test_client()
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/api/openapi.json" in html
    assert "/api/docs/static/swagger-ui-bundle.js" in html
    assert "/api/docs/static/swagger-ui.css" in html
    assert "http://" not in html
    assert "https://" not in html
    assert "cdn" not in html.lower()

    for asset, mimetype in [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
    ]:
        with client.get(f"/api/docs/static/{asset}") as response:
            assert response.status_code == 200
            assert response.mimetype == mimetype
            assert len(response.get_data()) > 1000


def test_missing_docs_asset_is_404(app, ctx):
    with app.test_client().get("/api/docs/static/no-such-file.js") as response:
        assert response.status_code == 404


def test_token_is_usable_from_the_documented_flow(app, api, make_community, make_member):
    """The doc's sign-in endpoint and its bearer scheme work together."""
    member = make_member(make_community())
    token = (
        ApiClient(app.test_client())
        .post("/auth/token", json={"username": member.username, "password": "password-1"})
        .json["token"]
    )
    response = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
