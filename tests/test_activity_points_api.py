"""Points for attending, through the API: finalizing awards each confirmed
attendance once, per-hour points from the recorded times, and the monthly cap."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from support.activities import Setting, per_hour
from support.names import unique
from support.problems import problem

from app.extensions import db
from models import Activity, Attendance, LedgerTransaction, Role, TransactionKind


@pytest.fixture
def s(api, make_community, make_member):
    return Setting(api, make_community, make_member)


# --- finalize ---------------------------------------------------------------------------------


def attendance_awards(activity_id) -> list:
    return db.session.scalars(
        sa.select(LedgerTransaction.reference)
        .where(LedgerTransaction.kind == TransactionKind.ATTENDANCE_AWARD)
        .where(
            LedgerTransaction.reference.in_(
                sa.select(sa.literal("attendance:") + sa.cast(Attendance.id, sa.String)).where(
                    Attendance.activity_id == activity_id
                )
            )
        )
        .order_by(LedgerTransaction.id)
    ).all()


def test_finalize_awards_each_confirmed_attendance_once(s, make_member, clock):
    activity = s.activity(clock.now, title="北新街清扫", points=50)
    third = make_member(s.community)
    path = f"/activities/{activity.id}/attendances"
    code = s.code(activity)["code"]
    ids = {}
    for member in (s.resident, s.neighbour, third):
        ids[member.id] = s.api.as_(member).post(path, json={"code": code}).json["id"]
    s.as_neighbour.post(f"/activities/{activity.id}/signup")
    absent = make_member(s.community)
    s.api.as_(absent).post(f"/activities/{activity.id}/signup")
    problem(s.as_organizer.post(f"/attendances/{ids[third.id]}/exclude", json={"reason": ""}), 422)
    excluded = s.as_organizer.post(
        f"/attendances/{ids[third.id]}/exclude", json={"reason": "未实际参加清扫"}
    )
    assert excluded.json["status"] == "excluded"
    assert excluded.json["excluded_reason"] == "未实际参加清扫"
    problem(s.as_resident.post(f"/activities/{activity.id}/finalize", key=True), 403)

    key = "finalize-" + unique("k")
    first = s.as_organizer.post(f"/activities/{activity.id}/finalize", key=key)

    assert first.status_code == 200, first.json
    assert first.json["id"] == activity.id
    assert first.json["activity"]["status"] == "finalized"
    assert (first.json["awarded"], first.json["points_awarded"]) == (2, 100)
    assert (first.json["capped"], first.json["excluded"], first.json["absent"]) == (0, 1, 1)
    assert s.balance(s.resident) == s.balance(s.neighbour) == 50
    assert s.balance(third) == 0
    assert attendance_awards(activity.id) == [
        f"attendance:{ids[s.resident.id]}",
        f"attendance:{ids[s.neighbour.id]}",
    ]
    line = s.as_resident.get(f"/members/{s.resident.id}/transactions").json["items"][0]
    assert line["kind"] == "attendance_award"
    assert line["memo"] == "北新街清扫"
    assert line["activity_title"] == "北新街清扫"
    assert line["activity_id"] == activity.id
    assert line["reference"] == f"attendance:{ids[s.resident.id]}"
    assert (line["points"], line["balance_after"]) == (50, 50)

    replay = s.as_organizer.post(f"/activities/{activity.id}/finalize", key=key)
    second = s.as_organizer.post(f"/activities/{activity.id}/finalize", key=True)

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == first.json
    assert second.status_code == 200
    assert (second.json["awarded"], second.json["points_awarded"]) == (0, 0)
    assert second.json["activity"]["finalized_at"] == first.json["activity"]["finalized_at"]
    assert len(attendance_awards(activity.id)) == 2
    assert s.balance(s.resident) == 50
    for move in ("exclude", "reinstate"):
        response = s.as_organizer.post(
            f"/attendances/{ids[s.resident.id]}/{move}", json={"reason": "晚了"}
        )
        assert response.status_code in (409, 422)
    problem(s.as_organizer.post(f"/activities/{activity.id}/cancel"), 409)


def test_finalize_needs_an_idempotency_key(s, clock):
    activity = s.activity(clock.now)
    problem(
        s.as_organizer.post(f"/activities/{activity.id}/finalize"), 400, "idempotency-key-required"
    )
    db.session.expire_all()
    assert db.session.get(Activity, activity.id).finalized_at is None


def test_a_reinstated_attendance_is_awarded(s, clock):
    activity = s.activity(clock.now, points=30)
    attendance = s.as_organizer.post(
        f"/activities/{activity.id}/attendances", json={"member_id": s.resident.id}
    ).json
    s.as_organizer.post(f"/attendances/{attendance['id']}/exclude", json={"reason": "待核实"})
    back = s.as_organizer.post(f"/attendances/{attendance['id']}/reinstate")
    assert back.json["status"] == "checked_in"
    assert back.json["excluded_reason"] is None
    result = s.as_organizer.post(f"/activities/{activity.id}/finalize", key=True).json
    assert result["awarded"] == 1
    assert s.balance(s.resident) == 30


def test_per_hour_points_come_from_the_recorded_times(s, make_member, clock):
    activity = s.activity(clock.now, starts=timedelta(hours=-5), hours=4, **per_hour(10, 30))
    start = activity.starts_at
    path = f"/activities/{activity.id}/attendances"
    late, partial, long_stayer = s.resident, s.neighbour, make_member(s.community)
    times = {
        # 1 h 35 min inside the activity: 95 * 10 / 60 = 15.8 -> 15
        late.id: (start + timedelta(minutes=65), start + timedelta(minutes=160)),
        # 20 minutes: 3 points
        partial.id: (start, start + timedelta(minutes=20)),
        # arrives early, leaves late: only the activity's 4 hours count, capped at 30
        long_stayer.id: (start - timedelta(minutes=30), start + timedelta(hours=4, minutes=30)),
    }
    for member_id, (arrived, left) in times.items():
        body = {"member_id": member_id}
        assert (
            s.as_organizer.post(path, json={**body, "at": arrived.isoformat()}).status_code == 201
        )
        if member_id != long_stayer.id:
            assert (
                s.as_organizer.request(
                    "PATCH", path, json={**body, "at": left.isoformat()}
                ).status_code
                == 200
            )

    still_in = s.as_organizer.post(f"/activities/{activity.id}/finalize", key=True)
    body = problem(still_in, 409, "attendances-not-checked-out")
    assert len(body["attendance_ids"]) == 1
    assert s.balance(long_stayer) == 0
    left = times[long_stayer.id][1]
    s.as_organizer.request(
        "PATCH", path, json={"member_id": long_stayer.id, "at": left.isoformat()}
    )

    result = s.as_organizer.post(f"/activities/{activity.id}/finalize", key=True)

    assert result.status_code == 200, result.json
    assert result.json["points_awarded"] == 15 + 3 + 30
    listed = s.as_organizer.get(path).json["items"]
    assert {(a["member_id"], a["points_computed"], a["points_awarded"]) for a in listed} == {
        (late.id, 15, 15),
        (partial.id, 3, 3),
        (long_stayer.id, 30, 30),
    }
    assert s.balance(late) == 15


def test_a_zero_point_attendance_posts_nothing(s, clock):
    activity = s.activity(clock.now, starts=timedelta(hours=-1), **per_hour(10, 30))
    path = f"/activities/{activity.id}/attendances"
    body = {"member_id": s.resident.id}
    s.as_organizer.post(path, json={**body, "at": activity.starts_at.isoformat()})
    s.as_organizer.request(
        "PATCH", path, json={**body, "at": (activity.starts_at + timedelta(minutes=5)).isoformat()}
    )
    result = s.as_organizer.post(f"/activities/{activity.id}/finalize", key=True).json
    assert (result["awarded"], result["points_awarded"]) == (1, 0)
    attendance = s.as_organizer.get(path).json["items"][0]
    assert (attendance["points_computed"], attendance["points_awarded"]) == (0, 0)
    assert attendance["transaction_id"] is None
    assert attendance["capped"] is False


# --- the monthly cap ------------------------------------------------------------------------


def test_the_monthly_cap_counts_manual_awards_and_records_what_it_cut(s, clock):
    rules = f"/communities/{s.community.slug}/earning-rules"
    assert s.as_fund.request("PUT", rules, json={"monthly_earning_cap": 100}).json == {
        "monthly_earning_cap": 100
    }
    assert s.as_resident.get(rules).json == {"monthly_earning_cap": 100}
    for points, reason in ((70, "绿化美化"), (-20, "更正")):
        award = s.as_fund.post(
            f"/communities/{s.community.slug}/awards",
            json={"member_id": s.resident.id, "points": points, "reason": reason},
            key=True,
        )
        assert award.status_code == 201
    first = s.activity(clock.now, title="清扫一", points=50)
    second = s.activity(clock.now, title="清扫二", points=40)
    for activity in (first, second):
        s.as_organizer.post(
            f"/activities/{activity.id}/attendances", json={"member_id": s.resident.id}
        )
        s.as_organizer.post(
            f"/activities/{activity.id}/attendances", json={"member_id": s.neighbour.id}
        )

    one = s.as_organizer.post(f"/activities/{first.id}/finalize", key=True).json
    two = s.as_organizer.post(f"/activities/{second.id}/finalize", key=True).json

    # 70 earned by award (the deduction gives no room back): 30 of 50 fit, then nothing.
    assert (one["points_awarded"], one["capped"]) == (30 + 50, 1)
    assert (two["points_awarded"], two["capped"]) == (0 + 40, 1)
    assert s.balance(s.resident) == 50 + 30
    assert s.balance(s.neighbour) == 90
    history = s.as_resident.get(f"/members/{s.resident.id}/attendances").json["items"]
    assert [
        (a["activity"]["title"], a["points_computed"], a["points_awarded"], a["capped"])
        for a in history
    ] == [("清扫二", 40, 0, True), ("清扫一", 50, 30, True)]
    assert history[0]["transaction_id"] is None
    assert history[0]["status"] == "awarded"
    lines = s.as_resident.get(f"/members/{s.resident.id}/transactions").json["items"]
    assert [(line["kind"], line["points"]) for line in lines] == [
        ("attendance_award", 30),
        ("deduction", -20),
        ("award", 70),
    ]


def test_earning_rules_are_for_fund_admins(s, make_community, make_member):
    path = f"/communities/{s.community.slug}/earning-rules"
    problem(s.as_organizer.request("PUT", path, json={"monthly_earning_cap": 5}), 403)
    problem(s.as_fund.request("PUT", path, json={"monthly_earning_cap": -1}), 422)
    problem(s.as_fund.request("PUT", path, json={}), 422)
    outsider = s.api.as_(make_member(make_community(), Role.FUND_ADMIN))
    problem(outsider.request("PUT", path, json={"monthly_earning_cap": 5}), 404)
    assert s.as_fund.request("PUT", path, json={"monthly_earning_cap": None}).json == {
        "monthly_earning_cap": None
    }
