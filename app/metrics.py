"""Prometheus metrics at ``/metrics``: requests by route and status, latency,
redemptions, voids, issuance runs and refusals by problem type.

Under gunicorn each worker is a process of its own. With
``PROMETHEUS_MULTIPROC_DIR`` set (``gunicorn.conf.py`` sets it and empties it
when the server starts), prometheus_client keeps every worker's values in
memory-mapped files there and ``/metrics`` adds them up, whichever worker
answers. Without it (the demo, tests) the values live in the process.

A request pays for one counter and one histogram observation, a few
microseconds; the rest is counted only on the requests it is about. Labels are
route templates (``/api/v1/members/<int:member_id>/balance``), never paths, so
their number stays bounded.

Set ``METRICS_TOKEN`` to require ``Authorization: Bearer <token>`` on
``/metrics``; otherwise keep it to the scraper's network at the proxy.
"""

import hmac
import json
import os
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from .problems import PROBLEM_MIMETYPE

PROBLEM_PREFIX = "urn:jifen:problem:"
#: Whether this process's values live in PROMETHEUS_MULTIPROC_DIR: decided, as
#: prometheus_client decides it, when the metrics are made.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUESTS = Counter(
    "jifen_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
LATENCY = Histogram(
    "jifen_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REDEMPTIONS = Counter("jifen_redemptions_total", "Redemptions recorded", ["channel"])
VOIDS = Counter("jifen_redemption_voids_total", "Redemptions voided", ["channel"])
ISSUANCE_RUNS = Counter("jifen_issuance_runs_total", "Issuance runs made over HTTP")
REFUSALS = Counter("jifen_refusals_total", "Requests refused, by problem type", ["type"])

#: (method, route, success status) -> the business counter it feeds, with its labels.
EVENTS = {
    ("POST", "/api/v1/redemptions", 201): (REDEMPTIONS, ("api",)),
    ("POST", "/pos/redemptions", 201): (REDEMPTIONS, ("pos",)),
    ("POST", "/api/v1/redemptions/<int:redemption_id>/void", 200): (VOIDS, ("api",)),
    ("POST", "/pos/redemptions/<int:redemption_id>/void", 200): (VOIDS, ("pos",)),
    ("POST", "/api/v1/communities/<slug>/issuance-runs", 201): (ISSUANCE_RUNS, ()),
}

blp = Blueprint("metrics", __name__)


def init_app(app: Flask) -> None:
    """First of the request hooks, so the time covers every other one."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_count)
    app.register_blueprint(blp)


def _start() -> None:
    g.metrics_started = time.perf_counter()


#: (route, method, status) -> its request counter and latency histogram, looked
#: up once: ``labels()`` on every request cost more than counting.
_SERIES: dict[tuple[str, str, int], tuple] = {}


def _series(rule: str, method: str, status: int) -> tuple:
    found = _SERIES.get((rule, method, status))
    if found is None:
        found = _SERIES[rule, method, status] = (
            REQUESTS.labels(rule, method, str(status)),
            LATENCY.labels(rule, method),
        )
    return found


def _count(response):
    rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
    status = response.status_code
    requests, latency = _series(rule, request.method, status)
    requests.inc()
    started = g.get("metrics_started")
    if started is not None:
        latency.observe(time.perf_counter() - started)
    if status >= 400:
        REFUSALS.labels(_problem_type(response)).inc()
    elif response.headers.get("Idempotent-Replayed") != "true":  # a replay recorded nothing
        event = EVENTS.get((request.method, rule, status))
        if event is not None:
            counter, labels = event
            (counter.labels(*labels) if labels else counter).inc()
    return response


def _problem_type(response) -> str:
    """The refusal's problem slug; ``http-<status>`` for plain HTTP errors."""
    slug = g.get("problem")
    if slug:
        return slug
    if response.mimetype == PROBLEM_MIMETYPE and not response.is_streamed:
        try:
            kind = json.loads(response.get_data()).get("type", "")
        except (ValueError, AttributeError):
            kind = ""
        if kind.startswith(PROBLEM_PREFIX):
            return kind[len(PROBLEM_PREFIX) :]
    return f"http-{response.status_code}"


@blp.get("/metrics")
def metrics():
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return Response("metrics need the scraper's token\n", 401, mimetype="text/plain")
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
