"""What recording a redemption wrote, to hold two ways of writing it to the same rows."""

import sqlalchemy as sa

from app.extensions import db
from models import Account, Coupon, CouponPosting, LedgerEntry, LedgerTransaction, Redemption


def balances(community_id) -> dict[str, int]:
    """Every account's balance in the community, by the account's key."""
    return dict(
        db.session.execute(
            sa.select(Account.key, Account.balance).where(Account.community_id == community_id)
        ).all()
    )


def written(redemption: Redemption, before: dict[str, int]) -> dict:
    """What recording ``redemption`` wrote, without the ids and times that always differ."""
    db.session.flush()
    db.session.expire_all()
    txn = db.session.get(LedgerTransaction, redemption.transaction_id)
    keys = {
        account.id: account.key
        for account in db.session.scalars(
            sa.select(Account).where(Account.community_id == redemption.community_id)
        )
    }
    entries = db.session.scalars(
        sa.select(LedgerEntry).where(LedgerEntry.transaction_id == txn.id)
    ).all()
    postings = db.session.scalars(
        sa.select(CouponPosting.amount).where(CouponPosting.transaction_id == txn.id)
    ).all()
    moved = {
        key: balance - before.get(key, 0)
        for key, balance in balances(redemption.community_id).items()
        if balance != before.get(key, 0)
    }
    coupon = db.session.get(Coupon, redemption.coupon_id) if redemption.coupon_id else None
    return {
        "redemption": {
            column: getattr(redemption, column)
            for column in Redemption.__table__.columns.keys()  # noqa: SIM118 (names, not Column objects)
            if column not in ("id", "transaction_id", "created_at", "coupon_id", "member_id")
        },
        "transaction": (txn.kind, txn.memo, txn.actor_id, txn.reverses_id),
        "reference names the redemption": txn.reference == f"redemption:{redemption.id}",
        "entries": sorted((keys[e.account_id].split(":")[0], e.unit, e.amount) for e in entries),
        "postings": postings,
        "balances moved": {key.split(":")[0]: amount for key, amount in moved.items()},
        "coupon": coupon and (coupon.points_remaining, coupon.status, coupon.closed_at is None),
    }
