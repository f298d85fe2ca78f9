"""Names for what a test creates."""

import uuid


def unique(prefix: str) -> str:
    """A name no other test or run uses: tests that commit for real keep what they made."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
