"""The till's redemption on PostgreSQL, in two statements.

A till waits on ``POST /api/v1/redemptions``, and on two cores the general
path (the view's ``requires`` and ``idempotent`` decorators, then
:func:`app.redemptions.redeem`) spends most of a redemption's CPU on seven
round trips and the ORM objects they load. For the plain success, this path
asks the database twice, with the driver's prepared statements, each
statement a transaction of its own:

1. one read: the bearer token's cashier, merchant and community, the coupon
   (by its code, or by the id in its verified QR token; only the cashier's
   community's) and whether its rule lets it be spent at this merchant, the
   offer, and the ids the redemption will have (taken from the sequences: a
   fallback leaves a gap, as any rolled-back insert does);
2. one call to ``jifen_redeem`` (migration 0007) that claims the key with the
   receipt already rendered (a key already taken makes it return nothing:
   replays are rare, so the read does not look for one), and records the
   redemption only if the coupon still holds the points and status read.

Anything else falls back to the general path, having changed nothing: a
request it does not take (a pay-code, a body the schema refuses, a missing
header), a check that fails, a key already used, or a coupon that changed
between the read and the call. The general path locks, checks again and
answers, so every refusal and replay keeps one author, and the split is
:func:`app.offers.split` either way. ``tests/test_till.py`` holds the two
paths to the same rows and the same receipts.
"""

import hmac
from contextlib import contextmanager, nullcontext
from functools import wraps
from types import SimpleNamespace

import marshmallow as ma
import psycopg
import sqlalchemy as sa
from flask import jsonify, request
from psycopg.rows import namedtuple_row

from models import CouponStatus, Offer, OfferKind, RedemptionStatus, Role, utcnow

from ... import auth, coupons, idempotency, offers, ratelimit, redemptions, signing
from ...authz import POLICY
from ...extensions import db
from ...problems import Problem
from .schemas import RedemptionIn, RedemptionOut

_IN = RedemptionIn()
_OUT = RedemptionOut()

_READ = """
SELECT t.digest, t.revoked_at, t.expires_at AS token_expires_at,
       m.id AS cashier_id, m.community_id, m.role, m.active AS cashier_active,
       s.id AS merchant_id, s.name AS merchant_name, s.active AS merchant_active,
       c.points_per_yuan,
       cp.id AS coupon_id, cp.code AS coupon_code, cp.points_remaining, cp.status,
       cp.expires_at AS coupon_expires_at,
       r.merchant_group_id IS NULL OR EXISTS (
           SELECT 1 FROM merchant_group_members g
            WHERE g.community_id = cp.community_id AND g.group_id = r.merchant_group_id
              AND g.merchant_id = s.id) AS valid_here,
       o.id AS offer_id, o.merchant_id AS offer_merchant_id, o.title AS offer_title,
       o.kind AS offer_kind,
       o.discount_percent, o.price_fen, o.max_points_per_bill, o.active_from, o.active_until,
       o.active AS offer_active,
       nextval('redemptions_id_seq') AS redemption_id,
       nextval('ledger_transactions_id_seq') AS transaction_id
  FROM api_tokens t
  JOIN members m ON m.id = t.member_id
  JOIN communities c ON c.id = m.community_id
  LEFT JOIN merchants s ON s.community_id = m.community_id AND s.id = m.merchant_id
  LEFT JOIN coupons cp ON cp.community_id = m.community_id AND {coupon}
  LEFT JOIN issuance_rules r ON r.community_id = cp.community_id AND r.id = cp.rule_id
  LEFT JOIN offers o ON o.community_id = m.community_id AND o.id = %(offer_id)s
 WHERE t.digest = %(digest)s
"""
#: By the typed code, or by the id a verified QR token names.
_READ_BY = {
    "code": _READ.format(coupon="cp.code = %(code)s"),
    "token": _READ.format(coupon="cp.id = %(coupon_id)s"),
}
_WRITE = "SELECT 1 FROM jifen_redeem({})".format(  # noqa: S608 (constant names only)
    ", ".join(f"%({name})s" for name in redemptions.REDEEM_PARAMETERS)
)


def first(view):
    """Serve the view's request here when this path can, else through ``view``."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        response = None
        bind = _bind()
        if bind.dialect.name == "postgresql":
            with _cursor(bind) as cursor:
                response = redeem(cursor)
        return view(*args, **kwargs) if response is None else response

    return wrapper


def redeem(cursor):
    """The 201 receipt, or None (nothing changed) for the general path to answer."""
    secret, key = auth.bearer_secret(), idempotency.request_key()
    body = request.get_json(silent=True)
    if secret is None or key is None or not isinstance(body, dict):
        return None
    try:
        wanted = _IN.load(body)
    except ma.ValidationError:
        return None
    if "pay_code" in wanted:
        return None
    now = utcnow()
    if "token" in wanted:
        try:
            payload = coupons.read_token(wanted["token"], signing.keyring(), now)
        except Problem:
            return None
        by, coupon = "token", {"coupon_id": payload.coupon_id}
    else:
        by, coupon = "code", {"code": coupons.normalize_code(wanted["code"])}
    digest = auth.token_digest(secret)
    seen = cursor.execute(
        _READ_BY[by], dict(coupon, digest=digest, offer_id=wanted.get("offer_id")), prepare=True
    ).fetchone()
    if seen is None or not hmac.compare_digest(seen.digest, digest):
        return None
    if ratelimit.codes_locked(seen.cashier_id):
        return None  # the general path says why
    if by == "code" and not (
        seen.coupon_code is not None and hmac.compare_digest(seen.coupon_code, coupon["code"])
    ):
        return None
    found = _quote(seen, wanted, now)
    if found is None:
        return None
    cashier = SimpleNamespace(id=seen.cashier_id)
    receipt = dict(
        redemptions.receipt(found, cashier),
        id=seen.redemption_id,
        transaction_id=seen.transaction_id,
        status=RedemptionStatus.ACTIVE,
        created_at=now,
        void_transaction_id=None,
        statement_id=None,
        voided_at=None,
    )
    response = jsonify(_OUT.dump(receipt))
    response.status_code = 201
    arguments = redemptions.redeem_arguments(
        found,
        cashier,
        now,
        redemption_id=seen.redemption_id,
        transaction_id=seen.transaction_id,
        key=key,
        key_fingerprint=idempotency.fingerprint(),
        key_expires_at=idempotency.expires_at(now),
        response_status=response.status_code,
        response_type=response.content_type,
        response_body=response.get_data(),
    )
    return response if _write(cursor, arguments) else None


def _quote(seen, wanted: dict, now) -> redemptions.Quote | None:
    """:func:`app.redemptions.quote`'s answer from what was read, when every one
    of its checks passes (the same checks, where they need no query); None when
    any would refuse."""
    if not (
        seen.revoked_at is None
        and seen.token_expires_at > now
        and seen.cashier_active
        and Role(seen.role) in POLICY["redemption.create"].roles
        and seen.coupon_id is not None
        and seen.valid_here
    ):
        return None
    shop = None
    if seen.merchant_id is not None:
        shop = SimpleNamespace(
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
        merchant = redemptions.cashier_merchant(
            SimpleNamespace(merchant=shop), wanted.get("merchant_id")
        )
        redemptions.check_bill(wanted["bill_fen"])
        offer = redemptions.check_offer(merchant, wanted.get("offer_id"), _offer(seen))
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
    return redemptions.Quote(merchant, offer, coupon, None, coupon.points_remaining, split)


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
            return cursor.execute(_WRITE, arguments, prepare=True).fetchone() is not None
    except psycopg.errors.CheckViolation:
        return False
