"""Month close (design.md §8): four eyes close a month's books, for good.

A fund admin asks for a finished month to be closed (:func:`request_close`);
a second, different fund admin confirms it (:func:`confirm_close`). Confirming
computes the month's reconciliation report, refuses to close books that do
not reconcile, stores the report as canonical JSON with its SHA-256, and
marks the month closed. The database then refuses every posting dated in it
(``models.month_close``); a correction is a reversal posted into the open
month that names what it corrects (``reverses_id``), and the month's report
lists it under ``corrections``.

On PostgreSQL the confirmation first takes the community's posting lock
exclusively (every posting holds it shared until it commits, see migration
0014): postings in flight finish first and are in the report; later ones see
the month closed.

:func:`verify` lets anyone check the stored report: its bytes still hash to
the stored SHA-256, and the figures computed again from today's ledger are
still the stored ones.
"""

import hashlib
import json

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import defer

from models import Community, LedgerTransaction, Member, MonthClose, MonthCloseStatus, utcnow

from . import sql
from .earnings import Period
from .extensions import db
from .lifecycle import Lifecycle
from .problems import Conflict, Forbidden, NotFound
from .reconciliation import reconcile
from .report_exports import flatten

#: The advisory lock every posting of a community holds shared (migration 0014).
POSTING_LOCK_CLASS = 20131

#: What is not compared when a closed month's figures are computed again: when it
#: was made, and the checks (the ``invariants`` section too), which speak of the
#: whole ledger at that moment.
NOT_FIGURES = frozenset({"generated_at", "ok"})


class IllegalCloseTransition(Conflict):
    slug, title = "illegal-month-close-transition", _l("The month close cannot change this way")
    message = _l("This month's close is not in a state that allows this.")


class MonthNotOver(Conflict):
    slug, title = "month-not-over", _l("The month is not over")
    message = _l("Only a month that has ended can be closed.")


class CloseAlreadyRequested(Conflict):
    slug, title = "month-close-already-requested", _l("A close of this month is already asked for")
    message = _l("A fund admin already asked to close this month; a second one confirms it.")


class NoCloseRequested(Conflict):
    slug, title = "month-close-not-requested", _l("Nobody asked to close this month")
    message = _l("Ask for the close first; a second fund admin then confirms it.")


class SecondAdminMustConfirm(Forbidden):
    slug, title = "second-admin-must-confirm", _l("A second fund admin must confirm")
    message = _l("You asked to close this month; another fund admin must confirm it.")


class MonthDoesNotReconcile(Conflict):
    slug, title = "month-does-not-reconcile", _l("The books do not reconcile")
    message = _l("A reconciliation check fails; correct the books before closing the month.")


class MonthNotClosed(NotFound):
    slug, title = "month-not-closed", _l("The month is not closed")
    message = _l("This month has not been closed, so no report is stored for it.")


LIFECYCLE = Lifecycle(
    _l("Month close"),
    {
        MonthCloseStatus.REQUESTED: {MonthCloseStatus.CLOSED, MonthCloseStatus.WITHDRAWN},
        MonthCloseStatus.WITHDRAWN: {MonthCloseStatus.REQUESTED},
        MonthCloseStatus.CLOSED: set(),
    },
    IllegalCloseTransition,
)


