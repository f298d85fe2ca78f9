"""The fund pages' forms (Flask-WTF: each carries its CSRF token and a key of its own)."""

import re
import uuid

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from models import Fund, IncomeSource

from ..fund import FUND_NAMES, INCOME_SOURCE_NAMES

YUAN = re.compile(r"^\s*(\d{1,9})(?:\.(\d{1,2}))?\s*$")


def yuan_to_fen(text: str | None) -> int | None:
    """``"1,234.5"`` -> ``123450``; None for anything that is not an amount in yuan."""
    match = YUAN.match((text or "").replace(",", "").replace("¥", ""))
    if match is None:
        return None
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


class YuanField(StringField):
    """An amount typed in yuan (``12.50``), available as ``fen``."""

    @property
    def fen(self) -> int | None:
        return yuan_to_fen(self.data)


def positive_yuan(_form, field):
    if field.data and (field.fen is None or field.fen <= 0):
        raise ValidationError(_l("An amount in yuan, such as 12.50."))


class OnceForm(FlaskForm):
    """A form with a key made when it is shown: sent twice, it acts once."""

    form_key = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.form_key.data:
            self.form_key.data = uuid.uuid4().hex


class IncomeForm(OnceForm):
    amount = YuanField(
        _l("Amount (yuan)"),
        validators=[DataRequired(_l("Please enter the amount.")), positive_yuan],
    )
    fund = SelectField(
        _l("Fund"), choices=[SelectChoice(fund.value, name) for fund, name in FUND_NAMES.items()]
    )
    source = SelectField(
        _l("Source"),
        choices=[SelectChoice(source.value, name) for source, name in INCOME_SOURCE_NAMES.items()],
    )
    reference = StringField(
        _l("Reference (receipt or sale)"),
        validators=[
            DataRequired(_l("Please give the receipt or sale it comes from.")),
            Length(max=100),
        ],
        filters=[lambda value: value.strip() if value else value],
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])

    @property
    def chosen_fund(self) -> Fund:
        return Fund(self.fund.data)

    @property
    def chosen_source(self) -> IncomeSource:
        return IncomeSource(self.source.data)


class ReversalForm(OnceForm):
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(_l("Please say why it is reversed.")), Length(max=500)],
        filters=[lambda value: value.strip() if value else value],
    )


class RefundForm(OnceForm):
    amount = YuanField(
        _l("Amount to refund (yuan; empty for all that is left)"),
        validators=[Optional(), positive_yuan],
    )
