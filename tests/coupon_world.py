"""Fixtures and helpers for the coupon tests: a community with a fund admin, a
resident and a shop with its cashier, earnings dated in a finished month,
rules, balances, QR decoding.

Loaded as a plugin by conftest, so its fixtures serve every test module that
does not define its own.
"""

import io
import re
import uuid
from datetime import datetime

import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image, ImageDraw

from app import communities, coupons, issuance, issuance_rules, ledger, sql
from app.communities import wallet_of
from app.demo import dated
from app.earnings import LOCAL_TZ, Period, last_month
from app.extensions import db
from models import (
    Account,
    AccountKind,
    Coupon,
    CouponFunding,
    CouponStatus,
    ExpiryTarget,
    Role,
    TransactionKind,
)

__all__ = ["dated", "last_month"]


@pytest.fixture
def community(make_community):
    """A community whose awards post at once (no second admin needed)."""
    return make_community(award_approval_threshold=1_000_000)


@pytest.fixture
def admin(make_member, community):
    return make_member(community, Role.FUND_ADMIN)


@pytest.fixture
def resident(make_member, community):
    return make_member(community)


@pytest.fixture
def shop(community):
    return communities.create_merchant(community, name="微街长便民超市", category="超市")


@pytest.fixture
def cashier(make_member, community, shop):
    """A member of ``shop``'s staff, who redeems at its till."""
    return make_member(community, Role.MERCHANT_STAFF, merchant_id=shop.id)


def in_period(period: Period, day: int = 15, hour: int = 10) -> datetime:
    return datetime(period.year, period.month, day, hour, tzinfo=LOCAL_TZ)


def earn(member, points, *, kind=TransactionKind.AWARD, at: datetime | None = None):
    """Credit ``points`` to the member's wallet from issuance, as an award (or ``kind``),
    dated ``at`` (mid last month by default)."""
    issuance_account = ledger.ensure_account(member.community_id, AccountKind.ISSUANCE)
    with dated(at or in_period(last_month())):
        return ledger.post(
            member.community_id,
            kind,
            [(issuance_account, -points), (wallet_of(member), points)],
            memo=f"{kind.value} {points}",
        )


def make_rule(community, admin, **fields):
    defaults = dict(
        name=f"规则 {uuid.uuid4().hex[:8]}",
        min_points_earned=300,
        points=100,
        funding=CouponFunding.GRANT,
        on_expiry=ExpiryTarget.WALLET,
        actor=admin,
    )
    if "tiers" in fields:
        defaults.pop("points")
    return issuance_rules.create_rule(community, **{**defaults, **fields})


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def balance(community, kind, **owner) -> int:
    account = ledger.ensure_account(community.id, kind, **owner)
    return db.session.scalar(sa.select(Account.balance).where(Account.id == account.id))


def wallet(member) -> int:
    return balance(member.community, AccountKind.WALLET, member_id=member.id)


def escrow(community) -> int:
    return balance(community, AccountKind.COUPON_ESCROW)


def spend(coupon, points, merchant):
    """Redeem part of a coupon at ``merchant``, as redemption will: escrow -> receivable."""
    receivable = ledger.ensure_account(
        coupon.community_id, AccountKind.MERCHANT_RECEIVABLE, merchant_id=merchant.id
    )
    sql.locked(coupon)
    coupons.post_coupon_escrow(
        coupon.community_id,
        [coupons.EscrowMove(coupon.id, -points, receivable)],
        kind=TransactionKind.REDEMPTION,
        memo=f"{merchant.name} 消费",
    )
    left = coupon.points_remaining - points
    status = CouponStatus.REDEEMED if left == 0 else CouponStatus.PARTLY_REDEEMED
    coupons.transition(coupon, status, points_remaining=left)
    db.session.flush()


def issued_coupon(community, admin, member, *, period: Period | None = None, **rule_fields):
    """A 100-point coupon for ``member``, who earns just enough for it in ``period``
    (last month by default), under a new rule. Whoever else earned enough in that
    period gets one too."""
    period = period or last_month()
    earn(member, 300, at=in_period(period))
    rule = make_rule(community, admin, **rule_fields)
    issuance.issue_coupons(rule, period, actor=admin)
    return db.session.scalars(
        sa.select(Coupon).where(Coupon.member_id == member.id, Coupon.rule_id == rule.id)
    ).one()


def decode_png(data: bytes) -> str:
    """The text of the one QR code in a PNG (or any image Pillow reads), by zxing-cpp."""
    image = Image.open(io.BytesIO(data)).convert("L")
    [found] = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return found.text


#: One module of qrcode's SvgPathImage: ``M4,4H5V5H4z``.
SVG_MODULE = re.compile(r"M(\d+),(\d+)H(\d+)V(\d+)H\d+z")


def decode_svg(document: str, scale: int = 8) -> str:
    """Draw the SVG's squares with Pillow, on white, then decode the picture."""
    viewbox = re.search(r'viewBox="0 0 (\d+) (\d+)"', document)
    width, height = int(viewbox[1]), int(viewbox[2])
    image = Image.new("L", (width * scale, height * scale), 255)
    draw = ImageDraw.Draw(image)
    modules = SVG_MODULE.findall(document)
    assert modules, "no QR modules in the SVG"
    for x0, y0, x1, y1 in modules:
        box = [int(x0) * scale, int(y0) * scale, int(x1) * scale - 1, int(y1) * scale - 1]
        draw.rectangle(box, fill=0)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return decode_png(out.getvalue())
