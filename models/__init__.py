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
from .community import WALLET_ROLES, ApiToken, Community, Member, Merchant, PointsRate, Role
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
from .offer import Offer, OfferKind
from .operations import AuditEntry, IdempotencyKey
from .redemption import Redemption, RedemptionStatus

metadata = Base.metadata

__all__ = [
    "FINAL_COUPON_STATUSES",
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
    "PointsRate",
    "PointsRule",
    "MerchantGroup",
    "MerchantGroupMember",
    "PayCodeSecret",
    "PayCodeUse",
    "Redemption",
    "RedemptionStatus",
    "Offer",
    "OfferKind",
    "Role",
    "TransactionKind",
    "Unit",
    "Validity",
    "metadata",
    "utcnow",
]
