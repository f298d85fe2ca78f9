"""The command line (design.md §11a): create-admin, reconcile and demo.

``create-admin`` and ``reconcile`` run against the session's database: the
commands use the test's app context and so its session, whose commits are
savepoints in the test's rolled-back transaction. ``demo`` migrates and seeds a
database of its own, a fresh SQLite file.
"""

import re
from collections import Counter

import pytest
import sqlalchemy as sa
from support.api import ApiClient
from support.apps import TEST_CONFIG
from support.books import count
from support.names import unique

from app import awards, create_app, demo_history
from app.demo import PASSWORD as DEMO_PASSWORD
from app.extensions import db
from models import (
    Account,
    AccountKind,
    Activity,
    ActivityCategory,
    ActivityStatus,
    Attendance,
    AttendanceStatus,
    Award,
    Community,
    Member,
    PlatformAdmin,
    Role,
    Username,
)


def test_create_admin_makes_a_platform_admin_who_can_sign_in(app, cli):
    username = unique("district")

    result = cli.invoke(args=["users", "create-admin", username, "--password", "district-pass"])

    assert result.exit_code == 0, result.output
    admin = db.session.execute(
        sa.select(PlatformAdmin).where(PlatformAdmin.username == username)
    ).scalar_one()
    assert admin.role == Role.PLATFORM_ADMIN
    assert admin.community_id is None
    assert admin.display_name == username
    assert count(Member, Member.username == username) == 0
    assert f"Created platform admin '{username}' (id {admin.id})." in result.output
    assert "district-pass" not in result.output
    token = ApiClient(app.test_client()).post(
        "/auth/token", json={"username": username, "password": "district-pass"}
    )
    assert token.status_code == 201
    assert token.json["user"]["roles"] == ["platform_admin"]


def test_create_admin_takes_a_display_name(cli):
    username = unique("district")
    result = cli.invoke(
        args=[
            "users",
            "create-admin",
            username,
            "--password",
            "district-pass",
            "--display-name",
            "区运营 Operator",
        ]
    )
    assert result.exit_code == 0, result.output
    admin = db.session.execute(
        sa.select(PlatformAdmin).where(PlatformAdmin.username == username)
    ).scalar_one()
    assert admin.display_name == "区运营 Operator"


def test_create_admin_twice_fails_clearly(cli):
    username = unique("district")
    args = ["users", "create-admin", username, "--password", "district-pass"]
    assert cli.invoke(args=args).exit_code == 0

    again = cli.invoke(args=args)

    assert again.exit_code != 0
    assert f"Error: The username '{username}' is taken." in again.output
    assert "Traceback" not in again.output
    assert count(PlatformAdmin, PlatformAdmin.username == username) == 1


def test_create_admin_refuses_a_short_password(cli):
    username = unique("district")
    result = cli.invoke(args=["users", "create-admin", username, "--password", "short"])
    assert result.exit_code != 0
    assert "at least 8 characters" in result.output
    assert count(Member, Member.username == username) == 0


@pytest.fixture
def busy_community(make_community, make_member):
    """A community with awards, a deduction and a pending award, committed for the CLI."""
    community = make_community(name="测试社区 Reconcile")
    admin = make_member(community, Role.FUND_ADMIN)
    resident = make_member(community)
    for points in (300, 120, -20, 5000):
        awards.request_award(community, resident, points=points, reason="志愿", actor=admin)
    db.session.commit()
    return community


def test_reconcile_passes_on_consistent_data(cli, busy_community):
    result = cli.invoke(args=["reconcile", "--community", busy_community.slug])

    assert result.exit_code == 0, result.output
    assert f"测试社区 Reconcile ({busy_community.slug})" in result.output
    lines = result.output.splitlines()
    assert any(line.split() == ["points", "wallet", "400"] for line in lines)
    assert any(line.split() == ["points", "issuance", "-400"] for line in lines)
    assert "[ok  ] every unit sums to zero" in result.output
    assert "FAIL" not in result.output
    assert result.output.rstrip().endswith("All checks passed.")


def test_reconcile_fails_when_a_balance_is_off(cli, busy_community):
    db.session.execute(
        sa.update(Account)
        .where(Account.community_id == busy_community.id, Account.kind == AccountKind.WALLET)
        .values(balance=Account.balance + 1)
    )
    db.session.commit()

    result = cli.invoke(args=["reconcile", "--community", busy_community.slug])

    assert result.exit_code == 1
    assert "[FAIL] every unit sums to zero" in result.output
    assert "[FAIL] every account balance equals the sum of its entries" in result.output
    assert result.output.rstrip().endswith("Some checks FAILED.")


