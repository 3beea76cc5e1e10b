"""W5 compile: hello, 1,000-node pipelines, scaling 1k→8k declarations, cache hits.

Run: ``.venv/bin/python -m benchmarks.compile`` (``--quick`` for a smoke run). Figures are
medians of repeated runs in this process; targets come from benchmarks.md §3 and issue 3.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable

from constellation import Engine, Registry
from constellation.compiler import compile_checked
from constellation.frontend import analyse
from constellation.source import Source

HELLO = 'in text: String\ntrimmed = Trim(text)\nshout = Uppercase(trimmed)\nout shout\n'


def registry() -> Registry:
    reg = Registry()

    @reg.module
    def Trim(text: str) -> str:
        return text.strip()

    @reg.module
    def Uppercase(text: str) -> str:
        return text.upper()

    @reg.module
    def Inc(x: int) -> int:
        return x + 1

    return reg


def chain(n: int) -> str:
    """A chain of n module calls, each on the previous one (the W1 shape)."""
    lines = ["in x0: Int"] + [f"x{i} = Inc(x{i - 1})" for i in range(1, n + 1)] + [f"out x{n}"]
    return "\n".join(lines) + "\n"


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def cold_compile(reg: Registry, text: str) -> Callable[[], object]:
    """A full compile (parse, check, compile) that no cache can answer."""
    engine = Engine(reg)

    def run() -> object:
        checked = analyse(Source(text), reg, engine.limits).raise_for_errors()
        return compile_checked(checked, reg)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller sizes")
    args = parser.parse_args()
    reg = registry()
    runs = 20 if args.quick else 200
    big_runs = 3 if args.quick else 9
    gc.collect()

    rows: list[tuple[str, float, str, bool]] = []
    hello = median_seconds(cold_compile(reg, HELLO), runs) * 1e3
    rows.append(("hello compile (ms)", hello, "≤ 2 ms", hello <= 2))
    thousand = median_seconds(cold_compile(reg, chain(1000)), big_runs) * 1e3
    rows.append(("1,000-node compile (ms)", thousand, "≤ 300 ms", thousand <= 300))

    engine = Engine(reg)
    engine.compile(HELLO)
    hit = median_seconds(lambda: engine.compile(HELLO), runs * 10) * 1e6
    rows.append(("cache hit (µs)", hit, "≤ 50 µs", hit <= 50))

    sizes = [1000, 2000] if args.quick else [1000, 2000, 4000, 8000]
    times = [median_seconds(cold_compile(reg, chain(n)), big_runs) for n in sizes]
    for k in range(1, len(sizes)):
        a, b, ratio = sizes[k - 1], sizes[k], times[k] / times[k - 1]
        rows.append((f"compile {b} / {a} decls (ratio)", ratio, "≤ 2.5", ratio <= 2.5))

    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'measured':>10}  target     met")
    for name, value, target, met in rows:
        print(f"{name:<{width}}  {value:>10.3f}  {target:<9}  {'yes' if met else 'NO'}")


if __name__ == "__main__":
    main()
