"""Benchmark: a month of 1,000,000 redemptions at 200 merchants, settled, approved
and paid by bank on PostgreSQL.

    bin/bench settle [--merchants 200] [--redemptions 1000000] [--keep]

Creates the scratch database ``jifen_settle_bench`` on the benchmark server
(``JIFEN_BENCH_PG``, default 127.0.0.1:5432, user postgres), migrates it and
seeds one community with set-based SQL: the merchants with a cashier each,
1,000 residents, the redemptions spread over last month (pay-code redemptions,
most at 50 points per yuan and one in seven at 30, so rounding remainders
appear), the points of each merchant's redemptions in its receivable (one
ledger transaction per merchant) and the community fund holding enough to pay
them. Then it times, each step committed as the API commits it: ``settle``
(one statement per merchant), approving every statement (a second fund admin,
one request's worth of work each) and paying every one by bank reference; then
reconciliation, which must pass, with every redemption settled once and every
fen of the month paid out. Prints the figures and the machine, and drops the
database.
"""

import argparse
import secrets
import sys
import time

import sqlalchemy as sa
from flask_migrate import upgrade

from app import communities, ledger, payouts, settlement
from app.earnings import last_month
from app.extensions import db
from app.reconciliation import reconcile
from models import (
    AccountKind,
    Fund,
    Redemption,
    Role,
    SettlementStatement,
    StatementStatus,
    TransactionKind,
)

from . import harness

DATABASE = "jifen_settle_bench"
RESIDENTS = 1000


def seed(community_id: int, merchants: int, redemptions: int, period) -> None:
    """Merchants, cashiers, residents and the month's redemptions, with their
    points in each merchant's receivable: set-based SQL."""
    params = {
        "c": community_id,
        "merchants": merchants,
        "residents": RESIDENTS,
        "n": redemptions,
        "at": period.start,
        "seconds": int((period.end - period.start).total_seconds()) - 1,
    }
    statements = [
        *harness.POPULATION,
        """CREATE TEMPORARY TABLE bench_cashiers ON COMMIT DROP AS
           SELECT row_number() OVER (ORDER BY id) - 1 AS slot, id, merchant_id
             FROM members WHERE community_id = :c AND role = 'merchant_staff'""",
        """CREATE TEMPORARY TABLE bench_residents ON COMMIT DROP AS
           SELECT row_number() OVER (ORDER BY id) - 1 AS slot, id
             FROM members WHERE community_id = :c AND role = 'resident'""",
        """INSERT INTO redemptions (community_id, merchant_id, cashier_id, member_id, bill_fen,
                                    discount_fen, points, points_value_fen, cash_fen,
                                    points_per_yuan, status, created_at)
           SELECT :c, k.merchant_id, k.id, r.id, s.bill,
                  0, s.points, s.points * 100 / s.rate, s.bill - s.points * 100 / s.rate,
                  s.rate, 'active',
                  :at + make_interval(secs => (CAST(g AS bigint) * 7919) % :seconds)
             FROM generate_series(1, :n) AS g
             CROSS JOIN LATERAL (
                 SELECT 500 + (g * 37) % 4500 AS bill,
                        CASE WHEN g % 7 = 0 THEN 30 ELSE 50 END AS rate
             ) AS b
             CROSS JOIN LATERAL (
                 SELECT b.bill, b.rate, b.bill * b.rate / 100 AS points
             ) AS s
             JOIN bench_cashiers k ON k.slot = g % :merchants
             JOIN bench_residents r ON r.slot = g % :residents""",
        """INSERT INTO accounts (community_id, kind, unit, key, merchant_id, balance,
                                 may_go_negative, created_at)
           SELECT :c, 'merchant_receivable', 'points', 'merchant_receivable:merchant:' || m.id,
                  m.id, 0, false, :at
             FROM merchants m WHERE m.community_id = :c""",
        # One ledger transaction a redemption, named as both writers name it; the
        # points come from issuance (the residents' wallets are not seeded).
        """INSERT INTO ledger_transactions (community_id, kind, memo, reference, created_at)
           SELECT :c, 'redemption', '消费', 'redemption:' || r.id, r.created_at
             FROM redemptions r WHERE r.community_id = :c""",
        """UPDATE redemptions r SET transaction_id = t.id
             FROM ledger_transactions t
            WHERE r.community_id = :c AND t.community_id = :c AND t.kind = 'redemption'
              AND t.reference = 'redemption:' || r.id""",
        """INSERT INTO ledger_entries (community_id, transaction_id, account_id, unit, amount)
           SELECT :c, r.transaction_id, a.id, 'points', r.points
             FROM redemptions r
             JOIN accounts a ON a.community_id = :c
                            AND a.key = 'merchant_receivable:merchant:' || r.merchant_id
            WHERE r.community_id = :c
           UNION ALL
           SELECT :c, r.transaction_id, i.id, 'points', -r.points
             FROM redemptions r
             JOIN accounts i ON i.community_id = :c AND i.kind = 'issuance'
            WHERE r.community_id = :c""",
        """CREATE TEMPORARY TABLE bench_received ON COMMIT DROP AS
           SELECT merchant_id, sum(points) AS points FROM redemptions
            WHERE community_id = :c GROUP BY merchant_id""",
        """UPDATE accounts a SET balance = r.points
             FROM bench_received r
            WHERE a.community_id = :c
              AND a.key = 'merchant_receivable:merchant:' || r.merchant_id""",
        """UPDATE accounts SET balance = balance - (SELECT sum(points) FROM bench_received)
            WHERE community_id = :c AND kind = 'issuance'""",
    ]
    # Rows written as the writers would write them, so without the triggers that
    # check each one (the reconciliation run afterwards checks them all).
    db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    for statement in statements:
        db.session.execute(sa.text(statement), params)
    db.session.execute(sa.text("SET LOCAL session_replication_role = DEFAULT"))
    db.session.commit()
    # Vacuumed, with fresh statistics, as autovacuum keeps a table that took a
    # month of inserts: without statistics the planner takes a just-filled table
    # for empty and joins it row by row, and the settlement would be the first
    # to read each new row and set its hint bits.
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")


