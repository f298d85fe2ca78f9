"""The reconciliation report as CSV and XLSX, holding exactly the JSON document's figures.

:func:`flatten` turns the document (``Report.as_dict``) into rows of
``(section, item, value, unit)``: ``item`` is the dotted path of a figure
within its section (``minted.activity_awards``); a list's element is named by
its key (``merchants`` by merchant id, categories by name) or by position.
The CSV is those rows, with each figure's label in Chinese and English and,
for fen, the amount in yuan. The XLSX (openpyxl) has one sheet per section:
figures as label / key / value / unit rows, lists as tables; numbers are
numbers, fen are shown as yuan (``¥#,##0.00``), and every header is in both
languages.
"""

import csv
import io
from decimal import Decimal

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from .activities import CATEGORY_LABELS
from .fund import FUND_NAMES
from .money import format_yuan

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: The document's sections in order, with their names; ``report`` is its heading.
SECTIONS = {
    "report": _l("Report"),
    "points": _l("Points"),
    "coupons": _l("Coupons"),
    "money": _l("Money"),
    "liability": _l("Liability"),
    "rounding": _l("Rounding"),
    "merchants": _l("Merchants"),
    "participation": _l("Participation"),
    "corrections": _l("Corrections"),
    "invariants": _l("Checks"),
}
HEADING = ("community", "period", "from", "until", "points_per_yuan", "generated_at", "ok")

#: How the elements of a list are named in a path: by this field, else by position.
LIST_KEYS = {
    "merchants": "merchant_id",
    "by_category": "category",
    "corrections": "transaction_id",
}

#: What each key of the document means, in words; a path's label joins its keys'.
LABELS = {
    "community": _l("Community"),
    "id": _l("ID"),
    "slug": _l("Short name"),
    "name": _l("Name"),
    "period": _l("Month"),
    "from": _l("From"),
    "until": _l("Until"),
    "points_per_yuan": _l("Points per yuan"),
    "generated_at": _l("Computed at"),
    "ok": _l("All checks passed"),
    "minted": _l("Minted"),
    "activity_awards": _l("Activity awards"),
    "manual_awards": _l("Manual awards"),
    "coupon_grants": _l("Coupon grants"),
    "total": _l("Total"),
    "returned_to_issuance": _l("Returned to issuance"),
    "deductions": _l("Deductions"),
    "reversed_awards": _l("Reversed awards"),
    "revoked_grants": _l("Revoked granted coupons"),
    "converted_to_coupons": _l("Converted from wallets to coupons"),
    "redeemed": _l("Redeemed"),
    "coupon": _l("By coupon"),
    "coupon_value_fen": _l("Coupon value"),
    "pay_code": _l("By pay-code"),
    "pay_code_value_fen": _l("Pay-code value"),
    "voided": _l("Voided"),
    "redeemed_net": _l("Redeemed, net of voids"),
    "expired": _l("Expired"),
    "expired_to_wallets": _l("Expired back to wallets"),
    "revoked_to_wallets": _l("Revoked back to wallets"),
    "settled": _l("Settled (retired)"),
    "received_by_merchants": _l("Received by merchants"),
    "opening": _l("Opening balance"),
    "closing": _l("Closing balance"),
    "issuance": _l("Issuance"),
    "wallets": _l("Wallets"),
    "coupon_escrow": _l("Coupon escrow"),
    "receivable": _l("Merchant receivable"),
    "retired": _l("Retired"),
    "issued_in_period": _l("Coupons issued"),
    "issued_points": _l("Points issued on coupons"),
    "redemptions": _l("Redemptions"),
    "issued": _l("Coupons issued before the end"),
    "open": _l("Open"),
    "not_yet_used": _l("Not yet used"),
    "partly_redeemed": _l("Partly redeemed"),
    "revoked": _l("Revoked"),
    "income": _l("Income"),
    "donations_fen": _l("Donations (gross)"),
    "stripe_fees_fen": _l("Stripe fees"),
    "donations_net_fen": _l("Donations (net)"),
    "charity_sale_fen": _l("Charity sales"),
    "cash_donation_fen": _l("Cash donations"),
    "grant_fen": _l("Grants"),
    "other_fen": _l("Other income"),
    "reversed_fen": _l("Income reversed"),
    "refunds_fen": _l("Refunds"),
    "net_fen": _l("Net income"),
    "funds": _l("Funds"),
    "charity": _l("Charity fund"),
    "opening_fen": _l("Opening"),
    "other_income_fen": _l("Other income"),
    "income_reversed_fen": _l("Income reversed"),
    "to_merchant_payable_fen": _l("Approved for merchants"),
    "closing_fen": _l("Closing"),
    "reimburses_merchants": _l("Reimburses merchants"),
    "payable": _l("Merchant payable"),
    "approved_fen": _l("Approved"),
    "paid_fen": _l("Paid"),
    "returned_fen": _l("Returned"),
    "paid_out": _l("Paid out"),
    "refunds": _l("Refunds"),
    "booked_count": _l("Booked"),
    "booked_fen": _l("Booked amount"),
    "unmatched_count": _l("Unmatched at Stripe"),
    "unmatched_fen": _l("Unmatched amount"),
    "outstanding_points": _l("Points outstanding"),
    "value_fen": _l("Value"),
    "remainder_centipoints": _l("Rounding remainder (1/100 point)"),
    "reimbursing_fund": _l("Reimbursing fund"),
    "reimbursing_fund_cash_fen": _l("Reimbursing fund's cash"),
    "coverage_ratio": _l("Coverage ratio"),
    "coverage_warning": _l("Coverage below 1.0"),
    "count": _l("Count"),
    "points": _l("Points"),
    "liability": _l("Liability"),
    "merchant_id": _l("Merchant ID"),
    "coupon_points": _l("Coupon points"),
    "pay_code_points": _l("Pay-code points"),
    "volunteers": _l("Volunteers"),
    "attendances": _l("Attendances"),
    "by_category": _l("By activity category"),
    "category": _l("Category"),
    "transaction_id": _l("Transaction"),
    "corrects_transaction_id": _l("Corrects transaction"),
    "corrects_kind": _l("Kind corrected"),
    "corrects_period": _l("Month corrected"),
    "skipped": _l("Not run"),
    "detail": _l("Detail"),
    "statements": _l("Statements"),
}
#: The community fund's key (``community``) names the heading's community too.
LABELS_IN_FUNDS = {"community": _l("Community fund")}
#: Codes that appear as figures' keys or values (an activity's category, a fund), in words.
LABELS.update({category.value: label for category, label in CATEGORY_LABELS.items()})
VALUE_LABELS = {
    **{category.value: label for category, label in CATEGORY_LABELS.items()},
    **{fund.value: label for fund, label in FUND_NAMES.items()},
}

