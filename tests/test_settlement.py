"""Settling a month, approving with four eyes, rejecting, paying by bank, returns."""

import csv
import io

import pytest
import sqlalchemy as sa
from support.books import balance
from support.settlement import (
    build_world,
    cash,
    date_redemptions,
    fund,
    merchant_balance,
    pdftotext,
    redeem,
)

from app.earnings import Period
from app.extensions import db
from app.money import points_value
from app.reconciliation import reconcile
from models import (
    AccountKind,
    AuditEntry,
    LedgerTransaction,
    Redemption,
    SettlementStatement,
    StatementStatus,
    TransactionKind,
    utcnow,
)

PROBLEM = "application/problem+json"


def settle(api, world, period, member=None):
    return api.as_(member or world.admin).post(
        f"/communities/{world.slug}/settlements", json={"period": str(period)}, key=True
    )


def settled_month(api, world, bills=(1000, 2000, 1500)):
    """Redemptions of ``bills`` dated last month, settled by the first admin: the statement."""
    ids = [redeem(api, world, bill)["id"] for bill in bills]
    period = date_redemptions(ids)
    reply = settle(api, world, period)
    assert reply.status_code == 201, reply.json
    [statement] = reply.json["statements"]
    return statement


def test_settling_a_month_makes_one_statement_per_merchant_with_its_totals(api, world):
    receipts = [redeem(api, world, bill) for bill in (1000, 2000, 1500)]
    period = date_redemptions([r["id"] for r in receipts])

    reply = settle(api, world, period)

    assert reply.status_code == 201
    [statement] = reply.json["statements"]
    assert statement["merchant_id"] == world.shop.id
    assert statement["merchant_name"] == "微街长便民超市"
    assert statement["period"] == str(period)
    assert statement["status"] == "draft"
    assert statement["redemptions"] == 3
    assert statement["points"] == sum(r["points"] for r in receipts) == 2250
    assert statement["amount_fen"] == sum(r["points_value_fen"] for r in receipts) == 4500
    assert statement["rounding_remainder"] == 0
    assert statement["needs_second_approver"] is False
    assert statement["created_by_id"] == world.admin.id
    settled = db.session.scalars(
        sa.select(Redemption.statement_id).where(Redemption.id.in_([r["id"] for r in receipts]))
    ).all()
    assert settled == [statement["id"]] * 3


def test_settling_again_makes_nothing_new(api, world):
    statement = settled_month(api, world)

    again = settle(api, world, Period.parse(statement["period"]), member=world.second_admin)

    assert again.status_code == 201
    assert again.json == {"statements": []}
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(SettlementStatement)
            .where(SettlementStatement.community_id == world.community.id)
        )
        == 1
    )


def test_only_the_month_s_active_unsettled_redemptions_are_settled(api, world):
    in_month = redeem(api, world, 1000)
    voided = redeem(api, world, 1200)
    assert (
        api.as_(world.cashier).post(f"/redemptions/{voided['id']}/void", key=True).status_code
        == 200
    )
    earlier = redeem(api, world, 800)
    this_month = redeem(api, world, 600)
    period = date_redemptions([in_month["id"], voided["id"]])
    date_redemptions([earlier["id"]], period.previous())

    [statement] = settle(api, world, period).json["statements"]

    assert statement["redemptions"] == 1
    assert statement["amount_fen"] == 1000
    lines = api.as_(world.admin).get(f"/statements/{statement['id']}").json["lines"]
    assert [line["id"] for line in lines] == [in_month["id"]]
    unsettled = db.session.scalars(
        sa.select(Redemption.id)
        .where(Redemption.statement_id.is_(None))
        .where(Redemption.community_id == world.community.id)
        .order_by(Redemption.id)
    ).all()
    assert unsettled == [voided["id"], earlier["id"], this_month["id"]]


