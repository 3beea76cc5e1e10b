"""Reliability 8: the cost of one store write at 100 and at 10,000 stored executions.

Run: ``.venv/bin/python -m benchmarks.store`` (``--quick``: 100 and 1,000). For each size a
fresh TinyDBStore is filled, then timed over a mix of writes (compare-and-set of a stored
execution, create of a new one); medians are reported with their ratio, which must stay
within 2×. For contrast, stock TinyDB (one JSON file rewritten on every write) is timed the
same way, and so are what depends on the count by design: open (with and without the index
cache) and one page of listing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tinydb import TinyDB

from constellation.store import ExecutionRecord
from constellation.tinydb_store import TinyDBStore

HASH = "ab" * 32


def record(n: int, version: int, state_bytes: int) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=f"e{n}",
        structural_hash=HASH,
        pipeline_name="bench",
        status="suspended" if version == 1 else "resuming",
        version=version,
        state={"inputs": {"n": n}, "nodes": {"blob": "x" * state_bytes}},
        summary={"status": "suspended"},
        created_at=float(n),
        updated_at=float(n + version),
        expires_at=None,
    )


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Writer:
    """Times writes to one store: compare-and-set of a stored execution and create, in turn."""

    def __init__(self, store: TinyDBStore, stored: int, state_bytes: int) -> None:
        self.store, self.stored, self.state_bytes = store, stored, state_bytes
        self.rng = random.Random(stored)
        self.versions = dict.fromkeys(range(stored), 1)
        self.fresh = stored
        self.samples: list[float] = []

    def write(self) -> None:
        if len(self.samples) % 2:
            n = self.rng.randrange(self.stored)
            new = record(n, self.versions[n] + 1, self.state_bytes)
            expected = self.versions[n]
            self.samples.append(timed(lambda: self.store.compare_and_set(new, expected)))
            self.versions[n] += 1
        else:
            created = record(self.fresh, 1, self.state_bytes)
            self.samples.append(timed(lambda: self.store.create_execution(created)))
            self.fresh += 1

    def figures(self) -> dict[str, float]:
        samples = sorted(self.samples)
        return {
            "median": statistics.median(samples) * 1e3,
            "p90": samples[int(len(samples) * 0.9)] * 1e3,
        }


def tinydb_stores(sizes: list[int], runs: int, state_bytes: int) -> dict[int, dict[str, float]]:
    """The write figures per size, then open and listing times."""
    with tempfile.TemporaryDirectory() as tmp:
        folders = {n: Path(tmp) / f"store-{n}" for n in sizes}
        stores = {n: TinyDBStore(folders[n]) for n in sizes}
        for n, store in stores.items():
            for k in range(n):
                store.create_execution(record(k, 1, state_bytes))
        writers = {n: Writer(store, n, state_bytes) for n, store in stores.items()}
        # Interleaved, so that both sizes see the same disk weather.
        for _ in range(runs):
            for writer in writers.values():
                writer.write()
        results = {n: writer.figures() for n, writer in writers.items()}
        for n, store in stores.items():
            page = min(timed(lambda: store.list_executions(limit=100)) for _ in range(5))  # noqa: B023
            store.close()
            clean_open = timed(lambda: TinyDBStore(folders[n]).close())  # noqa: B023
            (folders[n] / "index.json").unlink()  # as after a crash
            crash_open = timed(lambda: TinyDBStore(folders[n]).close())  # noqa: B023
            results[n] |= {
                "page": page * 1e3,
                "clean_open": clean_open * 1e3,
                "crash_open": crash_open * 1e3,
            }
    return results


def stock_tinydb(stored: int, runs: int, state_bytes: int) -> float:
    """Median ms of one insert into stock TinyDB holding ``stored`` documents."""
    with tempfile.TemporaryDirectory() as tmp, TinyDB(Path(tmp) / "db.json") as db:
        doc = {"state": {"blob": "x" * state_bytes}}
        db.insert_multiple(doc for _ in range(stored))
        samples = [timed(lambda: db.insert(doc)) for _ in range(runs)]
    return statistics.median(samples) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 executions")
    parser.add_argument("--runs", type=int, default=400, help="timed writes per size")
    parser.add_argument("--state-bytes", type=int, default=2_000, help="size of each state")
    args = parser.parse_args()
    small, large = 100, 1_000 if args.quick else 10_000

    results = tinydb_stores([small, large], args.runs, args.state_bytes)
    stock = {n: stock_tinydb(n, min(args.runs, 40), args.state_bytes) for n in (small, large)}

    print(f"TinyDBStore, one write (state of {args.state_bytes} bytes, {args.runs} writes)")
    for n, r in results.items():
        print(
            f"  {n:>6} stored: median {r['median']:.3f} ms, p90 {r['p90']:.3f} ms | "
            f"page of 100 {r['page']:.1f} ms | open {r['clean_open']:.0f} ms "
            f"(after a crash {r['crash_open']:.0f} ms)"
        )
    ratio = results[large]["median"] / results[small]["median"]
    verdict = "within 2×: ok" if ratio <= 2 else "over 2×: FAILS reliability 8"
    print(f"  write cost at {large} / at {small}: {ratio:.2f}× ({verdict})")
    print("stock TinyDB (one file, rewritten on every write), one insert")
    for n, ms in stock.items():
        print(f"  {n:>6} stored: median {ms:.3f} ms")
    print(f"  ratio: {stock[large] / stock[small]:.1f}×")


if __name__ == "__main__":
    main()
