"""Communities, members and merchants: the people and shops value moves between.

Also the community's own settings that the console changes: the monthly
earning cap, the award approval threshold and the points-per-yuan rate, which
may change from a chosen day (:func:`schedule_points_per_yuan`,
:func:`points_per_yuan_on`).
"""

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    WALLET_ROLES,
    Account,
    AccountKind,
    Community,
    Coupon,
    CouponStatus,
    Fund,
    Member,
    Merchant,
    PlatformAdmin,
    PointsRate,
    Redemption,
    RedemptionStatus,
    Role,
    Username,
    utcnow,
)

from . import sql
from .auth import hash_password
from .earnings import LOCAL_TZ
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


def by_slug(slug: str) -> Community | None:
    return db.session.execute(
        sa.select(Community).where(Community.slug == slug)
    ).scalar_one_or_none()


def username_taken(username: str) -> bool:
    """Usernames are unique across communities: a member signs in with one alone."""
    return db.session.get(Username, username) is not None


def create_community(slug: str, name: str, points_per_yuan: int = 50) -> Community:
    if by_slug(slug) is not None:
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
    actor: Member | PlatformAdmin | None = None,
) -> Member | PlatformAdmin:
    """A new member, or a platform admin (of no community); ``actor`` is None only
    for the CLI's first platform admin."""
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
    _claim_username(username, community)
    person = dict(
        username=username, password_hash=hash_password(password), display_name=display_name
    )
    if community is None:
        admin = PlatformAdmin(**person, created_by_id=actor.id if actor is not None else None)
        db.session.add(admin)
        db.session.flush()
        return admin
    member = Member(
        community_id=community.id,
        role=role,
        merchant_id=merchant_id,
        created_by_id=actor.id if isinstance(actor, Member) else None,
        created_by_platform_admin_id=actor.id if isinstance(actor, PlatformAdmin) else None,
        **person,
    )
    db.session.add(member)
    db.session.flush()
    if role in WALLET_ROLES:
        ensure_account(community.id, AccountKind.WALLET, member_id=member.id)
    return member


def _claim_username(username: str, community: Community | None) -> None:
    """Take ``username`` for a new member of ``community`` (None: a platform admin).
    Its row's primary key settles a race for the same name: the second request
    waits for the first and, once it commits, is refused."""
    claimed = db.session.execute(
        sql.insert(Username)
        .values(username=username, community_id=community.id if community else None)
        .on_conflict_do_nothing(index_elements=["username"])
        .returning(Username.username)
    )
    if claimed.first() is None:
        raise UsernameTaken(_("The username '%(username)s' is taken.", username=username))


def _check_may_create(actor: Member, role: Role) -> None:
    if role == Role.PLATFORM_ADMIN:
        raise PlatformAdminByCommandOnly(
            _("Platform admins are created with 'flask users create-admin' only.")
        )
    if actor.role == Role.PLATFORM_ADMIN and role != Role.FUND_ADMIN:
        raise FundAdminsOnlyByPlatform(
            _("Platform admins create a community's fund admins; they add the rest.")
        )
    if role == Role.FUND_ADMIN and actor.role != Role.PLATFORM_ADMIN:
        raise FundAdminsArePlatformWork()


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


# --- the console: members -------------------------------------------------------------


class FundAdminsArePlatformWork(Forbidden):
    slug = "fund-admins-are-platform-work"
    title = _l("Only a platform admin may do this")
    message = _l("Only a platform admin creates, promotes or manages fund admins.")


class NotOnYourself(Conflict):
    slug = "not-on-yourself"
    title = _l("Not on your own account")
    message = _l("You cannot deactivate your own account or change your own role.")


class WalletNotEmpty(Conflict):
    slug = "wallet-not-empty"
    title = _l("The member still holds points")
    message = _l("This member still holds points; a role without a wallet would strand them.")


