"""Real concurrency on PostgreSQL: requests released at once from threads, each with a
client of its own, against an app whose commits are real (``committing_app``); and
members committed under unique names for such tests."""

import secrets
import threading
import uuid
from dataclasses import dataclass

from app import communities
from models import Role
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
