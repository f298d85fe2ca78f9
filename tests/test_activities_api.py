"""Activities through the API: an organizer drafts, publishes and closes them, what
is refused and named, the lists, and everything out of reach across communities."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from support.activities import Setting
from support.books import count
from support.problems import problem

from app.extensions import db
from models import Activity, ActivitySignup, Attendance, AuditEntry, LedgerTransaction, Role

#: The API answers in Chinese unless the reader asks for English.
ENGLISH = {"Accept-Language": "en"}


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
    assert body["title"] == "活动当前状态不允许此操作"
    assert body["detail"] == f"活动 {activity.id} 当前状态为 cancelled，不能变为 published。"
    english = s.as_organizer.post(f"/activities/{activity.id}/publish", headers=ENGLISH)
    body = problem(english, 409, "illegal-activity-transition")
    assert body["title"] == "Not possible in the activity's state"
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