def _check_may_manage(actor: Member, member: Member) -> None:
    """Fund admins are the platform's to manage, and nobody manages themselves."""
    if (actor.community_id, actor.id) == (member.community_id, member.id):
        raise NotOnYourself()
    if member.role == Role.FUND_ADMIN and actor.role != Role.PLATFORM_ADMIN:
        raise FundAdminsArePlatformWork()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            _l("The password needs at least %(num)s characters.", num=MIN_PASSWORD_LENGTH),
            errors={"json": {"password": [f"At least {MIN_PASSWORD_LENGTH} characters."]}},
        )


def set_member_active(member: Member, active: bool, *, actor: Member) -> Member:
    """Deactivate a member (they can no longer sign in; their history stays) or bring them back."""
    _check_may_manage(actor, member)
    member.active = active
    db.session.flush()
    return member


def reset_password(member: Member, password: str, *, actor: Member) -> Member:
    """Give the member a new password, which the admin hands over in person."""
    _check_may_manage(actor, member)
    _check_password(password)
    member.password_hash = hash_password(password)
    db.session.flush()
    return member


def change_role(
    member: Member, role: Role, *, actor: Member, merchant_id: int | None = None
) -> Member:
    """Move a member to another role: a cashier names their shop; only a platform admin
    makes a fund admin; a member holding points keeps a role with a wallet."""
    _check_may_manage(actor, member)
    if role == Role.PLATFORM_ADMIN:
        raise Forbidden(_l("Platform admins are created with 'flask users create-admin' only."))
    if role == Role.FUND_ADMIN and actor.role != Role.PLATFORM_ADMIN:
        raise FundAdminsArePlatformWork()
    if (role == Role.MERCHANT_STAFF) != (merchant_id is not None):
        raise InvalidInput(
            _l("Merchant staff need their shop; other roles have none."),
            errors={"json": {"merchant_id": ["Required for merchant_staff only."]}},
        )
    if merchant_id is not None:
        merchant = db.session.get(Merchant, merchant_id)
        if merchant is None or merchant.community_id != member.community_id:
            raise InvalidInput(
                _l("No such shop in this community."),
                errors={"json": {"merchant_id": ["Unknown merchant."]}},
            )
    wallet = wallet_of(member)
    if role not in WALLET_ROLES and wallet is not None and wallet.balance != 0:
        raise WalletNotEmpty()
    member.role = role
    member.merchant_id = merchant_id
    db.session.flush()
    if role in WALLET_ROLES:
        ensure_account(member.community_id, AccountKind.WALLET, member_id=member.id)
    return member


# --- the console: the community's settings ----------------------------------------------


class RateInThePast(InvalidInput):
    slug = "rate-in-the-past"
    title = _l("A rate cannot start in the past")
    message = _l("A new rate starts today or later; what was redeemed keeps its rate.")


def update_settings(
    community: Community, *, monthly_earning_cap: int | None, award_approval_threshold: int
) -> Community:
    """The earning cap (None for none) and the points above which an award needs four eyes."""
    errors = {}
    if monthly_earning_cap is not None and monthly_earning_cap < 0:
        errors["monthly_earning_cap"] = ["Zero or more, or null for no cap."]
    if award_approval_threshold < 0:
        errors["award_approval_threshold"] = ["Zero or more."]
    if errors:
        raise InvalidInput(_l("Please check the settings."), errors={"json": errors})
    community.monthly_earning_cap = monthly_earning_cap
    community.award_approval_threshold = award_approval_threshold
    db.session.flush()
    return community


def local_today() -> date:
    return datetime.now(LOCAL_TZ).date()


