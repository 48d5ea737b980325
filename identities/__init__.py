"""Identities: provider accounts, confirmed links and candidate matching."""

from typing import Any


def candidates_for(endpoint_user_or_username: Any, connector: Any) -> list[dict]:
    """Return ranked, JSON-serializable Okta candidates for an approval request.

    Each has connector_id, okta_user_id, login, display_name, email, status,
    score (0-100) and reasons. Raises the Okta client's errors (OktaError,
    HttpConnectionError) when Okta cannot be asked.
    """
    from identities.actions import endpoint_username
    from identities.matching import find_candidates

    result = find_candidates(endpoint_username(endpoint_user_or_username), connector)
    return [candidate.as_json() for candidate in result.candidates]
