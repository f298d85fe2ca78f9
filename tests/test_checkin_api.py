"""Taking part through the API: sign-up and capacity, the three check-in paths (the
rotating code, the organizer, the member code), replays, check-out, and the QR images."""

from datetime import datetime, timedelta

import pytest
from support.activities import Setting, make_activity
from support.books import count
from support.problems import problem
from support.qr import decode_png, decode_svg

from app import checkin_codes
from models import ActivitySignup, Attendance, Role


@pytest.fixture
def s(api, make_community, make_member):
    return Setting(api, make_community, make_member)


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
    response = s.as_resident.post(
        f"/activities/{activity.id}/attendances",
        json={"code": code},
        headers={"Accept-Language": "en"},
    )
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
    refused = s.as_resident.post(path, json={"member_id": s.neighbour.id})
    problem(refused, 403, "others-by-organizers-only")
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
    assert foreign["detail"] == "这个居民码属于其他社区。"
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
    problem(s.api.as_(staff).get(f"/members/{staff.id}/code"), 404, "no-member-code")


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
    assert decode_svg(svg.get_data(as_text=True)) == shown["url"]

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
    assert decode_svg(svg.get_data(as_text=True)) == code["code"]
