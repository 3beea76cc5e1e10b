"""``make_app``: the Tornado application of the service, and the route table in one place.

The table (``ROUTES``) says, for every path and method, the handler, the role it needs, its
body and its responses. ``make_app`` mounts it and the OpenAPI document is built from it.
``handlers(engine, config, prefix)`` gives the same handlers as a list for an application
that already exists (a Jupyter server mounting them under ``/constellation``).
"""

from __future__ import annotations

import logging
from typing import Any

import tornado.web
from tornado.httpserver import HTTPServer

from constellation import Engine
from constellation_server import handlers as h
from constellation_server.base import UNMATCHED, ApiHandler, NotFoundHandler
from constellation_server.config import ServiceConfig
from constellation_server.openapi import document
from constellation_server.routing import Operation, QueryParam, Route
from constellation_server.state import ServiceState

access_log = logging.getLogger("constellation_server.access")

_EXECUTIONS = "executions"
_SERVICE = "service"

ROUTES: tuple[Route, ...] = (
    Route(
        "/run",
        h.RunHandler,
        {
            "POST": Operation(
                "run",
                "Compile a source (cached) and execute it: hot mode",
                "execute",
                "Execution",
                (400,),
                "RunRequest",
                True,
                tag=_EXECUTIONS,
            ),
        },
    ),
    Route(
        "/compile",
        h.CompileHandler,
        {
            "POST": Operation(
                "compile",
                "Compile a source and store its image, optionally named",
                "admin",
                "CompileResult",
                (400,),
                "CompileRequest",
                True,
            ),
        },
    ),
    Route(
        "/execute",
        h.ExecuteHandler,
        {
            "POST": Operation(
                "execute",
                "Execute a stored pipeline by name or hash: cold mode",
                "execute",
                "Execution",
                (400, 404),
                "ExecuteRequest",
                True,
                tag=_EXECUTIONS,
            ),
        },
    ),
    Route(
        "/executions",
        h.ExecutionsHandler,
        {
            "GET": Operation(
                "listExecutions",
                "Stored executions, newest first, a page at a time",
                "read",
                "ExecutionList",
                (400,),
                tag=_EXECUTIONS,
                query=(
                    QueryParam(
                        "status",
                        "string",
                        "Only executions with this status",
                        enum=("completed", "failed", "resuming", "suspended"),
                    ),
                    QueryParam("pipeline", "string", "Only executions of this name or hash"),
                    QueryParam("limit", "integer", "Page size (default 100)", 1, 500),
                    QueryParam("cursor", "string", "nextCursor of the previous page"),
                ),
            ),
        },
    ),
    Route(
        "/executions/{id}",
        h.ExecutionHandler,
        {
            "GET": Operation(
                "getExecution",
                "A stored execution with its outputs and nodes",
                "read",
                "ExecutionDetail",
                (404, 410),
                tag=_EXECUTIONS,
            ),
            "DELETE": Operation(
                "deleteExecution",
                "Delete a stored execution",
                "admin",
                "Deleted",
                (404,),
                tag=_EXECUTIONS,
            ),
        },
    ),
    Route(
        "/executions/{id}/resume",
        h.ResumeHandler,
        {
            "POST": Operation(
                "resumeExecution",
                "Continue a suspended execution with more inputs",
                "execute",
                "Execution",
                (400, 404, 409, 410),
                "ResumeRequest",
                tag=_EXECUTIONS,
            ),
        },
    ),
    Route(
        "/pipelines",
        h.PipelinesHandler,
        {
            "GET": Operation(
                "listPipelines", "Stored pipeline images with their names", "read", "PipelineList"
            ),
        },
    ),
    Route(
        "/pipelines/{ref}",
        h.PipelineHandler,
        {
            "GET": Operation(
                "getPipeline",
                "A stored pipeline: source, types, DAG and DOT",
                "read",
                "PipelineDetail",
                (400, 404),
            ),
            "DELETE": Operation(
                "deletePipeline",
                "Forget a name, or an image no suspended execution needs",
                "admin",
                "Deleted",
                (400, 404, 409),
            ),
        },
    ),
    Route(
        "/pipelines/{name}/versions",
        h.VersionsHandler,
        {
            "GET": Operation(
                "pipelineVersions", "The versions of a pipeline name", "read", "Versions", (404,)
            ),
        },
    ),
    Route(
        "/pipelines/{name}/rollback",
        h.RollbackHandler,
        {
            "POST": Operation(
                "rollbackPipeline",
                "Point a name at its previous (or the given) version",
                "admin",
                "Rollback",
                (400, 404, 409),
                "RollbackRequest",
            ),
        },
    ),
    Route(
        "/modules",
        h.ModulesHandler,
        {
            "GET": Operation(
                "listModules",
                "The registered modules and their signatures",
                "read",
                "ModuleList",
                engine=False,
                tag=_SERVICE,
            ),
        },
    ),
    Route(
        "/health",
        h.HealthHandler,
        {
            "GET": Operation(
                "health", "Up and not draining", None, "Health", (503,), engine=False, tag=_SERVICE
            ),
        },
    ),
    Route(
        "/health/live",
        h.LiveHandler,
        {
            "GET": Operation(
                "live", "The process answers", None, "Health", engine=False, tag=_SERVICE
            ),
        },
    ),
    Route(
        "/health/ready",
        h.ReadyHandler,
        {
            "GET": Operation(
                "ready", "Ready: not draining and the store answers", None, "Health", tag=_SERVICE
            ),
        },
    ),
    Route(
        "/metrics",
        h.MetricsHandler,
        {
            "GET": Operation(
                "metrics",
                "Prometheus metrics (text format 0.0.4)",
                "read",
                None,
                content_type="text/plain",
                tag=_SERVICE,
            ),
        },
    ),
    Route(
        "/openapi.json",
        h.OpenApiHandler,
        {
            "GET": Operation(
                "openapi", "This document", None, "Document", engine=False, tag=_SERVICE
            ),
        },
    ),
)

