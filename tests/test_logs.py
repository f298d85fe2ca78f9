"""Logs are JSON lines with the request's id, and no SQL parameter, password,
hash, token or key reaches them, even when statements fail."""

import json
import re

import pytest
import sqlalchemy as sa
from support.apps import TEST_CONFIG

from app import auth, create_app
from app.extensions import db
from app.logs import redact

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
TOKEN = "jf_" + "S3cr3tT0k3n" * 4
NAME = "王秘密"
PASSWORD = "correct horse battery staple"  # noqa: S105


@pytest.fixture
def logging_app(database_url):
    app = create_app(
        {**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url, "PROPAGATE_EXCEPTIONS": False}
    )

    @app.route("/api/v1/_bad_statement")
    def bad_statement():
        db.session.execute(
            sa.text(
                "SELECT id FROM members WHERE password_hash = :hash AND display_name = :name "
                "AND no_such_column = :digest"
            ),
            {"hash": HASH, "name": NAME, "digest": auth.token_digest(TOKEN)},
        )

    @app.route("/api/v1/_refused_row")
    def refused_row():
        try:
            db.session.execute(
                sa.text(
                    "INSERT INTO members (username, password_hash, display_name, role, active, "
                    "created_at) VALUES ('', :hash, :name, 'resident', true, CURRENT_TIMESTAMP)"
                ),
                {"hash": HASH, "name": NAME},
            )
        except sa.exc.IntegrityError as error:
            raise RuntimeError("could not add the member") from error

    @app.route("/api/v1/_noisy")
    def noisy():
        app.logger.warning("signing in with %s and %s", TOKEN, auth.token_digest(TOKEN))
        return {"ok": True}

    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("path", ["/api/v1/_bad_statement", "/api/v1/_refused_row"])
def test_failed_statements_leave_no_secret_in_the_log(logging_app, capfd, path):
    with logging_app.test_client() as client:
        response = client.get(path, headers={"X-Request-ID": "probe-1"})
        client.post("/api/v1/auth/token", json={"username": NAME, "password": PASSWORD})

    assert response.status_code == 500
    out, err = capfd.readouterr()
    logged = out + err
    for secret in (HASH, "c2FsdHNhbHQ", NAME, TOKEN, auth.token_digest(TOKEN), PASSWORD):
        assert secret not in logged
    errors = [line for line in _lines(err) if line["level"] == "ERROR"]
    assert errors, err
    assert errors[0]["request_id"] == "probe-1"
    assert errors[0]["path"] == path
    assert "Traceback" in errors[0]["exception"]


def test_messages_are_redacted_whoever_logs_them(logging_app, capfd):
    with logging_app.test_client() as client:
        client.get("/api/v1/_noisy")

    _, err = capfd.readouterr()
    [line] = [line for line in _lines(err) if line["level"] == "WARNING"]
    assert TOKEN not in line["message"] and auth.token_digest(TOKEN) not in line["message"]
    assert line["message"] == "signing in with [token] and [digest]"


def test_redaction_of_postgresql_details():
    text = (
        'new row for relation "members" violates check constraint\n'
        "DETAIL:  Failing row contains (7, null, alice, $argon2id$v=19$abc, 王小明).\n"
        "[SQL: INSERT ...]\n[parameters: {'password_hash': 'x', 'display_name': '王小明'}]"
    )
    cleaned = redact(text)
    assert "王小明" not in cleaned and "argon2id" not in cleaned and "alice" not in cleaned
    assert "violates check constraint" in cleaned


def test_every_response_carries_a_request_id(app, ctx):
    client = app.test_client()
    generated = client.get("/api/v1/keys").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert client.get("/login").headers["X-Request-ID"] != generated
    assert (
        client.get("/api/v1/keys", headers={"X-Request-ID": "lb-42.7"}).headers["X-Request-ID"]
        == "lb-42.7"
    )
    for insane in ("x" * 200, "a b", "<script>"):
        echoed = client.get("/api/v1/keys", headers={"X-Request-ID": insane})
        assert echoed.headers["X-Request-ID"] != insane
    refused = client.get("/api/v1/me", headers={"X-Request-ID": "lb-43"})
    assert refused.status_code == 401
    assert refused.headers["X-Request-ID"] == "lb-43"
