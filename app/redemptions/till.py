"""The till's redemption on PostgreSQL, in two statements.

A till waits on ``POST /api/v1/redemptions``, and on two cores the locking
path (the view's ``requires`` and ``idempotent`` decorators, then
:func:`app.redemptions.redeem`) spends most of a redemption's CPU on seven
round trips and the ORM objects they load. For the plain success, this path
asks the database twice, with the driver's prepared statements, each
statement a transaction of its own:

1. one read (:data:`READ`, built with SQLAlchemy Core from the models): the
   bearer token's cashier, merchant and community (with the rate in force,
   :func:`app.communities.rate_in_force`), the coupon (by its code,
   or by the id in its verified QR token; only the cashier's community's),
   whether it may be spent at this merchant (:func:`app.coupons.valid_at`),
   the offer, and the ids the redemption will have (taken from the sequences:
   a fallback leaves a gap, as any rolled-back insert does);
2. one call to ``jifen_redeem`` that claims the Idempotency-Key with the
   receipt already rendered (a key already taken makes it return nothing), and
   records the redemption only if the coupon still holds the points and status
   read.

Every check is the locking path's own rule, called on what was read: the
token's life (:func:`app.auth.token_refusal`), the role's grant
(:func:`app.authz.permits`), the merchant, bill and offer
(:mod:`app.redemptions.quote`), the coupon's state
(:func:`app.coupons.check_usable`) and the split (:func:`app.offers.split`).
Anything else falls back to the locking path, having changed nothing: a
request this path does not take (a pay-code), a check that fails, a key
already used, or a coupon that changed between the read and the call. The
locking path checks again and answers, so every refusal and replay keeps one
author. ``tests/test_till.py`` holds the two paths to the same rows and the
same receipts.
"""

import hmac
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

import psycopg
import sqlalchemy as sa
from flask import Response
from psycopg.rows import namedtuple_row

from models import (
    Community,
    Coupon,
    CouponStatus,
    IssuanceRule,
    LedgerTransaction,
    Member,
    Merchant,
    Offer,
    OfferKind,
    Redemption,
    RedemptionStatus,
    Role,
)

from .. import auth, authz, communities, coupons, offers, ratelimit, sql
from ..coupon_tokens import normalize_code, read_token
from ..extensions import db
from ..problems import Problem
from ..signing import keyring
from .quote import Quote, cashier_merchant, check_bill, check_offer, receipt
from .writers import REDEEM_PARAMETERS, redeem_arguments


def _next_id(model) -> sa.ColumnElement[int]:
    """The next value of ``model``'s id sequence (named, not looked up per call)."""
    sequence = f"{model.__tablename__}_id_seq"
    return sa.func.nextval(sa.literal_column(f"'{sequence}'"))


def _read(coupon_match: sa.ColumnElement[bool]) -> sa.Select:
    """The till's one read, for coupons matched by ``coupon_match``."""
    return (
        sa.select(
            auth.TOKEN.c.digest,
            auth.TOKEN.c.revoked_at,
            auth.TOKEN.c.expires_at.label("token_expires_at"),
            Member.id.label("cashier_id"),
            Member.community_id,
            Member.role,
            Member.merchant_id.label("cashier_merchant_id"),
            Member.active.label("cashier_active"),
            Community.active.label("community_active"),
            Merchant.id.label("merchant_id"),
            Merchant.name.label("merchant_name"),
            Merchant.active.label("merchant_active"),
            communities.rate_in_force(sa.bindparam("today", type_=sa.Date)).label(
                "points_per_yuan"
            ),
            Coupon.id.label("coupon_id"),
            Coupon.code.label("coupon_code"),
            Coupon.points_remaining,
            Coupon.status,
            Coupon.expires_at.label("coupon_expires_at"),
            coupons.valid_at(
                IssuanceRule.merchant_group_id, Coupon.community_id, Merchant.id
            ).label("valid_here"),
            Offer.id.label("offer_id"),
            Offer.merchant_id.label("offer_merchant_id"),
            Offer.title.label("offer_title"),
            Offer.kind.label("offer_kind"),
            Offer.discount_percent,
            Offer.price_fen,
            Offer.max_points_per_bill,
            Offer.active_from,
            Offer.active_until,
            Offer.active.label("offer_active"),
            _next_id(Redemption).label("redemption_id"),
            _next_id(LedgerTransaction).label("transaction_id"),
        )
        .select_from(auth.TOKEN_MEMBER)
        .join(Community, Community.id == Member.community_id)
        .outerjoin(
            Merchant,
            (Merchant.community_id == Member.community_id) & (Merchant.id == Member.merchant_id),
        )
        .outerjoin(Coupon, (Coupon.community_id == Member.community_id) & coupon_match)
        .outerjoin(
            IssuanceRule,
            (IssuanceRule.community_id == Coupon.community_id)
            & (IssuanceRule.id == Coupon.rule_id),
        )
        .outerjoin(
            Offer,
            (Offer.community_id == Member.community_id) & (Offer.id == sa.bindparam("offer_id")),
        )
    )


