"""Settling a month, approving with four eyes, rejecting, paying by bank, returns."""

import csv
import io
import subprocess

import pytest
import sqlalchemy as sa
from coupon_world import balance
from settlement_world import (
    build_world,
    cash,
    date_redemptions,
    fund,
    merchant_balance,
    redeem,
    world,  # noqa: F401 (a fixture)
)

from app import settlement
from app.earnings import Period, last_month
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
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SettlementStatement).where(
        SettlementStatement.community_id == world.community.id
    )) == 1


def test_only_the_month_s_active_unsettled_redemptions_are_settled(api, world):
    in_month = redeem(api, world, 1000)
    voided = redeem(api, world, 1200)
    assert api.as_(world.cashier).post(f"/redemptions/{voided['id']}/void", key=True).status_code == 200
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
        sa.select(Redemption.id).where(Redemption.statement_id.is_(None))
        .where(Redemption.community_id == world.community.id).order_by(Redemption.id)
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
    assert statement["amount_fen"] * 30 + statement["rounding_remainder"] == statement["points"] * 100
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
