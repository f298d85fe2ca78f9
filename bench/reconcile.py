"""Benchmark: reconciliation over 1,000,000 ledger entries and 100,000 coupons, and the
fund admin's dashboard at that size, on PostgreSQL.

    bin/bench reconcile [--entries 1000000] [--coupons 100000] [--keep]

Creates the scratch database ``jifen_reconcile_bench`` on the benchmark server
(``JIFEN_BENCH_PG``, default 127.0.0.1:5432, user postgres), migrates it and seeds
one community with set-based SQL (triggers off while it loads, as a restore
would): a year of it, eleven finished months and the current one. 50,000
residents' manual awards; each finished month's coupons (one issuance transaction
per month, a posting per coupon), four in five of them spent in one redemption at
one of 20 merchants; pay-code payments at the merchants to make up the entries;
each finished month settled, approved and paid by bank in the next; income into
the community fund. Balances are then set from the entries, and the eleven
finished months are closed through ``app.month_close`` (each storing its report).

It then times, warm, the median of five: the report in total to date (every
figure and every invariant) and for the current month, through
``app.reconciliation.reconcile``; and ``GET /admin/dashboard`` as a signed-in
fund admin through the app (its closed months read from their stored reports).
Every invariant must pass. Prints the figures and the machine, and drops the
database.
"""

import argparse
import statistics
import sys
import time
from datetime import timedelta

import sqlalchemy as sa
from flask_migrate import upgrade

from app import communities, month_close
from app.earnings import Period
from app.extensions import db
from app.reconciliation import reconcile
from models import LedgerEntry, Role, utcnow

from . import harness

DATABASE = "jifen_reconcile_bench"
RESIDENTS = 50_000
MERCHANTS = 20
MONTHS = 12
COUPON_POINTS = 100
PASSWORD = "bench-password-1"  # noqa: S105 (a scratch database's own admin)


def months() -> list[Period]:
    current = Period.containing(utcnow())
    found = [current]
    while len(found) < MONTHS:
        found.insert(0, found[0].previous())
    return found


