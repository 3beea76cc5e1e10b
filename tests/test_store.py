"""The store contract: one suite, run against every Store implementation.

Then what only the folder store has: reopening, corrupt files, the single-owner lock.
Crashes are in test_store_crash.py; the growth of write cost is in benchmarks/store.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)
from tinydb import TinyDB

from constellation.errors import InputError, NotFound, StoreError
from constellation.store import (
    ExecutionRecord,
    ExecutionStatus,
    ImageRecord,
    MemoryStore,
    NameVersion,
    Store,
)
from constellation.tinydb_store import TinyDBStore

KINDS = ["memory", "tinydb"]


def h(n: int | str) -> str:
    """A structural hash (64 hex), distinct for each ``n``."""
    return hashlib.sha256(str(n).encode()).hexdigest()


H1, H2, H3 = h(1), h(2), h(3)


def image(structural_hash: str = H1, created_at: float = 1.0, **ir: object) -> ImageRecord:
    return ImageRecord(
        structural_hash=structural_hash,
        syntactic_hash=h("text" + structural_hash),
        source="in x: Int\nout x\n",
        ir={"nodes": [{"id": "x", "kind": "input"}], **ir},
        inputs={"x": "Int"},
        outputs={"x": "Int"},
        created_at=created_at,
    )


def execution(
    execution_id: str = "e1",
    *,
    status: ExecutionStatus = "suspended",
    version: int = 1,
    structural_hash: str = H1,
    pipeline_name: str | None = "greet",
    state: dict[str, Any] | None = None,
    created_at: float = 100.0,
    updated_at: float | None = None,
    expires_at: float | None = None,
) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=execution_id,
        structural_hash=structural_hash,
        pipeline_name=pipeline_name,
        status=status,
        version=version,
        state={"inputs": {"x": 1}, "nodes": {}} if state is None else state,
        summary={"status": status},
        created_at=created_at,
        updated_at=created_at if updated_at is None else updated_at,
        expires_at=expires_at,
    )


def next_version(
    record: ExecutionRecord, status: ExecutionStatus, **changes: Any
) -> ExecutionRecord:
    fields = {
        "execution_id": record.execution_id,
        "structural_hash": record.structural_hash,
        "pipeline_name": record.pipeline_name,
        "status": status,
        "version": record.version + 1,
        "state": record.state,
        "summary": {"status": status},
        "created_at": record.created_at,
        "updated_at": record.updated_at + 1,
        "expires_at": record.expires_at,
    }
    return ExecutionRecord(**{**fields, **changes})


class Opener:
    """Opens (and reopens) one kind of store; closes whatever it opened at the end."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind = kind
        self.folder = folder
        self.opened: list[Store] = []

    def open(self, **options: Any) -> Store:
        store: Store
        if self.kind == "memory":
            store = MemoryStore(**options)
        else:
            store = TinyDBStore(self.folder, **options)
        self.opened.append(store)
        return store

    def reopen(self, store: Store, **options: Any) -> Store:
        """The same data through a new store object (a memory store is its own reopening)."""
        if self.kind == "memory":
            return store
        store.close()
        return self.open(**options)

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


