"""Redemption at the till over HTTP (design.md §12: at least 35% of pgbench's TPC-B
transactions per second at the same client count, zero errors, p99 under 50 ms).

    bin/bench redeem [--clients 16] [--seconds 20] [--workers CORES] [--coupons 2000]

Seeds residents holding coupons and merchants with cashiers, runs Jifen under
gunicorn on PostgreSQL, drives ``POST /api/v1/redemptions`` (each with its own
Idempotency-Key) with wrk, runs pgbench's TPC-B with the same client count
just before and just after the load as the reference, and checks afterwards
that every 201 is exactly one redemption and that reconciliation passes: no
value lost or doubled under load.
"""

import sys

import sqlalchemy as sa

from app import auth, communities, issuance, issuance_rules
from app.earnings import last_month
from app.extensions import db
from app.reconciliation import reconcile
from models import Community, Coupon, CouponFunding, ExpiryTarget, Redemption, Role

from . import harness
from .issuance import EARNED
from .issuance import seed as seed_residents

#: design.md §12: redemptions per second against pgbench's TPC-B transactions per second.
TARGET_RATIO = 0.35
BILL_FEN = 100  # ¥1.00: 50 points at the default rate
COUPON_POINTS = 1_000_000
MERCHANTS = 8


def app_for(url: str):
    return harness.jifen_app(url, ARGON2_PROFILE="CHEAPEST")


def seed(url: str, coupons: int) -> tuple[list[str], list[str]]:
    """Coupon codes and cashier tokens, committed."""
    app = app_for(url)
    with app.app_context():
        community = communities.create_community("bench", "压测社区")
        admin = communities.create_member(
            community, username="bench-fund", password="bench-password",
            display_name="基金", role=Role.FUND_ADMIN,
        )  # fmt: skip
        tokens = []
        for n in range(MERCHANTS):
            shop = communities.create_merchant(community, name=f"商家 {n}", category="bench")
            cashier = communities.create_member(
                community, username=f"cashier-{n}", password="bench-password",
                display_name=f"收银员 {n}", role=Role.MERCHANT_STAFF, merchant_id=shop.id,
            )  # fmt: skip
            tokens.append(auth.issue_token(cashier)[0])
        rule = issuance_rules.create_rule(
            community, name="压测券", min_points_earned=EARNED, points=COUPON_POINTS,
            funding=CouponFunding.GRANT, on_expiry=ExpiryTarget.WALLET, actor=admin,
        )  # fmt: skip
        db.session.commit()
        seed_residents(community.id, coupons, last_month())
        issuance.issue_coupons(rule, last_month(), actor=admin)
        db.session.commit()
        db.session.execute(sa.text("ANALYZE"))  # as autovacuum would (see bench/balance.py)
        db.session.commit()
        codes = db.session.scalars(
            sa.select(Coupon.code).where(Coupon.community_id == community.id).order_by(Coupon.id)
        ).all()
        db.session.remove()
        db.engine.dispose()
    return codes, tokens


def lua(codes: list[str], tokens: list[str], run: str) -> str:
    code_list = ",".join(f'"{code}"' for code in codes)
    token_list = ",".join(f'"{token}"' for token in tokens)
    return f"""
local codes = {{{code_list}}}
local tokens = {{{token_list}}}
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
request = function()
  n = n + 1
  local code = codes[(n * 7919 + tid * 104729) % #codes + 1]
  local token = tokens[(n + tid) % #tokens + 1]
  return wrk.format("POST", "/api/v1/redemptions", {{
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = "{run}-" .. tid .. "-" .. n,
    }}, '{{"code": "' .. code .. '", "bill_fen": {BILL_FEN}}}')
end
"""


def check(url: str, succeeded: int, in_flight: int) -> dict:
    """After the load: one redemption per 201, and the books still balance.

    wrk stops counting with up to one request per connection still in flight,
    which the server completes: those may add at most ``in_flight`` more.
    """
    app = app_for(url)
    with app.app_context():
        community = db.session.scalar(sa.select(Community).where(Community.slug == "bench"))
        redemptions = db.session.scalar(
            sa.select(sa.func.count()).where(Redemption.community_id == community.id)
        )
        report = reconcile(community)
        failed = [f"{c.name}: {c.detail}" for c in report.checks if not c.ok]
        db.session.remove()
        db.engine.dispose()
    errors = failed
    if not succeeded <= redemptions <= succeeded + in_flight:
        errors.append(
            f"{succeeded} redemptions answered 201 (+ at most {in_flight} in flight) "
            f"but {redemptions} are recorded"
        )
    return {"redemptions_recorded": redemptions, "reconcile_ok": report.ok, "problems": errors}


def main() -> None:
    parser = harness.http_arguments(__doc__.splitlines()[0])
    parser.add_argument("--coupons", type=int, default=2000)
    args = parser.parse_args()
    harness.require_postgres()
    harness.require_tools("wrk", "pgbench")

    before = harness.pgbench(clients=args.clients, seconds=args.seconds)
    with harness.scratch_database("jifen_bench_redeem") as url:
        harness.migrate(url)
        codes, tokens = seed(url, args.coupons)
        with harness.gunicorn(url, workers=args.workers) as base:
            # Every request carries a fresh key: a key seen before would replay, not redeem.
            warmup = harness.wrk(
                base, lua(codes, tokens, "warmup"), clients=args.clients, seconds=3
            )
            load = harness.wrk(
                base, lua(codes, tokens, "load"), clients=args.clients, seconds=args.seconds
            )
        answered = warmup.requests - warmup.errors + load.requests - load.errors
        outcome = check(url, answered, in_flight=2 * args.clients)
    after = harness.pgbench(clients=args.clients, seconds=args.seconds)
    figures = {
        "command": f"bin/bench redeem --clients {args.clients} --seconds {args.seconds} "
        f"--workers {args.workers} --coupons {args.coupons}",
        **harness.as_dict(load),
        **harness.against_pgbench("tpcb", load.rps, before, after, target_ratio=TARGET_RATIO),
        **outcome,
        "target": f">= {TARGET_RATIO} of pgbench TPC-B, 0 errors, p99 < 50 ms",
    }
    harness.report("redeem", figures)
    if load.errors or warmup.errors or outcome["problems"]:
        sys.exit("errors under load: see above")


if __name__ == "__main__":
    main()
