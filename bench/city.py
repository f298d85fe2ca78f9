"""Benchmark: every figure at a city's size against the same on a small database
(design.md §12: at 1,000,000 residents and 10,000,000 entries, within 15%).

    bin/bench city [--reuse] [--seconds 10] [--clients 16] [--workers CORES]

Seeds, with set-based SQL, the database ``jifen_bench_city`` on the benchmark
server (``JIFEN_BENCH_PG``) and keeps it: 50 communities of 20,000 residents and
20 merchants with a cashier each, and a year of their books, 10,000,000 ledger
entries in all. Every resident earns in the last finished month, one in a hundred
all year round; each finished month's coupons are issued (one per resident over
the year, 1,000,000), four in five spent in two parts at the merchants, and
residents pay merchants by pay-code (2,000,000 redemptions with their ledger
transactions, as the till books them); each finished month is settled per
merchant, approved and paid by bank; income comes into the community fund
monthly. Balances are set from the entries, and every community's reconciliation
must pass. ``--reuse`` keeps a database whose seeding finished at the code's
migration head (the database's comment records it) instead of seeding afresh.

Then, on a fresh database of two such communities and on a copy of the city
(dropped afterwards, so that the kept one never changes), side by side: balance
reads, a member's history (the first page, and a page a year back by cursor), a
member's coupons and a merchant's redemptions (first page, and a year back) over
HTTP under gunicorn with wrk; redemptions at the till against pgbench's TPC-B;
one community's issuance run for its 20,000 residents (grant); every community's
month of coupons from one ``flask coupons issue --period`` (1,000,000 at the city's
size; design.md §12: under 2 minutes); one community's reconciliation report, in
total and for the current month. Each city figure is
flagged when it is more than 15% off the small database's. Last, the hot reads'
plans at the city's size, with the planner's normal settings: any table that
grows with the city read whole is named.
"""

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from psycopg import sql

from app import auth, communities, issuance, issuance_rules, query_plans
from app.earnings import last_month
from app.extensions import db
from app.pagination import encode_cursor
from app.reconciliation import reconcile
from app.redemptions import till
from models import (
    Community,
    Coupon,
    CouponFunding,
    ExpiryTarget,
    IssuanceRule,
    Member,
    Role,
    utcnow,
)

from . import harness, redeem
from .reconcile import months, timed

CITY = "jifen_bench_city"
CITY_COPY = "jifen_bench_city_run"
SMALL = "jifen_bench_city_small"
#: design.md §12: every figure at city size within this share of the empty database's.
TOLERANCE = 0.15
#: Residents who earn all year round, per community: their histories go back a year.
BUSY = 200
PASSWORD = "bench-password-1"  # noqa: S105 (scratch databases' own fund admins)


@dataclass(frozen=True)
class Shape:
    communities: int
    residents: int = 20_000
    merchants: int = 20
    #: Ledger entries of each community's year.
    entries: int = 200_000
    #: Pay-code payments per community; coupons' two-part spending makes the rest of
    #: its 40,000 redemptions.
    payments: int = 8_000


CITY_SHAPE = Shape(communities=50)
SMALL_SHAPE = Shape(communities=2)


def slug(n: int) -> str:
    return f"city-{n:02d}"


