"""The coupon API (design.md §9): merchant groups, rules, runs, coupons, QR, keys, pay-codes."""

import base64

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from support.api import ApiClient
from support.books import count, escrow
from support.coupons import earn, spend
from support.problems import problem
from support.qr import decode_png, decode_svg

from app import communities, coupon_tokens, coupons, issuance, paycodes
from app.earnings import Period, last_month
from app.extensions import db
from app.reconciliation import reconcile
from models import (
    AuditEntry,
    Coupon,
    IssuanceRule,
    IssuanceRun,
    LedgerTransaction,
    Role,
    utcnow,
)


@pytest.fixture
def fund(api, admin):
    return api.as_(admin)


@pytest.fixture
def shops(community):
    return [
        communities.create_merchant(community, name=name, category="超市")
        for name in ("微街长便民超市", "北新街理发店", "老街茶馆")
    ]


def rule_body(**fields):
    return {
        "name": "月度积分券",
        "min_points_earned": 300,
        "points": 100,
        "valid_days": 30,
        "funding": "grant",
        "on_expiry": "wallet",
        **fields,
    }


@pytest.fixture
def issued(fund, community, make_member):
    """Two residents with a 100-point coupon each from last month's run."""
    residents = [make_member(community) for _ in range(2)]
    for resident in residents:
        earn(resident, 300)
    rule = fund.post(f"/communities/{community.slug}/issuance-rules", json=rule_body()).json
    run = fund.post(
        f"/communities/{community.slug}/issuance-runs",
        json={"rule_id": rule["id"], "period": str(last_month())},
        key=True,
    )
    assert run.status_code == 201, run.json
    return residents


def coupon_of(member) -> Coupon:
    return db.session.scalars(sa.select(Coupon).where(Coupon.member_id == member.id)).one()


# --- merchant groups ------------------------------------------------------------------


def test_merchant_groups(fund, api, community, shops, make_member, make_community):
    path = f"/communities/{community.slug}/merchant-groups"
    created = fund.post(path, json={"name": "微街长商家", "merchant_ids": [shops[0].id]})
    assert created.status_code == 201
    group = created.json
    assert group["name"] == "微街长商家"
    assert group["merchants"] == [{"id": shops[0].id, "name": "微街长便民超市"}]

    added = fund.post(
        f"/merchant-groups/{group['id']}/merchants", json={"merchant_id": shops[1].id}
    )
    assert [m["id"] for m in added.json["merchants"]] == [shops[0].id, shops[1].id]
    removed = fund.delete(f"/merchant-groups/{group['id']}/merchants/{shops[0].id}")
    assert [m["id"] for m in removed.json["merchants"]] == [shops[1].id]
    listed = api.as_(make_member(community)).get(path)
    assert [g["id"] for g in listed.json["items"]] == [group["id"]]

    problem(fund.post(path, json={"name": "微街长商家"}), 409, "merchant-group-name-taken")
    foreign = communities.create_merchant(make_community(), name="外地店", category="超市")
    problem(fund.post(path, json={"name": "外地", "merchant_ids": [foreign.id]}), 422)
    unknown = fund.post(
        f"/merchant-groups/{group['id']}/merchants", json={"merchant_id": foreign.id}
    )
    assert problem(unknown, 422)["errors"] == {"json": {"merchant_id": ["Unknown merchant."]}}
    problem(fund.delete(f"/merchant-groups/{group['id']}/merchants/{foreign.id}"), 404)
    assert problem(fund.post(path, json={"name": ""}), 422)["errors"]["json"]["name"]


# --- issuance rules -------------------------------------------------------------------


def test_create_a_rule_with_the_contracts_fields(fund, community, shops, admin):
    group = fund.post(
        f"/communities/{community.slug}/merchant-groups",
        json={"name": "微街长商家", "merchant_ids": [shops[0].id]},
    ).json

    response = fund.post(
        f"/communities/{community.slug}/issuance-rules",
        json=rule_body(merchant_group="微街长商家"),
    )

    assert response.status_code == 201
    rule = response.json
    assert isinstance(rule["id"], int)
    assert {k: rule[k] for k in rule_body(merchant_group=None)} == rule_body(
        merchant_group="微街长商家"
    ) | {"merchant_group": "微街长商家"}
    assert rule["merchant_group_id"] == group["id"]
    assert rule["validity"] == "days"
    assert (rule["tiers"], rule["min_attendances"]) == ([], None)
    assert rule["community_id"] == community.id
    assert rule["created_by_id"] == admin.id
    assert fund.get(f"/issuance-rules/{rule['id']}").json == rule
    by_id = fund.post(
        f"/communities/{community.slug}/issuance-rules",
        json=rule_body(name="按编号", merchant_group_id=group["id"]),
    )
    assert by_id.json["merchant_group"] == "微街长商家"


