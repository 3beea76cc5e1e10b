"""Prometheus metrics of service.md §4, rendered in the text exposition format 0.0.4.

No client library: a few counters and histograms keyed by label values, under one lock (the
engine's event listener runs on worker threads). Label values are bounded by construction:
paths are route patterns, modules come from the registry, statuses from fixed sets.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from constellation import Event
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


class _Histogram:
    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1


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
        self._requests: dict[Labels, int] = {}
        self._request_seconds: dict[Labels, _Histogram] = {}
        self._executions: dict[Labels, int] = {}
        self._execution_seconds: dict[Labels, _Histogram] = {}
        self._module_calls: dict[Labels, int] = {}
        self._module_seconds: dict[Labels, _Histogram] = {}

    # -- recording ------------------------------------------------------------------------

    def request(self, method: str, path: str, status: int, seconds: float) -> None:
        key = (method, path, str(status))
        with self._lock:
            self._requests[key] = self._requests.get(key, 0) + 1
            self._histogram(self._request_seconds, (method, path)).observe(seconds)

    def execution(self, mode: str, status: str, seconds: float) -> None:
        with self._lock:
            key = (mode, status)
            self._executions[key] = self._executions.get(key, 0) + 1
            self._histogram(self._execution_seconds, (mode,)).observe(seconds)

    def on_event(self, event: Event) -> None:
        """The engine listener: module calls and their durations from node events."""
        kind = event.kind
        if (kind != "node.completed" and kind != "node.failed") or event.module is None:
            return
        status = "completed" if kind == "node.completed" else "failed"
        with self._lock:
            key = (event.module, status)
            self._module_calls[key] = self._module_calls.get(key, 0) + 1
            if event.duration_ms is not None:
                self._histogram(self._module_seconds, (event.module,)).observe(
                    event.duration_ms / 1000.0
                )

    @staticmethod
    def _histogram(table: dict[Labels, _Histogram], key: Labels) -> _Histogram:
        found = table.get(key)
        if found is None:
            found = table[key] = _Histogram()
        return found

    # -- rendering ------------------------------------------------------------------------

    def render(self, scraped: Scraped) -> str:
        out: list[str] = []
        with self._lock:
            _counter(
                out,
                "constellation_requests_total",
                "HTTP requests answered.",
                ("method", "path", "status"),
                self._requests,
            )
            _histograms(
                out,
                "constellation_request_duration_seconds",
                "Time to answer an HTTP request.",
                ("method", "path"),
                self._request_seconds,
            )
            _counter(
                out,
                "constellation_executions_total",
                "Executions finished, by mode (hot, cold, resume) and status.",
                ("mode", "status"),
                self._executions,
            )
            _histograms(
                out,
                "constellation_execution_duration_seconds",
                "Wall time of an execution.",
                ("mode",),
                self._execution_seconds,
            )
            _counter(
                out,
                "constellation_module_calls_total",
                "Module calls, by outcome.",
                ("module", "status"),
                self._module_calls,
            )
            _histograms(
                out,
                "constellation_module_duration_seconds",
                "Duration of a module call.",
                ("module",),
                self._module_seconds,
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
    values: Mapping[Labels, _Histogram],
) -> None:
    _head(out, name, help_text, "histogram")
    for labels, h in sorted(values.items()):
        running = 0
        for bound, count in zip((*BUCKETS, None), h.counts, strict=True):
            running += count
            le = 'le="+Inf"' if bound is None else f'le="{_number(bound)}"'
            out.append(f"{name}_bucket{_labels(names, labels, le)} {running}")
        out.append(f"{name}_sum{_labels(names, labels)} {_number(h.total)}")
        out.append(f"{name}_count{_labels(names, labels)} {h.count}")


def module_cache_hits(stats: Mapping[str, ModuleStats]) -> dict[str, int]:
    """``{module: cache hits}`` from ``engine.policies.stats()``."""
    return {module: s.cache_hits for module, s in stats.items()}
