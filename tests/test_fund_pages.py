"""The fund's pages: overview, income, donations with refunds, the public donation page."""

import re
import uuid

import pytest
import sqlalchemy as sa
from support.pages import csrf_token, sign_in
from support.stripe_fixtures import post_event

from app import fund
from app.extensions import db
from models import (
    Donation,
    DonationStatus,
    Fund,
    IncomeEntry,
    IncomeSource,
    IncomeStatus,
    Role,
)

FORM_KEY = re.compile(r'<input[^>]*name="form_key"[^>]*value="([^"]+)"')


@pytest.fixture
def community(make_community):
    return make_community(name="北新社区")


@pytest.fixture
def admin(make_member, community):
    return make_member(community, Role.FUND_ADMIN, username="fund-zhang", display_name="张主任")


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def cash(community, which=Fund.COMMUNITY):
    db.session.expire_all()
    return fund.cash_account(community.id, which).balance


def income_form(client, **fields):
    text = page(client.get("/admin/income"))
    return {
        "csrf_token": csrf_token(client.get("/admin/income")),
        "form_key": FORM_KEY.search(text)[1],
        "amount": "66.50",
        "fund": "charity",
        "source": "charity_sale",
        "reference": "旧物义卖 11月",
        "note": "",
        **fields,
    }


def test_a_fund_admin_records_income_once_however_often_the_form_is_sent(client, community, admin):
    sign_in(client, "fund-zhang")
    form = income_form(client)

    first = client.post("/admin/income", data=form)
    again = client.post("/admin/income", data=form)

    assert first.status_code == again.status_code == 302
    assert cash(community, Fund.CHARITY) == 6_650
    entries = db.session.scalars(
        sa.select(IncomeEntry).where(IncomeEntry.community_id == community.id)
    ).all()
    assert [(e.amount_fen, e.reference) for e in entries] == [(6_650, "旧物义卖 11月")]
    text = page(client.get("/admin/income"))
    assert "已记录收入。" in text
    assert "¥66.50" in text and "慈善基金" in text and "义卖" in text


def test_the_income_form_explains_a_bad_amount(client, community, admin):
    sign_in(client, "fund-zhang")
    text = page(client.post("/admin/income", data=income_form(client, amount="12.345")))
    assert "请输入以元为单位的金额，例如 12.50。" in text
    assert cash(community, Fund.CHARITY) == 0


def test_a_wrong_entry_is_reversed_from_the_page_with_its_reason(client, community, admin):
    entry = fund.record_income(
        community,
        amount_fen=5_000,
        fund=Fund.COMMUNITY,
        source=IncomeSource.GRANT,
        reference="街道拨款",
        note=None,
        actor=admin,
    )
    db.session.commit()
    sign_in(client, "fund-zhang")
    text = page(client.get("/admin/income"))
    key = re.search(rf'name="r{entry.id}-form_key"[^>]*value="([^"]+)"', text)[1]
    form = {"csrf_token": csrf_token(client.get("/admin/income")), f"r{entry.id}-form_key": key}

    refused = client.post(f"/admin/income/{entry.id}/reverse", data=form)
    assert refused.status_code == 302
    assert cash(community) == 5_000
    reversed_ = client.post(
        f"/admin/income/{entry.id}/reverse", data={**form, f"r{entry.id}-reason": "金额录错"}
    )
    assert reversed_.status_code == 302
    db.session.expire_all()
    assert db.session.get(IncomeEntry, entry.id).status == IncomeStatus.REVERSED
    assert cash(community) == 0
    assert "已冲销：金额录错" in page(client.get("/admin/income"))


def test_the_overview_shows_each_fund_and_recent_money(client, community, admin):
    fund.record_income(
        community,
        amount_fen=123_456,
        fund=Fund.COMMUNITY,
        source=IncomeSource.CHARITY_SALE,
        reference="义卖",
        note=None,
        actor=admin,
    )
    db.session.commit()
    sign_in(client, "fund-zhang")

    text = page(client.get("/admin/fund"))

    assert "<h1>基金</h1>" in text
    assert "社区基金" in text and "慈善基金" in text
    assert "¥1,234.56" in text
    assert "应付商户" in text  # the reimbursing fund shows what it owes
    assert f"/c/{community.slug}/donate" in text
    nav = re.search(r'<nav class="[^"]*main-nav".*?</nav>', text, re.S)[0]
    assert "/admin/income" in nav and "/admin/donations" in nav


