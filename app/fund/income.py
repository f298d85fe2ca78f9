"""Other income (义卖 proceeds, cash donations, grants), corrected by reversal, never edited."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    AccountKind,
    Community,
    Fund,
    IncomeEntry,
    IncomeSource,
    IncomeStatus,
    Member,
    TransactionKind,
    utcnow,
)

from .. import ledger, sql
from ..extensions import db
from ..lifecycle import Lifecycle
from ..problems import Conflict, InvalidInput
from .holdings import cash_account


class IllegalIncomeTransition(Conflict):
    slug, title = "income-already-reversed", _l("The income entry was already reversed")
    message = _l("This entry was already reversed; record a new one if needed.")


class FundCannotCoverReversal(Conflict):
    slug, title = "fund-cannot-cover-reversal", _l("The fund cannot cover this reversal")
    message = _l("The fund no longer holds this money, so the entry cannot be reversed.")


INCOME_LIFECYCLE = Lifecycle(
    "Income entry",
    {IncomeStatus.RECORDED: {IncomeStatus.REVERSED}, IncomeStatus.REVERSED: set()},
    IllegalIncomeTransition,
)


def record_income(
    community: Community,
    *,
    amount_fen: int,
    fund: Fund,
    source: IncomeSource,
    reference: str,
    note: str | None,
    actor: Member,
) -> IncomeEntry:
    """Charity-sale proceeds, a cash donation or a grant, into the fund's cash."""
    reference = reference.strip()
    if not reference:
        raise InvalidInput(
            _("A reference (receipt or sale) is required."),
            errors={"json": {"reference": ["Required."]}},
        )
    if amount_fen <= 0:
        raise InvalidInput(
            _("The amount must be positive."), errors={"json": {"amount_fen": ["Positive."]}}
        )
    entry = IncomeEntry(
        community_id=community.id,
        fund=fund,
        amount_fen=amount_fen,
        source=source,
        reference=reference,
        note=(note or "").strip() or None,
        status=IncomeStatus.RECORDED,
        recorded_by_id=actor.id,
    )
    db.session.add(entry)
    db.session.flush()
    txn = ledger.post(
        community.id,
        TransactionKind.INCOME,
        [
            (ledger.ensure_account(community.id, AccountKind.INCOME), -amount_fen),
            (cash_account(community.id, fund), amount_fen),
        ],
        memo=f"{INCOME_MEMOS[source]} · {reference}",
        reference=f"income:{entry.id}",
        actor_id=actor.id,
    )
    entry.transaction_id = txn.id
    return entry


#: Ledger memos are stored once, in both languages.
INCOME_MEMOS = {
    IncomeSource.CHARITY_SALE: "义卖 Charity sale",
    IncomeSource.CASH_DONATION: "现金捐赠 Cash donation",
    IncomeSource.GRANT: "资助 Grant",
    IncomeSource.OTHER: "其他收入 Other income",
}


def reverse_income(entry: IncomeEntry, *, reason: str, actor: Member) -> IncomeEntry:
    """Undo a wrong entry with a reversing transaction; the entry itself is never edited."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("A reason is required."), errors={"json": {"reason": ["Required."]}})
    entry = sql.locked(entry)
    INCOME_LIFECYCLE.check(entry, IncomeStatus.REVERSED)
    original = db.session.get(ledger.LedgerTransaction, entry.transaction_id)
    try:
        txn = ledger.reverse(original, memo=f"冲销 Reversal · {reason}", actor_id=actor.id)
    except ledger.InsufficientBalance as error:
        raise FundCannotCoverReversal() from error
    INCOME_LIFECYCLE.move(
        entry,
        IncomeStatus.REVERSED,
        reversal_transaction_id=txn.id,
        reversal_reason=reason,
        reversed_by_id=actor.id,
        reversed_at=utcnow(),
    )
    return entry
