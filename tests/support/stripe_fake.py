"""A fake Stripe for the test suite: localstripe, in-process on loopback, plus what it lacks.

:class:`StripeFake` runs ``localstripe.server.app`` (an aiohttp application)
in a daemon thread with an event loop of its own, on ``127.0.0.1`` and a free
port; the real ``stripe`` client talks to it over HTTP. One per test process
(localstripe's app and store are module globals, and its router freezes when
it first starts), so the session fixture in ``support.stripe_fixtures`` starts
it once and :meth:`StripeFake.reset` empties it between tests.

What is added to localstripe, before the server starts:

- Connect: :class:`Account` (``acct_``) and :class:`Transfer` (``tr_``) with
  ``/v1/accounts`` and ``/v1/transfers`` on localstripe's own create /
  retrieve / update / list handlers. A transfer checks its amount and
  currency, answers 404 for an unknown destination, and emits
  ``transfer.created``. ``POST /v1/transfers/{id}/reversals`` reverses it
  (all or part) and emits ``transfer.reversed``. :meth:`StripeFake.refuse_transfers_to`
  makes transfers to one destination fail, as Stripe does when a connected
  account cannot receive them.
- :class:`Dispute` (``dp_``), opened and closed by the harness
  (:meth:`StripeFake.open_dispute`, :meth:`StripeFake.close_dispute`): Stripe
  opens disputes, nobody creates one through the API.
- ``Idempotency-Key``, which localstripe ignores: the first successful POST
  with a key is cached by (API key, key) with its path and body; the same key
  and body replays that response (``Idempotent-Replayed: true``), the same key
  with another path or body answers 400 ``idempotency_error`` (the client
  raises ``stripe.IdempotencyError``), and a key still being served answers
  409. Refused requests are not cached, so a retry after a refusal runs again,
  as on Stripe.
- ``created[gte|gt|lte|lt]`` on ``GET /v1/payment_intents`` and ``/v1/transfers``.
- Fees: a charge's balance transaction carries ``fee``: 3% of the amount,
  rounded half up, unless :meth:`StripeFake.set_fees` says otherwise
  (localstripe's is 0).
- Webhooks: the fake registers (``POST /_config/webhooks/{id}``) its own
  inbox (``/_config/inbox``) as a webhook endpoint, so localstripe's real
  delivery (signed, about a second after the event) is captured byte for
  byte: :meth:`StripeFake.wait_for_event` returns it for the test to post
  into the Flask test client.
  :meth:`StripeFake.event` signs a stored event at once, exactly as
  localstripe would deliver it, and :meth:`StripeFake.signed_event` builds and
  signs any event (``charge.refunded``, ``charge.dispute.created``...) the same way.
  :meth:`StripeFake.delivering_to` also sends them to a live Jifen server for a while.

Nothing here imports Flask or Jifen.
"""

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import stripe
from aiohttp import web
from localstripe import resources as localstripe_resources
from localstripe.errors import UserError
from localstripe.resources import (
    Event,
    List,
    PaymentIntent,
    StripeObject,
    store,
    try_convert_to_int,
)
from localstripe.webhooks import _webhooks, schedule_webhook

with warnings.catch_warnings():
    # localstripe registers plain functions as handlers, which aiohttp deprecates;
    # the routes added here are all coroutines.
    warnings.filterwarnings(
        "ignore", message="Bare functions are deprecated", category=DeprecationWarning
    )
    from localstripe import server as localstripe_server

API_KEY = "sk_test_jifen_fake"  # noqa: S105 (the fake's key, not a secret)
PUBLISHABLE_KEY = "pk_test_jifen_fake"
WEBHOOK_SECRET = "whsec_jifen_fake_endpoint_secret"  # noqa: S105
#: A card charge's fee unless a test sets another: 3% (Stripe's China rate is near it).
DEFAULT_FEE_BASIS_POINTS = 300
#: The api_version localstripe stamps on its events.
EVENT_API_VERSION = "2017-08-15"
INBOX_PATH = "/_config/inbox"


# --- what the fake adds to localstripe (module level: localstripe pickles its store) ---


