"""Where the time of a benchmark that misses its target goes.

    bin/bench profile balance [--requests 3000]
    bin/bench profile redeem [--requests 3000]
    bin/bench profile issuance [--residents 100000] [--funding convert]
    bin/bench profile city [--requests 3000]

``balance`` and ``redeem`` seed a scratch database as ``bench.balance`` and
``bench.redeem`` do, then serve the same requests in this one process through
Flask's test client (no gunicorn, no wrk, so the figures are the app's own): CPU
per request, the same for the plain Flask app of ``bench.plain``, and, under
cProfile, each layer's share of the request's time (Flask and Werkzeug,
SQLAlchemy, psycopg, marshmallow and flask-smorest, Jifen's modules). cProfile
slows Python down, and more where calls are many and small, so the shares are
what to read, not the profiled milliseconds.

``issuance`` runs ``bench.issuance`` with every statement of the first run
timed on the client, grouped by statement; what the statements leave of the
run is Python's and the commit's.

``city`` sets the city's misses beside the small database's figures, on a copy
of the city that ``bin/bench city`` keeps (run it first) and on a fresh
database of two communities of the same shape, as ``bench.city`` does: a page
of a member's history a year back served in this process (CPU and layers as
above, and its statements' time), one community's coupon run and its
reconciliation report with their statements timed, and the plan with its
buffers of each report statement that grows the most with the city.
"""

import argparse
import cProfile
import itertools
import pstats
import time
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path

import psycopg
import sqlalchemy as sa

from app import communities
from app.extensions import db
from app.reconciliation import reconcile

from . import balance as balance_bench
from . import city as city_bench
from . import harness, plain
from . import issuance as issuance_bench
from . import redeem as redeem_bench

#: Top-level packages by the layer they belong to (others: "other packages").
LAYERS = {
    "flask": "Flask and Werkzeug",
    "werkzeug": "Flask and Werkzeug",
    "flask_login": "Flask and Werkzeug",
    "flask_babel": "Flask and Werkzeug",
    "flask_wtf": "Flask and Werkzeug",
    "babel": "Flask and Werkzeug",
    "blinker": "Flask and Werkzeug",
    "sqlalchemy": "SQLAlchemy",
    "flask_sqlalchemy": "SQLAlchemy",
    "psycopg": "psycopg (with its waits on PostgreSQL)",
    "psycopg_binary": "psycopg (with its waits on PostgreSQL)",
    "marshmallow": "marshmallow and flask-smorest",
    "flask_smorest": "marshmallow and flask-smorest",
    "webargs": "marshmallow and flask-smorest",
    "app": "Jifen (app/)",
    "models": "Jifen (app/)",
    "prometheus_client": "metrics (prometheus_client)",
}


def layer_of(filename: str) -> str:
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return LAYERS.get(parts[parts.index("site-packages") + 1], "other packages")
    root = harness.ROOT
    if path.is_absolute() and path.is_relative_to(root):
        return LAYERS.get(path.relative_to(root).parts[0], "the benchmark's own loop")
    return "Python (standard library and builtins)"


def layer_shares(profile: cProfile.Profile) -> list[tuple[str, float]]:
    """Each layer's share of the profiled time, by the time spent in its own functions."""
    own: Counter = Counter()
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in pstats.Stats(
        profile
    ).stats.items():
        own[layer_of(filename)] += tottime
    total = sum(own.values())
    return [(layer, seconds / total) for layer, seconds in own.most_common()]


def served(client, turns, count: int) -> float:
    """CPU milliseconds per request over the next ``count`` requests of ``turns``."""
    started = time.process_time()
    for request in itertools.islice(turns, count):
        reply = client.open(**request)
        if reply.status_code >= 400:
            raise SystemExit(f"{request['path']} answered {reply.status_code}: {reply.data[:300]}")
    return (time.process_time() - started) / count * 1000


#: Requests served before measuring: prepared statements, caches, the pool.
WARM = 500


def in_process(app, requests: list[dict], count: int) -> dict:
    """CPU per request over ``count`` requests, then the layers of ``count`` more
    under cProfile; ``requests`` are taken in turn (a list as long as ``WARM`` +
    2 × ``count`` serves each request once)."""
    client = app.test_client()
    turns = itertools.cycle(requests)
    served(client, turns, WARM)
    cpu_ms = served(client, turns, count)
    profile = cProfile.Profile()
    profile.enable()
    served(client, turns, count)
    profile.disable()
    return {"cpu_ms": cpu_ms, "layers": layer_shares(profile)}


def plain_cpu_ms(count: int) -> float:
    client = plain.create_app().test_client()
    turns = itertools.cycle(
        [{"path": f"/api/v1/members/{n}/balance", "method": "GET"} for n in range(50)]
    )
    served(client, turns, WARM)
    return served(client, turns, count)


