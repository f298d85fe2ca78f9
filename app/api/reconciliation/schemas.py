import marshmallow as ma

from models import MonthCloseStatus

from ... import fields


class ReportArgs(ma.Schema):
    period = ma.fields.String(
        metadata={"description": "a month, YYYY-MM (Asia/Shanghai); without it, the total to date"}
    )
    format = ma.fields.String(
        load_default="json",
        validate=ma.validate.OneOf(["json", "csv", "xlsx"]),
        metadata={"description": "json (default), csv, or xlsx (one sheet per section)"},
    )


def _section(description: str) -> ma.fields.Field:
    return ma.fields.Dict(metadata={"description": description})


def _table(description: str) -> ma.fields.Field:
    return ma.fields.List(ma.fields.Dict(), metadata={"description": description})


class ReconciliationOut(ma.Schema):
    """The reconciliation report (design.md §8). Amounts are integers: points, fen, or
    hundredths of a point (``*_centipoints``, what a floor left over)."""

    community = ma.fields.Dict()
    period = ma.fields.String(allow_none=True, metadata={"description": "YYYY-MM, or null: total"})
    points_per_yuan = fields.Integer()
    generated_at = ma.fields.String()
    ok = ma.fields.Boolean(metadata={"description": "every invariant passed (or was skipped)"})
    points = _section(
        "minted by source, redeemed by coupon and pay-code, voided, expired, "
        "settled; opening and closing balances"
    )
    coupons = _section("issued in the period, and where every coupon stood at its end")
    money = _section(
        "income by source and by fund, Stripe fees, refunds, each fund's cash, "
        "merchant payable and paid out"
    )
    liability = _section(
        "points outstanding in fen at the rate, the reimbursing fund's cash "
        "and the coverage ratio (a decimal string), with a warning below 1.0"
    )
    rounding = _section("the remainder of every conversion of points into fen")
    merchants = _table("redeemed per merchant, most value first")
    participation = _section("members who earned points; attendances by activity category")
    corrections = _table("reversals that correct a transaction of an earlier month")
    invariants = _table("each check: name, ok, skipped, detail naming what is at fault")

    #: ``from`` is a Python keyword.
    from_ = ma.fields.String(
        attribute="from",
        data_key="from",
        allow_none=True,
        metadata={"description": "the month's first moment (UTC)"},
    )
    until = ma.fields.String(
        allow_none=True, metadata={"description": "the first moment after the month (UTC)"}
    )


class MonthCloseOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    period = ma.fields.String()
    status = ma.fields.Enum(MonthCloseStatus, by_value=True)
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    requested_by_id = fields.Integer()
    requested_at = fields.AwareDateTime()
    confirmed_by_id = fields.Integer(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    withdrawn_by_id = fields.Integer(allow_none=True)
    withdrawn_at = fields.AwareDateTime(allow_none=True)
    report_sha256 = ma.fields.String(
        allow_none=True, metadata={"description": "hex SHA-256 of the stored report's bytes"}
    )


class MonthClosesOut(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(MonthCloseOut))


class VerificationOut(ma.Schema):
    period = ma.fields.String()
    sha256 = ma.fields.String(metadata={"description": "stored when the month closed"})
    content_sha256 = ma.fields.String(metadata={"description": "of the stored report, now"})
    content_intact = ma.fields.Boolean()
    figures_match = ma.fields.Boolean(
        metadata={"description": "today's ledger still gives the stored figures"}
    )
    differences = ma.fields.List(ma.fields.String(), metadata={"description": "figures changed"})
    closed_at = fields.AwareDateTime()