#: destination account -> (error code, message) for transfers the fake refuses.
REFUSED_DESTINATIONS: dict[str, tuple[str, str]] = {}


def _created_filters(created) -> list[Callable[[StripeObject], bool]]:
    """Stripe's ``created`` range filter: a timestamp, or ``gt``/``gte``/``lt``/``lte``."""
    if created is None:
        return []
    if not isinstance(created, dict):
        created = {"eq": created}
    tests = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
        "eq": lambda a, b: a == b,
    }
    filters = []
    for name, value in created.items():
        bound = try_convert_to_int(value)
        if name not in tests or type(bound) is not int:
            raise UserError(400, "Bad created filter")
        filters.append(lambda obj, test=tests[name], bound=bound: test(obj.created, bound))
    return filters


def _listing(url, kind, filters, limit, starting_after) -> List:
    listing = List(url, limit=limit, starting_after=starting_after)
    listing._list = [
        value
        for key, value in store.items()
        if key.startswith(kind + ":") and all(f(value) for f in filters)
    ]
    return listing


class Account(StripeObject):
    """A Connect connected account (a merchant's)."""

    object = "account"
    _id_prefix = "acct_"

    def __init__(
        self,
        type="express",
        country="CN",
        email=None,
        business_type=None,
        business_profile=None,
        capabilities=None,
        metadata=None,
        **kwargs,
    ):
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        if type not in ("express", "standard", "custom"):
            raise UserError(400, "Bad request", {"param": "type"})
        super().__init__()
        self.type = type
        self.country = country
        self.email = email
        self.business_type = business_type
        self.business_profile = business_profile or {}
        self.capabilities = {"transfers": "active"}
        self.charges_enabled = True
        self.payouts_enabled = True
        self.details_submitted = True
        self.metadata = metadata or {}


class Transfer(StripeObject):
    """A Connect transfer from the platform's balance to a connected account."""

    object = "transfer"
    _id_prefix = "tr_"

    def __init__(
        self,
        amount=None,
        currency=None,
        destination=None,
        metadata=None,
        description=None,
        transfer_group=None,
        **kwargs,
    ):
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        amount = try_convert_to_int(amount)
        if type(amount) is not int or amount <= 0:
            raise UserError(400, "Invalid positive integer", {"param": "amount"})
        if type(currency) is not str or len(currency) != 3 or not currency.islower():
            raise UserError(400, "Invalid currency", {"param": "currency"})
        if type(destination) is not str or not destination.startswith("acct_"):
            raise UserError(400, "Invalid destination", {"param": "destination"})
        if store.get("account:" + destination) is None:
            raise UserError(
                404,
                f"No such destination: '{destination}'",
                {"code": "resource_missing", "param": "destination"},
            )
        if destination in REFUSED_DESTINATIONS:
            code, message = REFUSED_DESTINATIONS[destination]
            raise UserError(400, message, {"code": code, "param": "destination"})
        super().__init__()
        self.amount = amount
        self.currency = currency
        self.destination = destination
        self.metadata = metadata or {}
        self.description = description
        self.transfer_group = transfer_group
        self.amount_reversed = 0
        self.balance_transaction = "txn_" + _random_id(24)
        schedule_webhook(Event("transfer.created", self))

    @property
    def reversed(self):
        return self.amount_reversed >= self.amount

    @property
    def reversals(self):
        listing = List(f"/v1/transfers/{self.id}/reversals")
        listing._list = [
            value
            for key, value in store.items()
            if key.startswith("transfer_reversal:") and value.transfer == self.id
        ]
        return listing

    @classmethod
    def _api_list_all(cls, url, created=None, destination=None, limit=None, starting_after=None):
        filters = _created_filters(created)
        if destination is not None:
            filters.append(lambda transfer: transfer.destination == destination)
        return _listing(url, cls.object, filters, limit, starting_after)

    @classmethod
    def _api_reverse(cls, id, amount=None, metadata=None, **kwargs):
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        transfer = cls._api_retrieve(id)
        left = transfer.amount - transfer.amount_reversed
        amount = left if amount is None else try_convert_to_int(amount)
        if type(amount) is not int or not 0 < amount <= left:
            raise UserError(400, "Invalid reversal amount", {"param": "amount"})
        reversal = TransferReversal(transfer=transfer, amount=amount, metadata=metadata)
        transfer.amount_reversed += amount
        schedule_webhook(Event("transfer.reversed", transfer))
        return reversal


