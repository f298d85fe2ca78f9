"""Small awards sent at once to one member cannot slip past the daily threshold
together: each request takes its turn on the member's wallet (PostgreSQL)."""

import json
import uuid
from collections import Counter

import pytest
from test_postgres import award_request, balance_of, concurrently, new_community

from app.extensions import db

pytestmark = pytest.mark.postgres


def test_concurrent_small_awards_add_up_to_the_threshold(pg):
    setup = new_community()
    setup.community.award_approval_threshold = 1000
    db.session.commit()
    wallet_id = setup.wallet.id

    replies = concurrently(pg, [award_request(setup, 100, str(uuid.uuid4())) for _ in range(16)])

    assert Counter(reply.status for reply in replies) == {201: 16}
    statuses = Counter(json.loads(reply.body)["status"] for reply in replies)
    assert statuses == {"posted": 10, "pending": 6}
    db.session.expire_all()
    assert balance_of(wallet_id) == 1000
