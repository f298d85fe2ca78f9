"""Where the time of a benchmark that misses its target goes.

    bin/bench profile balance [--requests 3000]
    bin/bench profile redeem [--requests 3000]
    bin/bench profile issuance [--residents 100000] [--funding convert]

``balance`` and ``redeem`` seed a scratch database as ``bench.balance`` and
``bench.redeem`` do, then serve the same requests in this one process through
Flask's test client (no gunicorn, no wrk, so the figures are the app's own): CPU
per request, the same for the plain Flask app of ``bench.plain``, and, under
cProfile, each layer's share of the app's own time (Flask and Werkzeug,
SQLAlchemy, psycopg, marshmallow and flask-smorest, Jifen's modules). cProfile
slows Python down, and more where calls are many and small, so the shares are
what to read, not the profiled milliseconds.

``issuance`` runs ``bench.issuance`` with every statement of the first run
timed on the client, grouped by statement; what the statements leave of the
run is Python's and the commit's.
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

import sqlalchemy as sa

from . import balance as balance_bench
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
    """Client-side time of every statement run meanwhile, by statement (its first words)."""
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


def print_served(found: dict, plain_ms: float) -> None:
    print(f"request                     {found['request']}")
    print(f"cpu_ms_per_request          {found['cpu_ms']:.3f} (in this process)")
    print(f"plain_flask_cpu_ms          {plain_ms:.3f} (bench/plain.py, in this process)")
    print("share of the app's own time under cProfile:")
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
    parser.add_argument("workload", choices=["balance", "redeem", "issuance"])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--funding", choices=["grant", "convert"], default="convert")
    args = parser.parse_args()
    harness.require_postgres()
    print(f"machine                     {harness.machine()}")
    if args.workload == "issuance":
        print_issuance(profile_issuance(args.residents, args.funding))
        return
    found = (profile_balance if args.workload == "balance" else profile_redeem)(args.requests)
    print_served(found, plain_cpu_ms(args.requests))


if __name__ == "__main__":
    main()
