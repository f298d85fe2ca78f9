"""The reads every API request makes, through the driver's prepared statements on
PostgreSQL (``app.sql.hot_row``): they must give the same member, with the same
values of the same types, as the ORM loads, and see the request's own writes."""

import pytest
import sqlalchemy as sa
from psycopg.pq import TransactionStatus

from app import auth, sql, wallets
from app.extensions import db
from models import Community, Member, Merchant, Role


def _columns(instance) -> dict:
    return {column.key: getattr(instance, column.key) for column in type(instance).__table__.c}


def _orm_loaded(model, ident) -> dict:
    db.session.expunge_all()
    return _columns(db.session.execute(sa.select(model).where(model.id == ident)).scalar_one())


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.MERCHANT_STAFF, Role.FUND_ADMIN])
def test_the_token_names_the_member_as_the_orm_loads_them(app, make_community, make_member, role):
    member = make_member(make_community(), role)
    member.locale = "en"
    secret, _ = auth.issue_token(member)
    db.session.flush()
    expected = {
        "member": _orm_loaded(Member, member.id),
        "community": _orm_loaded(Community, member.community_id),
        "merchant": member.merchant_id and _orm_loaded(Merchant, member.merchant_id),
    }
    db.session.expunge_all()

    with app.test_request_context(headers={"Authorization": f"Bearer {secret}"}):
        actor = auth.api_actor()
        found = {
            "member": _columns(actor),
            "community": _columns(actor.community),
            "merchant": actor.merchant and _columns(actor.merchant),
        }
        assert found == expected
        assert isinstance(actor.role, Role)
        assert actor.created_at.tzinfo is not None
        # The session holds it as loaded: nothing to write, and the same instance by id.
        assert actor in db.session and not db.session.dirty and not db.session.new
        assert db.session.get(Member, actor.id) is actor


def test_a_member_already_loaded_is_the_one_adopted(app, make_community, make_member):
    member = make_member(make_community())
    secret, _ = auth.issue_token(member)
    db.session.flush()
    with app.test_request_context(headers={"Authorization": f"Bearer {secret}"}):
        assert auth.api_actor() is member


def test_a_revoked_token_names_nobody(app, make_community, make_member):
    member = make_member(make_community())
    secret, _ = auth.issue_token(member)
    db.session.flush()
    auth.revoke_token(secret)
    with (
        app.test_request_context(headers={"Authorization": f"Bearer {secret}"}),
        pytest.raises(auth.BearerTokenNotLive),
    ):
        auth.api_actor()


def test_an_unknown_token_names_nobody(app, ctx):
    assert sql.hot_row(auth._ACTOR_BY_DIGEST, {"digest": auth.token_digest("jf_nobody")}) is None


def test_the_balance_read_sees_the_requests_own_writes(make_community, make_member):
    """The read runs on the session's connection, inside its transaction."""
    community = make_community()
    member = make_member(community)
    assert wallets.balance(member).points == 0
    wallet = wallets.wallet_or_404(member)
    db.session.execute(
        sa.update(type(wallet)).where(type(wallet).id == wallet.id).values(balance=40)
    )
    assert wallets.balance(member).points == 40


@pytest.mark.postgres
def test_a_read_before_any_write_sends_no_begin(pg):
    """In service a request that only reads opens no transaction, so it has no
    COMMIT to send; after a write its reads join the request's transaction."""
    with pg.test_request_context():
        driver = db.session.connection().connection.driver_connection
        assert sql.hot_row(auth._ACTOR_BY_DIGEST, {"digest": auth.token_digest("jf_x")}) is None
        assert driver.info.transaction_status == TransactionStatus.IDLE
        assert driver.autocommit is False

        db.session.execute(sa.text("CREATE TEMPORARY TABLE written (n int) ON COMMIT DROP"))
        db.session.execute(sa.text("INSERT INTO written VALUES (7)"))
        read = sa.select(sa.literal_column("n")).select_from(sa.table("written"))
        assert sql.hot_row(read, {}) == (7,)
        assert driver.info.transaction_status == TransactionStatus.INTRANS
        db.session.rollback()
