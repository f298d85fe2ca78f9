"""Closing a month under real commits and real concurrency on PostgreSQL: two
confirmations at once close it once, and a posting racing a close either lands before
it (and is in its report) or is refused.

Each test makes a community of its own (unique slug) and leaves it consistent.
"""

import json
import threading
import time
from datetime import datetime

import pytest
import sqlalchemy as sa
from support.concurrency import concurrently, new_member, post
from support.names import unique

from app import auth, communities, ledger, month_close
from app.demo import dated
from app.earnings import LOCAL_TZ, last_month
from app.extensions import db
from models import (
    AccountKind,
    Community,
    Member,
    MonthClose,
    MonthCloseStatus,
    Role,
    TransactionKind,
)

pytestmark = pytest.mark.postgres


def in_last_month(day: int = 15) -> datetime:
    month = last_month()
    return datetime(month.year, month.month, day, 10, tzinfo=LOCAL_TZ)


def award_last_month(community_id: int, member_id: int, points: int) -> None:
    """Points minted into the member's wallet, dated last month, through ``ledger.post``."""
    issuance = ledger.ensure_account(community_id, AccountKind.ISSUANCE)
    wallet = ledger.ensure_account(community_id, AccountKind.WALLET, member_id=member_id)
    with dated(in_last_month()):
        ledger.post(
            community_id,
            TransactionKind.AWARD,
            [(issuance, -points), (wallet, points)],
            memo=f"志愿 {points}",
        )


def setup(admins: int = 2):
    community = communities.create_community(unique("pg-close"), "结账并发社区")
    people = [new_member(community, Role.FUND_ADMIN) for _ in range(admins)]
    resident = new_member(community)
    db.session.flush()
    award_last_month(community.id, resident.id, 300)
    month_close.request_close(community, last_month(), actor=people[0])
    db.session.commit()
    return community, people, resident


def stored_points(community_id: int) -> int:
    db.session.expire_all()
    close = db.session.scalar(sa.select(MonthClose).where(MonthClose.community_id == community_id))
    assert close.status == MonthCloseStatus.CLOSED
    return json.loads(close.report)["points"]["minted"]["manual_awards"]


def test_two_confirmations_at_once_close_the_month_once(pg):
    community, (_asker, first, second), _resident = setup(admins=3)
    tokens = [auth.issue_token(admin)[0] for admin in (first, second)]
    db.session.commit()
    path = f"/api/v1/communities/{community.slug}/periods/{last_month()}/close/confirm"

    replies = concurrently(pg, [post(path, None, token) for token in tokens])

    assert sorted(r.status for r in replies) == [200, 409]
    won = next(json.loads(r.body) for r in replies if r.status == 200)
    lost = next(json.loads(r.body) for r in replies if r.status == 409)
    assert lost["type"] == "urn:jifen:problem:illegal-month-close-transition"
    db.session.expire_all()
    close = db.session.scalar(sa.select(MonthClose).where(MonthClose.community_id == community.id))
    assert close.status == MonthCloseStatus.CLOSED
    assert close.confirmed_by_id == won["confirmed_by_id"] in (first.id, second.id)
    assert close.report_sha256 == won["report_sha256"]


def in_thread(app, work):
    """Run ``work()`` in an app context of its own (its own session and connection)."""
    outcome = {}

    def run():
        with app.app_context():
            try:
                outcome["value"] = work()
            except Exception as error:  # reported in the test's thread
                outcome["error"] = error
            finally:
                db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_posting_in_flight_lands_before_the_close_and_is_in_its_report(pg):
    community, (_asker, confirmer), resident = setup()
    ids = community.id, resident.id, confirmer.id
    posted = threading.Event()

    def posting():
        award_last_month(ids[0], ids[1], 7)
        posted.set()
        time.sleep(0.5)  # the close waits for this transaction
        db.session.commit()

    def closing():
        posted.wait(10)
        found = db.session.get(Community, ids[0])
        month_close.confirm_close(found, last_month(), actor=db.session.get(Member, ids[2]))
        db.session.commit()
        return time.monotonic()

    poster, posting_outcome = in_thread(pg, posting)
    closer, closing_outcome = in_thread(pg, closing)
    poster.join(30)
    closer.join(30)

    assert "error" not in posting_outcome and "error" not in closing_outcome
    assert stored_points(community.id) == 300 + 7


def test_a_posting_after_the_close_began_waits_and_is_refused(pg):
    community, (_asker, confirmer), resident = setup()
    ids = community.id, resident.id, confirmer.id
    holding = threading.Event()

    def closing():
        found = db.session.get(Community, ids[0])
        month_close.confirm_close(found, last_month(), actor=db.session.get(Member, ids[2]))
        holding.set()
        time.sleep(0.5)  # the posting waits for this commit
        db.session.commit()

    def posting():
        holding.wait(10)
        started = time.monotonic()
        try:
            award_last_month(ids[0], ids[1], 7)
            db.session.commit()
        except ledger.MonthClosed:
            db.session.rollback()
            return ("refused", time.monotonic() - started)
        return ("posted", time.monotonic() - started)

    closer, closing_outcome = in_thread(pg, closing)
    poster, posting_outcome = in_thread(pg, posting)
    closer.join(30)
    poster.join(30)

    assert "error" not in closing_outcome, closing_outcome
    result, waited = posting_outcome["value"]
    assert result == "refused"
    assert waited >= 0.3, "the posting did not wait for the close"
    assert stored_points(community.id) == 300