def profile_balance(count: int) -> dict:
    with harness.scratch_database("jifen_profile_bench") as url:
        harness.migrate(url)
        pairs = balance_bench.seed(url, 50)
        requests = [
            {
                "path": f"/api/v1/members/{member_id}/balance",
                "method": "GET",
                "headers": {"Authorization": f"Bearer {token}"},
            }
            for member_id, token in pairs
        ]
        found = in_process(harness.jifen_app(url), requests, count)
    return {"request": "GET /api/v1/members/{id}/balance", **found}


def profile_redeem(count: int) -> dict:
    with harness.scratch_database("jifen_profile_bench") as url:
        harness.migrate(url)
        codes, tokens = redeem_bench.seed(url, 2000)
        # Every request has a key of its own, so none is a replay; each coupon
        # holds far more points than the requests spend.
        requests = [
            {
                "path": "/api/v1/redemptions",
                "method": "POST",
                "headers": {
                    "Authorization": f"Bearer {tokens[n % len(tokens)]}",
                    "Idempotency-Key": str(uuid.uuid4()),
                },
                "json": {"code": codes[n % len(codes)], "bill_fen": redeem_bench.BILL_FEN},
            }
            for n in range(WARM + 2 * count)
        ]
        found = in_process(redeem_bench.app_for(url), requests, count)
    return {"request": "POST /api/v1/redemptions (the till)", **found}


@contextmanager
def statement_times():
    """Client-side time of every statement run meanwhile, by statement (its first
    words): [count, seconds]. Statements that pass SQLAlchemy's events by
    (``app.sql.hot_row``, the till's) are not counted."""
    times: dict[str, list] = defaultdict(lambda: [0, 0.0])

    def before(conn, _cursor, _statement, _parameters, _context, _many):
        conn.info["jifen.profile.started"] = time.perf_counter()

    def after(conn, _cursor, statement, _parameters, _context, _many):
        entry = times[" ".join(statement.split())[:100]]
        entry[0] += 1
        entry[1] += time.perf_counter() - conn.info.pop("jifen.profile.started")

    sa.event.listen(sa.Engine, "before_cursor_execute", before)
    sa.event.listen(sa.Engine, "after_cursor_execute", after)
    try:
        yield times
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", before)
        sa.event.remove(sa.Engine, "after_cursor_execute", after)


@contextmanager
def read_plans():
    """``EXPLAIN (ANALYZE, BUFFERS)`` of each read run meanwhile (the first of each
    statement), run right after it in its transaction, with the settings it ran under."""
    plans: dict[str, list[str]] = {}

    def after(_conn, cursor, statement, parameters, _context, _many):
        text = " ".join(statement.split())[:100]
        if text in plans or not text.upper().startswith(("SELECT", "WITH")):
            return
        with cursor.connection.cursor() as explaining:
            explaining.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            plans[text] = [row[0] for row in explaining.fetchall()]

    sa.event.listen(sa.Engine, "after_cursor_execute", after)
    try:
        yield plans
    finally:
        sa.event.remove(sa.Engine, "after_cursor_execute", after)


def profile_issuance(residents: int, funding: str) -> dict:
    """``bench.issuance``'s run, the statements of its first issuance timed."""
    from app import issuance

    issue = issuance.issue_coupons
    found: dict = {}

    def timed_once(*args, **kwargs):
        if found:
            return issue(*args, **kwargs)
        with statement_times() as times:
            started = time.perf_counter()
            run = issue(*args, **kwargs)
            found["seconds"] = time.perf_counter() - started
        found["statements"] = sorted(times.items(), key=lambda item: -item[1][1])
        return run

    issuance.issue_coupons = timed_once
    try:
        with harness.scratch_database(issuance_bench.DATABASE) as url:
            figures = issuance_bench.run(
                url, argparse.Namespace(residents=residents, funding=funding)
            )
    finally:
        issuance.issue_coupons = issue
    return {"figures": figures, **found}


