import marshmallow as ma

from models import DonationStatus, Fund, IncomeSource, IncomeStatus, RefundOrigin, RefundStatus

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
    cash_fen = ma.fields.Integer()
    payable_fen = ma.fields.Integer(
        metadata={"description": "owed to merchants (reimbursing fund only)"}
    )
    paid_out_fen = ma.fields.Integer()
    reimburses_merchants = ma.fields.Boolean()
    shown = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class FundsOut(ma.Schema):
    community = ma.fields.String()
    reimbursing_fund = ma.fields.Enum(Fund, by_value=True)
    funds = ma.fields.List(ma.fields.Nested(FundOut))


class DonationIn(ma.Schema):
    amount_fen = ma.fields.Integer(required=True, strict=True)
    fund = ma.fields.Enum(Fund, by_value=True, required=True)
    donor_name = ma.fields.String(load_default=None, validate=ma.validate.Length(max=100))
    message = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500))


class DonationStarted(ma.Schema):
    id = ma.fields.Integer()
    donation_id = ma.fields.Integer()
    payment_intent_id = ma.fields.String()
    client_secret = ma.fields.String()
    status = ma.fields.Enum(DonationStatus, by_value=True)
    amount_fen = ma.fields.Integer()
    fund = ma.fields.Enum(Fund, by_value=True)


class DonationOut(ma.Schema):
    id = ma.fields.Integer()
    community_id = ma.fields.Integer()
    fund = ma.fields.Enum(Fund, by_value=True)
    amount_fen = ma.fields.Integer()
    fee_fen = ma.fields.Integer(allow_none=True)
    refunded_fen = ma.fields.Integer()
    donor_name = ma.fields.String(allow_none=True)
    message = ma.fields.String(allow_none=True)
    status = ma.fields.Enum(DonationStatus, by_value=True)
    payment_intent_id = ma.fields.String(allow_none=True)
    charge_id = ma.fields.String(allow_none=True)
    transaction_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    succeeded_at = ma.fields.AwareDateTime(allow_none=True)
    amount_shown = Shown("amount_fen")


class DonationStatusOut(ma.Schema):
    """What the public page may know: no donor, no message."""

    donation_id = ma.fields.Integer(attribute="id")
    status = ma.fields.Enum(DonationStatus, by_value=True)
    fund = ma.fields.Enum(Fund, by_value=True)
    amount_fen = ma.fields.Integer()
    amount_shown = Shown("amount_fen")


class DonationListArgs(ma.Schema):
    cursor = ma.fields.String()
    limit = ma.fields.Integer(validate=ma.validate.Range(min=1, max=200))
    status = ma.fields.Enum(DonationStatus, by_value=True)


class RefundIn(ma.Schema):
    amount_fen = ma.fields.Integer(
        load_default=None,
        strict=True,
        validate=ma.validate.Range(min=1, max=MAX_ENTRY_FEN),
        metadata={"description": "what is left of the donation when omitted"},
    )


class RefundOut(ma.Schema):
    id = ma.fields.Integer()
    community_id = ma.fields.Integer()
    donation_id = ma.fields.Integer()
    amount_fen = ma.fields.Integer()
    refund_id = ma.fields.String()
    status = ma.fields.Enum(RefundStatus, by_value=True)
    origin = ma.fields.Enum(RefundOrigin, by_value=True)
    transaction_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    amount_shown = Shown("amount_fen")


class RefundListArgs(ma.Schema):
    cursor = ma.fields.String()
    limit = ma.fields.Integer(validate=ma.validate.Range(min=1, max=200))
    status = ma.fields.Enum(RefundStatus, by_value=True)


class EventReceiptOut(ma.Schema):
    event_id = ma.fields.String()
    type = ma.fields.String()
    outcome = ma.fields.String()
    duplicate = ma.fields.Boolean()


class IncomeIn(ma.Schema):
    amount_fen = ma.fields.Integer(
        required=True, strict=True, validate=ma.validate.Range(min=1, max=MAX_ENTRY_FEN)
    )
    fund = ma.fields.Enum(Fund, by_value=True, required=True)
    source = ma.fields.Enum(IncomeSource, by_value=True, required=True)
    reference = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    note = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500))


class IncomeOut(ma.Schema):
    id = ma.fields.Integer()
    community_id = ma.fields.Integer()
    fund = ma.fields.Enum(Fund, by_value=True)
    amount_fen = ma.fields.Integer()
    source = ma.fields.Enum(IncomeSource, by_value=True)
    reference = ma.fields.String()
    note = ma.fields.String(allow_none=True)
    status = ma.fields.Enum(IncomeStatus, by_value=True)
    recorded_by_id = ma.fields.Integer()
    transaction_id = ma.fields.Integer(allow_none=True)
    reversal_transaction_id = ma.fields.Integer(allow_none=True)
    reversal_reason = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    reversed_at = ma.fields.AwareDateTime(allow_none=True)
    amount_shown = Shown("amount_fen")


class IncomeListArgs(ma.Schema):
    cursor = ma.fields.String()
    limit = ma.fields.Integer(validate=ma.validate.Range(min=1, max=200))
    fund = ma.fields.Enum(Fund, by_value=True)


class ReversalIn(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
