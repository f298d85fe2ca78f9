"""Offers and the redemption split (design.md §6)."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.pages import sign_in

from app import offers
from app.offers import split
from app.problems import InvalidInput
from models import Offer, OfferKind, Role


def offer(kind=None, percent=None, price=None, cap=None):
    if kind is None:
        return None
    return Offer(
        kind=kind, discount_percent=percent, price_fen=price, max_points_per_bill=cap, active=True
    )


WELFARE = (OfferKind.WELFARE, None, None)
DISCOUNT = OfferKind.DISCOUNT
LOW_COST = OfferKind.LOW_COST

# bill, points available, rate, (kind, percent, price), cap -> D, P, V, C
SPLITS = [
    ("no offer, points cover the bill", 1000, 1000, 50, (None, None, None), None, 0, 500, 1000, 0),
    ("no offer, points cover part", 1000, 300, 50, (None, None, None), None, 0, 300, 600, 400),
    ("welfare: free, no points", 5000, 900, 50, WELFARE, None, 5000, 0, 0, 0),
    ("low cost below the bill", 3000, 10000, 50, (LOW_COST, None, 1000), None, 2000, 500, 1000, 0),
    ("bill below the low price", 800, 10000, 50, (LOW_COST, None, 1000), None, 0, 400, 800, 0),
    ("low cost free", 800, 10, 50, (LOW_COST, None, 0), None, 800, 0, 0, 0),
    ("discount, few points", 1000, 100, 50, (DISCOUNT, 20, None), None, 200, 100, 200, 600),
    ("discount floors", 999, 1000, 50, (DISCOUNT, 15, None), None, 149, 425, 850, 0),
    ("discount 100%", 999, 1000, 50, (DISCOUNT, 100, None), None, 999, 0, 0, 0),
    ("cap per bill", 10000, 5000, 50, (DISCOUNT, 10, None), 100, 1000, 100, 200, 8800),
    ("cap above need", 1000, 5000, 50, (None, None, None), 9999, 0, 500, 1000, 0),
    ("bill smaller than the coupon", 150, 5000, 50, (None, None, None), None, 0, 75, 150, 0),
    ("rate 30", 1000, 1000, 30, (None, None, None), None, 0, 300, 1000, 0),
    ("rate 30 exact", 10, 100, 30, (None, None, None), None, 0, 3, 10, 0),
    ("rate 30 rounds to the till", 11, 100, 30, (None, None, None), None, 0, 3, 10, 1),
    ("rate 70, one fen", 1, 10, 70, (None, None, None), None, 0, 0, 0, 1),
    ("rate 70 floors both ways", 99, 100, 70, (None, None, None), None, 0, 69, 98, 1),
    ("rate 33", 100, 1000, 33, (None, None, None), None, 0, 33, 100, 0),
    ("rate 3", 101, 1000, 3, (None, None, None), None, 0, 3, 100, 1),
    ("no points left", 1000, 0, 50, (DISCOUNT, 10, None), None, 100, 0, 0, 900),
    ("zero bill", 0, 1000, 50, (DISCOUNT, 10, None), 50, 0, 0, 0, 0),
]


@pytest.mark.parametrize(
    ("bill", "available", "rate", "terms", "cap", "d", "p", "v", "c"),
    [case[1:] for case in SPLITS],
    ids=[case[0] for case in SPLITS],
)
def test_split(bill, available, rate, terms, cap, d, p, v, c):
    kind, percent, price = terms
    result = split(
        bill,
        points_available=available,
        points_per_yuan=rate,
        offer=offer(kind, percent, price, cap),
    )
    assert (result.discount_fen, result.points, result.points_value_fen, result.cash_fen) == (
        d, p, v, c,
    )  # fmt: skip
    assert result.bill_fen == bill
    assert result.points_per_yuan == rate


def test_negative_bill_is_refused():
    with pytest.raises(InvalidInput):
        split(-1, points_available=10, points_per_yuan=50)


terms = st.one_of(
    st.just((None, None, None)),
    st.just(WELFARE),
    st.tuples(st.just(DISCOUNT), st.integers(1, 100), st.none()),
    st.tuples(st.just(LOW_COST), st.none(), st.integers(0, 10**6)),
)


@given(
    bill=st.integers(0, 10**7),
    available=st.integers(0, 10**7),
    rate=st.integers(1, 1000),
    terms=terms,
    cap=st.none() | st.integers(1, 10**6),
)
def test_split_makes_the_merchant_whole_and_uses_the_most_points_it_may(
    bill, available, rate, terms, cap
):
    if terms[0] is None:
        cap = None  # a per-bill cap belongs to an offer
    result = split(bill, points_available=available, points_per_yuan=rate, offer=offer(*terms, cap))
    d, p, v, c = result.discount_fen, result.points, result.points_value_fen, result.cash_fen
    assert 0 <= d <= bill
    assert d + v + c == bill
    assert c >= 0
    assert v == p * 100 // rate
    assert 0 <= p <= available and (cap is None or p <= cap)
    # The points' exact worth never exceeds what is owed, and one point more would:
    # unless the points or the cap ran out first.
    assert p * 100 <= (bill - d) * rate
    assert p in (available, cap) or (p + 1) * 100 > (bill - d) * rate


# --- offers and merchant profiles over the API -------------------------------------------


@pytest.fixture
def community(make_community):
    return make_community()


@pytest.fixture
def merchant(community):
    from app import communities

    return communities.create_merchant(
        community, name="微街长理发店", category="理发 Barber", address="北新街 12 号"
    )


@pytest.fixture
def staff(make_member, community, merchant):
    return make_member(community, Role.MERCHANT_STAFF, merchant_id=merchant.id)


OFFERS = [
    ({"title": "老人免费理发", "kind": "welfare"}, 201),
    ({"title": "低偿理发 ¥5", "kind": "low_cost", "price_fen": 500}, 201),
    ({"title": "九折", "kind": "discount", "discount_percent": 10,
      "max_points_per_bill": 200}, 201),
    ({"title": "折扣缺比例", "kind": "discount"}, 422),
    ({"title": "低偿缺价格", "kind": "low_cost"}, 422),
    ({"title": "公益带价格", "kind": "welfare", "price_fen": 100}, 422),
    ({"title": "超过百分百", "kind": "discount", "discount_percent": 101}, 422),
    ({"title": "倒序日期", "kind": "welfare", "active_from": "2026-12-01",
      "active_until": "2026-11-01"}, 422),
    ({"title": "", "kind": "welfare"}, 422),
    ({"title": "x", "kind": "free"}, 422),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status"), OFFERS, ids=[o[0]["title"] or "no title" for o in OFFERS]
)
def test_staff_create_offers_and_bad_terms_are_refused(api, merchant, staff, body, status):
    response = api.as_(staff).post(f"/merchants/{merchant.id}/offers", json=body)
    assert response.status_code == status, response.json
    listed = api.as_(staff).get(f"/merchants/{merchant.id}/offers?all=true").json
    if status == 201:
        assert response.json["kind"] == body["kind"]
        assert response.json["current"] is True
        assert [o["id"] for o in listed] == [response.json["id"]]
    else:
        assert response.content_type == "application/problem+json"
        assert response.json["errors"]
        assert listed == []


def test_who_may_manage_offers(api, make_community, make_member, community, merchant):
    from app import communities

    other_shop = communities.create_merchant(community, name="别家", category="x")
    body = {"title": "九折", "kind": "discount", "discount_percent": 10}
    path = f"/merchants/{merchant.id}/offers"
    assert api.as_(make_member(community, Role.FUND_ADMIN)).post(path, json=body).status_code == 201
    outsider = make_member(community, Role.MERCHANT_STAFF, merchant_id=other_shop.id)
    assert api.as_(outsider).post(path, json=body).status_code == 403
    assert api.as_(make_member(community)).post(path, json=body).status_code == 403
    foreign = make_member(make_community(), Role.FUND_ADMIN)
    assert api.as_(foreign).post(path, json=body).status_code == 404
    assert api.as_(foreign).get(f"/merchants/{merchant.id}").status_code == 404


def test_residents_see_profile_and_only_current_offers(
    api, community, merchant, staff, make_member
):
    today = offers.local_today()
    for title, start, end, active in [
        ("今天有效", None, None, True),
        ("已过期", today - timedelta(days=30), today - timedelta(days=1), True),
        ("下月开始", today + timedelta(days=1), None, True),
        ("已撤下", None, None, False),
        ("今天最后一天", today - timedelta(days=3), today, True),
    ]:
        offers.create_offer(
            merchant, title=title, kind=OfferKind.WELFARE, active_from=start, active_until=end,
            active=active,
        )  # fmt: skip
    resident = make_member(community)
    shown = api.as_(resident).get(f"/merchants/{merchant.id}").json
    assert shown["address"] == "北新街 12 号"
    assert [o["title"] for o in shown["offers"]] == ["今天有效", "今天最后一天"]
    everything = api.as_(resident).get(f"/merchants/{merchant.id}/offers?all=true").json
    assert len(everything) == 5
    assert {o["title"]: o["current"] for o in everything}["已过期"] is False


def test_withdraw_an_offer_and_update_the_profile(api, merchant, staff, make_member, community):
    created = api.as_(staff).post(
        f"/merchants/{merchant.id}/offers", json={"title": "九折", "kind": "discount",
                                                  "discount_percent": 10},
    ).json  # fmt: skip
    withdrawn = api.as_(staff).patch(f"/offers/{created['id']}", json={"active": False})
    assert withdrawn.status_code == 200
    assert withdrawn.json["current"] is False
    assert api.as_(staff).get(f"/merchants/{merchant.id}").json["offers"] == []
    switched = api.as_(staff).patch(f"/offers/{created['id']}", json={"kind": "welfare"})
    assert switched.status_code == 422
    assert "discount_percent" in switched.json["errors"]["json"]

    profile = api.as_(staff).patch(
        f"/merchants/{merchant.id}", json={"opening_hours": "每天 8:00–21:00", "phone": "028-1234"}
    )
    assert profile.status_code == 200
    assert profile.json["opening_hours"] == "每天 8:00–21:00"
    resident = make_member(community)
    assert (
        api.as_(resident).patch(f"/merchants/{merchant.id}", json={"phone": "1"}).status_code == 403
    )


def test_offer_dates_are_checked_on_update_too(api, merchant, staff):
    created = (
        api.as_(staff)
        .post(
            f"/merchants/{merchant.id}/offers",
            json={"title": "限时", "kind": "welfare", "active_from": str(date(2026, 1, 1))},
        )
        .json
    )
    refused = api.as_(staff).patch(f"/offers/{created['id']}", json={"active_until": "2025-12-31"})
    assert refused.status_code == 422
    assert (
        api.as_(staff).get(f"/merchants/{merchant.id}/offers?all=true").json[0]["active_until"]
        is None
    )


# --- the residents' page --------------------------------------------------------------------


def test_residents_page_lists_active_merchants_and_offers(client, community, merchant, make_member):
    from app import communities

    offers.create_offer(merchant, title="老人免费理发", kind=OfferKind.WELFARE)
    offers.create_offer(merchant, title="低偿洗剪吹", kind=OfferKind.LOW_COST, price_fen=1500)
    offers.create_offer(
        merchant, title="全场折扣", kind=OfferKind.DISCOUNT, discount_percent=12,
        max_points_per_bill=300,
    )  # fmt: skip
    closed = communities.create_merchant(community, name="已关门的店", category="x")
    closed.active = False
    resident = make_member(community, username="li-dama")
    sign_in(client, "li-dama")

    page = client.get("/merchants").get_data(as_text=True)
    assert "合作商家" in page
    assert "微街长理发店" in page and "北新街 12 号" in page
    assert "免费（公益）" in page and "低偿价 ¥15.00" in page and "优惠 12%" in page
    assert "每单最多使用 300 积分" in page
    assert "已关门的店" not in page

    client.get("/lang/en")
    english = client.get("/merchants").get_data(as_text=True)
    assert "Partner merchants" in english
    assert "Free (public welfare)" in english and "Low price ¥15.00" in english
    assert "12% off" in english and "Up to 300 points per bill" in english
    assert resident.community_id == community.id


def test_residents_page_needs_sign_in(client):
    response = client.get("/merchants")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
