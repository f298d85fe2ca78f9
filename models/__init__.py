"""SQLAlchemy models for Jifen. Pure SQLAlchemy: nothing here imports Flask or ``app``."""

from .activity import (
    Activity,
    ActivityCategory,
    ActivitySignup,
    ActivityStatus,
    Attendance,
    AttendanceStatus,
    CheckInMethod,
    PointsRule,
)
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
from .operations import AuditEntry, IdempotencyKey

metadata = Base.metadata

__all__ = [
    "POINTS_KINDS",
    "SOURCE_KINDS",
    "WALLET_ROLES",
    "Account",
    "AccountKind",
    "Activity",
    "ActivityCategory",
    "ActivitySignup",
    "ActivityStatus",
    "ApiToken",
    "Attendance",
    "AttendanceStatus",
    "AuditEntry",
    "Award",
    "AwardStatus",
    "Base",
    "CheckInMethod",
    "Community",
    "Fund",
    "IdempotencyKey",
    "LedgerEntry",
    "LedgerTransaction",
    "Member",
    "Merchant",
    "PointsRule",
    "Role",
    "TransactionKind",
    "Unit",
    "metadata",
    "utcnow",
]
