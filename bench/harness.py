"""What every benchmark needs: a scratch PostgreSQL database, a migrated schema,
Jifen under gunicorn, a load from wrk, and pgbench as the same-run reference."""

import argparse
import base64
import contextlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("JIFEN_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
#: One gunicorn sync worker more than cores: a worker waits on PostgreSQL for
#: part of every request, and the extra one keeps the cores busy meanwhile
#: (measured on 2 cores, redeem: 3 workers 0.36-0.42 of pgbench, 2 workers
#: 0.29-0.39, 4 workers 0.31-0.35; twice as many only added context switches).
WORKERS = (os.cpu_count() or 2) + 1


#: The directory's usernames of ``:n`` residents of community ``:c``, taken before the
#: members are inserted (see ``models.Username``).
RESIDENTS_NAMED = """INSERT INTO usernames (username, community_id)
       SELECT 'bench-' || :c || '-' || g, :c FROM generate_series(1, :n) AS g"""

#: Merchants with a cashier each and residents, set-based (``:c`` the community,
#: ``:merchants`` and ``:residents`` how many, ``:at`` when they joined). The stored
#: hash is one nobody can sign in with: these members never sign in.
POPULATION = [
    """INSERT INTO merchants (community_id, name, category, address, opening_hours, phone,
                              active, created_at)
       SELECT :c, '微街长商户 ' || g, 'bench', '', '', '', true, :at
         FROM generate_series(1, :merchants) AS g""",
    """INSERT INTO usernames (username, community_id)
       SELECT 'bench-cashier-' || m.id, :c FROM merchants m WHERE m.community_id = :c""",
    """INSERT INTO members (community_id, username, password_hash, display_name, role,
                            merchant_id, active, created_at)
       SELECT :c, 'bench-cashier-' || m.id, '!', '收银员 ' || m.id, 'merchant_staff', m.id,
              true, :at
         FROM merchants m WHERE m.community_id = :c""",
    RESIDENTS_NAMED.replace(":n", ":residents"),
    """INSERT INTO members (community_id, username, password_hash, display_name, role,
                            active, created_at)
       SELECT :c, 'bench-' || :c || '-' || g, '!', '居民 ' || g, 'resident', true, :at
         FROM generate_series(1, :residents) AS g""",
]


def jifen_app(url: str, **config):
    """Jifen on ``url`` with a fresh coupon signing key."""
    from app import create_app

    key = base64.b64encode(os.urandom(32)).decode()
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "JIFEN_SIGNING_KEYS": f"bench:{key}",
            **config,
        }
    )


def database_url(name: str) -> str:
    """libpq's URL for database ``name`` (psycopg, pgbench)."""
    return f"{SERVER}/{name}"


def sqlalchemy_url(name: str) -> str:
    return database_url(name).replace("postgresql://", "postgresql+psycopg://", 1)


