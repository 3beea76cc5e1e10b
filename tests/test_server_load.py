"""Bounded load (reliability.md 27): an open loop at a fixed rate against a live service.

For 60 s (``LOAD_SECONDS``) requests start at a fixed rate (``LOAD_RATE`` per second, default
30), whatever the answers do, in a mix of hot ``/run``, cold ``/execute`` and a suspended
``/execute`` followed by its ``/resume``. Passes: zero errors (every answer 200 with the
expected outputs) and the server's resident memory grows by less than 64 MiB after warm-up.
Latency percentiles and memory samples go to ``benchmarks/results/load.json``.

Run it with::

    scripts/test-long tests/test_server_load.py
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path

import psutil
import pytest
from serve_process import REPO, json_service
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
RATE = float(os.environ.get("LOAD_RATE", "30"))
WARM_UP = min(10.0, SECONDS / 6)
MAX_RSS_GROWTH = 64 * 1024 * 1024
RESULTS = REPO / "benchmarks" / "results" / "load.json"
HOT_SOURCE = 'in name: String\ngreeting = Uppercase("hi, ${name}")\nout greeting\n'


class Load:
    """The client side: one HTTP client, latencies per kind, and every error seen."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.client = AsyncHTTPClient(force_instance=True, max_clients=512)
        self.latencies: dict[str, list[float]] = {"run": [], "execute": [], "resume": []}
        self.errors: list[str] = []

    async def post(self, kind: str, path: str, body: object) -> dict[str, object]:
        request = HTTPRequest(
            self.base + path,
            method="POST",
            body=json.dumps(body),
            headers={"Content-Type": "application/json"},
            request_timeout=30,
        )
        started = time.perf_counter()
        response = await self.client.fetch(request)
        self.latencies[kind].append(time.perf_counter() - started)
        parsed = json.loads(response.body)
        assert isinstance(parsed, dict)
        return parsed

    async def one(self, index: int) -> None:
        name = f"n{index}"
        try:
            match index % 3:
                case 0:
                    body = await self.post(
                        "run", "/run", {"source": HOT_SOURCE, "inputs": {"name": name}}
                    )
                    expected: object = {"greeting": f"HI, N{index}"}
                case 1:
                    body = await self.post(
                        "execute", "/execute", {"ref": "hello", "inputs": {"name": name}}
                    )
                    expected = {"greeting": f"HELLO, N{index}"}
                case _:
                    inputs = {"item": name, "amount": index}
                    waiting = await self.post(
                        "execute", "/execute", {"ref": "approval", "inputs": inputs}
                    )
                    if waiting.get("status") != "suspended":
                        raise AssertionError(f"not suspended: {waiting}")
                    path = f"/executions/{waiting['executionId']}/resume"
                    body = await self.post("resume", path, {"additionalInputs": {"approved": True}})
                    expected = {
                        "request": f"{name} ({index:.2f} EUR)",
                        "decision": "approved",
                        "summary": f"{name} ({index:.2f} EUR): approved",
                    }
            if body.get("status") != "completed" or body.get("outputs") != expected:
                raise AssertionError(f"unexpected answer: {body}")
        except (HTTPClientError, OSError, AssertionError, ValueError) as err:
            self.errors.append(f"request {index}: {type(err).__name__}: {err}")


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@pytest.mark.long
@pytest.mark.timeout(int(SECONDS) + 240)
def test_bounded_open_loop_load(tmp_path: Path) -> None:
    service = json_service(
        tmp_path,
        "--modules", str(REPO / "examples" / "modules.py"),
        "--pipelines", str(REPO / "examples"),
    )  # fmt: skip
    try:
        port = service.wait_listening()
        server = psutil.Process(service.proc.pid)
        load = Load(port)
        samples: list[tuple[float, int]] = []

        async def drive() -> float:
            tasks: list[asyncio.Task[None]] = []
            loop = asyncio.get_running_loop()
            start = loop.time()
            total = int(SECONDS * RATE)
            next_sample = 0.0
            for index in range(total):
                at = start + index / RATE
                delay = at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing the open loop, not waiting for a result
                tasks.append(asyncio.create_task(load.one(index)))
                elapsed = loop.time() - start
                if elapsed >= next_sample:
                    samples.append((round(elapsed, 1), server.memory_info().rss))
                    next_sample += 5.0
            await asyncio.gather(*tasks)
            samples.append((round(loop.time() - start, 1), server.memory_info().rss))
            return loop.time() - start

        wall = asyncio.run(drive())
        load.client.close()
    finally:
        assert service.stop() == 0

    after_warm_up = [rss for at, rss in samples if at >= WARM_UP] or [samples[-1][1]]
    growth = samples[-1][1] - after_warm_up[0]
    every = [x for values in load.latencies.values() for x in values]
    figures = {
        "what": "open-loop mixed load (run / execute / execute+resume) on loopback",
        "command": "scripts/test-long tests/test_server_load.py",
        "seconds": SECONDS,
        "rate_per_second": RATE,
        "wall_seconds": round(wall, 2),
        "requests": {kind: len(values) for kind, values in load.latencies.items()},
        "errors": len(load.errors),
        "first_errors": load.errors[:10],
        "latency_ms": {
            kind: {
                "p50": round(1000 * percentile(values, 50), 2),
                "p99": round(1000 * percentile(values, 99), 2),
            }
            for kind, values in {**load.latencies, "all": every}.items()
        },
        "rss_bytes": samples,
        "rss_growth_after_warm_up_bytes": growth,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    assert load.errors == []
    assert sum(figures["requests"].values()) >= int(SECONDS * RATE)  # type: ignore[attr-defined]
    assert growth < MAX_RSS_GROWTH, f"RSS grew by {growth} bytes after warm-up"