def profile_city(count: int) -> dict:
    """The city's misses on a copy of the kept city and on a small database."""
    note = city_bench.seed_note(city_bench.CITY)
    if not note or note.get("head") != city_bench.code_head():
        raise SystemExit("no city at this migration head: run bin/bench city first")
    found: dict = {}
    try:
        with harness.scratch_database(city_bench.SMALL) as small_url:
            city_bench.seed(small_url, city_bench.SMALL_SHAPE)
            copy_url, _seconds = city_bench.copy_of_city()
            for name, url in (("empty", small_url), ("city", copy_url)):
                found[name] = city_profile(url, count)
    finally:
        with psycopg.connect(harness.database_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{city_bench.CITY_COPY}" WITH (FORCE)')
    return found


def city_profile(url: str, count: int) -> dict:
    who = city_bench.callers(url)
    app = harness.jifen_app(url)
    requests = [
        {
            "path": f"/api/v1/members/{member}/transactions?cursor={cursor}",
            "method": "GET",
            "headers": {"Authorization": f"Bearer {token}"},
        }
        for member, token, cursor in who.busy
    ]
    with statement_times() as times:
        history = in_process(app, requests, count)
    history["statements"] = per_request(times, 2 * count + WARM)
    with statement_times() as times:
        run = city_bench.issuance_run(url)
    with app.app_context():
        community = communities.by_slug(city_bench.slug(2))
        reconcile(community)  # warm, as the benchmark's median of five is
        db.session.rollback()
        with statement_times() as report_times:
            started = time.perf_counter()
            reconcile(community)
            report_seconds = time.perf_counter() - started
        db.session.rollback()
        with read_plans() as plans:
            reconcile(community)
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    return {
        "history": history,
        "issuance": {"seconds": run["seconds"], "statements": dict(times)},
        "report": {"seconds": report_seconds, "statements": dict(report_times), "plans": plans},
    }


def per_request(times: dict, requests: int) -> dict:
    """Each statement's count and seconds per request."""
    return {
        text: (count / requests, seconds / requests) for text, (count, seconds) in times.items()
    }


def print_city(found: dict) -> None:
    empty, city = found["empty"], found["city"]
    print("a member's history a year back, served in this process:")
    for name in ("empty", "city"):
        history = found[name]["history"]
        print(f"  {name:5}  cpu_ms_per_request {history['cpu_ms']:.3f}")
        for layer, share in history["layers"][:6]:
            print(f"           {share:6.1%}  {layer}")
        for text, (count, seconds) in sorted(
            history["statements"].items(), key=lambda item: -item[1][1]
        )[:4]:
            print(f"           {seconds * 1000:7.3f} ms, {count:.1f} per request  {text}")
    print_compared(
        "one community's coupon run",
        empty["issuance"]["seconds"], city["issuance"]["seconds"],
        empty["issuance"]["statements"], city["issuance"]["statements"],
    )  # fmt: skip
    print_compared(
        "one community's reconciliation report (in total)",
        empty["report"]["seconds"], city["report"]["seconds"],
        empty["report"]["statements"], city["report"]["statements"],
    )  # fmt: skip
    grown = sorted(
        city["report"]["statements"],
        key=lambda text: (
            city["report"]["statements"][text][1]
            - empty["report"]["statements"].get(text, (0, 0.0))[1]
        ),
        reverse=True,
    )
    for text in grown[:3]:
        for name in ("empty", "city"):
            print(f"plan on the {name} database of: {text}")
            for line in found[name]["report"]["plans"].get(text, []):
                print(f"    {line}")


def print_compared(title: str, empty_s: float, city_s: float, empty: dict, city: dict) -> None:
    print(f"{title}: {empty_s:.2f} s small, {city_s:.2f} s city")
    print("  small s   city s  count  statement")
    for text in sorted(city, key=lambda text: -city[text][1])[:10]:
        count, seconds = city[text]
        print(f"  {empty.get(text, (0, 0.0))[1]:7.2f}  {seconds:7.2f}  {count:5d}  {text}")


def print_served(found: dict, plain_ms: float) -> None:
    print(f"request                     {found['request']}")
    print(f"cpu_ms_per_request          {found['cpu_ms']:.3f} (in this process)")
    print(f"plain_flask_cpu_ms          {plain_ms:.3f} (bench/plain.py, in this process)")
    print("share of the request's time under cProfile, waits included:")
    for layer, share in found["layers"]:
        print(f"  {share:6.1%}  {layer}")


def print_issuance(found: dict) -> None:
    figures = found["figures"]
    print(f"command                     {figures['command']}")
    print(f"issuance_seconds            {figures['issuance_seconds']} (commit included)")
    print(f"first_issuance_seconds      {found['seconds']:.2f} (before its commit)")
    in_statements = sum(seconds for _, (_, seconds) in found["statements"])
    print(f"in_statements_seconds       {in_statements:.2f}")
    print(f"python_seconds              {found['seconds'] - in_statements:.2f}")
    print("statements (seconds, count, text):")
    for text, (count, seconds) in found["statements"][:12]:
        print(f"  {seconds:6.2f} {count:5d}  {text}")
    if figures["errors"]:
        raise SystemExit("benchmark result is wrong: " + "; ".join(figures["errors"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=["balance", "redeem", "issuance", "city"])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--funding", choices=["grant", "convert"], default="convert")
    args = parser.parse_args()
    harness.require_postgres()
    print(f"machine                     {harness.machine()}")
    if args.workload == "issuance":
        print_issuance(profile_issuance(args.residents, args.funding))
        return
    if args.workload == "city":
        print_city(profile_city(args.requests))
        return
    found = (profile_balance if args.workload == "balance" else profile_redeem)(args.requests)
    print_served(found, plain_cpu_ms(args.requests))


if __name__ == "__main__":
    main()
