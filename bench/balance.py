"""Balance reads over HTTP (design.md §12: at least half of plain Flask's requests/s, p99 < 10 ms).

    .venv/bin/python -m bench.balance [--clients 16] [--seconds 20] [--workers CORES]

Seeds residents with awarded points and tokens, runs Jifen under gunicorn on
PostgreSQL, drives ``GET /api/v1/members/{id}/balance`` with wrk, and runs
pgbench's select-only workload with the same client count just before and just
after the load as the reference. The framework's ceiling is measured in the same
run: a plain Flask app answering the same JSON (``bench/plain.py``) under the same
gunicorn settings and wrk load.
"""

import sqlalchemy as sa

from app import auth, awards, communities, create_app
from app.extensions import db
from models import Role

from . import harness

#: design.md §12: the share of a plain Flask endpoint's requests per second.
TARGET_RATIO = 0.5


def seed(url: str, residents: int) -> list[tuple[int, str]]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "ARGON2_PROFILE": "CHEAPEST"})
    with app.app_context():
        community = communities.create_community("bench", "压测社区")
        fund = communities.create_member(
            community, username="bench-fund", password="bench-password",
            display_name="基金", role=Role.FUND_ADMIN,
        )  # fmt: skip
        pairs = []
        for n in range(residents):
            member = communities.create_member(
                community, username=f"bench-{n}", password="bench-password",
                display_name=f"居民 {n}", role=Role.RESIDENT,
            )  # fmt: skip
            awards.request_award(community, member, points=100 + n, reason="压测", actor=fund)
            secret, _ = auth.issue_token(member)
            pairs.append((member.id, secret))
        db.session.commit()
        # Statistics, as autovacuum keeps them on a database in use.
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        db.engine.dispose()
    return pairs


def lua(pairs: list[tuple[int, str]]) -> str:
    return harness.get_lua(
        [(f"/api/v1/members/{member_id}/balance", token) for member_id, token in pairs]
    )


def main() -> None:
    parser = harness.http_arguments(__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=500)
    args = parser.parse_args()
    harness.require_postgres()
    harness.require_tools("wrk", "pgbench")

    before = harness.pgbench(clients=args.clients, seconds=args.seconds, select_only=True)
    with harness.scratch_database("jifen_bench") as url:
        harness.migrate(url)
        pairs = seed(url, args.residents)
        with harness.gunicorn(url, workers=args.workers) as base:
            harness.wrk(base, lua(pairs), clients=args.clients, seconds=3)
            load = harness.wrk(base, lua(pairs), clients=args.clients, seconds=args.seconds)
        with harness.gunicorn(url, workers=args.workers, app="bench.plain:create_app()") as base:
            harness.wrk(base, lua(pairs), clients=args.clients, seconds=3)
            plain = harness.wrk(base, lua(pairs), clients=args.clients, seconds=args.seconds)
    after = harness.pgbench(clients=args.clients, seconds=args.seconds, select_only=True)
    harness.report(
        "balance",
        {
            "command": f"bin/bench balance --clients {args.clients} "
            f"--seconds {args.seconds} --workers {args.workers}",
            **harness.as_dict(load),
            **harness.against_pgbench("select_only", load.rps, before, after),
            "plain_flask_rps": round(plain.rps, 1),
            "plain_flask_p99_ms": plain.p99_ms,
            "ratio_to_plain_flask": round(load.rps / plain.rps, 3),
            "cpu_budget_ms_per_request": harness.cpu_budget_ms(TARGET_RATIO * plain.rps),
            "target": f">= {TARGET_RATIO} of plain Flask, p99 < 10 ms, 0 errors",
        },
    )


if __name__ == "__main__":
    main()
