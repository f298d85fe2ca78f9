"""Benchmark: one issuance run for 100,000 eligible residents on PostgreSQL.

    .venv/bin/python bench/issuance.py [--residents 100000] [--funding grant|convert]

Creates the scratch database ``jifen_coupons_bench`` on 127.0.0.1:5432 (user
postgres; ``--server`` for another), migrates it, seeds one community whose
residents each earned 300 points last month (set-based SQL, one award
transaction per resident, as real awards are), then times the run through
``app.issuance.issue_coupons`` including its commit, which is when PostgreSQL's
deferred balance trigger checks every new ledger entry. It then times a second
run of the same rule and month (which must issue nothing) and ``reconcile``,
prints the figures and the machine, and drops the database.
"""

import argparse
import base64
import os
import platform
import secrets
import sys
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import communities, create_app, issuance  # noqa: E402
from app.earnings import LOCAL_TZ, last_month  # noqa: E402
from app.extensions import db  # noqa: E402
from app.reconciliation import reconcile  # noqa: E402
from models import AccountKind, CouponFunding, ExpiryTarget, Role  # noqa: E402

DATABASE = "jifen_coupons_bench"
EARNED = 300


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        lines = cpuinfo.read_text().splitlines()
        names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        if names:
            cpu = names[0]
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split()[1])
        memory = f", {total_kb / 1024 / 1024:.0f} GiB RAM"
    return f"{cpu}, {os.cpu_count()} CPUs{memory}, {platform.system()} {platform.release()}"


def seed(community_id: int, residents: int, period) -> None:
    """Residents, their wallets and one award each, dated mid-period: set-based SQL."""
    at = datetime(period.year, period.month, 15, 10, tzinfo=LOCAL_TZ)
    params = {"c": community_id, "n": residents, "at": at, "points": EARNED}
    params["total"] = EARNED * residents
    statements = [
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
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the database to look into")
    args = parser.parse_args()

    server = sa.create_engine(args.server, isolation_level="AUTOCOMMIT")
    url = sa.make_url(args.server).set(database=DATABASE)
    with server.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{DATABASE}" TEMPLATE template0')
    key = base64.b64encode(os.urandom(32)).decode()
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
            "SECRET_KEY": "bench",
            "JIFEN_SIGNING_KEYS": f"bench:{key}",
        }
    )
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
            rule = issuance.create_rule(
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
            run = issuance.issue_coupons(rule, period, actor=admin)
            issued_at = time.perf_counter()
            db.session.commit()
            committed = time.perf_counter()
            issued, points = run.issued, run.points

            again = issuance.issue_coupons(rule, period, actor=admin).issued
            db.session.commit()
            rerun = time.perf_counter() - committed

            started_reconcile = time.perf_counter()
            report = reconcile(community)
            reconciled = time.perf_counter() - started_reconcile
            failed = [f"{check.name}: {check.detail}" for check in report.checks if not check.ok]
            escrow = report.balances[("points", AccountKind.COUPON_ESCROW.value)]
            db.session.rollback()
            version = db.session.execute(sa.text("SHOW server_version")).scalar()
            db.session.rollback()
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if not args.keep:
            with server.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        server.dispose()

    total = committed - started
    print(f"machine:     {machine()}, PostgreSQL {version}")
    print(
        f"seeded:      {args.residents:,} residents with {EARNED} points earned in {period} "
        f"in {seeded:.1f} s"
    )
    print(
        f"issuance:    {issued:,} coupons, {points:,} points ({args.funding}) in {total:.2f} s "
        f"({issued_at - started:.2f} s issuing, {committed - issued_at:.2f} s commit)"
    )
    print(f"second run:  {again} coupons in {rerun:.2f} s")
    print(
        f"reconcile:   {'ok' if report.ok else 'FAILED'} in {reconciled:.2f} s; "
        f"coupon escrow {escrow:,} points"
    )
    for failure in failed:
        print(f"  FAILED {failure}")
    if issued != args.residents or again or failed or escrow != points:
        sys.exit("benchmark result is wrong")


if __name__ == "__main__":
    main()
