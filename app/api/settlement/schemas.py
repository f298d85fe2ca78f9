import marshmallow as ma

from models import PayoutMethod, PayoutStatus, StatementStatus

from ... import fields, payouts
from ...pagination import PageArgs
from ..communities.schemas import MerchantOut


class SettlementIn(ma.Schema):
    period = ma.fields.String(
        required=True, metadata={"description": "a finished month, YYYY-MM (Asia/Shanghai)"}
    )


class PayoutOut(ma.Schema):
    id = fields.Integer()
    number = fields.Integer(metadata={"description": "1 for the first attempt, then 2..."})
    method = ma.fields.Enum(PayoutMethod, by_value=True)
    status = ma.fields.Enum(PayoutStatus, by_value=True)
    amount_fen = fields.Integer()
    destination = ma.fields.String(
        allow_none=True, metadata={"description": "Stripe connected account"}
    )
    stripe_transfer_id = ma.fields.String(allow_none=True)
    bank_reference = ma.fields.String(allow_none=True)
    error = ma.fields.String(allow_none=True, metadata={"description": "Stripe's refusal"})
    return_reason = ma.fields.String(allow_none=True)
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    completed_at = fields.AwareDateTime(allow_none=True)
    returned_at = fields.AwareDateTime(allow_none=True)


class StatementOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    merchant_id = fields.Integer()
    merchant_name = ma.fields.Function(lambda s: s.merchant.name)
    period = ma.fields.String()
    status = ma.fields.Enum(StatementStatus, by_value=True)
    redemptions = fields.Integer(metadata={"description": "lines: redemptions settled"})
    points = fields.Integer()
    amount_fen = fields.Integer(metadata={"description": "sum of the lines' points_value_fen"})
    rounding_remainder = fields.Integer(
        metadata={"description": "hundredths of a point the floors left unconverted, summed"}
    )
    needs_second_approver = ma.fields.Boolean()
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    approved_by_id = fields.Integer(allow_none=True)
    approved_at = fields.AwareDateTime(allow_none=True)
    approval_transaction_id = fields.Integer(allow_none=True)
    rejected_by_id = fields.Integer(allow_none=True)
    rejected_at = fields.AwareDateTime(allow_none=True)
    reject_reason = ma.fields.String(allow_none=True)
    paid_at = fields.AwareDateTime(allow_none=True)
    payout_error = ma.fields.Function(
        payouts.last_error,
        allow_none=True,
        metadata={"description": "Stripe's refusal of the last attempt, while approved"},
    )
    return_reason = ma.fields.Function(
        payouts.return_reason,
        allow_none=True,
        metadata={"description": "why the payout came back, while returned"},
    )


class LineOut(ma.Schema):
    id = fields.Integer(metadata={"description": "the redemption"})
    created_at = fields.AwareDateTime()
    cashier_id = fields.Integer()
    points = fields.Integer()
    points_per_yuan = fields.Integer(metadata={"description": "the rate it stored"})
    points_value_fen = fields.Integer()
    rounding_remainder = fields.Integer(metadata={"description": "hundredths of a point"})


class StatementDetailOut(StatementOut):
    lines = ma.fields.List(ma.fields.Nested(LineOut))
    payouts = ma.fields.List(ma.fields.Nested(PayoutOut))


class SettlementOut(ma.Schema):
    statements = ma.fields.List(
        ma.fields.Nested(StatementOut), metadata={"description": "the statements made now"}
    )


class StatementListArgs(PageArgs):
    period = ma.fields.String(metadata={"description": "YYYY-MM"})
    status = ma.fields.Enum(StatementStatus, by_value=True)


class ReasonIn(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class PayIn(ma.Schema):
    method = ma.fields.Enum(PayoutMethod, by_value=True, required=True)
    reference = ma.fields.String(
        validate=ma.validate.Length(max=200),
        allow_none=True,
        metadata={"description": "the bank transfer's reference (bank only, required there)"},
    )


class DocumentArgs(ma.Schema):
    lang = ma.fields.String(load_default="zh", validate=ma.validate.OneOf(["zh", "en"]))


class StripeAccountIn(ma.Schema):
    stripe_account_id = ma.fields.String(
        required=True,
        allow_none=True,
        validate=ma.validate.Regexp(payouts.ACCOUNT_ID),
        metadata={"description": "acct_...; null unlinks"},
    )


class MerchantPayoutOut(MerchantOut):
    stripe_account_id = ma.fields.String(allow_none=True)
