"""The OpenAPI 3.1 document of the service, built from the route table (one source of truth).

Request schemas are as strict as the handlers (unknown fields rejected, types exact) so a
contract tester finds real disagreements; every status a handler can answer is listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from constellation_server.config import ServiceConfig
from constellation_server.errors import STATUS_CODES
from constellation_server.routing import Operation, QueryParam, Route

NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"

_DESCRIPTIONS: Mapping[int, str] = {
    400: "The request is malformed, or the source or inputs are wrong",
    401: "An API key is missing or not valid",
    403: "The key's role does not allow this operation",
    404: "Not found",
    409: "Conflict with the current state",
    410: "The suspended execution expired",
    413: "The body is larger than the limit",
    415: "The body is not JSON",
    429: "Too many requests: retry after Retry-After seconds",
    503: "Overloaded, draining, or the store does not answer",
}


def _ref(name: str) -> dict[str, object]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Mapping[str, object]) -> dict[str, object]:
    return {"anyOf": [dict(schema), {"type": "null"}]}


def _object(
    properties: Mapping[str, object], required: Iterable[str] = (), *, closed: bool = True
) -> dict[str, object]:
    schema: dict[str, object] = {"type": "object", "properties": dict(properties)}
    req = list(required)
    if req:
        schema["required"] = req
    if closed:
        schema["additionalProperties"] = False
    return schema


def schemas(config: ServiceConfig) -> dict[str, object]:
    """The ``components.schemas`` of the document."""
    values = {"type": "object", "maxProperties": config.max_inputs}
    string = {"type": "string"}
    number = {"type": "number"}
    strings = {"type": "array", "items": string}
    type_map = {"type": "object", "additionalProperties": string}
    any_object = {"type": "object"}
    node_error = _object(
        {
            "node": string,
            "module": _nullable(string),
            "message": string,
            "line": {"type": "integer"},
            "column": {"type": "integer"},
        },
        ["node", "module", "message", "line", "column"],
        closed=False,
    )
    diagnostic = _object(
        {
            "code": string,
            "severity": {"enum": ["error", "warning"]},
            "message": string,
            "line": {"type": "integer"},
            "column": {"type": "integer"},
            "endLine": {"type": "integer"},
            "endColumn": {"type": "integer"},
            "hint": _nullable(string),
        },
        ["code", "severity", "message", "line", "column"],
        closed=False,
    )
    summary_props: dict[str, object] = {
        "executionId": string,
        "status": {"enum": ["suspended", "resuming", "completed", "failed"]},
        "structuralHash": string,
        "pipelineName": _nullable(string),
        "createdAt": number,
        "updatedAt": number,
        "expiresAt": _nullable(number),
        "resumptionCount": {"type": "integer"},
    }
    detail_props = {
        **summary_props,
        "outputs": any_object,
        "missingInputs": type_map,
        "inputSchema": any_object,
        "pendingOutputs": strings,
        "error": _nullable(string),
        "errors": {"type": "array", "items": _ref("NodeError")},
        "warnings": strings,
        "nodes": {
            "type": "array",
            "items": _object(
                {"id": string, "name": _nullable(string), "kind": string, "state": string},
                ["id", "name", "kind", "state"],
                closed=False,
            ),
        },
    }
    image_props: dict[str, object] = {
        "structuralHash": string,
        "names": strings,
        "inputs": type_map,
        "outputs": type_map,
        "createdAt": number,
    }
    return {
        "Error": _object(
            {
                "error": string,
                "message": string,
                "requestId": string,
                "diagnostics": {"type": "array", "items": _ref("Diagnostic")},
            },
            ["error", "message", "requestId"],
            closed=False,
        ),
        "Diagnostic": diagnostic,
        "NodeError": node_error,
        "RunRequest": _object({"source": string, "inputs": _nullable(values)}, ["source"]),
        "CompileRequest": _object(
            {"source": string, "name": _nullable({"type": "string", "pattern": NAME_PATTERN})},
            ["source"],
        ),
        "ExecuteRequest": _object({"ref": string, "inputs": _nullable(values)}, ["ref"]),
        "ResumeRequest": _object(
            {"additionalInputs": _nullable(values), "resolvedNodes": _nullable(values)}
        ),
        "RollbackRequest": _object({"version": _nullable({"type": "integer"})}),
        "Execution": _object(
            {
                "success": {"type": "boolean"},
                "status": {"enum": ["completed", "suspended", "failed"]},
                "executionId": string,
                "structuralHash": string,
                "outputs": any_object,
                "pendingOutputs": strings,
                "missingInputs": type_map,
                "inputSchema": any_object,
                "resumptionCount": {"type": "integer"},
                "error": _nullable(string),
                "errors": {"type": "array", "items": _ref("NodeError")},
                "warnings": strings,
                "durationMs": number,
            },
            [
                "success",
                "status",
                "executionId",
                "structuralHash",
                "outputs",
                "pendingOutputs",
                "missingInputs",
                "inputSchema",
                "resumptionCount",
                "error",
                "errors",
                "warnings",
                "durationMs",
            ],
            closed=False,
        ),
        "CompileResult": _object(
            {
                "structuralHash": string,
                "syntacticHash": string,
                "name": _nullable(string),
                "version": _nullable({"type": "integer"}),
                "inputs": type_map,
                "outputs": type_map,
                "warnings": {"type": "array", "items": _ref("Diagnostic")},
            },
            ["structuralHash", "syntacticHash", "name", "version", "inputs", "outputs", "warnings"],
            closed=False,
        ),
        "ExecutionSummary": _object(summary_props, list(summary_props), closed=False),
        "ExecutionList": _object(
            {
                "executions": {"type": "array", "items": _ref("ExecutionSummary")},
                "nextCursor": _nullable(string),
            },
            ["executions", "nextCursor"],
            closed=False,
        ),
        "ExecutionDetail": _object(detail_props, list(detail_props), closed=False),
        "Deleted": _object({"deleted": {"const": True}}, ["deleted"], closed=False),
        "PipelineList": _object(
            {
                "pipelines": {
                    "type": "array",
                    "items": _object(image_props, list(image_props), closed=False),
                }
            },
            ["pipelines"],
            closed=False,
        ),
        "PipelineDetail": _object(
            {
                **image_props,
                "ref": string,
                "syntacticHash": string,
                "source": string,
                "dag": _object(
                    {"nodes": {"type": "array"}, "edges": {"type": "array"}},
                    ["nodes", "edges"],
                    closed=False,
                ),
                "dot": string,
            },
            [*image_props, "ref", "syntacticHash", "source", "dag", "dot"],
            closed=False,
        ),
        "Versions": _object(
            {
                "name": string,
                "activeVersion": _nullable({"type": "integer"}),
                "versions": {
                    "type": "array",
                    "items": _object(
                        {
                            "version": {"type": "integer"},
                            "structuralHash": string,
                            "createdAt": number,
                            "active": {"type": "boolean"},
                        },
                        ["version", "structuralHash", "createdAt", "active"],
                        closed=False,
                    ),
                },
            },
            ["name", "activeVersion", "versions"],
            closed=False,
        ),
        "Rollback": _object(
            {"name": string, "activeVersion": {"type": "integer"}, "structuralHash": string},
            ["name", "activeVersion", "structuralHash"],
            closed=False,
        ),
        "ModuleList": _object(
            {
                "modules": {
                    "type": "array",
                    "items": _object(
                        {
                            "name": string,
                            "namespace": _nullable(string),
                            "qualifiedName": string,
                            "params": {
                                "type": "array",
                                "items": _object(
                                    {"name": string, "type": string}, ["name", "type"]
                                ),
                            },
                            "returns": string,
                            "description": string,
                            "options": any_object,
                        },
                        [
                            "name",
                            "namespace",
                            "qualifiedName",
                            "params",
                            "returns",
                            "description",
                            "options",
                        ],
                        closed=False,
                    ),
                }
            },
            ["modules"],
            closed=False,
        ),
        "Health": _object({"status": string}, ["status"], closed=False),
        "Document": any_object,
    }


def _query(param: QueryParam) -> dict[str, object]:
    schema: dict[str, object] = {"type": param.kind}
    if param.minimum is not None:
        schema["minimum"] = param.minimum
    if param.maximum is not None:
        schema["maximum"] = param.maximum
    if param.enum:
        schema["enum"] = list(param.enum)
    return {
        "name": param.name,
        "in": "query",
        "required": False,
        "description": param.description,
        "schema": schema,
    }


def error_statuses(operation: Operation) -> list[int]:
    """Every error status ``operation`` can answer with, sorted."""
    found = set(operation.errors)
    if operation.role is not None:
        found |= {401, 403, 429}
    if operation.body is not None:
        found |= {400, 413, 415}
    if operation.engine:
        found.add(503)
    return sorted(found)


def _operation(route: Route, method: str, op: Operation) -> dict[str, object]:
    json_error = {"application/json": {"schema": _ref("Error")}}
    if op.response is not None:
        ok_content: dict[str, object] = {"application/json": {"schema": _ref(op.response)}}
    else:
        ok_content = {op.content_type.split(";")[0]: {"schema": {"type": "string"}}}
    responses: dict[str, object] = {"200": {"description": "OK", "content": ok_content}}
    for status in error_statuses(op):
        response: dict[str, object] = {
            "description": _DESCRIPTIONS.get(status, STATUS_CODES.get(status, "Error")),
            "content": json_error,
        }
        if status == 429:
            response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        responses[str(status)] = response
    doc: dict[str, object] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": [
            {
                "name": p,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": "^[^/]+$"},
            }
            for p in route.params
        ]
        + [_query(q) for q in op.query],
        "responses": responses,
        "security": [{"bearer": []}] if op.role is not None else [],
    }
    if op.role is not None:
        doc["x-constellation-role"] = op.role
    if op.body is not None:
        doc["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": _ref(op.body)}},
        }
    return doc


def document(routes: Iterable[Route], config: ServiceConfig, prefix: str = "") -> dict[str, object]:
    """The OpenAPI 3.1 document of ``routes`` as mounted under ``prefix``."""
    paths: dict[str, object] = {}
    for route in routes:
        paths[prefix.rstrip("/") + route.path] = {
            method.lower(): _operation(route, method, op) for method, op in route.operations.items()
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Constellation",
            "version": "0.1.0",
            "description": "Typed pipelines over HTTP: compile, run, execute, suspend and resume.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(config),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