def test_a_tiered_rule_by_attendance_valid_to_the_end_of_next_month(fund, community):
    body = {
        "name": "积极参与奖",
        "min_attendances": 4,
        "tiers": [
            {"min_points_earned": 600, "points": 200},
            {"min_points_earned": 1, "points": 50},
        ],
        "funding": "convert",
        "on_expiry": "expired",
    }
    rule = fund.post(f"/communities/{community.slug}/issuance-rules", json=body).json
    assert rule["validity"] == "end_of_next_month"
    assert rule["valid_days"] is None
    assert (rule["points"], rule["min_points_earned"], rule["merchant_group"]) == (None, None, None)
    assert rule["tiers"] == [
        {"min_points_earned": 1, "points": 50},
        {"min_points_earned": 600, "points": 200},
    ]
    assert (rule["funding"], rule["on_expiry"]) == ("convert", "expired")
    listed = fund.get(f"/communities/{community.slug}/issuance-rules").json["items"]
    assert [item["id"] for item in listed] == [rule["id"]]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"funding": "gift"}, "funding"),
        ({"on_expiry": "nowhere"}, "on_expiry"),
        ({"points": 0}, "points"),
        ({"points": "100"}, "points"),
        ({"valid_days": 0}, "valid_days"),
        ({"name": ""}, "name"),
        ({"min_points_earned": None}, "min_points_earned"),
        ({"points": None}, "points"),
        ({"validity": "end_of_next_month"}, "valid_days"),
        ({"merchant_group": "没有这个"}, "merchant_group"),
        ({"merchant_group_id": 999_999_999}, "merchant_group_id"),
        ({"merchant_group": "甲", "merchant_group_id": 1}, "merchant_group"),
        ({"tiers": [{"min_points_earned": 300}]}, "tiers"),
    ],
)
def test_a_bad_rule_is_a_problem_and_changes_nothing(fund, community, fields, field):
    before = count(IssuanceRule)
    response = fund.post(f"/communities/{community.slug}/issuance-rules", json=rule_body(**fields))
    body = problem(response, 422)
    assert field in body["errors"]["json"]
    assert body["detail"]
    assert count(IssuanceRule) == before


def test_rule_names_are_unique(fund, community):
    path = f"/communities/{community.slug}/issuance-rules"
    assert fund.post(path, json=rule_body()).status_code == 201
    problem(fund.post(path, json=rule_body()), 409, "rule-name-taken")


# --- issuance runs --------------------------------------------------------------------


