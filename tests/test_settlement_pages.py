"""The settlement pages through the session cookie: a fund admin's month, a merchant's
statements, the downloads, and who may open what."""

import pytest
from support.pages import csrf_token, sign_in
from support.settlement import build_world, date_redemptions, redeem

from app.extensions import db
from models import Merchant, SettlementStatement, StatementStatus, Username


@pytest.fixture
def month(api, make_community, make_member):
    """Three redemptions last month at 微街长便民超市; the admins and the cashier sign in
    as ``zhang``, ``li`` and ``shop``."""
    world = build_world(make_community, make_member)
    for member, username in (
        (world.admin, "zhang"),
        (world.second_admin, "li"),
        (world.cashier, "shop"),
    ):
        db.session.add(Username(username=username, community_id=member.community_id))
        db.session.flush()
        member.username = username
    db.session.flush()
    ids = [redeem(api, world, bill)["id"] for bill in (1000, 2000, 1500)]
    world.period = date_redemptions(ids)
    return world


def form_post(client, page, path, **fields):
    return client.post(path, data={"csrf_token": csrf_token(client.get(page)), **fields})


def test_a_fund_admin_settles_approves_and_pays_by_bank_on_the_page(client, month):
    sign_in(client, "zhang")
    page = f"/admin/settlements?period={month.period}"
    assert "结算" in client.get("/home").get_data(as_text=True)

    settled = form_post(client, page, "/admin/settlements", period=str(month.period))
    listing = client.get(settled.headers["Location"]).get_data(as_text=True)

    assert f"已生成 {month.period} 结算单 1 张，合计 ¥45.00。" in listing
    assert "微街长便民超市" in listing
    statement = (
        db.session.query(SettlementStatement).filter_by(community_id=month.community.id).one()
    )
    path = f"/admin/statements/{statement.id}"

    approved = form_post(client, page, f"{path}/approve")
    assert "现为“已审批”" in client.get(approved.headers["Location"]).get_data(as_text=True)
    no_reference = form_post(client, page, f"{path}/pay", method="bank", reference="")
    shown = client.get(no_reference.headers["Location"]).get_data(as_text=True)
    assert "银行转账付款需要填写转账流水号。" in shown
    paid = form_post(client, page, f"{path}/pay", method="bank", reference="BOC-66")
    assert "现为“已付款”" in client.get(paid.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(SettlementStatement, statement.id).status == StatementStatus.PAID

    detail = client.get(f"/statements/{statement.id}").get_data(as_text=True)
    assert "BOC-66" in detail and "¥45.00" in detail


def test_refusals_come_back_to_the_page_translated(client, month):
    month.community.statement_approval_threshold_fen = 100
    db.session.flush()
    sign_in(client, "zhang")
    page = "/admin/settlements"
    form_post(client, page, page, period=str(month.period))
    statement = (
        db.session.query(SettlementStatement).filter_by(community_id=month.community.id).one()
    )

    mine = form_post(client, page, f"/admin/statements/{statement.id}/approve")

    assert "须由结算人以外的另一位基金管理员审批" in client.get(mine.headers["Location"]).get_data(
        as_text=True
    )
    not_over = form_post(client, page, page, period="2999-01")
    assert "尚未结束" in client.get(not_over.headers["Location"]).get_data(as_text=True)


def test_a_cashier_sees_the_own_merchant_s_statements_and_downloads_them(client, month, api):
    api.as_(month.admin).post(
        f"/communities/{month.slug}/settlements", json={"period": str(month.period)}, key=True
    )
    statement = (
        db.session.query(SettlementStatement).filter_by(community_id=month.community.id).one()
    )
    sign_in(client, "shop")

    listing = client.get("/merchant/statements").get_data(as_text=True)
    pdf = client.get(f"/statements/{statement.id}.pdf?lang=en")
    csv = client.get(f"/statements/{statement.id}.csv")

    assert "结算单 · 微街长便民超市" in listing
    assert str(month.period) in listing and "¥45.00" in listing
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.get_data().startswith(b"%PDF")
    assert csv.status_code == 200 and "合计" in csv.get_data(as_text=True)
    assert client.get("/admin/settlements").status_code == 403
    assert client.post(f"/admin/statements/{statement.id}/approve", data={}).status_code in (
        400,
        403,
    )


def test_a_resident_and_another_shop_cannot_open_a_statement(client, month, make_member, api):
    from app import communities
    from models import Role

    api.as_(month.admin).post(
        f"/communities/{month.slug}/settlements", json={"period": str(month.period)}, key=True
    )
    statement = (
        db.session.query(SettlementStatement).filter_by(community_id=month.community.id).one()
    )
    other = communities.create_merchant(month.community, name="理发店", category="理发")
    make_member(month.community, Role.MERCHANT_STAFF, merchant_id=other.id, username="barber")
    sign_in(client, "barber")

    assert client.get(f"/statements/{statement.id}").status_code == 403
    assert client.get(f"/statements/{statement.id}.pdf").status_code == 403
    assert "还没有结算单" in client.get("/merchant/statements").get_data(as_text=True)


def test_a_fund_admin_links_a_merchant_s_stripe_account(client, month):
    sign_in(client, "zhang")
    page = "/admin/payout-accounts"

    saved = form_post(client, page, page, merchant_id=month.shop.id, stripe_account_id="acct_9X")
    wrong = form_post(client, page, page, merchant_id=month.shop.id, stripe_account_id="9X")

    assert saved.status_code == 302
    assert "Stripe 收款账户编号以 acct_ 开头" in client.get(wrong.headers["Location"]).get_data(
        as_text=True
    )
    db.session.expire_all()
    assert db.session.get(Merchant, month.shop.id).stripe_account_id == "acct_9X"
