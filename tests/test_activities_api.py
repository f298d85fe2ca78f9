"""Earning points through the API: activities, sign-up, the three check-in paths,
replays, capacity, finalizing once, per-hour points, the monthly cap, and
everything refused across communities."""

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from activity_helpers import decode_png, decode_svg, make_activity, per_hour, pin_clock
from conftest import unique

from app import checkin_codes
from app.extensions import db
from models import (
    Activity,
    ActivitySignup,
    Attendance,
    AuditEntry,
    LedgerTransaction,
    Role,
    TransactionKind,
)

PROBLEM = "application/problem+json"


@pytest.fixture
def clock(monkeypatch):
    return pin_clock(monkeypatch)


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def problem(response, status: int, slug: str | None = None) -> dict:
    assert response.status_code == status, response.get_json()
    assert response.mimetype == PROBLEM
    if slug is not None:
        assert response.json["type"] == f"urn:jifen:problem:{slug}"
    return response.json


class Setting:
    """A community with an organizer, a fund admin and two residents, and their API clients."""

    def __init__(self, api, make_community, make_member, **community_fields):
        self.community = make_community(**community_fields)
        self.organizer = make_member(self.community, Role.ORGANIZER)
        self.fund = make_member(self.community, Role.FUND_ADMIN)
        self.resident = make_member(self.community, display_name="王秀兰")
        self.neighbour = make_member(self.community, display_name="李建国")
        self.api = api
        self.as_organizer = api.as_(self.organizer)
        self.as_fund = api.as_(self.fund)
        self.as_resident = api.as_(self.resident)
        self.as_neighbour = api.as_(self.neighbour)

    def activity(self, now, **fields) -> Activity:
        return make_activity(self.community, self.organizer, now=now, **fields)

    def code(self, activity) -> dict:
        response = self.as_organizer.get(f"/activities/{activity.id}/check-in-code")
        assert response.status_code == 200, response.json
        return response.json

    def balance(self, member) -> int:
        return self.api.as_(member).get(f"/members/{member.id}/balance").json["points"]


@pytest.fixture
def s(api, make_community, make_member):
    return Setting(api, make_community, make_member)


def activity_body(**fields):
    body = {
        "title": "社区花坛补植",
        "category": "greening",
        "starts_at": "2030-05-01T09:00:00+08:00",
        "ends_at": "2030-05-01T11:30:00+08:00",
        "points": 80,
    }
    return {**body, **fields}


# --- activities ---------------------------------------------------------------------------


def test_organizer_creates_a_draft_and_publishes_it(s):
    created = s.as_organizer.post(
        f"/communities/{s.community.slug}/activities",
        json=activity_body(description="补种月季", place="北新街花坛", capacity=20),
    )

    assert created.status_code == 201, created.json
    body = created.json
    assert body["status"] == "draft"
    assert body["title"] == "社区花坛补植"
    assert body["category"] == "greening"
    assert body["points_rule"] == "fixed"
    assert body["points"] == 80
    assert body["max_points"] is None
    assert body["capacity"] == 20
    assert body["place"] == "北新街花坛"
    assert body["starts_at"] == "2030-05-01T01:00:00+00:00"
    assert "checkin_secret" not in body
    activity_id = body["id"]
    listing = f"/communities/{s.community.slug}/activities"
    assert s.as_resident.get(listing).json["items"] == []
    problem(s.as_resident.get(f"/activities/{activity_id}"), 404, "not-found")
    problem(s.as_resident.post(f"/activities/{activity_id}/signup"), 404)

    published = s.as_organizer.post(f"/activities/{activity_id}/publish")

    assert published.status_code == 200
    assert published.json["status"] == "published"
    assert published.json["published_at"]
    upcoming = s.as_resident.get(listing + "?upcoming=true").json["items"]
    assert [item["id"] for item in upcoming] == [activity_id]
    detail = s.as_resident.get(f"/activities/{activity_id}").json
    assert (detail["participants"], detail["places_left"], detail["signed_up"]) == (0, 20, False)
    again = s.as_organizer.post(f"/activities/{activity_id}/publish")
    assert again.status_code == 200
    assert again.json["published_at"] == published.json["published_at"]
    actions = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.actor_id == s.organizer.id)
    ).all()
    assert actions == ["activity.create", "activity.manage", "activity.manage"]


