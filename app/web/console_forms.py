"""Forms of the fund admins' console and the platform's pages.

Each field says what is wrong with it in the reader's language; the domain
checks again, and a refusal it names lands on the field it is about
(:func:`refuse_into`).
"""

from flask import g
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from models import OfferKind, Role

from .. import communities
from ..communities import MIN_PASSWORD_LENGTH
from ..extensions import db
from ..problems import Problem
from . import in_readers_language


def _strip(value):
    return value.strip() if isinstance(value, str) else value


USERNAME = Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{1,79}$",
    message=_l(
        "2 to 80 letters, digits, dots, dashes or underscores, starting with one of the first two."
    ),
)

PASSWORD_LENGTH = Length(
    min=MIN_PASSWORD_LENGTH,
    max=200,
    message=_l("At least %(num)s characters.", num=MIN_PASSWORD_LENGTH),
)

ROLE_LABELS = {
    Role.RESIDENT: _l("Resident volunteer"),
    Role.ORGANIZER: _l("Organizer"),
    Role.MERCHANT_STAFF: _l("Merchant staff"),
    Role.FUND_ADMIN: _l("Community fund admin"),
}


def role_choices(include_fund_admin: bool) -> list[SelectChoice]:
    return [
        SelectChoice(role.value, label)
        for role, label in ROLE_LABELS.items()
        if include_fund_admin or role != Role.FUND_ADMIN
    ]


class StaffChoice:
    """Merchant staff need their shop; nobody else has one."""

    def validate_merchant(self, field):
        if self.role.data == Role.MERCHANT_STAFF.value and not field.data:
            raise ValidationError(_l("Choose the shop this cashier works at."))


class MemberForm(StaffChoice, FlaskForm):
    username = StringField(
        _l("Username (to sign in)"),
        validators=[DataRequired(_l("Please give a username.")), USERNAME],
        filters=[_strip],
    )
    display_name = StringField(
        _l("Name shown"),
        validators=[DataRequired(_l("Please give the name shown.")), Length(max=200)],
        filters=[_strip],
    )
    password = PasswordField(
        _l("First password"),
        validators=[DataRequired(_l("Please give a first password.")), PASSWORD_LENGTH],
    )
    role = SelectField(_l("Role"), validators=[InputRequired()])
    merchant = SelectField(_l("Shop (merchant staff only)"), coerce=str, validate_choice=False)


class PasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Please give the new password.")), PASSWORD_LENGTH],
    )


class RoleForm(StaffChoice, FlaskForm):
    role = SelectField(_l("New role"), validators=[InputRequired()])
    merchant = SelectField(_l("Shop (merchant staff only)"), coerce=str, validate_choice=False)


class MerchantForm(FlaskForm):
    name = StringField(
        _l("Shop name"),
        validators=[DataRequired(_l("Please give the shop's name.")), Length(max=200)],
        filters=[_strip],
    )
    category = StringField(
        _l("Kind of shop"),
        validators=[DataRequired(_l("Please say what kind of shop it is.")), Length(max=100)],
        filters=[_strip],
    )
    address = StringField(_l("Address"), validators=[Length(max=300)], filters=[_strip])
    opening_hours = StringField(_l("Opening hours"), validators=[Length(max=200)], filters=[_strip])
    phone = StringField(_l("Phone"), validators=[Length(max=40)], filters=[_strip])


class MerchantProfileForm(MerchantForm):
    active = BooleanField(_l("Active partner (accepts coupons and pay-codes)"))


class StaffForm(FlaskForm):
    username = MemberForm.username
    display_name = MemberForm.display_name
    password = MemberForm.password


class OfferForm(FlaskForm):
    title = StringField(
        _l("Offer"),
        validators=[DataRequired(_l("Please name the offer.")), Length(max=200)],
        filters=[_strip],
    )
    kind = RadioField(
        _l("Kind of offer"),
        choices=[
            SelectChoice(OfferKind.WELFARE.value, _l("Free (public welfare)")),
            SelectChoice(OfferKind.LOW_COST.value, _l("A low price instead")),
            SelectChoice(OfferKind.DISCOUNT.value, _l("A discount")),
        ],
        default=OfferKind.DISCOUNT.value,
    )
    discount_percent = IntegerField(
        _l("Percent off (discount only)"),
        validators=[Optional(), NumberRange(min=1, max=100, message=_l("From 1 to 100."))],
    )
    price = DecimalField(
        _l("Low price in yuan (low price only)"),
        places=2,
        validators=[
            Optional(),
            NumberRange(min=0, max=100_000, message=_l("From ¥0 to ¥100,000.")),
        ],
    )
    max_points_per_bill = IntegerField(
        _l("Most points on one bill (leave empty for no limit)"),
        validators=[Optional(), NumberRange(min=1, message=_l("At least 1."))],
    )
    description = TextAreaField(_l("Description"), validators=[Length(max=1000)], filters=[_strip])
    active_until = DateField(_l("Last day (leave empty for no end)"), validators=[Optional()])

    def validate(self, extra_validators=None) -> bool:
        """The kind's own terms: a discount needs its percent, a low price its price (the
        fields are optional on their own, so this is checked here)."""
        valid = super().validate(extra_validators)
        kind = self.kind.data
        if kind == OfferKind.DISCOUNT.value and self.discount_percent.data is None:
            self.discount_percent.errors.append(_l("A discount needs its percent."))
            valid = False
        if kind == OfferKind.LOW_COST.value and self.price.data is None:
            self.price.errors.append(_l("A low-price offer needs its price."))
            valid = False
        price = self.price.data
        if price is not None and price != round(price, 2):
            self.price.errors.append(_l("At most two decimals."))
            valid = False
        return valid

    def terms(self) -> dict:
        """The offer's fields as :func:`app.offers.create_offer` takes them; fen, not yuan."""
        kind = OfferKind(self.kind.data)
        return dict(
            title=self.title.data,
            kind=kind,
            discount_percent=self.discount_percent.data if kind == OfferKind.DISCOUNT else None,
            price_fen=int(self.price.data * 100) if kind == OfferKind.LOW_COST else None,
            max_points_per_bill=self.max_points_per_bill.data,
            description=self.description.data or "",
            active_until=self.active_until.data,
        )


