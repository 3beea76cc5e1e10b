"""``scripts/run``, the main command: it serves the examples, and the curl lines it prints work.

The script itself is started (set-up skipped with CONSTELLATION_SKIP_SETUP=1: the test
environment is already set up) on a free port with a store in a temporary folder. The curl
commands it prints are then run as printed: hot ``/run``, cold ``/compile`` + ``/execute``,
and a suspended ``/execute`` resumed through ``/executions/{id}/resume``.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from serve_process import REPO, ServiceProcess


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scripts_run(folder: Path, port: int) -> ServiceProcess:
    """``scripts/run`` itself (set-up skipped) on ``port``, with its store in ``folder``."""
    return ServiceProcess(
        [str(REPO / "scripts" / "run")],
        cwd=folder,
        env={
            "CONSTELLATION_SKIP_SETUP": "1",
            "CONSTELLATION_PORT": str(port),
            "CONSTELLATION_STORE": str(folder / "store"),
        },
        json_logs=False,
    )


def curl_commands(printed: list[str]) -> list[str]:
    """The printed curl commands, continuation lines joined."""
    commands: list[str] = []
    pending = ""
    for line in printed:
        if not pending and not line.startswith("curl "):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            commands.append(pending)
            pending = ""
    return commands


def run_curl(command: str) -> dict[str, object]:
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=True
    )
    body = json.loads(result.stdout)
    assert isinstance(body, dict)
    return body


@pytest.mark.skipif(shutil.which("curl") is None, reason="the printed examples use curl")
@pytest.mark.timeout(120)
def test_scripts_run_serves_the_examples(tmp_path: Path) -> None:
    port = free_port()
    service = scripts_run(tmp_path, port)
    try:
        assert service.wait_listening() == port
        line = service.wait_for_line(lambda s: "published 2 pipelines" in s)
        assert line.endswith("published 2 pipelines from examples: approval, hello")
        commands = curl_commands(service.stdout)
        assert len(commands) == 6, service.stdout
        assert all(f"http://127.0.0.1:{port}/" in c for c in commands)
        hot, compile_, cold, hello, suspend, resume = commands

        body = run_curl(hot)
        assert (body["status"], body["outputs"]) == ("completed", {"greeting": "HI, ADA"})
        body = run_curl(compile_)
        assert body["name"] == "shout"
        assert len(str(body["structuralHash"])) == 64
        body = run_curl(cold)
        assert (body["status"], body["outputs"]) == ("completed", {"loud": "HELLO"})
        body = run_curl(hello)
        assert body["outputs"] == {"greeting": "HELLO, ADA"}

        body = run_curl(suspend)
        assert body["status"] == "suspended"
        assert body["missingInputs"] == {"approved": "Boolean"}
        assert body["outputs"] == {"request": "Train to Lyon (120.50 EUR)"}
        body = run_curl(resume.replace("EXECUTION_ID", str(body["executionId"])))
        assert (body["status"], body["resumptionCount"]) == ("completed", 1)
        assert body["outputs"] == {
            "request": "Train to Lyon (120.50 EUR)",
            "decision": "approved",
            "summary": "Train to Lyon (120.50 EUR): approved",
        }
    finally:
        service.signal(signal.SIGTERM)
        assert service.wait() == 0
    assert (tmp_path / "store" / "store.json").is_file()


@pytest.mark.skipif(shutil.which("curl") is None, reason="the documented examples use curl")
@pytest.mark.timeout(120)
def test_the_documented_curl_examples_run(tmp_path: Path) -> None:
    """The bash blocks of docs/service.md "Endpoints", run in order against scripts/run."""
    text = (REPO / "docs" / "service.md").read_text()
    section = text.split("\n## Endpoints", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```bash\n")[1:]]
    assert blocks[0].strip() == "URL=http://127.0.0.1:8080"
    port = free_port()
    script = "\n".join([f"URL=http://127.0.0.1:{port}", *blocks[1:]]).replace("\n#", "\necho\n#")
    service = scripts_run(tmp_path, port)
    try:
        service.wait_listening()
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        service.signal(signal.SIGTERM)
        assert service.wait() == 0
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        '"outputs":{"greeting":"HI, ADA"}',
        '"error":"CompileError"',
        '"outputs":{"loud":"HELLO"}',
        '"summary":"Train to Lyon (120.50 EUR): approved"',
        '"deleted":true',
        '"error":"NothingToRollBack"',
        '"failedPipelines":[]',
        "constellation_requests_total{",
        '"openapi":"3.1',
    ):
        assert expected in out, expected
    statuses = [e for e in service.lines if "constellation_server.access" in e]
    assert not [line for line in statuses if " 500 " in line]
