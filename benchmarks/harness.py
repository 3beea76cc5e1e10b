"""Timing, figures and reports: what every workload module of the benchmark uses.

A workload measures the engine and its reference points (``sample``), then states one
:class:`Figure` per target of benchmarks.md §3. The figures of one run become the table on
stdout, ``latest.json`` (benchmarks.md §4) and the Markdown of ``docs/performance.md``.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

#: A reference point that could not be measured (its peer is not installed).
NOT_INSTALLED: str = "not installed"

Ref = float | str


@dataclass(frozen=True, slots=True)
class Stats:
    """Median and 90th percentile of repeated timings, in microseconds."""

    median: float
    p90: float
    runs: int

    @staticmethod
    def of(samples: list[float]) -> Stats:
        ordered = sorted(samples)
        p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        return Stats(statistics.median(ordered) * 1e6, p90 * 1e6, len(ordered))


def sample(fn: Callable[[], object], runs: int, warmup: int | None = None) -> Stats:
    """Time ``fn()`` ``runs`` times after a warm-up (a tenth of the runs, at least 3).

    The collector runs before timing starts and stays enabled: a real caller pays for it.
    """
    for _ in range(max(3, runs // 10) if warmup is None else warmup):
        fn()
    gc.collect()
    clock = time.perf_counter
    samples = []
    for _ in range(runs):
        start = clock()
        fn()
        samples.append(clock() - start)
    return Stats.of(samples)


def interleaved(fns: Mapping[str, Callable[[], object]], runs: int) -> dict[str, Stats]:
    """Time several functions in turn, in blocks of about 100 runs each, so that they see the
    same machine weather. Each block starts with the collector run and a few untimed calls,
    so that no function pays for another's garbage or finds the CPU caches cold."""
    clock = time.perf_counter
    samples: dict[str, list[float]] = {name: [] for name in fns}
    blocks = max(1, runs // 100)
    for block in range(blocks):
        count = runs // blocks + (block < runs % blocks)
        for name, fn in fns.items():
            for _ in range(max(3, count // 10)):
                fn()
            gc.collect()
            times = samples[name]
            for _ in range(count):
                start = clock()
                fn()
                times.append(clock() - start)
    return {name: Stats.of(s) for name, s in samples.items()}


@dataclass(frozen=True, slots=True)
class Target:
    """A bar of §3: the engine figure over a reference (``vs``), or the figure itself."""

    bound: Literal["max", "min"]
    ratio: float
    vs: str | None = None

    def met(self, ratio: float) -> bool:
        return ratio <= self.ratio if self.bound == "max" else ratio >= self.ratio

    def text(self) -> str:
        sign = "≤" if self.bound == "max" else "≥"
        return f"{sign} {self.ratio:g}" + (f" × {self.vs}" if self.vs else "")

    def to_json(self) -> dict[str, object]:
        key = "max_ratio" if self.bound == "max" else "min_ratio"
        return ({"vs": self.vs} if self.vs else {}) | {key: self.ratio}


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure of §3 as measured: the engine, each reference point, the ratio, the bar."""

    id: str
    what: str
    engine: float
    target: Target
    refs: Mapping[str, Ref] = field(default_factory=dict)
    #: For ratios that are not engine / one ref (e.g. a growth ratio): the ratio itself.
    ratio_override: float | None = None
    note: str = ""
    #: Further measurements that have no target (e.g. W7's open-loop latencies).
    details: Mapping[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.ratio_override is not None:
            return self.ratio_override
        if self.target.vs is None:
            return self.engine
        ref = self.refs.get(self.target.vs)
        return None if not isinstance(ref, float) or ref == 0 else self.engine / ref

    @property
    def met(self) -> bool:
        ratio = self.ratio
        return ratio is not None and self.target.met(ratio)

    def to_json(self) -> dict[str, object]:
        ratio = self.ratio
        return {
            "id": self.id,
            "what": self.what,
            "engine": round(self.engine, 3),
            "refs": {k: round(v, 3) if isinstance(v, float) else v for k, v in self.refs.items()},
            "target": self.target.to_json(),
            "ratio": None if ratio is None else round(ratio, 4),
            "met": self.met,
            **({"note": self.note} if self.note else {}),
            **(
                {"details": {k: round(v, 3) for k, v in self.details.items()}}
                if self.details
                else {}
            ),
        }


def machine() -> str:
    """A one-line description of this machine: CPU, cores, memory, OS and Python."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        import psutil  # type: ignore[import-untyped]

        memory = f", {psutil.virtual_memory().total / 2**30:.1f} GiB RAM"
    except ImportError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load {os.getloadavg()[0]:.2f} at start"
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
        f"{platform.python_implementation()} {platform.python_version()}{load}"
    )


def _number(value: Ref) -> str:
    if not isinstance(value, float):
        return value
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _refs(figure: Figure) -> str:
    return ", ".join(f"{k} {_number(v)}" for k, v in figure.refs.items()) or "—"


def _ratio(figure: Figure) -> str:
    ratio = figure.ratio
    return "n/a" if ratio is None else f"{ratio:.3g}"


def table(figures: list[Figure]) -> str:
    """The plain-text table printed on stdout."""
    rows = [("figure", "what", "engine", "references", "ratio", "target", "met")]
    for f in figures:
        rows.append(
            (
                f.id,
                f.what,
                _number(f.engine),
                _refs(f),
                _ratio(f),
                f.target.text(),
                "yes" if f.met else "NO",
            )
        )
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