def test_a_run_answers_issued_and_points_and_a_second_issues_nothing(
    fund, community, make_member, admin
):
    for points in (300, 450, 100):
        earn(make_member(community), points)
    rule = fund.post(f"/communities/{community.slug}/issuance-rules", json=rule_body()).json
    path = f"/communities/{community.slug}/issuance-runs"
    body = {"rule_id": rule["id"], "period": str(last_month())}

    first = fund.post(path, json=body, key="run-1")

    assert first.status_code == 201
    assert {k: first.json[k] for k in ("issued", "points", "skipped")} == {
        "issued": 2,
        "points": 200,
        "skipped": 0,
    }
    assert first.json["period"] == str(last_month())
    assert first.json["rule_id"] == rule["id"]
    assert first.json["actor_id"] == admin.id
    assert escrow(community) == 200

    replay = fund.post(path, json=body, key="run-1")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == first.json
    second = fund.post(path, json=body, key="run-2")
    assert second.status_code == 201
    assert (second.json["issued"], second.json["points"]) == (0, 0)
    assert second.json["id"] != first.json["id"]
    assert escrow(community) == 200
    assert count(Coupon, Coupon.community_id == community.id) == 2
    runs = fund.get(path).json["items"]
    assert [(r["id"], r["issued"]) for r in runs] == [
        (second.json["id"], 0),
        (first.json["id"], 2),
    ]
    audited = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.community_id == community.id)
    ).all()
    assert audited.count("issuance_run.create") == 2
    assert reconcile(community).ok


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"period": "2026-13"}, 422, "period"),
        ({"period": "last month"}, 422, "period"),
        ({"period": None}, 422, "period"),
        ({"rule_id": 999_999_999}, 422, "rule_id"),
        ({"rule_id": "1"}, 422, "rule_id"),
    ],
)
def test_a_bad_run_is_a_problem_and_changes_nothing(
    fund, community, make_member, body, status, field
):
    earn(make_member(community), 300)
    rule = fund.post(f"/communities/{community.slug}/issuance-rules", json=rule_body()).json
    request = {"rule_id": rule["id"], "period": str(last_month()), **body}
    before = (count(IssuanceRun), count(Coupon), count(LedgerTransaction))

    response = fund.post(f"/communities/{community.slug}/issuance-runs", json=request, key=True)

    assert field in problem(response, status)["errors"]["json"]
    assert (count(IssuanceRun), count(Coupon), count(LedgerTransaction)) == before


def test_a_run_for_a_month_not_over_is_refused(fund, community, make_member):
    rule = fund.post(f"/communities/{community.slug}/issuance-rules", json=rule_body()).json
    this_month = str(Period.containing(utcnow()))
    response = fund.post(
        f"/communities/{community.slug}/issuance-runs",
        json={"rule_id": rule["id"], "period": this_month},
        key=True,
    )
    body = problem(response, 422, "period-not-over")
    assert this_month in body["detail"]
    assert count(IssuanceRun, IssuanceRun.community_id == community.id) == 0


def test_a_run_that_finds_no_free_coupon_code_is_refused_and_changes_nothing(
    fund, community, make_member, monkeypatch
):
    earn(make_member(community), 300)
    rule = fund.post(f"/communities/{community.slug}/issuance-rules", json=rule_body()).json
    path = f"/communities/{community.slug}/issuance-runs"
    body = {"rule_id": rule["id"], "period": str(last_month())}
    monkeypatch.setattr(issuance, "new_codes", lambda count: ["AAAAAAAAAA"] * count)
    assert fund.post(path, json=body, key=True).json["issued"] == 1
    earn(make_member(community), 300)
    before = (count(IssuanceRun), count(Coupon), count(LedgerTransaction))

    refused = problem(fund.post(path, json=body, key=True), 409, "coupon-codes-exhausted")

    assert refused["detail"] == "未能找到可用的券码，请重新发券。"
    assert (count(IssuanceRun), count(Coupon), count(LedgerTransaction)) == before


def test_a_run_needs_an_idempotency_key_and_another_communitys_rule_is_unknown(
    fund, api, community, make_community, make_member
):
    other = make_community()
    other_admin = api.as_(make_member(other, Role.FUND_ADMIN))
    foreign_rule = other_admin.post(
        f"/communities/{other.slug}/issuance-rules", json=rule_body()
    ).json
    path = f"/communities/{community.slug}/issuance-runs"
    body = {"rule_id": foreign_rule["id"], "period": str(last_month())}
    problem(fund.post(path, json=body), 400, "idempotency-key-required")
    problem(fund.post(path, json=body, key=True), 422)
    problem(fund.get(f"/issuance-rules/{foreign_rule['id']}"), 404)


# --- coupons --------------------------------------------------------------------------


def test_a_resident_lists_coupons_with_token_and_code(api, issued, community):
    resident = issued[0]
    response = api.as_(resident).get(f"/members/{resident.id}/coupons")

    assert response.status_code == 200
    [item] = response.json["items"]
    coupon = coupon_of(resident)
    assert item["id"] == coupon.id
    assert item["code"] == coupon.code
    assert item["token"] == coupon_tokens.coupon_token(coupon)
    assert (item["points"], item["points_remaining"], item["status"]) == (100, 100, "issued")
    assert item["expires_at"] == coupon.expires_at.isoformat()
    assert item["period"] == str(last_month())
    assert item["rule_name"] == "月度积分券"
    assert (item["merchant_group_id"], item["merchant_group"]) == (None, None)
    assert response.json["next_cursor"] is None
    assert api.as_(resident).get(f"/coupons/{coupon.id}").json == item
    assert api.as_(resident).get(f"/members/{resident.id}/coupons?status=revoked").json == {
        "items": [],
        "next_cursor": None,
    }


