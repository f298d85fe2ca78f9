"""Shared by the earning tests: a settable clock, activities made through the domain,
and reading QR images back with zxing-cpp."""

import io
import re
from datetime import UTC, datetime, timedelta

import zxingcpp
from PIL import Image, ImageDraw

from app import activities, checkin_codes, finalization
from app import attendance as attending
from models import ActivityCategory, PointsRule


class Clock:
    """What ``utcnow()`` answers in the earning code, moved by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def pin_clock(monkeypatch) -> Clock:
    """The earning tests' clock: pinned, so no request straddles two check-in windows.

    The ledger stamps its transactions with the real time, so tests keep the
    clock within minutes of it (the monthly cap compares the two).
    """
    pinned = Clock(datetime.now(UTC).replace(microsecond=0))
    for module in (activities, attending, finalization, checkin_codes):
        monkeypatch.setattr(module, "utcnow", pinned)
    return pinned


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
    return {"points_rule": PointsRule.PER_HOUR, "points": points, "max_points": max_points}


def decode_png(data: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))
    assert len(results) == 1, results
    return results[0].text


def decode_svg(data: bytes, scale: int = 8) -> str:
    """Rasterize the qrcode SVG (one path of unit squares ``Mx,yH..V..H..z``) and decode it."""
    text = data.decode()
    size = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', text)[1])
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    path = re.search(r'<path d="([^"]+)"', text)[1]
    for x, y in re.findall(r"M(\d+),(\d+)H", path):
        left, top = int(x) * scale, int(y) * scale
        draw.rectangle([left, top, left + scale - 1, top + scale - 1], fill=0)
    return decode_png(_png(image))


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
