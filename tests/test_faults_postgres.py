"""Faults under a concurrent redemption load, on a private PostgreSQL server.

Jifen runs under gunicorn against a PostgreSQL server this module starts for
itself (``initdb`` and ``pg_ctl``, on its own port, as the ``postgres`` user
when the suite runs as root), so it can be restarted and dumped without
touching the shared one. Three faults, each a few seconds of load:

- gunicorn's master and workers killed with SIGKILL mid-load, then started
  again: every acknowledged redemption is recorded exactly once, a retry with
  the same Idempotency-Key gives the same one result, and ``flask reconcile``
  exits 0;
- PostgreSQL restarted mid-load: requests meanwhile answer a retryable 503
  (never a 500), the service recovers with no manual step, and retries with
  the same keys leave nothing lost or doubled;
- a ``pg_dump`` taken under load, restored into a new database: it reconciles.
"""

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from support.apps import TEST_CONFIG
from support.coupons import earn, make_rule

from app import auth, communities, create_app, issuance
from app.earnings import last_month
from app.extensions import db
from models import Coupon, IdempotencyKey, Redemption, Role

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PG_BIN = Path(shutil.which("pg_ctl") or "/usr/local/bin/pg_ctl").resolve().parent
SIGNING_KEYS = "fault-1:" + "B" * 43
BILL_FEN = 100  # 50 points at 50 points to the yuan
RESIDENTS = 24
CASHIERS = 4
#: Each load client stops after this many redemptions: the checks after the
#: load send each of them again, and this keeps a test to seconds.
ATTEMPTS_PER_CLIENT = 30
#: Seconds a client waits between redemptions, so the load spans the fault.
PACE = 0.03


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the private PostgreSQL server -------------------------------------------------


@dataclass
class Server:
    data: Path
    port: int
    run_as: list[str]

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def ctl(self, *args: str) -> None:
        # The server inherits pg_ctl's output: nothing may wait on it as a pipe.
        subprocess.run(
            [*self.run_as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
             "-l", str(self.data.parent / "server.log"), *args],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90,
        )  # fmt: skip

    def restart(self) -> None:
        """As a crash would: no checkpoint, connections cut, then recovery."""
        self.ctl("restart", "-m", "immediate", "-o", self.options())

    def options(self) -> str:
        return (
            f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=100"
        )

    def sql(self, database: str, statement: str) -> None:
        with psycopg.connect(self.url(database, "postgresql"), autocommit=True) as connection:
            connection.execute(statement)


@pytest.fixture(scope="module")
def private_pg():
    """A PostgreSQL server of this module's own; initdb refuses root, so as root
    it runs as the ``postgres`` user."""
    assert (PG_BIN / "initdb").exists(), f"no initdb beside {PG_BIN / 'pg_ctl'}"
    home = Path(tempfile.mkdtemp(prefix="jifen-pg-"))
    home.chmod(0o755)
    data = home / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:
        import pwd

        owner = pwd.getpwnam("postgres")
        os.chown(home, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
         "--no-sync", "-E", "UTF8", "--locale", "C"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = Server(data, free_port(), run_as)
    server.ctl("start", "-o", server.options())
    try:
        yield server
    finally:
        server.ctl("stop", "-m", "immediate")
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Shop:
    """A migrated database with residents holding large coupons and cashiers' tokens."""

    url: str
    codes: list[str]
    tokens: list[str]
    slug: str


def new_database(server: Server) -> Shop:
    name = f"jifen_{uuid.uuid4().hex[:8]}"
    server.sql("postgres", f"CREATE DATABASE {name}")
    url = server.url(name)
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        community = communities.create_community("faults", "故障演练社区")
        community.award_approval_threshold = 10**9
        admin = communities.create_member(
            community, username="fault-fund", password="password-1",
            display_name="基金", role=Role.FUND_ADMIN,
        )  # fmt: skip
        tokens = []
        for n in range(CASHIERS):
            shop = communities.create_merchant(community, name=f"商家 {n}", category="faults")
            cashier = communities.create_member(
                community, username=f"cashier-{n}", password="password-1",
                display_name=f"收银员 {n}", role=Role.MERCHANT_STAFF, merchant_id=shop.id,
            )  # fmt: skip
            tokens.append(auth.issue_token(cashier)[0])
        for n in range(RESIDENTS):
            resident = communities.create_member(
                community, username=f"resident-{n}", password="password-1",
                display_name=f"居民 {n}", role=Role.RESIDENT,
            )  # fmt: skip
            earn(resident, 300)
        rule = make_rule(community, admin, name="演练券", min_points_earned=300, points=10**6)
        issuance.issue_coupons(rule, last_month(), actor=admin)
        db.session.commit()
        codes = db.session.scalars(sa.select(Coupon.code).order_by(Coupon.id)).all()
        db.session.remove()
        db.engine.dispose()
    return Shop(url, list(codes), tokens, "faults")


# --- Jifen under gunicorn ----------------------------------------------------------


def jifen_env(url: str, metrics_dir: Path) -> dict:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("JIFEN_TEST")},
        "DATABASE_URL": url,
        "SECRET_KEY": "fault-test-secret",
        "JIFEN_SIGNING_KEYS": SIGNING_KEYS,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }


