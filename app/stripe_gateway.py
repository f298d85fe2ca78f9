"""Stripe behind one small gateway (design.md §7).

Everything Jifen asks of Stripe goes through :class:`StripeGateway`, built
once per app from configuration by :func:`register_stripe` and taking the
``stripe.StripeClient`` as a parameter, so tests hand it a client pointed at a
fake Stripe on loopback and nothing here knows the difference. Views and
domain code reach it with :func:`gateway`, which raises
:class:`StripeNotConfigured` (503, ``stripe-not-configured``) when the
deployment set no ``STRIPE_API_KEY``: the donation, webhook and Stripe payout
endpoints answer that problem instead of failing half-way. 503, not 409,
because nothing the caller sends can change it; the operator must configure it.

Configuration:

``STRIPE_API_KEY``
    The secret key (``sk_...``). Without it Stripe is off.
``STRIPE_API_BASE``
    Only to point at a fake Stripe in tests.
``STRIPE_WEBHOOK_SECRET``
    The endpoint's signing secret (``whsec_...``); events are verified with it.
``STRIPE_PUBLISHABLE_KEY``
    The public key (``pk_...``) the donation page hands to Stripe.js.
``STRIPE_JS_URL``
    Where the donation page loads Stripe.js from.
``STRIPE_PAYMENT_METHOD_TYPES``
    Comma-separated, ``card`` by default; a deployment turns on ``alipay`` and
    ``wechat_pay`` here once its Stripe account has them.
``STRIPE_MAX_NETWORK_RETRIES``
    The client's retries of connection errors and 409/5xx answers (2); tests use 0.

The methods (amounts are integer fen, currency CNY; every answer is a plain
``dict`` as Stripe's JSON has it, never a ``stripe`` object):

``create_payment_intent(amount_fen, metadata, idempotency_key, payment_method=None,
confirm=False)``
    A PaymentIntent for a donation; ``payment_method``/``confirm`` only where
    the server confirms (tests), the page confirms with Stripe.js otherwise.
``retrieve_payment_intent(payment_intent_id)``
``charge_fee(charge_id) -> ChargeFee``
    Stripe's fee on a charge, from its balance transaction.
``create_refund(payment_intent_id, amount_fen, idempotency_key, metadata)``
``list_refunds(payment_intent_id)``
    Every refund of the PaymentIntent's charge, made in Jifen or not.
``create_transfer(amount_fen, destination_account, idempotency_key, metadata)``
    A Connect transfer to a merchant's connected account (``acct_...``). The
    idempotency key must name what is being paid (a statement), so a retry
    after a timeout is the same transfer, never a second one.
``retrieve_transfer(transfer_id)``
``list_payment_intents(created_from, created_until)`` and
``list_transfers(created_from, created_until)``
    Iterators over everything created in ``[created_from, created_until)``
    (aware datetimes), following Stripe's pages, for reconciliation.
``verify_event(payload, signature_header) -> dict``
    The event, after checking ``Stripe-Signature`` against the webhook secret;
    raises :class:`InvalidStripeSignature` (400) first when it does not verify.

Stripe refusing a request raises :class:`StripeRefused` (502) carrying
Stripe's HTTP status and error code (``stripe_status``, ``stripe_code``);
Stripe unreachable raises :class:`StripeUnavailable` (503). Both are safe to
retry with the same idempotency key.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import stripe
from flask import Flask, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .problems import Problem

CURRENCY = "cny"
EXTENSION = "jifen.stripe"
DEFAULT_JS_URL = "https://js.stripe.com/v3/"
#: Seconds a signed event stays acceptable (Stripe's own default).
SIGNATURE_TOLERANCE = 300


class StripeNotConfigured(Problem):
    status, slug, title = 503, "stripe-not-configured", _l("Online payment is not set up")
    message = _l(
        "This Jifen deployment has no Stripe account configured; "
        "donations by card, Alipay or WeChat Pay are not available."
    )


class InvalidStripeSignature(Problem):
    status, slug, title = 400, "invalid-stripe-signature", _l("Invalid Stripe signature")
    message = _l("The Stripe-Signature header does not verify; nothing was recorded.")


class StripeRefused(Problem):
    status, slug, title = 502, "stripe-refused", _l("Stripe refused the request")
    message = _l("The payment service refused the request; nothing was changed.")

    def __init__(self, detail=None, *, stripe_status=None, stripe_code=None, stripe_type=None):
        super().__init__(
            detail, stripe_status=stripe_status, stripe_code=stripe_code, stripe_type=stripe_type
        )
        #: Stripe's HTTP status, error code (``resource_missing``...) and error
        #: type (``invalid_request_error``, ``idempotency_error``, ``card_error``).
        self.stripe_status = stripe_status
        self.stripe_code = stripe_code
        self.stripe_type = stripe_type


class StripeUnavailable(Problem):
    status, slug, title = 503, "stripe-unavailable", _l("Stripe cannot be reached")
    message = _l("The payment service cannot be reached now; please try again later.")


@dataclass(frozen=True)
class ChargeFee:
    charge_id: str
    balance_transaction_id: str | None
    amount_fen: int
    fee_fen: int

    @property
    def net_fen(self) -> int:
        return self.amount_fen - self.fee_fen


class StripeGateway:
    """Jifen's one way to Stripe; see the module docstring for each method."""

    def __init__(
        self,
        client: stripe.StripeClient,
        *,
        webhook_secret: str | None,
        payment_method_types: tuple[str, ...] = ("card",),
        publishable_key: str | None = None,
        js_url: str = DEFAULT_JS_URL,
    ):
        self.client = client
        self.webhook_secret = webhook_secret
        self.payment_method_types = tuple(payment_method_types)
        self.publishable_key = publishable_key
        self.js_url = js_url

    # --- donations -----------------------------------------------------------

    def create_payment_intent(
        self,
        amount_fen: int,
        metadata: dict[str, str],
        idempotency_key: str,
        payment_method: str | None = None,
        confirm: bool = False,
    ) -> dict:
        params: dict = {
            "amount": amount_fen,
            "currency": CURRENCY,
            "metadata": metadata,
            "payment_method_types": list(self.payment_method_types),
        }
        if "wechat_pay" in self.payment_method_types:
            # WeChat Pay needs to know where the payer confirms: a web page.
            params["payment_method_options"] = {"wechat_pay": {"client": "web"}}
        if payment_method is not None:
            params["payment_method"] = payment_method
        if confirm:
            params["confirm"] = True
        return self._call(
            self.client.v1.payment_intents.create,
            params,
            {"idempotency_key": idempotency_key},
        )

    def retrieve_payment_intent(self, payment_intent_id: str) -> dict:
        return self._call(self.client.v1.payment_intents.retrieve, payment_intent_id)

    def charge_fee(self, charge_id: str) -> ChargeFee:
        charge = self._call(
            self.client.v1.charges.retrieve, charge_id, {"expand": ["balance_transaction"]}
        )
        balance = charge.get("balance_transaction")
        if isinstance(balance, str):
            balance = self._call(self.client.v1.balance_transactions.retrieve, balance)
        return ChargeFee(
            charge_id=charge_id,
            balance_transaction_id=balance["id"] if balance else None,
            amount_fen=int(charge["amount"]),
            fee_fen=int(balance.get("fee") or 0) if balance else 0,
        )

    def create_refund(
        self,
        payment_intent_id: str,
        amount_fen: int,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> dict:
        return self._call(
            self.client.v1.refunds.create,
            {"payment_intent": payment_intent_id, "amount": amount_fen, "metadata": metadata},
            {"idempotency_key": idempotency_key},
        )

    def list_refunds(self, payment_intent_id: str) -> Iterator[dict]:
        page = self._call_object(
            self.client.v1.refunds.list, {"payment_intent": payment_intent_id, "limit": 100}
        )
        return self._items(page)

    # --- payouts (Connect) ---------------------------------------------------

    def create_transfer(
        self,
        amount_fen: int,
        destination_account: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> dict:
        return self._call(
            self.client.v1.transfers.create,
            {
                "amount": amount_fen,
                "currency": CURRENCY,
                "destination": destination_account,
                "metadata": metadata,
            },
            {"idempotency_key": idempotency_key},
        )

    def retrieve_transfer(self, transfer_id: str) -> dict:
        return self._call(self.client.v1.transfers.retrieve, transfer_id)

    # --- reconciliation ------------------------------------------------------

    def list_payment_intents(
        self, created_from: datetime, created_until: datetime
    ) -> Iterator[dict]:
        return self._list(self.client.v1.payment_intents.list, created_from, created_until)

    def list_transfers(self, created_from: datetime, created_until: datetime) -> Iterator[dict]:
        return self._list(self.client.v1.transfers.list, created_from, created_until)

    # --- webhooks ------------------------------------------------------------

    def verify_event(self, payload: bytes, signature_header: str | None) -> dict:
        if not self.webhook_secret:
            raise StripeNotConfigured(_("No STRIPE_WEBHOOK_SECRET is configured."))
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature_header, self.webhook_secret, SIGNATURE_TOLERANCE
            )
            event = json.loads(payload)
        except (stripe.SignatureVerificationError, ValueError) as error:
            raise InvalidStripeSignature() from error
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            raise InvalidStripeSignature()
        return event

    # --- plumbing ------------------------------------------------------------

    def _list(self, method, created_from: datetime, created_until: datetime) -> Iterator[dict]:
        created = {"gte": int(created_from.timestamp()), "lt": int(created_until.timestamp())}
        return self._items(self._call_object(method, {"created": created, "limit": 100}))

    def _items(self, page) -> Iterator[dict]:
        try:
            for item in page.auto_paging_iter():
                yield item.to_dict()
        except stripe.StripeError as error:
            raise _problem_for(error) from error

    def _call(self, method, *args) -> dict:
        return self._call_object(method, *args).to_dict()

    @staticmethod
    def _call_object(method, *args):
        try:
            return method(*args)
        except stripe.StripeError as error:
            raise _problem_for(error) from error


def _problem_for(error: stripe.StripeError) -> Problem:
    if isinstance(error, stripe.APIConnectionError):
        return StripeUnavailable()
    body = error.json_body if isinstance(error.json_body, dict) else {}
    details = body.get("error") if isinstance(body.get("error"), dict) else {}
    return StripeRefused(
        _(
            "Stripe answered %(status)s: %(message)s",
            status=error.http_status,
            message=error.user_message or str(error),
        ),
        stripe_status=error.http_status,
        stripe_code=error.code,
        stripe_type=details.get("type"),
    )


def build_gateway(config) -> StripeGateway | None:
    """The gateway ``config`` describes, or None without ``STRIPE_API_KEY``."""
    api_key = config.get("STRIPE_API_KEY")
    if not api_key:
        return None
    base = config.get("STRIPE_API_BASE")
    client = stripe.StripeClient(
        api_key,
        base_addresses={"api": base} if base else None,
        max_network_retries=int(config.get("STRIPE_MAX_NETWORK_RETRIES", 2)),
    )
    types = config.get("STRIPE_PAYMENT_METHOD_TYPES") or "card"
    if isinstance(types, str):
        types = [name.strip() for name in types.split(",") if name.strip()]
    return StripeGateway(
        client,
        webhook_secret=config.get("STRIPE_WEBHOOK_SECRET"),
        payment_method_types=tuple(types),
        publishable_key=config.get("STRIPE_PUBLISHABLE_KEY"),
        js_url=config.get("STRIPE_JS_URL") or DEFAULT_JS_URL,
    )


def register_stripe(app: Flask) -> None:
    app.extensions[EXTENSION] = build_gateway(app.config)


def gateway() -> StripeGateway:
    """This app's gateway; :class:`StripeNotConfigured` when Stripe is off."""
    found = current_app.extensions.get(EXTENSION)
    if found is None:
        raise StripeNotConfigured()
    return found


def configured() -> StripeGateway | None:
    return current_app.extensions.get(EXTENSION)
