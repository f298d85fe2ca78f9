"""gunicorn's settings for Jifen, read from the working directory by default
(``gunicorn -c gunicorn.conf.py 'app:create_app()'`` says so explicitly).

Metrics: every worker is a process of its own, so prometheus_client keeps
their values in files under ``PROMETHEUS_MULTIPROC_DIR`` (set here when the
environment does not, before any worker imports the app), emptied when the
server starts; ``/metrics`` adds them up whichever worker answers.

Limits: gunicorn itself refuses a request line over 4094 bytes, more than 100
header fields, or a header field over 8190 bytes, with its own plain-text 400
before Jifen sees the request (those are the only answers that are not
problem+json); bodies are limited by the app (64 KiB on the API, 413).

Access log: off by default (it costs every request a line); with
``--access-logfile -`` its lines are JSON and carry the request id the app
returned in ``X-Request-ID``.
"""

import gc
import os
import shutil
import tempfile
from pathlib import Path

_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / "jifen-metrics")
)

limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

access_log_format = (
    '{"time": "%(t)s", "request_id": "%({x-request-id}o)s", "remote": "%(h)s", '
    '"method": "%(m)s", "path": "%(U)s", "status": %(s)s, "bytes": "%(B)s", '
    '"duration_us": %(D)s, "user_agent": "%(a)s"}'
)


def on_starting(server):
    """A fresh start forgets the values of workers from before."""
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    Path(_metrics_dir).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    """A dead worker's gauges leave the sums (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Freeze what loading the app left, so that the collector's full passes
    walk only what requests allocate since.

    Unfrozen, a worker's full collection walked the 160,000-odd objects of
    Flask, SQLAlchemy, marshmallow and Jifen's own modules, and stopped the
    worker for 100 to 200 ms under load (``bin/bench redeem``): the slowest of
    its requests. Frozen, the same pass takes under a millisecond.
    """
    gc.collect()
    gc.freeze()
