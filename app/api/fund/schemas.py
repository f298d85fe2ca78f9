import marshmallow as ma

from models import DonationStatus, Fund, IncomeSource, IncomeStatus, RefundOrigin, RefundStatus

from ... import fields
from ...money import format_fen

#: The largest amount one entry may carry, in fen (¥10,000,000): anything above is a typing slip.
MAX_ENTRY_FEN = 1_000_000_000


class Shown(ma.fields.String):
    """An amount in fen as the pages show it: ``¥1,234.56`` (read only)."""

    def __init__(self, attribute: str, **kwargs):
        super().__init__(attribute=attribute, dump_only=True, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else format_fen(value)


class FundOut(ma.Schema):
    fund = ma.fields.Enum(Fund, by_value=True)
    name = ma.fields.String()
    cash_fen = fields.Integer()
    payable_fen = fields.Integer(
        metadata={"description": "owed to merchants (reimbursing fund only)"}
    )
    paid_out_fen = fields.Integer()
    reimburses_merchants = ma.fields.Boolean()
    shown = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class FundsOut(ma.Schema):
    community = ma.fields.String()
    reimbursing_fund = ma.fields.Enum(Fund, by_value=True)
    funds = ma.fields.List(ma.fields.Nested(FundOut))


class DonationIn(ma.Schema):
    amount_fen = fields.Integer(required=True)
    fund = ma.fields.Enum(Fund, by_value=True, required=True)
    donor_name = ma.fields.String(load_default=None, validate=ma.validate.Length(max=100))
    message = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500))


class DonationStarted(ma.Schema):
    id = fields.Integer()
    donation_id = fields.Integer()
    payment_intent_id = ma.fields.String()
    client_secret = ma.fields.String()
    status = ma.fields.Enum(DonationStatus, by_value=True)
    amount_fen = fields.Integer()
    fund = ma.fields.Enum(Fund, by_value=True)


class DonationOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    fund = ma.fields.Enum(Fund, by_value=True)
    amount_fen = fields.Integer()
    fee_fen = fields.Integer(allow_none=True)
    refunded_fen = fields.Integer()
    donor_name = ma.fields.String(allow_none=True)
    message = ma.fields.String(allow_none=True)
    status = ma.fields.Enum(DonationStatus, by_value=True)
    payment_intent_id = ma.fields.String(allow_none=True)
    charge_id = ma.fields.String(allow_none=True)
    transaction_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    succeeded_at = fields.AwareDateTime(allow_none=True)
    amount_shown = Shown("amount_fen")


class DonationStatusOut(ma.Schema):
    """What the public page may know: no donor, no message."""

    donation_id = fields.Integer(attribute="id")
    status = ma.fields.Enum(DonationStatus, by_value=True)
    fund = ma.fields.Enum(Fund, by_value=True)
    amount_fen = fields.Integer()
    amount_shown = Shown("amount_fen")


class DonationListArgs(ma.Schema):
    cursor = ma.fields.String()
    limit = fields.QueryInteger(validate=ma.validate.Range(min=1, max=200))
    status = ma.fields.Enum(DonationStatus, by_value=True)


class RefundIn(ma.Schema):
    amount_fen = fields.Integer(
        load_default=None,
        validate=ma.validate.Range(min=1, max=MAX_ENTRY_FEN),
        metadata={"description": "what is left of the donation when omitted"},
    )


class RefundOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    donation_id = fields.Integer()
    amount_fen = fields.Integer()
    refund_id = ma.fields.String()
    status = ma.fields.Enum(RefundStatus, by_value=True)
    origin = ma.fields.Enum(RefundOrigin, by_value=True)
    transaction_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    amount_shown = Shown("amount_fen")


class RefundListArgs(ma.Schema):
    cursor = ma.fields.String()
    limit = fields.QueryInteger(validate=ma.validate.Range(min=1, max=200))
    status = ma.fields.Enum(RefundStatus, by_value=True)


class EventReceiptOut(ma.Schema):
    event_id = ma.fields.String()
    type = ma.fields.String()
    outcome = ma.fields.String()
    duplicate = ma.fields.Boolean()


class IncomeIn(ma.Schema):
    amount_fen = fields.Integer(required=True, validate=ma.validate.Range(min=1, max=MAX_ENTRY_FEN))
    fund = ma.fields.Enum(Fund, by_value=True, required=True)
    source = ma.fields.Enum(IncomeSource, by_value=True, required=True)
    reference = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    note = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500))


class IncomeOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    fund = ma.fields.Enum(Fund, by_value=True)
    amount_fen = fields.Integer()
    source = ma.fields.Enum(IncomeSource, by_value=True)
    reference = ma.fields.String()
    note = ma.fields.String(allow_none=True)
    status = ma.fields.Enum(IncomeStatus, by_value=True)
    recorded_by_id = fields.Integer()
    transaction_id = fields.Integer(allow_none=True)
    reversal_transaction_id = fields.Integer(allow_none=True)
    reversal_reason = ma.fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    reversed_at = fields.AwareDateTime(allow_none=True)
    amount_shown = Shown("amount_fen")


class IncomeListArgs(ma.Schema):
    cursor = ma.fields.String()
    limit = fields.QueryInteger(validate=ma.validate.Range(min=1, max=200))
    fund = ma.fields.Enum(Fund, by_value=True)


class ReversalIn(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