#: Leaves that count things, in sections whose other leaves are points.
COUNTS = frozenset({"count", "redemptions", "voided", "attendances", "volunteers"})
ID_LEAVES = frozenset({"id", "merchant_id", "transaction_id", "corrects_transaction_id"})


def unit_of(section: str, leaf: str, value) -> str:
    """``points``, ``fen``, ``centipoints``, ``count``, ``ratio``, ``rate``, ``id``,
    ``flag`` or ``text``."""
    if isinstance(value, bool):
        return "flag"
    if value is None or isinstance(value, str):
        return "ratio" if leaf == "coverage_ratio" else "text"
    if leaf.endswith("_fen"):
        return "fen"
    if leaf.endswith("centipoints"):
        return "centipoints"
    if leaf == "points_per_yuan":
        return "rate"
    if leaf in ID_LEAVES:
        return "id"
    if leaf in COUNTS or leaf.endswith("_count"):
        return "count"
    if section == "coupons" and leaf != "issued_points":
        return "count"
    return "points"


def flatten(document: dict) -> list[tuple[str, str, object, str]]:
    """``(section, item, value, unit)`` for every figure of the document, in order."""
    rows = []
    for key in HEADING:
        _walk(rows, "report", key, document[key])
    for section in SECTIONS:
        if section != "report":
            _walk(rows, section, "", document[section])
    return rows


def _walk(rows, section: str, path: str, value) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _walk(rows, section, f"{path}.{key}" if path else key, inner)
    elif isinstance(value, list):
        field = LIST_KEYS.get(path.rsplit(".", 1)[-1] or section)
        for position, element in enumerate(value):
            name = element[field] if field else position
            _walk(rows, section, f"{path}.{name}" if path else str(name), element)
    else:
        rows.append((section, path, value, unit_of(section, path.rsplit(".", 1)[-1], value)))


def label(section: str, item: str) -> str:
    """The item's words in the current language: each key's label, joined."""
    parts = []
    in_funds = False
    for key in item.split("."):
        if in_funds and key in LABELS_IN_FUNDS:
            parts.append(str(LABELS_IN_FUNDS[key]))
        elif key in LABELS:
            parts.append(str(LABELS[key]))
        else:
            parts.append(key)
        in_funds = key == "funds"
    return " · ".join(parts)


def labels(section: str, item: str) -> tuple[str, str]:
    """The label in Chinese and in English."""
    with force_locale("zh"):
        zh = label(section, item)
    with force_locale("en"):
        en = label(section, item)
    return zh, en


def both(text) -> str:
    """``中文 English`` for a translatable heading."""
    with force_locale("zh"):
        zh = str(text)
    with force_locale("en"):
        en = str(text)
    return zh if zh == en else f"{zh} {en}"