@pytest.fixture(params=KINDS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opener = Opener(request.param, tmp_path / "store")
    yield opener
    opener.close_all()


@pytest.fixture
def store(opener: Opener) -> Store:
    return opener.open()


def all_executions(store: Store, **filters: Any) -> list[ExecutionRecord]:
    """Every page of a listing, concatenated."""
    out: list[ExecutionRecord] = []
    cursor = None
    while True:
        page, cursor = store.list_executions(limit=7, cursor=cursor, **filters)
        out.extend(page)
        if cursor is None:
            return out


# -- images -----------------------------------------------------------------------------------


def test_an_image_round_trips(store: Store) -> None:
    """What is put is what is got, field for field."""
    store.put_image(image(H1))
    assert store.get_image(H1) == image(H1)
    assert store.get_image(H2) is None


def test_putting_an_image_twice_keeps_the_first(store: Store) -> None:
    """Images are stored by hash: a second put of the same hash changes nothing."""
    store.put_image(image(H1, created_at=1.0))
    store.put_image(image(H1, created_at=2.0))
    assert store.get_image(H1) == image(H1, created_at=1.0)
    assert store.list_images() == [image(H1, created_at=1.0)]


def test_images_are_listed_oldest_first_and_deleted(store: Store) -> None:
    """list_images is ordered by creation time; delete says whether there was one."""
    store.put_image(image(H2, created_at=2.0))
    store.put_image(image(H1, created_at=3.0))
    store.put_image(image(H3, created_at=1.0))
    assert [i.structural_hash for i in store.list_images()] == [H3, H2, H1]
    assert store.delete_image(H2) is True
    assert store.delete_image(H2) is False
    assert store.get_image(H2) is None
    assert [i.structural_hash for i in store.list_images()] == [H3, H1]


def test_a_hash_that_cannot_be_a_file_name_is_refused(store: Store) -> None:
    """Keys become file names in a folder store: every store refuses the same ones."""
    with pytest.raises(ValueError, match="is not a store key"):
        store.put_image(image("../escape"))
    with pytest.raises(ValueError, match="is not a store key"):
        store.create_execution(execution("a/b"))
    assert store.get_execution("../../etc/passwd") is None
    assert store.get_image("..") is None


def test_executions_using_counts_suspended_and_resuming_only(store: Store) -> None:
    """An image is needed while an execution pinned to it can still be resumed."""
    store.create_execution(execution("s", status="suspended"))
    store.create_execution(execution("r", status="resuming"))
    store.create_execution(execution("c", status="completed"))
    store.create_execution(execution("f", status="failed"))
    store.create_execution(execution("other", structural_hash=H2))
    assert store.executions_using(H1) == 2
    assert store.executions_using(H2) == 1
    assert store.executions_using(H3) == 0


# -- names and versions -----------------------------------------------------------------------


def test_pointing_a_name_versions_only_when_the_hash_changes(store: Store) -> None:
    """Recompiling the same pipeline under its name records no new version."""
    assert store.point_name("greet", H1, 10.0) == NameVersion("greet", 1, H1, 10.0, True)
    assert store.point_name("greet", H1, 11.0) == NameVersion("greet", 1, H1, 10.0, True)
    assert store.point_name("greet", H2, 12.0) == NameVersion("greet", 2, H2, 12.0, True)
    assert store.name_versions("greet") == [
        NameVersion("greet", 1, H1, 10.0, False),
        NameVersion("greet", 2, H2, 12.0, True),
    ]
    assert store.get_name("greet") == NameVersion("greet", 2, H2, 12.0, True)
    assert store.get_name("other") is None
    assert store.name_versions("other") == []


def test_activate_rolls_back_and_the_next_change_gets_a_new_number(store: Store) -> None:
    """Rollback makes an old version active; pointing again numbers after the highest."""
    store.point_name("greet", H1, 10.0)
    store.point_name("greet", H2, 11.0)
    assert store.activate("greet", 1) == NameVersion("greet", 1, H1, 10.0, True)
    assert store.get_name("greet") == NameVersion("greet", 1, H1, 10.0, True)
    assert store.activate("greet", 1) == NameVersion("greet", 1, H1, 10.0, True)
    assert store.point_name("greet", H2, 12.0) == NameVersion("greet", 3, H2, 12.0, True)
    assert [v.version for v in store.name_versions("greet")] == [1, 2, 3]


def test_a_name_read_before_every_change_reads_each_change(store: Store) -> None:
    """The active version is kept decoded between reads: every write of the name shows."""
    store.point_name("greet", H1, 1.0)
    assert store.get_name("greet") == NameVersion("greet", 1, H1, 1.0, True)
    store.point_name("greet", H2, 2.0)
    assert store.get_name("greet") == NameVersion("greet", 2, H2, 2.0, True)
    store.activate("greet", 1)
    assert store.get_name("greet") == NameVersion("greet", 1, H1, 1.0, True)
    store.delete_name("greet")
    assert store.get_name("greet") is None
    store.point_name("greet", H3, 3.0)
    assert store.get_name("greet") == NameVersion("greet", 1, H3, 3.0, True)


def test_a_reopened_store_reads_the_active_version_from_disk(opener: Opener) -> None:
    """Nothing of the decoded names outlives the store that wrote them."""
    first = opener.open()
    first.point_name("greet", H1, 1.0)
    first.point_name("greet", H2, 2.0)
    assert first.get_name("greet") == NameVersion("greet", 2, H2, 2.0, True)
    first.activate("greet", 1)
    assert opener.reopen(first).get_name("greet") == NameVersion("greet", 1, H1, 1.0, True)


def test_activating_an_unknown_version_is_not_found(store: Store) -> None:
    """NotFound (a LookupError) names the name and the versions there are."""
    store.point_name("greet", H1, 10.0)
    with pytest.raises(NotFound, match=r"'greet' has no version 5 \(versions: 1\)"):
        store.activate("greet", 5)
    with pytest.raises(LookupError, match="the name is unknown"):
        store.activate("nobody", 1)


def test_names_for_lists_names_whose_active_version_points_at_the_hash(store: Store) -> None:
    """Only active versions count: a rolled-forward name no longer uses the old image."""
    store.point_name("b", H1, 1.0)
    store.point_name("a", H1, 1.0)
    store.point_name("c", H1, 1.0)
    store.point_name("c", H2, 2.0)
    assert store.names_for(H1) == ["a", "b"]
    assert store.names_for(H2) == ["c"]
    assert store.names_for(H3) == []


def test_deleting_a_name_removes_its_versions(store: Store) -> None:
    """The name and its versions go; deleting it again says there was none."""
    store.point_name("greet", H1, 1.0)
    store.point_name("greet", H2, 2.0)
    store.put_image(image(H1))
    assert store.delete_name("greet") is True
    assert store.delete_name("greet") is False
    assert store.get_name("greet") is None
    assert store.name_versions("greet") == []
    assert store.get_image(H1) == image(H1)
    assert store.point_name("greet", H2, 3.0) == NameVersion("greet", 1, H2, 3.0, True)


# -- executions -------------------------------------------------------------------------------


def test_an_execution_round_trips_and_ids_are_unique(store: Store) -> None:
    """create, get; a second create with the same id is a StoreError."""
    record = execution("e1", expires_at=500.0, pipeline_name=None)
    store.create_execution(record)
    assert store.get_execution("e1") == record
    assert store.get_execution("e2") is None
    with pytest.raises(StoreError, match="execution e1 already exists"):
        store.create_execution(execution("e1", status="completed"))
    assert store.get_execution("e1") == record


def test_records_are_copies_both_ways(store: Store) -> None:
    """Changing a dict after writing it, or one read back, does not change the store."""
    state: dict[str, Any] = {"nodes": {"a": [1, 2]}}
    store.create_execution(execution("e1", state=state))
    state["nodes"]["a"].append(3)
    got = store.get_execution("e1")
    assert got is not None
    assert got.state == {"nodes": {"a": [1, 2]}}
    got.state["nodes"]["a"].append(4)  # type: ignore[index]
    again = store.get_execution("e1")
    assert again is not None
    assert again.state == {"nodes": {"a": [1, 2]}}


def test_compare_and_set_has_one_winner(store: Store) -> None:
    """The first write from version 1 wins; a second from version 1 loses and writes nothing."""
    first = execution("e1")
    store.create_execution(first)
    resuming = next_version(first, "resuming")
    assert store.compare_and_set(resuming, 1) is True
    assert store.compare_and_set(next_version(first, "failed"), 1) is False
    assert store.get_execution("e1") == resuming
    done = next_version(resuming, "completed")
    assert store.compare_and_set(done, 2) is True
    assert store.get_execution("e1") == done


def test_compare_and_set_on_a_missing_execution_is_false(store: Store) -> None:
    """Nothing to compare with: False, and nothing is created."""
    assert store.compare_and_set(next_version(execution("ghost"), "resuming"), 1) is False
    assert store.get_execution("ghost") is None


def test_compare_and_set_must_write_the_next_version(store: Store) -> None:
    """Writing a version other than expected + 1 is a programming error."""
    store.create_execution(execution("e1"))
    with pytest.raises(ValueError, match="from version 1 must write version 2, not 3"):
        store.compare_and_set(execution("e1", version=3), 1)
    assert store.get_execution("e1") == execution("e1")


def test_eight_threads_racing_on_one_record_make_one_winner(store: Store) -> None:
    """8 compare-and-sets from the same version, released together: exactly one is True."""
    first = execution("e1")
    store.create_execution(first)
    start = threading.Barrier(8)
    results: dict[int, bool] = {}

    def resume(n: int) -> None:
        start.wait()
        results[n] = store.compare_and_set(next_version(first, "resuming", state={"by": n}), 1)

    threads = [threading.Thread(target=resume, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for n, won in results.items() if won]
    assert len(results) == 8
    assert len(winners) == 1
    stored = store.get_execution("e1")
    assert stored is not None
    assert (stored.version, stored.state) == (2, {"by": winners[0]})


def test_deleting_an_execution(store: Store) -> None:
    """delete says whether there was one; a deleted id can be created again."""
    store.create_execution(execution("e1"))
    assert store.delete_execution("e1") is True
    assert store.delete_execution("e1") is False
    assert store.get_execution("e1") is None
    store.create_execution(execution("e1", status="completed"))
    assert store.get_execution("e1") == execution("e1", status="completed")


def fill_for_listing(store: Store) -> None:
    statuses: list[ExecutionStatus] = ["suspended", "completed", "failed", "resuming"]
    for n in range(20):
        store.create_execution(
            execution(
                f"e{n:02d}",
                status=statuses[n % 4],
                created_at=float(n // 2),  # pairs share a time: the id breaks the tie
                pipeline_name="greet" if n % 3 else None,
                structural_hash=H1 if n < 10 else H2,
            )
        )


def test_listing_is_newest_first_with_the_id_breaking_ties(store: Store) -> None:
    """Order: created_at descending, then id descending; pages join up exactly."""
    fill_for_listing(store)
    ids = [r.execution_id for r in all_executions(store)]
    assert ids == [f"e{n:02d}" for n in range(19, -1, -1)]
    page, cursor = store.list_executions(limit=20)
    assert [r.execution_id for r in page] == ids
    assert cursor is None


def test_listing_pages_with_a_cursor(store: Store) -> None:
    """limit bounds a page; the cursor continues it; None marks the last page."""
    fill_for_listing(store)
    first, cursor = store.list_executions(limit=8)
    assert [r.execution_id for r in first] == [f"e{n:02d}" for n in range(19, 11, -1)]
    assert isinstance(cursor, str)
    second, cursor = store.list_executions(limit=8, cursor=cursor)
    assert [r.execution_id for r in second] == [f"e{n:02d}" for n in range(11, 3, -1)]
    third, cursor = store.list_executions(limit=8, cursor=cursor)
    assert [r.execution_id for r in third] == ["e03", "e02", "e01", "e00"]
    assert cursor is None


def test_a_cursor_survives_deletions(store: Store) -> None:
    """Deleting records between pages neither repeats nor skips the others."""
    fill_for_listing(store)
    first, cursor = store.list_executions(limit=5)
    store.delete_execution("e15")  # the last of the first page
    store.delete_execution("e14")  # the first of the next
    rest, _ = store.list_executions(limit=100, cursor=cursor)
    assert [r.execution_id for r in first + rest] == [
        f"e{n:02d}" for n in range(19, -1, -1) if n != 14
    ]


def test_listing_filters_by_status_and_pipeline(store: Store) -> None:
    """status filters exactly; pipeline matches a name or a structural hash."""
    fill_for_listing(store)
    suspended = [r.execution_id for r in all_executions(store, status="suspended")]
    assert suspended == ["e16", "e12", "e08", "e04", "e00"]
    named = [r.execution_id for r in all_executions(store, pipeline="greet")]
    assert named == [f"e{n:02d}" for n in range(19, -1, -1) if n % 3]
    by_hash = [r.execution_id for r in all_executions(store, pipeline=H2)]
    assert by_hash == [f"e{n:02d}" for n in range(19, 9, -1)]
    both = store.list_executions(status="failed", pipeline="greet", limit=2)
    assert [r.execution_id for r in both[0]] == ["e14", "e10"]
    rest, end = store.list_executions(status="failed", pipeline="greet", cursor=both[1])
    assert ([r.execution_id for r in rest], end) == (["e02"], None)
    assert store.list_executions(pipeline="nobody") == ([], None)


def test_counting_agrees_with_listing(store: Store) -> None:
    """count_executions counts what listing would return, in all and by status."""
    fill_for_listing(store)
    assert store.count_executions() == len(all_executions(store)) == 20
    for status in ("suspended", "completed", "failed"):
        assert store.count_executions(status) == len(all_executions(store, status=status))


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"status": "done"}, "unknown status 'done': expected one of completed, failed, "),
        ({"limit": 0}, "limit must be a positive integer, not 0"),
        ({"cursor": "not a cursor"}, "invalid cursor 'not a cursor'"),
        ({"cursor": "WzFd"}, "invalid cursor"),  # base64 of [1]
    ],
)
def test_bad_listing_arguments_are_input_errors(
    store: Store, filters: dict[str, Any], message: str
) -> None:
    """A bad query from a client is an InputError (a ValueError: HTTP 400)."""
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        store.list_executions(**filters)


