"""API keys and roles (service.md §3): who a request is, and whether its role is enough.

Only SHA-256 hashes of keys are kept (``ServiceConfig.api_keys``). A presented key is hashed
and compared with *every* stored hash by ``hmac.compare_digest``, so the time taken does not
depend on which key matched, or how much of a wrong key was right.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from constellation_server.config import Role, key_hash

_RANK: Mapping[str, int] = {"read": 1, "execute": 2, "admin": 3}


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


def identify(token: str, api_keys: Mapping[str, Role]) -> tuple[str, Role] | None:
    """The hash and role of a valid key, or None; compares against every stored hash."""
    presented = key_hash(token).encode("ascii")
    found: tuple[str, Role] | None = None
    for stored, role in api_keys.items():
        if hmac.compare_digest(presented, stored.encode("ascii")) and found is None:
            found = (stored, role)
    return found


def allows(role: Role, needed: Role) -> bool:
    """Whether ``role`` includes ``needed`` (admin ⊃ execute ⊃ read)."""
    return _RANK[role] >= _RANK[needed]
