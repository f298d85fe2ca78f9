"""Fixtures for tests that reach Stripe: a fake Stripe (``support.stripe_fake``) per process.

Loaded as a pytest plugin from ``tests/conftest.py``. The fixtures:

``stripe_fake_server`` (session)
    The running :class:`~support.stripe_fake.StripeFake`, started on first use.
``stripe_fake`` (function)
    The same server, emptied before the test (store, idempotency cache,
    refused destinations, received webhooks; fees back to the default).
``stripe_app`` (function)
    The session's ``app`` with a Stripe gateway built from :func:`stripe_config`,
    exactly as ``create_app`` builds one, for the duration of the test.
``stripe_gateway`` (function)
    That app's :class:`app.stripe_gateway.StripeGateway`.

and the helpers:

:func:`stripe_config(fake)`
    The ``STRIPE_*`` configuration that points an app at the fake (for
    ``create_app`` or :func:`use_fake_stripe`).
:func:`use_fake_stripe(app, fake)`
    A context manager giving ``app`` (a ``committing_app`` too) that gateway.
:func:`post_event(client, delivery)`
    POST a signed :class:`~support.stripe_fake.Delivery` to Jifen's webhook
    endpoint through a Flask test client; returns the response.

Webhooks: localstripe delivers every event, signed, to the fake's own inbox
about a second after it; ``stripe_fake.wait_for_event(type, object_id)``
returns that delivery and the test posts it into the Flask test client. A test
about how Jifen handles an event does not wait: ``stripe_fake.event(type,
object_id)`` signs the stored event at once, and ``stripe_fake.signed_event``
builds any other. No Jifen server is served for webhooks, so the tests keep
their rolled-back transaction.
"""

from contextlib import contextmanager

import pytest
import stripe
from flask import g, has_app_context

from app.extensions import db
from app.stripe_gateway import EXTENSION, build_gateway

from .stripe_fake import StripeFake

#: No telemetry headers to Stripe from tests, and no retries hiding a refusal.
stripe.enable_telemetry = False

WEBHOOK_PATH = "/api/v1/stripe/webhook"


def stripe_config(fake: StripeFake) -> dict:
    return {
        "STRIPE_API_KEY": fake.api_key,
        "STRIPE_API_BASE": fake.url,
        "STRIPE_WEBHOOK_SECRET": fake.webhook_secret,
        "STRIPE_PUBLISHABLE_KEY": fake.publishable_key,
        "STRIPE_JS_URL": fake.url + "/js.stripe.com/v3/",
        "STRIPE_PAYMENT_METHOD_TYPES": "card",
        "STRIPE_MAX_NETWORK_RETRIES": 0,
    }


@contextmanager
def use_fake_stripe(app, fake: StripeFake):
    """``app`` configured for the fake Stripe inside the block, as it was after."""
    config = stripe_config(fake)
    saved_config = {name: app.config.get(name) for name in config}
    saved_gateway = app.extensions.get(EXTENSION)
    app.config.update(config)
    app.extensions[EXTENSION] = build_gateway(app.config)
    try:
        yield app.extensions[EXTENSION]
    finally:
        app.config.update(saved_config)
        app.extensions[EXTENSION] = saved_gateway


def post_event(client, delivery, path: str = WEBHOOK_PATH):
    """POST ``delivery`` as Stripe would. Inside the test's app context, first commit
    what the test set up and start with an empty ``g``, as ``ApiClient`` does."""
    if has_app_context():
        db.session.commit()
        g.__dict__.clear()
    return client.post(path, data=delivery.payload, headers=delivery.headers)


@pytest.fixture(scope="session")
def stripe_fake_server():
    fake = StripeFake().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def stripe_fake(stripe_fake_server):
    stripe_fake_server.reset()
    return stripe_fake_server


@pytest.fixture
def stripe_app(app, stripe_fake):
    with use_fake_stripe(app, stripe_fake):
        yield app


@pytest.fixture
def stripe_gateway(stripe_app):
    return stripe_app.extensions[EXTENSION]