class TransferReversal(StripeObject):
    object = "transfer_reversal"
    _id_prefix = "trr_"

    def __init__(self, transfer, amount, metadata=None):
        super().__init__()
        self.transfer = transfer.id
        self.amount = amount
        self.currency = transfer.currency
        self.destination_payment_refund = None
        self.metadata = metadata or {}


class Dispute(StripeObject):
    """A card dispute on a charge; opened and closed by the harness, as Stripe does."""

    object = "dispute"
    _id_prefix = "dp_"

    def __init__(self, charge, amount, reason="general"):
        super().__init__()
        self.charge = charge.id
        self.payment_intent = charge.payment_intent
        self.amount = amount
        self.currency = charge.currency
        self.reason = reason
        self.status = "needs_response"
        self.metadata = {}


# --- the routes and middleware -------------------------------------------------------


def _async(handler):
    """localstripe's retrieve and list handlers are plain functions; aiohttp wants coroutines."""

    async def coroutine(request):
        return handler(request)

    return coroutine


async def _reverse_transfer(request):
    data = await localstripe_server.get_post_data(request) or {}
    reversal = Transfer._api_reverse(request.match_info["id"], **data)
    return localstripe_server.json_response(reversal._export())


@web.middleware
async def payment_intent_period_middleware(request, handler):
    """``GET /v1/payment_intents`` with Stripe's ``created`` filter, which localstripe lacks."""
    if request.method != "GET" or request.path != "/v1/payment_intents":
        return await handler(request)
    data = localstripe_server.unflatten_data(request.query)
    expand = data.pop("expand", None)
    filters = _created_filters(data.pop("created", None))
    if data.keys() - {"limit", "starting_after"}:
        raise UserError(400, "Unexpected " + ", ".join(data.keys()))
    listing = _listing(
        request.path, PaymentIntent.object, filters, data.get("limit"), data.get("starting_after")
    )
    return localstripe_server.json_response(listing._export(expand=expand))


class _Inbox:
    """Webhook deliveries received from localstripe, for tests to wait on."""

    def __init__(self):
        self.condition = threading.Condition()
        self.deliveries: list[Delivery] = []

    def add(self, delivery: "Delivery") -> None:
        with self.condition:
            self.deliveries.append(delivery)
            self.condition.notify_all()

    def clear(self) -> None:
        with self.condition:
            self.deliveries.clear()


INBOX = _Inbox()


async def _receive_webhook(request):
    INBOX.add(Delivery(await request.read(), request.headers.get("Stripe-Signature", "")))
    return web.Response()


@dataclass
class _Idempotency:
    #: (API key, Idempotency-Key) -> (method, path, body, status, response body, content type)
    done: dict
    #: keys whose first request is still being served
    running: set

    def clear(self) -> None:
        self.done.clear()
        self.running.clear()


IDEMPOTENCY = _Idempotency({}, set())


def _idempotency_error(status: int, message: str, error_type: str):
    return web.json_response({"error": {"type": error_type, "message": message}}, status=status)


@web.middleware
async def idempotency_middleware(request, handler):
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    scope = (request.headers.get("Authorization", ""), key)
    body = await request.read()
    done = IDEMPOTENCY.done.get(scope)
    if done is not None:
        method, path, first_body, status, text, content_type = done
        if (method, path, first_body) != (request.method, request.path, body):
            return _idempotency_error(
                400,
                "Keys for idempotent requests can only be used with the same parameters "
                "they were first used with.",
                "idempotency_error",
            )
        response = web.Response(body=text, status=status, content_type=content_type)
        response.headers["Idempotent-Replayed"] = "true"
        return response
    if scope in IDEMPOTENCY.running:
        return _idempotency_error(
            409,
            "There is currently another in-progress request using this Idempotency-Key.",
            "invalid_request_error",
        )
    IDEMPOTENCY.running.add(scope)
    try:
        response = await handler(request)
    finally:
        IDEMPOTENCY.running.discard(scope)
    if 200 <= response.status < 300 and isinstance(response, web.Response):
        IDEMPOTENCY.done[scope] = (
            request.method,
            request.path,
            body,
            response.status,
            response.body,
            response.content_type,
        )
    return response


