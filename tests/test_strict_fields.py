"""Ids and amounts are strict integers: never coerced from a fraction, a text or
a bool, never beyond 64 bits; anything else is a 422 naming the field."""

import importlib
import pkgutil

import marshmallow as ma
import pytest
import sqlalchemy as sa

import app.api
from app import fields
from app.extensions import db
from models import Award, Community, Role


@pytest.mark.parametrize("member_id", [7.9, "7", True, 2**63, -(2**63) - 1, 0, -3, None])
def test_award_member_id_is_a_strict_positive_integer(api, make_community, make_member, member_id):
    community = make_community()
    admin = make_member(community, Role.FUND_ADMIN)
    make_member(community)

    response = api.as_(admin).post(
        f"/communities/{community.slug}/awards",
        json={"member_id": member_id, "points": 10, "reason": "志愿服务"},
        key=True,
    )

    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"
    assert "member_id" in response.json["errors"]["json"]
    awarded = sa.select(sa.func.count(Award.id)).where(Award.community_id == community.id)
    assert db.session.scalar(awarded) == 0


@pytest.mark.parametrize("points", [10.0, 10.5, "10", 2**64])
def test_award_points_are_not_coerced(api, make_community, make_member, points):
    community = make_community()
    admin = make_member(community, Role.FUND_ADMIN)
    resident = make_member(community)

    response = api.as_(admin).post(
        f"/communities/{community.slug}/awards",
        json={"member_id": resident.id, "points": points, "reason": "志愿服务"},
        key=True,
    )

    assert response.status_code == 422
    assert "points" in response.json["errors"]["json"]


@pytest.mark.parametrize("rate", [50.9, "50", 2**63])
def test_points_per_yuan_is_not_truncated(api, make_community, make_member, rate):
    platform = make_member(None, Role.PLATFORM_ADMIN)

    response = api.as_(platform).post(
        "/communities", json={"slug": "rate-test", "name": "x", "points_per_yuan": rate}
    )

    assert response.status_code == 422
    assert "points_per_yuan" in response.json["errors"]["json"]
    assert db.session.scalar(sa.select(Community).where(Community.slug == "rate-test")) is None


@pytest.mark.parametrize("limit", ["7.9", " 7", "+7", "7_0", "1e2", str(2**64), "0x10"])
def test_query_integers_take_plain_decimals_only(api, make_community, make_member, limit):
    community = make_community()
    admin = make_member(community, Role.FUND_ADMIN)

    response = api.as_(admin).get(f"/communities/{community.slug}/members?limit={limit}")

    assert response.status_code == 422
    assert "limit" in response.json["errors"]["query"]


def test_a_plain_decimal_query_integer_is_read(api, make_community, make_member):
    community = make_community()
    admin = make_member(community, Role.FUND_ADMIN)
    make_member(community)

    response = api.as_(admin).get(f"/communities/{community.slug}/members?limit=1")

    assert response.status_code == 200
    assert len(response.json["items"]) == 1


def _schemas():
    for info in pkgutil.walk_packages(app.api.__path__, "app.api."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, ma.Schema) and value is not ma.Schema:
                yield value


def _fields(field):
    yield field
    if isinstance(field, ma.fields.List):
        yield from _fields(field.inner)


def test_every_schema_takes_its_numbers_and_times_from_the_shared_fields():
    loose = []
    for schema in set(_schemas()):
        for name, declared in schema().fields.items():
            for field in _fields(declared):
                if isinstance(field, ma.fields.Float):
                    strict = field.dump_only  # a computed figure, never read from a request
                else:
                    strict = not isinstance(field, ma.fields.Number) or isinstance(
                        field, fields.Integer
                    )
                if not strict:
                    loose.append(f"{schema.__name__}.{name}")
                if isinstance(field, ma.fields.Date | ma.fields.DateTime) and not isinstance(
                    field, fields.Date | fields.AwareDateTime
                ):
                    loose.append(f"{schema.__name__}.{name}")
    assert loose == []