def test_the_rounding_remainder_is_what_each_floor_dropped(api, make_community, make_member):
    world = build_world(make_community, make_member, points_per_yuan=30)
    receipts = [redeem(api, world, bill) for bill in (1004, 1010, 337)]
    period = date_redemptions([r["id"] for r in receipts])

    [statement] = settle(api, world, period).json["statements"]

    remainders = [points_value(r["points"], 30).remainder_centipoints for r in receipts]
    assert statement["rounding_remainder"] == sum(remainders) > 0
    assert statement["amount_fen"] == sum(r["points_value_fen"] for r in receipts)
    # What the floors dropped, with the fen paid, gives back every point.
    assert (
        statement["amount_fen"] * 30 + statement["rounding_remainder"] == statement["points"] * 100
    )
    lines = api.as_(world.admin).get(f"/statements/{statement['id']}").json["lines"]
    assert [line["rounding_remainder"] for line in lines] == remainders


def test_a_month_that_is_not_over_is_refused(api, world):
    redeem(api, world, 1000)
    this_month = Period.containing(utcnow())

    reply = settle(api, world, this_month)

    assert reply.status_code == 422
    assert reply.json["type"] == "urn:jifen:problem:period-not-over"
    assert reply.json["errors"]["json"]["period"]


def test_a_settled_redemption_can_no_longer_be_voided(api, world):
    receipt = redeem(api, world, 1000)
    period = date_redemptions([receipt["id"]])
    [statement] = settle(api, world, period).json["statements"]

    reply = api.as_(world.cashier).post(f"/redemptions/{receipt['id']}/void", key=True)

    assert reply.status_code == 409
    assert reply.json["type"] == "urn:jifen:problem:redemption-settled"
    assert db.session.get(Redemption, receipt["id"]).statement_id == statement["id"]


# --- approval ---------------------------------------------------------------------------


def test_approval_moves_points_to_retired_and_fen_to_payable_in_one_transaction(api, world):
    statement = settled_month(api, world)
    receivable = merchant_balance(world.community, AccountKind.MERCHANT_RECEIVABLE, world.shop)
    retired = balance(world.community, AccountKind.RETIRED)
    held = cash(world.community)

    reply = api.as_(world.second_admin).post(f"/statements/{statement['id']}/approve", key=True)

    assert reply.status_code == 200
    assert reply.json["status"] == "approved"
    assert reply.json["approved_by_id"] == world.second_admin.id
    assert merchant_balance(world.community, AccountKind.MERCHANT_RECEIVABLE, world.shop) == (
        receivable - statement["points"]
    )
    assert balance(world.community, AccountKind.RETIRED) == retired + statement["points"]
    assert cash(world.community) == held - statement["amount_fen"]
    assert (
        merchant_balance(world.community, AccountKind.MERCHANT_PAYABLE, world.shop)
        == (statement["amount_fen"])
    )
    txn = db.session.get(LedgerTransaction, reply.json["approval_transaction_id"])
    assert txn.kind == TransactionKind.SETTLEMENT
    assert sorted(entry.amount for entry in txn.entries) == sorted(
        [
            -statement["points"],
            statement["points"],
            -statement["amount_fen"],
            statement["amount_fen"],
        ]
    )
    assert reconcile(world.community).ok


def test_below_the_threshold_its_creator_may_approve(api, world):
    statement = settled_month(api, world)

    reply = api.as_(world.admin).post(f"/statements/{statement['id']}/approve", key=True)

    assert reply.status_code == 200
    assert reply.json["status"] == "approved"


def test_above_the_threshold_a_second_fund_admin_must_approve(api, world):
    world.community.statement_approval_threshold_fen = 3000
    statement = settled_month(api, world)
    assert statement["needs_second_approver"] is True

    mine = api.as_(world.admin).post(f"/statements/{statement['id']}/approve", key=True)
    other = api.as_(world.second_admin).post(f"/statements/{statement['id']}/approve", key=True)

    assert mine.status_code == 403
    assert mine.content_type == PROBLEM
    assert mine.json["type"] == "urn:jifen:problem:second-approver-required"
    assert other.status_code == 200
    assert other.json["approved_by_id"] == world.second_admin.id


