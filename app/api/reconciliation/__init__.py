"""Reconciliation and the month close: the report (JSON, CSV, XLSX), closing a month with
four eyes, and the stored report of a closed month with its SHA-256."""

from flask import Response, g

from ... import month_close, report_exports
from ...authz import requires
from ...earnings import Period
from ...idempotency import idempotent
from ...reconciliation import reconcile
from ...replica import reports_reads
from ..blueprint import Blueprint
from .schemas import MonthCloseOut, MonthClosesOut, ReconciliationOut, ReportArgs, VerificationOut

blp = Blueprint(
    "reconciliation",
    __name__,
    url_prefix="/api/v1",
    description="Reconciliation and the month close",
)

#: The report's three forms, declared for the OpenAPI document (this replaces what
#: ``blp.response`` would say of the 200 answer, so the JSON form is named here too).
EXPORTS = {
    "200": {
        "description": "The report: JSON, or the same figures as CSV or XLSX (``format``).",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ReconciliationOut"}},
            report_exports.CSV_TYPE: {
                "schema": {"type": "string"},
                "example": "section,item,value,unit,yuan,label_zh,label_en\n",
            },
            report_exports.XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@blp.route("/communities/<slug>/reconciliation", methods=["GET"])
@requires("reconciliation.read")
@blp.arguments(ReportArgs, location="query")
@blp.response(200, ReconciliationOut)
@blp.doc(responses=EXPORTS)
def get_reconciliation(args, community):
    """The reconciliation report for ``?period=YYYY-MM``, or in total to date.

    ``?format=csv`` or ``?format=xlsx`` gives the same figures as a file.
    """
    period = Period.parse(args["period"]) if args.get("period") else None
    with reports_reads():
        document = reconcile(community, period).as_dict()
    if args["format"] == "json":
        return document
    name = f"jifen-{community.slug}-{period or 'total'}"
    if args["format"] == "csv":
        body, mimetype = report_exports.to_csv(document), report_exports.CSV_TYPE
        name += ".csv"
    else:
        body, mimetype = report_exports.to_xlsx(document), report_exports.XLSX_TYPE
        name += ".xlsx"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@blp.route("/communities/<slug>/periods", methods=["GET"])
@requires("period.read")
@blp.response(200, MonthClosesOut)
def list_periods(community):
    """Every month asked to be closed, newest first, with its state and report hash."""
    return {"items": month_close.closes_of(community)}


@blp.route("/communities/<slug>/periods/<period>", methods=["GET"])
@requires("period.read")
@blp.response(200, MonthCloseOut)
def get_period(community, period):
    """The month's close: asked for, closed (with the report's SHA-256), or withdrawn."""
    found = month_close.close_of(community, Period.parse(period))
    if found is None:
        raise month_close.MonthNotClosed()
    return found


@blp.route("/communities/<slug>/periods/<period>/close", methods=["POST"])
@requires("period.close")
@idempotent
@blp.response(201, MonthCloseOut)
def request_close(community, period):
    """Ask for a finished month to be closed; a second fund admin confirms."""
    return month_close.request_close(community, Period.parse(period), actor=g.actor)


@blp.route("/communities/<slug>/periods/<period>/close/confirm", methods=["POST"])
@requires("period.close")
@idempotent
@blp.response(200, MonthCloseOut)
def confirm_close(community, period):
    """Confirm the close (a fund admin other than the one who asked).

    The month's report is stored with its SHA-256; from then on the database
    refuses every posting dated in the month. Refused when the books do not
    reconcile.
    """
    return month_close.confirm_close(community, Period.parse(period), actor=g.actor)


@blp.route("/communities/<slug>/periods/<period>/close/withdraw", methods=["POST"])
@requires("period.close")
@idempotent
@blp.response(200, MonthCloseOut)
def withdraw_close(community, period):
    """Withdraw a request to close the month; it stays open."""
    return month_close.withdraw_close(community, Period.parse(period), actor=g.actor)


@blp.route("/communities/<slug>/periods/<period>/report", methods=["GET"])
@requires("period.read")
@blp.response(200, ReconciliationOut)
def stored_report(community, period):
    """The closed month's report exactly as stored: its bytes hash to ``report_sha256``
    (``X-Report-SHA256``)."""
    found = month_close.close_of(community, Period.parse(period))
    text = month_close.stored_report(found)
    return Response(
        text.encode("utf-8"),
        mimetype="application/json",
        headers={"X-Report-SHA256": found.report_sha256},
    )


@blp.route("/communities/<slug>/periods/<period>/verify", methods=["GET"])
@requires("period.read")
@blp.response(200, VerificationOut)
def verify_report(community, period):
    """Hash the stored report again, and compute the month again from today's ledger."""
    found = month_close.close_of(community, Period.parse(period))
    return month_close.verify(community, found)