def test_reconcile_of_an_unknown_community(cli):
    result = cli.invoke(args=["reconcile", "--community", "no-such-community"])
    assert result.exit_code != 0
    assert "No community 'no-such-community'." in result.output


@pytest.mark.demo
class TestDemo:
    """``flask demo --no-serve`` on a database of its own."""

    @pytest.fixture(autouse=True)
    def db_session(self):
        """Replaces the rolled-back session: this app's database is a fresh file."""
        yield None

    @pytest.fixture
    def demo_app(self, tmp_path):
        app = create_app(
            {**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'demo.sqlite'}"}
        )
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()

    def invoke(self, app, *args):
        # The command shares this app context and so its session: end the
        # test's reads first (SQLite's BEGIN IMMEDIATE would block the
        # migration's connection), and read afresh what the command committed.
        db.session.remove()
        result = app.test_cli_runner().invoke(args=list(args))
        db.session.remove()
        return result

    def totals(self):
        return {model.__tablename__: count(model) for model in (Community, Member, Award)}

    def test_demo_serves_the_app_it_seeded(self, demo_app, monkeypatch):
        served = []
        monkeypatch.setattr(
            "app.demo.run_simple", lambda *args, **kwargs: served.append((args, kwargs))
        )
        result = self.invoke(demo_app, "demo", "--port", "5123")
        assert result.exit_code == 0, result.output
        assert served == [(("127.0.0.1", 5123, demo_app), {"threaded": True})]

    def test_demo_migrates_seeds_once_and_reconciles(self, demo_app):
        first = self.invoke(demo_app, "demo", "--no-serve")

        assert first.exit_code == 0, first.output
        assert "Seeded 北新社区 (beixin)." in first.output
        assert f"password for all: {DEMO_PASSWORD}" in first.output
        for username in ("admin", "fund", "fund2", "organizer", "resident", "cashier"):
            assert f"  {username} " in first.output
        assert "demo.sqlite" in first.output
        with db.engine.connect() as connection:  # the seed is committed in the file
            assert db.engine.url.database.endswith("demo.sqlite")
            assert connection.scalar(sa.text("SELECT name FROM communities")) == "北新社区"
        community = db.session.execute(
            sa.select(Community).where(Community.slug == "beixin")
        ).scalar_one()
        assert community.name == "北新社区"
        roles = set(db.session.scalars(sa.select(Member.role)))
        assert roles == set(Role) - {Role.PLATFORM_ADMIN}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PlatformAdmin)) == 1
        seeded = self.totals()
        # The story's seven members (its eighth person is the platform admin), and the
        # history's 94 street chiefs, 40 volunteers and the cashiers of the other 19 shops;
        # its awards: each month a patrol award for each chief, and the merit awards behind
        # the 69 coupons.
        history = demo_history.MONTHS * 94 + sum(demo_history.COUPONS)
        assert seeded == {"communities": 1, "members": 7 + 94 + 40 + 19, "awards": 6 + history}

        second = self.invoke(demo_app, "demo", "--no-serve")

        assert second.exit_code == 0, second.output
        assert "Demo community already there." in second.output
        assert self.totals() == seeded

        reconciled = self.invoke(demo_app, "reconcile")
        assert reconciled.exit_code == 0, reconciled.output
        assert "北新社区 (beixin)" in reconciled.output
        assert reconciled.output.rstrip().endswith("All checks passed.")

    def test_every_start_says_how_to_sign_in(self, demo_app, monkeypatch):
        """Defect 10: a second start printed nothing useful about signing in. Every
        start lists each account with its role, what it is for and where it starts,
        the address and the password, last before the server starts."""
        monkeypatch.setattr("app.demo.run_simple", lambda *args, **kwargs: None)
        assert self.invoke(demo_app, "demo").exit_code == 0
        second = self.invoke(demo_app, "demo", "--port", "5123")

        assert second.exit_code == 0, second.output
        base = "http://127.0.0.1:5123"
        assert f"Sign in at {base}/login" in second.output
        assert f"the password for all: {DEMO_PASSWORD}" in second.output
        listed = re.findall(r"^  (\S+) +(\S+) +\S", second.output, re.M)
        assert listed == [
            ("admin", "platform_admin"),
            ("fund", "fund_admin"),
            ("fund2", "fund_admin"),
            ("organizer", "organizer"),
            ("resident", "resident"),
            ("resident2", "resident"),
            ("resident3", "resident"),
            ("cashier", "merchant_staff"),
        ]
        assert f"the till: scan, redeem, void; today's sales: {base}/pos" in second.output
        assert f"activities, check-in QR, attendance, finalizing: {base}/activities" in (
            second.output
        )
        seeded = set(db.session.scalars(sa.select(Username.username)))
        assert {username for username, _role in listed} <= seeded  # each of them can sign in

    def test_demo_people_sign_in_and_hold_their_points(self, demo_app):
        assert self.invoke(demo_app, "demo", "--no-serve").exit_code == 0
        client = ApiClient(demo_app.test_client())

        def me(username):
            token = client.post(
                "/auth/token", json={"username": username, "password": DEMO_PASSWORD}
            )
            assert token.status_code == 201, token.json
            return ApiClient(demo_app.test_client(), token.json["token"]).get("/me").json

        # 450 awarded, then activities 50 + 50 + 100, the last cut to the monthly cap of 600.
        assert me("resident")["wallet"] == {"points": 600, "value_fen": 1200}
        # 李建国 paid ¥5.00 at the 微街长便民超市 with his pay-code: 250 points.
        assert me("resident2")["wallet"]["points"] == 280 + 50 + 60 - 250
        assert me("fund")["roles"] == ["fund_admin"]
        assert me("admin")["community"] is None
        assert me("cashier")["merchant_id"] is not None

    def test_demo_has_activities_of_every_kind_some_finalized(self, demo_app):
        assert self.invoke(demo_app, "demo", "--no-serve").exit_code == 0

        seeded = db.session.execute(sa.select(Activity.category, Activity.status)).all()
        assert {category for category, _status in seeded} == set(ActivityCategory)
        assert Counter(status for _category, status in seeded) == {
            # Two a month in the six months of history.
            ActivityStatus.FINALIZED: 3 + 2 * demo_history.MONTHS,
            ActivityStatus.PUBLISHED: 3,
            ActivityStatus.DRAFT: 1,
        }
        outcomes = Counter(
            (status, capped)
            for status, capped in db.session.execute(
                sa.select(Attendance.status, Attendance.capped)
            )
        )
        assert outcomes == {
            # Ten volunteers at each of the history's activities.
            (AttendanceStatus.AWARDED, False): 5 + 10 * 2 * demo_history.MONTHS,
            (AttendanceStatus.AWARDED, True): 1,
            (AttendanceStatus.EXCLUDED, False): 1,
            (AttendanceStatus.CHECKED_IN, False): 1,
        }
        client = ApiClient(demo_app.test_client())
        token = client.post("/auth/token", json={"username": "resident", "password": DEMO_PASSWORD})
        resident = ApiClient(demo_app.test_client(), token.json["token"])
        lines = resident.get(f"/members/{token.json['user']['id']}/transactions").json["items"]
        assert [(line["activity_title"], line["points"]) for line in lines[:3]] == [
            ("邻里纠纷调解 Neighbour dispute mediation", 50),
            ("社区花坛补植 Flower-bed replanting", 50),
            ("北新街环境卫生整治 Street cleanup", 50),
        ]
        assert self.invoke(demo_app, "reconcile").exit_code == 0

    def test_demo_residents_hold_last_months_coupons(self, demo_app):
        assert self.invoke(demo_app, "demo", "--no-serve").exit_code == 0
        client = ApiClient(demo_app.test_client())

        def coupons(username):
            token = client.post(
                "/auth/token", json={"username": username, "password": DEMO_PASSWORD}
            ).json
            member_id = token["user"]["id"]
            as_member = ApiClient(demo_app.test_client(), token["token"])
            return as_member.get(f"/members/{member_id}/coupons").json["items"]

        # Earned last month: 450 points (the 400 tier), 300 (the 300 tier), 120 (none).
        [first], [second] = coupons("resident"), coupons("resident2")
        assert (first["points"], second["points"]) == (200, 100)
        assert first["merchant_group"] == "微街长商家"
        # She spent 180 of them on a ¥3.60 bill at the 微街长便民超市.
        assert (first["status"], first["points_remaining"]) == ("partly_redeemed", 20)
        assert first["token"] and first["code"]
        assert coupons("resident3") == []
