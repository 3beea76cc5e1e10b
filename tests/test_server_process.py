"""The service as a process: graceful shutdown and restart survival (reliability.md 12, 26).

Real subprocesses, a real TinyDB store in a temporary folder, real signals. An execution is
held in flight by a module that blocks on named pipes the test controls, so nothing here
sleeps to wait for anything.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from serve_process import ServiceProcess, call, json_service

from constellation.tinydb_store import TinyDBStore

MODULES = '''
import os
import constellation as cst

@cst.module
def Double(n: int) -> int:
    return 2 * n

@cst.module
def Gate(text: str) -> str:
    """Blocks until the test lets it through: 'entered' and 'release' are named pipes."""
    folder = os.environ["GATE_DIR"]
    with open(os.path.join(folder, "entered"), "w") as pipe:
        pipe.write("in")
    with open(os.path.join(folder, "release")) as pipe:
        pipe.read()
    return text.upper()
'''
# Waits for `b` after computing Double(a): y = 2a + b.
SPLIT = "in a: Int\nin b: Int\nx = Double(a)\ny = x + b\nout y\n"
GATED = "in t: String\ng = Gate(t)\nout g\n"


def start(tmp_path: Path, *extra: str) -> ServiceProcess:
    folder = tmp_path / "pipelines"
    if not folder.exists():
        folder.mkdir()
        (folder / "split.cst").write_text(SPLIT)
        (folder / "gated.cst").write_text(GATED)
        (tmp_path / "mods.py").write_text(MODULES)
    service = json_service(
        tmp_path,
        "--modules",
        "mods.py",
        "--pipelines",
        str(folder),
        *extra,
        env={"GATE_DIR": str(tmp_path)},
    )
    service.wait_listening()
    return service


def suspend(service: ServiceProcess, a: int) -> str:
    status, body = service.call("POST", "/execute", {"ref": "split", "inputs": {"a": a}})
    assert (status, body["status"]) == (200, "suspended"), body
    return str(body["executionId"])


@pytest.mark.timeout(120)
def test_sigterm_finishes_in_flight_and_keeps_suspended(tmp_path: Path) -> None:
    """SIGTERM with a request in flight: no new connections, the request is answered, exit 0,
    and the store opens afterwards with every suspended execution still there."""
    os.mkfifo(tmp_path / "entered")
    os.mkfifo(tmp_path / "release")
    service = start(tmp_path)
    try:
        suspended = {suspend(service, a) for a in range(5)}
        answers: list[tuple[int, dict[str, object]]] = []
        port = service.port
        assert port is not None
        request = threading.Thread(
            target=lambda: answers.append(
                call(port, "POST", "/execute", {"ref": "gated", "inputs": {"t": "late"}})
            )
        )
        request.start()
        with open(tmp_path / "entered") as entered:  # returns once Gate is running
            assert entered.read() == "in"
        service.signal(signal.SIGTERM)
        service.wait_for_line(lambda s: "no new connections" in s)
        with pytest.raises(ConnectionRefusedError):
            call(port, "GET", "/health/live", timeout=5)
        assert service.proc.poll() is None  # still draining: the request is not finished
        with open(tmp_path / "release", "w") as release:
            release.write("go")
        request.join(timeout=30)
        assert answers
        assert answers[0][0] == 200
        assert answers[0][1]["outputs"] == {"g": "LATE"}
        assert service.wait() == 0
    finally:
        if service.proc.poll() is None:
            service.kill()
    assert any(e.get("message", "").startswith("stopped; store") for e in service.events())
    store = TinyDBStore(tmp_path / "store")
    try:
        records, _ = store.list_executions(status="suspended", limit=100)
        assert {r.execution_id for r in records} == suspended
    finally:
        store.close()


@pytest.mark.timeout(120)
def test_sigkill_restart_resumes_all_fifty(tmp_path: Path) -> None:
    """Suspend 50 executions, SIGKILL the service, restart it on the same store, resume all 50:
    50/50 completed with the right outputs (reliability.md 12)."""
    service = start(tmp_path)
    try:
        ids = {suspend(service, a): a for a in range(50)}
    finally:
        service.kill()
    assert service.proc.returncode == -signal.SIGKILL

    restarted = start(tmp_path)
    try:
        status, listing = restarted.call("GET", "/executions?status=suspended&limit=500")
        assert status == 200
        assert {e["executionId"] for e in listing["executions"]} == set(ids)  # type: ignore[union-attr]

        def resume(item: tuple[str, int]) -> tuple[int, object, object]:
            execution_id, a = item
            status, body = restarted.call(
                "POST", f"/executions/{execution_id}/resume", {"additionalInputs": {"b": 10 * a}}
            )
            return status, body.get("status"), body.get("outputs")

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(resume, ids.items()))
        assert results == [(200, "completed", {"y": 12 * a}) for a in ids.values()]
        status, listing = restarted.call("GET", "/executions?status=suspended")
        assert (status, listing["executions"]) == (200, [])
    finally:
        assert restarted.stop() == 0


@pytest.mark.timeout(120)
def test_sigterm_drain_is_bounded(tmp_path: Path) -> None:
    """A request that never finishes does not hold the shutdown past --shutdown-timeout:
    the service says so, closes the store and exits 0; the store opens afterwards."""
    os.mkfifo(tmp_path / "entered")
    os.mkfifo(tmp_path / "release")
    service = start(tmp_path, "--shutdown-timeout", "0.5")
    try:
        kept = suspend(service, 7)
        outcomes: list[object] = []
        port = service.port
        assert port is not None

        def stuck() -> None:
            try:
                outcomes.append(
                    call(port, "POST", "/execute", {"ref": "gated", "inputs": {"t": "x"}})
                )
            except OSError as err:  # the process ended under the request: expected here
                outcomes.append(err)

        request = threading.Thread(target=stuck)
        request.start()
        with open(tmp_path / "entered") as entered:
            assert entered.read() == "in"
        service.signal(signal.SIGTERM)
        assert service.wait() == 0
        request.join(timeout=30)
        assert len(outcomes) == 1
        assert isinstance(outcomes[0], OSError)
    finally:
        if service.proc.poll() is None:
            service.kill()
    messages = [str(e.get("message")) for e in service.events()]
    assert "requests still running after 0.5s; closing anyway" in messages
    store = TinyDBStore(tmp_path / "store")
    try:
        records, _ = store.list_executions(status="suspended", limit=10)
        assert [r.execution_id for r in records] == [kept]
    finally:
        store.close()