def test_a_fund_that_cannot_cover_the_statement_refuses_approval(api, make_community, make_member):
    world = build_world(make_community, make_member, cash=3000)
    statement = settled_month(api, world)  # ¥45.00 against ¥30.00 held

    reply = api.as_(world.second_admin).post(
        f"/statements/{statement['id']}/approve", key=True, headers={"Accept-Language": "en"}
    )

    assert reply.status_code == 409
    assert reply.json["type"] == "urn:jifen:problem:fund-cannot-cover"
    assert reply.json["fund"] == "community"
    assert reply.json["fund_cash_fen"] == 3000
    assert reply.json["shortfall_fen"] == 1500
    assert "community fund" in reply.json["detail"]
    assert "¥30.00" in reply.json["detail"] and "¥15.00" in reply.json["detail"]
    zh = api.as_(world.second_admin).post(f"/statements/{statement['id']}/approve", key=True)
    assert "社区基金" in zh.json["detail"]
    assert db.session.get(SettlementStatement, statement["id"]).status == StatementStatus.DRAFT
    assert cash(world.community) == 3000
    assert merchant_balance(world.community, AccountKind.MERCHANT_PAYABLE, world.shop) == 0


def test_the_charity_fund_reimburses_when_the_community_says_so(api, make_community, make_member):
    from models import Fund

    world = build_world(make_community, make_member, reimbursing_fund=Fund.CHARITY)
    fund(world.community, 10_000, Fund.CHARITY)
    statement = settled_month(api, world)

    reply = api.as_(world.admin).post(f"/statements/{statement['id']}/approve", key=True)

    assert reply.status_code == 200
    assert cash(world.community, Fund.CHARITY) == 10_000 - statement["amount_fen"]
    assert cash(world.community) == 1_000_000


def test_approving_twice_is_a_conflict(api, world):
    statement = settled_month(api, world)
    api.as_(world.admin).post(f"/statements/{statement['id']}/approve", key=True)

    again = api.as_(world.second_admin).post(f"/statements/{statement['id']}/approve", key=True)

    assert again.status_code == 409
    assert again.json["type"] == "urn:jifen:problem:statement-status-conflict"


def test_a_rejected_statement_gives_its_redemptions_back_to_the_next_settlement(api, world):
    statement = settled_month(api, world)

    rejected = api.as_(world.second_admin).post(
        f"/statements/{statement['id']}/reject", json={"reason": "金额有误 amounts wrong"}, key=True
    )

    assert rejected.status_code == 200
    assert rejected.json["status"] == "rejected"
    assert rejected.json["reject_reason"] == "金额有误 amounts wrong"
    assert api.as_(world.admin).get(f"/statements/{statement['id']}").json["lines"] == []
    again = settle(api, world, Period.parse(statement["period"]))
    [renewed] = again.json["statements"]
    assert renewed["id"] != statement["id"]
    assert renewed["amount_fen"] == statement["amount_fen"]
    assert renewed["redemptions"] == 3
    assert (
        api.as_(world.admin).post(f"/statements/{statement['id']}/approve", key=True).status_code
        == 409
    )


def test_a_reject_needs_a_reason(api, world):
    statement = settled_month(api, world)

    reply = api.as_(world.admin).post(
        f"/statements/{statement['id']}/reject", json={"reason": "   "}, key=True
    )

    assert reply.status_code == 422
    assert reply.json["type"] == "urn:jifen:problem:reason-required"


# --- paying by bank, and returns ------------------------------------------------------------


def approved(api, world):
    statement = settled_month(api, world)
    reply = api.as_(world.second_admin).post(f"/statements/{statement['id']}/approve", key=True)
    assert reply.status_code == 200
    return reply.json