def test_prune_follows_the_injected_clock(opener: Opener) -> None:
    """Terminal: retention after the last update. Suspended: retention after expiry. None: kept."""
    now = [0.0]
    store = opener.open(retention_seconds=100.0, clock=lambda: now[0])
    store.create_execution(execution("done", status="completed", updated_at=1_000.0))
    store.create_execution(execution("failed", status="failed", updated_at=1_050.0))
    store.create_execution(execution("waiting", expires_at=2_000.0))
    store.create_execution(execution("resuming", status="resuming", expires_at=2_000.0))
    store.create_execution(execution("forever", expires_at=None))
    now[0] = 1_100.0
    assert store.prune() == 0  # exactly at the limit: still kept
    now[0] = 1_100.5
    assert store.prune() == 1
    assert store.get_execution("done") is None
    assert store.prune(1_150.5) == 1
    # Expired at 2000 but still readable (for ExecutionExpired) until 2100.
    assert store.prune(2_099.0) == 0
    assert store.get_execution("waiting") is not None
    assert store.prune(2_100.5) == 2
    assert [r.execution_id for r in all_executions(store)] == ["forever"]
    assert store.prune(1e12) == 0


def test_retention_defaults_to_a_day(opener: Opener) -> None:
    """The default retention is 24 h; a negative one is refused."""
    assert opener.open().retention_seconds == 86_400.0
    with pytest.raises(ValueError, match="retention_seconds must be ≥ 0"):
        opener.open(retention_seconds=-1.0)


