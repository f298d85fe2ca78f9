"""Who may do what, stated once.

:data:`POLICY` maps each action to a :class:`Grant`. A view declares its action
with :func:`requires`; the decorator authenticates the caller, loads the
objects named in the URL (``slug``, ``member_id``...), finds the community they
belong to and checks the grant. A caller never reaches anything in another
community: such objects answer 404, exactly as if they did not exist. Actions
marked ``audited`` leave an :class:`~models.AuditEntry` when they succeed.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from flask import g, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    WALLET_ROLES,
    Activity,
    Attendance,
    AuditEntry,
    Award,
    Coupon,
    Donation,
    IncomeEntry,
    IssuanceRule,
    IssuanceRun,
    Member,
    Merchant,
    MerchantGroup,
    Offer,
    PlatformAdmin,
    Redemption,
    Role,
    SettlementStatement,
)

from . import communities
from .auth import current_actor
from .extensions import db
from .problems import Forbidden, NotFound


class PlatformReadOnly(Forbidden):
    slug, title = "platform-admin-read-only", _l("Platform admins only read community data")
    message = _l("Platform admins can read a community's data but not change it.")


class RoleMayNot(Forbidden):
    """The authorization table's refusal; its slug stays the generic one."""

    slug, title = "forbidden", _l("Forbidden")
    message = _l("Your role may not do this.")


class NotInCommunity(NotFound):
    """An object of another community, answered exactly as one that does not exist."""

    slug, title = "not-found", _l("Not found")


ADMINS = frozenset({Role.FUND_ADMIN})
#: Who runs activities: organizers, and fund admins standing in for them.
ORGANIZERS = frozenset({Role.ORGANIZER, Role.FUND_ADMIN})
EVERYONE = frozenset(Role) - {Role.PLATFORM_ADMIN}


@dataclass(frozen=True)
class Grant:
    #: Community roles allowed on objects of their own community.
    roles: frozenset[Role] = frozenset()
    #: The member the object belongs to may act on it (their own balance...).
    owner: bool = False
    #: Staff of the merchant the object belongs to may act on it.
    staff: bool = False
    #: Platform admins may do this in any community.
    platform: bool = False
    #: Successful calls are written to the audit log.
    audited: bool = False
    #: Anyone may call, signed in or not (public keys, for instance).
    public: bool = False


