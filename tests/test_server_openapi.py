"""The OpenAPI document matches the route table and what the handlers really answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import tornado.web
from constellation_server import ROUTES, ServiceConfig, key_hash
from constellation_server.openapi import error_statuses
from server_helpers import APPROVAL, HELLO, Modules, Response, Server, serve

ADMIN = "admin-key-for-openapi"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    config = ServiceConfig(api_keys={key_hash(ADMIN): "admin"})
    with serve(Modules().registry, tmp_path / "store", config) as s:
        s.headers["Authorization"] = f"Bearer {ADMIN}"
        yield s


@pytest.fixture
def document(server: Server) -> dict[str, object]:
    response = server.request("GET", "/openapi.json", headers={"Authorization": ""})
    assert response.status == 200
    return response.json()


def test_every_route_and_method_is_documented_and_nothing_else(document: dict[str, object]) -> None:
    paths = document["paths"]
    assert isinstance(paths, dict)
    table = {(r.path, m.lower()) for r in ROUTES for m in r.operations}
    documented = {(p, m) for p, ops in paths.items() for m in ops}
    assert documented == table
    ids = [op["operationId"] for ops in paths.values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_every_handler_implements_its_methods() -> None:
    for route in ROUTES:
        for method in route.operations:
            own = getattr(route.handler, method.lower())
            assert own is not getattr(tornado.web.RequestHandler, method.lower()), (
                route.path,
                method,
            )
        for method in ("get", "post", "delete"):
            if method.upper() not in route.operations:
                inherited = getattr(route.handler, method)
                assert inherited is getattr(tornado.web.RequestHandler, method), (
                    route.path,
                    method,
                )


def test_document_shape(document: dict[str, object]) -> None:
    assert document["openapi"] == "3.1.0"
    components = document["components"]
    assert isinstance(components, dict)
    assert components["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    schemas = components["schemas"]
    text = repr(document)
    for ref in re.findall(r"#/components/schemas/(\w+)", text):
        assert ref in schemas, ref
    for _name, schema in schemas.items():
        jsonschema.Draft202012Validator.check_schema(schema)
    for route in ROUTES:
        for method, op in route.operations.items():
            doc = document["paths"][route.path][method.lower()]  # type: ignore[index]
            assert sorted(int(s) for s in doc["responses"] if s != "200") == error_statuses(op)
            assert doc["security"] == ([{"bearer": []}] if op.role else [])
            params = [p["name"] for p in doc["parameters"] if p["in"] == "path"]
            assert params == list(route.params)


def validator(
    document: dict[str, object], schema: dict[str, object]
) -> jsonschema.Draft202012Validator:
    """A validator of ``schema`` whose ``#/components/...`` refs resolve in the document."""
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def check(document: dict[str, object], path: str, method: str, response: Response) -> None:
    """``response`` is one the document lists for the operation, with a matching body."""
    route = next(r for r in ROUTES if re.fullmatch(r.pattern(), path.split("?")[0]))
    op = document["paths"][route.path][method.lower()]  # type: ignore[index]
    listed = op["responses"].get(str(response.status))
    assert listed is not None, (path, method, response.status, response.body)
    content = listed["content"]
    media = response.headers["Content-Type"].split(";")[0]
    assert media in content, (path, media)
    if media == "application/json":
        validator(document, content[media]["schema"]).validate(response.json())


def test_real_answers_match_the_document(server: Server, document: dict[str, object]) -> None:
    calls: list[tuple[str, str, object]] = [
        ("POST", "/run", {"source": HELLO, "inputs": {"name": "a"}}),
        ("POST", "/run", {"source": "out x\n"}),
        ("POST", "/run", {"source": 1}),
        ("POST", "/compile", {"source": APPROVAL, "name": "approve"}),
        ("POST", "/compile", {"source": HELLO + "unused = 1\n", "name": "approve"}),
        ("POST", "/pipelines/approve/rollback", {}),
        ("POST", "/pipelines/approve/rollback", {}),
        ("POST", "/execute", {"ref": "approve", "inputs": {"text": "t"}}),
        ("POST", "/execute", {"ref": "nope"}),
        ("GET", "/executions", None),
        ("GET", "/executions?limit=0", None),
        ("GET", "/executions/nope", None),
        ("DELETE", "/executions/nope", None),
        ("POST", "/executions/nope/resume", {}),
        ("GET", "/pipelines", None),
        ("GET", "/pipelines/approve", None),
        ("GET", "/pipelines/nope", None),
        ("GET", "/pipelines/approve/versions", None),
        ("GET", "/pipelines/nope/versions", None),
        ("DELETE", "/pipelines/nope", None),
        ("GET", "/modules", None),
        ("GET", "/health", None),
        ("GET", "/health/live", None),
        ("GET", "/health/ready", None),
        ("GET", "/metrics", None),
        ("GET", "/openapi.json", None),
    ]
    for method, path, body in calls:
        check(document, path, method, server.request(method, path, body))
    suspended = server.request("GET", "/executions?status=suspended").json()["executions"]
    execution_id = suspended[0]["executionId"]  # type: ignore[index]
    for method, path, body in [
        ("GET", f"/executions/{execution_id}", None),
        ("DELETE", "/pipelines/approve", None),
        ("POST", f"/executions/{execution_id}/resume", {"additionalInputs": {"approval": 1}}),
        ("POST", f"/executions/{execution_id}/resume", {"additionalInputs": {"approval": True}}),
        ("POST", f"/executions/{execution_id}/resume", {"additionalInputs": {"approval": True}}),
        ("DELETE", f"/executions/{execution_id}", None),
    ]:
        check(document, path, method, server.request(method, path, body))
    unauthorized = server.request("GET", "/pipelines", headers={"Authorization": "Bearer no"})
    check(document, "/pipelines", "GET", unauthorized)
    untyped = server.request("POST", "/run", raw=b"x", headers={"Content-Type": "text/plain"})
    check(document, "/run", "POST", untyped)