NON_JSON = {
    "nan": (math.nan, r"\$.state.bad is nan"),
    "infinity": (math.inf, r"\$.state.bad is inf"),
    "set": ({1, 2}, r"\$.state.bad is a Python set \(JSON holds dicts with string keys, "),
    "object": (object(), r"\$.state.bad is a Python object"),
    "int key": ({1: "x"}, r"\$.state.bad has the key 1 \(keys must be strings\)"),
    "tuple": ((1, 2), r"\$.state.bad is a Python tuple"),
    "bytes": (b"bytes", r"\$.state.bad is a Python bytes"),
    "deep nan": ([1, {"deep": [math.nan]}], r"\$.state.bad\[1\].deep\[0\] is nan"),
    "5000 digits": (10**5000, "Exceeds the limit"),
}


@pytest.mark.parametrize(("value", "message"), list(NON_JSON.values()), ids=list(NON_JSON))
def test_non_json_is_refused_before_any_write(opener: Opener, value: object, message: str) -> None:
    """create, compare-and-set and put_image refuse it; the store (and its folder) stay as they were."""
    store = opener.open()
    store.create_execution(execution("e1"))
    files = snapshot(opener.folder)
    with pytest.raises(StoreError, match="execution e2 is not JSON: " + message):
        store.create_execution(execution("e2", state={"bad": value}))
    with pytest.raises(StoreError, match="is not JSON"):
        store.compare_and_set(next_version(execution("e1"), "completed", state={"bad": value}), 1)
    with pytest.raises(StoreError, match="is not JSON"):
        store.put_image(image(H1, bad=value))
    assert store.get_execution("e2") is None
    assert store.get_execution("e1") == execution("e1")
    assert store.get_image(H1) is None
    assert snapshot(opener.folder) == files


