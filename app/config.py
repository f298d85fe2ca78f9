"""Configuration, read from the environment (design.md §11a)."""

import os
import secrets
from pathlib import Path


def instance_secret_key(instance_path: str) -> str:
    """The secret key kept in the instance folder, made on first use.

    Used when SECRET_KEY is not set: a generated per-process key would sign
    people out on every restart and differ between gunicorn workers.
    """
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _database_url(instance_path: str) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{Path(instance_path) / 'jifen.sqlite'}"
    return _with_driver(url)


def _with_driver(url: str) -> str:
    """Platforms hand out postgres:// URLs; SQLAlchemy wants an explicit driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _engine_options() -> dict:
    """Each gunicorn worker holds its own pool: DB_POOL_SIZE connections kept,
    DB_MAX_OVERFLOW more at a peak (SQLAlchemy's defaults, 5 and 10, otherwise)."""
    options = {"pool_pre_ping": False}
    for variable, option in (("DB_POOL_SIZE", "pool_size"), ("DB_MAX_OVERFLOW", "max_overflow")):
        if os.environ.get(variable):
            options[option] = int(os.environ[variable])
    return options


def from_environment(instance_path: str) -> dict:
    database_url = _database_url(instance_path)
    redis_url = os.environ.get("REDIS_URL")
    config = {
        "SECRET_KEY": os.environ.get("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(),
        #: A streaming replica the reports read from (app.replica); unset, the primary.
        "REPORTS_DATABASE_URL": os.environ.get("REPORTS_DATABASE_URL")
        and _with_driver(os.environ["REPORTS_DATABASE_URL"]),
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "STRIPE_API_KEY": os.environ.get("STRIPE_API_KEY"),
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE"),
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET"),
        "STRIPE_PUBLISHABLE_KEY": os.environ.get("STRIPE_PUBLISHABLE_KEY"),
        "STRIPE_JS_URL": os.environ.get("STRIPE_JS_URL"),
        "STRIPE_PAYMENT_METHOD_TYPES": os.environ.get("STRIPE_PAYMENT_METHOD_TYPES", "card"),
        "JIFEN_SIGNING_KEYS": os.environ.get("JIFEN_SIGNING_KEYS"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "").lower() == "true",
        "REMEMBER_COOKIE_HTTPONLY": True,
        #: TLS-terminating proxies in front whose X-Forwarded-* headers to believe.
        "JIFEN_PROXIES": int(os.environ.get("JIFEN_PROXIES") or 0),
        #: When set, /metrics asks the scraper for this bearer token.
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN"),
    }
    return config


DEFAULTS = {
    "API_TITLE": "Jifen",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/docs",
    #: Swagger UI is served from the swagger-ui-bundle package, not a CDN.
    "OPENAPI_SWAGGER_UI_URL": "/api/docs/static/",
    "BABEL_DEFAULT_LOCALE": "zh",
    "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
    "LANGUAGES": ("zh", "en"),
    "WTF_CSRF_TIME_LIMIT": None,
    #: Bearer tokens live this long unless revoked first.
    "API_TOKEN_TTL_DAYS": 30,
    #: Idempotency keys and their stored responses live at least this long.
    "IDEMPOTENCY_TTL_HOURS": 24,
    "RATELIMIT_ENABLED": True,
    #: Wrong passwords before an account is locked for a while, from anywhere (app.ratelimit).
    "LOGIN_ACCOUNT_FAILURES": "5 per 15 minutes",
    #: Failed sign-ins from one client address (a community hall shares one).
    "LOGIN_ADDRESS_FAILURES": "50 per 15 minutes",
    #: Unknown coupon codes, bad tokens and bad pay-codes one cashier may enter.
    "BAD_CODE_LIMIT": "20 per 10 minutes",
    "PAGE_SIZE_DEFAULT": 50,
    "PAGE_SIZE_MAX": 200,
    #: The activity check-in code changes this often; each code is accepted for two windows.
    "CHECKIN_WINDOW_SECONDS": 30,
    #: A pay-code changes every this many seconds and is accepted for two such windows.
    "PAY_CODE_WINDOW_SECONDS": 30,
    #: A redemption may be voided by its merchant for this long (and before settlement).
    "REDEMPTION_VOID_MINUTES": 30,
    #: The largest bill a till accepts, in fen (¥100,000): anything above is a typing slip.
    "REDEMPTION_MAX_BILL_FEN": 10_000_000,
    #: The Stripe client's retries of connection errors and 409/5xx answers.
    "STRIPE_MAX_NETWORK_RETRIES": 2,
    #: The smallest and largest donation taken online, in fen (¥1 and ¥100,000).
    "DONATION_MIN_FEN": 100,
    "DONATION_MAX_FEN": 10_000_000,
}
