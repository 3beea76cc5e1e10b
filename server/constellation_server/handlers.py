"""The endpoints of service.md §2. Each handler checks its input, hands engine work to a
worker thread (``ServiceState.call``) and answers with JSON; errors go through ``ApiError``.
The one exception: a cold execution of a pipeline proven fast runs on the loop (``inline.py``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from constellation import ConstellationError, Execution, InputError, ResumeConflict
from constellation.dot import dag_json, to_dot
from constellation.persistence import hash_ref, load_image, resolve_ref
from constellation.store import STATUSES, TERMINAL, ExecutionRecord, ImageRecord, Store
from constellation.types import show
from constellation_server.base import ApiHandler
from constellation_server.errors import ApiError, bad_request, from_engine
from constellation_server.metrics import CONTENT_TYPE, Scraped, module_cache_hits

T = TypeVar("T")

execution_log = logging.getLogger("constellation_server.executions")

_DIGITS = re.compile(r"[0-9]{1,6}")
#: Suspended executions counted per scrape when the store has no count of its own.


class EngineHandler(ApiHandler):
    """A handler that calls the engine: engine errors become their HTTP answers."""

    async def engine(self, fn: Callable[[], T], *, execution: bool = False) -> T:
        try:
            return await self.state.call(fn, execution=execution)
        except ConstellationError as err:
            mapped = from_engine(err)
            if mapped is None:
                raise
            raise mapped from None

    async def execution(
        self, mode: str, fn: Callable[[], Execution], *, on_loop: bool = False
    ) -> Execution:
        """Run ``fn`` (on a worker thread, or here when ``on_loop``), record and answer it."""
        started = time.perf_counter()
        if on_loop:
            try:
                result = fn()
            except ConstellationError as err:
                mapped = from_engine(err)
                if mapped is None:
                    raise
                raise mapped from None
        else:
            result = await self.engine(fn, execution=True)
        seconds = time.perf_counter() - started
        self.state.metrics.execution(mode, result.status, seconds, result.calls)
        if execution_log.isEnabledFor(logging.INFO):
            execution_log.info(
                "%s execution %s %s in %.1f ms",
                mode,
                result.execution_id,
                result.status,
                seconds * 1000,
                extra={
                    "event": {
                        "mode": mode,
                        "status": result.status,
                        "executionId": result.execution_id,
                        "structuralHash": result.structural_hash,
                        "durationMs": round(seconds * 1000, 3),
                        "requestId": self.request_id,
                    }
                },
            )
        self.reply(result.to_json())
        return result


# -- executing ------------------------------------------------------------------------------


class RunHandler(EngineHandler):
    async def post(self) -> None:
        body = self.fields(("source", "inputs"), required=True)
        source = body.string("source", required=True)
        inputs = body.object("inputs", self.state.config.max_inputs)
        engine = self.state.engine
        await self.execution("hot", lambda: engine.run(source or "", inputs))


class ExecuteHandler(EngineHandler):
    async def post(self) -> None:
        body = self.fields(("ref", "inputs"), required=True)
        ref = body.string("ref", required=True) or ""
        inputs = body.object("inputs", self.state.config.max_inputs)
        engine, fast = self.state.engine, self.state.fast
        chosen = fast.candidate(engine, ref, inputs)
        if chosen is not None:
            pipeline, name = chosen
            result = await self.execution(
                "cold",
                lambda: engine.execute_pipeline(pipeline, inputs, name=name),
                on_loop=True,
            )
        else:
            result = await self.execution("cold", lambda: engine.execute(ref, inputs))
        if result.status != "suspended":
            # The engine's own time: what the modules took, not the hand-off or the answer.
            fast.observe(engine, ref, result.structural_hash, result.duration_ms / 1000.0)


class ResumeHandler(EngineHandler):
    async def post(self, execution_id: str) -> None:
        body = self.fields(("additionalInputs", "resolvedNodes"))
        limit = self.state.config.max_inputs
        inputs = body.object("additionalInputs", limit)
        resolved = body.object("resolvedNodes", limit)
        engine = self.state.engine

        def resume() -> Execution:
            try:
                return engine.resume(execution_id, inputs, resolved)
            except InputError:
                # A resume that arrives after a concurrent one finished finds the execution
                # completed: it lost the same race as one that found it claimed.
                record = engine.store.get_execution(execution_id)
                if record is not None and record.status != "suspended":
                    raise ResumeConflict(
                        f"Execution '{execution_id}' was already resumed ({record.status}); "
                        f"read its result with GET /executions/{execution_id}"
                    ) from None
                raise

        await self.execution("resume", resume)


class CompileHandler(EngineHandler):
    async def post(self) -> None:
        body = self.fields(("source", "name"), required=True)
        source = body.string("source", required=True) or ""
        name = body.string("name")
        engine = self.state.engine

        def compile_() -> dict[str, object]:
            pipeline = engine.compile(source, name=name)
            version = engine.store.get_name(name) if name is not None else None
            nodes = {node.id: node for node in pipeline.nodes}
            return {
                "structuralHash": pipeline.structural_hash,
                "syntacticHash": pipeline.syntactic_hash,
                "name": name,
                "version": None if version is None else version.version,
                "inputs": {spec.name: show(spec.type) for spec in pipeline.inputs},
                "outputs": {out: show(nodes[nid].type) for out, nid in pipeline.outputs},
                "warnings": [d.to_json() for d in pipeline.warnings],
            }

        self.reply(await self.engine(compile_))


# -- executions -----------------------------------------------------------------------------


def execution_summary(record: ExecutionRecord) -> dict[str, object]:
    count = record.state.get("resumptions", 0)
    return {
        "executionId": record.execution_id,
        "status": record.status,
        "structuralHash": record.structural_hash,
        "pipelineName": record.pipeline_name,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "expiresAt": record.expires_at,
        "resumptionCount": count if isinstance(count, int) else 0,
    }


class ExecutionsHandler(EngineHandler):
    async def get(self) -> None:
        args = self.request.query_arguments
        known = ("status", "pipeline", "limit", "cursor")
        for key, values in args.items():
            if key not in known:
                raise bad_request(f"Unknown query parameter '{key}'; expected: {', '.join(known)}")
            if len(values) > 1:
                raise bad_request(f"The query parameter '{key}' is given more than once")
        status = self.get_query_argument("status", None)
        if status is not None and status not in STATUSES:
            expected = ", ".join(sorted(STATUSES))
            raise bad_request(f"Unknown status '{status}' in the query; expected one of {expected}")
        limit_text = self.get_query_argument("limit", "100")
        if not _DIGITS.fullmatch(limit_text) or not 1 <= int(limit_text) <= 500:
            raise bad_request(f"The query parameter 'limit' must be 1 to 500, not '{limit_text}'")
        pipeline = self.get_query_argument("pipeline", None) or None
        cursor = self.get_query_argument("cursor", None) or None
        engine = self.state.engine

        def page() -> tuple[list[ExecutionRecord], str | None]:
            try:
                return engine.executions(
                    status=status, pipeline=pipeline, limit=int(limit_text), cursor=cursor
                )
            except RecursionError:  # a cursor of deeply nested JSON: not one of ours
                raise InputError(
                    "The cursor is not valid: pass the nextCursor of a previous listing"
                ) from None

        records, next_cursor = await self.engine(page)
        self.reply(
            {"executions": [execution_summary(r) for r in records], "nextCursor": next_cursor}
        )


class ExecutionHandler(EngineHandler):
    async def get(self, execution_id: str) -> None:
        engine = self.state.engine

        def detail() -> dict[str, object]:
            record = engine.execution(execution_id)
            body = execution_summary(record)
            summary = record.summary
            for key, empty in (
                ("outputs", {}),
                ("missingInputs", {}),
                ("inputSchema", {}),
                ("pendingOutputs", []),
                ("error", None),
                ("errors", []),
                ("warnings", []),
            ):
                body[key] = summary.get(key, empty)
            body["nodes"] = _node_states(engine.store, record)
            return body

        self.reply(await self.engine(detail))

    async def delete(self, execution_id: str) -> None:
        engine = self.state.engine
        await self.engine(lambda: engine.delete_execution(execution_id))
        self.reply({"deleted": True})


def _node_states(store: Store, record: ExecutionRecord) -> list[dict[str, object]]:
    """Each node of the execution's pipeline and how far it got, from what was saved.

    A suspended execution saves the values it computed; a finished one only its summary,
    where failed nodes are listed.
    """
    pipeline = load_image(store, record.structural_hash)
    saved = record.state.get("values", {})
    done = set(saved) if isinstance(saved, Mapping) else set()
    errors = record.summary.get("errors", [])
    failed = (
        {e.get("node") for e in errors if isinstance(e, dict)}
        if isinstance(errors, list)
        else set()
    )
    nodes: list[dict[str, object]] = []
    for node in pipeline.nodes:
        if node.id in failed:
            state = "failed"
        elif record.status in TERMINAL:
            state = "completed" if record.status == "completed" else "not-run"
        else:
            state = "completed" if node.id in done else "waiting"
        nodes.append({"id": node.id, "name": node.name, "kind": node.kind, "state": state})
    return nodes


# -- pipelines ------------------------------------------------------------------------------


def _image_summary(image: ImageRecord, names: list[str]) -> dict[str, object]:
    return {
        "structuralHash": image.structural_hash,
        "names": names,
        "inputs": dict(image.inputs),
        "outputs": dict(image.outputs),
        "createdAt": image.created_at,
    }


class PipelinesHandler(EngineHandler):
    async def get(self) -> None:
        store = self.state.engine.store

        def listing() -> list[dict[str, object]]:
            return [
                _image_summary(i, store.names_for(i.structural_hash)) for i in store.list_images()
            ]

        self.reply({"pipelines": await self.engine(listing)})


class PipelineHandler(EngineHandler):
    async def get(self, ref: str) -> None:
        store = self.state.engine.store

        def detail() -> dict[str, object]:
            structural_hash, _ = resolve_ref(store, ref)
            image = store.get_image(structural_hash)
            if image is None:
                raise ApiError(404, "NotFound", f"No pipeline with hash {structural_hash}")
            pipeline = load_image(store, structural_hash)
            body = _image_summary(image, store.names_for(structural_hash))
            body.update(
                {
                    "ref": ref,
                    "syntacticHash": image.syntactic_hash,
                    "source": image.source,
                    "dag": dag_json(pipeline),
                    "dot": to_dot(pipeline),
                }
            )
            return body

        self.reply(await self.engine(detail))

    async def delete(self, ref: str) -> None:
        engine = self.state.engine

        def delete() -> None:
            structural_hash = hash_ref(ref)
            if structural_hash is not None and engine.store.executions_using(structural_hash):
                raise _in_use(structural_hash)
            try:
                engine.delete_pipeline(ref)
            except InputError:  # a suspended execution started in between
                raise _in_use(structural_hash or ref) from None

        await self.engine(delete)
        self.reply({"deleted": True})


def _in_use(what: str) -> ApiError:
    return ApiError(
        409,
        "PipelineInUse",
        f"Pipeline {what} is needed by suspended executions; resume or delete them first",
    )


class VersionsHandler(EngineHandler):
    async def get(self, name: str) -> None:
        store = self.state.engine.store
        versions = await self.engine(lambda: store.name_versions(name))
        if not versions:
            raise ApiError(404, "NotFound", f"No pipeline named '{name}'")
        active = next((v.version for v in versions if v.active), None)
        self.reply(
            {
                "name": name,
                "activeVersion": active,
                "versions": [
                    {
                        "version": v.version,
                        "structuralHash": v.structural_hash,
                        "createdAt": v.created_at,
                        "active": v.active,
                    }
                    for v in versions
                ],
            }
        )


class RollbackHandler(EngineHandler):
    async def post(self, name: str) -> None:
        body = self.fields(("version",))
        version = body.integer("version")
        engine = self.state.engine

        def rollback() -> dict[str, object]:
            try:
                active = engine.rollback(name, version)
            except InputError as err:  # at the first version: nothing to roll back to
                raise ApiError(409, "NothingToRollBack", str(err)) from None
            return {
                "name": name,
                "activeVersion": active.version,
                "structuralHash": active.structural_hash,
            }

        self.reply(await self.engine(rollback))


# -- modules, health, metrics, the document -------------------------------------------------


class ModulesHandler(ApiHandler):
    def get(self) -> None:
        modules = [
            {
                "name": m.name,
                "namespace": m.namespace,
                "qualifiedName": m.qualified_name,
                "params": [{"name": p.name, "type": show(p.type)} for p in m.signature.params],
                "returns": show(m.signature.result),
                "description": m.description,
                "options": {k: _jsonable(v) for k, v in m.options.items()},
            }
            for m in sorted(self.state.engine.registry, key=lambda m: m.qualified_name)
        ]
        self.reply({"modules": modules})


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class HealthHandler(ApiHandler):
    """``/health``: up and not draining (no store access: cheap enough for any probe)."""

    def get(self) -> None:
        if self.state.draining:
            raise _draining()
        self.reply({"status": "ok"})


class LiveHandler(ApiHandler):
    """``/health/live``: the process answers; nothing else is checked."""

    def get(self) -> None:
        self.reply({"status": "ok"})


class ReadyHandler(EngineHandler):
    """``/health/ready``: not draining and the store answers; lists pipelines that failed."""

    async def get(self) -> None:
        state = self.state
        failed = [{"name": n, "error": m} for n, m in sorted(state.pipeline_errors.items())]
        if state.draining:
            raise _draining(failed)
        store = state.engine.store
        try:
            await state.call(lambda: store.get_name("health-check"))
        except ConstellationError as err:
            raise ApiError(
                503,
                "NotReady",
                f"The store does not answer: {err}",
                extra={"status": "unavailable", "failedPipelines": failed},
            ) from None
        self.reply({"status": "ok", "store": "ok", "failedPipelines": failed})


def _draining(failed: list[dict[str, str]] | None = None) -> ApiError:
    return ApiError(
        503,
        "Draining",
        "The service is shutting down and takes no new work; use another instance",
        extra={"status": "draining", "failedPipelines": failed or []},
    )


class MetricsHandler(EngineHandler):
    async def get(self) -> None:
        engine = self.state.engine

        def scrape() -> Scraped:
            return Scraped(
                suspended=engine.store.count_executions("suspended"),
                compile_cache_hits=engine.compile_cache_hits,
                compile_cache_misses=engine.compile_cache_misses,
                module_cache_hits=module_cache_hits(engine.policies.stats()),
            )

        text = self.state.metrics.render(await self.engine(scrape))
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(text.encode())


class OpenApiHandler(ApiHandler):
    def get(self) -> None:
        self.reply(self.state.openapi)
