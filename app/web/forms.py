"""Page forms (Flask-WTF: each carries its CSRF token)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    Form,
    FormField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from models import CouponFunding, ExpiryTarget, Validity


class LoginForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(_l("Please enter your username."))],
        filters=[lambda value: value.strip() if value else value],
    )
    password = PasswordField(
        _l("Password"), validators=[DataRequired(_l("Please enter your password."))]
    )


class TierForm(Form):
    """One step of a tiered coupon; both blank means no step."""

    min_points_earned = IntegerField(
        _l("Points earned, at least"),
        validators=[Optional(), NumberRange(min=1, message=_l("At least 1."))],
    )
    points = IntegerField(
        _l("Coupon points"), validators=[Optional(), NumberRange(min=1, message=_l("At least 1."))]
    )


class IssuanceRuleForm(FlaskForm):
    name = StringField(
        _l("Rule name"),
        validators=[DataRequired(_l("Please give the rule a name.")), Length(max=200)],
        filters=[lambda value: value.strip() if value else value],
    )
    min_points_earned = IntegerField(
        _l("Points earned in the month, at least"),
        validators=[Optional(), NumberRange(min=1, message=_l("At least 1."))],
    )
    min_attendances = IntegerField(
        _l("Or activities attended in the month, at least"),
        validators=[Optional(), NumberRange(min=1, message=_l("At least 1."))],
    )
    points = IntegerField(
        _l("Coupon points (the same for everyone)"),
        validators=[Optional(), NumberRange(min=1, message=_l("At least 1."))],
    )
    tiers = FieldList(FormField(TierForm), min_entries=3, max_entries=3)
    merchant_group = SelectField(_l("Where it can be spent"), coerce=str, validate_choice=True)
    validity = RadioField(
        _l("Valid for"),
        choices=[
            SelectChoice(Validity.END_OF_NEXT_MONTH.value, _l("Until the end of next month")),
            SelectChoice(Validity.DAYS.value, _l("A number of days")),
        ],
        default=Validity.END_OF_NEXT_MONTH.value,
    )
    valid_days = IntegerField(
        _l("Days"),
        validators=[Optional(), NumberRange(min=1, max=366, message=_l("From 1 to 366 days."))],
    )
    funding = RadioField(
        _l("Funded by"),
        choices=[
            SelectChoice(CouponFunding.GRANT.value, _l("The community (new points)")),
            SelectChoice(CouponFunding.CONVERT.value, _l("The resident's own points")),
        ],
        default=CouponFunding.GRANT.value,
    )
    on_expiry = RadioField(
        _l("Points left when it expires"),
        choices=[
            SelectChoice(ExpiryTarget.WALLET.value, _l("Go back to the resident's points")),
            SelectChoice(ExpiryTarget.EXPIRED.value, _l("Expire")),
        ],
        default=ExpiryTarget.WALLET.value,
    )

    def chosen_tiers(self) -> list[tuple[int, int]]:
        return [
            (tier.min_points_earned.data, tier.points.data)
            for tier in self.tiers
            if tier.min_points_earned.data is not None and tier.points.data is not None
        ]

    def validate(self, extra_validators=None) -> bool:
        """The rule's own checks, said in the reader's language."""
        valid = super().validate(extra_validators)
        if self.min_points_earned.data is None and self.min_attendances.data is None:
            self.min_points_earned.errors.append(
                _l("Say who gets a coupon: points earned, activities attended, or both.")
            )
            valid = False
        for tier in self.tiers:
            if (tier.min_points_earned.data is None) != (tier.points.data is None):
                tier.points.errors.append(_l("A step needs both numbers."))
                valid = False
        tiers = self.chosen_tiers()
        if (self.points.data is None) == (not tiers):
            self.points.errors.append(
                _l("Give the coupon's points, or steps by points earned, not both.")
            )
            valid = False
        if len({threshold for threshold, _ in tiers}) != len(tiers):
            self.tiers.errors.append(_l("Each step needs its own points earned."))
            valid = False
        if self.validity.data == Validity.DAYS.value and self.valid_days.data is None:
            self.valid_days.errors.append(_l("How many days?"))
            valid = False
        return valid


class IssuanceRunForm(FlaskForm):
    rule = SelectField(_l("Rule"), coerce=int, validate_choice=True)
    period = StringField(
        _l("Month"),
        validators=[
            DataRequired(_l("Please choose a month.")),
            Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", message=_l("A month such as 2026-10.")),
        ],
    )
