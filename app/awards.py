"""Manual awards and deductions by fund admins (design.md §4).

Below the community's threshold an award posts at once. Above it, it waits
for a *second* fund admin: :func:`decide_award` refuses the requester, and the
``four_eyes`` CHECK refuses it again in the database.
"""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import AccountKind, Award, AwardStatus, Community, Member, TransactionKind, utcnow

from . import ledger
from .communities import wallet_of
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
    message = _l("This award has been decided already.")


class SecondAdminMustDecide(Forbidden):
    slug, title = "second-admin-must-decide", _l("A second fund admin must decide")
    message = _l("You requested this award; another fund admin of the community must decide it.")


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
    if abs(points) <= community.award_approval_threshold:
        _post(award, member, actor)
    return award


def decide_award(award: Award, *, approve: bool, actor: Member) -> Award:
    if award.status == AwardStatus.PENDING and actor.id == award.requested_by_id:
        raise SecondAdminMustDecide(_("A second fund admin must decide; you requested this award."))
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