def test_a_time_without_offset_is_beijing_time(s):
    response = s.as_organizer.post(
        f"/communities/{s.community.slug}/activities",
        json=activity_body(starts_at="2030-05-01T09:00:00", ends_at="2030-05-01T10:00:00"),
    )
    assert response.status_code == 201
    assert response.json["starts_at"] == "2030-05-01T01:00:00+00:00"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ends_at": "2030-05-01T08:00:00+08:00"}, "ends_at"),
        ({"ends_at": "2030-05-01T09:00:00+08:00"}, "ends_at"),
        ({"points_rule": "per_hour"}, "max_points"),
        ({"max_points": 100}, "max_points"),
        ({"category": "fishing"}, "category"),
        ({"points": 0}, "points"),
        ({"points": "80"}, "points"),
        ({"capacity": 0}, "capacity"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"starts_at": "tomorrow"}, "starts_at"),
    ],
)
def test_invalid_activities_are_refused(s, fields, field):
    before = count(Activity)
    response = s.as_organizer.post(
        f"/communities/{s.community.slug}/activities", json=activity_body(**fields)
    )
    body = problem(response, 422)
    assert field in body["errors"]["json"]
    assert count(Activity) == before


def test_only_organizers_of_the_community_create_activities(s, make_community, make_member):
    path = f"/communities/{s.community.slug}/activities"
    stranger = s.api.as_(make_member(make_community(), Role.ORGANIZER))
    problem(s.as_resident.post(path, json=activity_body()), 403, "forbidden")
    problem(stranger.post(path, json=activity_body()), 404, "not-found")
    assert s.as_fund.post(path, json=activity_body()).status_code == 201
    assert count(Activity, Activity.community_id == s.community.id) == 1


def test_illegal_moves_are_named_and_change_nothing(s, clock):
    activity = s.activity(clock.now, publish=False)
    problem(s.as_organizer.post(f"/activities/{activity.id}/close"), 409)
    problem(
        s.as_organizer.post(f"/activities/{activity.id}/finalize", key=True),
        409,
        "illegal-activity-transition",
    )
    assert s.as_organizer.post(f"/activities/{activity.id}/cancel").json["status"] == "cancelled"
    refused = s.as_organizer.post(f"/activities/{activity.id}/publish")
    body = problem(refused, 409, "illegal-activity-transition")
    assert body["detail"] == f"Activity {activity.id} is cancelled; it cannot become published."
    db.session.expire_all()
    assert db.session.get(Activity, activity.id).published_at is None


def test_closing_ends_check_in_by_code(s, clock):
    activity = s.activity(clock.now)
    code = s.code(activity)["code"]
    closed = s.as_organizer.post(f"/activities/{activity.id}/close")
    assert closed.json["status"] == "closed"
    problem(s.as_organizer.get(f"/activities/{activity.id}/check-in-code"), 409, "check-in-closed")
    response = s.as_resident.post(f"/activities/{activity.id}/attendances", json={"code": code})
    problem(response, 409, "check-in-closed")
    # The organizer may still add someone from the paper list while reviewing.
    recorded = s.as_organizer.post(
        f"/activities/{activity.id}/attendances", json={"member_id": s.resident.id}
    )
    assert recorded.status_code == 201


# --- sign-up and capacity ---------------------------------------------------------------------


def test_sign_up_is_idempotent_and_capacity_is_kept(s, make_member, clock):
    activity = s.activity(clock.now, starts=timedelta(days=1), capacity=1)
    path = f"/activities/{activity.id}/signup"

    first = s.as_resident.post(path)
    again = s.as_resident.post(path)
    full = s.as_neighbour.post(path)

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json == first.json
    problem(full, 409, "activity-full")
    assert count(ActivitySignup, ActivitySignup.activity_id == activity.id) == 1
    assert s.as_resident.get(f"/activities/{activity.id}").json["signed_up"] is True

    assert s.as_resident.delete(path).status_code == 204
    assert s.as_neighbour.post(path).status_code == 201
    staff = s.api.as_(make_member(s.community, Role.MERCHANT_STAFF))
    problem(staff.post(path), 403)