def test_paying_by_bank_moves_payable_to_paid_out(api, world):
    statement = approved(api, world)

    reply = api.as_(world.admin).post(
        f"/statements/{statement['id']}/pay",
        json={"method": "bank", "reference": "BOC-20261101-7"},
        key=True,
    )

    assert reply.status_code == 200
    assert reply.json["status"] == "paid"
    assert merchant_balance(world.community, AccountKind.MERCHANT_PAYABLE, world.shop) == 0
    assert (
        merchant_balance(world.community, AccountKind.PAID_OUT, world.shop)
        == statement["amount_fen"]
    )
    [payout] = api.as_(world.admin).get(f"/statements/{statement['id']}").json["payouts"]
    assert payout["method"] == "bank"
    assert payout["status"] == "succeeded"
    assert payout["bank_reference"] == "BOC-20261101-7"
    assert payout["amount_fen"] == statement["amount_fen"]
    assert reconcile(world.community).ok


def test_a_bank_payment_needs_its_reference(api, world):
    statement = approved(api, world)

    reply = api.as_(world.admin).post(
        f"/statements/{statement['id']}/pay", json={"method": "bank"}, key=True
    )

    assert reply.status_code == 422
    assert reply.json["type"] == "urn:jifen:problem:bank-reference-required"
    assert db.session.get(SettlementStatement, statement["id"]).status == StatementStatus.APPROVED


def test_paying_a_paid_statement_is_a_conflict(api, world):
    statement = approved(api, world)
    body = {"method": "bank", "reference": "BOC-1"}
    first = api.as_(world.admin).post(f"/statements/{statement['id']}/pay", json=body, key="pay-1")

    replayed = api.as_(world.admin).post(
        f"/statements/{statement['id']}/pay", json=body, key="pay-1"
    )
    again = api.as_(world.second_admin).post(
        f"/statements/{statement['id']}/pay",
        json={"method": "bank", "reference": "BOC-2"},
        key=True,
    )

    assert replayed.status_code == 200 and replayed.get_data() == first.get_data()
    assert again.status_code == 409
    assert again.json["type"] == "urn:jifen:problem:statement-already-paid"
    assert (
        merchant_balance(world.community, AccountKind.PAID_OUT, world.shop)
        == statement["amount_fen"]
    )


def test_a_draft_cannot_be_paid(api, world):
    statement = settled_month(api, world)

    reply = api.as_(world.admin).post(
        f"/statements/{statement['id']}/pay", json={"method": "bank", "reference": "X"}, key=True
    )

    assert reply.status_code == 409
    assert reply.json["type"] == "urn:jifen:problem:statement-status-conflict"


def test_a_returned_bank_transfer_is_payable_again_and_paid_without_a_new_approval(api, world):
    statement = approved(api, world)
    path = f"/statements/{statement['id']}"
    api.as_(world.admin).post(
        f"{path}/pay", json={"method": "bank", "reference": "BOC-1"}, key=True
    )

    returned = api.as_(world.admin).post(
        f"{path}/return", json={"reason": "账号已注销 account closed"}, key=True
    )

    assert returned.status_code == 200
    assert returned.json["status"] == "returned"
    assert returned.json["return_reason"] == "账号已注销 account closed"
    assert (
        merchant_balance(world.community, AccountKind.MERCHANT_PAYABLE, world.shop)
        == statement["amount_fen"]
    )
    assert merchant_balance(world.community, AccountKind.PAID_OUT, world.shop) == 0
    staff_view = api.as_(world.cashier).get(path).json
    assert staff_view["return_reason"] == "账号已注销 account closed"

    again = api.as_(world.admin).post(
        f"{path}/pay", json={"method": "bank", "reference": "BOC-2"}, key=True
    )

    assert again.status_code == 200
    assert again.json["status"] == "paid"
    assert (
        merchant_balance(world.community, AccountKind.PAID_OUT, world.shop)
        == statement["amount_fen"]
    )
    payouts = api.as_(world.admin).get(path).json["payouts"]
    assert [(p["number"], p["status"]) for p in payouts] == [(1, "returned"), (2, "succeeded")]
    reused = api.as_(world.admin).post(f"{path}/return", json={"reason": "x"}, key=True)
    assert reused.status_code == 200
    third = api.as_(world.admin).post(
        f"{path}/pay", json={"method": "bank", "reference": "BOC-1"}, key=True
    )
    assert third.status_code == 409
    assert third.json["type"] == "urn:jifen:problem:bank-reference-used"
    assert reconcile(world.community).ok


