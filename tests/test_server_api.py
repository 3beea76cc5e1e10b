"""The endpoints of service.md §2 on a real loopback server over a real TinyDB store."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.netutil
from constellation_server import ServiceConfig, drain, make_app, state_of
from constellation_server.body import parse_json
from server_helpers import (
    APPROVAL,
    HELLO,
    Modules,
    Response,
    Server,
    assert_error,
    serve,
    wait_for,
)

from constellation import Engine


@pytest.fixture
def modules() -> Modules:
    return Modules()


@pytest.fixture
def server(modules: Modules, tmp_path: Path) -> Iterator[Server]:
    with serve(modules.registry, tmp_path / "store") as s:
        yield s


def ok(response: Response) -> dict[str, object]:
    assert response.status == 200, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def suspend(server: Server) -> str:
    body = ok(
        server.request("POST", "/run", {"source": APPROVAL, "inputs": {"text": "hello world"}})
    )
    assert body["status"] == "suspended"
    execution_id = body["executionId"]
    assert isinstance(execution_id, str)
    return execution_id


# -- /run -----------------------------------------------------------------------------------


def test_run_answers_the_execution_result(server: Server) -> None:
    body = ok(server.request("POST", "/run", {"source": HELLO, "inputs": {"name": "ada"}}))
    assert body["status"] == "completed"
    assert body["success"] is True
    assert body["outputs"] == {"loud": "HELLO ADA"}
    assert set(body) == {
        "success", "status", "executionId", "structuralHash", "outputs", "pendingOutputs",
        "missingInputs", "inputSchema", "resumptionCount", "error", "errors", "warnings",
        "durationMs",
    }  # fmt: skip


def test_request_id_is_echoed_or_generated(server: Server) -> None:
    given = server.request("GET", "/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = server.request("GET", "/health")
    assert len(made.headers["X-Request-ID"]) == 32
    # An id that is not safe to log (spaces, too long) is replaced, not echoed.
    unsafe = server.request("GET", "/health", headers={"X-Request-ID": "a b"})
    assert unsafe.headers["X-Request-ID"] != "a b"
    error = server.request("GET", "/nowhere", headers={"X-Request-ID": "req-9"})
    assert assert_error(error, 404, "NotFound")["requestId"] == "req-9"


def test_run_compile_error_lists_diagnostics(server: Server) -> None:
    body = assert_error(
        server.request("POST", "/run", {"source": "in n: Int\nx = n + m\nout x\n"}),
        400,
        "CompileError",
    )
    diagnostics = body["diagnostics"]
    assert isinstance(diagnostics, list)
    assert diagnostics[0]["code"] == "E001"
    assert (diagnostics[0]["line"], diagnostics[0]["column"]) == (2, 9)
    assert diagnostics[0]["message"] == "undefined variable 'm'"
    assert diagnostics[0]["hint"] == "did you mean 'n'?"


def test_run_input_error(server: Server) -> None:
    body = assert_error(
        server.request("POST", "/run", {"source": HELLO, "inputs": {"name": 3}}),
        400,
        "InputError",
    )
    assert "name" in str(body["message"])


def test_numbers_and_text_cross_the_service_exactly(server: Server) -> None:
    """The largest Int, floats and non-ASCII text come back as sent; one past the largest
    Int is refused as such, not read as a float."""
    source = "in n: Int\nin x: Float\nin t: String\nout n\nout x\nout t\n"
    largest = 2**63 - 1
    sent = {"n": largest, "x": 0.1, "t": "héllo ☃ \u2028"}
    result = server.request("POST", "/run", {"source": source, "inputs": sent})
    assert result.status == 200
    assert result.json()["outputs"] == sent
    for beyond in (largest + 1, 2**64):
        over = assert_error(
            server.request("POST", "/run", {"source": source, "inputs": {**sent, "n": beyond}}),
            400,
            "InputError",
        )
        assert "64-bit" in str(over["message"])


def test_integers_beyond_64_bits_are_parsed_exactly() -> None:
    """orjson would read them as floats; the standard parser keeps them whole."""
    for digits in (2**64 + 1, -(2**70), 10**30 + 7):
        raw = b'{"n": [%d, "x"], "m": 0.5}' % digits
        value = parse_json(raw, 64)
        assert value == {"n": [digits, "x"], "m": 0.5}
        assert isinstance(value, dict)
        assert type(value["n"][0]) is int


def test_a_failed_execution_is_still_200(server: Server) -> None:
    source = "in t: String\nx = Boom(t)\nout x\n"
    body = ok(server.request("POST", "/run", {"source": source, "inputs": {"t": "now"}}))
    assert body["status"] == "failed"
    assert body["success"] is False
    errors = body["errors"]
    assert isinstance(errors, list)
    assert errors[0]["module"] == "Boom"
    assert "boom: now" in str(body["error"])


# -- /compile and /execute ------------------------------------------------------------------


def test_compile_names_versions_and_execute(server: Server) -> None:
    first = ok(server.request("POST", "/compile", {"source": HELLO, "name": "hello"}))
    assert first["name"] == "hello"
    assert first["version"] == 1
    assert first["inputs"] == {"name": "String"}
    assert first["outputs"] == {"loud": "String"}
    assert first["warnings"] == []
    assert len(str(first["structuralHash"])) == 64
    changed = HELLO.replace("out loud", "extra = Shout(name)\nout loud")
    second = ok(server.request("POST", "/compile", {"source": changed, "name": "hello"}))
    assert second["version"] == 2
    warnings = second["warnings"]
    assert isinstance(warnings, list)
    assert warnings
    assert warnings[0]["severity"] == "warning"
    h = first["structuralHash"]
    for ref in ("hello", h, f"sha256:{h}"):
        body = ok(server.request("POST", "/execute", {"ref": ref, "inputs": {"name": "b"}}))
        assert body["outputs"] == {"loud": "HELLO B"}


def test_compile_errors(server: Server) -> None:
    assert_error(server.request("POST", "/compile", {"source": "out nope\n"}), 400, "CompileError")
    bad_name = server.request("POST", "/compile", {"source": HELLO, "name": "no spaces"})
    assert "Invalid pipeline name" in str(assert_error(bad_name, 400, "InputError")["message"])


def test_execute_unknown_refs(server: Server) -> None:
    missing = server.request("POST", "/execute", {"ref": "nothing-here"})
    assert "nothing-here" in str(assert_error(missing, 404, "NotFound")["message"])
    assert_error(server.request("POST", "/execute", {"ref": "a" * 64}), 404, "NotFound")
    assert_error(server.request("POST", "/execute", {"ref": "sha256:xyz"}), 400, "InputError")


# -- executions -----------------------------------------------------------------------------


def test_execution_detail_of_a_suspended_execution(server: Server) -> None:
    execution_id = suspend(server)
    body = ok(server.request("GET", f"/executions/{execution_id}"))
    assert body["status"] == "suspended"
    assert body["outputs"] == {"summary": "hello"}
    assert body["missingInputs"] == {"approval": "Boolean"}
    assert body["pendingOutputs"] == ["approved"]
    assert body["inputSchema"]["required"] == ["approval"]  # type: ignore[index]
    states = {n["name"]: n["state"] for n in body["nodes"] if n["name"]}  # type: ignore[union-attr]
    assert states["summary"] == "completed"
    assert states["approved"] == "waiting"
    assert_error(server.request("GET", "/executions/nope"), 404, "NotFound")


def test_resume_completes_and_conflicts_after(server: Server, modules: Modules) -> None:
    execution_id = suspend(server)
    path = f"/executions/{execution_id}/resume"
    body = ok(server.request("POST", path, {"additionalInputs": {"approval": True}}))
    assert body["status"] == "completed"
    assert body["outputs"] == {"summary": "hello", "approved": "hello!"}
    assert body["resumptionCount"] == 1
    assert modules.calls == {"Summarize": 1, "Finish": 1}
    again = server.request("POST", path, {"additionalInputs": {"approval": True}})
    assert "already resumed" in str(assert_error(again, 409, "ResumeConflict")["message"])
    detail = ok(server.request("GET", f"/executions/{execution_id}"))
    assert detail["status"] == "completed"
    assert detail["outputs"] == {"summary": "hello", "approved": "hello!"}
    assert_error(server.request("POST", "/executions/nope/resume", {}), 404, "NotFound")


def test_bad_resume_input_leaves_the_execution_unchanged(server: Server) -> None:
    execution_id = suspend(server)
    before = server.engine.store.get_execution(execution_id)
    assert before is not None
    path = f"/executions/{execution_id}/resume"
    for inputs, named in (
        ({"approval": "yes"}, "approval"),
        ({"approvel": True}, "approvel"),
        ({"text": "again"}, "text"),
    ):
        body = assert_error(
            server.request("POST", path, {"additionalInputs": inputs}), 400, "InputError"
        )
        assert named in str(body["message"])
    wrong_node = server.request("POST", path, {"resolvedNodes": {"nope": 1}})
    assert "nope" in str(assert_error(wrong_node, 400, "InputError")["message"])
    after = server.engine.store.get_execution(execution_id)
    assert after is not None
    assert after.version == before.version
    assert after.status == "suspended"


def test_resume_with_a_resolved_node(server: Server, modules: Modules) -> None:
    body = ok(server.request("POST", "/run", {"source": APPROVAL}))
    assert body["status"] == "suspended"
    path = f"/executions/{body['executionId']}/resume"
    done = ok(
        server.request(
            "POST",
            path,
            {"additionalInputs": {"approval": True}, "resolvedNodes": {"summary": "given"}},
        )
    )
    assert done["outputs"] == {"summary": "given", "approved": "given!"}
    assert "Summarize" not in modules.calls


def test_expired_execution_is_410(modules: Modules, tmp_path: Path) -> None:
    now = [1000.0]
    with serve(modules.registry, tmp_path / "store", wall_clock=lambda: now[0]) as server:
        execution_id = suspend(server)
        now[0] += 8 * 24 * 3600
        assert_error(server.request("GET", f"/executions/{execution_id}"), 410, "ExecutionExpired")
        resume = server.request("POST", f"/executions/{execution_id}/resume", {})
        assert_error(resume, 410, "ExecutionExpired")


def test_delete_execution(server: Server) -> None:
    execution_id = suspend(server)
    assert ok(server.request("DELETE", f"/executions/{execution_id}")) == {"deleted": True}
    assert_error(server.request("DELETE", f"/executions/{execution_id}"), 404, "NotFound")
    assert_error(server.request("GET", f"/executions/{execution_id}"), 404, "NotFound")


def test_list_executions_filters_and_pages(server: Server) -> None:
    ok(server.request("POST", "/compile", {"source": APPROVAL, "name": "approve"}))
    ids = [
        ok(server.request("POST", "/execute", {"ref": "approve", "inputs": {"text": f"t{i}"}}))[
            "executionId"
        ]
        for i in range(5)
    ]
    other = suspend(server)
    ok(
        server.request(
            "POST", f"/executions/{ids[0]}/resume", {"additionalInputs": {"approval": False}}
        )
    )
    everything = ok(server.request("GET", "/executions"))
    assert [e["executionId"] for e in everything["executions"]] == [other, *reversed(ids)]  # type: ignore[union-attr]
    assert everything["nextCursor"] is None
    seen: list[object] = []
    cursor = ""
    while True:
        page = ok(server.request("GET", f"/executions?pipeline=approve&limit=2{cursor}"))
        seen += [e["executionId"] for e in page["executions"]]  # type: ignore[union-attr]
        if page["nextCursor"] is None:
            break
        cursor = f"&cursor={page['nextCursor']}"
    assert seen == list(reversed(ids))
    completed = ok(server.request("GET", "/executions?status=completed"))
    assert [e["executionId"] for e in completed["executions"]] == [ids[0]]  # type: ignore[union-attr]
    for query, named in (
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=x", "limit"),
        ("status=sleeping", "sleeping"),
        ("color=red", "color"),
        ("limit=1&limit=2", "limit"),
        ("cursor=garbage", "cursor"),
    ):
        body = assert_error(
            server.request("GET", f"/executions?{query}"),
            400,
            "BadRequest" if named != "cursor" else "InputError",
        )
        assert named in str(body["message"])


# -- pipelines ------------------------------------------------------------------------------


def test_pipelines_list_and_detail(server: Server) -> None:
    compiled = ok(server.request("POST", "/compile", {"source": HELLO, "name": "hello"}))
    h = compiled["structuralHash"]
    listing = ok(server.request("GET", "/pipelines"))
    assert listing["pipelines"] == [
        {
            "structuralHash": h,
            "names": ["hello"],
            "inputs": {"name": "String"},
            "outputs": {"loud": "String"},
            "createdAt": listing["pipelines"][0]["createdAt"],  # type: ignore[index]
        }
    ]
    for ref in ("hello", h):
        detail = ok(server.request("GET", f"/pipelines/{ref}"))
        assert detail["source"] == HELLO
        assert detail["syntacticHash"] == compiled["syntacticHash"]
        assert str(detail["dot"]).startswith("digraph pipeline {")
        dag = detail["dag"]
        assert isinstance(dag, dict)
        assert {n["id"] for n in dag["nodes"]} >= {"name", "greeting", "loud", "out:loud"}
    assert_error(server.request("GET", "/pipelines/unknown"), 404, "NotFound")
    assert_error(server.request("GET", "/pipelines/sha256:zz"), 400, "InputError")


def test_delete_pipeline(server: Server) -> None:
    h = ok(server.request("POST", "/compile", {"source": APPROVAL, "name": "approve"}))[
        "structuralHash"
    ]
    execution_id = ok(
        server.request("POST", "/execute", {"ref": "approve", "inputs": {"text": "x"}})
    )["executionId"]
    in_use = server.request("DELETE", f"/pipelines/{h}")
    assert "suspended" in str(assert_error(in_use, 409, "PipelineInUse")["message"])
    assert ok(server.request("DELETE", "/pipelines/approve")) == {"deleted": True}
    assert_error(server.request("DELETE", "/pipelines/approve"), 404, "NotFound")
    ok(server.request("DELETE", f"/executions/{execution_id}"))
    assert ok(server.request("DELETE", f"/pipelines/{h}")) == {"deleted": True}
    assert_error(server.request("DELETE", f"/pipelines/{h}"), 404, "NotFound")


def test_versions_and_rollback(server: Server) -> None:
    first = ok(server.request("POST", "/compile", {"source": HELLO, "name": "hello"}))
    assert_error(server.request("POST", "/pipelines/hello/rollback", {}), 409, "NothingToRollBack")
    second = ok(
        server.request("POST", "/compile", {"source": HELLO + "\n# v2\nx = 1\n", "name": "hello"})
    )
    versions = ok(server.request("GET", "/pipelines/hello/versions"))
    assert versions["activeVersion"] == 2
    assert [(v["version"], v["structuralHash"], v["active"]) for v in versions["versions"]] == [  # type: ignore[union-attr]
        (1, first["structuralHash"], False),
        (2, second["structuralHash"], True),
    ]
    rolled = ok(server.request("POST", "/pipelines/hello/rollback"))
    assert rolled == {
        "name": "hello",
        "activeVersion": 1,
        "structuralHash": first["structuralHash"],
    }
    forward = ok(server.request("POST", "/pipelines/hello/rollback", {"version": 2}))
    assert forward["activeVersion"] == 2
    assert_error(
        server.request("POST", "/pipelines/hello/rollback", {"version": 9}), 404, "NotFound"
    )
    assert_error(
        server.request("POST", "/pipelines/hello/rollback", {"version": "1"}), 400, "BadRequest"
    )
    assert_error(server.request("GET", "/pipelines/nobody/versions"), 404, "NotFound")
    assert_error(server.request("POST", "/pipelines/nobody/rollback", {}), 404, "NotFound")


# -- modules, health, routing ---------------------------------------------------------------


def test_modules(server: Server) -> None:
    modules = ok(server.request("GET", "/modules"))["modules"]
    assert isinstance(modules, list)
    hello = next(m for m in modules if m["name"] == "Hello")
    assert hello == {
        "name": "Hello",
        "namespace": None,
        "qualifiedName": "Hello",
        "params": [{"name": "name", "type": "String"}],
        "returns": "String",
        "description": "Greets someone.",
        "options": {},
    }


def test_health_ready_and_draining(server: Server) -> None:
    assert ok(server.request("GET", "/health")) == {"status": "ok"}
    assert ok(server.request("GET", "/health/live")) == {"status": "ok"}
    assert ok(server.request("GET", "/health/ready"))["failedPipelines"] == []
    server.state.record_pipeline_error("broken", "broken.cst:1:1: error E001: …")
    ready = ok(server.request("GET", "/health/ready"))
    assert ready["failedPipelines"] == [
        {"name": "broken", "error": "broken.cst:1:1: error E001: …"}
    ]
    server.call(server.state.begin_drain)
    assert (
        assert_error(server.request("GET", "/health/ready"), 503, "Draining")["status"]
        == "draining"
    )
    assert_error(server.request("GET", "/health"), 503, "Draining")
    assert ok(server.request("GET", "/health/live")) == {"status": "ok"}


def test_ready_is_503_when_the_store_fails(server: Server) -> None:
    server.engine.store.close()
    body = assert_error(server.request("GET", "/health/ready"), 503, "NotReady")
    assert "closed" in str(body["message"])
    assert_error(server.request("GET", "/pipelines"), 503, "StoreError")


def test_unknown_route_and_method(server: Server) -> None:
    assert_error(server.request("GET", "/nowhere"), 404, "NotFound")
    wrong = server.request("DELETE", "/run")
    assert_error(wrong, 405, "MethodNotAllowed")
    assert wrong.headers["Allow"] == "POST"
    odd = server.request("PROPFIND", "/run")
    assert_error(odd, 405, "MethodNotAllowed")


# -- limits ---------------------------------------------------------------------------------


def test_body_limits(modules: Modules, tmp_path: Path) -> None:
    config = ServiceConfig(max_body_bytes=16_384, max_json_depth=64, max_inputs=3)
    with serve(modules.registry, tmp_path / "store", config) as server:
        big = json.dumps({"source": HELLO, "inputs": {"name": "x" * 20_000}}).encode()
        json_type = {"Content-Type": "application/json"}
        assert_error(
            server.request("POST", "/run", raw=big, headers=json_type), 413, "PayloadTooLarge"
        )
        chunked = server.request(
            "POST",
            "/run",
            raw=iter([big[:10_000], big[10_000:]]),
            headers=json_type,  # type: ignore[arg-type]
        )
        assert_error(chunked, 413, "PayloadTooLarge")
        text = server.request("POST", "/run", raw=b"source", headers={"Content-Type": "text/plain"})
        assert_error(text, 415, "UnsupportedMediaType")
        untyped = server.request("POST", "/run", raw=b'{"source": ""}')
        assert_error(untyped, 415, "UnsupportedMediaType")
        cases: list[tuple[bytes, str]] = [
            (b"[" * 2000 + b"]" * 2000, "deeper than 64"),
            (b'{"source": "x", "inputs": {"n": ' + b"9" * 5000 + b"}}", "number"),
            (b'{"source": "x", "inputs": {"n": 1e999}}', "too large"),
            (b'{"source": "x", "inputs": {"n": NaN}}', "NaN"),
            (b'{"source": ', "not valid JSON"),
            (b"\xff\xfe", "UTF-8"),
            (b"[1, 2]", "JSON object"),
            (b'{"source": 3}', "'source' must be a string"),
            (b'{"source": "x", "inputs": [1]}', "'inputs' must be an object"),
            (b'{"source": "x", "colour": 1}', "Unknown field 'colour'"),
            (b'{"inputs": {}}', "'source' is required"),
            (b"", "needs a JSON object body"),
            (b'{"source": "x", "inputs": {"a": 1, "b": 2, "c": 3, "d": 4}}', "at most 3"),
            (b'{"source": "x\\ud800"}', "lone surrogate"),
        ]
        for raw, named in cases:
            body = assert_error(
                server.request("POST", "/run", raw=raw, headers=json_type), 400, "BadRequest"
            )
            assert named in str(body["message"]), (raw[:40], body)
        # Deep JSON within the byte limit but over the depth limit, nested in a valid body.
        deep = b'{"source": "x", "inputs": {"n": ' + b"[" * 100 + b"]" * 100 + b"}}"
        assert_error(server.request("POST", "/run", raw=deep, headers=json_type), 400, "BadRequest")
        # The service still answers after all that.
        assert server.request("GET", "/health/live").status == 200


# -- concurrency ----------------------------------------------------------------------------


def resume_race(server: Server, modules: Modules) -> None:
    """8 concurrent resumes of one execution: one 200, seven 409; nothing runs twice."""
    modules.calls.clear()
    execution_id = suspend(server)
    path = f"/executions/{execution_id}/resume"
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: server.request("POST", path, {"additionalInputs": {"approval": True}}),
                range(8),
            )
        )
    statuses = sorted(a.status for a in answers)
    assert statuses == [200] + [409] * 7, [a.body for a in answers]
    for answer in answers:
        if answer.status == 409:
            assert_error(answer, 409, "ResumeConflict")
    assert modules.calls == {"Summarize": 1, "Finish": 1}
    record = server.engine.store.get_execution(execution_id)
    assert record is not None
    assert record.status == "completed"
    assert record.summary["resumptionCount"] == 1


def test_resume_race(server: Server, modules: Modules) -> None:
    for _ in range(3):
        resume_race(server, modules)


@pytest.mark.long
def test_resume_race_100_trials(server: Server, modules: Modules) -> None:
    for _ in range(100):
        resume_race(server, modules)


def test_503_over_max_in_flight(modules: Modules, tmp_path: Path) -> None:
    config = ServiceConfig(max_in_flight=2)
    source = "in t: String\nx = Hold(t)\nout x\n"
    with (
        serve(modules.registry, tmp_path / "store", config) as server,
        concurrent.futures.ThreadPoolExecutor(2) as pool,
    ):
        held = [
            pool.submit(server.request, "POST", "/run", {"source": source, "inputs": {"t": str(i)}})
            for i in range(2)
        ]
        wait_for(lambda: server.state.executions_in_flight == 2, "two executions in flight")
        over = server.request("POST", "/run", {"source": source, "inputs": {"t": "3"}})
        body = assert_error(over, 503, "Overloaded")
        assert over.headers["Retry-After"] == "1"
        assert "in flight" in str(body["message"])
        # Reads are not executions: they are still served.
        assert server.request("GET", "/pipelines").status == 200
        modules.gate.set()
        assert sorted(ok(f.result())["outputs"]["x"] for f in held) == ["0", "1"]  # type: ignore[index]
        assert (
            server.request("POST", "/run", {"source": source, "inputs": {"t": "4"}}).status == 200
        )


def test_wall_time_limit_fails_the_execution(modules: Modules, tmp_path: Path) -> None:
    source = "in t: String\nx = Forever(t)\nout x\n"
    with serve(modules.registry, tmp_path / "store", execution_timeout=0.2) as server:
        body = ok(server.request("POST", "/run", {"source": source, "inputs": {"t": "x"}}))
        assert body["status"] == "failed"
        assert body["error"] == "the execution exceeded its time limit of 0.2 s (line 2)"
        assert body["errors"][0]["module"] == "Forever"  # type: ignore[index]
        assert server.request("GET", "/health/live").status == 200


def test_the_service_stops_waiting_if_the_engine_does_not(modules: Modules, tmp_path: Path) -> None:
    """An engine without a wall-time limit: the request ends anyway, the slot stays taken."""
    config = ServiceConfig(execution_timeout=0.1, max_in_flight=1)
    source = "in t: String\nx = Hold(t)\nout x\n"
    with serve(modules.registry, tmp_path / "store", config) as server:
        late = server.request("POST", "/run", {"source": source, "inputs": {"t": "x"}})
        assert "0.1 s" in str(assert_error(late, 503, "ExecutionTimeout")["message"])
        # The execution still holds its thread: the cap counts it until it really returns.
        assert server.state.executions_in_flight == 1
        assert_error(server.request("POST", "/run", {"source": source}), 503, "Overloaded")
        modules.gate.set()
        wait_for(lambda: server.state.executions_in_flight == 0, "the execution to return")


def test_live_answers_while_a_large_source_compiles(server: Server) -> None:
    lines = [f'v{i} = "{"x" * 180}"' for i in range(5_000)]
    source = "\n".join(["in name: String", *lines, "out name", ""])
    assert 700_000 < len(source) < 1_000_000
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        compiling = pool.submit(server.request, "POST", "/compile", {"source": source}, timeout=120)
        wait_for(
            lambda: server.state.calls_in_flight >= 1 or compiling.done(), "the compile to start"
        )
        live = server.request("GET", "/health/live")
        assert live.status == 200
        assert not compiling.done(), "the compile finished before /health/live answered"
        assert compiling.result().status == 200


def test_drain_waits_for_executions_in_flight(modules: Modules, tmp_path: Path) -> None:
    source = "in t: String\nx = Hold(t)\nout x\n"
    with (
        serve(modules.registry, tmp_path / "store") as server,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        held = pool.submit(server.request, "POST", "/run", {"source": source, "inputs": {"t": "a"}})
        wait_for(lambda: server.state.executions_in_flight == 1, "the execution to start")
        assert server.call(lambda: drain(server.app, 0.05)) is False
        assert_error(server.request("GET", "/health/ready"), 503, "Draining")
        waiting = concurrent.futures.Future[object]()
        asyncio.run_coroutine_threadsafe(drain(server.app, 30), server.loop).add_done_callback(
            lambda f: waiting.set_result(f.result())
        )
        assert not waiting.done()
        modules.gate.set()
        assert ok(held.result())["outputs"] == {"x": "a"}
        assert waiting.result(timeout=30) is True
        assert server.state.calls_in_flight == 0


def test_mounted_under_a_prefix(modules: Modules, tmp_path: Path) -> None:
    engine = Engine(modules.registry, store=tmp_path / "store")
    app = make_app(engine, ServiceConfig(), prefix="/constellation")
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]

    async def exercise() -> list[tuple[int, bytes]]:
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        client = tornado.httpclient.AsyncHTTPClient()
        answers = []
        try:
            for path in ("/constellation/health", "/health", "/constellation/openapi.json"):
                response = await client.fetch(f"http://127.0.0.1:{port}{path}", raise_error=False)
                answers.append((response.code, response.body))
        finally:
            server.stop()
            await server.close_all_connections()
            client.close()
        return answers

    try:
        (health, bare, document) = asyncio.run(exercise())
    finally:
        state_of(app).close()
        engine.close()
    assert health == (200, b'{"status":"ok"}')
    assert bare[0] == 404
    paths = json.loads(document[1])["paths"]
    assert "/constellation/executions/{id}/resume" in paths
