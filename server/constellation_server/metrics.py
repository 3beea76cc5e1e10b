"""Prometheus metrics of service.md §4, rendered in the text exposition format 0.0.4.

No client library: a few counters and histograms keyed by label values, under one lock (the
handlers record on the event loop; the lock keeps a scrape or another thread safe all the
same). Label values are bounded by construction: paths are route patterns, modules come from
the registry, statuses from fixed sets.

Module calls are counted from each finished execution (``Execution.calls``), together with
the execution itself: no engine listener, no event built per node.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from constellation import ModuleCall
from constellation.policy import ModuleStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Seconds; the default Prometheus buckets, from 5 ms to 10 s.
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Labels, values: Labels, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class _Series:
    """One label set of a family: how many ended with each outcome, and their durations."""

    __slots__ = ("buckets", "count", "outcomes", "total")

    def __init__(self) -> None:
        self.outcomes: dict[str, int] = {}
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.total = 0.0
        self.count = 0

    def add(self, outcome: str, seconds: float | None) -> None:
        outcomes = self.outcomes
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if seconds is not None:
            self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
            self.total += seconds
            self.count += 1


def _series(family: dict[Labels, _Series], labels: Labels) -> _Series:
    found = family.get(labels)
    if found is None:
        found = family[labels] = _Series()
    return found


@dataclass(frozen=True, slots=True)
class Scraped:
    """Values read from the engine and the store at scrape time."""

    suspended: int
    compile_cache_hits: int
    compile_cache_misses: int
    module_cache_hits: Mapping[str, int]


class Metrics:
    """The service's counters and histograms; ``render`` gives the exposition text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[Labels, _Series] = {}  # (method, path) → by status code
        self._executions: dict[Labels, _Series] = {}  # (mode,) → by status
        self._modules: dict[Labels, _Series] = {}  # (module,) → completed or failed

    # -- recording ------------------------------------------------------------------------

    def request(self, method: str, path: str, status: int, seconds: float) -> None:
        with self._lock:
            _series(self._requests, (method, path)).add(str(status), seconds)

    def execution(
        self, mode: str, status: str, seconds: float, calls: Iterable[ModuleCall] = ()
    ) -> None:
        """A finished execution, and the module calls it made."""
        with self._lock:
            _series(self._executions, (mode,)).add(status, seconds)
            modules = self._modules
            for module, failed, duration_ms in calls:
                _series(modules, (module,)).add(
                    "failed" if failed else "completed",
                    None if duration_ms is None else duration_ms / 1000.0,
                )

    # -- rendering ------------------------------------------------------------------------

    def render(self, scraped: Scraped) -> str:
        out: list[str] = []
        with self._lock:
            _counter(
                out,
                "constellation_requests_total",
                "HTTP requests answered.",
                ("method", "path", "status"),
                _outcomes(self._requests),
            )
            _histograms(
                out,
                "constellation_request_duration_seconds",
                "Time to answer an HTTP request.",
                ("method", "path"),
                self._requests,
            )
            _counter(
                out,
                "constellation_executions_total",
                "Executions finished, by mode (hot, cold, resume) and status.",
                ("mode", "status"),
                _outcomes(self._executions),
            )
            _histograms(
                out,
                "constellation_execution_duration_seconds",
                "Wall time of an execution.",
                ("mode",),
                self._executions,
            )
            _counter(
                out,
                "constellation_module_calls_total",
                "Module calls, by outcome.",
                ("module", "status"),
                _outcomes(self._modules),
            )
            _histograms(
                out,
                "constellation_module_duration_seconds",
                "Duration of a module call.",
                ("module",),
                self._modules,
            )
        _gauge(
            out,
            "constellation_suspended_executions",
            "Executions waiting for inputs in the store.",
            scraped.suspended,
        )
        _single_counter(
            out,
            "constellation_compile_cache_hits_total",
            "Compiles answered from the engine's cache.",
            scraped.compile_cache_hits,
        )
        _single_counter(
            out,
            "constellation_compile_cache_misses_total",
            "Compiles that ran the compiler.",
            scraped.compile_cache_misses,
        )
        _counter(
            out,
            "constellation_module_cache_hits_total",
            "Module calls answered from a module's result cache.",
            ("module",),
            {(m,): n for m, n in sorted(scraped.module_cache_hits.items())},
        )
        return "\n".join(out) + "\n"


def _head(out: list[str], name: str, help_text: str, kind: str) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} {kind}")


def _counter(
    out: list[str], name: str, help_text: str, names: Labels, values: Mapping[Labels, int]
) -> None:
    _head(out, name, help_text, "counter")
    for labels, value in sorted(values.items()):
        out.append(f"{name}{_labels(names, labels)} {value}")


def _outcomes(family: Mapping[Labels, _Series]) -> dict[Labels, int]:
    """The counts of a family by its labels and the outcome (the last label)."""
    return {
        (*labels, outcome): n
        for labels, series in family.items()
        for outcome, n in series.outcomes.items()
    }


def _single_counter(out: list[str], name: str, help_text: str, value: int) -> None:
    _head(out, name, help_text, "counter")
    out.append(f"{name} {value}")


def _gauge(out: list[str], name: str, help_text: str, value: int) -> None:
    _head(out, name, help_text, "gauge")
    out.append(f"{name} {value}")


def _histograms(
    out: list[str],
    name: str,
    help_text: str,
    names: Labels,
    values: Mapping[Labels, _Series],
) -> None:
    _head(out, name, help_text, "histogram")
    for labels, h in sorted(values.items(), key=lambda item: item[0]):
        running = 0
        for bound, count in zip((*BUCKETS, None), h.buckets, strict=True):
            running += count
            le = 'le="+Inf"' if bound is None else f'le="{_number(bound)}"'
            out.append(f"{name}_bucket{_labels(names, labels, le)} {running}")
        out.append(f"{name}_sum{_labels(names, labels)} {_number(h.total)}")
        out.append(f"{name}_count{_labels(names, labels)} {h.count}")


def module_cache_hits(stats: Mapping[str, ModuleStats]) -> dict[str, int]:
    """``{module: cache hits}`` from ``engine.policies.stats()``."""
    return {module: s.cache_hits for module, s in stats.items()}
