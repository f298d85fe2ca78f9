"""Issuance runs: applying a rule to a month (design.md §5).

:func:`issue_coupons` applies a rule (:mod:`app.issuance_rules`) to a period in
a few set-based statements per batch, never one round trip per resident: one
``GROUP BY`` over the ledger finds who earned enough (``app.earnings``), a
multi-row ``INSERT`` per batch creates their coupons, and one ledger
transaction per batch moves the points into escrow. The rule's row is locked
first, so two runs of the same rule take turns; the unique (rule, period,
member) key on coupons makes any later run of the same period issue nothing.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    Account,
    AccountKind,
    Community,
    Coupon,
    CouponFunding,
    CouponStatus,
    IssuanceRule,
    IssuanceRun,
    Member,
    TransactionKind,
    utcnow,
)

from . import coupons, ledger, sql
from .coupon_tokens import new_codes
from .coupons import EscrowMove, chunks, post_coupon_escrow
from .earnings import Period, earnings_by_member
from .extensions import db
from .issuance_rules import coupon_expiry
from .problems import Conflict, InvalidInput


class PeriodNotOver(InvalidInput):
    slug, title = "period-not-over", _l("The period has not ended yet")
    message = _l("This month is not over yet; issue its coupons once it has ended.")


class CouponCodesExhausted(Conflict):
    slug, title = "coupon-codes-exhausted", _l("No free coupon codes")
    message = _l("Could not find free coupon codes; please run the issuance again.")


@dataclass(frozen=True)
class Candidate:
    member_id: int
    wallet_id: int
    points: int


def eligible(rule: IssuanceRule, period: Period) -> list[Candidate]:
    """Who gets a coupon, and worth how much, by member id.

    One ``GROUP BY`` over the period's ledger decides eligibility and points.
    Members already holding this rule and period's coupon, and inactive
    members, are read as two sets and left out here rather than joined in:
    joined to the aggregate, a planner without fresh statistics (a big
    month just posted) may re-run the aggregate once per member.
    """
    earned = earnings_by_member(rule.community_id, period).subquery()
    if rule.points is not None:
        points = sa.literal(rule.points)
    else:
        points = sa.case(
            *[
                (earned.c.points_earned >= tier.min_points_earned, tier.points)
                for tier in sorted(rule.tiers, key=lambda t: -t.min_points_earned)
            ],
            else_=0,
        )
    qualifies = []
    if rule.min_points_earned is not None:
        qualifies.append(earned.c.points_earned >= rule.min_points_earned)
    if rule.min_attendances is not None:
        qualifies.append(earned.c.attendances >= rule.min_attendances)
    rows = db.session.execute(
        sa.select(earned.c.member_id, earned.c.wallet_id, points.label("points"))
        .where(sa.or_(*qualifies), points > 0)
        .order_by(earned.c.member_id)
    )
    holding = db.session.scalars(
        sa.select(Coupon.member_id).where(
            Coupon.community_id == rule.community_id,
            Coupon.rule_id == rule.id,
            Coupon.period == str(period),
        )
    )
    inactive = db.session.scalars(
        sa.select(Member.id).where(Member.community_id == rule.community_id, ~Member.active)
    )
    left_out = set(holding) | set(inactive)
    return [
        Candidate(member_id, wallet_id, int(points))
        for member_id, wallet_id, points in rows
        if member_id not in left_out
    ]


def issue_coupons(
    rule: IssuanceRule,
    period: Period,
    *,
    actor: Member | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IssuanceRun:
    """Issue the coupons of ``rule`` for ``period``; a second run of both issues nothing.

    The rule's row is locked first, so runs of one rule take turns. A convert
    run then locks the escrow account before any wallet: the ledger locks
    accounts in id order, and escrow, made with the community, comes before
    every wallet, so a revocation or redemption running meanwhile takes them in
    the same order and cannot deadlock with the run.

    Every coupon row is inserted first, then each batch is funded (one ledger
    transaction and its coupon postings). In that order PostgreSQL plans the
    postings' foreign-key checks against the coupons table at its full size; a
    plan made while it looked empty would scan it once per posting.
    ``progress(done, total)`` is called after each batch of either step.
    """
    now = now or utcnow()
    if period.end > now:
        raise PeriodNotOver(
            _(
                "%(period)s is not over yet; issue its coupons once the month has ended.",
                period=str(period),
            ),
            errors={"json": {"period": ["The month has not ended yet."]}},
        )
    db.session.execute(
        sa.select(IssuanceRule.id).where(IssuanceRule.id == rule.id).with_for_update()
    )
    run = IssuanceRun(
        community_id=rule.community_id,
        rule_id=rule.id,
        period=str(period),
        actor_id=actor.id if actor else None,
        issued=0,
        points=0,
        skipped=0,
    )
    db.session.add(run)
    db.session.flush()
    if rule.funding == CouponFunding.CONVERT:
        escrow = ledger.ensure_account(rule.community_id, AccountKind.COUPON_ESCROW)
        db.session.execute(sa.select(Account.id).where(Account.id == escrow.id).with_for_update())
    candidates = eligible(rule, period)
    expires_at = coupon_expiry(rule, now)
    steps = Steps(2 * len(candidates), progress)
    issued: list[tuple[int, int, int]] = []
    wallets: dict[int, sa.Row] = {}
    for batch in chunks(candidates):
        funded = batch
        if rule.funding == CouponFunding.CONVERT:
            funded = _still_funded(rule.community_id, batch, wallets)
            run.skipped += len(batch) - len(funded)
        issued += _insert_coupons(run, funded, issued_at=now, expires_at=expires_at)
        steps.advance(len(batch))
    steps.total = len(candidates) + len(issued)
    size = coupons.WALLET_BATCH_SIZE if rule.funding == CouponFunding.CONVERT else None
    for number, batch in enumerate(chunks(issued, size), start=1):
        _fund(rule, run, batch, number, wallets)
        steps.advance(len(batch))
    run.issued = len(issued)
    run.points = sum(points for _, _, points in issued)
    db.session.flush()
    return run


@dataclass
class Steps:
    """Progress over a run's steps, reported as ``progress(done, total)``."""

    total: int
    progress: Callable[[int, int], None] | None
    done: int = 0

    def advance(self, count: int) -> None:
        self.done += count
        if self.progress is not None:
            self.progress(self.done, self.total)