@contextmanager
def gunicorn(url: str, tmp_path: Path, workers: int = 2):
    """Jifen on a loopback port; yields (base URL, the master's process)."""
    port = free_port()
    metrics_dir = tmp_path / f"metrics-{port}"
    process = subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"),
            "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning", "app:create_app()",
        ],
        cwd=ROOT, env=jifen_env(url, metrics_dir),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/readyz", timeout=2).close()
                break
            except OSError:
                assert process.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def kill_all(process: subprocess.Popen) -> None:
    """SIGKILL the master and its workers at once: nobody finishes anything."""
    workers = children(process.pid)
    for pid in (process.pid, *workers):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)


# --- the load ---------------------------------------------------------------------


@dataclass
class Attempt:
    key: str
    token: str
    body: dict
    #: Every answer: an HTTP status, or "lost" when the connection failed.
    answers: list = field(default_factory=list)
    receipt_id: int | None = None
    #: The body of the latest refusal, for assertion messages.
    refusal: dict | None = None


def send(base: str, attempt: Attempt) -> tuple:
    request = urllib.request.Request(
        f"{base}/api/v1/redemptions",
        data=json.dumps(attempt.body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {attempt.token}",
            "Idempotency-Key": attempt.key,
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)
    except (OSError, ValueError, http.client.HTTPException):
        return "lost", None, {}


def record(attempt: Attempt, answer: tuple) -> None:
    status, body, _headers = answer
    attempt.answers.append(status)
    if isinstance(status, int) and status >= 400:
        attempt.refusal = body
    if status == 201:
        if attempt.receipt_id is None:
            attempt.receipt_id = body["id"]
        assert body["id"] == attempt.receipt_id, "one key, two receipts"


class Load:
    """Clients redeeming concurrently, each request with a fresh key; with
    ``retry``, a request answered 503 or lost is sent again with its key."""

    def __init__(self, base: str, shop: Shop, clients: int = 6, retry: bool = False):
        self.base, self.shop, self.retry = base, shop, retry
        self.attempts: list[Attempt] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(clients)
        ]

    def _client(self, n: int) -> None:
        count = 0
        while not self.stop.is_set() and count < ATTEMPTS_PER_CLIENT:
            count += 1
            attempt = Attempt(
                key=f"load-{n}-{count}-{uuid.uuid4().hex[:6]}",
                token=self.shop.tokens[(n + count) % len(self.shop.tokens)],
                body={
                    "code": self.shop.codes[(n * 7 + count) % len(self.shop.codes)],
                    "bill_fen": BILL_FEN,
                },
            )
            with self.lock:
                self.attempts.append(attempt)
            while True:
                record(attempt, send(self.base, attempt))
                last = attempt.answers[-1]
                if not (self.retry and last in (503, "lost")) or self.stop.is_set():
                    break
                time.sleep(0.05)
            time.sleep(PACE)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in self.threads)


def settle(base: str, attempts: list[Attempt]) -> None:
    """Send every attempt once more with its key: each must end in its one receipt."""
    for attempt in attempts:
        for _ in range(50):  # a 503 asks for a retry
            status, body, headers = send(base, attempt)
            if status != 503:
                break
            time.sleep(0.1)
        assert status == 201, (attempt.key, attempt.answers, status, body)
        if attempt.receipt_id is not None:
            assert body["id"] == attempt.receipt_id, "a retry gave another redemption"
            assert headers.get("Idempotent-Replayed") == "true"
        attempt.receipt_id = body["id"]


