"""The vocabulary of the route table: a route is a path pattern with its operations.

An :class:`Operation` says everything about one method of one path that is not code: the
role it needs, its body and query, its responses. The handlers enforce it and the OpenAPI
document is built from it, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from constellation_server.config import Role

ParamKind = Literal["string", "integer"]


@dataclass(frozen=True, slots=True)
class QueryParam:
    name: str
    kind: ParamKind
    description: str
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Operation:
    """One method of one route."""

    operation_id: str
    summary: str
    #: The role a key needs when keys are configured; None: public.
    role: Role | None
    #: The 200 body's schema name in ``components.schemas`` (None: text, see ``content_type``).
    response: str | None
    #: Error statuses the handler itself can answer with (auth, limits and 503 are added).
    errors: tuple[int, ...] = ()
    #: The request body's schema name; None: no body.
    body: str | None = None
    body_required: bool = False
    query: tuple[QueryParam, ...] = ()
    #: Engine work on a worker thread (answers 503 when the store fails or under overload).
    engine: bool = True
    content_type: str = "application/json"
    tag: str = "pipelines"


@dataclass(frozen=True, slots=True)
class Route:
    """A path pattern (``/executions/{id}``) and its operations by HTTP method."""

    path: str
    handler: type
    operations: Mapping[str, Operation] = field(default_factory=dict)

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.operations)

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.path))

    def pattern(self, prefix: str = "") -> str:
        """The tornado regex of the path: each ``{name}`` is one non-empty path segment,
        passed to the handler method positionally."""
        parts = re.split(r"(\{\w+\})", self.path)
        regex = "".join("([^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
        return re.escape(prefix.rstrip("/")) + regex + "$"