def test_only_a_paid_statement_can_be_returned(api, world):
    statement = approved(api, world)

    reply = api.as_(world.admin).post(
        f"/statements/{statement['id']}/return", json={"reason": "?"}, key=True
    )

    assert reply.status_code == 409
    assert reply.json["type"] == "urn:jifen:problem:payout-not-returnable"


# --- lists, who sees what --------------------------------------------------------------------


def test_statements_are_listed_by_period_and_status(api, world):
    statement = approved(api, world)
    slug = world.slug

    listed = api.as_(world.admin).get(
        f"/communities/{slug}/statements?period={statement['period']}&status=approved"
    )
    none = api.as_(world.admin).get(f"/communities/{slug}/statements?status=paid")
    mine = api.as_(world.cashier).get(f"/merchants/{world.shop.id}/statements")

    assert [s["id"] for s in listed.json["items"]] == [statement["id"]]
    assert listed.json["next_cursor"] is None
    assert none.json["items"] == []
    assert [s["id"] for s in mine.json["items"]] == [statement["id"]]


def test_merchant_staff_see_only_their_own_statements_and_cannot_decide(api, world, make_member):
    from app import communities
    from models import Role

    statement = settled_month(api, world)
    other_shop = communities.create_merchant(world.community, name="理发店", category="理发")
    other = make_member(world.community, Role.MERCHANT_STAFF, merchant_id=other_shop.id)
    path = f"/statements/{statement['id']}"

    assert api.as_(world.cashier).get(path).status_code == 200
    assert api.as_(other).get(path).status_code == 403
    assert api.as_(other).get(f"/merchants/{world.shop.id}/statements").status_code == 403
    assert api.as_(world.cashier).get(f"/communities/{world.slug}/statements").status_code == 403
    assert api.as_(world.cashier).post(f"{path}/approve", key=True).status_code == 403
    assert api.as_(world.resident).get(path).status_code == 403


def test_settling_and_approving_are_audited(api, world):
    statement = approved(api, world)

    actions = db.session.scalars(
        sa.select(AuditEntry.action)
        .where(AuditEntry.community_id == world.community.id)
        .order_by(AuditEntry.id)
    ).all()

    assert actions[-2:] == ["settlement.create", "statement.approve"]
    assert statement["status"] == "approved"


# --- documents -----------------------------------------------------------------------------------