def reads() -> dict[str, str]:
    """The read by the typed code, and by the id a verified QR token names."""
    return {
        "code": sql.driver_sql(_read(Coupon.code == sa.bindparam("code"))),
        "token": sql.driver_sql(_read(Coupon.id == sa.bindparam("coupon_id"))),
    }


#: Built at import, so a column renamed in the models breaks here, not at a till.
READ = reads()
WRITE = sql.driver_sql(
    sa.select(sa.literal_column("1")).select_from(
        sa.func.jifen_redeem(*(sa.bindparam(name) for name in REDEEM_PARAMETERS))
    )
)


@dataclass(frozen=True)
class TillRequest:
    """What the API hands the till: the request, already parsed."""

    secret: str
    #: The loaded body: ``code`` or ``token``, ``bill_fen``, ``offer_id``, ``merchant_id``.
    wanted: dict
    key: str
    key_fingerprint: str
    key_expires_at: datetime
    now: datetime


class Till:
    """The two-statement path; the PostgreSQL writer's ``till``."""

    def redeem(self, asked: TillRequest, render: Callable[[dict], Response]) -> Response | None:
        """The 201 receipt ``render`` makes of the redemption, or None (nothing
        changed) for the locking path to answer."""
        wanted, now = asked.wanted, asked.now
        if "pay_code" in wanted:
            return None
        if "token" in wanted:
            try:
                payload = read_token(wanted["token"], keyring(), now)
            except Problem:
                return None
            by, coupon = "token", {"coupon_id": payload.coupon_id}
        else:
            by, coupon = "code", {"code": normalize_code(wanted["code"])}
        digest = auth.token_digest(asked.secret)
        with _cursor(_bind()) as cursor:
            seen = cursor.execute(
                READ[by],
                dict(
                    coupon,
                    digest=digest,
                    offer_id=wanted.get("offer_id"),
                    today=communities.local_today(),
                ),
                prepare=True,
            ).fetchone()
            if seen is None or not hmac.compare_digest(seen.digest, digest):
                return None
            if ratelimit.codes_locked(seen.cashier_id):
                return None  # the locking path says why
            if by == "code" and not (
                seen.coupon_code is not None
                and hmac.compare_digest(seen.coupon_code, coupon["code"])
            ):
                return None
            found = _quote(seen, wanted, now)
            if found is None:
                return None
            cashier = SimpleNamespace(id=seen.cashier_id)
            response = render(
                dict(
                    receipt(found, cashier),
                    id=seen.redemption_id,
                    transaction_id=seen.transaction_id,
                    status=RedemptionStatus.ACTIVE,
                    created_at=now,
                    void_transaction_id=None,
                    statement_id=None,
                    voided_at=None,
                )
            )
            arguments = redeem_arguments(
                found,
                cashier,
                now,
                redemption_id=seen.redemption_id,
                transaction_id=seen.transaction_id,
                key=asked.key,
                key_fingerprint=asked.key_fingerprint,
                key_expires_at=asked.key_expires_at,
                response_status=response.status_code,
                response_type=response.content_type,
                response_body=response.get_data(),
            )
            return response if _write(cursor, arguments) else None