#: A year of the communities in ``:cs`` (their residents, merchants and fund admins
#: exist), written as Jifen writes it. Transaction, entry and redemption ids follow
#: time, as they do when the books grow day by day.
SEED = [
    """INSERT INTO accounts (community_id, kind, unit, key, member_id, balance,
                             may_go_negative, created_at)
       SELECT m.community_id, 'wallet', 'points', 'wallet:member:' || m.id, m.id, 0, false, :at
         FROM members m WHERE m.community_id = ANY(:cs) AND m.role = 'resident'""",
    """INSERT INTO accounts (community_id, kind, unit, key, merchant_id, balance,
                             may_go_negative, created_at)
       SELECT m.community_id, k.kind, k.unit, k.kind || ':merchant:' || m.id, m.id, 0, false,
              :at
         FROM merchants m
         CROSS JOIN (VALUES ('merchant_receivable', 'points'), ('merchant_payable', 'fen'),
                            ('paid_out', 'fen')) AS k (kind, unit)
        WHERE m.community_id = ANY(:cs)""",
    "ANALYZE members, merchants, accounts",
    """CREATE TEMPORARY TABLE city_communities AS
       SELECT a.community_id AS c,
              max(a.id) FILTER (WHERE a.kind = 'issuance') AS issuance,
              max(a.id) FILTER (WHERE a.kind = 'coupon_escrow') AS escrow,
              max(a.id) FILTER (WHERE a.kind = 'retired') AS retired,
              max(a.id) FILTER (WHERE a.kind = 'income') AS income,
              max(a.id) FILTER (WHERE a.key = 'fund_cash:community') AS cash,
              (SELECT min(m.id) FROM members m
                WHERE m.community_id = a.community_id AND m.role = 'fund_admin') AS admin
         FROM accounts a WHERE a.community_id = ANY(:cs) AND a.member_id IS NULL
                           AND a.merchant_id IS NULL
        GROUP BY a.community_id""",
    """CREATE TEMPORARY TABLE city_residents AS
       SELECT m.community_id AS c,
              row_number() OVER (PARTITION BY m.community_id ORDER BY m.id) - 1 AS slot,
              m.id AS member_id, a.id AS wallet
         FROM members m
         JOIN accounts a ON a.community_id = m.community_id AND a.member_id = m.id
        WHERE m.community_id = ANY(:cs) AND m.role = 'resident'""",
    "CREATE INDEX ON city_residents (c, slot)",
    "ANALYZE city_residents",
    """CREATE TEMPORARY TABLE city_merchants AS
       SELECT m.community_id AS c,
              row_number() OVER (PARTITION BY m.community_id ORDER BY m.id) - 1 AS slot,
              m.id AS merchant_id, k.id AS cashier_id, r.id AS receivable, p.id AS payable,
              o.id AS paid_out
         FROM merchants m
         JOIN members k ON k.merchant_id = m.id
         JOIN accounts r ON r.merchant_id = m.id AND r.kind = 'merchant_receivable'
         JOIN accounts p ON p.merchant_id = m.id AND p.kind = 'merchant_payable'
         JOIN accounts o ON o.merchant_id = m.id AND o.kind = 'paid_out'
        WHERE m.community_id = ANY(:cs)""",
    "ANALYZE city_merchants",
    # Each month, and the seconds of it postings fall in: 28 days, or up to an hour ago.
    """CREATE TEMPORARY TABLE city_months AS
       SELECT n - 1 AS slot, s AS starts, e AS ends,
              to_char(s AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS period,
              greatest(CAST(least(2419200, extract(epoch FROM CAST(:now AS timestamptz) - s)
                                           - 3600) AS bigint), 7200) AS span
         FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]))
              WITH ORDINALITY AS t (s, e, n)""",
    "ANALYZE city_months",
    # The monthly coupon rule and its run for each finished month.
    """INSERT INTO issuance_rules (community_id, name, min_points_earned, points, validity,
                                   funding, on_expiry, created_by_id, created_at)
       SELECT c, '月度积分券', 300, 100, 'end_of_next_month', 'grant', 'wallet', admin, :at
         FROM city_communities""",
    """INSERT INTO issuance_runs (community_id, rule_id, period, issued, points, skipped,
                                  actor_id, created_at)
       SELECT r.community_id, r.id, mo.period, 0, 0, 0, r.created_by_id,
              mo.ends + interval '1 hour'
         FROM issuance_rules r JOIN city_months mo ON mo.slot < :months - 1
        WHERE r.community_id = ANY(:cs)""",
    # One coupon per resident over the year; four in five spent, in two halves, two
    # and nine days after their issue at the start of the next month.
    """CREATE TEMPORARY TABLE city_coupons AS
       SELECT nextval(pg_get_serial_sequence('coupons', 'id')) AS id, c, g, member_id, month,
              run_id, rule_id, period, spent, issued_at,
              least(issued_at + interval '2 days',
                    CAST(:now AS timestamptz) - interval '10 minutes') AS first_half_at,
              least(issued_at + interval '9 days',
                    CAST(:now AS timestamptz) - interval '5 minutes') AS second_half_at
         FROM (SELECT r.c, g, r.member_id, mo.slot AS month, run.id AS run_id, run.rule_id,
                      run.period, g % 5 <> 0 AS spent, mo.ends + interval '1 hour' AS issued_at
                 FROM city_residents r
                 CROSS JOIN LATERAL (SELECT r.slot + 1 AS g) AS n
                 JOIN city_months mo ON mo.slot = g % (:months - 1)
                 JOIN issuance_runs run ON run.community_id = r.c AND run.period = mo.period
                ORDER BY mo.slot, r.c, g) AS ordered""",
    "ANALYZE city_coupons",
    """CREATE TEMPORARY TABLE city_redemptions AS
       SELECT nextval(pg_get_serial_sequence('redemptions', 'id')) AS id, *
         FROM (SELECT k.c, k.id AS coupon_id, CAST(NULL AS bigint) AS member_id,
                      CAST(NULL AS bigint) AS wallet, m.merchant_id, m.cashier_id,
                      m.receivable, 50 AS points, k.month + 1 AS month,
                      CASE h.half WHEN 1 THEN k.first_half_at ELSE k.second_half_at END AS at
                 FROM city_coupons k
                 CROSS JOIN (VALUES (1), (2)) AS h (half)
                 JOIN city_merchants m ON m.c = k.c AND m.slot = (k.g + h.half) % :merchants
                WHERE k.spent
               UNION ALL
               SELECT cc.c, NULL, r.member_id, r.wallet, m.merchant_id, m.cashier_id,
                      m.receivable, 50 + (g % 3) * 25, mo.slot,
                      mo.starts + make_interval(secs => 3600 + (CAST(g AS bigint) * 104729)
                                                               % (mo.span - 3600))
                 FROM city_communities cc
                 CROSS JOIN generate_series(1, :payments) AS g
                 JOIN city_residents r ON r.c = cc.c AND r.slot = (g - 1) % :residents
                 JOIN city_merchants m ON m.c = cc.c AND m.slot = (g / :months) % :merchants
                 JOIN city_months mo ON mo.slot = g % :months
                ORDER BY at, c) AS ordered""",
    "ANALYZE city_redemptions",
    # Each finished month settled per merchant two days after its end, approved, paid.
    """CREATE TEMPORARY TABLE city_statements AS
       SELECT nextval(pg_get_serial_sequence('settlement_statements', 'id')) AS id, *
         FROM (SELECT r.c, r.merchant_id, r.month, mo.period, count(*) AS redemptions,
                      sum(r.points) AS points, sum(r.points * 2) AS amount,
                      least(mo.ends + interval '2 days',
                            CAST(:now AS timestamptz) - interval '1 minute') AS at
                 FROM city_redemptions r JOIN city_months mo ON mo.slot = r.month
                WHERE r.month < :months - 1
                GROUP BY r.c, r.merchant_id, r.month, mo.period, mo.ends
                ORDER BY at, r.c, r.merchant_id) AS ordered""",
    "ANALYZE city_statements",
    # Every ledger transaction of the year: one or two pairs of entries, from -> to.
    """CREATE TEMPORARY TABLE city_postings AS
       -- Every resident earns in the last finished month.
       SELECT r.c, mo.starts + make_interval(secs => (r.slot * 7919) % mo.span) AS at,
              'award' AS kind, 'points' AS unit, b.issuance AS debit, r.wallet AS credit,
              300 + (r.slot % 4) * 100 AS amount,
              CAST(NULL AS text) AS unit2, CAST(NULL AS bigint) AS debit2,
              CAST(NULL AS bigint) AS credit2, CAST(NULL AS bigint) AS amount2,
              CAST(NULL AS bigint) AS redemption, CAST(NULL AS bigint) AS statement,
              CAST(NULL AS integer) AS month, b.admin AS actor
         FROM city_residents r
         JOIN city_communities b ON b.c = r.c
         JOIN city_months mo ON mo.slot = :months - 2
       UNION ALL
       -- The busiest residents earn all year round.
       SELECT b.c, mo.starts + make_interval(secs => (CAST(g AS bigint) * 7919) % mo.span),
              'award', 'points', b.issuance, r.wallet, 200 + (g % 5) * 100,
              NULL, NULL, NULL, NULL, NULL, NULL, NULL, b.admin
         FROM city_communities b
         CROSS JOIN generate_series(1, :busy_awards) AS g
         JOIN city_residents r ON r.c = b.c AND r.slot = g % :busy
         JOIN city_months mo ON mo.slot = g % :months
       UNION ALL
       -- Each pay-code payment's points, earned half an hour before.
       SELECT b.c, p.at - interval '30 minutes', 'award', 'points', b.issuance, p.wallet, 100,
              NULL, NULL, NULL, NULL, NULL, NULL, NULL, b.admin
         FROM city_redemptions p JOIN city_communities b ON b.c = p.c
        WHERE p.wallet IS NOT NULL
       UNION ALL
       SELECT p.c, p.at, 'redemption', 'points', coalesce(p.wallet, b.escrow), p.receivable,
              p.points, NULL, NULL, NULL, NULL, p.id, NULL, NULL, p.cashier_id
         FROM city_redemptions p JOIN city_communities b ON b.c = p.c
       UNION ALL
       SELECT b.c, min(k.issued_at), 'coupon_issue', 'points', b.issuance, b.escrow,
              100 * count(*), NULL, NULL, NULL, NULL, NULL, NULL, k.month, b.admin
         FROM city_coupons k JOIN city_communities b ON b.c = k.c
        GROUP BY b.c, b.issuance, b.escrow, k.month, b.admin
       UNION ALL
       SELECT s.c, s.at, 'settlement', 'points', m.receivable, b.retired, s.points,
              'fen', b.cash, m.payable, s.amount, NULL, s.id, NULL, b.admin
         FROM city_statements s JOIN city_communities b ON b.c = s.c
         JOIN city_merchants m ON m.c = s.c AND m.merchant_id = s.merchant_id
       UNION ALL
       SELECT s.c, s.at + interval '10 seconds', 'payout', 'fen', m.payable, m.paid_out,
              s.amount, NULL, NULL, NULL, NULL, NULL, s.id, NULL, b.admin
         FROM city_statements s JOIN city_communities b ON b.c = s.c
         JOIN city_merchants m ON m.c = s.c AND m.merchant_id = s.merchant_id
       UNION ALL
       -- Income into the community fund, a day into each month.
       SELECT b.c, least(mo.starts + interval '1 day',
                         CAST(:now AS timestamptz) - interval '1 hour'),
              'income', 'fen', b.income, b.cash, 2000000,
              NULL, NULL, NULL, NULL, NULL, NULL, mo.slot, b.admin
         FROM city_communities b CROSS JOIN city_months mo""",
    """CREATE TEMPORARY TABLE city_ledger AS
       SELECT nextval(pg_get_serial_sequence('ledger_transactions', 'id')) AS txn, *
         FROM (SELECT * FROM city_postings ORDER BY at, c) AS ordered""",
    "ANALYZE city_ledger",
    "DROP TABLE city_postings",
    """INSERT INTO ledger_transactions (id, community_id, kind, memo, reference, actor_id,
                                        created_at)
       SELECT txn, c, kind,
              CASE kind WHEN 'award' THEN '环境卫生整治'
                        WHEN 'redemption' THEN '微街长商户 消费'
                        WHEN 'coupon_issue' THEN '月度积分券'
                        WHEN 'settlement' THEN '结算'
                        WHEN 'payout' THEN '付款'
                        ELSE '义卖 Charity sale' END,
              CASE kind WHEN 'award' THEN 'award:city-' || txn
                        WHEN 'redemption' THEN 'redemption:' || redemption
                        WHEN 'coupon_issue' THEN 'city-issue:' || month
                        WHEN 'settlement' THEN 'statement:' || statement || '\\:approval'
                        WHEN 'payout' THEN 'statement:' || statement || '\\:payout:1'
                        ELSE 'city-income:' || month END,
              actor, at
         FROM city_ledger""",
    """INSERT INTO ledger_entries (community_id, transaction_id, account_id, unit, amount)
       SELECT l.c, l.txn, e.account, e.unit, e.amount
         FROM city_ledger l
         CROSS JOIN LATERAL (VALUES (1, l.debit, l.unit, -l.amount),
                                    (2, l.credit, l.unit, l.amount),
                                    (3, l.debit2, l.unit2, -l.amount2),
                                    (4, l.credit2, l.unit2, l.amount2))
                            AS e (n, account, unit, amount)
        WHERE e.account IS NOT NULL""",
    """INSERT INTO coupons (id, community_id, rule_id, run_id, member_id, period, code, points,
                           points_remaining, status, issued_at, expires_at, closed_at)
       SELECT id, c, rule_id, run_id, member_id, period, lpad(CAST(g AS text), 10, 'A'), 100,
              CASE WHEN spent THEN 0 ELSE 100 END,
              CASE WHEN spent THEN 'redeemed' ELSE 'issued' END,
              issued_at,
              (date_trunc('month', issued_at AT TIME ZONE 'Asia/Shanghai') + interval '2 months')
                  AT TIME ZONE 'Asia/Shanghai',
              CASE WHEN spent THEN second_half_at END
         FROM city_coupons""",
    """UPDATE issuance_runs run SET issued = k.issued, points = 100 * k.issued
         FROM (SELECT run_id, count(*) AS issued FROM city_coupons GROUP BY run_id) AS k
        WHERE run.id = k.run_id""",
    """INSERT INTO coupon_postings (community_id, coupon_id, transaction_id, amount)
       SELECT k.c, k.id, l.txn, 100
         FROM city_coupons k
         JOIN city_ledger l ON l.c = k.c AND l.kind = 'coupon_issue' AND l.month = k.month
       UNION ALL
       SELECT r.c, r.coupon_id, l.txn, -r.points
         FROM city_redemptions r JOIN city_ledger l ON l.redemption = r.id
        WHERE r.coupon_id IS NOT NULL""",
    """INSERT INTO settlement_statements (id, community_id, merchant_id, period, status,
                                          redemptions, points, amount_fen, rounding_remainder,
                                          needs_second_approver, created_by_id, created_at,
                                          approved_by_id, approved_at, approval_transaction_id,
                                          paid_at)
       SELECT s.id, s.c, s.merchant_id, s.period, 'paid', s.redemptions, s.points, s.amount, 0,
              false, b.admin, s.at, b.admin, s.at, l.txn, s.at + interval '10 seconds'
         FROM city_statements s JOIN city_communities b ON b.c = s.c
         JOIN city_ledger l ON l.statement = s.id AND l.kind = 'settlement'""",
    """INSERT INTO payout_attempts (community_id, statement_id, number, method, status,
                                    amount_fen, bank_reference, transaction_id, created_by_id,
                                    created_at, completed_at)
       SELECT s.c, s.id, 1, 'bank', 'succeeded', s.amount, 'BOC-' || s.id, l.txn, b.admin,
              l.at, l.at
         FROM city_statements s JOIN city_communities b ON b.c = s.c
         JOIN city_ledger l ON l.statement = s.id AND l.kind = 'payout'""",
    """INSERT INTO redemptions (id, community_id, merchant_id, cashier_id, coupon_id, member_id,
                                bill_fen, discount_fen, points, points_value_fen, cash_fen,
                                points_per_yuan, status, transaction_id, statement_id,
                                created_at)
       SELECT r.id, r.c, r.merchant_id, r.cashier_id, r.coupon_id, r.member_id, r.points * 2,
              0, r.points, r.points * 2, 0, 50, 'active', l.txn, s.id, r.at
         FROM city_redemptions r
         JOIN city_ledger l ON l.redemption = r.id
         LEFT JOIN city_statements s ON s.c = r.c AND s.merchant_id = r.merchant_id
                                    AND s.month = r.month""",
    # Balances from the entries, as the ledger keeps them.
    """UPDATE accounts a SET balance = e.total
         FROM (SELECT account_id, sum(amount) AS total FROM ledger_entries
                WHERE community_id = ANY(:cs) GROUP BY account_id) AS e
        WHERE a.id = e.account_id""",
    "DROP TABLE city_communities, city_residents, city_merchants, city_months, city_coupons,"
    " city_redemptions, city_statements, city_ledger",
]


