"""The workloads of benchmarks.md §2, each run in a fresh process of its own."""

from __future__ import annotations

import gc
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from benchmarks.harness import Figure, Target
from benchmarks.workloads import Budget, registry, w1, w2, w3, w4, w5, w8
from constellation import Engine


def failed(wid: str, err: Exception) -> Figure:
    """The figure of a workload that could not run: reported, and not met."""
    return Figure(
        wid,
        "could not run",
        0.0,
        Target("max", 0.0, "a run"),
        note=f"{wid} failed: {type(err).__name__}: {err}",
    )


WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8")


def workload(wid: str, budget: Budget) -> list[Figure]:
    """In a fresh process: one workload, the engine and its reference points side by side."""
    from benchmarks.durability import w6
    from benchmarks.http import w7

    # What the imports left on the heap is frozen, so that the collector's work during the
    # workload is the workload's own.
    gc.collect()
    gc.freeze()
    if wid == "W6":
        return w6(budget)
    if wid == "W7":
        return w7(budget)
    engine = Engine(registry())
    try:
        steps = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W8": w8}
        return steps[wid](engine, budget)
    finally:
        engine.close()


def run(budget: Budget, only: set[str] | None, progress: Callable[[str], None]) -> list[Figure]:
    """Every workload (or those named in ``only``), in the order of benchmarks.md §2.

    Each runs in a process of its own (started afresh, like pyperf's workers): no workload
    inherits the heap another left (its size, its fragmentation), which otherwise shows up
    in the figures of whatever runs last.
    """
    figures: list[Figure] = []
    context = multiprocessing.get_context("spawn")
    for wid in WORKLOADS:
        if only and wid not in only:
            continue
        start = time.perf_counter()
        try:
            with ProcessPoolExecutor(1, mp_context=context) as pool:
                figures += pool.submit(workload, wid, budget).result()
        except Exception as err:  # one broken workload must not void the others
            progress(f"{wid} FAILED: {type(err).__name__}: {err}")
            figures.append(failed(wid, err))
        progress(f"{wid} done in {time.perf_counter() - start:.1f} s")
    return figures