def _quote(seen, wanted: dict, now: datetime) -> Quote | None:
    """The locking path's quote from what was read, when every one of its
    checks passes; None when any would refuse."""
    if seen.coupon_id is None or not seen.valid_here:
        return None
    refusal = auth.token_refusal(
        revoked_at=seen.revoked_at,
        expires_at=seen.token_expires_at,
        member_active=Member.may_sign_in(seen.cashier_active, seen.community_active),
        now=now,
    )
    cashier = SimpleNamespace(
        id=seen.cashier_id,
        role=Role(seen.role),
        community_id=seen.community_id,
        merchant_id=seen.cashier_merchant_id,
        merchant=None,
    )
    if refusal is not None or not authz.permits(cashier, "redemption.create", authz.Scope()):
        return None
    if seen.merchant_id is not None:
        cashier.merchant = SimpleNamespace(
            id=seen.merchant_id,
            community_id=seen.community_id,
            name=seen.merchant_name,
            active=seen.merchant_active,
        )
    coupon = SimpleNamespace(
        id=seen.coupon_id,
        code=seen.coupon_code,
        points_remaining=seen.points_remaining,
        status=CouponStatus(seen.status),
        expires_at=seen.coupon_expires_at,
    )
    try:
        merchant = cashier_merchant(cashier, wanted.get("merchant_id"))
        check_bill(wanted["bill_fen"])
        offer = check_offer(merchant, wanted.get("offer_id"), _offer(seen))
        coupons.check_usable(coupon, now)
    except Problem:
        return None
    split = offers.split(
        wanted["bill_fen"],
        points_available=coupon.points_remaining,
        points_per_yuan=seen.points_per_yuan,
        offer=offer,
    )
    if split.points == 0:
        return None
    return Quote(merchant, offer, coupon, None, coupon.points_remaining, split)


def _offer(seen) -> Offer | None:
    """The offer as read (the cashier's community's only), not yet checked."""
    if seen.offer_id is None:
        return None
    return Offer(
        id=seen.offer_id,
        community_id=seen.community_id,
        merchant_id=seen.offer_merchant_id,
        title=seen.offer_title,
        kind=OfferKind(seen.offer_kind),
        discount_percent=seen.discount_percent,
        price_fen=seen.price_fen,
        max_points_per_bill=seen.max_points_per_bill,
        active_from=seen.active_from,
        active_until=seen.active_until,
        active=seen.offer_active,
    )


#: The key of the till's cursor in a pooled connection's ``info``.
_CURSOR = "jifen.till.cursor"


def _bind():
    """What the session would run on, without making a session to ask it: the
    engine in service, or the connection a session factory was bound to (the
    tests' rolled-back one). A request the till serves opens no session at all."""
    return db.session.session_factory.kw.get("bind") or db.engine


@contextmanager
def _cursor(bind):
    """A driver cursor for the till's two statements, each whole in itself.

    In service the bind is the engine: a pooled connection runs them in
    autocommit, without BEGIN and COMMIT round trips, with a cursor kept for
    the connection's life in the pool's ``info``, so its adapters stay looked
    up from one request to the next; after an error the connection (and its
    cursor) is replaced rather than reused. A connection already in a
    transaction (the tests' rolled-back one) has them join it.
    """
    if isinstance(bind, sa.Connection):
        with bind.connection.driver_connection.cursor(row_factory=namedtuple_row) as cursor:
            yield cursor
        return
    pooled = bind.raw_connection()
    driver = pooled.driver_connection
    driver.autocommit = True
    try:
        cursor = pooled.info.get(_CURSOR)
        if cursor is None:
            cursor = pooled.info[_CURSOR] = driver.cursor(row_factory=namedtuple_row)
        yield cursor
        driver.autocommit = False
    except BaseException:
        # A lost or broken connection must not go back to the pool as it is.
        pooled.invalidate()
        raise
    finally:
        pooled.close()


def _write(cursor, arguments: dict) -> bool:
    """Whether ``jifen_redeem`` recorded it: not when the key was taken or the
    coupon changed since the read (then it changed nothing)."""
    driver = cursor.connection
    # In autocommit the statement is its own transaction; else a savepoint.
    whole = nullcontext() if driver.autocommit else driver.transaction()
    try:
        with whole:
            return cursor.execute(WRITE, arguments, prepare=True).fetchone() is not None
    except psycopg.errors.CheckViolation:
        return False
