"""Schemathesis against the app's own OpenAPI document: no input answers 5xx.

Every operation is called with generated valid and invalid input (paths, query
strings, headers and bodies), signed in as a fund admin and as a resident of a
community that holds a merchant, an offer, an activity, a rule and a coupon;
half the valid path ids are mapped onto those objects, so the views run past
their 404s. Every check is on: no server error, documented status codes,
content types and headers, response bodies that match their schemas, invalid
input refused and valid input taken.

The run is bounded and reproducible: a fixed seed, derandomized Hypothesis and
a few examples per operation.
"""

import itertools
from datetime import timedelta

import pytest
import schemathesis
from flask import g
from hypothesis import HealthCheck, Phase, settings
from schemathesis.core.parameters import ParameterLocation
from support.apps import TEST_CONFIG
from support.coupons import issued_coupon

from app import communities, create_app, offers
from app.extensions import db
from models import OfferKind, Role, utcnow

EXAMPLES = 8

#: The current test's objects and caller's token, for the hooks below.
KNOWN: dict = {}


def _document() -> dict:
    """The OpenAPI document, from an app of its own: it needs no database."""
    spec_app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with spec_app.test_client() as client:
        return client.get("/api/openapi.json").json


schema = schemathesis.openapi.from_dict(
    _document(),
    config=schemathesis.Config.from_dict(
        {
            "seed": 20261205,
            "base-url": "http://localhost",
            "generation": {"deterministic": True, "mode": "all", "allow-x00": True},
            "checks": {
                "enabled": True,
                # Valid-looking input may still break a domain rule: an unknown
                # member named in a body, a cursor this API never issued, an end
                # before the start (422 with the field), or a Stripe-Signature
                # that does not verify (400); never 5xx.
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "422", "429"]
                },
            },
        }
    ),
)


class _SessionApp:
    """The WSGI app cases are sent to: the test session's, once its fixture made it."""

    target = None

    def __call__(self, environ, start_response):
        # Requests reuse the test's app context (and its session, in the test's
        # transaction): each starts, as in production, with nothing in ``g``.
        db.session.commit()
        g.__dict__.clear()
        return self.target(environ, start_response)


schema.app = _SESSION_APP = _SessionApp()
_calls = itertools.count()


@schema.hook
def map_case(context, case):
    """Every other case with valid path parameters names the test's own objects."""
    if not case.path_parameters or case.meta.is_negative_at(ParameterLocation.PATH):
        return case
    if next(_calls) % 2 == 0:
        case.path_parameters = {
            name: KNOWN.get(name, value) for name, value in case.path_parameters.items()
        }
    return case


@schema.auth(refresh_interval=None)
class CallerToken:
    """The bearer token of the test's caller (a fund admin or a resident)."""

    def get(self, case, context):
        return KNOWN.get("token", "")

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(params=[Role.FUND_ADMIN, Role.RESIDENT], ids=["fund_admin", "resident"])
def world(request, api, stripe_app, make_community, make_member):
    """A community to call into, on an app whose Stripe is the fake one (a deployment
    without Stripe answers its donations 503 by design)."""
    community = make_community(award_approval_threshold=1_000_000)
    admin = make_member(community, Role.FUND_ADMIN)
    resident = make_member(community)
    organizer = make_member(community, Role.ORGANIZER)
    shop = communities.create_merchant(community, name="便民超市", category="超市")
    make_member(community, Role.MERCHANT_STAFF, merchant_id=shop.id)
    offer = offers.create_offer(shop, title="九折", kind=OfferKind.DISCOUNT, discount_percent=10)
    coupon = issued_coupon(community, admin, resident)
    now = utcnow()
    activity = (
        api.as_(organizer)
        .post(
            f"/communities/{community.slug}/activities",
            json={
                "title": "清扫",
                "category": "environment",
                "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(hours=1)).isoformat(),
                "points": 10,
            },
        )
        .json
    )
    caller = admin if request.param == Role.FUND_ADMIN else resident
    _SESSION_APP.target = api.client.application
    KNOWN.clear()
    KNOWN.update(
        slug=community.slug,
        member_id=resident.id,
        merchant_id=shop.id,
        offer_id=offer.id,
        coupon_id=coupon.id,
        activity_id=activity["id"],
        rule_id=coupon.rule_id,
        token=api.as_(caller).token,
    )


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_input_answers_5xx(case, world):
    case.call_and_validate()