def _still_funded(
    community_id: int, batch: list[Candidate], wallets: dict[int, sa.Row]
) -> list[Candidate]:
    """Lock the batch's wallets (into ``wallets``, by member) and keep the residents
    whose wallet still holds the coupon's points.

    Rows, not ORM objects: a run locks every eligible wallet, and loading 100,000
    accounts cost more than locking them; the ledger needs only their id, unit
    and community."""
    locked = db.session.execute(
        sa.select(
            Account.id, Account.community_id, Account.unit, Account.member_id, Account.balance
        )
        .where(
            Account.community_id == community_id,
            sql.among(Account.id, (c.wallet_id for c in batch)),
        )
        .order_by(Account.id)
        .with_for_update()
    )
    wallets.update((account.member_id, account) for account in locked)
    return [c for c in batch if wallets[c.member_id].balance >= c.points]


#: Attempts at fresh codes for the rare coupon whose random code was taken.
CODE_ATTEMPTS = 5


def _insert_coupons(
    run: IssuanceRun, batch: list[Candidate], *, issued_at: datetime, expires_at: datetime
) -> list[tuple[int, int, int]]:
    """Insert the batch's coupons in one statement; (coupon id, member id, points) of
    those inserted.

    ``ON CONFLICT DO NOTHING`` skips a member who already holds this rule and
    period's coupon. A row skipped for a taken code is tried again with a new one.
    """
    pending = {c.member_id: c for c in batch}
    inserted: list[tuple[int, int, int]] = []
    for _attempt in range(CODE_ATTEMPTS):
        if not pending:
            break
        table = Coupon.__table__
        returned = sql.insert_many(
            table,
            [
                dict(member_id=c.member_id, code=code, points=c.points, points_remaining=c.points)
                for c, code in zip(pending.values(), new_codes(len(pending)), strict=True)
            ],
            same=dict(
                community_id=run.community_id,
                rule_id=run.rule_id,
                run_id=run.id,
                period=run.period,
                status=CouponStatus.ISSUED,
                issued_at=issued_at,
                expires_at=expires_at,
            ),
            on_conflict_do_nothing=True,
            returning=(table.c.id, table.c.member_id, table.c.points),
        )
        inserted += [tuple(row) for row in returned]
        for row in returned:
            del pending[row.member_id]
        if not pending:
            break
        holding = set(
            db.session.scalars(
                sa.select(Coupon.member_id).where(
                    Coupon.community_id == run.community_id,
                    Coupon.rule_id == run.rule_id,
                    Coupon.period == run.period,
                    Coupon.member_id.in_(pending),
                )
            )
        )
        for member_id in holding:
            del pending[member_id]
    if pending:
        raise CouponCodesExhausted()
    return sorted(inserted)


def _fund(rule: IssuanceRule, run: IssuanceRun, issued, number: int, wallets) -> None:
    """One ledger transaction moving a batch's points into escrow: from issuance
    (grant) or from the wallets locked when the batch was checked (convert)."""
    if rule.funding == CouponFunding.GRANT:
        issuance = ledger.ensure_account(rule.community_id, AccountKind.ISSUANCE)
        sources = dict.fromkeys((member_id for _, member_id, _ in issued), issuance)
    else:
        sources = wallets
    moves = [EscrowMove(coupon, points, sources[member]) for coupon, member, points in issued]
    post_coupon_escrow(
        rule.community_id,
        moves,
        kind=TransactionKind.COUPON_ISSUE,
        memo=f"{rule.name} · {run.period}",
        reference=f"issuance-run:{run.id}:{number}",
        actor_id=run.actor_id,
    )


def runs_of(community: Community) -> sa.Select:
    return sa.select(IssuanceRun).where(IssuanceRun.community_id == community.id)
