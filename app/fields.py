"""The numbers and times every schema takes, the API's and the pages' alike, defined once.

Ids, points and fen are integers the database stores in signed 64 bits. An
input field takes a JSON integer and nothing else: not ``7.9`` (which would
quietly become 7), not ``"7"``, not ``true``, and nothing beyond 64 bits (which
the database could not store and would answer with an error instead of a 422).
Query strings and paths carry text, so :class:`QueryInteger` takes the plain
decimal spelling of such an integer there, and nothing looser (``" 7"``,
``"+7"``, ``"7_000"`` and ``"7.0"`` are refused, though Python's ``int`` reads
them).

Dates and times are bounded too: a year Python or PostgreSQL cannot hold, or
one where a day's arithmetic overflows, is a 422 naming the field.
"""

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import marshmallow as ma

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

#: Dates and times outside these bounds are refused: nothing in Jifen happens
#: before the epoch or after the year 2999, and the margin keeps date arithmetic
#: (a coupon valid for days, a month's end) far from Python's year 9999.
EARLIEST = date(1970, 1, 1)
LATEST = date(2999, 12, 31)

#: A time given without an offset is read as the communities' local time.
SHANGHAI = ZoneInfo("Asia/Shanghai")

_DECIMAL = re.compile(r"-?[0-9]{1,19}")


class Integer(ma.fields.Integer):
    """A JSON integer within signed 64 bits, and within ``minimum``..``maximum``."""

    default_error_messages = {
        "invalid": "Not a valid integer: give a whole number, not text or a fraction.",
    }

    def __init__(self, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX, **kwargs):
        self.minimum, self.maximum = max(minimum, INT64_MIN), min(maximum, INT64_MAX)
        given = kwargs.pop("validate", None)
        given = [] if given is None else given if isinstance(given, list) else [given]
        bounds = ma.validate.Range(min=self.minimum, max=self.maximum)
        super().__init__(strict=True, validate=[bounds, *given], **kwargs)


def Id(**kwargs) -> Integer:  # noqa: N802 (a field factory reads like a field class)
    """A row's id: a positive 64-bit integer."""
    return Integer(minimum=1, **kwargs)


class QueryInteger(Integer):
    """An integer in a query string: its plain decimal spelling only."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.strict = False

    def _validated(self, value):
        if isinstance(value, str) and not _DECIMAL.fullmatch(value):
            raise self.make_error("invalid", input=value)
        if not isinstance(value, (int, str)):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class _Bounded:
    """Refuses dates outside :data:`EARLIEST`..:data:`LATEST`."""

    bound_message = "Give a date between 1970-01-01 and 2999-12-31."

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and "\x00" in value:
            raise ma.ValidationError(self.bound_message)
        try:
            parsed = super()._deserialize(value, attr, data, **kwargs)
        except OverflowError as error:
            raise ma.ValidationError(self.bound_message) from error
        day = parsed.date() if isinstance(parsed, datetime) else parsed
        if not EARLIEST <= day <= LATEST:
            raise ma.ValidationError(self.bound_message)
        if isinstance(parsed, datetime):
            try:
                parsed.astimezone(UTC)
            except OverflowError as error:
                raise ma.ValidationError(self.bound_message) from error
        return parsed


class Date(_Bounded, ma.fields.Date):
    """A calendar day, ``YYYY-MM-DD``."""


class AwareDateTime(_Bounded, ma.fields.AwareDateTime):
    """An ISO 8601 moment; without an offset it is read as Asia/Shanghai time."""

    def __init__(self, **kwargs):
        kwargs.setdefault("default_timezone", SHANGHAI)
        super().__init__(**kwargs)
