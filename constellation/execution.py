"""What an execution produces: the frozen Execution result, per-node reports, and events.

``Execution.to_json()`` is exactly the result body of engine.md §5, shared by the Python API,
the CLI and the HTTP service: camelCase keys, nothing omitted (absent things are ``null``,
``[]`` or ``{}``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Literal, NamedTuple

from constellation.codec import encode
from constellation.types import Type

Status = Literal["completed", "suspended", "failed"]
NodeState = Literal["completed", "failed", "waiting", "skipped", "not-needed", "running"]
EventKind = Literal[
    "execution.started",
    "execution.completed",
    "execution.suspended",
    "execution.failed",
    "node.started",
    "node.completed",
    "node.failed",
    "node.waiting",
    "node.skipped",
]


@dataclass(frozen=True, slots=True)
class NodeError:
    """A failed node: which, the module it called (if any), why, and where in the source."""

    node: str
    module: str | None
    message: str
    line: int
    column: int

    def to_json(self) -> dict[str, object]:
        return {
            "node": self.node,
            "module": self.module,
            "message": self.message,
            "line": self.line,
            "column": self.column,
        }


@dataclass(frozen=True, slots=True)
class NodeReport:
    """One node of the DAG after the execution: its state, duration and a value preview."""

    id: str
    name: str | None
    kind: str
    state: NodeState
    duration_ms: float | None = None
    preview: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "durationMs": self.duration_ms,
            "preview": self.preview,
            "error": self.error,
        }


class ModuleCall(NamedTuple):
    """A module call an execution made: the module, whether it failed, how long it took.

    A tuple rather than a frozen dataclass: a service reads these for every execution, and
    a tuple is the cheapest immutable value to build.
    """

    module: str
    failed: bool
    duration_ms: float | None


@dataclass(frozen=True, init=False)
class Event:
    """Something that happened during an execution, for listeners (live DAGs, metrics)."""

    kind: EventKind
    execution_id: str
    time: float
    node: str | None
    module: str | None
    duration_ms: float | None
    error: str | None

    def __init__(
        self,
        kind: EventKind,
        execution_id: str,
        time: float,
        node: str | None = None,
        module: str | None = None,
        duration_ms: float | None = None,
        error: str | None = None,
    ) -> None:
        # By hand, as for Execution: an execution with listeners makes several per node.
        fields = self.__dict__
        fields["kind"] = kind
        fields["execution_id"] = execution_id
        fields["time"] = time
        fields["node"] = node
        fields["module"] = module
        fields["duration_ms"] = duration_ms
        fields["error"] = error


def _no_nodes() -> tuple[NodeReport, ...]:
    return ()


def _no_calls() -> tuple[ModuleCall, ...]:
    return ()


@dataclass(frozen=True, init=False)
class Execution:
    """The result of run, execute or resume. ``outputs`` holds run-time (Python) values.

    ``nodes`` (per-node reports with value previews) is computed on first access: most
    callers never read it, and rendering a preview of every value costs more than a fast
    execution itself.
    """

    execution_id: str
    status: Status
    structural_hash: str
    outputs: Mapping[str, object]
    pending_outputs: tuple[str, ...]
    missing_inputs: Mapping[str, str]
    input_schema: Mapping[str, object]
    error: str | None
    errors: tuple[NodeError, ...]
    resumption_count: int
    warnings: tuple[str, ...]
    duration_ms: float
    output_types: Mapping[str, Type] = field(repr=False, compare=False)
    node_reports: Callable[[], tuple[NodeReport, ...]] = field(repr=False, compare=False)
    module_calls: Callable[[], tuple[ModuleCall, ...]] = field(repr=False, compare=False)

    def __init__(
        self,
        execution_id: str,
        status: Status,
        structural_hash: str,
        outputs: Mapping[str, object] = MappingProxyType({}),
        pending_outputs: tuple[str, ...] = (),
        missing_inputs: Mapping[str, str] = MappingProxyType({}),
        input_schema: Mapping[str, object] = MappingProxyType({}),
        error: str | None = None,
        errors: tuple[NodeError, ...] = (),
        resumption_count: int = 0,
        warnings: tuple[str, ...] = (),
        duration_ms: float = 0.0,
        output_types: Mapping[str, Type] = MappingProxyType({}),
        node_reports: Callable[[], tuple[NodeReport, ...]] = _no_nodes,
        module_calls: Callable[[], tuple[ModuleCall, ...]] = _no_calls,
    ) -> None:
        # Written by hand: the generated __init__ of a frozen dataclass sets each field
        # through object.__setattr__, which costs more than a whole fast execution. The
        # instance stays frozen (assignment still raises); empty mappings are read-only.
        self.__dict__.update(
            execution_id=execution_id,
            status=status,
            structural_hash=structural_hash,
            outputs=outputs,
            pending_outputs=pending_outputs,
            missing_inputs=missing_inputs,
            input_schema=input_schema,
            error=error,
            errors=errors,
            resumption_count=resumption_count,
            warnings=warnings,
            duration_ms=duration_ms,
            output_types=output_types,
            node_reports=node_reports,
            module_calls=module_calls,
        )

    @cached_property
    def nodes(self) -> tuple[NodeReport, ...]:
        """Every node's state, duration, value preview and error."""
        return self.node_reports()

    @property
    def calls(self) -> tuple[ModuleCall, ...]:
        """The module calls this execution made (or this resumption: nodes finished in an
        earlier stage made none now), completed ones in node order, then failed ones.

        Built on each read, and cheaply: a service reads it after every execution."""
        return self.module_calls()

    @property
    def success(self) -> bool:
        return self.status != "failed"

    def to_json(self) -> dict[str, object]:
        """The result body of engine.md §5."""
        outputs = {
            name: encode(value, self.output_types[name]) if name in self.output_types else value
            for name, value in self.outputs.items()
        }
        return {
            "success": self.success,
            "status": self.status,
            "executionId": self.execution_id,
            "structuralHash": self.structural_hash,
            "outputs": outputs,
            "pendingOutputs": list(self.pending_outputs),
            "missingInputs": dict(self.missing_inputs),
            "inputSchema": dict(self.input_schema),
            "resumptionCount": self.resumption_count,
            "error": self.error,
            "errors": [e.to_json() for e in self.errors],
            "warnings": list(self.warnings),
            "durationMs": round(self.duration_ms, 3),
        }

    def __str__(self) -> str:
        lines = [f"Execution {self.execution_id[:12]} {self.status} in {self.duration_ms:.1f} ms"]
        for name, value in self.outputs.items():
            lines.append(f"  {name} = {value!r}")
        for name in self.pending_outputs:
            lines.append(f"  {name} … pending")
        for name, t in self.missing_inputs.items():
            lines.append(f"  needs input {name}: {t}")
        for e in self.errors:
            lines.append(f"  error at {e.line}:{e.column} in {e.node}: {e.message}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)