def _shown(value) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def to_csv(document: dict) -> str:
    """One row per figure: section, item, value, unit, yuan (for fen), both labels."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "item", "value", "unit", "yuan", "label_zh", "label_en"])
    for section, item, value, unit in flatten(document):
        zh, en = labels(section, item)
        yuan = format_yuan(value) if unit == "fen" else ""
        writer.writerow([section, item, _shown(value), unit, yuan, zh, en])
    return out.getvalue()


YUAN_FORMAT = '"¥"#,##0.00'
WHOLE_FORMAT = "#,##0"
BOLD = Font(bold=True)
QUIET = Font(color="808080")


def _cell_value(value, unit: str):
    if unit == "fen":
        return Decimal(value) / 100
    if isinstance(value, bool):
        return value
    return value


def _format(cell, unit: str) -> None:
    if unit == "fen":
        cell.number_format = YUAN_FORMAT
    elif unit in ("points", "count", "centipoints"):
        cell.number_format = WHOLE_FORMAT


def to_xlsx(document: dict) -> bytes:
    """One sheet per section; lists as tables with headers in Chinese, English and key."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    rows = flatten(document)
    for section, name in SECTIONS.items():
        sheet = workbook.create_sheet(both(name)[:31])
        value = document[section] if section != "report" else None
        if isinstance(value, list):
            _table(sheet, section, section, value, start_row=1)
        else:
            _figures(sheet, section, [row for row in rows if row[0] == section], value)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


FIGURE_HEADERS = (_l("Item"), _l("Key"), _l("Value"), _l("Unit"))


def _figures(sheet, section: str, rows, value) -> None:
    """Label, key, value and unit per figure; a list inside the section (categories) as
    a table below them."""
    with force_locale("zh"):
        zh = [str(h) for h in FIGURE_HEADERS]
    with force_locale("en"):
        en = [str(h) for h in FIGURE_HEADERS]
    sheet.append([zh[0], en[0], zh[1], zh[2], zh[3]])
    sheet.append([en[0], "", en[1], en[2], en[3]])
    for cell in (*sheet[1], *sheet[2]):
        cell.font = BOLD
    tables = {}
    if isinstance(value, dict):
        tables = {key: inner for key, inner in value.items() if isinstance(inner, list)}
    for _section, item, figure, unit in rows:
        if item.split(".", 1)[0] in tables:
            continue
        label_zh, label_en = labels(section, item)
        sheet.append([label_zh, label_en, item, _cell_value(figure, unit), unit])
        _format(sheet.cell(row=sheet.max_row, column=4), unit)
    for key, inner in tables.items():
        sheet.append([])
        _table(sheet, section, key, inner, start_row=sheet.max_row + 2)
    _widths(sheet)


def _table(sheet, section: str, key: str, elements: list[dict], *, start_row: int) -> None:
    """A list as a table: three header rows (Chinese, English, key), then a row each."""
    fields = list(elements[0]) if elements else _EMPTY_FIELDS.get(key, [])
    zh, en = [], []
    for field in fields:
        label_zh, label_en = labels(section, field)
        zh.append(label_zh)
        en.append(label_en)
    for offset, header in enumerate((zh, en, fields)):
        for column, text in enumerate(header, start=1):
            cell = sheet.cell(row=start_row + offset, column=column, value=text)
            cell.font = QUIET if offset == 2 else BOLD
    for index, element in enumerate(elements):
        row = start_row + 3 + index
        for column, field in enumerate(fields, start=1):
            figure = element[field]
            unit = unit_of(section, field, figure)
            cell = sheet.cell(row=row, column=column, value=_cell_value(_shown_cell(figure), unit))
            _format(cell, unit)
    _widths(sheet)


def _shown_cell(value):
    return "" if value is None else value


#: Columns of a list with no elements, so an empty table still says what it would hold.
_EMPTY_FIELDS = {
    "merchants": [
        "merchant_id",
        "name",
        "redemptions",
        "coupon_points",
        "coupon_value_fen",
        "pay_code_points",
        "pay_code_value_fen",
        "value_fen",
        "voided",
    ],
    "by_category": ["category", "attendances", "volunteers", "points"],
    "corrections": [
        "transaction_id",
        "corrects_transaction_id",
        "corrects_kind",
        "corrects_period",
    ],
    "invariants": ["name", "ok", "skipped", "detail"],
}


def _widths(sheet) -> None:
    for column in range(1, sheet.max_column + 1):
        longest = max(
            (len(str(cell.value)) for cell in sheet[get_column_letter(column)] if cell.value),
            default=8,
        )
        sheet.column_dimensions[get_column_letter(column)].width = min(max(longest + 2, 10), 60)