def canonical(document: dict) -> str:
    """The one text of a report that is hashed: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def close_of(community: Community, period: Period, *, lock: bool = False) -> MonthClose | None:
    query = sa.select(MonthClose).where(
        MonthClose.community_id == community.id, MonthClose.period == str(period)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.execute(query).scalar_one_or_none()


def closes_of(community: Community) -> list[MonthClose]:
    """Every month asked to be closed, newest first; their reports are left unread."""
    return list(
        db.session.execute(
            sa.select(MonthClose)
            .options(defer(MonthClose.report))
            .where(MonthClose.community_id == community.id)
            .order_by(MonthClose.period.desc())
        ).scalars()
    )


def latest_closed(community: Community) -> MonthClose | None:
    return db.session.execute(
        sa.select(MonthClose)
        .options(defer(MonthClose.report))
        .where(
            MonthClose.community_id == community.id,
            MonthClose.status == MonthCloseStatus.CLOSED,
        )
        .order_by(MonthClose.period.desc())
        .limit(1)
    ).scalar_one_or_none()


def request_close(community: Community, period: Period, *, actor: Member) -> MonthClose:
    """Ask for ``period`` to be closed; a second fund admin confirms."""
    if period.end > utcnow():
        raise MonthNotOver(_("%(period)s has not ended yet.", period=str(period)))
    existing = close_of(community, period, lock=True)
    if existing is None:
        close = MonthClose(
            community_id=community.id,
            period=str(period),
            starts_at=period.start,
            ends_at=period.end,
            status=MonthCloseStatus.REQUESTED,
            requested_by_id=actor.id,
            requested_at=utcnow(),
        )
        db.session.add(close)
        db.session.flush()
        return close
    if existing.status == MonthCloseStatus.REQUESTED:
        raise CloseAlreadyRequested()
    LIFECYCLE.move(
        existing,
        MonthCloseStatus.REQUESTED,
        requested_by_id=actor.id,
        requested_at=utcnow(),
        withdrawn_by_id=None,
        withdrawn_at=None,
    )
    db.session.flush()
    return existing


def withdraw_close(community: Community, period: Period, *, actor: Member) -> MonthClose:
    """Take a request back (either fund admin); the month stays open."""
    close = _requested(community, period)
    LIFECYCLE.move(
        close, MonthCloseStatus.WITHDRAWN, withdrawn_by_id=actor.id, withdrawn_at=utcnow()
    )
    db.session.flush()
    return close


def confirm_close(community: Community, period: Period, *, actor: Member) -> MonthClose:
    """Close the month: store its report and SHA-256. Of two confirmations at once,
    the second waits on the row and then finds the month closed."""
    close = _requested(community, period)
    LIFECYCLE.check(close, MonthCloseStatus.CLOSED)
    if close.requested_by_id == actor.id:
        raise SecondAdminMustConfirm()
    _hold_postings(community)
    report = reconcile(community, period)
    if not report.ok:
        failed = "; ".join(
            f"{check.name}: {check.detail}" for check in report.checks if not check.ok
        )
        raise MonthDoesNotReconcile(
            _("%(period)s does not reconcile: %(failed)s", period=str(period), failed=failed)
        )
    text = canonical(report.as_dict())
    last = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(LedgerTransaction.id), 0)).where(
            LedgerTransaction.community_id == community.id
        )
    )
    LIFECYCLE.move(
        close,
        MonthCloseStatus.CLOSED,
        confirmed_by_id=actor.id,
        closed_at=report.generated_at,
        last_transaction_id=int(last),
        report=text,
        report_sha256=sha256(text),
    )
    db.session.flush()
    return close


def _requested(community: Community, period: Period) -> MonthClose:
    close = close_of(community, period, lock=True)
    if close is None:
        raise NoCloseRequested()
    return close


def _hold_postings(community: Community) -> None:
    """Wait for the community's postings in flight; keep new ones waiting until commit."""
    if sql.on_postgresql():
        db.session.execute(
            sa.select(
                sa.func.pg_advisory_xact_lock(
                    POSTING_LOCK_CLASS, sa.cast(community.id % 2147483647, sa.Integer)
                )
            )
        )


def _figures(document: dict) -> dict[str, object]:
    return {
        f"{section}.{item}": value
        for section, item, value, _unit in flatten(document)
        if section != "invariants" and item not in NOT_FIGURES
    }


def stored_report(close: MonthClose | None) -> str:
    if close is None or close.status != MonthCloseStatus.CLOSED:
        raise MonthNotClosed()
    return close.report


def verify(community: Community, close: MonthClose | None) -> dict:
    """Whether the stored report is intact, and whether today's ledger still gives
    its figures. ``differences`` names each figure that changed."""
    text = stored_report(close)
    stored = json.loads(text)
    period = Period.parse(close.period)
    again = reconcile(
        community, period, points_per_yuan=stored["points_per_yuan"], stripe=False
    ).as_dict()
    before, after = _figures(stored), _figures(again)
    differences = sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )
    content = sha256(text)
    return {
        "period": close.period,
        "sha256": close.report_sha256,
        "content_sha256": content,
        "content_intact": content == close.report_sha256,
        "figures_match": not differences,
        "differences": differences,
        "closed_at": close.closed_at,
    }