def test_walk_ins_take_the_places_left(s, make_member, clock):
    activity = s.activity(clock.now, capacity=2)
    walker = make_member(s.community)
    assert s.as_resident.post(f"/activities/{activity.id}/signup").status_code == 201
    code = s.code(activity)["code"]
    path = f"/activities/{activity.id}/attendances"

    assert s.as_neighbour.post(path, json={"code": code}).status_code == 201
    problem(s.api.as_(walker).post(path, json={"code": code}), 409, "activity-full")
    # The signed-up resident's place was kept for them.
    assert s.as_resident.post(path, json={"code": code}).status_code == 201
    assert count(Attendance, Attendance.activity_id == activity.id) == 2


# --- check-in: the rotating code ------------------------------------------------------------


def test_resident_checks_in_with_the_rotating_code_and_a_retry_is_the_same(s, clock):
    activity = s.activity(clock.now)
    shown = s.code(activity)
    path = f"/activities/{activity.id}/attendances"

    first = s.as_resident.post(path, json={"code": shown["code"]})
    retry = s.as_resident.post(path, json={"code": shown["code"]})

    assert first.status_code == 201, first.json
    assert first.json["status"] == "checked_in"
    assert first.json["check_in_method"] == "code"
    assert first.json["member_id"] == s.resident.id
    assert first.json["member_name"] == "王秀兰"
    assert first.json["checked_in_at"] == clock.now.isoformat()
    assert first.json["checked_out_at"] is None
    assert retry.status_code == 200
    assert retry.json == first.json
    assert count(Attendance, Attendance.activity_id == activity.id) == 1


def test_the_code_is_short_and_rotates_every_window(s, clock):
    activity = s.activity(clock.now)
    first = s.code(activity)
    assert len(first["code"]) == 6
    assert set(first["code"]) <= set(checkin_codes.ALPHABET)
    assert not set(first["code"]) & set("01IO")
    assert first["url"].endswith(f"/activities/{activity.id}/check-in?code={first['code']}")
    refresh_at = datetime.fromisoformat(first["refresh_at"])
    assert 0 < (refresh_at - clock.now).total_seconds() <= 30
    assert first["refresh_in"] == (refresh_at - clock.now).total_seconds()
    assert datetime.fromisoformat(first["valid_until"]) == refresh_at + timedelta(seconds=30)

    clock.advance(seconds=30)
    second = s.code(activity)

    assert second["window"] == first["window"] + 1
    assert second["code"] != first["code"]


def test_the_previous_windows_code_still_works(s, clock):
    activity = s.activity(clock.now)
    code = s.code(activity)["code"]
    clock.advance(seconds=30)
    response = s.as_resident.post(f"/activities/{activity.id}/attendances", json={"code": code})
    assert response.status_code == 201


@pytest.mark.parametrize("later", [60, 600, 3600])
def test_a_replayed_old_code_is_refused_as_expired(s, clock, later):
    activity = s.activity(clock.now)
    code = s.code(activity)["code"]
    clock.advance(seconds=later)
    response = s.as_resident.post(f"/activities/{activity.id}/attendances", json={"code": code})
    body = problem(response, 422, "check-in-code-expired")
    assert "expired" in body["detail"]
    assert count(Attendance, Attendance.activity_id == activity.id) == 0


def test_a_foreign_code_is_refused(s, make_community, make_member, clock):
    mine = s.activity(clock.now)
    other = s.activity(clock.now, title="另一个活动")
    elsewhere = make_community()
    far = make_activity(elsewhere, make_member(elsewhere, Role.ORGANIZER), now=clock.now)
    path = f"/activities/{mine.id}/attendances"

    for code in (
        s.code(other)["code"],
        checkin_codes.code_for(far, checkin_codes.window_at(clock.now)),
        "ZZZZZZ",
        "检查代码",
        s.code(other)["url"],
    ):
        body = problem(s.as_resident.post(path, json={"code": code}), 422)
        assert body["type"] == "urn:jifen:problem:check-in-code-invalid", code
    assert count(Attendance) == 0


