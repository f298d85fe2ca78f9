import marshmallow as ma

from models import RedemptionStatus

from ... import fields
from ...pagination import PageArgs
from ...redemptions.requests import RedemptionIn

__all__ = ["RedemptionIn"]


class SplitOut(ma.Schema):
    bill_fen = fields.Integer(metadata={"description": "B, the bill"})
    discount_fen = fields.Integer(metadata={"description": "D, borne by the merchant"})
    points = fields.Integer(metadata={"description": "P, points spent"})
    points_value_fen = fields.Integer(metadata={"description": "V, paid by the fund"})
    cash_fen = fields.Integer(metadata={"description": "C, collected at the till"})
    points_per_yuan = fields.Integer(metadata={"description": "the rate used"})


class PreviewOut(SplitOut):
    merchant_id = fields.Integer()
    offer_id = fields.Integer(allow_none=True)
    source = ma.fields.String(metadata={"description": "coupon or pay_code"})
    coupon_id = fields.Integer(allow_none=True)
    coupon_code = ma.fields.String(allow_none=True)
    member_id = fields.Integer(allow_none=True, metadata={"description": "pay-code holder"})
    points_available = fields.Integer(metadata={"description": "before this bill"})


class RedemptionOut(SplitOut):
    id = fields.Integer()
    community_id = fields.Integer()
    merchant_id = fields.Integer()
    cashier_id = fields.Integer()
    offer_id = fields.Integer(allow_none=True)
    coupon_id = fields.Integer(allow_none=True)
    member_id = fields.Integer(allow_none=True)
    status = ma.fields.Enum(RedemptionStatus, by_value=True)
    transaction_id = fields.Integer()
    void_transaction_id = fields.Integer(allow_none=True)
    statement_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    voided_at = fields.AwareDateTime(allow_none=True)


class HistoryArgs(PageArgs):
    since = fields.Date(metadata={"description": "first day, Asia/Shanghai"})
    until = fields.Date(metadata={"description": "last day, inclusive"})
    status = ma.fields.Enum(RedemptionStatus, by_value=True)
    format = ma.fields.String(
        load_default="json", validate=ma.validate.OneOf(["json", "csv"]), data_key="format"
    )


class TotalsOut(ma.Schema):
    count = fields.Integer(metadata={"description": "active redemptions"})
    points = fields.Integer()
    points_value_fen = fields.Integer(metadata={"description": "owed by the fund (sum of V)"})
    discount_fen = fields.Integer(metadata={"description": "borne by the merchant (sum of D)"})
    cash_fen = fields.Integer(metadata={"description": "collected at the till (sum of C)"})
    bill_fen = fields.Integer()


class HistoryOut(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(RedemptionOut))
    next_cursor = ma.fields.String(allow_none=True)
    totals = ma.fields.Nested(
        TotalsOut, metadata={"description": "over every page; voided ones count nothing"}
    )