# -- hypothesis: round trip and a model ------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@pytest.mark.parametrize("kind", KINDS)
def test_states_round_trip_exactly(kind: str, tmp_path: Path) -> None:
    """Nested values, unicode, large ints and floats come back equal, types and order included."""
    opener = Opener(kind, tmp_path / "store")
    store = opener.open()
    counter = iter(range(10**9))

    @settings(max_examples=60, deadline=None)
    @given(state=st.dictionaries(st.text(), json_values, max_size=6))
    def round_trip(state: dict[str, Any]) -> None:
        execution_id = f"e{next(counter)}"
        store.create_execution(execution(execution_id, state=state))
        got = store.get_execution(execution_id)
        assert got is not None
        assert got.state == state
        # == says 1 == 1.0 and 0.0 == -0.0; the JSON text tells them (and key order) apart.
        assert json.dumps(got.state) == json.dumps(state)

    try:
        round_trip()
    finally:
        opener.close_all()


class StoreMachine(RuleBasedStateMachine):
    """Create, suspend and resume, resume stale, expire, delete and reopen, against a dict."""

    kind = "memory"
    TTL = 50.0
    RETENTION = 20.0

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="store-machine-"))
        self.opener = Opener(self.kind, self.folder / "store")
        self.now = 1_000.0
        self.store = self.opener.open(retention_seconds=self.RETENTION, clock=lambda: self.now)
        self.model: dict[str, ExecutionRecord] = {}
        self.serial = 0

    ids = Bundle("ids")

    @rule(target=ids)
    def create(self) -> str:
        self.serial += 1
        self.now += 1
        record = execution(f"x{self.serial}", created_at=self.now, expires_at=self.now + self.TTL)
        self.store.create_execution(record)
        self.model[record.execution_id] = record
        return record.execution_id

    @rule(
        execution_id=ids, status=st.sampled_from(["suspended", "resuming", "completed", "failed"])
    )
    def resume(self, execution_id: str, status: ExecutionStatus) -> None:
        self.now += 1
        current = self.model.get(execution_id)
        if current is None:
            ghost = execution(execution_id, version=2)
            assert self.store.compare_and_set(ghost, 1) is False
            return
        new = next_version(current, status, updated_at=self.now, expires_at=self.now + self.TTL)
        assert self.store.compare_and_set(new, current.version) is True
        self.model[execution_id] = new

    @rule(execution_id=ids, behind=st.integers(1, 3))
    def stale_resume(self, execution_id: str, behind: int) -> None:
        current = self.model.get(execution_id)
        if current is None or current.version - behind < 1:
            return
        stale = current.version - behind
        loser = execution(execution_id, version=stale + 1, status="failed")
        assert self.store.compare_and_set(loser, stale) is False

    @rule(seconds=st.sampled_from([1.0, 30.0, 80.0]))
    def expire(self, seconds: float) -> None:
        self.now += seconds
        doomed = [
            i
            for i, r in self.model.items()
            if (r.updated_at if r.status in ("completed", "failed") else r.expires_at or math.inf)
            + self.RETENTION
            < self.now
        ]
        assert self.store.prune() == len(doomed)
        for execution_id in doomed:
            del self.model[execution_id]

    @rule(execution_id=consumes(ids))
    def delete(self, execution_id: str) -> None:
        assert self.store.delete_execution(execution_id) is (execution_id in self.model)
        self.model.pop(execution_id, None)

    @precondition(lambda self: self.kind != "memory")
    @rule()
    def reopen(self) -> None:
        self.store = self.opener.reopen(
            self.store, retention_seconds=self.RETENTION, clock=lambda: self.now
        )

    @invariant()
    def matches_the_model(self) -> None:
        listed = all_executions(self.store)
        expected = sorted(self.model.values(), key=lambda r: (r.created_at, r.execution_id))
        assert listed == expected[::-1]
        for execution_id, record in self.model.items():
            assert self.store.get_execution(execution_id) == record

    def teardown(self) -> None:
        self.opener.close_all()
        shutil.rmtree(self.folder)


