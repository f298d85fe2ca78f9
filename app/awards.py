"""Manual awards and deductions by fund admins (design.md §4).

Below the community's threshold an award posts at once. Above it, it waits
for a *second* fund admin: :func:`decide_award` refuses the requester, and the
``four_eyes`` CHECK refuses it again in the database.
"""

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
    slug, title = "illegal-award-transition", "Award already decided"


LIFECYCLE = Lifecycle("Award", TRANSITIONS, IllegalAwardTransition)


def request_award(
    community: Community, member: Member, *, points: int, reason: str, actor: Member
) -> Award:
    reason = reason.strip()
    if points == 0:
        raise InvalidInput("Points must not be zero.", errors={"json": {"points": ["Not zero."]}})
    if not reason:
        raise InvalidInput("A reason is required.", errors={"json": {"reason": ["Required."]}})
    if member.community_id != community.id:
        raise InvalidInput(
            f"No member {member.id} in this community.",
            errors={"json": {"member_id": ["Unknown member."]}},
        )
    if wallet_of(member) is None:
        raise InvalidInput(
            f"Member {member.id} ({member.role.value}) holds no points wallet.",
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
        raise Forbidden("A second fund admin must decide; you requested this award.")
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
