"""Issuance rules and the merchant groups they name (design.md §5).

A rule says who earns a coupon in a month (a minimum of points earned, of
attendances, or both), what it is worth (fixed points, or tiers by points
earned), where it can be spent (every partner merchant, or one merchant
group), how long it stays valid, how it is funded (granted from issuance or
converted from the wallet) and where its points go if it expires. Applying a
rule to a month is an issuance run (:mod:`app.issuance`). Names of rules and
of merchant groups are unique within a community.
"""

from collections.abc import Sequence
from datetime import datetime, time, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    Community,
    CouponFunding,
    ExpiryTarget,
    IssuanceRule,
    IssuanceTier,
    Member,
    Merchant,
    MerchantGroup,
    MerchantGroupMember,
    Validity,
)

from .earnings import LOCAL_TZ, Period
from .extensions import db
from .problems import Conflict, invalid_field


class MerchantGroupNameTaken(Conflict):
    slug, title = "merchant-group-name-taken", _l("Merchant group name taken")
    message = _l("This community already has a merchant group of that name; choose another.")


class RuleNameTaken(Conflict):
    slug, title = "rule-name-taken", _l("Rule name taken")
    message = _l("This community already has an issuance rule of that name; choose another.")


# --- merchant groups -------------------------------------------------------------


def _merchants(community: Community, merchant_ids: Sequence[int]) -> list[Merchant]:
    wanted = set(merchant_ids)
    found = (
        db.session.execute(
            sa.select(Merchant).where(
                Merchant.community_id == community.id, Merchant.id.in_(wanted)
            )
        )
        .scalars()
        .all()
    )
    missing = sorted(wanted - {merchant.id for merchant in found})
    if missing:
        raise invalid_field(
            "merchant_ids",
            "Unknown merchant.",
            _("No merchant %(id)s in this community.", id=", ".join(map(str, missing))),
        )
    return found


def create_merchant_group(
    community: Community, *, name: str, merchant_ids: Sequence[int] = ()
) -> MerchantGroup:
    name = name.strip()
    if not name:
        raise invalid_field("name", "Required.", _("A name is required."))
    if group_named(community, name) is not None:
        raise MerchantGroupNameTaken(
            _("A merchant group named '%(name)s' already exists in this community.", name=name)
        )
    group = MerchantGroup(community_id=community.id, name=name)
    db.session.add(group)
    db.session.flush()
    for merchant in _merchants(community, merchant_ids):
        add_to_group(group, merchant)
    return group


def add_to_group(group: MerchantGroup, merchant: Merchant) -> MerchantGroup:
    """Add ``merchant``; adding one already in the group changes nothing."""
    if merchant.community_id != group.community_id:
        raise invalid_field(
            "merchant_id",
            "Unknown merchant.",
            _("No merchant %(id)s in this community.", id=merchant.id),
        )
    if merchant not in group.merchants:
        db.session.add(
            MerchantGroupMember(
                community_id=group.community_id, group_id=group.id, merchant_id=merchant.id
            )
        )
        db.session.flush()
        db.session.expire(group, ["merchants"])
    return group


def groups_of(community: Community) -> sa.Select:
    return sa.select(MerchantGroup).where(MerchantGroup.community_id == community.id)


def group_named(community: Community, name: str) -> MerchantGroup | None:
    return db.session.execute(
        groups_of(community).where(MerchantGroup.name == name.strip())
    ).scalar_one_or_none()


def remove_from_group(group: MerchantGroup, merchant: Merchant) -> MerchantGroup:
    db.session.execute(
        sa.delete(MerchantGroupMember).where(
            MerchantGroupMember.community_id == group.community_id,
            MerchantGroupMember.group_id == group.id,
            MerchantGroupMember.merchant_id == merchant.id,
        )
    )
    db.session.expire(group, ["merchants"])
    return group


# --- rules ---------------------------------------------------------------------------


def create_rule(
    community: Community,
    *,
    name: str,
    funding: CouponFunding,
    on_expiry: ExpiryTarget,
    actor: Member,
    min_points_earned: int | None = None,
    min_attendances: int | None = None,
    points: int | None = None,
    tiers: Sequence[tuple[int, int]] = (),
    merchant_group: MerchantGroup | None = None,
    validity: Validity | None = None,
    valid_days: int | None = None,
) -> IssuanceRule:
    """A new rule. Exactly one of ``points`` and ``tiers`` ((min_points_earned, points)
    pairs); at least one of ``min_points_earned`` and ``min_attendances``; validity
    is ``valid_days`` days, or to the end of next month when no days are given.
    """
    name = name.strip()
    if not name:
        raise invalid_field("name", "Required.", _("A name is required."))
    if min_points_earned is None and min_attendances is None:
        raise invalid_field(
            "min_points_earned",
            "Give min_points_earned, min_attendances or both.",
            _("Say who is eligible: a minimum of points earned, of attendances, or both."),
        )
    if (points is None) == (not tiers):
        raise invalid_field(
            "points",
            "Give either points or tiers.",
            _("A coupon's points are either fixed (points) or tiered by points earned (tiers)."),
        )
    thresholds = [threshold for threshold, _points in tiers]
    if len(set(thresholds)) != len(thresholds):
        raise invalid_field(
            "tiers",
            "Each tier needs its own min_points_earned.",
            _("Each tier needs its own minimum of points earned."),
        )
    validity = validity or (Validity.DAYS if valid_days is not None else Validity.END_OF_NEXT_MONTH)
    if (validity == Validity.DAYS) != (valid_days is not None):
        raise invalid_field(
            "valid_days",
            "valid_days goes with validity 'days', and only with it.",
            _("A number of days goes with validity 'days', and only with it."),
        )
    if merchant_group is not None and merchant_group.community_id != community.id:
        raise invalid_field(
            "merchant_group_id",
            "Unknown merchant group.",
            _("No merchant group %(id)s in this community.", id=merchant_group.id),
        )
    if db.session.execute(rules_of(community).where(IssuanceRule.name == name)).first():
        raise RuleNameTaken(
            _("A rule named '%(name)s' already exists in this community.", name=name)
        )
    rule = IssuanceRule(
        community_id=community.id,
        name=name,
        min_points_earned=min_points_earned,
        min_attendances=min_attendances,
        points=points,
        merchant_group_id=merchant_group.id if merchant_group else None,
        validity=validity,
        valid_days=valid_days,
        funding=funding,
        on_expiry=on_expiry,
        created_by_id=actor.id,
        tiers=[
            IssuanceTier(community_id=community.id, min_points_earned=threshold, points=value)
            for threshold, value in sorted(tiers)
        ],
    )
    db.session.add(rule)
    db.session.flush()
    return rule


def rules_of(community: Community) -> sa.Select:
    return sa.select(IssuanceRule).where(IssuanceRule.community_id == community.id)


def coupon_expiry(rule: IssuanceRule, issued_at: datetime) -> datetime:
    """The first moment a coupon issued at ``issued_at`` under ``rule`` is no longer valid.

    End of next month: midnight (Asia/Shanghai) starting the second month after
    the issue month. N days: midnight after the N-th day following the issue day.
    """
    if rule.validity == Validity.END_OF_NEXT_MONTH:
        return Period.containing(issued_at).next().end
    last_day = issued_at.astimezone(LOCAL_TZ).date() + timedelta(days=rule.valid_days)
    return datetime.combine(last_day + timedelta(days=1), time(), tzinfo=LOCAL_TZ)
