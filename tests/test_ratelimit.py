"""Guessing is limited on failures: wrong passwords per account and per address,
unknown codes per cashier. Right passwords and real codes cost nothing."""

import pytest
from support.api import ApiClient
from support.apps import TEST_CONFIG
from support.coupons import issued_coupon

from app import create_app
from app.extensions import db
from models import Role

PASSWORD = "password-1"  # noqa: S105 - what make_member gives everyone
HALL = "203.0.113.7"


@pytest.fixture
def limited(database_url):
    """An app with its limits on (the session's app has them off)."""
    app = create_app(
        {
            **TEST_CONFIG,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "LOGIN_ACCOUNT_FAILURES": "5 per 15 minutes",
            "LOGIN_ADDRESS_FAILURES": "40 per 15 minutes",
            "BAD_CODE_LIMIT": "3 per 10 minutes",
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def sign_in(app, username, password, address=HALL):
    return app.test_client().post(
        "/api/v1/auth/token",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_thirty_residents_on_the_halls_wifi_all_get_in(limited, make_community, make_member):
    community = make_community()
    residents = [make_member(community) for _ in range(30)]
    db.session.commit()

    statuses = []
    for index, resident in enumerate(residents):
        if index % 3 == 0:  # every third one mistypes first
            assert sign_in(limited, resident.username, "typo-typo").status_code == 401
        statuses.append(sign_in(limited, resident.username, PASSWORD).status_code)

    assert statuses == [201] * 30


def test_wrong_passwords_lock_the_account_for_a_while(limited, make_community, make_member):
    community = make_community()
    target, neighbour = make_member(community), make_member(community)
    db.session.commit()

    wrong = [sign_in(limited, target.username, f"guess-{n}").status_code for n in range(5)]
    locked = sign_in(limited, target.username, PASSWORD, address="198.51.100.9")

    assert wrong == [401] * 5
    assert locked.status_code == 429
    assert locked.mimetype == "application/problem+json"
    assert locked.json["type"] == "urn:jifen:problem:sign-in-locked"
    assert "token" not in locked.json
    assert 60 < int(locked.headers["Retry-After"]) <= 15 * 60
    english = limited.test_client().post(
        "/api/v1/auth/token",
        json={"username": target.username, "password": PASSWORD},
        headers={"Accept-Language": "en"},
    )
    assert english.json["detail"].startswith("Too many wrong passwords for this account.")
    assert "min" in english.json["detail"]
    # Others on the same network are not affected.
    assert sign_in(limited, neighbour.username, PASSWORD).status_code == 201


def test_a_right_password_forgives_earlier_typos(limited, make_community, make_member):
    resident = make_member(make_community())
    db.session.commit()
    for _ in range(3):
        for _ in range(4):
            assert sign_in(limited, resident.username, "typo").status_code == 401
        assert sign_in(limited, resident.username, PASSWORD).status_code == 201


def test_many_failures_from_one_address_are_refused(limited, make_community, make_member):
    community = make_community()
    members = [make_member(community) for _ in range(10)]
    db.session.commit()

    statuses = [
        sign_in(limited, member.username, f"guess-{n}").status_code
        for n in range(4)
        for member in members
    ]
    refused = sign_in(limited, members[0].username, PASSWORD)

    assert statuses == [401] * 40
    assert refused.status_code == 429
    assert refused.json["type"] == "urn:jifen:problem:too-many-failed-sign-ins"
    assert sign_in(limited, members[0].username, PASSWORD, address="192.0.2.50").status_code == 201


def test_the_sign_in_page_says_the_account_is_locked(limited, make_community, make_member):
    resident = make_member(make_community())
    db.session.commit()
    client = limited.test_client()
    form = {"username": resident.username, "password": "wrong-one"}
    client.application.config["WTF_CSRF_ENABLED"] = False
    try:
        for _ in range(5):
            assert client.post("/login", data=form).status_code == 200
        page = client.post("/login", data={**form, "password": PASSWORD})
    finally:
        client.application.config["WTF_CSRF_ENABLED"] = True
    assert page.status_code == 429
    assert "这个账户的密码错误次数过多。请稍候再试。" in page.get_data(as_text=True)
    assert client.get("/home").status_code == 302


def test_unknown_codes_lock_a_cashiers_till(limited, community, admin, resident, shop, cashier):
    coupon = issued_coupon(community, admin, resident)
    other_cashier = make_other_cashier(community, shop)
    db.session.commit()
    from app import auth

    till = ApiClient(limited.test_client(), auth.issue_token(cashier)[0])
    other = ApiClient(limited.test_client(), auth.issue_token(other_cashier)[0])
    db.session.commit()

    def preview(client, **code):
        return client.post("/redemptions/preview", json={"bill_fen": 1000, **code})

    guesses = [
        preview(till, code="ZZZZZZZZ").json["type"],
        preview(till, token="not-a-token").json["type"],
        preview(till, pay_code="12345678").json["type"],
    ]
    locked = preview(till, code=coupon.code)
    redeem = till.post("/redemptions", json={"bill_fen": 1000, "code": coupon.code}, key=True)

    assert guesses == [
        "urn:jifen:problem:unknown-coupon",
        "urn:jifen:problem:invalid-coupon-token",
        "urn:jifen:problem:invalid-pay-code",
    ]
    for refused in (locked, redeem):
        assert refused.status_code == 429
        assert refused.json["type"] == "urn:jifen:problem:too-many-bad-codes"
        assert int(refused.headers["Retry-After"]) > 0
    db.session.refresh(coupon)
    assert coupon.points_remaining == coupon.points
    # Another cashier's till is not affected.
    assert preview(other, code=coupon.code).status_code == 200


def test_the_pos_page_says_why_codes_are_refused(
    limited, community, admin, resident, shop, cashier
):
    db.session.commit()
    client = limited.test_client()
    limited.config["WTF_CSRF_ENABLED"] = False
    try:
        client.post("/login", data={"username": cashier.username, "password": PASSWORD})
        replies = [
            client.post("/pos/preview", json={"bill_fen": 1000, "code": f"ZZZZZZZ{n}"})
            for n in range(4)
        ]
    finally:
        limited.config["WTF_CSRF_ENABLED"] = True
    assert [reply.status_code for reply in replies] == [404, 404, 404, 429]
    assert "请稍候" in replies[-1].json["message"] or "分钟" in replies[-1].json["message"]


def make_other_cashier(community, shop):
    from app import communities

    return communities.create_member(
        community,
        username=f"cashier-2-{shop.id}-{community.id}",
        password=PASSWORD,
        display_name="收银员二",
        role=Role.MERCHANT_STAFF,
        merchant_id=shop.id,
    )
