"""The earning tests' clock: pinned and moved by the test. A pytest plugin: the
``clock`` fixture."""

from datetime import UTC, datetime, timedelta

import pytest

from app import activities, checkin_codes, finalization
from app import attendance as attending


class Clock:
    """What ``utcnow()`` answers in the earning code, moved by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The earning code's clock, pinned, so no request straddles two check-in windows.

    The ledger stamps its transactions with the real time, so tests keep the
    clock within minutes of it (the monthly cap compares the two).
    """
    pinned = Clock(datetime.now(UTC).replace(microsecond=0))
    for module in (activities, attending, finalization, checkin_codes):
        monkeypatch.setattr(module, "utcnow", pinned)
    return pinned
