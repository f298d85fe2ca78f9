"""Communities, members and merchants: the people and shops value moves between."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from models import WALLET_ROLES, AccountKind, Community, Fund, Member, Merchant, Role

from .auth import hash_password
from .extensions import db
from .ledger import ensure_account
from .problems import Conflict, Forbidden, InvalidInput

MIN_PASSWORD_LENGTH = 8


class FundAdminsByPlatformOnly(Forbidden):
    slug, title = "fund-admins-by-platform-only", _l("Only a platform admin makes fund admins")
    message = _l(
        "A community's fund admins are created by the district's platform admin; "
        "ask them to add one."
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
        raise Conflict(f"A community with slug '{slug}' already exists.")
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
        raise InvalidInput("Platform admins belong to no community; everyone else to one.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"The password needs at least {MIN_PASSWORD_LENGTH} characters.",
            errors={"json": {"password": [f"At least {MIN_PASSWORD_LENGTH} characters."]}},
        )
    if (role == Role.MERCHANT_STAFF) != (merchant_id is not None):
        raise InvalidInput(
            "merchant_id is required for merchant_staff, and only for them.",
            errors={"json": {"merchant_id": ["Required for merchant_staff only."]}},
        )
    if merchant_id is not None:
        merchant = db.session.get(Merchant, merchant_id)
        if merchant is None or merchant.community_id != community.id:
            raise InvalidInput(
                f"No merchant {merchant_id} in this community.",
                errors={"json": {"merchant_id": ["Unknown merchant."]}},
            )
    if db.session.execute(sa.select(Member.id).where(Member.username == username)).first():
        raise Conflict(f"The username '{username}' is taken.")
    member = Member(
        community_id=community.id if community else None,
        username=username,
        password_hash=hash_password(password),
        display_name=display_name,
        role=role,
        merchant_id=merchant_id,
        created_by_id=actor.id if actor is not None else None,
    )
    db.session.add(member)
    db.session.flush()
    if role in WALLET_ROLES:
        ensure_account(community.id, AccountKind.WALLET, member_id=member.id)
    return member


def _check_may_create(actor: Member, role: Role) -> None:
    if role == Role.PLATFORM_ADMIN:
        raise Forbidden("Platform admins are created with 'flask users create-admin' only.")
    if actor.role == Role.PLATFORM_ADMIN and role != Role.FUND_ADMIN:
        raise Forbidden("Platform admins create a community's fund admins; they add the rest.")
    if role == Role.FUND_ADMIN and actor.role != Role.PLATFORM_ADMIN:
        raise FundAdminsByPlatformOnly()


def create_merchant(community: Community, *, name: str, category: str, **profile) -> Merchant:
    if db.session.execute(
        sa.select(Merchant.id).where(Merchant.community_id == community.id, Merchant.name == name)
    ).first():
        raise Conflict(f"A merchant named '{name}' already exists in this community.")
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
