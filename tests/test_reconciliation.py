"""The reconciliation report (design.md §8) over a community built through the API once
for the module: every figure against a count worked out from the amounts used, the
invariants, a corrupted balance or entry caught by exactly its check, and the CSV and
XLSX holding the JSON's figures."""

import csv
import io

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from support import recon_world
from support.api import ApiClient
from support.ledger_sql import triggers_off
from support.problems import problem
from support.stripe_fixtures import use_fake_stripe

from app.extensions import db
from models import Account, AccountKind, Community, LedgerEntry, Role

STRIPE_CHECK = "every Stripe payment and transfer matches one ledger transaction"


@pytest.fixture(scope="module")
def world(app, stripe_fake_server):
    """Built once, committed; each test reads it inside its own rolled-back transaction."""
    stripe_fake_server.reset()
    with use_fake_stripe(app, stripe_fake_server), app.app_context():
        built = recon_world.build(app, stripe_fake_server)
        db.session.remove()
        yield built


def report(world, period=None) -> dict:
    reply = world.report(period)
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


def contains(actual, expected, path="") -> None:
    """Every figure of ``expected`` is in ``actual`` with the same value."""
    if isinstance(expected, dict):
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} missing"
            contains(actual[key], value, f"{path}.{key}")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def test_this_month_is_what_was_posted(world):
    got = report(world, world.this)

    contains(got, world.expected_this_month())
    assert got["period"] == str(world.this)
    assert got["points_per_yuan"] == recon_world.RATE


def test_last_month_is_the_awards_and_the_sale(world):
    got = report(world, world.last)

    contains(got, world.expected_last_month())
    assert got["coupons"]["issued_in_period"] == 0
    assert got["merchants"] == []


def test_the_total_adds_both_months(world):
    total, this, last = report(world), report(world, world.this), report(world, world.last)

    assert total["period"] is None
    for source in ("activity_awards", "manual_awards", "coupon_grants", "total"):
        minted = this["points"]["minted"][source] + last["points"]["minted"][source]
        assert total["points"]["minted"][source] == minted
    assert total["points"]["opening"] == dict.fromkeys(total["points"]["opening"], 0)
    assert total["points"]["closing"] == this["points"]["closing"]
    assert total["money"]["income"]["net_fen"] == (
        this["money"]["income"]["net_fen"] + last["money"]["income"]["net_fen"]
    )
    assert total["liability"] == this["liability"]
    assert total["coupons"]["issued_in_period"] == 6


def test_every_invariant_holds_and_stripe_matches(world):
    got = report(world)

    assert got["ok"] is True, got["invariants"]
    checks = {check["name"]: check for check in got["invariants"]}
    assert all(check["ok"] for check in checks.values()), checks
    assert checks[STRIPE_CHECK]["skipped"] is False
    assert checks[STRIPE_CHECK]["detail"] == ""


def failing(world) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in report(world)["invariants"] if not c["ok"]}


def test_a_corrupted_balance_fails_its_check_naming_the_accounts(world):
    wallet_key, issuance_key = f"wallet:member:{world.ids['r1']}", "issuance"
    for key, change in ((wallet_key, 7), (issuance_key, -7)):
        db.session.execute(
            sa.text(
                "UPDATE accounts SET balance = balance + :x WHERE community_id = :c AND key = :k"
            ),
            {"x": change, "c": world.community_id, "k": key},
        )

    failed = failing(world)
    assert set(failed) == {"every account balance equals the sum of its entries"}
    named = failed["every account balance equals the sum of its entries"].split("; ")
    assert sorted(named) == [
        "issuance: balance -1857, entries -1850",
        f"{wallet_key}: balance 397, entries 390",
    ]


def test_a_corrupted_entry_fails_its_check_naming_the_transactions(world):
    """Seven points moved between two of a wallet's entries: its balance still equals
    its entries, but neither transaction balances."""
    wallet = db.session.execute(
        sa.select(Account.id).where(
            Account.community_id == world.community_id,
            Account.kind == AccountKind.WALLET,
            Account.member_id == world.ids["r1"],
        )
    ).scalar_one()
    first, second = db.session.execute(
        sa.select(LedgerEntry.id, LedgerEntry.transaction_id)
        .where(LedgerEntry.account_id == wallet, LedgerEntry.amount > 0)
        .order_by(LedgerEntry.id)
        .limit(2)
    ).all()
    with triggers_off("ledger_entries"):
        for entry_id, change in ((first.id, 7), (second.id, -7)):
            db.session.execute(
                sa.text("UPDATE ledger_entries SET amount = amount + :x WHERE id = :id"),
                {"x": change, "id": entry_id},
            )

    low, high = sorted((first, second), key=lambda e: e.transaction_id)
    sign = {first.transaction_id: 7, second.transaction_id: -7}
    assert failing(world) == {
        "every transaction balances per unit": (
            f"transaction {low.transaction_id}: points sum to {sign[low.transaction_id]}; "
            f"transaction {high.transaction_id}: points sum to {sign[high.transaction_id]}"
        )
    }


