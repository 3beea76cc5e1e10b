"""Pipelines and executions kept in a Store: refs, images, suspended state, resume claims.

The engine calls these to keep what outlives one call (engine.md §6): compiled images by
structural hash, names with versions, and suspended executions. A resume *claims* the
execution first (compare-and-set from ``suspended`` to ``resuming``), so of several
concurrent resumes exactly one runs anything, in threads or in processes sharing a store;
the others get :class:`ResumeConflict` before any module is called.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from constellation.codec import DecodeError, decode
from constellation.errors import (
    ExecutionExpired,
    InputError,
    NotFound,
    ResumeConflict,
    StoreError,
)
from constellation.execution import Execution
from constellation.ir import Pipeline
from constellation.store import ExecutionRecord, ImageRecord, Store, is_key
from constellation.suggest import did_you_mean
from constellation.types import show

HASH: Final = re.compile(r"[0-9a-f]{64}")
#: A claim that was never finished (the process died mid-resume) lapses after this long.
CLAIM_SECONDS: Final = 600.0


def check_name(name: str) -> str:
    """A valid pipeline name, or InputError saying what names look like."""
    if not is_key(name) or HASH.fullmatch(name):
        raise InputError(
            f"Invalid pipeline name '{name}': use 1–128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, and not 64 hex characters (that is a hash)"
        )
    return name


def image_of(pipeline: Pipeline, now: float) -> ImageRecord:
    nodes = {node.id: node for node in pipeline.nodes}
    return ImageRecord(
        structural_hash=pipeline.structural_hash,
        syntactic_hash=pipeline.syntactic_hash,
        source=pipeline.source,
        ir=pipeline.to_json(),
        inputs={spec.name: show(spec.type) for spec in pipeline.inputs},
        outputs={name: show(nodes[node_id].type) for name, node_id in pipeline.outputs},
        created_at=now,
    )


def hash_ref(ref: str) -> str | None:
    """The hash a ref spells (a 64-hex hash or ``sha256:<hash>``), or None for a name."""
    text = ref[len("sha256:") :] if ref.startswith("sha256:") else ref
    if HASH.fullmatch(text):
        return text
    if ref.startswith("sha256:"):
        raise InputError(f"'{ref}' is not a sha256 hash: expected 64 lower-case hex digits")
    return None


def resolve_ref(store: Store, ref: str) -> tuple[str, str | None]:
    """The structural hash a ref names (a hash, ``sha256:<hash>`` or a name), and the name."""
    structural_hash = hash_ref(ref)
    if structural_hash is not None:
        return structural_hash, None
    version = store.get_name(ref)
    if version is None:
        raise NotFound(f"No pipeline named '{ref}': compile it with that name first")
    return version.structural_hash, ref


def load_image(store: Store, structural_hash: str) -> Pipeline:
    """The stored pipeline, loaded without the parser or the checker."""
    image = store.get_image(structural_hash)
    if image is None:
        raise NotFound(f"No pipeline with hash {structural_hash}")
    try:
        pipeline = Pipeline.from_json(dict(image.ir))
    except ValueError as err:
        raise StoreError(
            f"The stored image {structural_hash} cannot be loaded ({err}); "
            "compile its source again to replace it"
        ) from None
    if pipeline.structural_hash != structural_hash:
        raise StoreError(
            f"The stored image {structural_hash} holds a pipeline with another hash "
            f"({pipeline.structural_hash}): the store was altered; compile the source again"
        )
    return pipeline


def suspended_record(
    result: Execution,
    state: Mapping[str, object],
    pipeline_name: str | None,
    now: float,
    ttl: float,
    *,
    version: int = 1,
    created_at: float | None = None,
) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=result.execution_id,
        structural_hash=result.structural_hash,
        pipeline_name=pipeline_name,
        status=result.status,
        version=version,
        state={**state, "resumptions": result.resumption_count},
        summary=result.to_json(),
        created_at=now if created_at is None else created_at,
        updated_at=now,
        expires_at=now + ttl if result.status == "suspended" else None,
    )


def open_for_resume(store: Store, execution_id: str, now: float) -> ExecutionRecord:
    """The suspended execution, or the error that says why it cannot be resumed."""
    record = store.get_execution(execution_id)
    if record is None:
        raise NotFound(f"No execution '{execution_id}' (it may have been deleted or pruned)")
    if record.status in ("completed", "failed"):
        raise InputError(
            f"Execution '{execution_id}' already {record.status}; read its result instead"
        )
    if record.expires_at is not None and record.expires_at < now:
        raise ExecutionExpired(
            f"Execution '{execution_id}' expired (it waited longer than its time to live); "
            "start a new execution"
        )
    if record.status == "resuming" and record.updated_at + CLAIM_SECONDS > now:
        raise ResumeConflict(f"Execution '{execution_id}' is being resumed by another caller")
    return record


def restore(
    pipeline: Pipeline,
    record: ExecutionRecord,
    resolved_nodes: Mapping[str, object],
) -> dict[int, object]:
    """Node values saved with the execution, plus the intermediate values a caller resolves."""
    values: dict[int, object] = {}
    saved = record.state.get("values", {})
    if not isinstance(saved, Mapping):
        raise StoreError(f"Execution '{record.execution_id}' has a damaged state")
    for node_id, raw in saved.items():
        i = pipeline.index.get(node_id)
        if i is None:
            raise StoreError(
                f"Execution '{record.execution_id}' saved a value for '{node_id}', "
                "which its pipeline does not have"
            )
        try:
            values[i] = decode(raw, pipeline.nodes[i].type)
        except DecodeError as err:
            raise StoreError(
                f"Execution '{record.execution_id}': the saved value of '{node_id}' is damaged ({err})"
            ) from None
    named = {
        node.name: i for i, node in enumerate(pipeline.nodes) if node.name and node.kind != "input"
    }
    for name, raw in resolved_nodes.items():
        i = named.get(name)
        if i is None:
            hint = did_you_mean(name, named)
            raise InputError(
                f"Unknown node '{name}': resolved nodes name assignments of the pipeline"
                + (f"; {hint}" if hint else "")
            )
        if i in values:
            raise InputError(f"Node '{name}' is already computed; it cannot be resolved again")
        try:
            values[i] = decode(raw, pipeline.nodes[i].type)
        except DecodeError as err:
            raise InputError(
                f"Node '{name}': {err} (it is declared as {show(pipeline.nodes[i].type)})"
            ) from None
    return values


def claim(store: Store, record: ExecutionRecord, now: float) -> ExecutionRecord:
    """Take the execution for this resume, or ResumeConflict if another caller was first."""
    claimed = replace(record, status="resuming", version=record.version + 1, updated_at=now)
    if not store.compare_and_set(claimed, record.version):
        raise ResumeConflict(
            f"Execution '{record.execution_id}' is being resumed by another caller"
        )
    return claimed


def release(store: Store, claimed: ExecutionRecord, original: ExecutionRecord, now: float) -> None:
    """Give a claimed execution back unchanged (the resume could not run)."""
    back = replace(original, version=claimed.version + 1, updated_at=now)
    store.compare_and_set(back, claimed.version)


def finish(store: Store, claimed: ExecutionRecord, final: ExecutionRecord) -> None:
    """Write the outcome of a resume over its claim."""
    if not store.compare_and_set(replace(final, version=claimed.version + 1), claimed.version):
        raise StoreError(f"Execution '{claimed.execution_id}' changed while it was being resumed")