def code_head() -> str:
    return ScriptDirectory(str(harness.ROOT / "migrations")).get_current_head()


def seed_note(name: str) -> dict | None:
    """What the database's comment says of its seeding, if it was finished."""
    with psycopg.connect(harness.database_url("postgres")) as admin:
        row = admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    if not row or not row[0]:
        return None
    try:
        return json.loads(row[0])
    except ValueError:
        return None


def seed(url: str, shape: Shape) -> dict:
    """The communities of ``shape`` and a year of their books; the seconds it took."""
    started = time.perf_counter()
    app = harness.jifen_app(url, ARGON2_PROFILE="CHEAPEST")
    periods = months()
    with app.app_context():
        upgrade()
        made = []
        for n in range(1, shape.communities + 1):
            community = communities.create_community(slug(n), f"城市社区 {n}")
            communities.create_member(
                community, username=f"{slug(n)}-fund", password=PASSWORD,
                display_name=f"基金 {n}", role=Role.FUND_ADMIN,
            )  # fmt: skip
            made.append(community.id)
        db.session.commit()
        for c in made:
            population = {
                "c": c,
                "merchants": shape.merchants,
                "residents": shape.residents,
                "at": periods[0].start,
            }
            for statement in harness.POPULATION:
                db.session.execute(sa.text(statement), population)
        db.session.commit()
        payments = shape.payments
        coupon_halves = 2 * (shape.residents - shape.residents // 5)
        statements = shape.merchants * (len(periods) - 1)
        fixed = (
            2 * (len(periods) - 1)  # each finished month's issue
            + 2 * coupon_halves
            + 2 * 2 * payments  # each payment and the award that earned its points
            + 6 * statements
            + 2 * len(periods)  # income
            + 2 * shape.residents  # every resident's award in the last finished month
        )
        params = {
            "cs": made,
            "at": periods[0].start,
            "now": utcnow() - timedelta(minutes=5),
            "starts": [p.start for p in periods],
            "ends": [p.end for p in periods],
            "months": len(periods),
            "residents": shape.residents,
            "merchants": shape.merchants,
            "payments": payments,
            "busy": BUSY,
            "busy_awards": (shape.entries - fixed) // 2,
        }
        # Rows written as the writers write them, so without the triggers that check
        # each one (no month is closed; reconciliation checks them all afterwards).
        db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
        db.session.execute(sa.text("SET LOCAL work_mem = '256MB'"))
        steps = []
        for statement in SEED:
            step = time.perf_counter()
            db.session.execute(sa.text(statement), params)
            steps.append((" ".join(statement.split()[:4]), round(time.perf_counter() - step, 1)))
        db.session.execute(sa.text("SET LOCAL session_replication_role = DEFAULT"))
        db.session.commit()
        loaded = time.perf_counter()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
        vacuumed = time.perf_counter()
        db.session.remove()
        db.engine.dispose()
    slowest = sorted(steps, key=lambda step: -step[1])[:5]
    return {
        "seconds": round(vacuumed - started, 1),
        "of_which_vacuum_analyze_seconds": round(vacuumed - loaded, 1),
        "slowest_statements": slowest,
    }


def check_books(url: str) -> dict:
    """Jifen's reconciliation of every community: the seed's proof."""
    started = time.perf_counter()
    failed = []
    app = harness.jifen_app(url)
    with app.app_context():
        for community in db.session.scalars(sa.select(Community).order_by(Community.id)).all():
            report = reconcile(community)
            failed += [f"{community.slug} {c.name}: {c.detail}" for c in report.checks if not c.ok]
            db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    return {"ok": not failed, "seconds": round(time.perf_counter() - started, 1), "failed": failed}


def size(name: str) -> dict:
    with psycopg.connect(harness.database_url(name)) as conn:
        total = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        tables = conn.execute(
            """SELECT relname, pg_total_relation_size(oid) FROM pg_class
                WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
                ORDER BY 2 DESC LIMIT 8"""
        ).fetchall()
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("members", "ledger_entries", "coupons", "redemptions")
        }
    return {
        "database_gb": round(total / 2**30, 2),
        "biggest_tables_gb": {table: round(bytes_ / 2**30, 2) for table, bytes_ in tables},
        "rows": counts,
    }


