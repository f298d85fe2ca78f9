"""The database the run targets, the test configuration, and apps of their own for
tests that need one."""

import os
from contextlib import contextmanager

from app import create_app
from app.extensions import db

#: The PostgreSQL database the run targets (``JIFEN_TEST_DATABASE_URL``), or None for a
#: temporary SQLite file.
DATABASE_URL = os.environ.get("JIFEN_TEST_DATABASE_URL")
ON_POSTGRES = bool(DATABASE_URL and DATABASE_URL.startswith("postgresql"))

TEST_CONFIG = {
    "TESTING": True,
    "ARGON2_PROFILE": "CHEAPEST",
    "RATELIMIT_ENABLED": False,
    "SECRET_KEY": "test-secret-key",
    # A fixed coupon signing key, so no test writes a key file into instance/.
    "JIFEN_SIGNING_KEYS": "test-1:" + "A" * 43,
}


@contextmanager
def app_on(database_url: str, **config):
    """A new app with the test configuration (and ``config``) over ``database_url``;
    its connections are closed when the block ends."""
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url, **config})
    try:
        yield app
    finally:
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()


def login_limited(database_url: str, limit: str, storage: str = "memory://"):
    """:func:`app_on` with sign-in attempts limited to ``limit`` (``"3 per minute"``),
    counted in ``storage``; the session's app does not limit them."""
    return app_on(
        database_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=storage,
        LOGIN_ACCOUNT_FAILURES=limit,
    )
