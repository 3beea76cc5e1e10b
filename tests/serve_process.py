"""A real ``constellation serve`` in a subprocess, for the process-level tests.

The service is started on port 0 with ``--log-format json``; the port is read from its
"listening" log line (so no free-port race). stderr is collected by a thread, and ``call``
makes plain HTTP/1.1 requests with the standard library.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without CONSTELLATION_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSTELLATION_")}
    env.update(extra or {})
    return env


class ServiceProcess:
    """One service subprocess: its log lines, its URL once it listens, and ways to stop it."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        json_logs: bool = True,
    ) -> None:
        self.command = list(command)
        self.json_logs = json_logs
        self.proc = subprocess.Popen(
            self.command,
            cwd=cwd,
            env=clean_environ(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.lines: list[str] = []
        self.stdout: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.port: int | None = None

    def _read(self, stream: object, into: list[str]) -> None:
        assert stream is not None
        for line in stream:  # type: ignore[attr-defined]
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(
        self, predicate: Callable[[str], bool], timeout: float = START_TIMEOUT
    ) -> str:
        """The first stderr line for which ``predicate`` holds; fails if the process ends first."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(self.lines)
                if self.proc.poll() is not None and not any(r.is_alive() for r in self._readers):
                    raise AssertionError(
                        f"the service exited ({self.proc.returncode}) before the line was "
                        "logged:\n" + "\n".join(self.lines)
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no such log line in time:\n" + "\n".join(self.lines))
                self._changed.wait(min(left, 0.5))

    def events(self) -> list[dict[str, object]]:
        """Every stderr line, parsed as JSON (json logs only)."""
        with self._changed:
            return [json.loads(line) for line in self.lines if line.startswith("{")]

    def wait_listening(self) -> int:
        if self.json_logs:
            line = self.wait_for_line(lambda s: '"event": "listening"' in s)
            port = json.loads(line)["port"]
        else:
            line = self.wait_for_line(lambda s: "listening on http://" in s)
            port = line.split("listening on http://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1]
        self.port = int(port)
        return self.port

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        key: str | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, dict[str, object]]:
        """One request; the status and the JSON body (``{}`` when the body is not JSON)."""
        assert self.port is not None, "wait_listening() first"
        return call(self.port, method, path, body, key=key, timeout=timeout)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = START_TIMEOUT) -> int:
        """Wait for the process to end and for its output to be read; its exit code."""
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=timeout)
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code

    def stop(self) -> int:
        """SIGTERM, then the exit code (SIGKILL if it does not end in time: a failing test)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.wait()
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.wait()
            raise

    def kill(self) -> int:
        self.proc.kill()
        return self.wait()


def call(
    port: int,
    method: str,
    path: str,
    body: object = None,
    *,
    key: str | None = None,
    timeout: float = 30.0,
) -> tuple[int, dict[str, object]]:
    """One HTTP request to 127.0.0.1:``port``; the status and the parsed JSON body."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {}
    return response.status, parsed if isinstance(parsed, dict) else {"body": parsed}


def serve_command(*args: str) -> list[str]:
    """``python -m constellation_server ARGS`` with this interpreter."""
    return [sys.executable, "-m", "constellation_server", *args]


def json_service(folder: Path, *args: str, env: Mapping[str, str] | None = None) -> ServiceProcess:
    """``constellation serve ARGS`` started in ``folder``: any free port, JSON logs and the
    store in ``folder/store``. Call ``wait_listening`` before using it."""
    command = serve_command(
        "--port", "0", "--log-format", "json", "--store", str(folder / "store"), *args
    )
    return ServiceProcess(command, cwd=folder, env=env)