SEED = [
    # Merchants with a cashier each, residents, and every account.
    *harness.POPULATION,
    """INSERT INTO accounts (community_id, kind, unit, key, member_id, balance,
                             may_go_negative, created_at)
       SELECT :c, 'wallet', 'points', 'wallet:member:' || m.id, m.id, 0, false, :at
         FROM members m WHERE m.community_id = :c AND m.role = 'resident'""",
    """INSERT INTO accounts (community_id, kind, unit, key, merchant_id, balance,
                             may_go_negative, created_at)
       SELECT :c, k.kind, k.unit, k.kind || ':merchant:' || m.id, m.id, 0, false, :at
         FROM merchants m
         CROSS JOIN (VALUES ('merchant_receivable', 'points'), ('merchant_payable', 'fen'),
                            ('paid_out', 'fen')) AS k (kind, unit)
        WHERE m.community_id = :c""",
    """INSERT INTO accounts (community_id, kind, unit, key, fund, balance, may_go_negative,
                             created_at)
       VALUES (:c, 'issuance', 'points', 'issuance', NULL, 0, true, :at),
              (:c, 'coupon_escrow', 'points', 'coupon_escrow', NULL, 0, false, :at),
              (:c, 'retired', 'points', 'retired', NULL, 0, false, :at),
              (:c, 'income', 'fen', 'income', NULL, 0, true, :at),
              (:c, 'fund_cash', 'fen', 'fund_cash:community', 'community', 0, false, :at)
       ON CONFLICT (community_id, key) DO NOTHING""",
    """CREATE TEMPORARY TABLE bench_residents ON COMMIT DROP AS
       SELECT row_number() OVER (ORDER BY m.id) - 1 AS slot, m.id AS member_id, a.id AS wallet
         FROM members m JOIN accounts a ON a.member_id = m.id AND a.kind = 'wallet'
        WHERE m.community_id = :c AND m.role = 'resident'""",
    """CREATE TEMPORARY TABLE bench_merchants ON COMMIT DROP AS
       SELECT row_number() OVER (ORDER BY m.id) - 1 AS slot, m.id AS merchant_id,
              k.id AS cashier_id, r.id AS receivable, p.id AS payable, o.id AS paid_out
         FROM merchants m
         JOIN members k ON k.merchant_id = m.id
         JOIN accounts r ON r.merchant_id = m.id AND r.kind = 'merchant_receivable'
         JOIN accounts p ON p.merchant_id = m.id AND p.kind = 'merchant_payable'
         JOIN accounts o ON o.merchant_id = m.id AND o.kind = 'paid_out'
        WHERE m.community_id = :c""",
    # Each month, and the seconds of it postings fall in: 28 days, or up to now.
    """CREATE TEMPORARY TABLE bench_months ON COMMIT DROP AS
       SELECT n - 1 AS slot, s AS starts, e AS ends,
              CAST(least(2419200, extract(epoch FROM CAST(:now AS timestamptz) - s) - 3600)
                   AS bigint) AS span
         FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]))
              WITH ORDINALITY AS t (s, e, n)""",
    """CREATE TEMPORARY TABLE bench_accounts ON COMMIT DROP AS
       SELECT max(id) FILTER (WHERE kind = 'issuance') AS issuance,
              max(id) FILTER (WHERE kind = 'coupon_escrow') AS escrow,
              max(id) FILTER (WHERE kind = 'retired') AS retired,
              max(id) FILTER (WHERE kind = 'income') AS income,
              max(id) FILTER (WHERE kind = 'fund_cash') AS cash
         FROM accounts WHERE community_id = :c""",
    # Manual awards: issuance -> wallet, one transaction each, spread over the year.
    """CREATE TEMPORARY TABLE bench_awards ON COMMIT DROP AS
       SELECT g, nextval(pg_get_serial_sequence('ledger_transactions', 'id')) AS txn,
              r.wallet, 200 + (g % 5) * 100 AS points,
              mo.starts + make_interval(secs => (CAST(g AS bigint) * 7919) % mo.span) AS at
         FROM generate_series(1, :awards) AS g
         JOIN bench_residents r ON r.slot = g % :residents
         JOIN bench_months mo ON mo.slot = g % :months""",
    """INSERT INTO ledger_transactions (id, community_id, kind, memo, reference, created_at)
       SELECT txn, :c, 'award', '环境卫生整治', 'award:bench-' || g, at FROM bench_awards""",
    """INSERT INTO ledger_entries (community_id, transaction_id, account_id, unit, amount)
       SELECT :c, a.txn, a.wallet, 'points', a.points FROM bench_awards a
       UNION ALL
       SELECT :c, a.txn, b.issuance, 'points', -a.points FROM bench_awards a, bench_accounts b""",
    # Each finished month's coupons: one issuance transaction and a posting per coupon.
    """INSERT INTO issuance_rules (community_id, name, min_points_earned, points, validity,
                                   funding, on_expiry, created_by_id, created_at)
       VALUES (:c, '月度积分券', 300, :coupon_points, 'end_of_next_month', 'grant', 'wallet',
               :admin, :at)""",
    """INSERT INTO issuance_runs (community_id, rule_id, period, issued, points, skipped,
                                  created_at)
       SELECT :c, r.id, to_char(mo.starts AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM'),
              0, 0, 0, mo.ends
         FROM bench_months mo, issuance_rules r
        WHERE r.community_id = :c AND mo.slot < :months - 1""",
    """CREATE TEMPORARY TABLE bench_coupons ON COMMIT DROP AS
       SELECT g, r.member_id, mo.slot AS month, run.id AS run_id, run.rule_id, run.period,
              g % 5 <> 0 AS spent, mo.ends AS issued_at
         FROM generate_series(1, :coupons) AS g
         JOIN bench_months mo ON mo.slot = g % (:months - 1)
         JOIN issuance_runs run ON run.community_id = :c
                               AND run.period = to_char(mo.starts AT TIME ZONE 'Asia/Shanghai',
                                                        'YYYY-MM')
         JOIN bench_residents r ON r.slot = (g / (:months - 1)) % :residents""",
    """INSERT INTO coupons (community_id, rule_id, run_id, member_id, period, code, points,
                           points_remaining, status, issued_at, expires_at, closed_at)
       SELECT :c, rule_id, run_id, member_id, period, lpad(CAST(g AS text), 10, 'A'),
              :coupon_points, CASE WHEN spent THEN 0 ELSE :coupon_points END,
              CASE WHEN spent THEN 'redeemed' ELSE 'issued' END,
              issued_at, issued_at + interval '400 days',
              CASE WHEN spent THEN issued_at + interval '2 days' END
         FROM bench_coupons""",
    """CREATE TEMPORARY TABLE bench_issues ON COMMIT DROP AS
       SELECT mo.slot AS month, nextval(pg_get_serial_sequence('ledger_transactions', 'id'))
              AS txn, mo.ends AS at
         FROM bench_months mo WHERE mo.slot < :months - 1""",
    """INSERT INTO ledger_transactions (id, community_id, kind, memo, reference, created_at)
       SELECT txn, :c, 'coupon_issue', '月度积分券', 'bench-issue:' || month, at
         FROM bench_issues""",
    """INSERT INTO ledger_entries (community_id, transaction_id, account_id, unit, amount)
       SELECT :c, i.txn, b.escrow, 'points', count(*) * :coupon_points
         FROM bench_issues i JOIN bench_coupons c ON c.month = i.month, bench_accounts b
        GROUP BY i.txn, b.escrow
       UNION ALL
       SELECT :c, i.txn, b.issuance, 'points', -count(*) * :coupon_points
         FROM bench_issues i JOIN bench_coupons c ON c.month = i.month, bench_accounts b
        GROUP BY i.txn, b.issuance""",
    """INSERT INTO coupon_postings (community_id, coupon_id, transaction_id, amount)
       SELECT :c, k.id, i.txn, :coupon_points
         FROM coupons k JOIN bench_coupons c ON k.code = lpad(CAST(c.g AS text), 10, 'A')
         JOIN bench_issues i ON i.month = c.month
        WHERE k.community_id = :c""",
    # Four coupons in five spent in one redemption, two days after their issue.
    """CREATE TEMPORARY TABLE bench_redeemed ON COMMIT DROP AS
       SELECT k.id AS coupon_id, nextval(pg_get_serial_sequence('ledger_transactions', 'id'))
              AS txn, nextval(pg_get_serial_sequence('redemptions', 'id')) AS redemption,
              m.merchant_id, m.cashier_id, m.receivable,
              least(k.issued_at + interval '2 days', CAST(:now AS timestamptz)) AS at
         FROM coupons k JOIN bench_merchants m ON m.slot = k.id % :merchants
        WHERE k.community_id = :c AND k.status = 'redeemed'""",
    """INSERT INTO ledger_transactions (id, community_id, kind, memo, reference, created_at)
       SELECT txn, :c, 'redemption', '微街长商户 消费', 'redemption:' || redemption, at
         FROM bench_redeemed""",
    """INSERT INTO ledger_entries (community_id, transaction_id, account_id, unit, amount)
       SELECT :c, r.txn, r.receivable, 'points', :coupon_points FROM bench_redeemed r
       UNION ALL
       SELECT :c, r.txn, b.escrow, 'points', -:coupon_points
         FROM bench_redeemed r, bench_accounts b""",
    """INSERT INTO coupon_postings (community_id, coupon_id, transaction_id, amount)
       SELECT :c, coupon_id, txn, -:coupon_points FROM bench_redeemed""",
    """INSERT INTO redemptions (id, community_id, merchant_id, cashier_id, coupon_id, bill_fen,
                                discount_fen, points, points_value_fen, cash_fen,
                                points_per_yuan, status, transaction_id, created_at)
       SELECT redemption, :c, merchant_id, cashier_id, coupon_id, :coupon_points * 2, 0,
              :coupon_points, :coupon_points * 2, 0, 50, 'active', txn, at
         FROM bench_redeemed""",
    # Pay-code payments: wallet -> receivable, up to the entries asked for.
    """CREATE TEMPORARY TABLE bench_paid ON COMMIT DROP AS
       SELECT g, nextval(pg_get_serial_sequence('ledger_transactions', 'id')) AS txn,
              nextval(pg_get_serial_sequence('redemptions', 'id')) AS redemption,
              r.member_id, r.wallet, m.merchant_id, m.cashier_id, m.receivable,
              50 + (g % 3) * 25 AS points,
              mo.starts + make_interval(secs => (CAST(g AS bigint) * 104729) % mo.span) AS at
         FROM generate_series(1, :payments) AS g
         JOIN bench_residents r ON r.slot = g % :residents
         JOIN bench_merchants m ON m.slot = g % :merchants
         JOIN bench_months mo ON mo.slot = g % :months""",
    """INSERT INTO ledger_transactions (id, community_id, kind, memo, reference, created_at)
       SELECT txn, :c, 'redemption', '微街长商户 消费', 'redemption:' || redemption, at
         FROM bench_paid""",
    """INSERT INTO ledger_entries (community_id, transaction_id, account_id, unit, amount)
       SELECT :c, p.txn, p.receivable, 'points', p.points FROM bench_paid p
       UNION ALL
       SELECT :c, p.txn, p.wallet, 'points', -p.points FROM bench_paid p""",
    """INSERT INTO redemptions (id, community_id, merchant_id, cashier_id, member_id, bill_fen,
                                discount_fen, points, points_value_fen, cash_fen,
                                points_per_yuan, status, transaction_id, created_at)
       SELECT redemption, :c, merchant_id, cashier_id, member_id, points * 2, 0, points,
              points * 2, 0, 50, 'active', txn, at
         FROM bench_paid""",
    # Income into the community fund, one a month, more than the year's settlements.
    """CREATE TEMPORARY TABLE bench_income ON COMMIT DROP AS
       SELECT mo.slot, nextval(pg_get_serial_sequence('ledger_transactions', 'id')) AS txn,
              mo.starts + interval '1 day' AS at
         FROM bench_months mo""",
    """INSERT INTO ledger_transactions (id, community_id, kind, memo, reference, created_at)
       SELECT txn, :c, 'income', '义卖 Charity sale', 'bench-income:' || slot, at
         FROM bench_income""",
    """INSERT INTO ledger_entries (community_id, transaction_id, account_id, unit, amount)
       SELECT :c, i.txn, b.cash, 'fen', 20000000 FROM bench_income i, bench_accounts b
       UNION ALL
       SELECT :c, i.txn, b.income, 'fen', -20000000 FROM bench_income i, bench_accounts b""",
    # Each finished month settled per merchant early in the next, approved and paid by bank.
    """CREATE TEMPORARY TABLE bench_statements ON COMMIT DROP AS
       SELECT nextval(pg_get_serial_sequence('settlement_statements', 'id')) AS id,
              r.merchant_id, mo.slot AS month,
              to_char(mo.starts AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS period,
              count(*) AS redemptions, sum(r.points) AS points,
              sum(r.points_value_fen) AS amount,
              nextval(pg_get_serial_sequence('ledger_transactions', 'id')) AS approval,
              nextval(pg_get_serial_sequence('ledger_transactions', 'id')) AS payout,
              least(mo.ends + interval '2 days', CAST(:now AS timestamptz)) AS at
         FROM redemptions r
         JOIN bench_months mo ON r.created_at >= mo.starts AND r.created_at < mo.ends
        WHERE r.community_id = :c AND mo.slot < :months - 1
        GROUP BY r.merchant_id, mo.slot, mo.starts, mo.ends""",
    """INSERT INTO settlement_statements (id, community_id, merchant_id, period, status,
                                          redemptions, points, amount_fen, rounding_remainder,
                                          needs_second_approver, created_by_id, created_at,
                                          approved_by_id, approved_at, approval_transaction_id,
                                          paid_at)
       SELECT id, :c, merchant_id, period, 'paid', redemptions, points, amount, 0, false,
              :admin, at, :admin, at, approval, at
         FROM bench_statements""",
    """UPDATE redemptions r SET statement_id = s.id
         FROM bench_statements s, bench_months mo
        WHERE r.community_id = :c AND r.merchant_id = s.merchant_id AND mo.slot = s.month
          AND r.created_at >= mo.starts AND r.created_at < mo.ends""",
    """INSERT INTO ledger_transactions (id, community_id, kind, memo, reference, created_at)
       SELECT approval, :c, 'settlement', '结算 ' || period, 'statement:' || id || '\\:approval', at
         FROM bench_statements
       UNION ALL
       SELECT payout, :c, 'payout', '付款 ' || period, 'statement:' || id || '\\:payout:1', at
         FROM bench_statements""",
    """INSERT INTO ledger_entries (community_id, transaction_id, account_id, unit, amount)
       SELECT :c, s.approval, m.receivable, 'points', -s.points
         FROM bench_statements s JOIN bench_merchants m ON m.merchant_id = s.merchant_id
       UNION ALL
       SELECT :c, s.approval, b.retired, 'points', s.points
         FROM bench_statements s, bench_accounts b
       UNION ALL
       SELECT :c, s.approval, b.cash, 'fen', -s.amount FROM bench_statements s, bench_accounts b
       UNION ALL
       SELECT :c, s.approval, m.payable, 'fen', s.amount
         FROM bench_statements s JOIN bench_merchants m ON m.merchant_id = s.merchant_id
       UNION ALL
       SELECT :c, s.payout, m.payable, 'fen', -s.amount
         FROM bench_statements s JOIN bench_merchants m ON m.merchant_id = s.merchant_id
       UNION ALL
       SELECT :c, s.payout, m.paid_out, 'fen', s.amount
         FROM bench_statements s JOIN bench_merchants m ON m.merchant_id = s.merchant_id""",
    """INSERT INTO payout_attempts (community_id, statement_id, number, method, status,
                                    amount_fen, bank_reference, transaction_id, created_by_id,
                                    created_at, completed_at)
       SELECT :c, id, 1, 'bank', 'succeeded', amount, 'BOC-' || id, payout, :admin, at, at
         FROM bench_statements""",
    # Balances from the entries, as the ledger keeps them.
    """UPDATE accounts a SET balance = e.total
         FROM (SELECT account_id, sum(amount) AS total FROM ledger_entries
                WHERE community_id = :c GROUP BY account_id) AS e
        WHERE a.id = e.account_id""",
]