def test_the_csv_totals_equal_the_json(api, make_community, make_member):
    world = build_world(make_community, make_member, points_per_yuan=30)
    ids = [redeem(api, world, bill)["id"] for bill in (1004, 1010, 337)]
    period = date_redemptions(ids)
    [statement] = settle(api, world, period).json["statements"]

    for lang, total, points_header in (("zh", "合计", "积分"), ("en", "Total", "Points")):
        reply = api.as_(world.cashier).get(f"/statements/{statement['id']}.csv?lang={lang}")
        assert reply.status_code == 200
        assert reply.mimetype == "text/csv"
        rows = list(csv.reader(io.StringIO(reply.get_data(as_text=True).lstrip("\ufeff"))))
        header = rows.index(next(row for row in rows if points_header in row))
        assert rows[0] == (
            ["商户", "微街长便民超市"] if lang == "zh" else ["Merchant", "微街长便民超市"]
        )
        last = rows[-1]
        assert last[0] == total
        assert int(last[2]) == statement["points"]
        whole, cents = last[4].split(".")
        assert int(whole) * 100 + int(cents) == statement["amount_fen"]
        remainder_whole, remainder_part = last[5].split(".")
        assert int(remainder_whole) * 100 + int(remainder_part) == statement["rounding_remainder"]
        assert len(rows) - header - 2 == statement["redemptions"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_pdf_shows_the_merchant_s_chinese_name_and_the_total(api, world, lang):
    statement = approved(api, world)
    api.as_(world.admin).post(
        f"/statements/{statement['id']}/pay",
        json={"method": "bank", "reference": "BOC-778"},
        key=True,
    )

    reply = api.as_(world.cashier).get(f"/statements/{statement['id']}.pdf?lang={lang}")

    assert reply.status_code == 200
    assert reply.mimetype == "application/pdf"
    text = pdftotext(reply.get_data())
    assert "微街长便民超市" in text
    assert "¥45.00" in text
    assert "BOC-778" in text
    assert ("结算单" if lang == "zh" else "Settlement statement") in text
    assert ("李会计" in text) and ("张主任" in text)


# --- the command line and reconciliation ------------------------------------------------------


def test_flask_settle_shows_progress_and_settles_once(app, api, world):
    ids = [redeem(api, world, bill)["id"] for bill in (1000, 2000)]
    period = date_redemptions(ids)
    cli = app.test_cli_runner()
    args = ["settle", "--community", world.slug, "--period", str(period)]

    first = cli.invoke(args=args)
    second = cli.invoke(args=args)

    assert first.exit_code == 0, first.output
    assert "Settling redemptions" in first.output
    assert f"1 statements for {period}: 2 redemptions, 1,500 points, ¥30.00" in first.output
    assert "微街长便民超市" in first.output
    assert second.exit_code == 0, second.output
    assert "nothing left to settle" in second.output
    reconciled = cli.invoke(args=["reconcile", "--community", world.slug])
    assert reconciled.exit_code == 0, reconciled.output
    assert "[ok  ] every statement equals its redemptions" in reconciled.output


def test_flask_settle_refuses_a_month_that_is_not_over(app, world):
    result = app.test_cli_runner().invoke(
        args=["settle", "--community", world.slug, "--period", str(Period.containing(utcnow()))]
    )

    assert result.exit_code == 1
    assert "not over" in result.output or "尚未结束" in result.output


def test_reconciliation_finds_a_statement_that_does_not_equal_its_redemptions(api, world):
    statement = settled_month(api, world)
    db.session.execute(
        sa.update(SettlementStatement)
        .where(SettlementStatement.id == statement["id"])
        .values(amount_fen=statement["amount_fen"] + 1)
    )

    report = reconcile(world.community)

    [check] = [c for c in report.checks if c.name == "every statement equals its redemptions"]
    assert not check.ok
    assert f"statement {statement['id']}" in check.detail


def refused_by(error) -> str:
    """The constraint PostgreSQL names, or SQLite's message (which starts with it)."""
    diag = getattr(error.orig, "diag", None)
    return (diag.constraint_name if diag is not None else None) or str(error.orig)


def test_the_database_refuses_a_redemption_on_another_merchant_s_statement(api, world):
    from sqlalchemy.exc import IntegrityError

    from app import communities

    statement = settled_month(api, world)
    other = communities.create_merchant(world.community, name="理发店", category="理发")
    [line] = [redeem(api, world, 700)]
    db.session.commit()

    with pytest.raises(IntegrityError) as caught, db.session.begin_nested():
        db.session.execute(
            sa.update(SettlementStatement)
            .where(SettlementStatement.id == statement["id"])
            .values(merchant_id=other.id)
        )
        db.session.execute(
            sa.update(Redemption)
            .where(Redemption.id == line["id"])
            .values(statement_id=statement["id"])
        )
    assert "redemptions_statement_exists" in refused_by(caught.value)
    with pytest.raises(IntegrityError) as kept, db.session.begin_nested():
        db.session.execute(
            sa.delete(SettlementStatement).where(SettlementStatement.id == statement["id"])
        )
    assert "settlement_statements_keep_lines" in refused_by(kept.value)
    assert db.session.get(Redemption, line["id"]).statement_id is None
