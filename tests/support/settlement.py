"""The settlement tests' world, a pytest plugin (the ``world`` fixture) and helpers: a
community ready to settle, with two fund admins, a funded community fund, a resident
holding a coupon, and a shop whose cashier redeems it through the API; redemptions are
then dated into a finished month, as if made then. And a statement PDF's text."""

import subprocess
from dataclasses import dataclass
from datetime import datetime

import pytest
import sqlalchemy as sa

from app import communities, ledger
from app.earnings import LOCAL_TZ, Period, last_month
from app.extensions import db
from models import AccountKind, Fund, Redemption, Role, TransactionKind

from .books import balance
from .coupons import issued_coupon


@dataclass
class World:
    community: object
    admin: object
    second_admin: object
    resident: object
    shop: object
    cashier: object
    code: str

    @property
    def slug(self) -> str:
        return self.community.slug


def fund(community, fen: int, fund: Fund = Fund.COMMUNITY) -> None:
    """Income into a fund's cash, as a recorded donation."""
    income = ledger.ensure_account(community.id, AccountKind.INCOME)
    cash = ledger.ensure_account(community.id, AccountKind.FUND_CASH, fund=fund)
    ledger.post(
        community.id, TransactionKind.INCOME, [(income, -fen), (cash, fen)], memo="义卖 sale"
    )


def build_world(make_community, make_member, *, coupon_points=5000, cash=1_000_000, **fields):
    community = make_community(award_approval_threshold=1_000_000, **fields)
    admin = make_member(community, Role.FUND_ADMIN, display_name="张主任")
    second_admin = make_member(community, Role.FUND_ADMIN, display_name="李会计")
    resident = make_member(community, display_name="王阿姨")
    shop = communities.create_merchant(community, name="微街长便民超市", category="超市")
    cashier = make_member(community, Role.MERCHANT_STAFF, merchant_id=shop.id)
    coupon = issued_coupon(community, admin, resident, points=coupon_points)
    if cash:
        fund(community, cash)
    db.session.flush()
    return World(community, admin, second_admin, resident, shop, cashier, coupon.code)


@pytest.fixture
def world(make_community, make_member):
    return build_world(make_community, make_member)


def redeem(api, world, bill_fen: int) -> dict:
    reply = api.as_(world.cashier).post(
        "/redemptions", json={"code": world.code, "bill_fen": bill_fen}, key=True
    )
    assert reply.status_code == 201, reply.json
    return reply.json


def in_month(period: Period, day: int = 15) -> datetime:
    return datetime(period.year, period.month, day, 10, tzinfo=LOCAL_TZ)


def date_redemptions(ids, period: Period | None = None, day: int = 15) -> Period:
    """Move redemptions into ``period`` (last month by default), as if made then."""
    period = period or last_month()
    db.session.execute(
        sa.update(Redemption)
        .where(Redemption.id.in_(list(ids)))
        .values(created_at=in_month(period, day))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.expire_all()
    return period


def cash(community, fund_=Fund.COMMUNITY) -> int:
    return balance(community, AccountKind.FUND_CASH, fund=fund_)


def merchant_balance(community, kind, merchant) -> int:
    return balance(community, kind, merchant_id=merchant.id)


def pdftotext(data: bytes) -> str:
    """The text of a PDF, as poppler's ``pdftotext`` reads it (layout kept)."""
    return subprocess.run(
        ["/usr/bin/pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()