def seed(community_id: int, admin_id: int, entries: int, coupons: int) -> dict:
    """Everything but the month closes, in one transaction with triggers off."""
    periods = months()
    spent = coupons - coupons // 5
    # Entries: awards 2, a month's coupon issue 2, each spent coupon 2, each payment 2,
    # each statement 6, each income 2. Awards take what payments leave.
    statements = MERCHANTS * (MONTHS - 1)
    fixed = 2 * (MONTHS - 1) + 2 * spent + 6 * statements + 2 * MONTHS
    payments = max(0, (entries - fixed) * 2 // 5 // 2)
    awards = max(0, (entries - fixed - 2 * payments) // 2 + 500)
    params = {
        "c": community_id,
        "admin": admin_id,
        "now": utcnow() - timedelta(minutes=5),
        "at": periods[0].start,
        "starts": [p.start for p in periods],
        "ends": [p.end for p in periods],
        "months": MONTHS,
        "merchants": MERCHANTS,
        "residents": RESIDENTS,
        "awards": awards,
        "coupons": coupons,
        "coupon_points": COUPON_POINTS,
        "payments": payments,
    }
    db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    for statement in SEED:
        db.session.execute(sa.text(statement), params)
    db.session.execute(sa.text("SET LOCAL session_replication_role = DEFAULT"))
    db.session.commit()
    # Fresh statistics, as autovacuum would keep them.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")
    return {"awards": awards, "payments": payments, "coupons": coupons}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--coupons", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the database to look into")
    args = parser.parse_args()

    harness.require_postgres()
    with harness.scratch_database(DATABASE, keep=args.keep) as url:
        figures = run(url, args)
    harness.report("reconcile", figures)
    if figures["errors"]:
        sys.exit("benchmark result is wrong: " + "; ".join(figures["errors"]))


def timed(work, times: int = 5) -> tuple[float, object]:
    """The median seconds of ``times`` warm runs of ``work`` (after one unmeasured), and
    what it gave."""
    result = work()
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def run(url: str, args) -> dict:
    app = harness.jifen_app(url, WTF_CSRF_ENABLED=False)
    errors = []
    try:
        with app.app_context():
            upgrade()
            community = communities.create_community("bench", "基准测试社区")
            admin, second = (
                communities.create_member(
                    community,
                    username=username,
                    password=PASSWORD,
                    display_name=username,
                    role=Role.FUND_ADMIN,
                )
                for username in ("bench-fund", "bench-fund-2")
            )
            db.session.commit()
            started = time.perf_counter()
            made = seed(community.id, admin.id, args.entries, args.coupons)
            seeded = time.perf_counter() - started
            started = time.perf_counter()
            for period in months()[:-1]:
                month_close.request_close(community, period, actor=admin)
                month_close.confirm_close(community, period, actor=second)
                db.session.commit()
            closing = time.perf_counter() - started
            entries = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
            db.session.commit()

            def report(period=None):
                """One report in a transaction of its own, as a request makes it."""
                try:
                    return reconcile(community, period)
                finally:
                    db.session.rollback()

            total_seconds, total = timed(report)
            month_seconds, month = timed(lambda: report(months()[-1]))
            failed = [f"{c.name}: {c.detail}" for c in total.checks if not c.ok]
            errors += failed
            redeemed = total.figures["points"]["redeemed"]

            client = app.test_client()
            signed_in = client.post("/login", data={"username": "bench-fund", "password": PASSWORD})
            assert signed_in.status_code == 302, signed_in.status_code

            def dashboard():
                reply = client.get("/admin/dashboard")
                assert reply.status_code == 200, reply.status_code
                return reply

            in_process_seconds, page = timed(dashboard)
            charts = page.get_data(as_text=True).count('<figure class="chart">')
            if charts != 4:
                errors.append(f"the dashboard drew {charts} charts, not 4")
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    with harness.gunicorn(url, workers=1) as base:
        served_seconds, served = timed(
            harness.signed_in_page(base, "bench-fund", PASSWORD, "/admin/dashboard")
        )
    if served.count('<figure class="chart">') != 4:
        errors.append("the served dashboard did not draw its 4 charts")
    if entries < args.entries:
        errors.append(f"seeded {entries:,} entries, not {args.entries:,}")
    return {
        "command": f"bin/bench reconcile --entries {args.entries} --coupons {args.coupons}",
        "seeded": f"{entries:,} ledger entries, {args.coupons:,} coupons, {RESIDENTS:,} "
        f"residents, {MERCHANTS} merchants, {MONTHS} months ({made['awards']:,} awards, "
        f"{made['payments']:,} pay-code payments)",
        "seed_seconds": round(seeded, 1),
        "close_eleven_months_seconds": round(closing, 1),
        "reconcile_total_seconds": round(total_seconds, 3),
        "reconcile_current_month_seconds": round(month_seconds, 3),
        "reconcile_ok": total.ok,
        "redeemed_points": redeemed["coupon"] + redeemed["pay_code"],
        "dashboard_seconds": round(served_seconds, 3),
        "dashboard_in_this_process_seconds": round(in_process_seconds, 3),
        "target": "report under 2 s, dashboard under 0.3 s as gunicorn serves it (design.md §12)",
        "errors": errors,
    }


if __name__ == "__main__":
    main()
