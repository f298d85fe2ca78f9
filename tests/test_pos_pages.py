"""The till's pages and their CSRF-protected JSON endpoints (session cookie)."""

import csv
import io

import pytest
from PIL import Image
from support.coupons import issued_coupon
from support.pages import csrf_token, sign_in
from support.problems import PROBLEM

from app import coupon_tokens, paycodes, qr
from app.extensions import db
from models import Redemption, RedemptionStatus, Role


@pytest.fixture
def cashier(make_member, community, shop):
    return make_member(community, Role.MERCHANT_STAFF, merchant_id=shop.id, username="shop-li")


@pytest.fixture
def till(client, cashier):
    sign_in(client, "shop-li")
    token = csrf_token(client.get("/pos"))

    def post(path, body=None, key=None, data=None, **kwargs):
        headers = {"X-CSRFToken": token}
        if key:
            headers["Idempotency-Key"] = key
        return client.post(path, json=body, data=data, headers=headers, **kwargs)

    return post


def test_the_till_is_for_merchant_staff_only(client, make_member, community):
    make_member(community, username="wang-ayi")
    sign_in(client, "wang-ayi")
    assert client.get("/pos").status_code == 403
    assert client.get("/pos/history").status_code == 403
    token = csrf_token(client.get("/home"))
    refused = client.post("/pos/preview", json={}, headers={"X-CSRFToken": token})
    assert (refused.status_code, refused.mimetype) == (403, PROBLEM)


def test_preview_redeem_void_through_the_page_endpoints(
    till, client, community, admin, resident, shop
):
    page = client.get("/pos").get_data(as_text=True)
    assert "收银 · 微街长便民超市" in page and "用摄像头扫码" in page
    coupon = issued_coupon(community, admin, resident)
    body = {"code": coupon.code, "bill_fen": 1234}

    assert client.post("/pos/preview", json=body).status_code == 400  # no CSRF token
    preview = till("/pos/preview", body)
    assert preview.json["points"] == 100
    assert preview.json["shown"] == {
        "bill_fen": "¥12.34",
        "discount_fen": "¥0.00",
        "points_value_fen": "¥2.00",
        "cash_fen": "¥10.34",
    }
    first = till("/pos/redemptions", body, key="confirm-1")
    again = till("/pos/redemptions", body, key="confirm-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json
    assert db.session.query(Redemption).filter_by(community_id=community.id).count() == 1

    used_up = till("/pos/preview", body)
    assert (used_up.status_code, used_up.mimetype) == (409, PROBLEM)
    assert used_up.json["message"] == "这张积分券已用完。"
    bad = till("/pos/preview", {"code": coupon.code, "bill_fen": "12.34"})
    assert bad.status_code == 422 and bad.json["errors"]["json"]["bill_fen"]
    assert bad.json["message"] == "请核对券码和金额。"

    history = client.get("/pos/history").get_data(as_text=True)
    assert "¥2.00" in history and "撤销" in history
    voided = till(f"/pos/redemptions/{first.json['id']}/void", key="void-1")
    assert voided.json["status"] == "voided"
    assert db.session.get(Redemption, first.json["id"]).status == RedemptionStatus.VOIDED
    twice = till(f"/pos/redemptions/{first.json['id']}/void", key="void-2")
    assert twice.status_code == 409 and twice.json["message"] == "这笔核销已经撤销。"
    assert till("/pos/redemptions/999999/void", key="void-3").status_code == 404
    active = client.get("/pos/history?status=active&since=2000-01-01&until=nonsense")
    assert "还没有销售记录" in active.get_data(as_text=True)
    sales = list(csv.reader(io.StringIO(client.get("/pos/redemptions.csv").get_data(as_text=True))))
    assert sales[0][:3] == ["编号", "时间", "状态"]
    assert sales[1][2] == "已撤销"


def frame(image: Image.Image) -> dict:
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return {"frame": (io.BytesIO(out.getvalue()), "frame.jpg", "image/jpeg")}


def test_the_scan_endpoint_decodes_a_camera_frame(till, community, admin, resident):
    token = coupon_tokens.coupon_token(issued_coupon(community, admin, resident))
    picture = Image.open(io.BytesIO(qr.png(token))).convert("L")
    shot = Image.new("L", (picture.width + 200, picture.height + 100), 255)
    shot.paste(picture, (100, 50))
    assert till("/scan", data=frame(shot)).json == {"text": token}
    assert till("/scan", data=frame(Image.new("L", (64, 64), 255))).json == {"text": None}
    junk = till("/scan", data={"frame": (io.BytesIO(b"not an image"), "x.jpg")})
    assert (junk.status_code, junk.mimetype) == (422, PROBLEM)
    assert till("/scan", data={}).status_code == 422


def test_only_cashiers_and_organizers_scan(client, community, make_member):
    """The one decoder serves the till and the organizer's check-in, and nobody else."""
    blank = frame(Image.new("L", (64, 64), 255))
    make_member(community, Role.ORGANIZER, username="chen-org")
    sign_in(client, "chen-org")
    headers = {"X-CSRFToken": csrf_token(client.get("/home"))}
    assert client.post("/scan", data=blank, headers=headers).json == {"text": None}
    client.post("/logout", data={"csrf_token": headers["X-CSRFToken"]})
    make_member(community, username="wang-ayi")
    sign_in(client, "wang-ayi")
    headers = {"X-CSRFToken": csrf_token(client.get("/home"))}
    blank = frame(Image.new("L", (64, 64), 255))
    refused = client.post("/scan", data=blank, headers=headers)
    assert (refused.status_code, refused.mimetype) == (403, PROBLEM)


def test_a_code_is_read_by_its_shape_and_checked_at_once(till, community, admin, resident):
    """The pay-code screen groups digits with spaces and coupon codes come in fives: typed
    that way each is still recognised, and an unknown one is refused with its own words."""
    coupon = issued_coupon(community, admin, resident)
    grouped = f"{coupon.code[:5]} {coupon.code[5:].lower()}"
    read = till("/pos/code", {"text": grouped})
    assert read.status_code == 200
    assert read.json["source"] == {"code": coupon.code}
    assert read.json["label"] == f"积分券 {coupon.code[:5]} {coupon.code[5:]}：剩余 100 积分"

    shown = paycodes.pay_code(resident).code
    spaced = " ".join(shown[i : i + 4] for i in range(0, len(shown), 4))
    as_typed = till("/pos/code", {"text": spaced})
    assert as_typed.json["source"] == {"pay_code": shown}
    dashed = till("/pos/code", {"text": shown[:4] + "-" + shown[4:]})
    assert dashed.json["source"] == {"pay_code": shown}

    unknown = till("/pos/code", {"text": "ABCDE 23456"})
    assert (unknown.status_code, unknown.json["message"]) == (
        404,
        "没有这张积分券，请核对券码后重试。",
    )
    wrong_digits = till("/pos/code", {"text": "6246 6033 559"})
    assert wrong_digits.status_code == 422
    assert wrong_digits.json["message"] == "付款码无效，请居民重新出示。"
    nonsense = till("/pos/code", {"text": "hello"})
    assert nonsense.json["message"] == "这既不是积分券码，也不是付款码。请核对后重新输入。"
    assert db.session.query(Redemption).filter_by(community_id=community.id).count() == 0
