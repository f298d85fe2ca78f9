"""Closing a month (design.md §8): four eyes, the report stored with its SHA-256, the
database refusing every posting dated in the month on either database, corrections in
the open month, and the stored report unchanged by what comes later."""

import hashlib
import json
from datetime import datetime

import pytest
import sqlalchemy as sa
from support.api import anonymous, award
from support.ledger_sql import triggers_off
from support.problems import problem

from app import ledger, month_close
from app.demo import dated
from app.earnings import LOCAL_TZ, Period, last_month
from app.extensions import db
from models import (
    AccountKind,
    AuditEntry,
    LedgerTransaction,
    MonthClose,
    MonthCloseStatus,
    Role,
    TransactionKind,
    utcnow,
)


class Books:
    """A community with two fund admins and a resident who earned last month, and a
    charity sale recorded then."""

    def __init__(self, api, make_community, make_member):
        self.community = make_community(award_approval_threshold=1_000_000)
        self.admin = make_member(self.community, Role.FUND_ADMIN)
        self.second = make_member(self.community, Role.FUND_ADMIN)
        self.resident = make_member(self.community)
        self.as_admin = api.as_(self.admin)
        self.as_second = api.as_(self.second)
        self.month = last_month()
        with dated(self.in_month()):
            assert award(self.as_admin, self.community, self.resident, 300).status_code == 201
            self.sale = self.as_admin.post(
                f"/communities/{self.slug}/income",
                json={
                    "amount_fen": 50_000,
                    "fund": "community",
                    "source": "charity_sale",
                    "reference": "旧物义卖",
                },
                key=True,
            ).json

    @property
    def slug(self) -> str:
        return self.community.slug

    def in_month(self, day: int = 15) -> datetime:
        return datetime(self.month.year, self.month.month, day, 10, tzinfo=LOCAL_TZ)

    def path(self, step: str = "") -> str:
        return f"/communities/{self.slug}/periods/{self.month}{step}"

    def close(self):
        asked = self.as_admin.post(self.path("/close"), key=True)
        assert asked.status_code == 201, asked.json
        confirmed = self.as_second.post(self.path("/close/confirm"), key=True)
        assert confirmed.status_code == 200, confirmed.json
        return confirmed.json


@pytest.fixture
def books(api, make_community, make_member):
    return Books(api, make_community, make_member)


def test_one_admin_asks_and_another_confirms(books):
    asked = books.as_admin.post(books.path("/close"), key=True)

    assert asked.status_code == 201
    assert asked.json["status"] == "requested"
    assert asked.json["report_sha256"] is None
    problem(
        books.as_admin.post(books.path("/close/confirm"), key=True),
        403,
        "second-admin-must-confirm",
    )
    problem(
        books.as_second.post(books.path("/close"), key=True), 409, "month-close-already-requested"
    )

    confirmed = books.as_second.post(books.path("/close/confirm"), key=True)

    assert confirmed.status_code == 200
    assert confirmed.json["status"] == "closed"
    assert confirmed.json["confirmed_by_id"] == books.second.id
    stored = books.as_admin.get(books.path("/report"))
    assert stored.headers["X-Report-SHA256"] == confirmed.json["report_sha256"]
    assert hashlib.sha256(stored.get_data()).hexdigest() == confirmed.json["report_sha256"]
    report = json.loads(stored.get_data())
    assert report["period"] == str(books.month)
    assert report["points"]["minted"]["manual_awards"] == 300
    assert report["money"]["income"]["charity_sale_fen"] == 50_000
    problem(
        books.as_second.post(books.path("/close/confirm"), key=True),
        409,
        "illegal-month-close-transition",
    )
    actions = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.community_id == books.community.id)
    ).all()
    assert actions.count("period.close") == 2


