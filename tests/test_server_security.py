"""Security of the service (service.md §3, reliability 24-25): keys and roles, CORS, rate
limits, and logs that never carry a credential."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from constellation_server import ServiceConfig, key_hash
from server_helpers import HELLO, Modules, Server, assert_error, serve, wait_for

ADMIN = "adm-7f3c9e1b2a"
EXECUTE = "exe-4d8a6c2f0b"
READ = "rea-1e5b7d9c3a"
KEYS = {key_hash(ADMIN): "admin", key_hash(EXECUTE): "execute", key_hash(READ): "read"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    config = ServiceConfig(api_keys=KEYS, cors_origins=("https://app.example",))
    with serve(Modules().registry, tmp_path / "store", config) as s:
        yield s


def test_missing_key_is_401_with_a_challenge(server: Server) -> None:
    response = server.request("GET", "/pipelines")
    body = assert_error(response, 401, "Unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in str(body["message"])


@pytest.mark.parametrize(
    "header",
    [
        "Bearer wrong",
        f"Bearer {ADMIN[:-1]}",  # near miss: one character short
        f"Bearer {ADMIN}x",  # near miss: one character more
        f"Bearer {ADMIN.upper()}",  # near miss: case
        f"Bearer {ADMIN[:-1]}c",  # near miss: last character changed
        f"Basic {ADMIN}",  # right key, wrong scheme
        "Bearer",
        "",
    ],
)
def test_wrong_keys_are_401(server: Server, header: str) -> None:
    response = server.request("GET", "/pipelines", headers={"Authorization": header})
    assert_error(response, 401, "Unauthorized")
    assert "Bearer" in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("key", "method", "path", "body", "status"),
    [
        (READ, "GET", "/pipelines", None, 200),
        (READ, "GET", "/metrics", None, 200),
        (READ, "GET", "/modules", None, 200),
        (READ, "POST", "/compile", {"source": HELLO}, 403),
        (READ, "POST", "/run", {"source": HELLO}, 403),
        (READ, "POST", "/execute", {"ref": "x"}, 403),
        (READ, "POST", "/executions/x/resume", {}, 403),
        (READ, "DELETE", "/executions/x", None, 403),
        (EXECUTE, "POST", "/run", {"source": HELLO}, 200),
        (EXECUTE, "POST", "/execute", {"ref": "nothing"}, 404),
        (EXECUTE, "POST", "/executions/x/resume", {}, 404),
        (EXECUTE, "GET", "/executions", None, 200),
        (EXECUTE, "POST", "/compile", {"source": HELLO}, 403),
        (EXECUTE, "DELETE", "/pipelines/x", None, 403),
        (EXECUTE, "POST", "/pipelines/x/rollback", {}, 403),
        (ADMIN, "POST", "/compile", {"source": HELLO}, 200),
        (ADMIN, "DELETE", "/pipelines/x", None, 404),
        (ADMIN, "POST", "/pipelines/x/rollback", {}, 404),
        (ADMIN, "DELETE", "/executions/x", None, 404),
        (ADMIN, "POST", "/run", {"source": HELLO}, 200),
    ],
)
def test_roles(server: Server, key: str, method: str, path: str, body: object, status: int) -> None:
    response = server.request(method, path, body, headers=bearer(key))
    assert response.status == status, response.body
    if status == 403:
        message = assert_error(response, 403, "Forbidden")["message"]
        assert "needs" in str(message)


def test_public_endpoints_need_no_key(server: Server) -> None:
    for path in ("/health", "/health/live", "/health/ready", "/openapi.json"):
        assert server.request("GET", path).status == 200, path
    assert_error(server.request("GET", "/metrics"), 401, "Unauthorized")


def test_keys_never_reach_the_logs(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for key in (ADMIN, EXECUTE, READ, ADMIN[:-1] + "z"):
        server.request(
            "POST", "/run", {"source": HELLO, "inputs": {"name": "a"}}, headers=bearer(key)
        )
        server.request("POST", "/compile", {"source": "oops"}, headers=bearer(key))
        server.request("GET", "/nowhere", headers=bearer(key))
    # The access record is written just after the answer is sent: wait for the last one.
    wait_for(
        lambda: sum(r.name == "constellation_server.access" for r in caplog.records) == 12,
        "12 access records",
    )
    executions = [r for r in caplog.records if r.name == "constellation_server.executions"]
    assert len(executions) == 2  # the admin and execute keys may run
    everything = caplog.text + "".join(repr(getattr(r, "event", "")) for r in caplog.records)
    for key in (ADMIN, EXECUTE, READ, ADMIN[:-1] + "z", "Bearer"):
        assert key not in everything
    for stored in KEYS:
        assert stored not in everything


def test_cors_allow_list(server: Server) -> None:
    allowed = server.request("GET", "/health", headers={"Origin": "https://app.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "X-Request-ID" in allowed.headers["Access-Control-Expose-Headers"]
    assert allowed.headers["Vary"] == "Origin"
    # Errors carry the CORS headers too, so a browser can read them.
    denied = server.request("GET", "/pipelines", headers={"Origin": "https://app.example"})
    assert denied.status == 401
    assert denied.headers["Access-Control-Allow-Origin"] == "https://app.example"
    stranger = server.request("GET", "/health", headers={"Origin": "https://evil.example"})
    assert stranger.status == 200
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_cors_preflight(server: Server) -> None:
    preflight = server.request(
        "OPTIONS",
        "/run",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert preflight.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    refused = server.request(
        "OPTIONS",
        "/run",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert_error(refused, 403, "CorsForbidden")
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_rate_limit_per_key(tmp_path: Path) -> None:
    config = ServiceConfig(api_keys=KEYS, rate_limit=0.01, rate_burst=2)
    with serve(Modules().registry, tmp_path / "store", config) as server:
        for _ in range(2):
            assert server.request("GET", "/pipelines", headers=bearer(READ)).status == 200
        limited = server.request("GET", "/pipelines", headers=bearer(READ))
        body = assert_error(limited, 429, "RateLimited")
        wait = int(limited.headers["Retry-After"])
        assert 1 <= wait <= 100
        assert f"{wait} s" in str(body["message"])
        # Another key has its own bucket; health probes are never limited.
        assert server.request("GET", "/pipelines", headers=bearer(ADMIN)).status == 200
        assert server.request("GET", "/health").status == 200
        # Anonymous (and wrong-key) clients share their address's bucket.
        assert server.request("GET", "/pipelines").status == 401
        assert server.request("GET", "/pipelines", headers=bearer("bad")).status == 401
        assert_error(server.request("GET", "/pipelines"), 429, "RateLimited")


def test_rate_limit_without_keys_is_per_address(tmp_path: Path) -> None:
    config = ServiceConfig(rate_limit=0.01, rate_burst=1)
    with serve(Modules().registry, tmp_path / "store", config) as server:
        assert server.request("GET", "/modules").status == 200
        assert_error(server.request("GET", "/modules"), 429, "RateLimited")
