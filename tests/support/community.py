"""A community to test in, as fixtures (a pytest plugin): its fund admin, a resident,
a shop with its cashier, and the cashier's till on the API.

A test module that defines one of these names (say its own ``community``) gets its
own, and the others here build on it.
"""

import pytest

from app import communities
from models import Role


@pytest.fixture
def community(make_community):
    """A community whose awards post at once (no second admin needed)."""
    return make_community(award_approval_threshold=1_000_000)


@pytest.fixture
def admin(make_member, community):
    return make_member(community, Role.FUND_ADMIN)


@pytest.fixture
def resident(make_member, community):
    return make_member(community)


@pytest.fixture
def shop(community):
    return communities.create_merchant(community, name="微街长便民超市", category="超市")


@pytest.fixture
def cashier(make_member, community, shop):
    """A member of ``shop``'s staff, who redeems at its till."""
    return make_member(community, Role.MERCHANT_STAFF, merchant_id=shop.id)


@pytest.fixture
def till(api, cashier):
    """The cashier, on the API."""
    return api.as_(cashier)
