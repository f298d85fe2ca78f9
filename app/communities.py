"""Communities, members and merchants: the people and shops value moves between."""

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import WALLET_ROLES, AccountKind, Community, Fund, Member, Merchant, Role

from .auth import hash_password
from .extensions import db
from .ledger import ensure_account
from .problems import Conflict, Forbidden, InvalidInput

MIN_PASSWORD_LENGTH = 8


class SlugTaken(Conflict):
    slug, title = "slug-taken", _l("Community slug taken")
    message = _l("Another community already has this slug; choose another.")


class UsernameTaken(Conflict):
    slug, title = "username-taken", _l("Username taken")
    message = _l("This username is taken; choose another.")


class MerchantNameTaken(Conflict):
    slug, title = "merchant-name-taken", _l("Merchant name taken")
    message = _l("This community already has a merchant of that name; choose another.")


class CommunityMismatch(InvalidInput):
    slug, title = "community-mismatch", _l("Wrong community for the role")
    message = _l("Platform admins belong to no community; everyone else belongs to one.")


class PlatformAdminByCommandOnly(Forbidden):
    slug, title = "platform-admin-by-command-only", _l("Platform admins are not added here")
    message = _l("Platform admins are created on the server, with 'flask users create-admin'.")


class FundAdminsOnlyByPlatform(Forbidden):
    slug, title = "fund-admins-only-by-platform", _l("Platform admins add fund admins only")
    message = _l(
        "Platform admins create a community's fund admins; the fund admins add everyone else."
    )


#: Accounts every community holds from the start (design.md §3).
COMMUNITY_ACCOUNTS = (
    (AccountKind.ISSUANCE, None),
    (AccountKind.COUPON_ESCROW, None),
    (AccountKind.RETIRED, None),
    (AccountKind.EXPIRED, None),
    (AccountKind.INCOME, None),
    (AccountKind.FUND_CASH, Fund.CHARITY),
    (AccountKind.FUND_CASH, Fund.COMMUNITY),
)


def create_community(slug: str, name: str, points_per_yuan: int = 50) -> Community:
    if db.session.execute(sa.select(Community.id).where(Community.slug == slug)).first():
        raise SlugTaken(_("A community with slug '%(slug)s' already exists.", slug=slug))
    community = Community(slug=slug, name=name, points_per_yuan=points_per_yuan)
    db.session.add(community)
    db.session.flush()
    for kind, fund in COMMUNITY_ACCOUNTS:
        ensure_account(community.id, kind, fund=fund)
    return community


def create_member(
    community: Community | None,
    *,
    username: str,
    password: str,
    display_name: str,
    role: Role,
    merchant_id: int | None = None,
    actor: Member | None = None,
) -> Member:
    """A new member; ``actor`` is None only for the CLI's first platform admin."""
    if actor is not None:
        _check_may_create(actor, role)
    if (role == Role.PLATFORM_ADMIN) != (community is None):
        raise CommunityMismatch()
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            _("The password needs at least %(num)s characters.", num=MIN_PASSWORD_LENGTH),
            errors={"json": {"password": [f"At least {MIN_PASSWORD_LENGTH} characters."]}},
        )
    if (role == Role.MERCHANT_STAFF) != (merchant_id is not None):
        raise InvalidInput(
            _("merchant_id is required for merchant_staff, and only for them."),
            errors={"json": {"merchant_id": ["Required for merchant_staff only."]}},
        )
    if merchant_id is not None:
        merchant = db.session.get(Merchant, merchant_id)
        if merchant is None or merchant.community_id != community.id:
            raise InvalidInput(
                _("No merchant %(id)s in this community.", id=merchant_id),
                errors={"json": {"merchant_id": ["Unknown merchant."]}},
            )
    if db.session.execute(sa.select(Member.id).where(Member.username == username)).first():
        raise UsernameTaken(_("The username '%(username)s' is taken.", username=username))
    member = Member(
        community_id=community.id if community else None,
        username=username,
        password_hash=hash_password(password),
        display_name=display_name,
        role=role,
        merchant_id=merchant_id,
    )
    db.session.add(member)
    db.session.flush()
    if role in WALLET_ROLES:
        ensure_account(community.id, AccountKind.WALLET, member_id=member.id)
    return member


def _check_may_create(actor: Member, role: Role) -> None:
    if role == Role.PLATFORM_ADMIN:
        raise PlatformAdminByCommandOnly(
            _("Platform admins are created with 'flask users create-admin' only.")
        )
    if actor.role == Role.PLATFORM_ADMIN and role != Role.FUND_ADMIN:
        raise FundAdminsOnlyByPlatform(
            _("Platform admins create a community's fund admins; they add the rest.")
        )


def create_merchant(community: Community, *, name: str, category: str, **profile) -> Merchant:
    if db.session.execute(
        sa.select(Merchant.id).where(Merchant.community_id == community.id, Merchant.name == name)
    ).first():
        raise MerchantNameTaken(
            _("A merchant named '%(name)s' already exists in this community.", name=name)
        )
    merchant = Merchant(community_id=community.id, name=name, category=category, **profile)
    db.session.add(merchant)
    db.session.flush()
    ensure_account(community.id, AccountKind.WALLET, merchant_id=merchant.id)
    # What the fund owes for the shop's redemptions; there from the start, so a
    # redemption only ever looks it up.
    ensure_account(community.id, AccountKind.MERCHANT_RECEIVABLE, merchant_id=merchant.id)
    return merchant


def wallet_of(member: Member):
    """The member's points wallet, or None for roles that hold none."""
    if member.role not in WALLET_ROLES:
        return None
    return ensure_account(member.community_id, AccountKind.WALLET, member_id=member.id)
