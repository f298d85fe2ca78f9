"""Benchmark: one issuance run for 100,000 eligible residents on PostgreSQL.

    bin/bench issuance [--residents 100000] [--funding grant|convert] [--keep]

Creates the scratch database ``jifen_coupons_bench`` on the benchmark server
(``JIFEN_BENCH_PG``, default 127.0.0.1:5432, user postgres), migrates it, seeds one community whose
residents each earned 300 points last month (set-based SQL, one award
transaction per resident, as real awards are), then times the run through
``app.issuance.issue_coupons`` including its commit, which is when PostgreSQL's
deferred balance trigger checks every new ledger entry. It then times a second
run of the same rule and month (which must issue nothing) and ``reconcile``,
prints the figures and the machine, and drops the database.
"""

import argparse
import secrets
import sys
import time
from datetime import datetime

import sqlalchemy as sa
from flask_migrate import upgrade

from app import communities, issuance, issuance_rules
from app.earnings import LOCAL_TZ, last_month
from app.extensions import db
from app.reconciliation import reconcile
from models import AccountKind, CouponFunding, ExpiryTarget, Role

from . import harness

DATABASE = "jifen_coupons_bench"
EARNED = 300


def seed(community_id: int, residents: int, period) -> None:
    """Residents, their wallets and one award each, dated mid-period: set-based SQL."""
    at = datetime(period.year, period.month, 15, 10, tzinfo=LOCAL_TZ)
    params = {"c": community_id, "n": residents, "at": at, "points": EARNED}
    params["total"] = EARNED * residents
    statements = [
        harness.RESIDENTS_NAMED,
        # A stored hash nobody can sign in with: the benchmark never signs in.
        """INSERT INTO members (community_id, username, password_hash, display_name, role,
                                active, created_at)
           SELECT :c, 'bench-' || :c || '-' || g, '!', '居民 ' || g, 'resident', true, :at
             FROM generate_series(1, :n) AS g""",
        """INSERT INTO accounts (community_id, kind, unit, key, member_id, balance,
                                 may_go_negative, created_at)
           SELECT :c, 'wallet', 'points', 'wallet:member:' || m.id, m.id, 0, false, :at
             FROM members m WHERE m.community_id = :c AND m.role = 'resident'""",
        """INSERT INTO ledger_transactions (community_id, kind, memo, reference, created_at)
           SELECT :c, 'award', '环境卫生整治', 'bench-award:' || a.id, :at
             FROM accounts a JOIN members m ON m.id = a.member_id
            WHERE a.community_id = :c AND a.kind = 'wallet' AND m.role = 'resident'""",
        """INSERT INTO ledger_entries (community_id, transaction_id, account_id, unit, amount)
           SELECT :c, t.id, a.id, 'points', :points
             FROM ledger_transactions t
             JOIN accounts a ON a.id = CAST(substr(t.reference, 13) AS bigint)
            WHERE t.community_id = :c AND t.reference LIKE 'bench-award:%'
           UNION ALL
           SELECT :c, t.id, i.id, 'points', -:points
             FROM ledger_transactions t
             JOIN accounts i ON i.community_id = :c AND i.kind = 'issuance'
            WHERE t.community_id = :c AND t.reference LIKE 'bench-award:%'""",
        """UPDATE accounts SET balance = :points
            WHERE community_id = :c AND kind = 'wallet'
              AND member_id IN (SELECT id FROM members WHERE community_id = :c
                                                         AND role = 'resident')""",
        """UPDATE accounts SET balance = balance - :total
            WHERE community_id = :c AND kind = 'issuance'""",
    ]
    for statement in statements:
        db.session.execute(sa.text(statement), params)
        # Fresh statistics, as autovacuum would keep them: without them the
        # planner takes a just-filled table for empty and joins it row by row.
        db.session.execute(sa.text("ANALYZE"))
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--funding", choices=[f.value for f in CouponFunding], default="grant")
    parser.add_argument("--keep", action="store_true", help="keep the database to look into")
    args = parser.parse_args()

    harness.require_postgres()
    with harness.scratch_database(DATABASE, keep=args.keep) as url:
        figures = run(url, args)
    harness.report(f"issuance-{args.funding}", figures)
    if figures["errors"]:
        sys.exit("benchmark result is wrong: " + "; ".join(figures["errors"]))


def run(url: str, args) -> dict:
    app = harness.jifen_app(url)
    try:
        with app.app_context():
            upgrade()
            period = last_month()
            community = communities.create_community("bench", "基准测试社区")
            admin = communities.create_member(
                community,
                username="bench-fund",
                password=secrets.token_urlsafe(16),
                display_name="基金管理员",
                role=Role.FUND_ADMIN,
            )
            rule = issuance_rules.create_rule(
                community,
                name="月度积分券",
                min_points_earned=EARNED,
                points=100,
                funding=CouponFunding(args.funding),
                on_expiry=ExpiryTarget.WALLET,
                actor=admin,
            )
            db.session.commit()
            started = time.perf_counter()
            seed(community.id, args.residents, period)
            seeded = time.perf_counter() - started

            started = time.perf_counter()
            first = issuance.issue_coupons(rule, period, actor=admin)
            issued_at = time.perf_counter()
            db.session.commit()
            committed = time.perf_counter()
            issued, points = first.issued, first.points

            again = issuance.issue_coupons(rule, period, actor=admin).issued
            db.session.commit()
            rerun = time.perf_counter() - committed

            started_reconcile = time.perf_counter()
            report = reconcile(community)
            reconciled = time.perf_counter() - started_reconcile
            failed = [f"{check.name}: {check.detail}" for check in report.checks if not check.ok]
            escrow = report.balances[("points", AccountKind.COUPON_ESCROW.value)]
            db.session.rollback()
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

    errors = list(failed)
    if issued != args.residents:
        errors.append(f"issued {issued} coupons for {args.residents} eligible residents")
    if again:
        errors.append(f"the second run issued {again} more")
    if escrow != points:
        errors.append(f"coupon escrow holds {escrow}, the run issued {points}")
    return {
        "command": f"bin/bench issuance --residents {args.residents} --funding {args.funding}",
        "seeded": f"{args.residents:,} residents with {EARNED} points earned in {period}",
        "seed_seconds": round(seeded, 1),
        "coupons": issued,
        "points": points,
        "issuance_seconds": round(committed - started, 2),
        "of_which_commit_seconds": round(committed - issued_at, 2),
        "second_run_coupons": again,
        "second_run_seconds": round(rerun, 2),
        "reconcile_ok": report.ok,
        "reconcile_seconds": round(reconciled, 2),
        "target": "100,000 coupons in under 10 s",
        "errors": errors,
    }


if __name__ == "__main__":
    main()