class TinyDBStoreMachine(StoreMachine):
    kind = "tinydb"


FEW = settings(max_examples=25, stateful_step_count=15, deadline=None)
MANY = settings(max_examples=300, stateful_step_count=50, deadline=None)

TestMemoryStoreModel = StoreMachine.TestCase
TestMemoryStoreModel.settings = FEW
TestTinyDBStoreModel = TinyDBStoreMachine.TestCase
TestTinyDBStoreModel.settings = FEW


@pytest.mark.long
@pytest.mark.parametrize("machine", [StoreMachine, TinyDBStoreMachine])
def test_store_model_long(machine: type[StoreMachine]) -> None:
    """Reliability 7 at length: many more and longer runs of the model."""
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=MANY)


# -- concurrency ------------------------------------------------------------------------------


def test_eight_coroutines_writing_200_records_each(opener: Opener) -> None:
    """1,600 writes from 8 coroutines (through threads): 1,600 records, none twice, all parse."""
    store = opener.open()

    async def writer(n: int) -> None:
        for k in range(200):
            record = execution(f"c{n}-{k}", created_at=float(k), state={"n": n, "k": k})
            await asyncio.to_thread(store.create_execution, record)

    async def main() -> None:
        await asyncio.gather(*(writer(n) for n in range(8)))

    asyncio.run(main())
    ids = [r.execution_id for r in all_executions(store)]
    assert len(ids) == len(set(ids)) == 1_600
    if opener.kind == "tinydb":
        files = list((opener.folder / "executions").rglob("*.json"))
        assert len(files) == 1_600
        for path in files:
            doc = json.loads(path.read_bytes())
            assert doc["execution"]["1"]["execution_id"] == path.stem