def test_the_csv_holds_the_json_figures(world):
    document = report(world, world.this)
    reply = world.report(world.this, "csv")

    assert reply.status_code == 200
    assert reply.mimetype == "text/csv"
    assert "attachment" in reply.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(reply.get_data(as_text=True))))
    got = {(row["section"], row["item"]): row for row in rows}
    leaves = flat(document)
    assert set(got) == set(leaves)
    for key, value in figures(leaves):
        assert got[key]["value"] == as_text(value), key
        if key[1].endswith("_fen"):
            assert got[key]["unit"] == "fen"
            assert got[key]["yuan"] == f"{value // 100}.{value % 100:02d}"
    assert got[("points", "minted.activity_awards")]["label_zh"] == "铸造 · 活动奖励"
    assert got[("points", "minted.activity_awards")]["label_en"] == "Minted · Activity awards"


def test_the_xlsx_holds_the_json_figures(world):
    document = report(world, world.this)
    reply = world.report(world.this, "xlsx")

    assert reply.status_code == 200
    assert reply.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(reply.get_data()))
    assert book.sheetnames == [
        "报告 Report",
        "积分 Points",
        "积分券 Coupons",
        "资金 Money",
        "负债 Liability",
        "舍入 Rounding",
        "商家 Merchants",
        "参与 Participation",
        "更正 Corrections",
        "核对 Checks",
    ]
    cells = {}
    for sheet, section in zip(book.worksheets, [*SECTIONS], strict=True):
        cells.update(sheet_figures(sheet, section))
    leaves = flat(document)
    assert set(cells) == set(leaves)
    for key, value in figures(leaves):
        cell = cells[key]
        if key[1].endswith("_fen"):
            assert cell.number_format == '"¥"#,##0.00', key
            assert round(cell.value * 100) == value, key
        elif value in (None, ""):
            assert cell.value is None, key  # a spreadsheet keeps no empty text
        elif isinstance(value, bool):
            assert cell.value is value, key
        else:
            assert cell.value == value, key
            if isinstance(value, int):
                assert isinstance(cell.value, int), key
    points = book["积分 Points"]
    assert [c.value for c in points[1]][:2] == ["项目", "Item"]


SECTIONS = (
    "report",
    "points",
    "coupons",
    "money",
    "liability",
    "rounding",
    "merchants",
    "participation",
    "corrections",
    "invariants",
)
HEADING = ("community", "period", "from", "until", "points_per_yuan", "generated_at", "ok")
KEYED = {"merchants": "merchant_id", "by_category": "category", "corrections": "transaction_id"}


def flat(document) -> dict:
    """(section, dotted path) -> value of every figure: this test's own reading."""
    found = {}

    def walk(section, path, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(section, f"{path}.{key}" if path else key, inner)
        elif isinstance(value, list):
            keyed = KEYED.get(path.rsplit(".", 1)[-1] or section)
            for index, element in enumerate(value):
                name = str(element[keyed]) if keyed else str(index)
                walk(section, f"{path}.{name}" if path else name, element)
        else:
            found[(section, path)] = value

    for key in HEADING:
        walk("report", key, document[key])
    for section in SECTIONS[1:]:
        walk(section, "", document[section])
    return found


def figures(leaves: dict):
    """Every figure but the moment each request computed the report at."""
    return [(key, value) for key, value in leaves.items() if key != ("report", "generated_at")]


def as_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def sheet_figures(sheet, section) -> dict:
    """A sheet's figures: key/value rows (key in column C), or tables under a
    three-row header whose third row holds the fields' keys."""
    found = {}
    rows = list(sheet.iter_rows())
    index = 0
    if section in ("merchants", "corrections", "invariants"):
        return table(rows, 0, section, section)
    index = 2
    while index < len(rows):
        row = rows[index]
        if not any(c.value not in (None, "") for c in row):
            found.update(table(rows, index + 1, section, "by_category"))
            break
        found[(section, row[2].value)] = row[3]
        index += 1
    return found


def table(rows, start, section, name) -> dict:
    found = {}
    keys = [c.value for c in rows[start + 2] if c.value]
    keyed = KEYED.get(name)
    prefix = "" if name == section else f"{name}."
    for position, row in enumerate(rows[start + 3 :]):
        values = {key: row[i] for i, key in enumerate(keys)}
        element = str(values[keyed].value) if keyed else str(position)
        for key, cell in values.items():
            found[(section, f"{prefix}{element}.{key}")] = cell
    return found


def test_a_month_must_be_a_month(world):
    reply = world.report("2026-13")

    problem(reply, 422, "invalid-input")


def test_who_may_read_it(world, app, make_community, make_member):
    platform = make_member(None, Role.PLATFORM_ADMIN)
    community = db.session.get(Community, world.community_id)
    resident = make_member(community)
    api = ApiClient(app.test_client())

    assert api.as_(platform).get(f"/communities/{world.slug}/reconciliation").status_code == 200
    problem(api.as_(resident).get(f"/communities/{world.slug}/reconciliation"), 403, "forbidden")
    other_admin = make_member(make_community(), Role.FUND_ADMIN)
    problem(api.as_(other_admin).get(f"/communities/{world.slug}/reconciliation"), 404, "not-found")


def test_the_openapi_document_declares_the_exports(app):
    spec = app.test_client().get("/api/openapi.json").get_json()
    content = spec["paths"]["/api/v1/communities/{slug}/reconciliation"]["get"]["responses"]["200"][
        "content"
    ]

    assert {"application/json", "text/csv", recon_world_xlsx()} <= set(content)


def recon_world_xlsx() -> str:
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
