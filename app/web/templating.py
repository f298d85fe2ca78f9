"""What templates need beyond the request: number formats, labels, the language switch,
and each role's navigation."""

from dataclasses import dataclass
from datetime import datetime

from flask import current_app, request, url_for
from flask_babel import format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from models import WALLET_ROLES, Offer, OfferKind, Role

from ..authz import POLICY, Scope, permits
from ..money import format_fen
from . import blp

#: Each language named in itself, with the tag for ``<html lang>``.
LANGUAGES = {"zh": ("中文", "zh-CN"), "en": ("English", "en")}

ROLE_LABELS = {
    Role.RESIDENT: _l("Resident volunteer"),
    Role.ORGANIZER: _l("Organizer"),
    Role.MERCHANT_STAFF: _l("Merchant staff"),
    Role.FUND_ADMIN: _l("Community fund admin"),
    Role.PLATFORM_ADMIN: _l("Platform admin"),
}


@blp.app_template_filter("fen")
def fen(amount: int) -> str:
    return format_fen(amount)


@blp.app_template_filter("points")
def points(amount: int, signed: bool = False) -> str:
    return f"{amount:+,}" if signed else f"{amount:,}"


@blp.app_template_filter("local_time")
def local_time(moment: datetime) -> str:
    """Date and time in the configured zone (Asia/Shanghai), the same digits in both languages."""
    return format_datetime(moment, "yyyy-MM-dd HH:mm")


@blp.app_template_filter("offer_terms")
def offer_terms(offer: Offer) -> str:
    """What the resident gets, in the reader's words: free, a low price, or a discount."""
    if offer.kind == OfferKind.WELFARE:
        return _l("Free (public welfare)")
    if offer.kind == OfferKind.LOW_COST:
        return _l("Low price %(price)s", price=format_fen(offer.price_fen))
    return _l("%(percent)s%% off", percent=offer.discount_percent)


@blp.app_template_filter("role_label")
def role_label(role: Role) -> str:
    return ROLE_LABELS[role]


def here() -> str:
    """Where the language switch comes back to: this page, or the start after a form post."""
    if request.method != "GET":
        return "/"
    return request.full_path.rstrip("?")


@blp.app_context_processor
def language_switch() -> dict:
    code = get_locale().language
    return {
        "html_lang": LANGUAGES[code][1],
        "current_language": code,
        "languages": [(c, *LANGUAGES[c]) for c in current_app.config["LANGUAGES"]],
        "here": here(),
    }


@dataclass(frozen=True)
class Link:
    endpoint: str
    label: str


HOME = Link("web.home", _l("Home"))
#: The pages of a resident's own points, for every role that holds a wallet.
WALLET_LINKS = (
    Link("web.my_coupons", _l("Coupons")),
    Link("web.pay_code", _l("Pay-code")),
    Link("web.partner_merchants", _l("Shops")),
    Link("web.my_code", _l("My code")),
    Link("web.history", _l("Points history")),
)

#: Each role's navigation: its own work first (at most three links, so the bar fits a
#: phone on one line in either language), the rest under "More".
NAVIGATION: dict[Role, tuple[tuple[Link, ...], tuple[Link, ...]]] = {
    Role.RESIDENT: (
        (HOME, Link("web.activity_list", _l("Activities")), WALLET_LINKS[0]),
        WALLET_LINKS[1:],
    ),
    Role.ORGANIZER: (
        (
            HOME,
            Link("web.activity_list", _l("Activities")),
            Link("web.new_activity", _l("New activity")),
        ),
        WALLET_LINKS,
    ),
    Role.MERCHANT_STAFF: (
        (HOME, Link("web.pos", _l("Till")), Link("web.pos_history", _l("Sales"))),
        (Link("web.merchant_statements", _l("Statements")),),
    ),
    Role.FUND_ADMIN: (
        (
            HOME,
            Link("web.console_members", _l("Members")),
            Link("web.console_awards", _l("Awards")),
        ),
        (
            Link("web.dashboard_page", _l("Dashboard")),
            Link("web.fund_overview", _l("Fund")),
            Link("web.settlements", _l("Settlement")),
            Link("web.income_entries", _l("Income")),
            Link("web.donations", _l("Donations")),
            Link("web.console_merchants", _l("Merchants")),
            Link("web.issuance_rules", _l("Coupon rules")),
            Link("web.issuance_runs", _l("Issuance runs")),
            Link("web.console_settings", _l("Settings")),
            Link("web.activity_list", _l("Activities")),
        ),
    ),
    Role.PLATFORM_ADMIN: (
        (HOME, Link("web.platform_communities", _l("Communities"))),
        (),
    ),
}


@dataclass(frozen=True)
class NavEntry:
    url: str
    label: str
    current: bool


def _entries(links: tuple[Link, ...]) -> list[NavEntry]:
    """Each link with its address, marked current on its own page and the pages under it."""
    entries = []
    for link in links:
        url = url_for(link.endpoint)
        current = request.path == url or (
            link.endpoint != HOME.endpoint and request.path.startswith(url.rstrip("/") + "/")
        )
        entries.append(NavEntry(url, link.label, current))
    return entries


@blp.app_context_processor
def navigation() -> dict:
    """The role's navigation, plus ``holds_wallet``, ``in_community`` and ``can(action)``."""
    member = current_user if current_user.is_authenticated else None

    def can(action: str) -> bool:
        if member is None or action not in POLICY:
            return False
        return permits(member, action, Scope(member.community_id, member.id))

    primary, more = NAVIGATION[member.role] if member is not None else ((), ())
    return {
        "holds_wallet": member is not None and member.role in WALLET_ROLES,
        "in_community": member is not None and member.community_id is not None,
        "can": can,
        "main_nav": _entries(primary),
        "more_nav": _entries(more),
    }