# -- the folder store: files, reopening, corruption, the lock ---------------------------------


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (none for a memory store), by relative path."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def filled(folder: Path) -> Path:
    """A closed store with an image, a name and an execution."""
    with TinyDBStore(folder) as store:
        store.put_image(image(H1))
        store.point_name("greet", H1, 1.0)
        store.create_execution(execution("e1"))
    return folder


def execution_file(folder: Path, execution_id: str = "e1") -> Path:
    (path,) = (folder / "executions").glob(f"*/{execution_id}.json")
    return path


def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    """Images, names with versions, executions and their order come back from the folder."""
    folder = tmp_path / "store"
    with TinyDBStore(folder) as store:
        store.put_image(image(H1))
        store.point_name("greet", H1, 1.0)
        store.point_name("greet", H2, 2.0)
        store.activate("greet", 1)
        fill_for_listing(store)
        store.compare_and_set(next_version(execution("e03", status="resuming"), "completed"), 1)
        before = all_executions(store)
    with TinyDBStore(folder) as store:
        assert store.get_image(H1) == image(H1)
        assert store.name_versions("greet") == [
            NameVersion("greet", 1, H1, 1.0, True),
            NameVersion("greet", 2, H2, 2.0, False),
        ]
        assert all_executions(store) == before
        assert store.get_execution("e03") is not None
        assert store.get_execution("e03").status == "completed"  # type: ignore[union-attr]


def test_a_store_reopens_after_a_crash_without_its_index_cache(tmp_path: Path) -> None:
    """Without index.json (the process died) every record is read again, and nothing is lost."""
    folder = tmp_path / "store"
    with TinyDBStore(folder) as store:
        fill_for_listing(store)
        before = all_executions(store)
    assert (folder / "index.json").exists()
    store = TinyDBStore(folder)
    store.create_execution(execution("late", created_at=99.0))
    # A change deletes the cache before it touches a record: a crash now leaves none behind.
    assert not (folder / "index.json").exists()
    os.close(store._lock_fd)  # the process "dies": no close()
    with TinyDBStore(folder) as reopened:
        assert all_executions(reopened) == [execution("late", created_at=99.0), *before]


def test_files_are_tinydb_databases(tmp_path: Path) -> None:
    """Stock TinyDB (read-only) reads a record file as a one-document table."""
    folder = filled(tmp_path / "store")
    with TinyDB(execution_file(folder), access_mode="r") as db:
        (doc,) = db.table("execution").all()
    assert doc["execution_id"] == "e1"
    assert doc["state"] == {"inputs": {"x": 1}, "nodes": {}}
    with TinyDB(folder / "names.json", access_mode="r") as db:
        assert [d["name"] for d in db.table("names").all()] == ["greet"]


def test_leftover_temp_files_are_removed_and_unknown_files_kept(tmp_path: Path) -> None:
    """A crash can leave ``.name.xyz.tmp`` files; the next open removes them, and only them."""
    folder = filled(tmp_path / "store")
    shard = execution_file(folder).parent
    leftovers = [shard / ".e1.json.abc.tmp", folder / ".names.json.def.tmp"]
    for path in leftovers:
        path.write_bytes(b'{"half')
    kept = shard / "e9.json.bad"
    kept.write_bytes(b"moved away by an operator")
    with TinyDBStore(folder) as store:
        assert not any(p.exists() for p in leftovers)
        assert kept.exists()
        assert store.get_execution("e1") == execution("e1")


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda data: data[: len(data) // 2],
    "nul bytes": lambda data: b"\0" * len(data),
    "trailing garbage": lambda data: data + b"}garbage",
    "empty": lambda data: b"",
}
CORRUPT_FILES: dict[str, Callable[[Path], Path]] = {
    "execution": execution_file,
    "image": lambda folder: folder / "images" / f"{H1}.json",
    "names": lambda folder: folder / "names.json",
    "index": lambda folder: folder / "index.json",
    "marker": lambda folder: folder / "store.json",
}


@pytest.mark.parametrize("which", list(CORRUPT_FILES))
@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupt_file_stops_the_open_and_is_left_untouched(
    tmp_path: Path, which: str, corruption: str
) -> None:
    """StoreError naming the file and what to do; every file unchanged; a retry fails too."""
    folder = filled(tmp_path / "store")
    path = CORRUPT_FILES[which](folder)
    stat = path.stat()
    path.write_bytes(CORRUPTIONS[corruption](path.read_bytes()))
    # Damage shows in the mtime (a later write), even within the file system's clock tick.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    files = snapshot(folder)
    for _ in range(2):
        with pytest.raises(StoreError) as info:
            TinyDBStore(folder)
        message = str(info.value)
        assert f"store file {path} is unreadable: " in message
        assert "It was left as it is: " in message
        advice = "delete it" if which == "index" else "move it out of the store folder"
        assert advice in message
        assert snapshot(folder) == files


