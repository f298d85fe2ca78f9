"""Manual awards and deductions by fund admins (design.md §4).

An award posts at once while it stays small: the member's manual awards of
the day (Asia/Shanghai, deductions counted by their size), this one included,
within the community's threshold, and an award within the member's monthly
earning cap. Otherwise it waits for a *second* fund admin, so splitting a
large award into small ones, or awarding past the cap, still takes two people.
:func:`decide_award` refuses the requester and any account the requester
created (a fund admin cannot make a second account to approve with), and the
``four_eyes`` CHECK refuses the requester again in the database.
"""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import AccountKind, Award, AwardStatus, Community, Member, TransactionKind, utcnow

from . import ledger, sql
from .communities import wallet_of
from .earnings import LOCAL_TZ, Period, earnings_of
from .extensions import db
from .lifecycle import Lifecycle
from .problems import Conflict, Forbidden, InvalidInput

TRANSITIONS = {
    AwardStatus.PENDING: {AwardStatus.POSTED, AwardStatus.REJECTED},
    AwardStatus.POSTED: set(),
    AwardStatus.REJECTED: set(),
}


class IllegalAwardTransition(Conflict):
    slug, title = "illegal-award-transition", _l("Award already decided")
    message = _l("This award was already approved or rejected; nothing changed.")


class SecondAdminRequired(Forbidden):
    slug, title = "second-admin-required", _l("Another fund admin must decide")
    message = _l(
        "A fund admin other than the one who asked for this award, and not an account "
        "they created, must approve or reject it."
    )


LIFECYCLE = Lifecycle(_l("Award"), TRANSITIONS, IllegalAwardTransition)


def request_award(
    community: Community, member: Member, *, points: int, reason: str, actor: Member
) -> Award:
    reason = reason.strip()
    if points == 0:
        raise InvalidInput(
            _("Points must not be zero."), errors={"json": {"points": ["Not zero."]}}
        )
    if not reason:
        raise InvalidInput(_("A reason is required."), errors={"json": {"reason": ["Required."]}})
    if member.community_id != community.id:
        raise InvalidInput(
            _("No member %(id)s in this community.", id=member.id),
            errors={"json": {"member_id": ["Unknown member."]}},
        )
    if wallet_of(member) is None:
        raise InvalidInput(
            _(
                "Member %(id)s (%(role)s) holds no points wallet.",
                id=member.id,
                role=member.role.value,
            ),
            errors={"json": {"member_id": ["This member holds no wallet."]}},
        )
    # One request at a time per member, so two small awards at once cannot
    # both find the day's total under the threshold.
    sql.locked(wallet_of(member))
    needs_second_admin = _needs_second_admin(community, member, points)
    award = Award(
        community_id=community.id,
        member_id=member.id,
        points=points,
        reason=reason,
        status=AwardStatus.PENDING,
        requested_by_id=actor.id,
    )
    db.session.add(award)
    db.session.flush()
    if not needs_second_admin:
        _post(award, member, actor)
    return award


def _needs_second_admin(community: Community, member: Member, points: int) -> bool:
    """Whether the day's manual awards, with this one, pass the threshold, or this
    award takes the member past the monthly earning cap."""
    day_start = _local_day_start(utcnow())
    awarded_today = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(sa.func.abs(Award.points)), 0)).where(
            Award.community_id == community.id,
            Award.member_id == member.id,
            Award.status != AwardStatus.REJECTED,
            Award.created_at >= day_start,
            Award.created_at < day_start + timedelta(days=1),
        )
    )
    if awarded_today + abs(points) > community.award_approval_threshold:
        return True
    if points > 0 and community.monthly_earning_cap is not None:
        earned = earnings_of(member, Period.containing(utcnow())).points_earned
        return earned + points > community.monthly_earning_cap
    return False


def _local_day_start(moment: datetime) -> datetime:
    local = moment.astimezone(LOCAL_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def decide_award(award: Award, *, approve: bool, actor: Member) -> Award:
    LIFECYCLE.check(award, AwardStatus.POSTED if approve else AwardStatus.REJECTED)
    if award.requested_by_id in (actor.id, actor.created_by_id):
        raise SecondAdminRequired(
            _("You asked for this award, or your account was made by whoever did.")
        )
    award.decided_by_id = actor.id
    award.decided_at = utcnow()
    if approve:
        _post(award, award.member, actor)
    else:
        LIFECYCLE.move(award, AwardStatus.REJECTED)
    return award


def _post(award: Award, member: Member, actor: Member) -> None:
    LIFECYCLE.check(award, AwardStatus.POSTED)
    issuance = ledger.ensure_account(award.community_id, AccountKind.ISSUANCE)
    txn = ledger.post(
        award.community_id,
        TransactionKind.AWARD if award.points > 0 else TransactionKind.DEDUCTION,
        [(issuance, -award.points), (wallet_of(member), award.points)],
        memo=award.reason,
        reference=f"award:{award.id}",
        actor_id=actor.id,
    )
    LIFECYCLE.move(award, AwardStatus.POSTED, transaction_id=txn.id)
