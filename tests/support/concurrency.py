"""Real concurrency on PostgreSQL: requests released at once from threads, each with a
client of its own, against an app whose commits are real (``committing_app``); and
members and communities committed under unique names for such tests."""

import secrets
import threading
import uuid
from dataclasses import dataclass

from app import auth, awards, communities, ledger
from app.extensions import db
from models import AccountKind, Community, Role
from support.names import unique


@dataclass
class Reply:
    status: int
    content_type: str
    headers: dict
    body: bytes


def concurrently(app, requests):
    """Run each ``request(client)`` in its own thread with its own client, all released at once."""
    barrier = threading.Barrier(len(requests))
    replies: list[Reply | None] = [None] * len(requests)
    errors: list[BaseException] = []

    def work(index, request):
        try:
            client = app.test_client()
            barrier.wait(timeout=30)
            response = request(client)
            replies[index] = Reply(
                response.status_code,
                response.content_type,
                dict(response.headers),
                response.get_data(),
            )
        except BaseException as error:  # reported in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=item) for item in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    if errors:
        raise errors[0]
    return replies


def post(path, body, token, key=None):
    """A request for :func:`concurrently`: POST ``body`` with ``token`` and ``key``
    (a fresh one unless given). Everything it sends is read here: the threads have no
    app context to load expired attributes in."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key or str(uuid.uuid4())}

    def request(client):
        return client.post(path, json=body, headers=headers)

    return request


def new_member(community, role=Role.RESIDENT, **fields):
    return communities.create_member(
        community,
        username=unique(role.value),
        password=secrets.token_urlsafe(12),  # nobody signs in: the API takes a token
        display_name=role.value,
        role=role,
        **fields,
    )


def invoke_reconcile(app, slug):
    """``flask reconcile --community slug``."""
    return app.test_cli_runner().invoke(args=["reconcile", "--community", slug])


@dataclass
class Setup:
    community: Community
    admin: object
    resident: object
    token: str

    @property
    def slug(self):
        return self.community.slug

    def account(self, kind, **owner):
        return ledger.ensure_account(self.community.id, kind, **owner)

    @property
    def wallet(self):
        return self.account(AccountKind.WALLET, member_id=self.resident.id)


def new_community(points=0) -> Setup:
    """A community of the test's own: a fund admin, a resident holding ``points``; committed.

    Awards post at once (the approval threshold is out of reach).
    """
    community = communities.create_community(unique("pg"), "并发测试社区")
    community.award_approval_threshold = 1_000_000
    admin = new_member(community, Role.FUND_ADMIN)
    resident = new_member(community, Role.RESIDENT)
    if points:
        awards.request_award(community, resident, points=points, reason="起始积分", actor=admin)
    token, _ = auth.issue_token(admin)
    db.session.commit()
    return Setup(community, admin, resident, token)


def award_request(setup, points, key):
    path = f"/api/v1/communities/{setup.slug}/awards"
    body = {"member_id": setup.resident.id, "points": points, "reason": "并发扣减"}
    return post(path, body, setup.token, key)