def test_the_qr_payload_and_a_sloppily_typed_code_work(s, clock):
    activity = s.activity(clock.now)
    shown = s.code(activity)
    path = f"/activities/{activity.id}/attendances"
    typed = " " + shown["code"][:3].lower() + "-" + shown["code"][3:].lower() + " "

    assert s.as_resident.post(path, json={"code": shown["url"]}).status_code == 201
    assert s.as_neighbour.post(path, json={"code": typed}).status_code == 201


def test_residents_never_see_the_code(s, make_community, make_member, clock):
    activity = s.activity(clock.now)
    stranger = s.api.as_(make_member(make_community(), Role.ORGANIZER))
    for path in ("check-in-code", "check-in-qr.png", "check-in-qr.svg"):
        problem(s.as_resident.get(f"/activities/{activity.id}/{path}"), 403)
        problem(stranger.get(f"/activities/{activity.id}/{path}"), 404)


def test_check_in_opens_an_hour_before_and_ends_with_the_activity(s, clock):
    early = s.activity(clock.now, starts=timedelta(hours=1, minutes=5))
    over = s.activity(clock.now, starts=timedelta(hours=-3), hours=2)
    for activity in (early, over):
        code = s.code(activity)["code"]
        response = s.as_resident.post(f"/activities/{activity.id}/attendances", json={"code": code})
        problem(response, 409, "check-in-closed")
    clock.advance(minutes=5)
    code = s.code(early)["code"]
    response = s.as_resident.post(f"/activities/{early.id}/attendances", json={"code": code})
    assert response.status_code == 201


# --- check-in: the organizer ----------------------------------------------------------------


def test_organizer_checks_a_member_in_by_id_or_by_their_member_code(s, clock):
    activity = s.activity(clock.now)
    path = f"/activities/{activity.id}/attendances"
    member_code = s.as_resident.get(f"/members/{s.resident.id}/code").json["code"]

    by_id = s.as_organizer.post(path, json={"member_id": s.neighbour.id})
    by_scan = s.as_organizer.post(path, json={"member_code": member_code})

    assert by_id.status_code == by_scan.status_code == 201
    assert by_id.json["check_in_method"] == "organizer"
    assert by_id.json["checked_in_by_id"] == s.organizer.id
    assert by_scan.json["check_in_method"] == "member_code"
    assert by_scan.json["member_id"] == s.resident.id
    again = s.as_organizer.post(path, json={"member_code": member_code})
    assert again.status_code == 200
    assert again.json["id"] == by_scan.json["id"]


def test_residents_cannot_check_in_somebody_else(s, clock):
    activity = s.activity(clock.now)
    path = f"/activities/{activity.id}/attendances"
    problem(s.as_resident.post(path, json={"member_id": s.neighbour.id}), 403, "forbidden")
    member_code = s.as_neighbour.get(f"/members/{s.neighbour.id}/code").json["code"]
    problem(s.as_resident.post(path, json={"member_code": member_code}), 403)
    problem(s.as_resident.get(f"/members/{s.neighbour.id}/code"), 404)
    assert count(Attendance) == 0


def test_member_codes_from_elsewhere_or_tampered_are_refused(s, make_community, make_member, clock):
    activity = s.activity(clock.now)
    path = f"/activities/{activity.id}/attendances"
    outsider = make_member(make_community())
    outsider_code = s.api.as_(outsider).get(f"/members/{outsider.id}/code").json["code"]
    genuine = checkin_codes.member_code(s.resident)
    prefix, community_id, member_id, signature = genuine.split(".")
    tampered = [
        f"{prefix}.{community_id}.{s.neighbour.id}.{signature}",
        f"{prefix}.{community_id}.{member_id}.{signature[:-1]}A",
        f"{prefix}.{community_id}.{member_id}",
        "JFM.x.y.z",
        "JFM.１.２.ABC",
        genuine.replace("JFM", "JFX"),
    ]

    foreign = problem(s.as_organizer.post(path, json={"member_code": outsider_code}), 422)
    assert foreign["type"] == "urn:jifen:problem:member-code-invalid"
    assert foreign["detail"] == "This member code belongs to another community."
    for code in tampered:
        body = problem(s.as_organizer.post(path, json={"member_code": code}), 422)
        assert body["type"] == "urn:jifen:problem:member-code-invalid", code
    by_id = problem(s.as_organizer.post(path, json={"member_id": outsider.id}), 422)
    assert "member_id" in by_id["errors"]["json"]
    assert count(Attendance) == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"code": "ABCDEF", "member_id": 1}, {"member_id": "7"}, {"code": ""}],
)
def test_a_check_in_names_exactly_one_member(s, clock, body):
    activity = s.activity(clock.now)
    response = s.as_organizer.post(f"/activities/{activity.id}/attendances", json=body)
    problem(response, 422)