def test_residents_do_not_reach_the_fund_pages(client, community, make_member):
    make_member(community, username="wang-ayi")
    sign_in(client, "wang-ayi")
    assert client.get("/admin/fund").status_code == 403
    assert client.get("/admin/income").status_code == 403
    assert "/admin/fund" not in page(client.get("/home"))


def test_a_donation_is_refunded_from_the_donations_page(
    client, community, admin, stripe_app, stripe_fake, api
):
    fund.record_income(
        community,
        amount_fen=50_000,
        fund=Fund.COMMUNITY,
        source=IncomeSource.GRANT,
        reference="拨款",
        note=None,
        actor=admin,
    )
    donation, intent = fund.start_donation(
        community, amount_fen=10_000, fund=Fund.COMMUNITY, donor_name="李先生", limits=(100, 10**7)
    )
    db.session.commit()
    stripe_fake.pay(intent["id"])
    post_event(api.client, stripe_fake.event("payment_intent.succeeded", intent["id"]))
    sign_in(client, "fund-zhang")

    text = page(client.get("/admin/donations"))
    assert "李先生" in text and "已到账" in text and "Stripe 手续费 ¥3.00" in text
    key = re.search(rf'name="d{donation.id}-form_key"[^>]*value="([^"]+)"', text)[1]
    form = {
        "csrf_token": csrf_token(client.get("/admin/donations")),
        f"d{donation.id}-form_key": key,
        f"d{donation.id}-amount": "30",
    }
    assert client.post(f"/admin/donations/{donation.id}/refund", data=form).status_code == 302
    assert client.post(f"/admin/donations/{donation.id}/refund", data=form).status_code == 302

    db.session.expire_all()
    assert db.session.get(Donation, donation.id).refunded_fen == 3_000
    assert cash(community) == 50_000 + 9_700 - 3_000
    assert "已向捐赠人退款 ¥30.00。" in page(client.get("/admin/donations"))


def test_the_public_donation_page_starts_a_donation_once_per_form(
    client, community, stripe_app, stripe_fake
):
    text = page(client.get(f"/c/{community.slug}/donate"))
    assert "<h1>向北新社区捐赠</h1>" in text
    assert stripe_fake.url + "/js.stripe.com/v3/" in text
    assert 'data-publishable-key="pk_test_' in text
    token = re.search(r'data-csrf="([^"]+)"', text)[1]
    body = {
        "amount": "88.80",
        "fund": "charity",
        "donor_name": "王",
        "request_key": uuid.uuid4().hex,
    }
    headers = {"X-CSRFToken": token}

    first = client.post(f"/c/{community.slug}/donate", json=body, headers=headers)
    again = client.post(f"/c/{community.slug}/donate", json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    started = first.get_json()
    donation = db.session.get(Donation, started["donation_id"])
    assert (donation.amount_fen, donation.fund, donation.status) == (
        8_880,
        Fund.CHARITY,
        DonationStatus.PENDING,
    )
    assert started["status_url"] == (
        f"/api/v1/donations/by-payment-intent/{started['payment_intent_id']}"
    )
    assert client.get(started["status_url"]).get_json()["status"] == "pending"
    no_csrf = client.post(f"/c/{community.slug}/donate", json=body)
    assert no_csrf.status_code == 400
    too_small = client.post(
        f"/c/{community.slug}/donate",
        json={**body, "amount": "0.50", "request_key": "k" * 10},
        headers=headers,
    )
    assert too_small.status_code == 422
    assert too_small.get_json()["message"] == "请输入捐赠范围内的金额。"


def test_the_donation_page_says_when_stripe_is_not_set_up(client, community):
    text = page(client.get(f"/c/{community.slug}/donate"))
    assert "本系统尚未开通在线捐赠。" in text
    assert "donate.js" not in text


def test_the_donation_page_is_english_on_request(client, community, stripe_app):
    text = page(client.get(f"/c/{community.slug}/donate", headers={"Accept-Language": "en"}))
    assert "<h1>Donate to 北新社区</h1>" in text
    assert "Donate by card" in text