def test_others_see_coupons_without_token_or_code(api, fund, issued, make_member):
    resident, neighbour = issued
    coupon = coupon_of(resident)
    as_admin = fund.get(f"/members/{resident.id}/coupons").json["items"][0]
    assert (as_admin["token"], as_admin["code"]) == (None, None)
    assert as_admin["points_remaining"] == 100
    platform = api.as_(make_member(None, Role.PLATFORM_ADMIN))
    assert platform.get(f"/coupons/{coupon.id}").json["token"] is None
    problem(api.as_(neighbour).get(f"/members/{resident.id}/coupons"), 404)
    problem(api.as_(neighbour).get(f"/coupons/{coupon.id}"), 403)
    for kind in ("png", "svg"):
        problem(fund.get(f"/coupons/{coupon.id}/qr.{kind}"), 403)
        problem(api.as_(neighbour).get(f"/coupons/{coupon.id}/qr.{kind}"), 403)


def verify_offline(token: str, jwks: dict) -> dict:
    """What a merchant device does: check the token with the published public key only."""
    payload_b64, signature_b64 = token.split(".")

    def unb64(text):
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    payload = unb64(payload_b64)
    kid = payload[2 : 2 + payload[1]].decode()
    [key] = [k for k in jwks["keys"] if k["kid"] == kid]
    public = Ed25519PublicKey.from_public_bytes(unb64(key["x"]))
    public.verify(unb64(signature_b64), b"jifen-coupon\x00" + payload)
    return {"kid": kid, "coupon_id": int.from_bytes(payload[-12:-4], "big")}


def test_the_qr_round_trips_and_verifies_with_the_public_key(app, api, issued):
    resident = issued[0]
    coupon = coupon_of(resident)
    holder = api.as_(resident)
    token = holder.get(f"/coupons/{coupon.id}").json["token"]
    jwks = ApiClient(app.test_client()).get("/keys").json

    png = holder.get(f"/coupons/{coupon.id}/qr.png")
    svg = holder.get(f"/coupons/{coupon.id}/qr.svg")

    assert png.mimetype == "image/png"
    assert svg.mimetype == "image/svg+xml"
    assert decode_png(png.data) == token
    assert decode_svg(svg.get_data(as_text=True)) == token
    assert verify_offline(token, jwks) == {"kid": "test-1", "coupon_id": coupon.id}
    forged = token[:-3] + ("AAA" if token[-3:] != "AAA" else "QAA")
    with pytest.raises(InvalidSignature):
        verify_offline(forged, jwks)


def test_qr_images_are_cacheable(api, issued):
    resident = issued[0]
    coupon = coupon_of(resident)
    holder = api.as_(resident)
    for kind in ("png", "svg"):
        first = holder.get(f"/coupons/{coupon.id}/qr.{kind}")
        assert first.status_code == 200
        assert first.headers["ETag"]
        assert set(first.headers["Cache-Control"].split(", ")) == {"private", "max-age=3600"}
        again = holder.get(
            f"/coupons/{coupon.id}/qr.{kind}", headers={"If-None-Match": first.headers["ETag"]}
        )
        assert again.status_code == 304
        assert again.data == b""
    png_tag = holder.get(f"/coupons/{coupon.id}/qr.png").headers["ETag"]
    assert png_tag != holder.get(f"/coupons/{coupon.id}/qr.svg").headers["ETag"]


def test_keys_are_public(app, ctx):
    response = ApiClient(app.test_client()).get("/keys")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    [key] = response.json["keys"]
    assert (key["kid"], key["kty"], key["crv"], key["alg"]) == ("test-1", "OKP", "Ed25519", "EdDSA")


