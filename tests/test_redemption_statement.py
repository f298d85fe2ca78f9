"""PostgreSQL records a redemption with one call to ``jifen_redeem`` (migrations
0007, 0009), SQLite through the ORM: both must write the same rows, and the function
must refuse what Python's checks would."""

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from support.coupons import earn, issued_coupon
from support.redemptions import balances, written

from app import ledger, paycodes, redemptions
from app.extensions import db
from app.ledger import InsufficientBalance
from app.redemptions.writers import OrmWriter, PostgresWriter
from models import (
    Account,
    AccountKind,
    Coupon,
    CouponStatus,
)

pytestmark = pytest.mark.postgres


def writers():
    """The ORM writer (SQLite's) and the app's, which on PostgreSQL calls ``jifen_redeem``."""
    return (OrmWriter().record, redemptions.writer().record)


def _spend_request(source, community, admin, resident, points) -> dict:
    if source == "coupon":
        coupon = issued_coupon(community, admin, resident, points=points)
        return {"code": coupon.code}
    earn(resident, points)
    return {"pay_code": paycodes.pay_code(resident).code}


@pytest.mark.parametrize("source", ["coupon", "pay_code"])
@pytest.mark.parametrize("bill_fen", [1500, 2000])
def test_both_writers_write_the_same_rows(source, bill_fen, community, admin, make_member, cashier):
    """1,000 points: ¥15 spends 750 (a part), ¥20 spends all 1,000 (the coupon closes)."""
    results = []
    assert isinstance(redemptions.writer(), PostgresWriter)
    for record in writers():
        resident = make_member(community)
        request = _spend_request(source, community, admin, resident, 1000)
        found = redemptions.quote(cashier, bill_fen=bill_fen, _redeeming=True, **request)
        before = balances(community.id)
        results.append(written(record(found, cashier), before))
    orm, statement = results
    assert statement == orm
    assert orm["reference names the redemption"]


def test_the_function_refuses_a_coupon_changed_since_it_was_read(
    community, admin, resident, cashier
):
    coupon = issued_coupon(community, admin, resident, points=1000)
    found = redemptions.quote(cashier, bill_fen=1000, code=coupon.code, _redeeming=True)
    db.session.execute(
        sa.update(Coupon)
        .where(Coupon.id == coupon.id)
        .values(points_remaining=400, status=CouponStatus.PARTLY_REDEEMED)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(IntegrityError) as refused:
        redemptions.writer().record(found, cashier)
    assert refused.value.orig.diag.constraint_name == "coupon_points_changed"


def test_the_function_refuses_to_overdraw_a_wallet(community, resident, cashier):
    earn(resident, 100)
    found = redemptions.quote(
        cashier, bill_fen=200, pay_code=paycodes.pay_code(resident).code, _redeeming=True
    )
    wallet = ledger.ensure_account(community.id, AccountKind.WALLET, member_id=resident.id)
    db.session.execute(
        sa.update(Account)
        .where(Account.id == wallet.id)
        .values(balance=40)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(InsufficientBalance) as refused:
        redemptions.writer().record(found, cashier)
    assert refused.value.__cause__.orig.diag.constraint_name == "insufficient_balance"
