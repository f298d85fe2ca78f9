"""The web's defaults: security headers on every response, a CSP the pages keep
(no inline script or style anywhere, Swagger UI included), HSTS over HTTPS only,
and CSRF checked on every form."""

import re
from pathlib import Path

import pytest
from support.apps import TEST_CONFIG

from app import create_app
from app.extensions import db
from models import Role

ENGLISH = {"Accept-Language": "en"}
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _csp(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {
        part.split()[0]: " ".join(part.split()[1:]) for part in policy.split(";") if part.strip()
    }


@pytest.mark.parametrize("path", ["/login", "/api/docs", "/api/v1/keys", "/api/v1/me", "/nope"])
def test_every_response_carries_the_security_headers(app, ctx, path):
    response = app.test_client().get(path)

    csp = _csp(response)
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "camera=(self)" in response.headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_only_over_https(app, ctx):
    over_tls = app.test_client().get("/login", base_url="https://jifen.example")
    assert over_tls.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_behind_a_proxy_its_forwarded_scheme_and_address_count(database_url):
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url, "JIFEN_PROXIES": 1})
    seen = {}

    @app.get("/_whoami")
    def whoami():
        from flask import request

        seen.update(addr=request.remote_addr, secure=request.is_secure)
        return "ok"

    response = app.test_client().get(
        "/_whoami",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
    )
    assert seen == {"addr": "203.0.113.9", "secure": True}
    assert "Strict-Transport-Security" in response.headers
    with app.app_context():
        db.engine.dispose()


def test_no_template_holds_inline_script_or_style():
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag:
                offenders.append(f"{template.name}: inline <script>")
        if re.search(r"<style\b", text):
            offenders.append(f"{template.name}: <style>")
        if re.search(r"\sstyle\s*=", text):
            offenders.append(f"{template.name}: style attribute")
        if re.search(r"\son[a-z]+\s*=", text):
            offenders.append(f"{template.name}: inline event handler")
    assert offenders == []


def _page_posts(app) -> list[str]:
    """Every page route that takes a POST, with its arguments filled in."""
    paths = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.rule.startswith("/api/"):
            continue
        values = {}
        for name in rule.arguments:
            converter = rule._converters[name]
            values[name] = getattr(converter, "items", None) or 1
            if isinstance(values[name], (list, tuple, set, frozenset)):
                values[name] = sorted(values[name])[0]
            elif converter.__class__.__name__ == "UnicodeConverter":
                values[name] = "x"
        paths.append(rule.build(values, append_unknown=False)[1])
    return paths


def test_every_form_is_refused_without_its_csrf_token(app, ctx, make_community, make_member):
    community = make_community()
    people = [
        make_member(community, role)
        for role in (Role.RESIDENT, Role.MERCHANT_STAFF, Role.FUND_ADMIN)
    ]
    db.session.commit()
    paths = _page_posts(app)
    assert {"/login", "/logout", "/pos/preview", "/pos/redemptions"} <= set(paths)

    for member in people:
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = str(member.id)
            session["_fresh"] = True
        for path in paths:
            response = client.post(
                path, data={"username": member.username, "password": "x"}, headers=ENGLISH
            )
            assert response.status_code == 400, (path, member.role, response.status_code)
            assert "This form has expired" in response.get_data(as_text=True), path
            json_post = client.post(path, json={"bill_fen": 100, "code": "X"}, headers=ENGLISH)
            assert json_post.status_code == 400, (path, "json")
            assert "This form has expired" in json_post.get_data(as_text=True), path


def test_a_page_form_with_its_token_is_taken(app, ctx, make_community, make_member):
    resident = make_member(make_community())
    db.session.commit()
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]

    response = client.post(
        "/login",
        data={"username": resident.username, "password": "password-1", "csrf_token": token},
    )

    assert response.status_code == 302