def test_a_request_can_be_withdrawn_and_asked_again(books):
    books.as_admin.post(books.path("/close"), key=True)

    withdrawn = books.as_second.post(books.path("/close/withdraw"), key=True)

    assert withdrawn.json["status"] == "withdrawn"
    problem(
        books.as_second.post(books.path("/close/confirm"), key=True),
        409,
        "illegal-month-close-transition",
    )
    again = books.as_second.post(books.path("/close"), key=True)
    assert again.status_code == 201
    assert again.json["status"] == "requested"
    assert again.json["requested_by_id"] == books.second.id
    assert books.as_admin.post(books.path("/close/confirm"), key=True).json["status"] == "closed"


def test_only_a_finished_month_and_only_fund_admins(books, make_member):
    this_month = Period.containing(utcnow())
    reply = books.as_admin.post(f"/communities/{books.slug}/periods/{this_month}/close", key=True)

    problem(reply, 409, "month-not-over")
    problem(
        books.as_admin.post(
            f"/communities/{books.slug}/periods/{books.month}/close/confirm", key=True
        ),
        409,
        "month-close-not-requested",
    )
    resident = books.as_admin.as_(books.resident)
    problem(resident.post(books.path("/close"), key=True), 403, "forbidden")
    platform = books.as_admin.as_(make_member(None, Role.PLATFORM_ADMIN))
    problem(platform.post(books.path("/close"), key=True), 403, "platform-admin-read-only")
    problem(books.as_admin.get(books.path("/report")), 404, "month-not-closed")


def test_books_that_do_not_reconcile_are_not_closed(books):
    db.session.execute(
        sa.text("UPDATE accounts SET balance = balance + 1 WHERE community_id = :c AND key = :k"),
        {"c": books.community.id, "k": f"wallet:member:{books.resident.id}"},
    )
    books.as_admin.post(books.path("/close"), key=True)

    reply = books.as_second.post(books.path("/close/confirm"), key=True)

    problem(reply, 409, "month-does-not-reconcile")
    assert f"wallet:member:{books.resident.id}: balance 301, entries 300" in reply.json["detail"]
    close = db.session.scalar(
        sa.select(MonthClose).where(MonthClose.community_id == books.community.id)
    )
    assert close.status == MonthCloseStatus.REQUESTED


def test_the_database_refuses_postings_dated_in_a_closed_month(books):
    books.close()

    with dated(books.in_month(20)):
        reply = award(books.as_admin, books.community, books.resident, 10)
    problem(reply, 409, "month-closed")

    issuance = ledger.ensure_account(books.community.id, AccountKind.ISSUANCE)
    with pytest.raises(sa.exc.IntegrityError, match="closed"), db.session.begin_nested():
        db.session.execute(
            sa.insert(LedgerTransaction.__table__).values(
                community_id=books.community.id,
                kind=TransactionKind.AWARD,
                memo="past app.ledger",
                created_at=books.in_month(3),
            )
        )
    old = db.session.scalar(
        sa.select(LedgerTransaction.id).where(
            LedgerTransaction.community_id == books.community.id,
            LedgerTransaction.kind == TransactionKind.AWARD,
        )
    )
    with pytest.raises(sa.exc.IntegrityError, match="closed"), db.session.begin_nested():
        db.session.execute(
            sa.text(
                "INSERT INTO ledger_entries (community_id, transaction_id, account_id, unit, "
                "amount) VALUES (:c, :t, :a, 'points', 5)"
            ),
            {"c": books.community.id, "t": old, "a": issuance.id},
        )
        db.session.flush()


def test_a_closed_month_never_changes(books):
    books.close()
    close = db.session.scalar(
        sa.select(MonthClose).where(MonthClose.community_id == books.community.id)
    )

    for statement in (
        "UPDATE month_closes SET report = '{}' WHERE id = :id",
        "DELETE FROM month_closes WHERE id = :id",
    ):
        with pytest.raises(sa.exc.DatabaseError), db.session.begin_nested():
            db.session.execute(sa.text(statement), {"id": close.id})


