"""Activities made through the domain, as an organizer would, for the earning tests."""

from datetime import datetime, timedelta

from app import activities
from models import ActivityCategory, PointsRule


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