class ReasonForm(FlaskForm):
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(_l("Please give a reason.")), Length(max=400)],
        filters=[_strip],
    )


class GroupForm(FlaskForm):
    name = StringField(
        _l("Group name"),
        validators=[DataRequired(_l("Please name the group.")), Length(max=200)],
        filters=[_strip],
    )
    merchants = SelectMultipleField(
        _l("Shops in the group"),
        coerce=int,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


class GroupMemberForm(FlaskForm):
    merchant = SelectField(_l("Shop"), coerce=int)


class AwardForm(FlaskForm):
    member = StringField(
        _l("Member (username)"),
        validators=[DataRequired(_l("Please give the member's username."))],
        filters=[_strip],
    )
    direction = RadioField(
        _l("Award or deduct"),
        choices=[
            SelectChoice("award", _l("Award points")),
            SelectChoice("deduct", _l("Deduct points")),
        ],
        default="award",
    )
    points = IntegerField(
        _l("Points"),
        validators=[
            InputRequired(_l("Please give the points.")),
            NumberRange(min=1, max=1_000_000, message=_l("From 1 to 1,000,000.")),
        ],
    )
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(_l("Please give a reason.")), Length(max=500)],
        filters=[_strip],
    )

    def signed_points(self) -> int:
        return -self.points.data if self.direction.data == "deduct" else self.points.data


class SettingsForm(FlaskForm):
    monthly_earning_cap = IntegerField(
        _l("Most points one member may earn in a month (leave empty for no limit)"),
        validators=[Optional(), NumberRange(min=0, message=_l("Zero or more."))],
    )
    award_approval_threshold = IntegerField(
        _l("Awards and deductions above this many points need a second fund admin"),
        validators=[
            InputRequired(_l("Please give the number of points.")),
            NumberRange(min=0, message=_l("Zero or more.")),
        ],
    )


class RateForm(FlaskForm):
    points_per_yuan = IntegerField(
        _l("Points worth ¥1"),
        validators=[
            InputRequired(_l("Please give the points worth ¥1.")),
            NumberRange(min=1, max=100_000, message=_l("From 1 to 100,000.")),
        ],
    )
    effective_from = DateField(
        _l("From"), validators=[InputRequired(_l("Please choose the first day."))]
    )


class CommunityForm(FlaskForm):
    slug = StringField(
        _l("Short name for addresses"),
        validators=[
            DataRequired(_l("Please give a short name.")),
            Regexp(
                r"^[a-z0-9][a-z0-9-]{1,63}$",
                message=_l("2 to 64 small letters, digits or dashes."),
            ),
        ],
        filters=[_strip],
    )
    name = StringField(
        _l("Community name"),
        validators=[DataRequired(_l("Please give the community's name.")), Length(max=200)],
        filters=[_strip],
    )
    points_per_yuan = IntegerField(
        _l("Points worth ¥1"),
        default=50,
        validators=[
            InputRequired(_l("Please give the points worth ¥1.")),
            NumberRange(min=1, max=100_000, message=_l("From 1 to 100,000.")),
        ],
    )
    admin_username = StringField(
        _l("First fund admin: username"),
        validators=[DataRequired(_l("Please give a username.")), USERNAME],
        filters=[_strip],
    )
    admin_name = StringField(
        _l("First fund admin: name shown"),
        validators=[DataRequired(_l("Please give the name shown.")), Length(max=200)],
        filters=[_strip],
    )
    admin_password = PasswordField(
        _l("First fund admin: first password"),
        validators=[DataRequired(_l("Please give a first password.")), PASSWORD_LENGTH],
    )


class FundAdminForm(FlaskForm):
    username = MemberForm.username
    display_name = MemberForm.display_name
    password = MemberForm.password


class PromoteForm(FlaskForm):
    username = StringField(
        _l("Member (username)"),
        validators=[DataRequired(_l("Please give the member's username."))],
        filters=[_strip],
    )


def refuse_into(
    form: FlaskForm, problem: Problem, fallback: str, names: dict[str, str] | None = None
) -> None:
    """Put a domain refusal next to the field it names (else ``fallback``; ``names`` maps
    the domain's field names to the form's), in the reader's words: the problem's
    message, or its detail when that is translated."""
    said = problem.shown
    if not in_readers_language(said):
        said = str(_l("Please check this field."))
    named = [
        (names or {}).get(name, name)
        for name in ((problem.extra.get("errors") or {}).get("json") or {})
    ]
    fields = [name for name in named if name in form._fields] or [fallback]
    for name in fields:
        form[name].errors = [*form[name].errors, said]


def add_member(
    form: FlaskForm, community, role: Role, names: dict[str, str] | None = None, **fields
):
    """The member a form with ``username``, ``password`` and ``display_name`` asks for,
    created by the signed-in actor; or None, with the refusal next to its field."""
    if communities.username_taken(form.username.data):
        form.username.errors.append(_l("This username is taken."))
        return None
    try:
        return communities.create_member(
            community,
            username=form.username.data,
            password=form.password.data,
            display_name=form.display_name.data,
            role=role,
            actor=g.actor,
            **fields,
        )
    except Problem as problem:
        db.session.rollback()
        refuse_into(form, problem, "username", names)
        return None
