"""A settlement statement as documents for people: CSV and PDF, in Chinese or English.

Both say the same: the merchant, the month, each redemption settled (time in
Asia/Shanghai, points, the rate it stored, its value in yuan), the totals with
the rounding remainder, who settled and approved it, and how it was paid.

The PDF is drawn by reportlab in its built-in ``STSong-Light`` font, one of
Adobe's standard Chinese fonts: nothing to install, and text tools
(``pdftotext``) read the Chinese back, while readers draw it with their own
Song typeface.
"""

import csv
import io
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import force_locale, format_datetime
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from models import Member, PayoutMethod, PayoutStatus, SettlementStatement, utcnow

from . import payouts, settlement
from .extensions import db
from .money import format_fen

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def yuan(fen: int) -> str:
    """``123456`` -> ``1234.56``: a yuan column a spreadsheet reads as a number."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def centipoints(hundredths: int) -> str:
    """Hundredths of a point as points: ``120`` -> ``1.20``."""
    whole, part = divmod(hundredths, 100)
    return f"{whole}.{part:02d}"


def local(moment: datetime | None) -> str:
    return format_datetime(moment, "yyyy-MM-dd HH:mm") if moment else ""


@dataclass(frozen=True)
class Line:
    id: int
    created_at: datetime
    points: int
    points_per_yuan: int
    points_value_fen: int
    rounding_remainder: int


def _lines(statement: SettlementStatement) -> list[Line]:
    return [
        Line(
            line.id,
            line.created_at,
            line.points,
            line.points_per_yuan,
            line.points_value_fen,
            settlement.remainder_of(line),
        )
        for line in settlement.lines(statement)
    ]


def _names(*member_ids) -> dict[int, str]:
    wanted = {member_id for member_id in member_ids if member_id is not None}
    if not wanted:
        return {}
    return dict(
        db.session.execute(
            sa.select(Member.id, Member.display_name).where(Member.id.in_(wanted))
        ).all()
    )


def _rates(lines: list[Line]) -> str:
    rates = sorted({line.points_per_yuan for line in lines})
    return "; ".join(_("%(points)s points = ¥1", points=rate) for rate in rates)


def _facts(statement: SettlementStatement, lines: list[Line]) -> list[tuple[str, str]]:
    """(label, value) lines heading both documents, in the current locale."""
    names = _names(statement.created_by_id, statement.approved_by_id, statement.rejected_by_id)
    facts = [
        (_("Merchant"), statement.merchant.name),
        (_("Period"), statement.period),
        (_("Statement"), str(statement.id)),
        (_("Status"), str(settlement.STATUS_LABELS[statement.status])),
        (_("Rate"), _rates(lines)),
        (_("Settled"), _by(local(statement.created_at), names.get(statement.created_by_id))),
    ]
    if statement.approved_at:
        approved = _by(local(statement.approved_at), names.get(statement.approved_by_id))
        facts.append((_("Approved"), approved))
    if statement.rejected_at:
        rejected = _by(local(statement.rejected_at), names.get(statement.rejected_by_id))
        facts.append((_("Rejected"), f"{rejected}: {statement.reject_reason}"))
    for attempt in payouts.attempts_of(statement):
        facts.append((_("Payout %(number)s", number=attempt.number), _payout(attempt)))
    return facts


def _by(when: str, who: str | None) -> str:
    return _("%(when)s by %(who)s", when=when, who=who) if who else when


def _payout(attempt) -> str:
    method = str(payouts.METHOD_LABELS[attempt.method])
    if attempt.method == PayoutMethod.BANK:
        reference = attempt.bank_reference
    else:
        reference = attempt.stripe_transfer_id or attempt.stripe_idempotency_key
    text = f"{method} {reference} · {format_fen(attempt.amount_fen)} · "
    text += str(payouts.STATUS_LABELS[attempt.status])
    if attempt.completed_at:
        text += f" {local(attempt.completed_at)}"
    if attempt.status == PayoutStatus.FAILED:
        text += f": {attempt.error}"
    if attempt.status == PayoutStatus.RETURNED:
        text += f" {local(attempt.returned_at)}: {attempt.return_reason}"
    return text


def _columns() -> list[str]:
    return [
        _("Redemption"),
        _("Time"),
        _("Points"),
        _("Points per yuan"),
        _("Amount (yuan)"),
        _("Rounding remainder (points)"),
    ]


def csv_text(statement: SettlementStatement, lang: str) -> str:
    """The statement as CSV: its facts, one row per redemption, then the totals row."""
    with force_locale(lang):
        lines = _lines(statement)
        out = io.StringIO()
        # The byte order mark makes spreadsheet programs read the Chinese as UTF-8.
        out.write("\ufeff")
        writer = csv.writer(out, lineterminator="\n")
        for label, value in _facts(statement, lines):
            writer.writerow([label, value])
        writer.writerow([])
        writer.writerow(_columns())
        for line in lines:
            writer.writerow(
                [
                    line.id,
                    local(line.created_at),
                    line.points,
                    line.points_per_yuan,
                    yuan(line.points_value_fen),
                    centipoints(line.rounding_remainder),
                ]
            )
        writer.writerow(
            [
                _("Total"),
                _("%(count)s redemptions", count=statement.redemptions),
                statement.points,
                "",
                yuan(statement.amount_fen),
                centipoints(statement.rounding_remainder),
            ]
        )
        return out.getvalue()


def pdf_bytes(statement: SettlementStatement, lang: str) -> bytes:
    """The statement as a PDF (A4)."""
    with force_locale(lang):
        lines = _lines(statement)
        title = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=22, spaceAfter=6)
        text = ParagraphStyle("text", fontName=FONT, fontSize=9.5, leading=13)
        heading = _("Settlement statement")
        story = [
            Paragraph(f"{statement.merchant.name} · {heading} {statement.period}", title),
            _table(
                [
                    (label, Paragraph(_escape(value), text))
                    for label, value in _facts(statement, lines)
                ],
                widths=[35 * mm, 135 * mm],
                grid=False,
            ),
            Spacer(1, 6 * mm),
        ]
        rows = [_columns()]
        rows += [
            [
                str(line.id),
                local(line.created_at),
                f"{line.points:,}",
                str(line.points_per_yuan),
                format_fen(line.points_value_fen),
                centipoints(line.rounding_remainder),
            ]
            for line in lines
        ]
        rows.append(
            [
                _("Total"),
                _("%(count)s redemptions", count=statement.redemptions),
                f"{statement.points:,}",
                "",
                format_fen(statement.amount_fen),
                centipoints(statement.rounding_remainder),
            ]
        )
        story.append(
            _table(rows, widths=[22 * mm, 34 * mm, 24 * mm, 24 * mm, 32 * mm, 34 * mm], grid=True)
        )
        story.append(Spacer(1, 4 * mm))
        story.append(
            Paragraph(
                _escape(
                    _(
                        "Total to pay: %(amount)s for %(points)s points. The rounding remainder"
                        " is what each redemption's conversion to whole fen left over.",
                        amount=format_fen(statement.amount_fen),
                        points=f"{statement.points:,}",
                    )
                ),
                text,
            )
        )
        story.append(Paragraph(_escape(_("Made %(when)s", when=local(utcnow()))), text))
        out = io.BytesIO()
        document = SimpleDocTemplate(
            out,
            pagesize=A4,
            leftMargin=18 * mm,
            rightMargin=18 * mm,
            topMargin=16 * mm,
            bottomMargin=16 * mm,
            title=f"{heading} {statement.period} {statement.merchant.name}",
            author="Jifen",
        )
        document.build(story)
        return out.getvalue()


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _table(rows, *, widths, grid: bool) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if grid else 0)
    style = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTSIZE", (0, 0), (-1, -1), 9),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if grid:
        style += [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
            ("BACKGROUND", (0, -1), (-1, -1), colors.whitesmoke),
            ("ALIGN", (2, 1), (-1, -1), "RIGHT"),
        ]
    table.setStyle(TableStyle(style))
    return table