@contextlib.contextmanager
def scratch_database(name: str, *, keep: bool = False):
    """A fresh database, dropped afterwards unless ``keep``; yields its SQLAlchemy URL."""
    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield sqlalchemy_url(name)
    finally:
        if not keep:
            with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def jifen_env(url: str, **extra) -> dict:
    return {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench-secret", **extra}


def migrate(url: str) -> None:
    flask = Path(sys.executable).parent / "flask"
    subprocess.run(
        [str(flask), "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=jifen_env(url),
        check=True,
        capture_output=True,
    )


def http_arguments(description: str) -> argparse.ArgumentParser:
    """The options of every HTTP benchmark: clients (for wrk and pgbench alike),
    seconds of load, gunicorn workers."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn sync workers")
    return parser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(url: str, *, workers: int, threads: int = 1, app: str = "app:create_app()"):
    """Jifen (or ``app``) under gunicorn on a loopback port; yields the base URL."""
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers", str(workers),
        "--threads", str(threads),
        "--bind", f"127.0.0.1:{port}",
        "--log-level", "warning",
        "--config", str(ROOT / "gunicorn.conf.py"),
        app,
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=jifen_env(url))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def signed_in_page(base: str, username: str, password: str, path: str):
    """A function that fetches ``path`` from a served Jifen as ``username``, signed in
    through the sign-in form as a browser would be; it returns the page's text."""
    cookies = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    form = cookies.open(f"{base}/login", timeout=30).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    fields = {"username": username, "password": password, "csrf_token": token and token[1]}
    body = urllib.parse.urlencode({k: v for k, v in fields.items() if v}).encode()
    cookies.open(f"{base}/login", data=body, timeout=30).close()

    def fetch() -> str:
        with cookies.open(f"{base}{path}", timeout=30) as reply:
            if reply.status != 200 or reply.url != f"{base}{path}":
                raise RuntimeError(f"{path} answered {reply.status} at {reply.url}")
            return reply.read().decode()

    return fetch


@dataclass
class Load:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    #: CPU (user + system) per request of Jifen's gunicorn workers, of
    #: PostgreSQL's processes and of both, while the load ran: where the time goes.
    cpu_ms_per_request: dict[str, float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


LUA_DONE = """
local reported = false
response = function(status, headers, body)
  if status >= 300 and not reported then
    reported = true
    io.write("JIFEN-FIRST-ERROR " .. status .. " " .. body .. "\\n")
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JIFEN {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def get_lua(calls: list[tuple[str, str]]) -> str:
    """A wrk script (for :func:`wrk`) that GETs each ``(path, bearer token)`` in turn."""
    rows = ",\n".join(f'{{"{path}", "{token}"}}' for path, token in calls)
    return f"""
local calls = {{
{rows}
}}
local n = 0
request = function()
  n = n % #calls + 1
  return wrk.format("GET", calls[n][1], {{["Authorization"] = "Bearer " .. calls[n][2]}})
end
"""


def wrk(base: str, script: str, *, clients: int, seconds: int, threads: int = 1) -> Load:
    """Drive ``base`` with wrk running ``script`` (Lua, without its ``done``)."""
    path = ROOT / "bench" / "out" / "load.lua"
    path.parent.mkdir(exist_ok=True)
    path.write_text(script + LUA_DONE)
    before = cpu_seconds()
    output = subprocess.run(
        [
            "wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s",
            "--timeout", "5s", "-s", str(path), base,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    after = cpu_seconds()
    for first_error in re.findall(r"^JIFEN-FIRST-ERROR (.*)$", output, re.MULTILINE):
        print(f"wrk: first error response: {first_error[:300]}", file=sys.stderr)
    found = re.search(r"^JIFEN (.*)$", output, re.MULTILINE)
    if not found:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    raw = json.loads(found.group(1))
    used = {program: after[program] - before[program] for program in CPU_PROGRAMS}
    used["total"] = sum(used.values())
    return Load(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=raw["errors"],
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        cpu_ms_per_request={
            name: round(seconds / max(raw["requests"], 1) * 1000, 2)
            for name, seconds in used.items()
        },
    )


#: The programs whose CPU a load accounts for (their processes' names).
CPU_PROGRAMS = ("gunicorn", "postgres")


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) used so far by the running processes of each
    of :data:`CPU_PROGRAMS` (Linux ``/proc``; nothing elsewhere)."""
    used = dict.fromkeys(CPU_PROGRAMS, 0.0)
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            if name in used:
                fields = text[text.rindex(")") + 2 :].split()
                used[name] += (int(fields[11]) + int(fields[12])) / ticks
    return used


def pgbench(*, clients: int, seconds: int, select_only: bool = False) -> float:
    """pgbench's TPS (TPC-B, or its select-only variant) on a scratch database."""
    with scratch_database("jifen_bench_pgbench"):
        url = database_url("jifen_bench_pgbench")
        subprocess.run(["pgbench", "-i", "-q", "-s", "1", url], check=True, capture_output=True)
        command = ["pgbench", "-n", f"-c{clients}", f"-j{min(clients, 2)}", f"-T{seconds}", url]
        if select_only:
            command.insert(2, "-S")
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    found = re.search(r"^tps = ([\d.]+)", output, re.MULTILINE)
    if not found:
        raise RuntimeError(f"pgbench printed no tps:\n{output}")
    return float(found.group(1))


def cpu_budget_ms(per_second: float) -> float:
    """The CPU a request may cost, every process on the machine together, for
    this machine's cores to serve ``per_second`` of them: set against the
    measured ``cpu_ms_per_request``, it says whether CPU is what limits a load."""
    return round((os.cpu_count() or 1) * 1000 / per_second, 2)


def against_pgbench(
    workload: str, rps: float, before: float, after: float, *, target_ratio: float | None = None
) -> dict:
    """The load's figures against pgbench measured just before and just after it,
    and the CPU per request that a ``target_ratio`` leaves (:func:`cpu_budget_ms`).

    The ratio is to the mean of the two: on shared cloud cores the machine's
    speed drifts within a run, and bracketing the load lets a drift move the
    reference with it; the two readings show how much it drifted.
    """
    reference = (before + after) / 2
    figures = {
        f"pgbench_{workload}_tps": round(reference, 1),
        f"pgbench_{workload}_tps_before_after": [round(before, 1), round(after, 1)],
        f"ratio_to_pgbench_{workload}": round(rps / reference, 3),
    }
    if target_ratio is not None:
        figures["cpu_budget_ms_per_request"] = cpu_budget_ms(target_ratio * reference)
    return figures


def machine() -> str:
    cpu = "unknown CPU"
    memory = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {total_kb / 1024 / 1024:.0f} GiB RAM"
    with psycopg.connect(database_url("postgres")) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, PostgreSQL {pg}"
    )


def report(name: str, figures: dict) -> None:
    """Print the figures and keep them as JSON in bench/out/."""
    out = ROOT / "bench" / "out" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    figures = {"benchmark": name, "machine": machine(), **figures}
    out.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")


def require_postgres() -> None:
    try:
        psycopg.connect(database_url("postgres"), connect_timeout=5).close()
    except psycopg.OperationalError as error:
        raise SystemExit(f"the benchmarks need PostgreSQL at {SERVER}: {error}") from error


def require_tools(*names: str) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        raise SystemExit(f"missing tools: {', '.join(missing)} (bin/bench installs them)")


def as_dict(load: Load) -> dict:
    return {**asdict(load), "rps": round(load.rps, 1)}
