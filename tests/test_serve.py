"""``constellation serve``: flags, environment twins, --pipelines, the loopback rule, logs.

Settings are checked in-process (``parse_settings`` is pure); everything else runs the real
command in a subprocess on a free port with a TinyDB store in a temporary folder.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from constellation_server.config import ServiceConfig, key_hash
from constellation_server.logs import JsonFormatter, TextFormatter
from constellation_server.serve import OPTIONS, parse_settings
from serve_process import REPO, ServiceProcess, clean_environ, json_service, serve_command

from constellation.cli import UsageError

MODULES = """
import constellation as cst

@cst.module
def Shout(text: str) -> str:
    return text.upper() + "!"
"""
KEY = "s3cret-admin-key-0123"
READ_KEY = "read-only-key-4567"


def test_defaults_are_the_service_config_defaults() -> None:
    """No flag and no variable: exactly ServiceConfig() (the documented defaults)."""
    settings = parse_settings([], {})
    assert settings.config == ServiceConfig()
    assert settings.log_level == "info"


def test_environment_twins_and_flags_win() -> None:
    """Every kind of setting is read from its variable; a flag given too wins over it."""
    env = {
        "CONSTELLATION_PORT": "9001",
        "CONSTELLATION_STORE": "/tmp/from-env",
        "CONSTELLATION_MODULES": "a.b, c.py",
        "CONSTELLATION_CORS_ORIGINS": "https://a.example,https://b.example",
        "CONSTELLATION_RATE_LIMIT": "2.5",
        "CONSTELLATION_EXECUTION_TIMEOUT": "7",
        "CONSTELLATION_INSECURE": "true",
        "CONSTELLATION_LOG_FORMAT": "json",
        "CONSTELLATION_LOG_LEVEL": "warning",
        "CONSTELLATION_API_KEYS": f"{KEY}:admin, {READ_KEY}:read",
    }
    config = parse_settings([], env).config
    assert (config.port, config.store, config.modules) == (9001, "/tmp/from-env", ("a.b", "c.py"))
    assert config.cors_origins == ("https://a.example", "https://b.example")
    assert (config.rate_limit, config.execution_timeout) == (2.5, 7.0)
    assert (config.insecure, config.log_format) == (True, "json")
    assert dict(config.api_keys) == {key_hash(KEY): "admin", key_hash(READ_KEY): "read"}

    flags = ["--port", "9002", "--store", "here", "--modules", "m1", "--modules", "m2.py"]
    settings = parse_settings([*flags, "--log-format", "text", "--log-level", "debug"], env)
    assert (settings.config.port, settings.config.store) == (9002, "here")
    assert settings.config.modules == ("m1", "m2.py")
    assert (settings.config.log_format, settings.log_level) == ("text", "debug")
    assert settings.config.rate_limit == 2.5  # not given as a flag: the variable still counts


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (
            [],
            {"CONSTELLATION_PORT": "abc"},
            "CONSTELLATION_PORT: expected a whole number, got 'abc'",
        ),
        (["--port", "70000"], {}, "--port: a port is 0–65535, got 70000"),
        (
            ["--max-in-flight", "0"],
            {},
            "--max-in-flight: expected a number greater than 0, got '0'",
        ),
        ([], {"CONSTELLATION_INSECURE": "maybe"}, "CONSTELLATION_INSECURE: expected true or false"),
        (
            [],
            {"CONSTELLATION_API_KEYS": f"{KEY}:owner"},
            "CONSTELLATION_API_KEYS: entry 1 has role 'owner'; use one of read, execute, admin",
        ),
        (
            [],
            {"CONSTELLATION_API_KEYS": f"{KEY}:admin,{KEY}"},
            "CONSTELLATION_API_KEYS: entry 2 is not 'key:role'",
        ),
        (
            [],
            {"CONSTELLATION_API_KEYS": f"{KEY}:admin,{KEY}:read"},
            "CONSTELLATION_API_KEYS: entry 2 repeats an earlier key",
        ),
    ],
)
def test_bad_settings_name_the_setting(argv: list[str], env: dict[str, str], message: str) -> None:
    """A bad value names the flag or variable and what it expects, and never shows a key."""
    with pytest.raises(UsageError) as caught:
        parse_settings(argv, env)
    assert str(caught.value).startswith(message)
    assert KEY not in str(caught.value)


def test_refuses_a_public_interface_without_keys(tmp_path: Path) -> None:
    """0.0.0.0 without API keys: a clear refusal naming the ways out, exit 2, nothing bound."""
    for argv, env in ((["--host", "0.0.0.0"], {}), ([], {"CONSTELLATION_HOST": "0.0.0.0"})):
        result = subprocess.run(
            [sys.executable, "-m", "constellation", "serve", *argv, "--store", str(tmp_path / "s")],
            cwd=tmp_path,
            env=clean_environ(env),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert "refusing to listen on '0.0.0.0' without API keys" in result.stderr
        assert "CONSTELLATION_API_KEYS" in result.stderr
        assert "--insecure" in result.stderr
        assert not (tmp_path / "s").exists()  # refused before the store was touched


def test_insecure_allows_a_public_interface(tmp_path: Path) -> None:
    """--insecure: it listens on 0.0.0.0, warns, and answers on loopback."""
    service = json_service(tmp_path, "--host", "0.0.0.0", "--insecure")
    try:
        service.wait_listening()
        assert service.call("GET", "/health")[0] == 200
        warnings = [e for e in service.events() if e["level"] == "WARNING"]
        assert any("anyone who can reach" in str(e["message"]) for e in warnings)
    finally:
        assert service.stop() == 0


def test_a_stalled_body_is_cut_off_and_the_service_goes_on(tmp_path: Path) -> None:
    """A client that promises a body and stops sending is disconnected after --body-timeout;
    it holds nothing, and the next request is answered."""
    service = json_service(tmp_path, "--body-timeout", "0.3")
    try:
        port = service.wait_listening()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as slow:
            slow.sendall(
                b"POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n{"source": '
            )
            # Blocks until the server gives up on the body and closes: b"" is the close.
            assert slow.recv(4096) == b""
        assert service.call("GET", "/health")[0] == 200
    finally:
        assert service.stop() == 0


def test_environment_only_start_with_keys_and_json_logs(tmp_path: Path) -> None:
    """Configured by variables alone: auth is on, every log line is JSON, no key is logged."""
    (tmp_path / "mods.py").write_text(MODULES)
    env = {
        "CONSTELLATION_PORT": "0",
        "CONSTELLATION_STORE": str(tmp_path / "store"),
        "CONSTELLATION_MODULES": "mods.py",
        "CONSTELLATION_LOG_FORMAT": "json",
        "CONSTELLATION_API_KEYS": f"{KEY}:admin,{READ_KEY}:read",
    }
    service = ServiceProcess(serve_command(), cwd=tmp_path, env=env)
    try:
        service.wait_listening()
        listening = next(e for e in service.events() if e.get("event") == "listening")
        assert listening["auth"] is True
        assert listening["store"] == str(tmp_path / "store")
        assert service.call("GET", "/pipelines")[0] == 401
        assert service.call("GET", "/pipelines", key=KEY[:-1] + "x")[0] == 401
        assert service.call("POST", "/compile", {"source": "out x"}, key=READ_KEY)[0] == 403
        status, body = service.call(
            "POST",
            "/run",
            {"source": "in t: String\ns = Shout(t)\nout s", "inputs": {"t": "a"}},
            key=KEY,
        )
        assert (status, body["status"], body["outputs"]) == (200, "completed", {"s": "A!"})
    finally:
        assert service.stop() == 0
    events = [json.loads(line) for line in service.lines]  # every line parses
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in events)
    access = [e for e in events if e["logger"] == "constellation_server.access"]
    assert {e.get("status") for e in access} >= {200, 401, 403}
    assert all(KEY not in line and READ_KEY not in line for line in service.lines)


def test_pipelines_folder_with_a_broken_file(tmp_path: Path) -> None:
    """Good files are published under their stem; the broken one is logged and listed by ready."""
    (tmp_path / "mods.py").write_text(MODULES)
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "greet.cst").write_text('in name: String\ng = Shout("hi ${name}")\nout g\n')
    (folder / "echo.cst").write_text("in n: Int\nout n\n")
    (folder / "broken.cst").write_text("in n: Int\nm = n + k\nout m\n")
    (folder / "notes.txt").write_text("not a pipeline")
    service = json_service(tmp_path, "--modules", "mods.py", "--pipelines", str(folder))
    try:
        service.wait_listening()
        status, body = service.call("POST", "/execute", {"ref": "greet", "inputs": {"name": "Bo"}})
        assert (status, body["outputs"]) == (200, {"g": "HI BO!"})
        assert service.call("POST", "/execute", {"ref": "echo", "inputs": {"n": 3}})[0] == 200
        assert service.call("POST", "/execute", {"ref": "broken", "inputs": {"n": 3}})[0] == 404
        status, ready = service.call("GET", "/health/ready")
        assert "broken.cst" in json.dumps(ready)
        assert "greet.cst" not in json.dumps(ready)
        assert "echo.cst" not in json.dumps(ready)
    finally:
        assert service.stop() == 0
    failed = [e for e in service.events() if e.get("event") == "pipeline.failed"]
    assert [e["name"] for e in failed] == ["broken"]
    assert "2:9: error E001: undefined variable 'k'" in str(failed[0]["message"])
    published = next(e for e in service.events() if e.get("event") == "pipelines.published")
    assert published["names"] == ["echo", "greet"]


def test_text_logs_say_where_it_listens(tmp_path: Path) -> None:
    """The installed `constellation serve` with --modules naming a module of the current
    folder; text logs: the URL, auth off, the store folder; SIGINT exits 0."""
    (tmp_path / "shouting.py").write_text(MODULES)
    script = Path(sys.executable).parent / "constellation"
    service = ServiceProcess(
        [str(script), "serve", "--port", "0", "--modules", "shouting",
         "--store", str(tmp_path / "store")],
        cwd=tmp_path,
        json_logs=False,
    )  # fmt: skip
    try:
        port = service.wait_listening()
        line = service.wait_for_line(lambda s: "listening on" in s)
        expected = (
            rf" INFO +constellation_server\.serve: listening on http://127\.0\.0\.1:{port} "
            rf"\(auth off \(no API keys\); store {re.escape(str(tmp_path))}/store\)$"
        )
        assert re.search(expected, line), line
        source = {"source": "in t: String\ns = Shout(t)\nout s", "inputs": {"t": "x"}}
        status, body = service.call("POST", "/run", source)
        assert (status, body["outputs"]) == (200, {"s": "X!"})
        service.wait_for_line(lambda s: "constellation_server.access" in s and "/run 200" in s)
    finally:
        service.signal(signal.SIGINT)  # as Ctrl-C
        assert service.wait() == 0


def test_bad_modules_and_missing_pipelines_folder_exit_2(tmp_path: Path) -> None:
    """An unimportable --modules or a --pipelines that is not a folder: one message, exit 2."""
    for argv, message in (
        (["--modules", "no_such_module_xyz"], "--modules: cannot import 'no_such_module_xyz'"),
        (["--pipelines", "nowhere"], "--pipelines: 'nowhere' is not a folder"),
    ):
        result = subprocess.run(
            serve_command("--port", "0", "--store", str(tmp_path / "s"), *argv),
            cwd=tmp_path,
            env=clean_environ(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert message in result.stderr


def test_help_lists_every_flag_with_its_variable() -> None:
    result = subprocess.run(
        serve_command("--help"), capture_output=True, text=True, timeout=60, env=clean_environ()
    )
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for option in OPTIONS:
        assert option.flag in text
        assert option.env in text


def test_the_docs_table_lists_every_flag_once() -> None:
    """docs/service.md has one table row per setting: flag, variable and default."""
    rows = [
        line
        for line in (REPO / "docs" / "service.md").read_text().splitlines()
        if line.startswith("| `--")
    ]
    flags = [re.match(r"\| `(--[a-z-]+)", row).group(1) for row in rows]  # type: ignore[union-attr]
    assert flags == [option.flag for option in OPTIONS]
    for row, option in zip(rows, OPTIONS, strict=True):
        assert f"`{option.env}`" in row, row


def test_the_engine_never_imports_tornado() -> None:
    code = "import sys, constellation, constellation.cli; print('tornado' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "False", result.stderr


def test_serve_without_the_server_extra_says_how_to_install_it() -> None:
    """Tornado missing (blocked here): one line naming the extra to install, exit 2."""
    code = (
        "import sys; sys.modules['tornado'] = None\n"
        "from constellation.cli import main\n"
        "sys.exit(main(['serve', '--port', '0']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env=clean_environ(),
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("constellation serve: the HTTP service is not installed")
    assert "pip install 'constellation[server]'" in result.stderr


def test_log_formatters_redact_bearer_tokens() -> None:
    """A token that reaches a message by accident never reaches the line, in either format."""
    record = logging.LogRecord(
        "constellation_server.access", logging.INFO, __file__, 1,
        "header was Authorization: Bearer %s", (KEY,), None,
    )  # fmt: skip
    record.event = {"requestId": "r1", "status": 200}
    line = JsonFormatter().format(record)
    assert KEY not in line
    assert json.loads(line)["message"] == "header was Authorization: Bearer [redacted]"
    assert json.loads(line)["requestId"] == "r1"
    text = TextFormatter().format(record)
    assert KEY not in text
    assert text.endswith(
        "constellation_server.access: header was Authorization: Bearer [redacted] [r1]"
    )
