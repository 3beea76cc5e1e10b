"""Cold executions of plain-function pipelines that proved fast run on the event loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from constellation_server import ServiceConfig
from constellation_server.inline import PROOF, FastPipelines
from server_helpers import serve

from constellation import Engine, Registry

SHOUT = "in text: String\nloud = Shout(text)\nout loud\n"
WAIT = "in text: String\nheld = Later(text)\nout held\n"
FAST = 0.001


def registry(threads: list[str] | None = None) -> Registry:
    reg = Registry()

    @reg.module
    def Shout(text: str) -> str:
        if threads is not None:
            threads.append(threading.current_thread().name)
        return text.upper()

    @reg.module
    async def Later(text: str) -> str:
        await asyncio.sleep(0)
        return text

    return reg


def prove(fast: FastPipelines, engine: Engine, ref: str, runs: int = PROOF) -> None:
    structural_hash = engine.pipeline(ref).structural_hash
    for _ in range(runs):
        fast.observe(engine, ref, structural_hash, FAST / 10)


def test_a_plain_pipeline_runs_on_the_loop_after_enough_fast_runs() -> None:
    """PROOF fast runs make a ref a candidate; one fewer does not."""
    engine = Engine(registry())
    engine.compile(SHOUT, name="shout")
    fast = FastPipelines(FAST)
    prove(fast, engine, "shout", PROOF - 1)
    assert fast.candidate(engine, "shout", {"text": "a"}) is None
    prove(fast, engine, "shout", 1)
    chosen = fast.candidate(engine, "shout", {"text": "a"})
    assert chosen is not None
    assert (chosen[0].structural_hash, chosen[1]) == (
        engine.pipeline("shout").structural_hash,
        "shout",
    )


def test_what_keeps_an_execution_on_a_worker_thread() -> None:
    """A missing input (it would suspend and write), a recompiled name, one slow run, a
    pipeline that can wait, and a zero threshold all keep executions on worker threads."""
    engine = Engine(registry())
    engine.compile(SHOUT, name="shout")
    fast = FastPipelines(FAST)
    prove(fast, engine, "shout")
    assert fast.candidate(engine, "shout", {}) is None
    engine.compile(SHOUT.replace("loud", "louder"), name="shout")
    assert fast.candidate(engine, "shout", {"text": "a"}) is None

    engine.compile(SHOUT, name="again")
    prove(fast, engine, "again")
    fast.observe(engine, "again", engine.pipeline("again").structural_hash, FAST * 2)
    assert fast.candidate(engine, "again", {"text": "a"}) is None
    prove(fast, engine, "again")  # a slow pipeline is never proven again
    assert fast.candidate(engine, "again", {"text": "a"}) is None

    engine.compile(WAIT, name="wait")
    prove(fast, engine, "wait")
    assert fast.candidate(engine, "wait", {"text": "a"}) is None

    off = FastPipelines(0.0)
    engine.compile(SHOUT, name="off")
    prove(off, engine, "off")
    assert off.candidate(engine, "off", {"text": "a"}) is None
    engine.close()


@pytest.mark.parametrize(("threshold_ms", "on_loop"), [(1000.0, True), (0.0, False)])
def test_over_http_the_proven_pipeline_runs_on_the_loop_thread(
    tmp_path: Path, threshold_ms: float, on_loop: bool
) -> None:
    """The same answers either way; after PROOF runs the module runs on the server's own
    thread, unless the threshold is 0."""
    threads: list[str] = []
    config = ServiceConfig(inline_threshold_ms=threshold_ms)
    with serve(registry(threads), tmp_path / "store", config) as server:
        server.call(lambda: server.state.engine.compile(SHOUT, name="shout"))
        for i in range(PROOF + 3):
            response = server.request(
                "POST", "/execute", {"ref": "shout", "inputs": {"text": f"x{i}"}}
            )
            assert response.json()["outputs"] == {"loud": f"X{i}"}
    workers = {name for name in threads[:PROOF] if name.startswith("constellation-http")}
    assert len(workers) >= 1
    last = threads[-3:]
    assert all(not name.startswith("constellation-http") for name in last) is on_loop
