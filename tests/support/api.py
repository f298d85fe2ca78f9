"""Calling the API as a member: a bearer token, a fresh ``Idempotency-Key`` on request."""

import uuid

from flask import g, has_app_context

from app import auth
from app.extensions import db


class ApiClient:
    """The test client, speaking as one member with a bearer token."""

    def __init__(self, client, token=None):
        self.client = client
        self.token = token

    def as_(self, member) -> "ApiClient":
        secret, _ = auth.issue_token(member)
        db.session.flush()
        return ApiClient(self.client, secret)

    def request(self, method, path, *, json=None, key=None, headers=None):
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if key is True:
            key = str(uuid.uuid4())
        if key:
            headers["Idempotency-Key"] = key
        if has_app_context():
            # The request reuses the test's app context, so its session and its
            # ``g``. Commit what the test set up (a failed request rolls the
            # session back) and start the request with an empty ``g``, as in
            # production, so no caller is remembered from the last request.
            db.session.commit()
            g.__dict__.clear()
        return self.client.open(f"/api/v1{path}", method=method, json=json, headers=headers)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def anonymous(app) -> ApiClient:
    """A client that sends no token."""
    return ApiClient(app.test_client())


def award(client: ApiClient, community, member, points, reason="志愿服务"):
    """``POST /communities/{slug}/awards`` of ``points`` (negative: a deduction) to ``member``."""
    return client.post(
        f"/communities/{community.slug}/awards",
        json={"member_id": member.id, "points": points, "reason": reason},
        key=True,
    )