def assert_books(shop: Shop, attempts: list[Attempt], tmp_path: Path) -> None:
    """Exactly one redemption per key, each the receipt its key answered, and
    ``flask reconcile`` passes."""
    engine = sa.create_engine(shop.url)
    with engine.connect() as connection:
        recorded = connection.execute(sa.select(Redemption.id)).scalars().all()
        keyed = connection.scalar(
            sa.select(sa.func.count())
            .select_from(IdempotencyKey)
            .where(IdempotencyKey.key.like("load-%"))
        )
    engine.dispose()
    receipts = [attempt.receipt_id for attempt in attempts]
    assert len(set(receipts)) == len(receipts), "two keys share a redemption"
    assert sorted(recorded) == sorted(receipts), "lost or doubled redemptions"
    assert keyed == len(attempts)
    reconcile = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "app", "reconcile", "--community", shop.slug],
        cwd=ROOT, env=jifen_env(shop.url, tmp_path),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr


# --- the faults ---------------------------------------------------------------------
# Each takes ``committing_app`` so that the suite's rolled-back session stands
# aside: what these tests write goes to the private server, for real.


def test_gunicorn_killed_mid_load_loses_and_doubles_nothing(private_pg, tmp_path, committing_app):
    shop = new_database(private_pg)
    with gunicorn(shop.url, tmp_path) as (base, master), Load(base, shop) as load:
        time.sleep(1.0)
        kill_all(master)
        time.sleep(0.3)
    answered = Counter(answer for attempt in load.attempts for answer in attempt.answers)
    acknowledged = [a for a in load.attempts if a.receipt_id is not None]
    refusals = [a.refusal for a in load.attempts if a.refusal][:3]
    assert answered[201] >= 10, (answered, refusals)
    assert answered["lost"] >= 1, answered
    assert set(answered) <= {201, "lost"}, answered

    with gunicorn(shop.url, tmp_path) as (base, _master):
        settle(base, load.attempts)
    assert all(a.receipt_id is not None for a in acknowledged)
    assert_books(shop, load.attempts, tmp_path)


def test_postgresql_restart_mid_load_recovers_by_itself(private_pg, tmp_path, committing_app):
    shop = new_database(private_pg)
    with gunicorn(shop.url, tmp_path) as (base, _master):
        with Load(base, shop, retry=True) as load:
            time.sleep(1.0)
            private_pg.restart()
            time.sleep(1.5)
        answered = Counter(answer for attempt in load.attempts for answer in attempt.answers)
        after = [a for a in load.attempts if a.answers[-1] == 201]
        settle(base, load.attempts)
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()

    assert answered[503] >= 1, answered  # some requests met the restart...
    assert 500 not in answered, answered  # ...and none of them as a server error
    assert set(answered) <= {201, 503}, answered
    assert len(after) >= 10
    assert_books(shop, load.attempts, tmp_path)
    # Both workers' counts add up in /metrics: one per redemption they recorded.
    counted = sum(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith('jifen_redemptions_total{channel="api"}')
    )
    assert counted == len(load.attempts)


def test_a_dump_taken_under_load_restores_and_reconciles(private_pg, tmp_path, committing_app):
    shop = new_database(private_pg)
    dump = tmp_path / "jifen.dump"
    database = shop.url.rsplit("/", 1)[1]
    with gunicorn(shop.url, tmp_path) as (base, _master), Load(base, shop):
        time.sleep(0.7)
        subprocess.run(
            ["pg_dump", "--format=custom", f"--file={dump}",
             private_pg.url(database, "postgresql")],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        time.sleep(0.3)

    restored = f"restored_{secrets.token_hex(4)}"
    private_pg.sql("postgres", f"CREATE DATABASE {restored}")
    subprocess.run(
        ["pg_restore", "--no-owner", f"--dbname={private_pg.url(restored, 'postgresql')}",
         str(dump)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    copy = Shop(private_pg.url(restored), shop.codes, shop.tokens, shop.slug)
    engine = sa.create_engine(copy.url)
    with engine.connect() as connection:
        in_copy = connection.scalar(sa.select(sa.func.count()).select_from(Redemption))
    engine.dispose()
    assert in_copy > 0
    reconcile = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "app", "reconcile", "--community", copy.slug],
        cwd=ROOT, env=jifen_env(copy.url, tmp_path),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