def test_only_wallet_holders_attend(s, make_member, clock):
    activity = s.activity(clock.now)
    staff = make_member(s.community, Role.MERCHANT_STAFF)
    response = s.as_organizer.post(
        f"/activities/{activity.id}/attendances", json={"member_id": staff.id}
    )
    assert "member_id" in problem(response, 422)["errors"]["json"]
    problem(s.as_organizer.get(f"/members/{staff.id}/code"), 403)


# --- check-out ------------------------------------------------------------------------------


def test_check_out_by_code_keeps_both_times(s, clock):
    activity = s.activity(clock.now)
    path = f"/activities/{activity.id}/attendances"
    checked_in = clock.now
    s.as_resident.post(path, json={"code": s.code(activity)["code"]})
    problem(
        s.as_neighbour.request("PATCH", path, json={"code": s.code(activity)["code"]}),
        409,
        "not-checked-in",
    )

    clock.advance(minutes=95)
    out = s.as_resident.request("PATCH", path, json={"code": s.code(activity)["code"]})
    clock.advance(minutes=5)
    again = s.as_resident.request("PATCH", path, json={"code": s.code(activity)["code"]})

    assert out.status_code == 200, out.json
    assert out.json["status"] == "checked_out"
    assert out.json["checked_in_at"] == checked_in.isoformat()
    assert out.json["checked_out_at"] == (checked_in + timedelta(minutes=95)).isoformat()
    assert again.json == out.json


def test_organizer_records_times_but_not_in_the_future_or_backwards(s, clock):
    activity = s.activity(clock.now, starts=timedelta(hours=-2))
    path = f"/activities/{activity.id}/attendances"
    arrived = clock.now - timedelta(minutes=90)
    body = {"member_id": s.resident.id}

    problem(
        s.as_organizer.post(
            path, json={**body, "at": (clock.now + timedelta(minutes=1)).isoformat()}
        ),
        422,
    )
    checked_in = s.as_organizer.post(path, json={**body, "at": arrived.isoformat()})
    assert checked_in.json["checked_in_at"] == arrived.isoformat()
    backwards = s.as_organizer.request(
        "PATCH", path, json={**body, "at": (arrived - timedelta(minutes=1)).isoformat()}
    )
    assert "at" in problem(backwards, 422)["errors"]["json"]
    code = s.code(activity)["code"]
    problem(s.as_resident.post(path, json={"code": code, "at": arrived.isoformat()}), 422)


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


# --- QR images --------------------------------------------------------------------------------


def test_check_in_qr_images_decode_to_the_exact_payload(s, clock):
    activity = s.activity(clock.now)
    shown = s.code(activity)
    png = s.as_organizer.get(f"/activities/{activity.id}/check-in-qr.png")
    svg = s.as_organizer.get(f"/activities/{activity.id}/check-in-qr.svg")

    assert png.mimetype == "image/png"
    assert svg.mimetype == "image/svg+xml"
    assert png.headers["Cache-Control"] == "no-store"
    assert decode_png(png.data) == shown["url"]
    assert decode_svg(svg.data) == shown["url"]

    clock.advance(seconds=30)
    previous = s.as_organizer.get(
        f"/activities/{activity.id}/check-in-qr.png?window={shown['window']}"
    )
    assert decode_png(previous.data) == shown["url"]
    for window in (shown["window"] - 1, shown["window"] + 2):
        response = s.as_organizer.get(f"/activities/{activity.id}/check-in-qr.svg?window={window}")
        assert "window" in problem(response, 422)["errors"]["query"]