def city_database(reuse: bool) -> dict:
    """The kept city database, seeded now unless ``reuse`` finds it finished at the
    code's migration head."""
    head = code_head()
    note = seed_note(CITY)
    if reuse and note and note.get("head") == head and note.get("shape") == asdict(CITY_SHAPE):
        return {**note, "reused": True}
    with harness.scratch_database(CITY, keep=True) as url:
        seeded = seed(url, CITY_SHAPE)
        books = check_books(url)
    note = {
        "head": head,
        "shape": asdict(CITY_SHAPE),
        "seeded_at": utcnow().isoformat(timespec="seconds"),
        "seed": seeded,
        "reconciliation": books,
    }
    if books["ok"]:
        with psycopg.connect(harness.database_url("postgres"), autocommit=True) as admin:
            admin.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(CITY), sql.Literal(json.dumps(note))
                )
            )
    return {**note, "reused": False}


def copy_of_city() -> tuple[str, float]:
    """A copy of the kept city to measure on (the measurements write), and its seconds."""
    started = time.perf_counter()
    with psycopg.connect(harness.database_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{CITY_COPY}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{CITY_COPY}" TEMPLATE "{CITY}" STRATEGY FILE_COPY')
    return harness.sqlalchemy_url(CITY_COPY), time.perf_counter() - started


@dataclass
class Callers:
    """Who reads what, with their bearer tokens: the same numbers of each on either
    database, spread over all its communities."""

    residents: list[tuple[int, str]]
    busy: list[tuple[int, str, str]]  # member, token, cursor of a page a year back
    cashiers: list[tuple[int, str, str]]  # merchant, token, cursor of a page a year back
    admin: tuple[str, str]  # the community's slug, a fund admin's token
    coupon: tuple[str, int]  # an issued coupon's code and id, for the till's read


#: Tables whose size is the city's: a plan reading one of them whole is a missing index.
GROWING = {
    "ledger_entries",
    "ledger_transactions",
    "coupons",
    "redemptions",
    "members",
    "accounts",
}
RESIDENTS_READING = 2000
BUSY_READING = 2 * BUSY
MERCHANTS_READING = 2 * SMALL_SHAPE.merchants


def callers(url: str) -> Callers:
    a_year_ago = utcnow() - timedelta(days=330)
    app = harness.jifen_app(url)
    with app.app_context():
        spread = """SELECT id FROM members WHERE role = :role AND username LIKE 'bench-%'
                     ORDER BY md5(CAST(id AS text)) LIMIT :n"""
        residents = db.session.scalars(
            sa.text(spread), {"role": "resident", "n": RESIDENTS_READING}
        ).all()
        busy = db.session.execute(
            sa.text(
                """SELECT m.id, (SELECT min(e.id) FROM ledger_entries e
                                   JOIN ledger_transactions t ON t.id = e.transaction_id
                                  WHERE e.account_id = a.id AND t.created_at >= :since)
                     FROM members m
                     JOIN accounts a ON a.community_id = m.community_id AND a.member_id = m.id
                    WHERE m.role = 'resident'
                      AND CAST(split_part(m.username, '-', 3) AS integer) <= :busy
                    ORDER BY md5(CAST(m.id AS text)) LIMIT :n"""
            ),
            {"since": a_year_ago, "busy": BUSY, "n": BUSY_READING},
        ).all()
        cashiers = db.session.execute(
            sa.text(
                """SELECT k.id, k.merchant_id,
                          (SELECT min(r.id) FROM redemptions r
                            WHERE r.community_id = k.community_id
                              AND r.merchant_id = k.merchant_id AND r.created_at >= :since)
                     FROM members k WHERE k.role = 'merchant_staff'
                    ORDER BY md5(CAST(k.id AS text)) LIMIT :n"""
            ),
            {"since": a_year_ago, "n": MERCHANTS_READING},
        ).all()
        members = {
            m.id: m
            for m in db.session.scalars(
                sa.select(Member).where(
                    Member.id.in_([*residents, *(b[0] for b in busy), *(k[0] for k in cashiers)])
                )
            )
        }
        admin = db.session.scalar(sa.select(Member).where(Member.username == f"{slug(2)}-fund"))
        coupon = db.session.scalar(
            sa.select(Coupon)
            .where(Coupon.community_id == admin.community_id, Coupon.status == "issued")
            .order_by(Coupon.id.desc())
            .limit(1)
        )
        found = Callers(
            residents=[(m, auth.issue_token(members[m])[0]) for m in residents],
            busy=[(m, auth.issue_token(members[m])[0], encode_cursor(e)) for m, e in busy],
            cashiers=[
                (shop, auth.issue_token(members[k])[0], encode_cursor(r)) for k, shop, r in cashiers
            ],
            admin=(slug(2), auth.issue_token(admin)[0]),
            coupon=(coupon.code, coupon.id),
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return found


READS = {
    "balance": lambda who: [(f"/api/v1/members/{m}/balance", t) for m, t in who.residents],
    "history_first_page": lambda who: [
        (f"/api/v1/members/{m}/transactions", t) for m, t, _c in who.busy
    ],
    "history_a_year_back": lambda who: [
        (f"/api/v1/members/{m}/transactions?cursor={c}", t) for m, t, c in who.busy
    ],
    "coupons": lambda who: [(f"/api/v1/members/{m}/coupons", t) for m, t in who.residents],
    "merchant_redemptions_first_page": lambda who: [
        (f"/api/v1/merchants/{shop}/redemptions", t) for shop, t, _c in who.cashiers
    ],
    "merchant_redemptions_a_year_back": lambda who: [
        (f"/api/v1/merchants/{shop}/redemptions?cursor={c}", t) for shop, t, c in who.cashiers
    ],
}


def compared(empty: float, city: float, *, higher_is_better: bool) -> dict:
    ratio = city / empty if empty else float("inf")
    within = ratio >= 1 - TOLERANCE if higher_is_better else ratio <= 1 + TOLERANCE
    return {"empty": empty, "city": city, "ratio": round(ratio, 3), "within_15_percent": within}


def http_reads(bases: dict, who: dict, args) -> dict:
    figures = {}
    for name, calls in READS.items():
        loads = {}
        for db_name, base in bases.items():
            script = harness.get_lua(calls(who[db_name]))
            harness.wrk(base, script, clients=args.clients, seconds=2)
            loads[db_name] = harness.wrk(base, script, clients=args.clients, seconds=args.seconds)
        empty, city = loads["empty"], loads["city"]
        figures[name] = {
            "rps": compared(round(empty.rps, 1), round(city.rps, 1), higher_is_better=True),
            "p99_ms": {"empty": empty.p99_ms, "city": city.p99_ms},
            "errors": {"empty": empty.errors, "city": city.errors},
            "cpu_ms_per_request": {
                "empty": empty.cpu_ms_per_request,
                "city": city.cpu_ms_per_request,
            },
        }
    return figures


def redemptions(urls: dict, args) -> dict:
    """The till's load on each database, each against pgbench just before and after."""
    readings = [harness.pgbench(clients=args.clients, seconds=args.seconds)]
    figures = {}
    for db_name, url in urls.items():
        codes, tokens = redeem.seed(url, redeem.MERCHANTS * 250)
        with harness.gunicorn(url, workers=args.workers) as base:
            warmup = harness.wrk(
                base, redeem.lua(codes, tokens, "warmup"), clients=args.clients, seconds=3
            )
            load = harness.wrk(
                base, redeem.lua(codes, tokens, "load"), clients=args.clients, seconds=args.seconds
            )
        answered = warmup.requests - warmup.errors + load.requests - load.errors
        outcome = redeem.check(url, answered, in_flight=2 * args.clients)
        readings.append(harness.pgbench(clients=args.clients, seconds=args.seconds))
        figures[db_name] = {
            **harness.as_dict(load),
            **harness.against_pgbench("tpcb", load.rps, readings[-2], readings[-1]),
            **outcome,
        }
    return {
        "ratio_to_pgbench_tpcb": compared(
            figures["empty"]["ratio_to_pgbench_tpcb"],
            figures["city"]["ratio_to_pgbench_tpcb"],
            higher_is_better=True,
        ),
        **figures,
    }


def issuance_run(url: str) -> dict:
    """One community's run for last month: every one of its residents earned in it."""
    app = harness.jifen_app(url)
    with app.app_context():
        community = communities.by_slug(slug(1))
        admin = db.session.scalar(sa.select(Member).where(Member.username == f"{slug(1)}-fund"))
        rule = issuance_rules.create_rule(
            community, name="城市压测券", min_points_earned=300, points=100,
            funding=CouponFunding.GRANT, on_expiry=ExpiryTarget.WALLET, actor=admin,
        )  # fmt: skip
        db.session.commit()
        started = time.perf_counter()
        run = issuance.issue_coupons(rule, last_month(), actor=admin)
        db.session.commit()
        seconds = time.perf_counter() - started
        issued = run.issued
        db.session.remove()
        db.engine.dispose()
    return {"seconds": round(seconds, 2), "coupons": issued}


def city_month(url: str) -> dict:
    """A month's coupons for every community at once, by the one command a district
    runs (``flask coupons issue --period``, with its progress bar), after a new rule
    in each community: every resident earned last month."""
    app = harness.jifen_app(url)
    with app.app_context():
        # The year's rules issued one coupon per resident over the year; on this copy
        # they ask more than anyone earned, so the month is the new rules' alone.
        db.session.execute(
            sa.update(IssuanceRule)
            .where(IssuanceRule.min_points_earned.is_not(None))
            .values(min_points_earned=10**9)
        )
        for community in db.session.scalars(sa.select(Community).order_by(Community.id)):
            admin = db.session.scalar(
                sa.select(Member).where(
                    Member.community_id == community.id, Member.role == Role.FUND_ADMIN
                )
            )
            issuance_rules.create_rule(
                community, name="全市月度积分券", min_points_earned=300, points=100,
                funding=CouponFunding.GRANT, on_expiry=ExpiryTarget.WALLET, actor=admin,
            )  # fmt: skip
        db.session.commit()
        before = db.session.scalar(sa.select(sa.func.count()).select_from(Coupon))
        db.session.remove()
        db.engine.dispose()
    flask = Path(sys.executable).parent / "flask"
    started = time.perf_counter()
    done = subprocess.run(
        [str(flask), "--app", "app", "coupons", "issue", "--period", str(last_month())],
        cwd=harness.ROOT, env=harness.jifen_env(url), check=True, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    with app.app_context():
        issued = db.session.scalar(sa.select(sa.func.count()).select_from(Coupon)) - before
        db.session.remove()
        db.engine.dispose()
    return {
        "seconds": round(seconds, 1),
        "coupons": issued,
        "said": done.stdout.strip().splitlines()[-1],
    }


def reconciliation(url: str) -> dict:
    """One community's report, in total and for the current month: medians of five, warm."""
    app = harness.jifen_app(url)
    with app.app_context():
        community = communities.by_slug(slug(2))

        def report(period=None):
            try:
                return reconcile(community, period)
            finally:
                db.session.rollback()

        total_seconds, total = timed(report)
        month_seconds, _month = timed(lambda: report(months()[-1]))
        db.session.remove()
        db.engine.dispose()
    return {
        "total_seconds": round(total_seconds, 3),
        "current_month_seconds": round(month_seconds, 3),
        "ok": total.ok,
    }


def plans(url: str, who: Callers) -> dict:
    """The hot reads' plans with normal planner settings: each table that grows with
    the city and is read whole, by the statements that read it."""
    member, member_token, cursor = who.busy[0]
    shop, cashier_token, shop_cursor = who.cashiers[0]
    community_slug, admin_token = who.admin
    app = harness.jifen_app(url)
    found: dict[str, list[str]] = {}
    requests = [
        (f"/api/v1/members/{member}/balance", member_token),
        (f"/api/v1/members/{member}/transactions", member_token),
        (f"/api/v1/members/{member}/transactions?cursor={cursor}", member_token),
        (f"/api/v1/members/{member}/coupons", member_token),
        (f"/api/v1/merchants/{shop}/redemptions", cashier_token),
        (f"/api/v1/merchants/{shop}/redemptions?cursor={shop_cursor}", cashier_token),
        (
            f"/api/v1/communities/{community_slug}/reconciliation?period={last_month()}",
            admin_token,
        ),
    ]
    with app.app_context():
        engine = db.engine
    client = app.test_client()
    # Each request in an app context of its own, as served.
    with query_plans.statements_run(engine) as seen:
        for path, token in requests:
            reply = client.get(path, headers={"Authorization": f"Bearer {token}"})
            if reply.status_code != 200:
                raise RuntimeError(f"{path} answered {reply.status_code}")
    with app.app_context():
        till_parameters = {
            "code": who.coupon[0],
            "coupon_id": who.coupon[1],
            "digest": auth.token_digest(cashier_token),
            "offer_id": None,
            "today": communities.local_today(),
        }
        seen += [(statement, till_parameters) for statement in till.READ.values()]
        driver = db.session.connection().connection.driver_connection
        for statement, parameters in seen:
            for table in query_plans.tables_read_whole(driver, statement, parameters, seqscan=True):
                found.setdefault(table, []).append(" ".join(statement.split())[:160])
        db.session.remove()
        db.engine.dispose()
    return {
        "statements_explained": len(seen),
        "growing_tables_read_whole": sorted(GROWING & found.keys()),
        "tables_read_whole": found,
    }


def main() -> None:
    parser = harness.http_arguments(__doc__.splitlines()[0])
    parser.set_defaults(seconds=10)
    parser.add_argument("--reuse", action="store_true", help="keep a finished city database")
    args = parser.parse_args()
    harness.require_postgres()
    harness.require_tools("wrk", "pgbench")

    city = city_database(args.reuse)
    if not city["reconciliation"]["ok"]:
        sys.exit(
            "the city's books do not reconcile: " + "; ".join(city["reconciliation"]["failed"])
        )
    city_size = size(CITY)
    try:
        with harness.scratch_database(SMALL) as small_url:
            small = seed(small_url, SMALL_SHAPE)
            copy_url, copy_seconds = copy_of_city()
            urls = {"empty": small_url, "city": copy_url}
            figures = measure(urls, args)
    finally:
        with psycopg.connect(harness.database_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{CITY_COPY}" WITH (FORCE)')
    misses = [
        name for name, figure in figures["compared"].items() if not figure["within_15_percent"]
    ]
    harness.report(
        "city",
        {
            "command": f"bin/bench city{' --reuse' if args.reuse else ''} --clients "
            f"{args.clients} --seconds {args.seconds} --workers {args.workers}",
            "city": f"{CITY_SHAPE.communities} communities of {CITY_SHAPE.residents:,} residents "
            f"and {CITY_SHAPE.merchants} merchants, a year of {CITY_SHAPE.entries:,} entries each",
            "empty": f"{SMALL_SHAPE.communities} such communities",
            "city_seed_reused": city["reused"],
            "city_seed_seconds": city["seed"]["seconds"],
            "city_seed": city["seed"],
            "city_reconciliation": city["reconciliation"],
            "city_size": city_size,
            "empty_seed_seconds": small["seconds"],
            "city_copy_seconds": round(copy_seconds, 1),
            **figures,
            "not_within_15_percent": misses,
            "target": "at city size every figure within 15% of the empty database's",
        },
    )


def measure(urls: dict, args) -> dict:
    who = {name: callers(url) for name, url in urls.items()}
    with (
        harness.gunicorn(urls["empty"], workers=args.workers) as empty_base,
        harness.gunicorn(urls["city"], workers=args.workers) as city_base,
    ):
        reads = http_reads({"empty": empty_base, "city": city_base}, who, args)
    till_load = redemptions(urls, args)
    runs = {name: issuance_run(url) for name, url in urls.items()}
    months_issued = {name: city_month(url) for name, url in urls.items()}
    reports = {name: reconciliation(url) for name, url in urls.items()}
    explained = plans(urls["city"], who["city"])
    compared_figures = {name: figure["rps"] for name, figure in reads.items()}
    compared_figures["redemptions_ratio_to_pgbench"] = till_load["ratio_to_pgbench_tpcb"]
    compared_figures["issuance_seconds"] = compared(
        runs["empty"]["seconds"], runs["city"]["seconds"], higher_is_better=False
    )
    for figure in ("total_seconds", "current_month_seconds"):
        compared_figures[f"reconciliation_{figure}"] = compared(
            reports["empty"][figure], reports["city"][figure], higher_is_better=False
        )
    return {
        "compared": compared_figures,
        "http_reads": reads,
        "redemptions": till_load,
        "issuance": runs,
        "city_month_issuance": months_issued,
        "reconciliation": reports,
        "city_plans": explained,
    }


if __name__ == "__main__":
    main()
