"""Reports read from ``REPORTS_DATABASE_URL`` when it is set (app.replica).

On SQLite the "replica" is a snapshot of the primary's file taken mid-way: the
report must show the snapshot's books, its exports, the dashboard and ``flask
reconcile`` must run there, read-only, and everything else (signing in, a
balance read) keeps to the primary. On PostgreSQL the reports database is the primary itself, read
through read-only connections: every report path must work without one write."""

import sqlite3

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from support.api import ApiClient
from support.apps import app_on
from support.concurrency import new_community
from support.pages import page_client, sign_in

from app import auth, awards, communities, replica
from app.extensions import db
from models import Member, Role


def _books(app) -> dict:
    """A community, its fund admin's token and a resident, with 100 points awarded."""
    with app.app_context():
        upgrade()
        community = communities.create_community("replica-test", "副本测试社区")
        community.award_approval_threshold = 1_000_000
        admin = communities.create_member(
            community, username="replica-admin", password="password-1",
            display_name="基金", role=Role.FUND_ADMIN,
        )  # fmt: skip
        resident = communities.create_member(
            community, username="replica-resident", password="password-1",
            display_name="居民", role=Role.RESIDENT,
        )  # fmt: skip
        awards.request_award(community, resident, points=100, reason="清扫", actor=admin)
        secret, _ = auth.issue_token(admin)
        db.session.commit()
        return {"slug": community.slug, "token": secret, "admin": admin.id, "resident": resident.id}


def _award_more(app, books, points):
    with app.app_context():
        community = communities.by_slug(books["slug"])
        admin = db.session.get(Member, books["admin"])
        resident = db.session.get(Member, books["resident"])
        awards.request_award(community, resident, points=points, reason="绿化", actor=admin)
        db.session.commit()


def _minted(app, books) -> int:
    with app.app_context():
        client = ApiClient(app.test_client(), books["token"])
        response = client.get(f"/communities/{books['slug']}/reconciliation")
        assert response.status_code == 200, response.json
        assert response.json["ok"], response.json["invariants"]
        return response.json["points"]["minted"]["total"]


def _snapshot(source: str, target: str) -> None:
    with sqlite3.connect(source) as primary, sqlite3.connect(target) as copy:
        primary.backup(copy)


@pytest.mark.own_databases
def test_reports_read_the_replica_and_all_else_the_primary(tmp_path):
    primary, snapshot = tmp_path / "primary.sqlite", tmp_path / "replica.sqlite"
    with app_on(f"sqlite:///{primary}") as app:
        books = _books(app)
        _snapshot(primary, snapshot)
        _award_more(app, books, 40)
        assert _minted(app, books) == 140

    with app_on(f"sqlite:///{primary}", REPORTS_DATABASE_URL=f"sqlite:///{snapshot}") as app:
        assert _minted(app, books) == 100
        with app.app_context():
            client = ApiClient(app.test_client(), books["token"])
            csv = client.get(f"/communities/{books['slug']}/reconciliation?format=csv")
            assert csv.status_code == 200
            assert "minted" in csv.get_data(as_text=True)
            result = app.test_cli_runner().invoke(args=["reconcile", "--community", books["slug"]])
            assert result.exit_code == 0, result.output
            assert "All checks passed." in result.output
            # Outside the reports, the primary: the balance read says 140.
            balance = client.get(f"/members/{books['resident']}/balance")
            assert balance.json["points"] == 140
            pages = page_client(app)
            sign_in(pages, "replica-admin")
            for page in (
                "/admin/dashboard",
                "/admin/reconciliation",
                "/admin/reconciliation/export.csv",
            ):
                assert pages.get(page).status_code == 200, page
            with replica.reports_reads(), pytest.raises(sa.exc.OperationalError):
                db.session.execute(sa.text("CREATE TABLE written_on_the_replica (id integer)"))
            db.session.rollback()
        _award_more(app, books, 5)
        assert _minted(app, books) == 100


@pytest.mark.postgres
def test_the_report_paths_write_nothing_on_postgresql(pg, database_url):
    """With the primary itself as the reports database, through read-only
    connections: the report and its exports need no write, and a write fails."""
    setup = new_community(points=100)
    books = {"slug": setup.community.slug, "token": setup.token}
    with app_on(database_url, REPORTS_DATABASE_URL=database_url) as app:
        assert _minted(app, books) == 100
        with app.app_context():
            client = ApiClient(app.test_client(), books["token"])
            for export in ("csv", "xlsx"):
                path = f"/communities/{books['slug']}/reconciliation?format={export}"
                assert client.get(path).status_code == 200
            with replica.reports_reads(), pytest.raises(sa.exc.InternalError) as caught:
                db.session.execute(sa.text("CREATE TABLE written_on_the_replica (id integer)"))
            assert caught.value.orig.sqlstate == "25006"  # read_only_sql_transaction
            db.session.rollback()
