"""``flask demo``: migrate, seed the 北新社区 demo community, and serve it.

The seed goes through the same domain functions as the API, so demo balances
are real ledger postings that ``flask reconcile`` proves. The awards are dated
last month, and last month's coupons are issued, so residents hold coupons.
"""

from contextlib import contextmanager
from datetime import datetime

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from werkzeug.serving import run_simple

from models import (
    Award,
    Community,
    CouponFunding,
    ExpiryTarget,
    LedgerTransaction,
    Member,
    Role,
)

from . import awards, communities, issuance
from .earnings import LOCAL_TZ, last_month
from .extensions import db

SLUG = "beixin"
PASSWORD = "jifen-demo"  # noqa: S105 (the demo's published password)

PEOPLE = (
    ("admin", "平台管理员 Platform admin", Role.PLATFORM_ADMIN),
    ("fund", "社区基金 张主任 Fund admin Zhang", Role.FUND_ADMIN),
    ("fund2", "社区基金 刘会计 Fund admin Liu", Role.FUND_ADMIN),
    ("organizer", "网格员 陈晓 Organizer Chen", Role.ORGANIZER),
    ("resident", "居民 王秀兰 Resident Wang", Role.RESIDENT),
    ("resident2", "居民 李建国 Resident Li", Role.RESIDENT),
    ("resident3", "居民 赵敏 Resident Zhao", Role.RESIDENT),
)

AWARDS = (
    ("resident", 150, "环境卫生整治：北新街清扫 Street cleanup"),
    ("resident", 200, "绿化美化：社区花坛补植 Greening"),
    ("resident", 100, "矛盾化解：邻里纠纷调解 Dispute mediation"),
    ("resident2", 300, "安全巡逻：夜间巡查 Safety patrol"),
    ("resident3", 120, "关爱老人：上门陪伴 Elder care"),
    ("resident2", -20, "重复登记更正 Correction of a double entry"),
)


#: Partner shops: name, category, whether a 微街长 (micro street chief) runs it.
SHOPS = (
    ("微街长便民超市", "超市 Grocery", True),
    ("北新街理发店", "理发 Barber", True),
    ("老街茶馆", "茶馆 Tea house", False),
)


@contextmanager
def dated(moment: datetime):
    """Write history: awards and ledger transactions made inside carry ``moment``.

    For seeding (the demo, tests) only: the hook is process-wide while it lasts.
    """

    def stamp(_mapper, _connection, target):
        target.created_at = moment

    for model in (Award, LedgerTransaction):
        sa.event.listen(model, "before_insert", stamp)
    try:
        yield
    finally:
        for model in (Award, LedgerTransaction):
            sa.event.remove(model, "before_insert", stamp)


def seed() -> bool:
    """Create the demo community once; return False when it already exists."""
    if db.session.execute(sa.select(Community.id).where(Community.slug == SLUG)).first():
        return False
    community = communities.create_community(SLUG, "北新社区", points_per_yuan=50)
    shops = [
        communities.create_merchant(community, name=name, category=category)
        for name, category, _chief in SHOPS
    ]
    shop = shops[0]
    people: dict[str, Member] = {}
    for username, name, role in PEOPLE:
        people[username] = communities.create_member(
            None if role == Role.PLATFORM_ADMIN else community,
            username=username,
            password=PASSWORD,
            display_name=name,
            role=role,
        )
    people["cashier"] = communities.create_member(
        community,
        username="cashier",
        password=PASSWORD,
        display_name="收银员 小周 Cashier Zhou",
        role=Role.MERCHANT_STAFF,
        merchant_id=shop.id,
    )
    period = last_month()
    with dated(datetime(period.year, period.month, 15, 10, tzinfo=LOCAL_TZ)):
        for username, points, reason in AWARDS:
            awards.request_award(
                community, people[username], points=points, reason=reason, actor=people["fund"]
            )
    chiefs = issuance.create_merchant_group(
        community,
        name="微街长商家",
        merchant_ids=[shop.id for shop, (_n, _c, chief) in zip(shops, SHOPS, strict=True) if chief],
    )
    rule = issuance.create_rule(
        community,
        name="月度积分券 Monthly coupon",
        min_points_earned=300,
        tiers=[(300, 100), (400, 200)],
        merchant_group=chiefs,
        funding=CouponFunding.GRANT,
        on_expiry=ExpiryTarget.WALLET,
        actor=people["fund"],
    )
    issuance.issue_coupons(rule, period, actor=people["fund"])
    return True


@click.command("demo")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--serve/--no-serve", default=True, help="Start the server after seeding.")
def demo_command(host, port, serve):
    """Migrate the database, seed the 北新社区 demo and serve it."""
    upgrade()
    created = seed()
    db.session.commit()
    click.echo("Seeded 北新社区 (beixin)." if created else "Demo community already there.")
    click.echo(f"Database: {current_app.config['SQLALCHEMY_DATABASE_URI']}")
    click.echo(f"Sign in at http://{host}:{port}/login (password for all: {PASSWORD}):")
    for username, name, _role in (*PEOPLE, ("cashier", "收银员 Cashier", None)):
        click.echo(f"  {username:<10} {name}")
    click.echo(f"API docs: http://{host}:{port}/api/docs")
    if serve:
        # Not app.run(): under the flask command it does nothing (FLASK_RUN_FROM_CLI).
        run_simple(host, port, current_app._get_current_object(), threaded=True)
