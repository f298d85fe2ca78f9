"""The fund admin's dashboard, the reconciliation report and month close, the audit log,
and the public notice board of a community (``/c/<slug>``, no sign-in, no residents'
names) with the closed months' reports anyone can hash again."""

from datetime import datetime, time, timedelta

import sqlalchemy as sa
from flask import Response, flash, g, redirect, render_template, request, session, url_for
from flask_babel import force_locale, format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from models import AuditEntry, Community, Member, MonthCloseStatus, PlatformAdmin

from .. import dashboard, month_close, report_exports
from ..authz import POLICY, Scope, authorize
from ..charts import bar_chart
from ..earnings import LOCAL_TZ, Period, last_month
from ..extensions import db
from ..money import format_fen
from ..problems import InvalidInput, NotFound, Problem
from ..reconciliation import position, reconcile
from ..replica import reports_reads
from . import blp
from .earning_labels import CATEGORY_LABELS
from .pages import public_community

#: Months on the dashboard's charts.
MONTHS_SHOWN = 12
#: Merchants on the top-merchants chart.
TOP_MERCHANTS = 10
#: Audit lines per page.
AUDIT_PAGE = 50

CLOSE_STATUS_LABELS = {
    MonthCloseStatus.REQUESTED: _l("Waiting for a second admin"),
    MonthCloseStatus.CLOSED: _l("Closed"),
    MonthCloseStatus.WITHDRAWN: _l("Request withdrawn"),
}


class CloseForm(FlaskForm):
    """A month-close button: its CSRF token is all it carries."""


def _admin(action: str) -> Member:
    """The signed-in member, if allowed ``action`` in their own community."""
    member = current_user._get_current_object()
    if member.community_id is None:
        raise NotFound(_("These pages belong to a community."))
    authorize(member, action, Scope(member.community_id))
    g.actor = member
    return member


def _period_arg() -> Period | None:
    text = request.args.get("period") or ""
    return Period.parse(text) if text else None


def _month_label(period: Period) -> str:
    return f"{period.year}-{period.month:02d}"


# --- the dashboard ----------------------------------------------------------------------------


@blp.get("/admin/dashboard")
@login_required
def dashboard_page():
    member = _admin("dashboard.read")
    community = member.community
    with reports_reads():
        history = dashboard.months(community, MONTHS_SHOWN)
    now = position(community)
    labels = [_month_label(month.period) for month in history]
    minted = dashboard.series(history, "points", "minted", "total")
    redeemed = dashboard.series(history, "points", "redeemed_net")
    expired = dashboard.series(history, "points", "expired")
    flows = bar_chart(
        _("Points minted, redeemed and expired per month"),
        labels,
        [(_("Minted"), minted), (_("Redeemed"), redeemed), (_("Expired"), expired)],
    )
    coupons = bar_chart(
        _("Coupons issued and redeemed per month"),
        labels,
        [
            (_("Coupons issued"), dashboard.series(history, "coupons", "issued_in_period")),
            (_("Coupon redemptions"), dashboard.series(history, "coupons", "redemptions")),
        ],
    )
    top = dashboard.merchants_total(history)[:TOP_MERCHANTS]
    merchants = bar_chart(
        _("Top merchants by value redeemed (yuan)"),
        [m["name"] for m in top],
        [(_("Value redeemed (yuan)"), [m["value_fen"] / 100 for m in top])],
        horizontal=True,
        no_data=_("No redemptions yet"),
    )
    by_category = dashboard.categories_total(history)
    categories = bar_chart(
        _("Activity participation by category"),
        [str(CATEGORY_LABELS[c]) for c in CATEGORY_LABELS],
        [(_("Attendances"), [by_category.get(c.value, 0) for c in CATEGORY_LABELS])],
    )
    return render_template(
        "reports/dashboard.html",
        community=community,
        position=now,
        ratio=_ratio(now["liability"]["coverage_ratio"]),
        charts=[flows, coupons, merchants, categories],
        pending=dashboard.pending(community),
        closes=month_close.closes_of(community)[:MONTHS_SHOWN],
        closable=_closable(community),
        form=CloseForm(),
        close_status=CLOSE_STATUS_LABELS,
        latest=month_close.latest_closed(community),
    )


def _ratio(text: str | None) -> str:
    return "—" if text is None else format_decimal(float(text), format="#,##0.00")