def test_revoke_through_the_api(api, fund, issued, community):
    resident = issued[0]
    coupon = coupon_of(resident)
    path = f"/coupons/{coupon.id}/revoke"
    problem(api.as_(resident).post(path, json={"reason": "我不要了"}, key=True), 403)
    problem(fund.post(path, json={"reason": ""}, key=True), 422)
    problem(fund.post(path, json={"reason": "发错了"}), 400, "idempotency-key-required")

    response = fund.post(path, json={"reason": "发错了"}, key="revoke-1")

    assert response.status_code == 200
    assert (response.json["status"], response.json["points_remaining"]) == ("revoked", 0)
    assert response.json["closed_at"]
    assert fund.post(path, json={"reason": "发错了"}, key="revoke-1").json == response.json
    again = fund.post(path, json={"reason": "再次"}, key="revoke-2")
    problem(again, 409, "illegal-coupon-transition")
    assert escrow(community) == 100  # the other resident's coupon
    assert reconcile(community).ok
    assert "coupon.revoke" in db.session.scalars(sa.select(AuditEntry.action)).all()


# --- verification at the till ---------------------------------------------------------


@pytest.fixture
def cashier(api, make_member, community, shops):
    staff = make_member(community, Role.MERCHANT_STAFF, merchant_id=shops[2].id)
    return api.as_(staff)


def test_a_cashier_verifies_a_token_or_a_code(cashier, fund, issued, community, shops):
    coupon = coupon_of(issued[0])
    path = f"/communities/{community.slug}/coupons/verify"

    by_token = cashier.post(path, json={"token": coupon_tokens.coupon_token(coupon)})
    by_code = cashier.post(path, json={"code": coupon.code.lower()})

    assert by_token.status_code == by_code.status_code == 200
    assert by_token.json == by_code.json
    assert by_token.json["id"] == coupon.id
    assert by_token.json["points_remaining"] == 100
    assert by_token.json["valid_at_merchant"] is True
    assert (by_token.json["token"], by_token.json["code"]) == (None, None)
    as_admin = fund.post(path, json={"code": coupon.code})
    assert as_admin.json["valid_at_merchant"] is None
    problem(cashier.post(path, json={}), 422)
    problem(cashier.post(path, json={"token": "x", "code": "y"}), 422)


def test_a_coupon_for_a_group_is_not_valid_at_other_shops(
    cashier, fund, community, shops, make_member
):
    fund.post(
        f"/communities/{community.slug}/merchant-groups",
        json={"name": "微街长商家", "merchant_ids": [shops[0].id, shops[1].id]},
    )
    resident = make_member(community)
    earn(resident, 300)
    rule = fund.post(
        f"/communities/{community.slug}/issuance-rules",
        json=rule_body(merchant_group="微街长商家"),
    ).json
    fund.post(
        f"/communities/{community.slug}/issuance-runs",
        json={"rule_id": rule["id"], "period": str(last_month())},
        key=True,
    )
    coupon = coupon_of(resident)
    verified = cashier.post(
        f"/communities/{community.slug}/coupons/verify", json={"code": coupon.code}
    )
    assert verified.json["valid_at_merchant"] is False  # the cashier works at the tea house
    assert verified.json["merchant_group"] == "微街长商家"


def test_every_refusal_has_its_own_problem_type(
    cashier, fund, issued, community, shops, make_community, api, make_member
):
    path = f"/communities/{community.slug}/coupons/verify"
    good, used = (coupon_of(member) for member in issued)
    token = coupon_tokens.coupon_token(good)
    payload, signature = token.split(".")
    tampered = f"{payload}.{signature[:10]}{'B' if signature[10] != 'B' else 'C'}{signature[11:]}"
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    other_kid = base64.urlsafe_b64encode(raw.replace(b"test-1", b"test-2")).decode().rstrip("=")
    elsewhere = make_community()
    foreign_staff = api.as_(make_member(elsewhere, Role.MERCHANT_STAFF))
    spend(used, 100, shops[0])

    cases = [
        (cashier, {"token": tampered}, 422, "coupon-signature-invalid"),
        (cashier, {"token": f"{other_kid}.{signature}"}, 422, "unknown-signing-key"),
        (cashier, {"token": "not-a-token"}, 422, "invalid-coupon-token"),
        (foreign_staff, {"token": token}, 422, "coupon-of-another-community"),
        (cashier, {"token": coupon_tokens.coupon_token(used)}, 409, "coupon-used-up"),
        (cashier, {"code": "ZZZZZZZZZZ"}, 404, "unknown-coupon"),
    ]
    for client, body, status, slug in cases:
        target = path if client is cashier else f"/communities/{elsewhere.slug}/coupons/verify"
        body_json = problem(client.post(target, json=body), status, slug)
        assert body_json["detail"] and body_json["title"]

    fund.post(f"/coupons/{good.id}/revoke", json={"reason": "作废"}, key=True)
    problem(cashier.post(path, json={"token": token}), 409, "coupon-revoked")