class _Fees:
    basis_points = DEFAULT_FEE_BASIS_POINTS
    fixed_fen = 0

    def of(self, amount: int) -> int:
        return (amount * self.basis_points + 5_000) // 10_000 + self.fixed_fen


FEES = _Fees()


@web.middleware
async def fee_middleware(request, handler):
    """Give each new charge's balance transaction Stripe's fee (localstripe's is 0)."""
    try:
        return await handler(request)
    finally:
        if request.method == "POST":
            for key, value in list(store.items()):
                if (
                    key.startswith("balance_transaction:")
                    and value.type == "charge"
                    and not getattr(value, "_jifen_fee", False)
                ):
                    value._jifen_fee = True
                    value.fee = FEES.of(value.amount)
                    value.fee_details = [
                        {
                            "amount": value.fee,
                            "currency": value.currency,
                            "type": "stripe_fee",
                            "description": "Stripe processing fees",
                        }
                    ]


_installed = False


def _random_id(length: int) -> str:
    """An id suffix as Stripe's: letters and digits, from the system's randomness."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


def _install() -> None:
    """Add the routes and middleware, once: localstripe's router freezes when it starts."""
    global _installed
    if _installed:
        return
    _installed = True
    # Every process that imports localstripe would otherwise share /tmp/localstripe.pickle.
    store.dump_to_disk = lambda: None
    # Its ids come from the global ``random``, which Hypothesis reseeds for every example:
    # the same ids again, and a 409 for an object that "already exists".
    localstripe_resources.random_id = _random_id
    app = localstripe_server.app
    app.middlewares.append(idempotency_middleware)
    app.middlewares.append(fee_middleware)
    app.middlewares.append(payment_intent_period_middleware)
    router = app.router
    for cls in (Account, Transfer, Dispute):
        url = f"/v1/{cls.object}s"
        router.add_route("POST", url, localstripe_server.api_create(cls, url))
        router.add_route("GET", url + "/{id}", _async(localstripe_server.api_retrieve(cls, url)))
        router.add_route("POST", url + "/{id}", localstripe_server.api_update(cls, url))
        router.add_route("GET", url, _async(localstripe_server.api_list_all(cls, url)))
    router.add_route("POST", "/v1/transfers/{id}/reversals", _reverse_transfer)
    router.add_route("POST", INBOX_PATH, _receive_webhook)


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One webhook request as Stripe sends it: the body and its ``Stripe-Signature``."""

    payload: bytes
    signature: str

    @property
    def event(self) -> dict:
        return json.loads(self.payload)

    @property
    def id(self) -> str:
        return self.event["id"]

    @property
    def type(self) -> str:
        return self.event["type"]

    @property
    def object_id(self) -> str:
        return self.event["data"]["object"]["id"]

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": self.signature,
        }


def sign(payload: bytes, created: int, secret: str = WEBHOOK_SECRET) -> str:
    """``Stripe-Signature`` as localstripe (and Stripe) computes it."""
    signed = b"%d.%s" % (created, payload)
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={created},v1={digest}"


def _serialized(exported: dict) -> bytes:
    """An event body exactly as localstripe's webhook sender writes it."""
    return json.dumps(exported, indent=2, sort_keys=True).encode()


# --- the server ----------------------------------------------------------------------------