def _closable(community: Community) -> list[Period]:
    """The last few finished months that are not closed or asked for."""
    taken = {
        close.period
        for close in month_close.closes_of(community)
        if close.status != MonthCloseStatus.WITHDRAWN
    }
    found, period = [], last_month()
    for _month in range(3):
        if str(period) not in taken:
            found.append(period)
        period = period.previous()
    return found


@blp.post("/admin/months/<period>/<step>")
@login_required
def close_month(period: str, step: str):
    """Ask for, confirm or withdraw a month's close from the dashboard."""
    member = _admin("period.close")
    steps = {
        "request": (month_close.request_close, _("Asked to close %(period)s.")),
        "confirm": (month_close.confirm_close, _("%(period)s is closed.")),
        "withdraw": (
            month_close.withdraw_close,
            _("The request to close %(period)s is withdrawn."),
        ),
    }
    if step not in steps:
        raise NotFound()
    if not CloseForm().validate_on_submit():
        flash(_("This form has expired; please try again."), "error")
        return redirect(url_for("web.dashboard_page"))
    act, done = steps[step]
    month = Period.parse(period)
    try:
        act(member.community, month, actor=member)
    except Problem as refusal:
        db.session.rollback()
        flash(f"{refusal.title}: {refusal.detail}", "error")
    else:
        flash(done % {"period": month}, "success")
    return redirect(url_for("web.dashboard_page") + "#months")


# --- the reconciliation report ------------------------------------------------------------------


@blp.get("/admin/reconciliation")
@login_required
def reconciliation_page():
    member = _admin("reconciliation.read")
    community = member.community
    period = _period_arg()
    with reports_reads():
        report = reconcile(community, period)
        shown = [m.period for m in reversed(dashboard.months(community, MONTHS_SHOWN))]
    document = report.as_dict()
    sections = {}
    for section, item, value, unit in report_exports.flatten(document):
        if section in ("report", "invariants"):
            continue
        sections.setdefault(section, []).append(
            (report_exports.label(section, item), _shown(value, unit))
        )
    return render_template(
        "reports/reconciliation.html",
        community=community,
        period=period,
        report=report,
        document=document,
        sections=[(report_exports.SECTIONS[name], rows) for name, rows in sections.items()],
        months=shown,
    )


def _shown(value, unit: str) -> str:
    if unit == "fen":
        return format_fen(value)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if value is None:
        return "—"
    if isinstance(value, str) and value in report_exports.VALUE_LABELS:
        return str(report_exports.VALUE_LABELS[value])
    if isinstance(value, int) and unit not in ("id", "rate"):
        return f"{value:,}"
    return str(value)


