"""Small awards sent at once to one member cannot slip past the daily threshold
together: each request takes its turn on the member's wallet (PostgreSQL)."""

import json
import uuid
from collections import Counter

import pytest
from support.books import balance_of
from support.concurrency import award_request, concurrently, new_community

from app.extensions import db

pytestmark = pytest.mark.postgres


def test_concurrent_small_awards_add_up_to_the_threshold(pg):
    setup = new_community()
    setup.community.award_approval_threshold = 1000
    db.session.commit()

    replies = concurrently(pg, [award_request(setup, 100, str(uuid.uuid4())) for _ in range(16)])

    assert Counter(reply.status for reply in replies) == {201: 16}
    statuses = Counter(json.loads(reply.body)["status"] for reply in replies)
    assert statuses == {"posted": 10, "pending": 6}
    db.session.expire_all()
    assert balance_of(setup.wallet) == 1000
