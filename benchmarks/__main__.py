"""``python -m benchmarks``: every workload of benchmarks.md in one run, with its references.

Prints the table (figure, engine, each reference point, ratio, target, met), writes
``benchmarks/results/latest.json`` (the shape of benchmarks.md §4) and regenerates
``docs/performance.md`` from it. ``--quick`` runs a reduced set (under a minute, every figure
of §3 still present) and writes ``benchmarks/results/quick.json`` only, so that a smoke run
never overwrites the figures of a full one.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

from benchmarks import report
from benchmarks.harness import machine, table
from benchmarks.suite import run
from benchmarks.workloads import Budget

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a reduced set, under a minute")
    parser.add_argument(
        "--only", action="append", metavar="W", help="run only this workload (repeatable)"
    )
    parser.add_argument(
        "--json", type=Path, help="where to write the JSON (default: benchmarks/results/…)"
    )
    parser.add_argument(
        "--docs",
        type=Path,
        help="where to write the Markdown page (default: docs/performance.md after a full run)",
    )
    args = parser.parse_args(argv)
    budget = Budget.of(args.quick)
    start = time.perf_counter()
    described = machine()
    when = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")

    def progress(line: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f} s] {line}", file=sys.stderr, flush=True)

    only = {w.upper() for w in args.only} if args.only else None
    figures = run(budget, only, progress)
    elapsed = time.perf_counter() - start
    document = {
        "when": when,
        "machine": described,
        "quick": args.quick,
        "seconds": round(elapsed, 1),
        "figures": [f.to_json() for f in figures],
    }
    print(table(figures))
    print(f"{sum(f.met for f in figures)}/{len(figures)} targets met in {elapsed:.0f} s")
    out = args.json or RESULTS / ("quick.json" if args.quick else "latest.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    docs = args.docs or (None if args.quick or only else ROOT / "docs" / "performance.md")
    if docs is not None:
        docs.write_text(report.page(document), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