POLICY: dict[str, Grant] = {
    "me.read": Grant(roles=EVERYONE, platform=True),
    "community.create": Grant(platform=True, audited=True),
    "community.read": Grant(roles=EVERYONE, platform=True),
    # The earning cap, the award threshold, the points-per-yuan schedule.
    "community.update": Grant(roles=ADMINS, audited=True),
    "community.deactivate": Grant(platform=True, audited=True),
    "community.overview": Grant(platform=True),
    "member.create": Grant(roles=ADMINS, platform=True, audited=True),
    "member.list": Grant(roles=ADMINS | {Role.ORGANIZER}, platform=True),
    "member.read": Grant(roles=ADMINS, owner=True, platform=True),
    # Deactivate, reset a password, change a role (fund admins: platform admins only).
    "member.update": Grant(roles=ADMINS, platform=True, audited=True),
    "merchant.create": Grant(roles=ADMINS, platform=True, audited=True),
    "award.create": Grant(roles=ADMINS, audited=True),
    "award.decide": Grant(roles=ADMINS, audited=True),
    "award.list": Grant(roles=ADMINS, platform=True),
    "audit.read": Grant(roles=ADMINS, platform=True),
    "earning_rules.update": Grant(roles=ADMINS, audited=True),
    "activity.create": Grant(roles=ORGANIZERS, audited=True),
    "activity.read": Grant(roles=EVERYONE, platform=True),
    "activity.organize": Grant(roles=ORGANIZERS),
    "activity.manage": Grant(roles=ORGANIZERS, audited=True),
    "activity.finalize": Grant(roles=ORGANIZERS, audited=True),
    "activity.check_in_code": Grant(roles=ORGANIZERS),
    "activity.sign_up": Grant(roles=WALLET_ROLES),
    "attendance.check_in": Grant(roles=WALLET_ROLES),
    "attendance.list": Grant(roles=ORGANIZERS, platform=True),
    "attendance.review": Grant(roles=ORGANIZERS, audited=True),
    "member.code": Grant(owner=True),
    "merchant_group.create": Grant(roles=ADMINS, audited=True),
    "merchant_group.read": Grant(roles=EVERYONE, platform=True),
    "merchant_group.update": Grant(roles=ADMINS, audited=True),
    "issuance_rule.create": Grant(roles=ADMINS, audited=True),
    "issuance_rule.read": Grant(roles=EVERYONE, platform=True),
    "issuance_run.create": Grant(roles=ADMINS, audited=True),
    "issuance_run.list": Grant(roles=ADMINS, platform=True),
    # Tokens and codes spend the coupon: only its holder sees them (see app.api.coupons).
    "coupon.read": Grant(roles=ADMINS, owner=True, platform=True),
    "coupon.qr": Grant(owner=True),
    "coupon.revoke": Grant(roles=ADMINS, audited=True),
    "coupon.verify": Grant(roles=ADMINS | {Role.MERCHANT_STAFF}),
    "keys.read": Grant(public=True),
    # A pay-code spends the wallet: nobody but its holder may see one.
    "paycode.show": Grant(owner=True),
    "paycode.reset": Grant(roles=ADMINS, owner=True, audited=True),
    "merchant.read": Grant(roles=EVERYONE, platform=True),
    "merchant.update": Grant(roles=ADMINS, staff=True, audited=True),
    "offer.create": Grant(roles=ADMINS, staff=True, audited=True),
    "offer.update": Grant(roles=ADMINS, staff=True, audited=True),
    # The merchant is always the cashier's own (app.redemptions.cashier_merchant).
    "redemption.create": Grant(roles=frozenset({Role.MERCHANT_STAFF})),
    "redemption.read": Grant(roles=ADMINS, staff=True, platform=True),
    "redemption.void": Grant(staff=True, audited=True),
    "redemption.list": Grant(roles=ADMINS, staff=True, platform=True),
    "settlement.create": Grant(roles=ADMINS, audited=True),
    # A merchant's staff read their own merchant's statements; fund admins all of them.
    "statement.list": Grant(roles=ADMINS, staff=True, platform=True),
    "statement.read": Grant(roles=ADMINS, staff=True, platform=True),
    "statement.approve": Grant(roles=ADMINS, audited=True),
    "statement.reject": Grant(roles=ADMINS, audited=True),
    "statement.pay": Grant(roles=ADMINS, audited=True),
    "statement.return": Grant(roles=ADMINS, audited=True),
    # Where payouts go: only fund admins link a merchant's Stripe account.
    "merchant.stripe_account": Grant(roles=ADMINS, audited=True),
    # The fund: fund admins act, platform admins read.
    "fund.read": Grant(roles=ADMINS, platform=True),
    # Any member may give; the public donation page gives without signing in.
    "donation.create": Grant(roles=EVERYONE),
    "donation.list": Grant(roles=ADMINS, platform=True),
    # The donation page polls its PaymentIntent's donation; it shows no donor.
    "donation.status": Grant(public=True),
    "donation.refund": Grant(roles=ADMINS, audited=True),
    "income.create": Grant(roles=ADMINS, audited=True),
    "income.list": Grant(roles=ADMINS, platform=True),
    "income.reverse": Grant(roles=ADMINS, audited=True),
    # Reconciliation and the month close: fund admins close (four eyes), platform admins read.
    "reconciliation.read": Grant(roles=ADMINS, platform=True),
    "period.read": Grant(roles=ADMINS, platform=True),
    "period.close": Grant(roles=ADMINS, audited=True),
    "dashboard.read": Grant(roles=ADMINS, platform=True),
    # Verified by its Stripe-Signature, not by a member's token.
    "stripe.webhook": Grant(public=True),
}


@dataclass(frozen=True)
class Scope:
    community_id: int | None = None
    owner_id: int | None = None
    merchant_id: int | None = None


def _by_id(model) -> Callable[[int], object | None]:
    return lambda value: db.session.get(model, value)


#: URL argument -> (view argument, loader returning None if missing, scope of the object).
LOADERS: dict[str, tuple[str, Callable, Callable[[object], Scope]]] = {
    "slug": ("community", communities.by_slug, lambda c: Scope(c.id)),
    "member_id": ("member", _by_id(Member), lambda m: Scope(m.community_id, m.id)),
    "merchant_id": (
        "merchant",
        _by_id(Merchant),
        lambda m: Scope(m.community_id, merchant_id=m.id),
    ),
    "offer_id": (
        "offer",
        _by_id(Offer),
        lambda o: Scope(o.community_id, merchant_id=o.merchant_id),
    ),
    "award_id": ("award", _by_id(Award), lambda a: Scope(a.community_id, a.member_id)),
    "activity_id": ("activity", _by_id(Activity), lambda a: Scope(a.community_id)),
    "attendance_id": (
        "attendance",
        _by_id(Attendance),
        lambda a: Scope(a.community_id, a.member_id),
    ),
    "group_id": ("merchant_group", _by_id(MerchantGroup), lambda g: Scope(g.community_id)),
    "rule_id": ("rule", _by_id(IssuanceRule), lambda r: Scope(r.community_id)),
    "run_id": ("run", _by_id(IssuanceRun), lambda r: Scope(r.community_id)),
    "coupon_id": ("coupon", _by_id(Coupon), lambda c: Scope(c.community_id, c.member_id)),
    "donation_id": ("donation", _by_id(Donation), lambda d: Scope(d.community_id)),
    "income_id": ("income", _by_id(IncomeEntry), lambda i: Scope(i.community_id)),
    "redemption_id": (
        "redemption",
        _by_id(Redemption),
        lambda r: Scope(r.community_id, merchant_id=r.merchant_id),
    ),
    "statement_id": (
        "statement",
        _by_id(SettlementStatement),
        lambda s: Scope(s.community_id, merchant_id=s.merchant_id),
    ),
}


