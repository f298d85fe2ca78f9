"""Activities made through the domain, as an organizer would, and a community whose
members take part through the API, for the earning tests."""

from datetime import datetime, timedelta

from app import activities
from models import Activity, ActivityCategory, PointsRule, Role


def make_activity(
    community,
    organizer,
    *,
    now: datetime,
    publish=True,
    title="北新街清扫",
    category=ActivityCategory.ENVIRONMENT,
    starts=timedelta(minutes=-10),
    hours=2,
    points=50,
    **fields,
):
    """An activity starting ``starts`` from ``now``, published unless told otherwise."""
    activity = activities.create_activity(
        community,
        actor=organizer,
        title=title,
        category=category,
        starts_at=now + starts,
        ends_at=now + starts + timedelta(hours=hours),
        points=points,
        **fields,
    )
    if publish:
        activities.publish(activity)
    return activity


def per_hour(points=10, max_points=30) -> dict:
    """The fields of an activity that awards ``points`` an hour, at most ``max_points``."""
    return {"points_rule": PointsRule.PER_HOUR, "points": points, "max_points": max_points}


class Setting:
    """A community with an organizer, a fund admin and two residents, and their API clients."""

    def __init__(self, api, make_community, make_member, **community_fields):
        self.community = make_community(**community_fields)
        self.organizer = make_member(self.community, Role.ORGANIZER)
        self.fund = make_member(self.community, Role.FUND_ADMIN)
        self.resident = make_member(self.community, display_name="王秀兰")
        self.neighbour = make_member(self.community, display_name="李建国")
        self.api = api
        self.as_organizer = api.as_(self.organizer)
        self.as_fund = api.as_(self.fund)
        self.as_resident = api.as_(self.resident)
        self.as_neighbour = api.as_(self.neighbour)

    def activity(self, now, **fields) -> Activity:
        return make_activity(self.community, self.organizer, now=now, **fields)

    def code(self, activity) -> dict:
        response = self.as_organizer.get(f"/activities/{activity.id}/check-in-code")
        assert response.status_code == 200, response.json
        return response.json

    def balance(self, member) -> int:
        return self.api.as_(member).get(f"/members/{member.id}/balance").json["points"]