@blp.get("/admin/reconciliation/export.<fmt>")
@login_required
def reconciliation_export(fmt: str):
    member = _admin("reconciliation.read")
    if fmt not in ("csv", "xlsx"):
        raise NotFound()
    period = _period_arg()
    with reports_reads():
        document = reconcile(member.community, period).as_dict()
    name = f"jifen-{member.community.slug}-{period or 'total'}.{fmt}"
    if fmt == "csv":
        body, mimetype = report_exports.to_csv(document), report_exports.CSV_TYPE
    else:
        body, mimetype = report_exports.to_xlsx(document), report_exports.XLSX_TYPE
    return Response(
        body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


# --- the audit log ----------------------------------------------------------------------------


def _local_day(text: str | None, field: str) -> datetime | None:
    """The start of a day given as ``YYYY-MM-DD``, in Asia/Shanghai."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError as error:
        raise InvalidInput(
            _("'%(text)s' is not a date; write it as YYYY-MM-DD.", text=text),
            errors={"query": {field: ["A date as YYYY-MM-DD."]}},
        ) from error
    return datetime.combine(day, time(), LOCAL_TZ)


@blp.get("/admin/audit")
@login_required
def audit_page():
    member = _admin("audit.read")
    community = member.community
    args = request.args
    query = sa.select(AuditEntry).where(AuditEntry.community_id == community.id)
    actor_id = args.get("actor", type=int)
    action = args.get("action") or None
    since = _local_day(args.get("from"), "from")
    until = _local_day(args.get("to"), "to")
    before = args.get("before", type=int)
    if actor_id:
        query = query.where(AuditEntry.actor_id == actor_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if since:
        query = query.where(AuditEntry.created_at >= since)
    if until:
        query = query.where(AuditEntry.created_at < until + timedelta(days=1))
    if before:
        query = query.where(AuditEntry.id < before)
    entries = list(
        db.session.execute(query.order_by(AuditEntry.id.desc()).limit(AUDIT_PAGE + 1)).scalars()
    )
    more = len(entries) > AUDIT_PAGE
    entries = entries[:AUDIT_PAGE]
    actors = db.session.execute(
        sa.select(Member.id, Member.display_name)
        .where(
            Member.id.in_(
                sa.select(AuditEntry.actor_id).where(AuditEntry.community_id == community.id)
            )
        )
        .order_by(Member.display_name)
    ).all()
    platform_admins = db.session.execute(
        sa.select(PlatformAdmin.id, PlatformAdmin.display_name).where(
            PlatformAdmin.id.in_({e.platform_admin_id for e in entries} - {None})
        )
    ).all()
    filters = {k: v for k, v in args.items() if k != "before" and v}
    return render_template(
        "reports/audit.html",
        entries=entries,
        names=dict(actors),
        platform_admins=dict(platform_admins),
        actors=actors,
        actions=sorted(name for name, grant in POLICY.items() if grant.audited),
        chosen={
            "actor": actor_id,
            "action": action,
            "from": args.get("from", ""),
            "to": args.get("to", ""),
        },
        older=url_for("web.audit_page", **filters, before=entries[-1].id) if more else None,
    )


# --- the public notice board ---------------------------------------------------------------------


@blp.get("/c/<slug>")
def notice_board(slug: str):
    """The community hall's screen: Chinese unless the reader chose otherwise."""
    community = public_community(slug)
    language = request.args.get("lang") or session.get("lang") or "zh"
    if language not in ("zh", "en"):
        language = "zh"
    with force_locale(language):
        return _board(community)


def _board(community: Community):
    history = dashboard.months(community, live=dashboard.report_of)
    this_month = history[-1]
    figures = this_month.document
    by_category = figures["participation"]["by_category"]
    points_by_category = {row["category"]: row["points"] for row in by_category}
    categories = bar_chart(
        _("Points earned this month by activity category"),
        [str(CATEGORY_LABELS[c]) for c in CATEGORY_LABELS],
        [(_("Points"), [points_by_category.get(c.value, 0) for c in CATEGORY_LABELS])],
    )
    income = {
        source: dashboard.summed(history, "money", "income", key)
        for source, key in (
            ("donations", "donations_net_fen"),
            ("charity_sale", "charity_sale_fen"),
            ("cash_donation", "cash_donation_fen"),
            ("grant", "grant_fen"),
            ("other", "other_fen"),
        )
    }
    income_chart = bar_chart(
        _("Fund income by source, to date (yuan)"),
        [str(INCOME_LABELS[source]) for source in income],
        [(_("Income (yuan)"), [total / 100 for total in income.values()])],
        horizontal=True,
    )
    now = position(community)
    totals = {
        "coupons_issued": dashboard.summed(history, "coupons", "issued_in_period"),
        "coupon_redemptions": dashboard.summed(history, "coupons", "redemptions"),
        **{field: _merchants_sum(history, field) for field in MERCHANT_FIGURES},
    }
    latest = month_close.latest_closed(community)
    return render_template(
        "reports/board.html",
        community=community,
        period=this_month.period,
        month=figures,
        totals=totals,
        paid_out_fen=now["paid_out_fen"],
        payable_fen=now["payable_fen"],
        charts=[categories, income_chart],
        latest=latest,
        board_language=str(session.get("lang") or "zh"),
    )


INCOME_LABELS = {
    "donations": _l("Donations (net of fees)"),
    "charity_sale": _l("Charity sales"),
    "cash_donation": _l("Cash donations"),
    "grant": _l("Grants"),
    "other": _l("Other income"),
}


#: What the board adds up over the merchants: redeemed and not voided.
MERCHANT_FIGURES = ("coupon_points", "coupon_value_fen", "pay_code_points", "pay_code_value_fen")


def _merchants_sum(history, field: str) -> int:
    return sum(row[field] for month in history for row in month.document["merchants"])


@blp.get("/c/<slug>/months/<period>/report.json")
def public_report(slug: str, period: str):
    """A closed month's report exactly as stored: hash it to check it never changed."""
    community = public_community(slug)
    close = month_close.close_of(community, Period.parse(period))
    text = month_close.stored_report(close)
    return Response(
        text.encode("utf-8"),
        mimetype="application/json",
        headers={
            "X-Report-SHA256": close.report_sha256,
            "Content-Disposition": f'inline; filename="{community.slug}-{period}.json"',
        },
    )
