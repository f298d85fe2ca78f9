"""Names for what a test creates."""

import uuid


def unique(prefix: str) -> str:
    """A name no other test or run uses: tests that commit for real keep what they made."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def short_name(prefix: str) -> str:
    """A name no other test uses, short enough to sit on a phone's line beside others."""
    return f"{prefix}{uuid.uuid4().hex[:6]}"