class StripeFake:
    """The running fake: its URL, a client on it, and what tests do to it.

    Every method may be called from the test's thread; anything touching
    localstripe's store runs on the server's own loop.
    """

    def __init__(self):
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.runner: web.AppRunner | None = None
        self.url: str | None = None
        self.api_key = API_KEY
        self.publishable_key = PUBLISHABLE_KEY
        self.webhook_secret = WEBHOOK_SECRET
        self.client: stripe.StripeClient | None = None

    # lifecycle

    def start(self) -> "StripeFake":
        _install()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run():
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self._serve())
            except BaseException as error:  # reported to the starting thread
                failure.append(error)
                started.set()
                return
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="stripe-fake", daemon=True)
        self.thread.start()
        if not started.wait(10) or failure:
            raise RuntimeError(f"the fake Stripe did not start: {failure!r}")
        self.client = stripe.StripeClient(
            self.api_key, base_addresses={"api": self.url}, max_network_retries=0
        )
        self.register_webhook("jifen-inbox", self.url + INBOX_PATH)
        return self

    async def _serve(self) -> None:
        self.runner = web.AppRunner(localstripe_server.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    def register_webhook(self, webhook_id: str, url: str, events: list[str] | None = None) -> None:
        """``POST /_config/webhooks/{id}``: localstripe delivers events to ``url`` from now on."""
        body = {"url": url, "secret": self.webhook_secret}
        if events is not None:
            body["events"] = events
        request = urllib.request.Request(  # noqa: S310 (the fake, on loopback)
            f"{self.url}/_config/webhooks/{webhook_id}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            response.read()

    @contextlib.contextmanager
    def delivering_to(self, url: str):
        """Webhooks also go to ``url`` (a live Jifen server) inside the block.

        localstripe keeps webhooks until the process ends, and a delivery may be
        walking them: after the block this one listens to no event type.
        """
        webhook_id = "live-" + _random_id(8)
        self.register_webhook(webhook_id, url)
        try:
            yield
        finally:
            self._call(setattr, _webhooks[webhook_id], "events", [])

    def stop(self) -> None:
        if self.loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.loop = None

    async def _shutdown(self) -> None:
        await self.runner.cleanup()
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.loop.shutdown_asyncgens()

    def _call(self, function, *args):
        """Run ``function`` on the server's loop, between its requests, and return its result."""

        async def call():
            return function(*args)

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(10)

    def reset(self) -> None:
        """``DELETE /_config/data`` (localstripe's store), then the idempotency cache,
        refused destinations and the inbox; fees back to the default."""

        request = urllib.request.Request(  # noqa: S310 (the fake, on loopback)
            f"{self.url}/_config/data", method="DELETE"
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

        def clear():
            IDEMPOTENCY.clear()
            REFUSED_DESTINATIONS.clear()
            FEES.basis_points, FEES.fixed_fen = DEFAULT_FEE_BASIS_POINTS, 0

        self._call(clear)
        INBOX.clear()

    # what tests do to the fake

    def set_fees(self, basis_points: int, fixed_fen: int = 0) -> None:
        """Charges from now on carry this fee (until :meth:`reset`)."""

        def set_():
            FEES.basis_points, FEES.fixed_fen = basis_points, fixed_fen

        self._call(set_)

    def fee_of(self, amount_fen: int) -> int:
        return FEES.of(amount_fen)

    def refuse_transfers_to(
        self,
        destination: str,
        code: str = "insufficient_capabilities_for_transfer",
        message: str = "Your destination account needs to have the transfers capability enabled.",
    ) -> None:
        """Transfers to ``destination`` answer 400 with this error code until :meth:`reset`."""
        self._call(REFUSED_DESTINATIONS.__setitem__, destination, (code, message))

    def accept_transfers_to(self, destination: str) -> None:
        """Undo :meth:`refuse_transfers_to`: the account can receive transfers again."""
        self._call(REFUSED_DESTINATIONS.pop, destination, None)

    def connected_account(self, **fields) -> str:
        """A new connected account (``acct_...``) through the API."""
        return self.client.v1.accounts.create(fields or {"type": "express"}).id

    def pay(self, payment_intent_id: str, payment_method: str = "pm_card_visa") -> dict:
        """What the donor's browser does with Stripe.js: attach a card and confirm.

        ``pm_card_chargeCustomerFail`` is declined; the PaymentIntent is returned
        either way (a declined one is ``requires_payment_method``).
        """
        payment_intents = self.client.v1.payment_intents
        payment_intents.update(payment_intent_id, {"payment_method": payment_method})
        with contextlib.suppress(stripe.CardError):
            payment_intents.confirm(payment_intent_id)
        return payment_intents.retrieve(payment_intent_id).to_dict()

    def charge_of(self, payment_intent_id: str) -> dict:
        return self._call(
            lambda: PaymentIntent._api_retrieve(payment_intent_id).latest_charge._export()
        )

    def open_dispute(self, payment_intent_id: str, amount: int | None = None) -> "Delivery":
        """Open a dispute on the PaymentIntent's charge; the signed ``charge.dispute.created``."""

        def open_():
            charge = PaymentIntent._api_retrieve(payment_intent_id).latest_charge
            dispute = Dispute(charge, charge.amount if amount is None else amount)
            return self._stored_event("charge.dispute.created", dispute)

        return self._call(open_)

    def close_dispute(self, dispute_id: str, status: str = "won") -> "Delivery":
        """Close the dispute (``won`` or ``lost``); the signed ``charge.dispute.closed``."""

        def close():
            dispute = Dispute._api_retrieve(dispute_id)
            dispute.status = status
            return self._stored_event("charge.dispute.closed", dispute)

        return self._call(close)

    def reverse_transfer(self, transfer_id: str, amount: int | None = None) -> "Delivery":
        """Reverse a transfer through the API; the signed ``transfer.reversed`` it emitted.

        The same event reaches the inbox about a second later, as Stripe would send it.
        """
        params = {} if amount is None else {"amount": amount}
        self.client.v1.transfers.reversals.create(transfer_id, params)
        return self.event("transfer.reversed", transfer_id)

    # events

    def event(self, type: str, object_id: str) -> "Delivery":
        """The newest stored event of ``type`` about ``object_id``, signed as delivered."""

        def find():
            matching = [
                value
                for key, value in store.items()
                if key.startswith("event:")
                and value.type == type
                and value.data["object"].get("id") == object_id
            ]
            if not matching:
                raise LookupError(f"no {type} event for {object_id}")
            return self._signed(matching[-1])

        return self._call(find)

    def object_event(self, type: str, object_id: str) -> "Delivery":
        """A new event of ``type`` about a stored object as it is now (a charge after a
        refund made in the dashboard, for ``charge.refunded``), stored and signed.

        localstripe emits no event for refunds; Stripe does.
        """

        def build():
            cls = StripeObject._get_class_for_id(object_id)
            return self._stored_event(type, cls._api_retrieve(object_id))

        return self._call(build)

    def signed_event(
        self,
        type: str,
        data_object: dict,
        *,
        event_id: str | None = None,
        created: int | None = None,
        secret: str | None = None,
    ) -> "Delivery":
        """Any event, built and signed as localstripe signs: ``t=...,v1=HMAC-SHA256(secret,
        "t.body")``. ``secret`` signs with another secret, for refusal tests."""
        created = int(time.time()) if created is None else created
        exported = {
            "api_version": EVENT_API_VERSION,
            "created": created,
            "data": {"object": data_object},
            "id": event_id or "evt_" + _random_id(14),
            "livemode": False,
            "object": "event",
            "type": type,
        }
        payload = _serialized(exported)
        return Delivery(payload, sign(payload, created, secret or self.webhook_secret))

    def _stored_event(self, type: str, obj: StripeObject) -> "Delivery":
        event = Event(type, obj)
        schedule_webhook(event)
        return self._signed(event)

    def _signed(self, event: Event) -> "Delivery":
        payload = _serialized(event._export())
        return Delivery(payload, sign(payload, event.created, self.webhook_secret))

    def wait_for_event(self, type: str, object_id: str, timeout: float = 10) -> "Delivery":
        """The webhook localstripe delivered for ``object_id``, waiting up to ``timeout``
        seconds. Filtering by object keeps a late event from an earlier test out."""
        deadline = time.monotonic() + timeout
        with INBOX.condition:
            while True:
                for delivery in INBOX.deliveries:
                    if delivery.type == type and delivery.object_id == object_id:
                        return delivery
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {type} webhook for {object_id} in {timeout} s")
                INBOX.condition.wait(left)
