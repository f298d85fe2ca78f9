import marshmallow as ma

from models import ActivityCategory, ActivityStatus, AttendanceStatus, CheckInMethod, PointsRule

from ... import fields

POINTS = ma.validate.Range(min=1, max=1_000_000)


class ActivityIn(ma.Schema):
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    category = ma.fields.Enum(ActivityCategory, by_value=True, required=True)
    place = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    starts_at = fields.AwareDateTime(
        required=True, metadata={"description": "ISO 8601; no offset = Asia/Shanghai"}
    )
    ends_at = fields.AwareDateTime(required=True)
    capacity = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(min=1, max=100_000),
        metadata={"description": "most participants; null for no limit"},
    )
    points_rule = ma.fields.Enum(PointsRule, by_value=True, load_default=PointsRule.FIXED)
    points = fields.Integer(
        required=True,
        validate=POINTS,
        metadata={"description": "per attendance (fixed) or per hour (per_hour)"},
    )
    max_points = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=POINTS,
        metadata={"description": "per_hour only: the most one attendance earns"},
    )


class ActivityOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    title = ma.fields.String()
    description = ma.fields.String()
    category = ma.fields.Enum(ActivityCategory, by_value=True)
    place = ma.fields.String()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    capacity = fields.Integer(allow_none=True)
    points_rule = ma.fields.Enum(PointsRule, by_value=True)
    points = fields.Integer()
    max_points = fields.Integer(allow_none=True)
    status = ma.fields.Enum(ActivityStatus, by_value=True)
    created_by_id = fields.Integer()
    created_at = fields.AwareDateTime()
    published_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    cancelled_at = fields.AwareDateTime(allow_none=True)
    finalized_at = fields.AwareDateTime(allow_none=True)


class ActivityDetailOut(ActivityOut):
    participants = fields.Integer(metadata={"description": "signed up or checked in"})
    places_left = fields.Integer(allow_none=True)
    signed_up = ma.fields.Boolean(metadata={"description": "whether the caller signed up"})


class ActivityListArgs(ma.Schema):
    cursor = ma.fields.String()
    limit = fields.QueryInteger(minimum=1, maximum=200)
    status = ma.fields.Enum(ActivityStatus, by_value=True)
    upcoming = ma.fields.Boolean(metadata={"description": "true: published and not yet ended"})


class FinalizeOut(ma.Schema):
    id = fields.Integer(metadata={"description": "the activity"})
    activity = ma.fields.Nested(ActivityOut)
    awarded = fields.Integer(metadata={"description": "attendances awarded by this call"})
    points_awarded = fields.Integer(metadata={"description": "points credited by this call"})
    capped = fields.Integer(metadata={"description": "awards the monthly cap cut"})
    excluded = fields.Integer()
    absent = fields.Integer(metadata={"description": "signed up, never checked in"})


class CheckInCodeOut(ma.Schema):
    code = ma.fields.String(metadata={"description": "the short code to type"})
    url = ma.fields.String(metadata={"description": "the QR payload: the check-in page"})
    window = fields.Integer()
    refresh_at = fields.AwareDateTime(metadata={"description": "when the next code shows"})
    valid_until = fields.AwareDateTime()
    refresh_in = ma.fields.Float(
        dump_only=True, metadata={"description": "seconds until refresh_at"}
    )


class WindowArgs(ma.Schema):
    window = fields.QueryInteger(
        metadata={"description": "the window of the code shown; default the current one"}
    )


class SignupOut(ma.Schema):
    id = fields.Integer()
    activity_id = fields.Integer()
    member_id = fields.Integer()
    created_at = fields.AwareDateTime()


class AttendanceIn(ma.Schema):
    """Exactly one of ``code``, ``member_id`` or ``member_code``."""

    code = ma.fields.String(
        validate=ma.validate.Length(min=1, max=500),
        metadata={"description": "the resident: the activity's rotating code or its QR payload"},
    )
    member_id = fields.Id(metadata={"description": "an organizer: the member to record"})
    member_code = ma.fields.String(
        validate=ma.validate.Length(min=1, max=200),
        metadata={"description": "an organizer: the scanned member QR"},
    )
    at = fields.AwareDateTime(
        metadata={"description": "an organizer recording someone: when it happened"}
    )


class AttendanceOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    activity_id = fields.Integer()
    member_id = fields.Integer()
    member_name = ma.fields.Function(lambda a: a.member.display_name)
    status = ma.fields.Enum(AttendanceStatus, by_value=True)
    checked_in_at = fields.AwareDateTime()
    checked_out_at = fields.AwareDateTime(allow_none=True)
    check_in_method = ma.fields.Enum(CheckInMethod, by_value=True)
    checked_in_by_id = fields.Integer()
    excluded_reason = ma.fields.String(allow_none=True)
    points_computed = fields.Integer(
        allow_none=True, metadata={"description": "what the rule gives, before the monthly cap"}
    )
    points_awarded = fields.Integer(allow_none=True)
    capped = ma.fields.Boolean()
    transaction_id = fields.Integer(allow_none=True)
    awarded_at = fields.AwareDateTime(allow_none=True)


class MemberAttendanceOut(AttendanceOut):
    activity = ma.fields.Nested(ActivityOut)


class ExcludeIn(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class MemberCodeOut(ma.Schema):
    member_id = fields.Integer()
    community_id = fields.Integer()
    code = ma.fields.String(metadata={"description": "the member QR payload"})


class EarningRules(ma.Schema):
    monthly_earning_cap = fields.Integer(
        required=True,
        allow_none=True,
        validate=ma.validate.Range(min=0, max=1_000_000_000),
        metadata={"description": "most points a member earns a month; null for no cap"},
    )
