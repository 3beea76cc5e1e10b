"""The child process of the crash tests (tests/test_store_crash.py): writes, then gets killed.

``store_writer.py loop FOLDER LOG SEED`` writes through a TinyDBStore until it is killed: before
each operation it appends ``begin <op> <id> <version>`` to LOG, after it ``ack``. On stdout it
prints ``ready`` once the store is open, each step of the write path as it is done, and ``ack``:
the parent kills it after a random line, so kills land in every phase of a write.

``store_writer.py fault FOLDER OPERATION STEP`` performs one operation with a fault hook that
exits the process (status 70) right after STEP of the write path.
"""

from __future__ import annotations

import os
import random
import sys

from constellation.store import ExecutionRecord, ImageRecord
from constellation.tinydb_store import TinyDBStore

FAULT_EXIT = 70
HASH = "ab" * 32
OTHER_HASH = "cd" * 32


def content(execution_id: str, version: int, size: int = 2_000) -> ExecutionRecord:
    """The record a writer stores for (id, version): the parent checks against it."""
    return ExecutionRecord(
        execution_id=execution_id,
        structural_hash=HASH,
        pipeline_name="crash",
        status="suspended" if version % 2 else "completed",
        version=version,
        state={"id": execution_id, "version": version, "blob": "x" * size, "n": [version] * 8},
        summary={"status": "suspended" if version % 2 else "completed"},
        created_at=1_000.0 + int(execution_id.split("-")[1]),
        updated_at=1_000.0 + version,
        expires_at=None,
    )


def size_of(execution_id: str, version: int) -> int:
    # Varied sizes, so that kills land in short and long writes alike.
    return random.Random(f"{execution_id}/{version}").randrange(100, 40_000)


def image(structural_hash: str) -> ImageRecord:
    return ImageRecord(structural_hash, "s" * 64, "out x", {"nodes": []}, {}, {"x": "Int"}, 5.0)


def loop(folder: str, log_path: str, seed: int) -> None:
    rng = random.Random(seed)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    store = TinyDBStore(folder, fault_hook=lambda step: print(step, flush=True))
    versions = {r.execution_id: r.version for r in store.list_executions(limit=100_000)[0]}
    print("ready", flush=True)
    fresh = 100_000
    while True:
        op = rng.choice(["create", "create", "cas", "cas", "cas", "delete"])
        if op != "create" and not versions:
            op = "create"
        if op == "create":
            fresh += 1
            execution_id, version = f"w-{fresh}", 1
        else:
            execution_id = rng.choice(sorted(versions))
            version = versions[execution_id] + (op == "cas")
        # The log is written with os.write: it survives SIGKILL in the page cache.
        os.write(log, f"begin {op} {execution_id} {version}\n".encode())
        record = content(execution_id, version, size_of(execution_id, version))
        if op == "create":
            store.create_execution(record)
            versions[execution_id] = 1
        elif op == "cas":
            assert store.compare_and_set(record, version - 1)
            versions[execution_id] = version
        else:
            assert store.delete_execution(execution_id)
            del versions[execution_id]
        os.write(log, b"ack\n")
        print("ack", flush=True)


def fault(folder: str, operation: str, step: str) -> None:
    def hook(done: str) -> None:
        if done == step:
            os._exit(FAULT_EXIT)

    store = TinyDBStore(folder, fault_hook=hook)
    if operation == "create":
        store.create_execution(content("e-2", 1))
    elif operation == "cas":
        assert store.compare_and_set(content("e-1", 2), 1)
    elif operation == "delete":
        assert store.delete_execution("e-1")
    elif operation == "put_image":
        store.put_image(image(OTHER_HASH))
    elif operation == "point_name":
        store.point_name("p", OTHER_HASH, 10.0)
    else:
        raise SystemExit(f"unknown operation {operation}")
    # Reaching this line means the hook never fired: the parent fails the test.


if __name__ == "__main__":
    if sys.argv[1] == "loop":
        loop(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "fault":
        fault(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(__doc__)