def test_a_record_damaged_behind_the_cache_fails_when_read(tmp_path: Path) -> None:
    """Same size and mtime (the cache trusts it): reading it raises, naming the file."""
    folder = filled(tmp_path / "store")
    path = execution_file(folder)
    stat = path.stat()
    path.write_bytes(b"\0" * stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with TinyDBStore(folder) as store:
        with pytest.raises(StoreError, match=f"store file {path} is unreadable: it is not JSON"):
            store.get_execution("e1")
        with pytest.raises(StoreError, match=f"store file {path} is unreadable"):
            store.list_executions()
    os.unlink(folder / "index.json")
    with pytest.raises(StoreError, match=f"store file {path} is unreadable"):
        TinyDBStore(folder)


def test_a_record_with_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    """Valid JSON that is not a record (a missing field) is refused like bad JSON."""
    folder = filled(tmp_path / "store")
    path = execution_file(folder)
    doc = json.loads(path.read_bytes())
    del doc["execution"]["1"]["version"]
    path.write_text(json.dumps(doc))
    os.unlink(folder / "index.json")
    with pytest.raises(StoreError, match="is unreadable: the field 'version' is missing"):
        TinyDBStore(folder)


def test_a_folder_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    """A non-empty folder without store.json is not taken over (nor its .tmp files removed)."""
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / ".draft.tmp").write_text("mine too")
    files = snapshot(tmp_path)
    with pytest.raises(StoreError, match=r"is not a Constellation store \(store.json is missing\)"):
        TinyDBStore(tmp_path)
    assert snapshot(tmp_path) == files


def test_a_closed_store_refuses_work(opener: Opener) -> None:
    """After close() every call is a StoreError; close() again is harmless."""
    store = opener.open()
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get_execution("e1")


def test_a_second_opener_in_the_same_process_is_refused(tmp_path: Path) -> None:
    """The lock is per open file, so even this process cannot open the folder twice."""
    with (
        TinyDBStore(tmp_path / "store"),
        pytest.raises(StoreError, match=f"is in use by pid {os.getpid()}"),
    ):
        TinyDBStore(tmp_path / "store")
    TinyDBStore(tmp_path / "store").close()


def test_lock_timeout_waits_then_gives_up(tmp_path: Path) -> None:
    """With lock_timeout the opener waits that long for the holder, then names it."""
    with TinyDBStore(tmp_path / "store"):
        started = time.monotonic()
        with pytest.raises(StoreError, match="in use by pid"):
            TinyDBStore(tmp_path / "store", lock_timeout=0.2)
        assert time.monotonic() - started >= 0.2


SECOND_OPENER = """
import sys, time
from constellation.errors import StoreError
from constellation.tinydb_store import TinyDBStore
started = time.monotonic()
try:
    TinyDBStore(sys.argv[1])
except StoreError as exc:
    print(f"{time.monotonic() - started:.3f}", exc)
"""


def test_a_second_process_is_refused_within_a_second(tmp_path: Path) -> None:
    """Reliability 4: StoreError naming the holder's pid, fast, and the files are unchanged."""
    folder = filled(tmp_path / "store")
    with TinyDBStore(folder):
        files = snapshot(folder)
        child = subprocess.run(
            [sys.executable, "-c", SECOND_OPENER, str(folder)],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds, message = child.stdout.split(" ", 1)
        assert float(seconds) < 1.0
        assert message.strip() == (
            f"store {folder} is in use by pid {os.getpid()}: stop that process, or open "
            "another folder"
        )
        assert snapshot(folder) == files


def test_a_creation_cut_short_is_completed(tmp_path: Path) -> None:
    """The lock, empty subfolders and the marker's temp file: the next open finishes the job."""
    folder = tmp_path / "store"
    (folder / "images").mkdir(parents=True)
    (folder / "executions").mkdir()
    (folder / "lock").write_text("12345\n")
    (folder / ".store.json.abc.tmp").write_text('{"st')
    with TinyDBStore(folder) as store:
        store.create_execution(execution("e1"))
    assert not (folder / ".store.json.abc.tmp").exists()
    with TinyDBStore(folder) as store:
        assert store.get_execution("e1") == execution("e1")