def fund_the_month(community_id: int) -> int:
    """Income into the community fund: what the month's redemptions are worth, and a yuan."""
    owed = int(
        db.session.scalar(
            sa.select(sa.func.sum(Redemption.points_value_fen)).where(
                Redemption.community_id == community_id
            )
        )
    )
    income = ledger.ensure_account(community_id, AccountKind.INCOME)
    cash = ledger.ensure_account(community_id, AccountKind.FUND_CASH, fund=Fund.COMMUNITY)
    ledger.post(
        community_id,
        TransactionKind.INCOME,
        [(income, -(owed + 100)), (cash, owed + 100)],
        memo="基准测试 bench income",
    )
    db.session.commit()
    return owed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--merchants", type=int, default=200)
    parser.add_argument("--redemptions", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database to look into")
    args = parser.parse_args()

    harness.require_postgres()
    with harness.scratch_database(DATABASE, keep=args.keep) as url:
        figures = run(url, args)
    harness.report("settle", figures)
    if figures["errors"]:
        sys.exit("benchmark result is wrong: " + "; ".join(figures["errors"]))


def _admin(community, name: str):
    return communities.create_member(
        community,
        username=f"bench-{name}",
        password=secrets.token_urlsafe(16),
        display_name=name,
        role=Role.FUND_ADMIN,
    )


def run(url: str, args) -> dict:
    app = harness.jifen_app(url)
    try:
        with app.app_context():
            upgrade()
            period = last_month()
            community = communities.create_community("bench", "基准测试社区")
            settler, approver = _admin(community, "settler"), _admin(community, "approver")
            db.session.commit()
            started = time.perf_counter()
            seed(community.id, args.merchants, args.redemptions, period)
            owed = fund_the_month(community.id)
            seeded = time.perf_counter() - started

            started = time.perf_counter()
            made = settlement.settle(community, period, actor=settler)
            db.session.commit()
            settled = time.perf_counter()
            ids = [statement.id for statement in made]

            for statement_id in ids:
                settlement.approve(
                    db.session.get(SettlementStatement, statement_id), actor=approver
                )
                db.session.commit()
            approved = time.perf_counter()

            for statement_id in ids:
                payouts.pay_by_bank(
                    db.session.get(SettlementStatement, statement_id),
                    reference=f"BANK-{statement_id}",
                    actor=approver,
                )
                db.session.commit()
            paid = time.perf_counter()

            again = settlement.settle(community, period, actor=settler)
            db.session.commit()

            started_reconcile = time.perf_counter()
            report = reconcile(community)
            reconciled = time.perf_counter() - started_reconcile
            failed = [f"{check.name}: {check.detail}" for check in report.checks if not check.ok]
            unsettled = db.session.scalar(
                sa.select(sa.func.count()).where(
                    Redemption.community_id == community.id, Redemption.statement_id.is_(None)
                )
            )
            statuses = dict(
                db.session.execute(
                    sa.select(SettlementStatement.status, sa.func.count())
                    .where(SettlementStatement.community_id == community.id)
                    .group_by(SettlementStatement.status)
                ).all()
            )
            paid_out = report.balances.get(("fen", AccountKind.PAID_OUT.value), 0)
            remainder = sum(statement.rounding_remainder for statement in made)
            db.session.rollback()
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

    errors = list(failed)
    if len(ids) != args.merchants:
        errors.append(f"{len(ids)} statements for {args.merchants} merchants")
    if unsettled:
        errors.append(f"{unsettled} redemptions left unsettled")
    if statuses != {StatementStatus.PAID: args.merchants}:
        errors.append(f"statements by status: {statuses}")
    if paid_out != owed:
        errors.append(f"paid out {paid_out} fen, the redemptions are worth {owed}")
    if again:
        errors.append(f"settling again made {len(again)} statements")
    return {
        "command": f"bin/bench settle --merchants {args.merchants} "
        f"--redemptions {args.redemptions}",
        "seeded": f"{args.redemptions:,} redemptions at {args.merchants} merchants in {period}",
        "seed_seconds": round(seeded, 1),
        "statements": len(ids),
        "paid_out_fen": paid_out,
        "rounding_remainder_centipoints": remainder,
        "settle_seconds": round(settled - started, 2),
        "approve_all_seconds": round(approved - settled, 2),
        "pay_all_by_bank_seconds": round(paid - approved, 2),
        "total_seconds": round(paid - started, 2),
        "reconcile_ok": report.ok,
        "reconcile_seconds": round(reconciled, 2),
        "target": "settled, approved and paid in under 30 s",
        "errors": errors,
    }


if __name__ == "__main__":
    main()