def test_member_qr_images_decode_to_the_member_code(s):
    code = s.as_resident.get(f"/members/{s.resident.id}/code").json
    assert code == {
        "member_id": s.resident.id,
        "community_id": s.community.id,
        "code": checkin_codes.member_code(s.resident),
    }
    png = s.as_resident.get(f"/members/{s.resident.id}/code.png")
    svg = s.as_resident.get(f"/members/{s.resident.id}/code.svg")
    assert decode_png(png.data) == code["code"]
    assert decode_svg(svg.data) == code["code"]


# --- lists and other communities --------------------------------------------------------------


def test_lists_of_activities_and_attendances(s, clock):
    done = s.activity(clock.now, title="已结束")
    s.as_organizer.post(f"/activities/{done.id}/attendances", json={"member_id": s.resident.id})
    s.as_organizer.post(f"/activities/{done.id}/finalize", key=True)
    coming = s.activity(clock.now, title="即将开始", starts=timedelta(days=2))
    draft = s.activity(clock.now, title="草稿", publish=False)
    listing = f"/communities/{s.community.slug}/activities"

    seen_by_resident = [a["id"] for a in s.as_resident.get(listing).json["items"]]
    seen_by_organizer = [a["id"] for a in s.as_organizer.get(listing).json["items"]]
    upcoming = [a["id"] for a in s.as_resident.get(listing + "?upcoming=true").json["items"]]
    finalized = s.as_organizer.get(listing + "?status=finalized").json["items"]

    assert seen_by_resident == [coming.id, done.id]
    assert seen_by_organizer == [draft.id, coming.id, done.id]
    assert upcoming == [coming.id]
    assert [a["id"] for a in finalized] == [done.id]
    attendances = s.as_organizer.get(f"/activities/{done.id}/attendances").json["items"]
    assert [(a["member_id"], a["status"]) for a in attendances] == [(s.resident.id, "awarded")]
    problem(s.as_resident.get(f"/activities/{done.id}/attendances"), 403)
    mine = s.as_resident.get(f"/members/{s.resident.id}/attendances").json["items"]
    assert [(a["activity"]["title"], a["points_awarded"]) for a in mine] == [("已结束", 50)]
    problem(s.as_neighbour.get(f"/members/{s.resident.id}/attendances"), 404)


def test_another_communitys_activity_is_out_of_reach(s, make_community, make_member, clock):
    activity = s.activity(clock.now)
    code = s.code(activity)["code"]
    attendance = s.as_organizer.post(
        f"/activities/{activity.id}/attendances", json={"member_id": s.neighbour.id}
    ).json
    elsewhere = make_community()
    outsider = s.api.as_(make_member(elsewhere))
    their_organizer = s.api.as_(make_member(elsewhere, Role.ORGANIZER))
    their_fund = s.api.as_(make_member(elsewhere, Role.FUND_ADMIN))
    before = (count(Attendance), count(ActivitySignup), count(LedgerTransaction))

    problem(outsider.post(f"/activities/{activity.id}/attendances", json={"code": code}), 404)
    problem(outsider.post(f"/activities/{activity.id}/signup"), 404)
    problem(outsider.get(f"/activities/{activity.id}"), 404)
    problem(their_organizer.post(f"/activities/{activity.id}/publish"), 404)
    problem(their_organizer.get(f"/activities/{activity.id}/attendances"), 404)
    problem(
        their_organizer.post(f"/attendances/{attendance['id']}/exclude", json={"reason": "x"}), 404
    )
    problem(their_fund.post(f"/activities/{activity.id}/finalize", key=True), 404)
    problem(
        their_organizer.post(f"/communities/{s.community.slug}/activities", json=activity_body()),
        404,
    )
    assert (count(Attendance), count(ActivitySignup), count(LedgerTransaction)) == before


def test_the_openapi_document_has_the_earning_contract(app, ctx):
    paths = app.test_client().get("/api/openapi.json").json["paths"]
    assert "post" in paths["/api/v1/communities/{slug}/activities"]
    attendances = paths["/api/v1/activities/{activity_id}/attendances"]
    assert {"post", "patch", "get"} <= set(attendances)
    finalize = paths["/api/v1/activities/{activity_id}/finalize"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in finalize["parameters"]}
    assert "image/png" in str(paths["/api/v1/activities/{activity_id}/check-in-qr.png"])
