"""Forms of the earning pages (Flask-WTF: each carries its CSRF token)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from models import ActivityCategory, PointsRule

from .earning_labels import CATEGORY_LABELS


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class ActivityForm(FlaskForm):
    title = StringField(
        _l("Title"),
        validators=[DataRequired(_l("Please give the activity a title.")), Length(max=200)],
        filters=[_strip],
    )
    category = SelectField(
        _l("Kind of work"),
        choices=[
            SelectChoice(category.value, label) for category, label in CATEGORY_LABELS.items()
        ],
        validators=[InputRequired()],
    )
    starts_at = DateTimeLocalField(
        _l("Starts"),
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired(_l("Please give the start date and time."))],
    )
    ends_at = DateTimeLocalField(
        _l("Ends"),
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired(_l("Please give the end date and time."))],
    )
    place = StringField(_l("Place"), validators=[Length(max=200)], filters=[_strip])
    description = TextAreaField(_l("Description"), validators=[Length(max=2000)], filters=[_strip])
    capacity = IntegerField(
        _l("Places (leave empty for no limit)"),
        validators=[Optional(), NumberRange(min=1, max=100_000)],
    )
    points_rule = RadioField(
        _l("How points are given"),
        choices=[
            SelectChoice(PointsRule.FIXED.value, _l("A fixed number per attendance")),
            SelectChoice(PointsRule.PER_HOUR.value, _l("Per hour attended, up to a maximum")),
        ],
        default=PointsRule.FIXED.value,
    )
    points = IntegerField(
        _l("Points (per attendance, or per hour)"),
        validators=[
            InputRequired(_l("Please give the points.")),
            NumberRange(min=1, max=1_000_000, message=_l("At least 1 point.")),
        ],
    )
    max_points = IntegerField(
        _l("Most points for one attendance (per-hour rule only)"),
        validators=[Optional(), NumberRange(min=1, max=1_000_000)],
    )

    def domain_values(self, zone) -> dict:
        """The fields as :func:`app.activities.create_activity` takes them."""
        per_hour = self.points_rule.data == PointsRule.PER_HOUR.value
        return dict(
            title=self.title.data,
            category=ActivityCategory(self.category.data),
            starts_at=self.starts_at.data.replace(tzinfo=zone),
            ends_at=self.ends_at.data.replace(tzinfo=zone),
            place=self.place.data or "",
            description=self.description.data or "",
            capacity=self.capacity.data,
            points_rule=PointsRule(self.points_rule.data),
            points=self.points.data,
            max_points=self.max_points.data if per_hour else None,
        )


class CodeForm(FlaskForm):
    """The resident types the code shown on the organizer's screen."""

    code = StringField(
        _l("Check-in code"),
        validators=[DataRequired(_l("Please type the code on the organizer's screen."))],
        filters=[_strip],
    )


class MemberCodeForm(FlaskForm):
    """The organizer checks a resident in: a scanned member code (a handheld scanner
    types it), or the button beside a signed-up name, which sends ``member_id``."""

    member_code = StringField(_l("Member code"), validators=[Optional()], filters=[_strip])
    member_id = IntegerField(widget=HiddenInput(), validators=[Optional()])

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        return bool(self.member_code.data) != bool(self.member_id.data)

    def who(self) -> dict:
        """The request as :func:`app.attendance.record_check_in` takes it."""
        if self.member_id.data:
            return {"member_id": self.member_id.data}
        return {"member_code": self.member_code.data}


class ExcludeForm(FlaskForm):
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(_l("Please give a reason.")), Length(max=500)],
        filters=[_strip],
    )


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
