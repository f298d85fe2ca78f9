"""Earning under real concurrency on PostgreSQL: retried check-ins, a full activity,
finalizing twice at once, the monthly cap across activities, and reconciliation after.

Each test commits for real in a community of its own (``committing_app``).
"""

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import sqlalchemy as sa
from support.books import reconciled
from support.concurrency import concurrently, invoke_reconcile, new_member
from support.names import unique

from app import activities, auth, checkin_codes, communities
from app import attendance as attending
from app.extensions import db
from models import (
    Activity,
    ActivityCategory,
    Attendance,
    Community,
    LedgerTransaction,
    Member,
    Role,
    TransactionKind,
    utcnow,
)

pytestmark = pytest.mark.postgres


@dataclass
class Place:
    community: Community
    organizer: Member
    residents: list[Member]
    tokens: dict[int, str] = field(default_factory=dict)

    def activity(self, **fields) -> Activity:
        now = utcnow()
        activity = activities.create_activity(
            self.community,
            actor=self.organizer,
            title=fields.pop("title", "北新街清扫"),
            category=ActivityCategory.ENVIRONMENT,
            starts_at=now - timedelta(minutes=10),
            ends_at=now + timedelta(hours=2),
            points=fields.pop("points", 50),
            **fields,
        )
        activities.publish(activity)
        db.session.commit()
        return activity

    def post(self, member, path, body=None, key=None):
        """A request to send from a thread; everything it needs is read here."""
        headers = {"Authorization": f"Bearer {self.tokens[member.id]}"}
        if key:
            headers["Idempotency-Key"] = key

        def request(client):
            return client.post(f"/api/v1{path}", json=body, headers=headers)

        return request


def new_place(residents=1, cap=None) -> Place:
    community = communities.create_community(unique("pg-earn"), "并发积分社区")
    community.monthly_earning_cap = cap
    place = Place(
        community,
        new_member(community, Role.ORGANIZER),
        [new_member(community) for _ in range(residents)],
    )
    for person in (place.organizer, *place.residents):
        place.tokens[person.id] = auth.issue_token(person)[0]
    db.session.commit()
    return place


def code_now(activity) -> str:
    return checkin_codes.code_for(activity, checkin_codes.window_at(utcnow()))


def statuses(replies) -> Counter:
    return Counter(reply.status for reply in replies)


def attendances(activity_id) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Attendance)
        .where(Attendance.activity_id == activity_id)
    )


def attendance_awards(community_id) -> list[int]:
    return db.session.scalars(
        sa.select(Attendance.points_awarded)
        .where(Attendance.community_id == community_id, Attendance.points_awarded.is_not(None))
        .order_by(Attendance.points_awarded.desc())
    ).all()


def assert_reconciles(app, place: Place) -> None:
    db.session.expire_all()
    reconciled(place.community)
    db.session.rollback()
    result = invoke_reconcile(app, place.community.slug)
    assert result.exit_code == 0, result.output
    assert "All checks passed." in result.output


def test_a_check_in_retried_at_once_is_one_attendance(pg):
    place = new_place()
    activity = place.activity()
    resident = place.residents[0]
    path = f"/activities/{activity.id}/attendances"

    replies = concurrently(pg, [place.post(resident, path, {"code": code_now(activity)})] * 20)

    assert statuses(replies) == {201: 1, 200: 19}
    assert len({json.loads(reply.body)["id"] for reply in replies}) == 1
    assert attendances(activity.id) == 1


def test_walk_ins_at_once_never_overfill_an_activity(pg):
    place = new_place(residents=16)
    activity = place.activity(capacity=5)
    path = f"/activities/{activity.id}/attendances"
    code = code_now(activity)

    replies = concurrently(pg, [place.post(r, path, {"code": code}) for r in place.residents])

    assert statuses(replies) == {201: 5, 409: 11}
    refused = {json.loads(r.body)["type"] for r in replies if r.status == 409}
    assert refused == {"urn:jifen:problem:activity-full"}
    assert attendances(activity.id) == 5


def test_finalizing_twice_at_once_awards_once(pg):
    place = new_place(residents=6)
    activity = place.activity(points=30)
    for resident in place.residents:
        attending.record_check_in(activity, actor=place.organizer, member_id=resident.id)
    db.session.commit()
    path = f"/activities/{activity.id}/finalize"

    replies = concurrently(
        pg, [place.post(place.organizer, path, key=str(uuid.uuid4())) for _ in range(8)]
    )

    assert statuses(replies) == {200: 8}
    awarded = sorted(json.loads(reply.body)["awarded"] for reply in replies)
    assert awarded == [0] * 7 + [6]
    db.session.expire_all()
    count = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(LedgerTransaction)
        .where(
            LedgerTransaction.community_id == place.community.id,
            LedgerTransaction.kind == TransactionKind.ATTENDANCE_AWARD,
        )
    )
    assert count == 6
    assert attendance_awards(place.community.id) == [30] * 6
    assert_reconciles(pg, place)


def test_the_monthly_cap_holds_when_activities_finalize_at_once(pg):
    place = new_place(residents=1, cap=100)
    resident = place.residents[0]
    several = [place.activity(title=f"活动{n}", points=40) for n in range(4)]
    for activity in several:
        attending.record_check_in(activity, actor=place.organizer, member_id=resident.id)
    db.session.commit()

    replies = concurrently(
        pg,
        [
            place.post(place.organizer, f"/activities/{a.id}/finalize", key=str(uuid.uuid4()))
            for a in several
        ],
    )

    assert statuses(replies) == {200: 4}
    db.session.expire_all()
    assert attendance_awards(place.community.id) == [40, 40, 20, 0]
    capped = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Attendance)
        .where(Attendance.community_id == place.community.id, Attendance.capped)
    )
    assert capped == 2
    wallet = communities.wallet_of(db.session.get(Member, resident.id))
    assert wallet.balance == 100
    assert_reconciles(pg, place)