def test_later_activity_leaves_the_report_and_its_hash_as_they_were(books):
    closed = books.close()
    before = books.as_admin.get(books.path("/report")).get_data()

    assert award(books.as_admin, books.community, books.resident, 40).status_code == 201
    reversed_sale = books.as_admin.post(
        f"/income/{books.sale['id']}/reverse", json={"reason": "金额录错"}, key=True
    )
    assert reversed_sale.status_code == 200

    after = books.as_admin.get(books.path("/report"))
    assert after.get_data() == before
    assert after.headers["X-Report-SHA256"] == closed["report_sha256"]
    verified = books.as_admin.get(books.path("/verify")).json
    assert verified == {
        "period": str(books.month),
        "sha256": closed["report_sha256"],
        "content_sha256": closed["report_sha256"],
        "content_intact": True,
        "figures_match": True,
        "differences": [],
        "closed_at": closed["closed_at"],
    }
    this_month = Period.containing(utcnow())
    now = books.as_admin.get(f"/communities/{books.slug}/reconciliation?period={this_month}").json
    [correction] = now["corrections"]
    assert correction["corrects_transaction_id"] == db.session.scalar(
        sa.select(LedgerTransaction.id).where(
            LedgerTransaction.reference == f"income:{books.sale['id']}"
        )
    )
    assert correction["corrects_period"] == str(books.month)
    assert now["money"]["income"]["reversed_fen"] == 50_000
    assert now["points"]["minted"]["manual_awards"] == 40


def test_verification_names_the_figures_a_changed_ledger_no_longer_gives(books):
    books.close()
    with triggers_off("ledger_entries"):
        db.session.execute(
            sa.text(
                "UPDATE ledger_entries SET amount = amount - 5 WHERE community_id = :c "
                "AND amount = -300"
            ),
            {"c": books.community.id},
        )

    verified = books.as_admin.get(books.path("/verify")).json

    assert verified["content_intact"] is True
    assert verified["figures_match"] is False
    assert {"points.minted.manual_awards", "points.opening.issuance"} <= set(
        verified["differences"]
    )


def test_anyone_can_fetch_the_stored_report_and_the_board_shows_its_hash(books, app):
    closed = books.close()
    visitor = anonymous(app).client

    public = visitor.get(f"/c/{books.slug}/months/{books.month}/report.json")

    assert public.status_code == 200
    assert hashlib.sha256(public.get_data()).hexdigest() == closed["report_sha256"]
    board = visitor.get(f"/c/{books.slug}").get_data(as_text=True)
    assert closed["report_sha256"] in board
    assert (
        visitor.get(f"/c/{books.slug}/months/{Period.containing(utcnow())}/report.json").status_code
        == 404
    )


def test_the_list_of_months(books):
    books.close()

    listed = books.as_admin.get(f"/communities/{books.slug}/periods").json["items"]

    assert [(m["period"], m["status"]) for m in listed] == [(str(books.month), "closed")]
    assert books.as_admin.get(books.path()).json["status"] == "closed"


def test_the_domain_refuses_the_requester_too(books, ctx):
    month_close.request_close(books.community, books.month, actor=books.admin)

    with pytest.raises(month_close.SecondAdminMustConfirm):
        month_close.confirm_close(books.community, books.month, actor=books.admin)


def test_flask_reconcile_reports_a_month(books, cli):
    result = cli.invoke(args=["reconcile", "--community", books.slug, "--period", str(books.month)])

    assert result.exit_code == 0, result.output
    assert f"({books.slug}) {books.month}" in result.output
    assert "minted 300 points (activities 0, manual 300, coupon grants 0)" in result.output
    assert "income ¥500.00 net" in result.output
    assert (
        "[skip] every Stripe payment and transfer matches one ledger transaction" in result.output
    )
    bad = cli.invoke(args=["reconcile", "--period", "2026-13"])
    assert bad.exit_code == 2
    assert "is not a month" in bad.output
