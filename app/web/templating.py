"""What templates need beyond the request: number formats, labels, the language switch."""

from datetime import datetime

from flask import current_app, request
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


@blp.app_context_processor
def navigation() -> dict:
    """``holds_wallet``, ``in_community`` and ``can(action)`` for the navigation and pages."""
    member = current_user if current_user.is_authenticated else None

    def can(action: str) -> bool:
        if member is None or action not in POLICY:
            return False
        return permits(member, action, Scope(member.community_id, member.id))

    return {
        "holds_wallet": member is not None and member.role in WALLET_ROLES,
        "in_community": member is not None and member.community_id is not None,
        "can": can,
    }
