"""W6: a suspend → persist → resume round trip, and how its cost grows with the store.

Two engines, each on its own TinyDBStore in a temporary folder, one holding 100 other
executions and one 10,000 (``--quick``: 1,000); the round trips alternate between them so
that both see the same disk weather. One round trip: execute with one input missing (the
execution is suspended and written), then resume it with that input to completion.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.harness import Figure, Target, interleaved
from benchmarks.workloads import Budget, registry
from constellation import Engine
from constellation.store import ExecutionRecord
from constellation.tinydb_store import TinyDBStore

SOURCE = (
    "in text: String\nin suffix: String\n"
    "trimmed = Trim(text)\nshout = Uppercase(trimmed)\nfull = Join(shout, suffix)\nout full\n"
)
STATE_BYTES = 2_000


def other(n: int) -> ExecutionRecord:
    """A stored execution that is not ours (a suspended one with a 2 kB state)."""
    return ExecutionRecord(
        execution_id=f"other-{n}",
        structural_hash="ab" * 32,
        pipeline_name="other",
        status="suspended",
        version=1,
        state={"values": {"blob": "x" * STATE_BYTES}},
        summary={"status": "suspended"},
        created_at=float(n),
        updated_at=float(n),
        expires_at=None,
    )


def fill(folder: Path, count: int) -> None:
    with TinyDBStore(folder) as store:
        for n in range(count):
            store.create_execution(other(n))


def w6(budget: Budget) -> list[Figure]:
    small, large = 100, 1_000 if budget.quick else 10_000
    runs = 20 if budget.quick else 200
    with tempfile.TemporaryDirectory(prefix="constellation-bench-") as tmp:
        engines: dict[int, Engine] = {}
        try:
            for n in (small, large):
                folder = Path(tmp) / f"store-{n}"
                fill(folder, n)
                engines[n] = Engine(registry(), store=folder)

            def round_trip(engine: Engine) -> None:
                pipeline = engine.compile(SOURCE)
                waiting = engine.execute_pipeline(pipeline, {"text": "  hello  "})
                done = engine.resume(waiting.execution_id, {"suffix": "!"})
                if done.status != "completed":  # pragma: no cover - a broken engine
                    raise AssertionError(f"W6 resume ended {done.status}: {done.error}")

            timed = interleaved(
                {str(n): lambda e=engines[n]: round_trip(e) for n in (small, large)},  # type: ignore[misc]
                runs,
            )
        finally:
            for engine in engines.values():
                engine.close()
    at_small, at_large = timed[str(small)], timed[str(large)]
    return [
        Figure(
            "W6",
            f"suspend→resume round trip median µs at {large:,} stored",
            at_large.median,
            Target("max", 2, f"at {small:,}"),
            {f"at {small:,}": at_small.median},
            note=f"p90 {at_large.p90:.0f} µs at {large:,}, {at_small.p90:.0f} µs at {small:,}",
        )
    ]
