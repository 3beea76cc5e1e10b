"""The service's settings: one frozen value, built from flags and their environment twins.

Keys are kept only as SHA-256 hashes (``key_hash``), so a settings object can be printed or
logged without leaking a credential.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["read", "execute", "admin"]
ROLES: tuple[Role, ...] = ("read", "execute", "admin")


def key_hash(key: str) -> str:
    """The hex SHA-256 of an API key: what the service keeps instead of the key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Everything ``make_app`` and ``constellation serve`` need, with the documented defaults."""

    host: str = "127.0.0.1"
    port: int = 8080
    #: Folder of the TinyDB store (used by ``serve``; ``make_app`` takes a ready engine).
    store: str = "./constellation-data"
    modules: tuple[str, ...] = ()
    pipelines: str | None = None
    #: key_hash(key) → role. Empty: no authentication (then loopback only unless insecure).
    api_keys: Mapping[str, Role] = field(default_factory=dict)
    insecure: bool = False
    cors_origins: tuple[str, ...] = ()
    #: Requests per second per API key (per client IP when anonymous); None: no limit.
    rate_limit: float | None = None
    #: Bucket size: how many requests may arrive at once before the rate applies.
    rate_burst: int = 20
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 64
    max_inputs: int = 256
    #: Wall-time limit of one execution, in seconds.
    execution_timeout: float = 60.0
    #: A cold execution of plain functions whose last runs each took less than this runs on
    #: the event loop instead of a worker thread (see ``inline.py``); 0: always a thread.
    inline_threshold_ms: float = 1.0
    #: Executions (run, execute, resume) running at once; more get 503.
    max_in_flight: int = 64
    #: Seconds a client may take to send a request body, and may stay idle between requests.
    body_timeout: float = 30.0
    idle_timeout: float = 60.0
    #: Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    shutdown_timeout: float = 10.0
    log_format: Literal["text", "json"] = "text"