#: The route of requests that match no path (for the 404 handler and the metrics label).
UNMATCHED_ROUTE = Route(UNMATCHED, NotFoundHandler)


def service_state(
    engine: Engine, config: ServiceConfig | None = None, prefix: str = ""
) -> ServiceState:
    """The shared state of one mounting of the routes (with its OpenAPI document)."""
    state = ServiceState(engine, config or ServiceConfig())
    state.openapi = document(ROUTES, state.config, prefix)
    return state


def handlers(
    state: ServiceState, prefix: str = ""
) -> list[tuple[str, type[ApiHandler], dict[str, Any]]]:
    """The route table as tornado rules under ``prefix``, each handler given ``state``."""
    return [
        (route.pattern(prefix), route.handler, {"state": state, "route": route}) for route in ROUTES
    ]


def make_app(
    engine: Engine, config: ServiceConfig | None = None, *, prefix: str = ""
) -> tornado.web.Application:
    """The service as a Tornado application; ``app.settings["constellation"]`` is its state.

    The state offers ``begin_drain()``, ``async wait_idle(timeout)``,
    ``record_pipeline_error(name, message)`` and ``close()`` to the process around it.
    """
    state = service_state(engine, config, prefix)
    return tornado.web.Application(
        handlers(state, prefix),
        default_handler_class=NotFoundHandler,
        default_handler_args={"state": state, "route": UNMATCHED_ROUTE},
        log_function=log_request,
        constellation=state,
        compress_response=False,
    )


#: Slack over ``max_body_bytes`` for Tornado's own limit, so the application (not a dropped
#: connection) is what answers a body that is a little too large with 413.
BODY_SLACK_BYTES = 64 * 1024


def http_server(app: tornado.web.Application, config: ServiceConfig) -> HTTPServer:
    """The HTTP server for ``app`` with the service's connection limits (not yet listening).

    A client that goes quiet, between requests or in the middle of a body, must not hold a
    connection (or a graceful shutdown) for ever.
    """
    return HTTPServer(
        app,
        max_body_size=config.max_body_bytes + BODY_SLACK_BYTES,
        idle_connection_timeout=config.idle_timeout,
        body_timeout=config.body_timeout,
        xheaders=False,
    )


def state_of(app: tornado.web.Application) -> ServiceState:
    """The ServiceState ``make_app`` put in the application's settings."""
    state = app.settings["constellation"]
    assert isinstance(state, ServiceState)
    return state


async def drain(app: tornado.web.Application, timeout: float | None = None) -> bool:
    """Graceful shutdown, the application's part: ``/health/ready`` turns 503 at once, then
    wait (at most ``timeout``, default ``shutdown_timeout``) for engine calls in flight.

    The caller stops accepting connections first and closes the engine after. Returns
    whether everything in flight finished in time.
    """
    state = state_of(app)
    state.begin_drain()
    limit = state.config.shutdown_timeout if timeout is None else timeout
    return await state.wait_idle(limit)


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's ``log_function``: one access record per request, never with credentials."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    request = handler.request
    status = handler.get_status()
    millis = request.request_time() * 1000.0
    route = handler.route.path if isinstance(handler, ApiHandler) else UNMATCHED
    request_id = handler.request_id if isinstance(handler, ApiHandler) else ""
    level = logging.INFO if status < 500 else logging.ERROR
    access_log.log(
        level,
        "%s %s %d %.1f ms %s",
        request.method,
        request.path,
        status,
        millis,
        request_id,
        extra={
            "event": {
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": status,
                "durationMs": round(millis, 3),
                "requestId": request_id,
            }
        },
    )
