"""Asserting the API's refusals: ``application/problem+json`` bodies (RFC 9457)."""

PROBLEM = "application/problem+json"


def problem(response, status: int, slug: str | None = None) -> dict:
    """The problem body of ``response``, which must have ``status`` (and type ``slug``)."""
    assert response.status_code == status, response.get_json()
    assert response.mimetype == PROBLEM
    if slug is not None:
        assert response.json["type"] == f"urn:jifen:problem:{slug}"
    return response.json