def test_an_expired_coupon_is_refused_at_the_till(cashier, issued, community):
    coupon = coupon_of(issued[0])
    coupons.expire_coupons(coupon.expires_at, community=community)
    response = cashier.post(
        f"/communities/{community.slug}/coupons/verify", json={"code": coupon.code}
    )
    problem(response, 409, "coupon-expired")


# --- pay-codes --------------------------------------------------------------------


def test_a_resident_gets_a_pay_code_and_resets_it(api, fund, community, make_member):
    resident = make_member(community)
    holder = api.as_(resident)

    shown = holder.get(f"/members/{resident.id}/pay-code")

    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"
    body = shown.json
    assert body["member_id"] == resident.id
    assert body["code"].isdigit() and body["code"].startswith(str(resident.id))
    assert body["window_seconds"] == 30
    assert body["refresh_at"] < body["expires_at"]
    assert paycodes.verify_pay_code(body["code"], community) == resident

    assert holder.post(f"/members/{resident.id}/pay-code/reset").status_code == 204
    with pytest.raises(paycodes.InvalidPayCode):
        paycodes.verify_pay_code(body["code"], community)
    fresh = holder.get(f"/members/{resident.id}/pay-code").json["code"]
    assert fresh != body["code"]
    assert fund.post(f"/members/{resident.id}/pay-code/reset").status_code == 204
    with pytest.raises(paycodes.InvalidPayCode):
        paycodes.verify_pay_code(fresh, community)


def test_nobody_else_sees_a_pay_code(api, fund, community, make_member, make_community):
    resident = make_member(community)
    path = f"/members/{resident.id}/pay-code"
    problem(fund.get(path), 403)
    problem(api.as_(make_member(community)).get(path), 404)
    problem(api.as_(make_member(community)).post(f"{path}/reset"), 404)
    problem(api.as_(make_member(make_community())).get(path), 404)
    problem(api.as_(make_member(None, Role.PLATFORM_ADMIN)).get(path), 403)
    staff = make_member(community, Role.MERCHANT_STAFF)
    problem(api.as_(staff).get(f"/members/{staff.id}/pay-code"), 404, "no-wallet")


def test_the_openapi_document_lists_the_coupon_endpoints(app, ctx):
    spec = app.test_client().get("/api/openapi.json").json
    for path in (
        "/api/v1/communities/{slug}/issuance-rules",
        "/api/v1/communities/{slug}/issuance-runs",
        "/api/v1/members/{member_id}/coupons",
        "/api/v1/coupons/{coupon_id}/qr.png",
        "/api/v1/coupons/{coupon_id}/qr.svg",
        "/api/v1/keys",
        "/api/v1/members/{member_id}/pay-code",
    ):
        assert path in spec["paths"], path
    assert spec["paths"]["/api/v1/keys"]["get"]["security"] == []
    run = spec["paths"]["/api/v1/communities/{slug}/issuance-runs"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in run["parameters"]]


def test_a_member_of_another_community_cannot_touch_coupons(
    api, issued, make_community, make_member
):
    coupon = coupon_of(issued[0])
    stranger = api.as_(make_member(make_community(), Role.FUND_ADMIN))
    for response in (
        stranger.get(f"/coupons/{coupon.id}"),
        stranger.get(f"/coupons/{coupon.id}/qr.png"),
        stranger.post(f"/coupons/{coupon.id}/revoke", json={"reason": "x"}, key=True),
        stranger.get(f"/members/{issued[0].id}/coupons"),
    ):
        problem(response, 404, "not-found")
    assert coupon.status.value == "issued"
