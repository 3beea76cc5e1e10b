"""The Constellation HTTP service (Tornado): ``make_app(engine, config)`` and its settings.

``constellation serve`` runs it as a process; a Jupyter server can mount the same handlers
under a prefix (``handlers(service_state(engine, config, prefix), prefix)``).
"""

from __future__ import annotations

from constellation_server.app import (
    ROUTES,
    drain,
    handlers,
    http_server,
    log_request,
    make_app,
    service_state,
    state_of,
)
from constellation_server.config import ROLES, Role, ServiceConfig, key_hash
from constellation_server.state import ServiceState

__all__ = [
    "ROLES",
    "ROUTES",
    "Role",
    "ServiceConfig",
    "ServiceState",
    "drain",
    "handlers",
    "http_server",
    "key_hash",
    "log_request",
    "make_app",
    "service_state",
    "state_of",
]