def rate_in_force(day) -> sa.ColumnElement[int]:
    """The points-per-yuan rate of ``Community`` in force on ``day``, as SQL: the latest
    scheduled rate from that day or before, else the community's first rate. The one
    definition, used by :func:`points_per_yuan_on` and by the till's one-statement read."""
    scheduled = (
        sa.select(PointsRate.points_per_yuan)
        .where(PointsRate.community_id == Community.id, PointsRate.effective_from <= day)
        .order_by(PointsRate.effective_from.desc())
        # A literal, not a bound parameter: the till sends this SQL on the bare driver.
        .limit(sa.literal_column("1"))
        .scalar_subquery()
    )
    return sa.func.coalesce(scheduled, Community.points_per_yuan)


def points_per_yuan_on(community: Community, day: date | None = None) -> int:
    """The rate in force on ``day`` (default: today in Asia/Shanghai)."""
    return db.session.execute(
        sa.select(rate_in_force(day or local_today())).where(Community.id == community.id)
    ).scalar_one()


def rate_schedule(community: Community) -> list[PointsRate]:
    return list(
        db.session.execute(
            sa.select(PointsRate)
            .where(PointsRate.community_id == community.id)
            .order_by(PointsRate.effective_from)
        ).scalars()
    )


def schedule_points_per_yuan(
    community: Community, points_per_yuan: int, effective_from: date, *, actor: Member
) -> PointsRate:
    """Points worth one yuan from ``effective_from`` on; a day already scheduled is replaced."""
    if points_per_yuan <= 0:
        raise InvalidInput(
            _l("Points per yuan must be more than zero."),
            errors={"json": {"points_per_yuan": ["More than zero."]}},
        )
    if effective_from < local_today():
        raise RateInThePast(errors={"json": {"effective_from": ["Today or later."]}})
    rate = db.session.execute(
        sa.select(PointsRate).where(
            PointsRate.community_id == community.id, PointsRate.effective_from == effective_from
        )
    ).scalar_one_or_none()
    if rate is None:
        rate = PointsRate(community_id=community.id, effective_from=effective_from)
        db.session.add(rate)
    rate.points_per_yuan = points_per_yuan
    rate.created_by_id = actor.id
    rate.created_at = utcnow()
    db.session.flush()
    return rate


def set_community_active(community: Community, active: bool) -> Community:
    """A deactivated community keeps its books; its members can no longer sign in."""
    community.active = active
    db.session.flush()
    return community


@dataclass(frozen=True)
class CommunityFigures:
    """One community at a glance, for the platform's read-only overview."""

    community: Community
    members: int
    merchants: int
    wallet_points: int
    open_coupons: int
    coupon_points: int
    redemptions: int
    redeemed_points: int


def overview() -> list[CommunityFigures]:
    """Every community with its people, points held and points redeemed: one query each."""

    def by_community(model, *aggregates, where=()) -> dict[int, tuple]:
        rows = db.session.execute(
            sa.select(model.community_id, *aggregates).where(*where).group_by(model.community_id)
        )
        return {row[0]: tuple(int(value) for value in row[1:]) for row in rows}

    def total(column):
        return sa.func.coalesce(sa.func.sum(column), 0)

    members = by_community(Member, sa.func.count(), where=[Member.active])
    merchants = by_community(Merchant, sa.func.count(), where=[Merchant.active])
    wallets = by_community(
        Account, total(Account.balance), where=[Account.kind == AccountKind.WALLET]
    )
    coupons = by_community(
        Coupon,
        sa.func.count(),
        total(Coupon.points_remaining),
        where=[Coupon.status.in_([CouponStatus.ISSUED, CouponStatus.PARTLY_REDEEMED])],
    )
    redeemed = by_community(
        Redemption,
        sa.func.count(),
        total(Redemption.points),
        where=[Redemption.status == RedemptionStatus.ACTIVE],
    )
    listing = db.session.execute(sa.select(Community).order_by(Community.name)).scalars()
    return [
        CommunityFigures(
            community,
            *members.get(community.id, (0,)),
            *merchants.get(community.id, (0,)),
            *wallets.get(community.id, (0,)),
            *coupons.get(community.id, (0, 0)),
            *redeemed.get(community.id, (0, 0)),
        )
        for community in listing
    ]
