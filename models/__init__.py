"""SQLAlchemy models for Jifen. Pure SQLAlchemy: nothing here imports Flask or ``app``."""

from .award import Award, AwardStatus
from .base import Base, utcnow
from .community import WALLET_ROLES, ApiToken, Community, Member, Merchant, Role
from .coupon import (
    FINAL_COUPON_STATUSES,
    Coupon,
    CouponFunding,
    CouponPosting,
    CouponStatus,
    ExpiryTarget,
    IssuanceRule,
    IssuanceRun,
    IssuanceTier,
    MerchantGroup,
    MerchantGroupMember,
    PayCodeSecret,
    PayCodeUse,
    Validity,
)
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
    "FINAL_COUPON_STATUSES",
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
    "Coupon",
    "CouponFunding",
    "CouponPosting",
    "CouponStatus",
    "ExpiryTarget",
    "Fund",
    "IdempotencyKey",
    "IssuanceRule",
    "IssuanceRun",
    "IssuanceTier",
    "LedgerEntry",
    "LedgerTransaction",
    "Member",
    "Merchant",
    "MerchantGroup",
    "MerchantGroupMember",
    "PayCodeSecret",
    "PayCodeUse",
    "Role",
    "TransactionKind",
    "Unit",
    "Validity",
    "metadata",
    "utcnow",
]
