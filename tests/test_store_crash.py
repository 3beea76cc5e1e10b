"""TinyDBStore under crashes (reliability 1 and 2): a child process writes and is killed.

The child is ``tests/store_writer.py``. The parent never sleeps: it reads the child's output
(one line per step of each write) up to a randomly chosen line, then sends SIGKILL.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from constellation.store import ExecutionRecord, NameVersion
from constellation.tinydb_store import TinyDBStore
from tests.store_writer import FAULT_EXIT, HASH, OTHER_HASH, content, image, size_of

WRITER = Path(__file__).with_name("store_writer.py")
PREFILL = 300  # records of 10 kB: a store of about 3 MB
PREFILL_SIZE = 10_000


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def stored(folder: Path) -> dict[str, ExecutionRecord]:
    """Open the store (it must open), check no temp file is left, and read every record."""
    with TinyDBStore(folder) as store:
        assert temp_files(folder) == []
        records, cursor = store.list_executions(limit=100_000)
        assert cursor is None
        return {r.execution_id: r for r in records}


@pytest.fixture(scope="module")
def prefilled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed store of a few MB; each trial works on a copy."""
    folder = tmp_path_factory.mktemp("prefilled") / "store"
    with TinyDBStore(folder) as store:
        for n in range(PREFILL):
            store.create_execution(content(f"p-{n}", 1, PREFILL_SIZE))
    return folder


def expected_states(log: str) -> tuple[dict[str, int], dict[str, int]]:
    """Versions by id after the acknowledged writes, and after the one in flight too."""
    acked = {f"p-{n}": 1 for n in range(PREFILL)}
    pending: list[str] | None = None
    for line in log.splitlines():
        if line == "ack":
            assert pending is not None
            _apply(acked, pending)
            pending = None
        else:
            pending = line.split()[1:]
    in_flight = dict(acked)
    if pending is not None:
        _apply(in_flight, pending)
    return acked, in_flight


def _apply(versions: dict[str, int], op: list[str]) -> None:
    kind, execution_id, version = op[0], op[1], int(op[2])
    if kind == "delete":
        del versions[execution_id]
    else:
        versions[execution_id] = version


def crash_trial(prefilled: Path, work: Path, seed: int) -> None:
    rng = random.Random(seed)
    folder, log = work / f"store-{seed}", work / f"log-{seed}"
    shutil.copytree(prefilled, folder)
    kill_after = rng.randrange(0, 400)
    with (work / f"stderr-{seed}").open("w+b") as errors:
        child = subprocess.Popen(
            [sys.executable, str(WRITER), "loop", str(folder), str(log), str(seed)],
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        assert child.stdout is not None
        lines = -1  # "ready" is the 0th
        for _ in child.stdout:
            lines += 1
            if lines >= kill_after:
                break
        child.kill()
        child.wait()
        child.stdout.close()
        errors.seek(0)
        assert lines >= kill_after, f"seed {seed}: the writer died: {errors.read().decode()}"

    acked, in_flight = expected_states(log.read_text() if log.exists() else "")
    records = stored(folder)
    found = {i: r.version for i, r in records.items()}
    assert found in (acked, in_flight), f"seed {seed}: the store differs from the log"
    for execution_id, record in records.items():
        prefilled_record = execution_id.startswith("p-") and record.version == 1
        size = PREFILL_SIZE if prefilled_record else size_of(execution_id, record.version)
        assert record == content(execution_id, record.version, size), f"seed {seed}"


def test_sigkill_during_writes_loses_nothing_acknowledged(prefilled: Path, tmp_path: Path) -> None:
    """Killed at random points: the store opens, holds every acknowledged write, no temp files."""
    for seed in range(4):
        crash_trial(prefilled, tmp_path, seed)


@pytest.mark.long
def test_sigkill_during_writes_many_trials(prefilled: Path, tmp_path: Path) -> None:
    """Reliability 1 in full: 120 kills at random points."""
    for seed in range(1000, 1120):
        crash_trial(prefilled, tmp_path, seed)
        shutil.rmtree(tmp_path / f"store-{seed}")


# -- a crash after each step of the write path (reliability 2) --------------------------------

WRITE_STEPS = ["temp-written", "temp-fsynced", "replaced", "dir-fsynced"]
# Before the rename the old file is in place; after it, the new one.
NEW_AFTER = {"replaced", "dir-fsynced", "removed"}
SCENARIOS = [
    *[(op, step) for op in ("create", "cas", "put_image", "point_name") for step in WRITE_STEPS],
    ("delete", "removed"),
    ("delete", "dir-fsynced"),
]


@dataclass(frozen=True, slots=True)
class Snapshot:
    executions: dict[str, ExecutionRecord]
    images: list[str]
    versions: list[NameVersion]


def snapshot(folder: Path) -> Snapshot:
    with TinyDBStore(folder) as store:
        assert temp_files(folder) == []
        records, _ = store.list_executions()
        return Snapshot(
            {r.execution_id: r for r in records},
            [i.structural_hash for i in store.list_images()],
            store.name_versions("p"),
        )


def new_state(old: Snapshot, operation: str) -> Snapshot:
    executions, images, versions = dict(old.executions), list(old.images), list(old.versions)
    if operation == "create":
        executions["e-2"] = content("e-2", 1)
    elif operation == "cas":
        executions["e-1"] = content("e-1", 2)
    elif operation == "delete":
        del executions["e-1"]
    elif operation == "put_image":
        images = sorted([*images, OTHER_HASH])
    else:
        versions = [
            NameVersion("p", 1, HASH, 1.0, False),
            NameVersion("p", 2, OTHER_HASH, 10.0, True),
        ]
    return Snapshot(executions, images, versions)


@pytest.fixture(scope="module")
def faulted(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """One child per scenario, all started at once; each exits inside its write."""
    root = tmp_path_factory.mktemp("faults")
    base = root / "base"
    with TinyDBStore(base) as store:
        store.put_image(image(HASH))
        store.point_name("p", HASH, 1.0)
        store.create_execution(content("e-1", 1))
    children = {}
    for operation, step in SCENARIOS:
        folder = root / f"{operation}-{step}"
        shutil.copytree(base, folder)
        children[operation, step] = (
            folder,
            subprocess.Popen(
                [sys.executable, str(WRITER), "fault", str(folder), operation, step],
                stderr=subprocess.PIPE,
            ),
        )
    for scenario, (_, child) in children.items():
        _, errors = child.communicate()
        assert child.returncode == FAULT_EXIT, f"{scenario}: {errors.decode()}"
    return {scenario: folder for scenario, (folder, _) in children.items()}


@pytest.mark.parametrize(("operation", "step"), SCENARIOS)
def test_a_crash_after_each_write_step_leaves_old_or_new(
    faulted: dict[tuple[str, str], Path], operation: str, step: str
) -> None:
    """Exiting right after a step leaves exactly the old state (before the rename) or the new."""
    folder = faulted[operation, step]
    base = folder.parent / "base"
    old = snapshot(base)
    expected = new_state(old, operation) if step in NEW_AFTER else old
    assert snapshot(folder) == expected