#: URL objects that are people: a caller who may not act on one is told it does
#: not exist, as for an id never used, so member ids cannot be enumerated.
PRIVATE = frozenset({"member_id"})


def _unseen(actor: Member, scope: Scope) -> bool:
    """An object outside the actor's community, or a platform admin's own account
    (which belongs to no community), for anyone but a platform admin."""
    if actor.role == Role.PLATFORM_ADMIN:
        return False
    return scope.community_id != actor.community_id


def _sees_members(actor: Member, scope: Scope) -> bool:
    """Whether ``actor`` may see this member at all (its own, or by listing them)."""
    return permits(actor, "member.read", scope) or permits(
        actor, "member.list", Scope(scope.community_id)
    )


def hidden_from(actor: Member, scope: Scope) -> bool:
    """True for another community's objects: to this actor they do not exist."""
    return (
        actor.role != Role.PLATFORM_ADMIN
        and scope.community_id is not None
        and scope.community_id != actor.community_id
    )


def authorize(actor: Member, action: str, scope: Scope) -> None:
    """Raise unless ``actor`` may perform ``action`` on objects in ``scope``."""
    grant = POLICY[action]
    if actor.role == Role.PLATFORM_ADMIN:
        if grant.platform:
            return
        raise PlatformReadOnly()
    if hidden_from(actor, scope):
        raise NotInCommunity()
    if actor.role in grant.roles:
        return
    if grant.owner and scope.owner_id is not None and scope.owner_id == actor.id:
        return
    if grant.staff and scope.merchant_id is not None and scope.merchant_id == actor.merchant_id:
        return
    raise RoleMayNot()


def permits(actor: Member, action: str, scope: Scope) -> bool:
    """Whether :func:`authorize` would let ``actor`` do ``action`` (for showing links)."""
    try:
        authorize(actor, action, scope)
    except (Forbidden, NotFound):
        return False
    return True


def requires(action: str):
    """Declare a view's action; load URL objects, authorize, audit."""
    if action not in POLICY:
        raise KeyError(f"unknown action {action!r}")

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if POLICY[action].public:
                return view(*args, **kwargs)
            actor = g.actor = current_actor()
            scope = Scope()
            private = None
            for name in [n for n in kwargs if n in LOADERS]:
                target, load, scope_of = LOADERS[name]
                value = kwargs.pop(name)
                obj = load(value)
                if obj is None or _unseen(actor, scope_of(obj)):
                    # The same answer either way, so a caller cannot probe
                    # which objects exist in other communities.
                    raise NotInCommunity(_("Nothing with id %(id)s here.", id=value))
                kwargs[target] = obj
                scope = scope_of(obj)
                if name in PRIVATE:
                    private = value
            try:
                authorize(actor, action, scope)
            except Forbidden:
                if private is None or _sees_members(actor, scope):
                    raise
                # Someone the caller may not see answers exactly as a member that
                # does not exist: a refusal would confirm the id.
                raise NotInCommunity(_("Nothing with id %(id)s here.", id=private)) from None
            response = view(*args, **kwargs)
            # A retry answered from the idempotency store wrote nothing new, and a page
            # that only shows the form for an audited action changed nothing.
            replayed = response.headers.get("Idempotent-Replayed") == "true"
            reading = request.method in ("GET", "HEAD")
            if POLICY[action].audited and response.status_code < 400 and not (replayed or reading):
                _audit(actor, action, scope, response)
            return response

        wrapper.required_action = action
        return wrapper

    return decorator


def audit_in(community_id: int) -> None:
    """Name the community an audited write landed in, when its URL names none (a
    new community): its audit entry is kept there."""
    g.audited_community_id = community_id


def _audit(actor: Member | PlatformAdmin, action: str, scope: Scope, response) -> None:
    body = response.get_json(silent=True) if response.is_json else None
    body = body if isinstance(body, dict) else {}
    target_id = body.get("id")
    by_platform = isinstance(actor, PlatformAdmin)
    db.session.add(
        AuditEntry(
            community_id=scope.community_id or g.get("audited_community_id") or actor.community_id,
            actor_id=None if by_platform else actor.id,
            platform_admin_id=actor.id if by_platform else None,
            action=action,
            method=request.method,
            path=request.path[:500],
            status_code=response.status_code,
            target_id=target_id if isinstance(target_id, int) else None,
            remote_addr=request.remote_addr,
            user_agent=request.user_agent.string[:300] or None,
        )
    )
