"""Prometheus metrics of service.md §4 after real traffic: names, labels, values."""

from __future__ import annotations

import re
from pathlib import Path

from server_helpers import APPROVAL, HELLO, Modules, Server, serve, wait_for

_LINE = re.compile(r"([a-z_]+)(\{.*\})? (-?[0-9.e+-]+|\+Inf)")


def scrape(server: Server) -> dict[str, float]:
    response = server.request("GET", "/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples: dict[str, float] = {}
    for line in response.body.decode().splitlines():
        if line.startswith("#"):
            assert re.fullmatch(r"# (HELP|TYPE) constellation_[a-z_]+ .+", line), line
            continue
        match = _LINE.fullmatch(line)
        assert match, line
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def traffic(server: Server) -> None:
    for _ in range(2):  # the second compile of the same source is a cache hit
        server.request("POST", "/run", {"source": HELLO, "inputs": {"name": "a"}})
    server.request(
        "POST", "/run", {"source": "in t: String\nx = Boom(t)\nout x\n", "inputs": {"t": "1"}}
    )
    for _ in range(2):
        server.request(
            "POST", "/run", {"source": "in k: String\nx = Lookup(k)\nout x\n", "inputs": {"k": "z"}}
        )
    server.request("POST", "/compile", {"source": APPROVAL, "name": "approve"})
    suspended = server.request(
        "POST", "/execute", {"ref": "approve", "inputs": {"text": "t"}}
    ).json()
    server.request("POST", "/execute", {"ref": "approve", "inputs": {"text": "u"}})
    server.request(
        "POST",
        f"/executions/{suspended['executionId']}/resume",
        {"additionalInputs": {"approval": True}},
    )
    server.request("GET", f"/executions/{suspended['executionId']}")
    server.request("GET", "/no/such/path")


def test_metrics_after_traffic(tmp_path: Path) -> None:
    modules = Modules()
    with serve(modules.registry, tmp_path / "store") as server:
        traffic(server)
        # Request metrics are recorded as each answer finishes: wait for the last one.
        wait_for(
            lambda: (
                'constellation_requests_total{method="GET",path="unmatched",status="404"}'
                in scrape(server)
            ),
            "the 404 to be counted",
        )
        m = scrape(server)
    assert m['constellation_requests_total{method="POST",path="/run",status="200"}'] == 5
    assert (
        m['constellation_requests_total{method="POST",path="/executions/{id}/resume",status="200"}']
        == 1
    )
    assert m['constellation_requests_total{method="GET",path="/executions/{id}",status="200"}'] == 1
    assert not any(suspended_id in key for key in m for suspended_id in ("approve",))
    assert m['constellation_request_duration_seconds_count{method="POST",path="/run"}'] == 5
    assert (
        m['constellation_request_duration_seconds_bucket{method="POST",path="/run",le="+Inf"}'] == 5
    )
    assert m['constellation_executions_total{mode="hot",status="completed"}'] == 4
    assert m['constellation_executions_total{mode="hot",status="failed"}'] == 1
    assert m['constellation_executions_total{mode="cold",status="suspended"}'] == 2
    assert m['constellation_executions_total{mode="resume",status="completed"}'] == 1
    assert m['constellation_execution_duration_seconds_count{mode="cold"}'] == 2
    assert m["constellation_suspended_executions"] == 1
    assert m["constellation_compile_cache_hits_total"] >= 2
    assert m["constellation_compile_cache_misses_total"] >= 3
    assert m['constellation_module_cache_hits_total{module="Lookup"}'] == 1
    assert modules.calls["Lookup"] == 1


def test_module_call_metrics(tmp_path: Path) -> None:
    with serve(Modules().registry, tmp_path / "store") as server:
        traffic(server)
        m = scrape(server)
    assert m['constellation_module_calls_total{module="Hello",status="completed"}'] == 2
    assert m['constellation_module_calls_total{module="Boom",status="failed"}'] == 1
    assert m['constellation_module_calls_total{module="Summarize",status="completed"}'] == 2
    assert m['constellation_module_calls_total{module="Finish",status="completed"}'] == 1
    assert m['constellation_module_duration_seconds_count{module="Hello"}'] == 2


def test_histogram_buckets_are_cumulative(tmp_path: Path) -> None:
    with serve(Modules().registry, tmp_path / "store") as server:
        for _ in range(3):
            server.request("GET", "/health/live")
        wait_for(
            lambda: (
                scrape(server).get(
                    'constellation_request_duration_seconds_count{method="GET",path="/health/live"}'
                )
                == 3
            ),
            "three requests counted",
        )
        m = scrape(server)
    buckets = [
        (key, value)
        for key, value in m.items()
        if key.startswith(
            'constellation_request_duration_seconds_bucket{method="GET",path="/health/live"'
        )
    ]
    assert len(buckets) == 12
    values = [v for _, v in buckets]
    assert values == sorted(values)
    assert values[-1] == 3
