"""SQLAlchemy models for Jifen. Pure SQLAlchemy: nothing here imports Flask or ``app``."""

from .award import Award, AwardStatus
from .base import Base, utcnow
from .community import WALLET_ROLES, ApiToken, Community, Member, Merchant, Role
from .ledger import (
    POINTS_KINDS,
    SOURCE_KINDS,
    Account,
    AccountKind,
    Fund,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
    Unit,
)
from .offer import Offer, OfferKind
from .operations import AuditEntry, IdempotencyKey

metadata = Base.metadata

__all__ = [
    "POINTS_KINDS",
    "SOURCE_KINDS",
    "WALLET_ROLES",
    "Account",
    "AccountKind",
    "ApiToken",
    "AuditEntry",
    "Award",
    "AwardStatus",
    "Base",
    "Community",
    "Fund",
    "IdempotencyKey",
    "LedgerEntry",
    "LedgerTransaction",
    "Member",
    "Merchant",
    "Offer",
    "OfferKind",
    "Role",
    "TransactionKind",
    "Unit",
    "metadata",
    "utcnow",
]
