"""The console's forms under real concurrency on PostgreSQL: a form sent several times at
once (a double tap on a slow network, two tabs) takes effect once.

Each test commits for real in a community of its own (``pg``).
"""

import re

import pytest
import sqlalchemy as sa
from support.concurrency import concurrently
from support.names import unique

from app import communities
from app.extensions import db
from app.reconciliation import reconcile
from models import Award, AwardStatus, Community, Member, Role

pytestmark = pytest.mark.postgres

HIDDEN = re.compile(r'<input[^>]*name="(csrf_token|form_key)"[^>]*value="([^"]+)"')


def signed_in(app, username: str, password: str):
    """A client signed in through the form, and the hidden fields of the award form."""
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = dict(HIDDEN.findall(login))["csrf_token"]
    client.post("/login", data={"csrf_token": token, "username": username, "password": password})
    form = client.get("/admin/awards").get_data(as_text=True)
    return client, dict(HIDDEN.findall(form))


def test_an_award_form_sent_eight_times_at_once_books_once(pg):
    community = communities.create_community(unique("pg-console"), "并发管理台社区")
    admin = communities.create_member(
        community,
        username=unique("fund"),
        password="console-pass-1",
        display_name="张主任",
        role=Role.FUND_ADMIN,
    )
    resident = communities.create_member(
        community,
        username=unique("res"),
        password="resident-pass-1",
        display_name="王阿姨",
        role=Role.RESIDENT,
    )
    db.session.commit()
    names = (admin.username, resident.username, community.id, resident.id)
    admin_name, resident_name, community_id, resident_id = names
    client, hidden = signed_in(pg, admin_name, "console-pass-1")
    cookie = client.get_cookie("session").value
    form = {**hidden, "member": resident_name, "direction": "award", "points": "120"}
    form["reason"] = "组织义卖"

    def send(other):
        other.set_cookie("session", cookie)
        return other.post("/admin/awards", data=form)

    replies = concurrently(pg, [send] * 8)

    assert {reply.status for reply in replies} == {303}
    assert {reply.headers["Location"] for reply in replies} == {"/admin/awards"}
    assert sum(reply.headers.get("Idempotent-Replayed") == "true" for reply in replies) == 7
    db.session.expire_all()
    booked = db.session.execute(
        sa.select(Award.points, Award.status).where(Award.member_id == resident_id)
    ).all()
    assert booked == [(120, AwardStatus.POSTED)]
    member = db.session.get(Member, resident_id)
    assert communities.wallet_of(member).balance == 120
    assert reconcile(db.session.get(Community, community_id)).ok
