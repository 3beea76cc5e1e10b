"""Where compiled pipelines, their names and executions live between calls.

:class:`Store` is the protocol the engine talks to; :class:`MemoryStore` is its reference
implementation and :class:`~constellation.tinydb_store.TinyDBStore` the durable one. A third
(PostgreSQL) must fit the same protocol, so it asks for nothing a database cannot do with one
row per record: compare-and-set on a version number, listing with filters and a cursor, and
pruning by timestamps.

Everything stored is plain JSON. Records are encoded (and checked) before anything is written,
and every read returns fresh objects, so a caller never shares mutable state with a store.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, cast, get_args

from constellation.errors import InputError, NotFound, StoreError

ExecutionStatus = Literal["suspended", "resuming", "completed", "failed"]
STATUSES: frozenset[str] = frozenset(get_args(ExecutionStatus))
TERMINAL: frozenset[str] = frozenset({"completed", "failed"})
#: Suspended executions, and those whose resume is in progress, still need their image.
LIVE: frozenset[str] = frozenset({"suspended", "resuming"})

DEFAULT_RETENTION_SECONDS = 24 * 60 * 60.0

#: Execution ids and image hashes become file names in a folder store, so both stores accept
#: only keys that are safe as one (no separators, no leading dot) and the contract is the same.
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def is_key(text: str) -> bool:
    """Whether ``text`` can be an execution id or image hash (safe as a file name)."""
    return _KEY.fullmatch(text) is not None


def _check_key(text: str, what: str) -> None:
    if not is_key(text):
        raise ValueError(
            f"{what} {text!r} is not a store key: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """A compiled pipeline, stored by structural hash."""

    structural_hash: str
    syntactic_hash: str
    source: str
    #: ``Pipeline.to_json()``: opaque JSON to the store.
    ir: Mapping[str, object]
    #: Input and output names → type text.
    inputs: Mapping[str, str]
    outputs: Mapping[str, str]
    created_at: float


@dataclass(frozen=True, slots=True)
class NameVersion:
    """Version ``version`` of a name: which image it pointed at, and whether it is active."""

    name: str
    version: int
    structural_hash: str
    created_at: float
    active: bool


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """One execution as saved: ``state`` to resume it, ``summary`` to answer for it."""

    execution_id: str
    structural_hash: str
    pipeline_name: str | None
    status: ExecutionStatus
    #: The compare-and-set counter: 1 when created, one more on every accepted write.
    version: int
    #: Opaque JSON: provided inputs, node values, pending outputs…
    state: Mapping[str, object]
    #: Opaque JSON: the result body.
    summary: Mapping[str, object]
    created_at: float
    updated_at: float
    expires_at: float | None


# -- the protocol -----------------------------------------------------------------------------


class Store(Protocol):
    """What the engine needs from a store. Every implementation passes ``tests/test_store.py``."""

    #: How long terminal executions, and suspended ones past their expiry, stay readable.
    retention_seconds: float

    # images
    def put_image(self, image: ImageRecord) -> None:
        """Store ``image``; a second put of the same hash changes nothing."""
        ...

    def get_image(self, structural_hash: str) -> ImageRecord | None: ...

    def list_images(self) -> list[ImageRecord]:
        """Every image, oldest first."""
        ...

    def delete_image(self, structural_hash: str) -> bool:
        """Remove an image. The engine refuses first when :meth:`executions_using` is not 0."""
        ...

    def executions_using(self, structural_hash: str) -> int:
        """How many suspended (or resuming) executions are pinned to that image."""
        ...

    # names and versions
    def point_name(self, name: str, structural_hash: str, now: float) -> NameVersion:
        """Point ``name`` at an image, recording a new version only when the hash changes."""
        ...

    def get_name(self, name: str) -> NameVersion | None:
        """The active version of ``name``."""
        ...

    def name_versions(self, name: str) -> list[NameVersion]:
        """Every version of ``name``, ascending; empty for an unknown name."""
        ...

    def activate(self, name: str, version: int) -> NameVersion:
        """Make an existing version active (rollback); ``NotFound`` if there is none."""
        ...

    def delete_name(self, name: str) -> bool: ...

    def names_for(self, structural_hash: str) -> list[str]:
        """Names whose active version points at the image, sorted."""
        ...

    # executions
    def create_execution(self, record: ExecutionRecord) -> None:
        """Store a new execution; ``StoreError`` if the id exists."""
        ...

    def get_execution(self, execution_id: str) -> ExecutionRecord | None: ...

    def compare_and_set(self, record: ExecutionRecord, expected_version: int) -> bool:
        """Replace the stored execution only if its version is still ``expected_version``.

        ``record.version`` must be ``expected_version + 1``. Returns False, writing nothing,
        when another writer got there first (or the execution is gone).
        """
        ...

    def delete_execution(self, execution_id: str) -> bool: ...

    def list_executions(
        self,
        *,
        status: str | None = None,
        pipeline: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[ExecutionRecord], str | None]:
        """Newest first; ``pipeline`` matches a name or a structural hash.

        Returns a page and the cursor of the next one (None at the end).
        """
        ...

    def count_executions(self, status: str | None = None) -> int:
        """How many executions are stored (with ``status``), without reading them."""
        ...

    def prune(self, now: float | None = None) -> int:
        """Remove executions past retention (see :meth:`IndexEntry.prunable`); how many."""
        ...

    def close(self) -> None: ...


# -- JSON: checked on the way in, parsed fresh on the way out ---------------------------------


class MalformedRecord(ValueError):
    """A stored document does not have the shape of a record (the caller names the file)."""


def encode_json(value: object, what: str) -> str:
    """``value`` as compact JSON text; ``StoreError`` if it is not plain JSON.

    ``json.dumps`` alone is not a check: it turns non-string keys and tuples into something
    else, which would not come back as written. So the text is parsed again and compared; only
    a failure pays for the walk that says where the offending value is.
    """
    try:
        text = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
        same = json.loads(text) == value
    except (TypeError, ValueError, RecursionError) as exc:
        raise StoreError(f"{what} is not JSON: {_non_json(value, '$') or exc}") from None
    if not same:
        raise StoreError(f"{what} is not JSON: {_non_json(value, '$') or 'it does not round-trip'}")
    return text


def _non_json(value: object, path: str, depth: int = 0) -> str | None:
    """Where the first value that JSON cannot hold exactly is, or None."""
    if depth > 200:
        return None
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if value == value and abs(value) != float("inf") else f"{path} is {value!r}"
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _non_json(item, f"{path}[{i}]", depth + 1)
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} has the key {key!r} (keys must be strings)"
            found = _non_json(item, f"{path}.{key}", depth + 1)
            if found:
                return found
        return None
    return (
        f"{path} is a Python {type(value).__name__} "
        "(JSON holds dicts with string keys, lists, str, int, float, bool and None)"
    )


class JSONFields:
    """Typed access to one stored JSON object; a wrong shape raises :class:`MalformedRecord`."""

    __slots__ = ("_doc",)

    def __init__(self, doc: object) -> None:
        if not isinstance(doc, dict):
            raise MalformedRecord(f"expected an object, found {type(doc).__name__}")
        self._doc: dict[str, object] = doc

    def _get(self, key: str) -> object:
        try:
            return self._doc[key]
        except KeyError:
            raise MalformedRecord(f"the field {key!r} is missing") from None

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise MalformedRecord(f"the field {key!r} is not a string")
        return value

    def optional_text(self, key: str) -> str | None:
        return None if self._get(key) is None else self.text(key)

    def integer(self, key: str) -> int:
        value = self._get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise MalformedRecord(f"the field {key!r} is not an integer")
        return value

    def number(self, key: str) -> float:
        value = self._get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise MalformedRecord(f"the field {key!r} is not a number")
        return float(value)

    def optional_number(self, key: str) -> float | None:
        return None if self._get(key) is None else self.number(key)

    def obj(self, key: str) -> dict[str, object]:
        value = self._get(key)
        if not isinstance(value, dict):
            raise MalformedRecord(f"the field {key!r} is not an object")
        return value

    def text_map(self, key: str) -> dict[str, str]:
        value = self.obj(key)
        if not all(isinstance(v, str) for v in value.values()):
            raise MalformedRecord(f"the field {key!r} maps names to something else than text")
        return {k: str(v) for k, v in value.items()}

    def listing(self, key: str) -> list[object]:
        value = self._get(key)
        if not isinstance(value, list):
            raise MalformedRecord(f"the field {key!r} is not a list")
        return value

    def status(self, key: str) -> ExecutionStatus:
        value = self.text(key)
        if value in STATUSES:
            return cast(ExecutionStatus, value)
        raise MalformedRecord(f"the field {key!r} is not a status: {value!r}")


def image_to_json(image: ImageRecord) -> dict[str, object]:
    return {
        "structural_hash": image.structural_hash,
        "syntactic_hash": image.syntactic_hash,
        "source": image.source,
        "ir": dict(image.ir),
        "inputs": dict(image.inputs),
        "outputs": dict(image.outputs),
        "created_at": image.created_at,
    }


def image_from_json(doc: object) -> ImageRecord:
    f = JSONFields(doc)
    return ImageRecord(
        structural_hash=f.text("structural_hash"),
        syntactic_hash=f.text("syntactic_hash"),
        source=f.text("source"),
        ir=f.obj("ir"),
        inputs=f.text_map("inputs"),
        outputs=f.text_map("outputs"),
        created_at=f.number("created_at"),
    )


def execution_to_json(record: ExecutionRecord) -> dict[str, object]:
    return {
        "execution_id": record.execution_id,
        "structural_hash": record.structural_hash,
        "pipeline_name": record.pipeline_name,
        "status": record.status,
        "version": record.version,
        "state": dict(record.state),
        "summary": dict(record.summary),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "expires_at": record.expires_at,
    }


def execution_from_json(doc: object) -> ExecutionRecord:
    f = JSONFields(doc)
    return ExecutionRecord(
        execution_id=f.text("execution_id"),
        structural_hash=f.text("structural_hash"),
        pipeline_name=f.optional_text("pipeline_name"),
        status=f.status("status"),
        version=f.integer("version"),
        state=f.obj("state"),
        summary=f.obj("summary"),
        created_at=f.number("created_at"),
        updated_at=f.number("updated_at"),
        expires_at=f.optional_number("expires_at"),
    )


def check_image(image: ImageRecord) -> str:
    """The image as JSON text, after checking what a store needs of it."""
    _check_key(image.structural_hash, "structural hash")
    return encode_json(image_to_json(image), f"image {image.structural_hash}")


def check_execution(record: ExecutionRecord) -> str:
    """The record as JSON text, after checking what a store needs of it."""
    _check_key(record.execution_id, "execution id")
    if record.status not in STATUSES:
        raise ValueError(f"execution {record.execution_id}: unknown status {record.status!r}")
    if isinstance(record.version, bool) or not isinstance(record.version, int):
        raise ValueError(f"execution {record.execution_id}: the version must be an int")
    return encode_json(execution_to_json(record), f"execution {record.execution_id}")


# -- names: one JSON document per name, the same in every store -------------------------------
#
# {"name": n, "active": k, "versions": [{"version": 1, "structural_hash": h, "created_at": t}]}
# A document is never changed in place: each operation returns a new one, which a store writes
# in one step, so a crash cannot leave a name with two active versions or none.

NameDoc = dict[str, object]


def check_name_doc(doc: object) -> NameDoc:
    """``doc`` if it is a well-formed name document, else :class:`MalformedRecord`."""
    f = JSONFields(doc)
    f.text("name")
    active = f.integer("active")
    numbers = []
    for item in f.listing("versions"):
        v = JSONFields(item)
        numbers.append(v.integer("version"))
        v.text("structural_hash")
        v.number("created_at")
    if not numbers or numbers != sorted(set(numbers)) or active not in numbers:
        raise MalformedRecord("the versions are not ascending, or none is active")
    assert isinstance(doc, dict)
    return doc


def name_versions_of(doc: Mapping[str, object]) -> list[NameVersion]:
    f = JSONFields(dict(doc))
    name, active = f.text("name"), f.integer("active")
    out = []
    for item in f.listing("versions"):
        v = JSONFields(item)
        number = v.integer("version")
        out.append(
            NameVersion(
                name, number, v.text("structural_hash"), v.number("created_at"), number == active
            )
        )
    return out


def active_version_of(doc: Mapping[str, object]) -> NameVersion:
    """The active version of a checked name document (read on every execute by name)."""
    f = JSONFields(doc)
    active = f.integer("active")
    for item in f.listing("versions"):
        v = JSONFields(item)
        if v.integer("version") == active:
            return NameVersion(
                f.text("name"), active, v.text("structural_hash"), v.number("created_at"), True
            )
    raise MalformedRecord(f"name {f.text('name')!r} has no active version {active}")


class ActiveNames:
    """The active version of each name, decoded once: every execute by name reads it.

    A store keeps one beside its name documents and calls :meth:`forget` whenever it
    writes a name. Versions are frozen, so one object serves every reader.
    """

    __slots__ = ("_versions",)

    def __init__(self) -> None:
        self._versions: dict[str, NameVersion] = {}

    def get(
        self, name: str, read: Callable[[str], Mapping[str, object] | None]
    ) -> NameVersion | None:
        """The active version of ``name``; ``read`` gives its document the first time."""
        version = self._versions.get(name)
        if version is None:
            doc = read(name)
            if doc is None:
                return None
            version = self._versions[name] = active_version_of(doc)
        return version

    def forget(self, name: str) -> None:
        self._versions.pop(name, None)


def name_pointed(
    doc: Mapping[str, object] | None, name: str, structural_hash: str, now: float
) -> tuple[NameDoc | None, NameVersion]:
    """The document after pointing ``name`` at the hash (None: unchanged), and the version."""
    existing = [] if doc is None else name_versions_of(doc)
    for version in existing:
        if version.active and version.structural_hash == structural_hash:
            return None, version
    number = existing[-1].version + 1 if existing else 1
    new: NameDoc = {
        "name": name,
        "active": number,
        "versions": [
            {"version": v.version, "structural_hash": v.structural_hash, "created_at": v.created_at}
            for v in existing
        ]
        + [{"version": number, "structural_hash": structural_hash, "created_at": now}],
    }
    return new, active_version_of(new)


def name_activated(
    doc: Mapping[str, object] | None, name: str, version: int
) -> tuple[NameDoc | None, NameVersion]:
    """The document after making ``version`` active (None: unchanged), and that version."""
    found = [v for v in name_versions_of(doc) if v.version == version] if doc else []
    if doc is None or not found:
        known = ", ".join(str(v.version) for v in name_versions_of(doc)) if doc else ""
        raise NotFound(
            f"pipeline name {name!r} has no version {version}"
            + (f" (versions: {known})" if known else " (the name is unknown)")
        )
    if found[0].active:
        return None, found[0]
    new: NameDoc = {**doc, "active": version}
    return new, active_version_of(new)


# -- the execution index: what listing, pruning and compare-and-set need, without states -----


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """The fields of an execution that are filtered, sorted and compared on."""

    execution_id: str
    structural_hash: str
    pipeline_name: str | None
    status: ExecutionStatus
    version: int
    created_at: float
    updated_at: float
    expires_at: float | None

    @staticmethod
    def of(record: ExecutionRecord) -> IndexEntry:
        return IndexEntry(
            record.execution_id,
            record.structural_hash,
            record.pipeline_name,
            record.status,
            record.version,
            record.created_at,
            record.updated_at,
            record.expires_at,
        )

    @property
    def key(self) -> tuple[float, str]:
        return (self.created_at, self.execution_id)

    def matches(self, status: str | None, pipeline: str | None) -> bool:
        if status is not None and self.status != status:
            return False
        return pipeline is None or pipeline in (self.pipeline_name, self.structural_hash)

    def prunable(self, now: float, retention: float) -> bool:
        """Terminal: retention after the last update. Suspended: retention after expiry.

        An expired execution thus stays readable for the retention period, so the engine
        can still answer ``ExecutionExpired`` instead of ``NotFound``.
        """
        if self.status in TERMINAL:
            return self.updated_at + retention < now
        return self.expires_at is not None and self.expires_at + retention < now


def encode_cursor(key: tuple[float, str]) -> str:
    raw = json.dumps([key[0], key[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, execution_id = json.loads(raw)
        number = isinstance(created, int | float) and not isinstance(created, bool)
        if number and isinstance(execution_id, str):
            return (float(created), execution_id)
    except (ValueError, TypeError, binascii.Error):
        pass
    raise InputError(f"invalid cursor {cursor!r}: pass the next-page cursor of a previous listing")


class ExecutionIndex:
    """Index entries by id, and their keys sorted by (created_at, id) for newest-first pages.

    Not thread-safe on its own: each store calls it under its lock.
    """

    __slots__ = ("_entries", "_order")

    def __init__(self) -> None:
        self._entries: dict[str, IndexEntry] = {}
        self._order: list[tuple[float, str]] = []  # ascending

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[IndexEntry]:
        return iter(list(self._entries.values()))

    def get(self, execution_id: str) -> IndexEntry | None:
        return self._entries.get(execution_id)

    def load(self, entries: list[IndexEntry]) -> None:
        """Fill an empty index at once (sorting once, rather than inserting one by one)."""
        assert not self._entries
        self._entries = {e.execution_id: e for e in entries}
        self._order = sorted(e.key for e in entries)

    def put(self, entry: IndexEntry) -> None:
        old = self._entries.get(entry.execution_id)
        if old is not None and old.key != entry.key:
            self._drop_key(old.key)
        if old is None or old.key != entry.key:
            bisect.insort(self._order, entry.key)
        self._entries[entry.execution_id] = entry

    def remove(self, execution_id: str) -> IndexEntry | None:
        old = self._entries.pop(execution_id, None)
        if old is not None:
            self._drop_key(old.key)
        return old

    def _drop_key(self, key: tuple[float, str]) -> None:
        at = bisect.bisect_left(self._order, key)
        if at < len(self._order) and self._order[at] == key:
            del self._order[at]

    def count(self, status: str | None) -> int:
        if status is None:
            return len(self._entries)
        return sum(1 for e in self._entries.values() if e.status == status)

    def page(
        self, status: str | None, pipeline: str | None, limit: int, cursor: str | None
    ) -> tuple[list[str], str | None]:
        """Ids of one page, newest first, and the cursor of the next page (None at the end)."""
        if status is not None and status not in STATUSES:
            expected = ", ".join(sorted(STATUSES))
            raise InputError(f"unknown status {status!r}: expected one of {expected}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InputError(f"limit must be a positive integer, not {limit!r}")
        end = len(self._order)
        if cursor is not None:
            end = bisect.bisect_left(self._order, decode_cursor(cursor))
        ids: list[str] = []
        for at in range(end - 1, -1, -1):
            key = self._order[at]
            if self._entries[key[1]].matches(status, pipeline):
                if len(ids) == limit:
                    last = self._entries[ids[-1]].key
                    return ids, encode_cursor(last)
                ids.append(key[1])
        return ids, None

    def prunable(self, now: float, retention: float) -> list[str]:
        return [e.execution_id for e in self._entries.values() if e.prunable(now, retention)]

    def using(self, structural_hash: str) -> int:
        return sum(
            1
            for e in self._entries.values()
            if e.structural_hash == structural_hash and e.status in LIVE
        )


def check_cas(record: ExecutionRecord, expected_version: int) -> None:
    if record.version != expected_version + 1:
        raise ValueError(
            f"execution {record.execution_id}: a compare-and-set from version "
            f"{expected_version} must write version {expected_version + 1}, not {record.version}"
        )


def check_retention(retention_seconds: float) -> float:
    if not retention_seconds >= 0:
        raise ValueError(f"retention_seconds must be ≥ 0, not {retention_seconds!r}")
    return float(retention_seconds)


# -- the reference implementation -------------------------------------------------------------


class MemoryStore:
    """Dicts behind one lock: for tests and throwaway sessions. Nothing survives the process.

    Records are kept as the JSON text a durable store would write, so both behave the same:
    non-JSON is refused, and every read returns fresh objects.
    """

    def __init__(
        self,
        *,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.retention_seconds = check_retention(retention_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._images: dict[str, str] = {}
        self._names: dict[str, NameDoc] = {}
        self._active = ActiveNames()
        self._executions: dict[str, str] = {}
        self._index = ExecutionIndex()
        self._closed = False

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._images)} images, {len(self._index)} executions)"

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        if self._closed:
            raise StoreError("the memory store is closed")

    # images

    def put_image(self, image: ImageRecord) -> None:
        text = check_image(image)
        with self._lock:
            self._open()
            self._images.setdefault(image.structural_hash, text)

    def get_image(self, structural_hash: str) -> ImageRecord | None:
        with self._lock:
            self._open()
            text = self._images.get(structural_hash)
        return None if text is None else image_from_json(json.loads(text))

    def list_images(self) -> list[ImageRecord]:
        with self._lock:
            self._open()
            texts = list(self._images.values())
        images = [image_from_json(json.loads(t)) for t in texts]
        return sorted(images, key=lambda i: (i.created_at, i.structural_hash))

    def delete_image(self, structural_hash: str) -> bool:
        with self._lock:
            self._open()
            return self._images.pop(structural_hash, None) is not None

    def executions_using(self, structural_hash: str) -> int:
        with self._lock:
            self._open()
            return self._index.using(structural_hash)

    # names and versions

    def point_name(self, name: str, structural_hash: str, now: float) -> NameVersion:
        with self._lock:
            self._open()
            new, version = name_pointed(self._names.get(name), name, structural_hash, now)
            if new is not None:
                encode_json(new, f"name {name!r}")
                self._names[name] = new
                self._active.forget(name)
            return version

    def get_name(self, name: str) -> NameVersion | None:
        with self._lock:
            self._open()
            return self._active.get(name, self._names.get)

    def name_versions(self, name: str) -> list[NameVersion]:
        with self._lock:
            self._open()
            doc = self._names.get(name)
            return [] if doc is None else name_versions_of(doc)

    def activate(self, name: str, version: int) -> NameVersion:
        with self._lock:
            self._open()
            new, active = name_activated(self._names.get(name), name, version)
            if new is not None:
                self._names[name] = new
                self._active.forget(name)
            return active

    def delete_name(self, name: str) -> bool:
        with self._lock:
            self._open()
            self._active.forget(name)
            return self._names.pop(name, None) is not None

    def names_for(self, structural_hash: str) -> list[str]:
        with self._lock:
            self._open()
            docs = list(self._names.values())
        actives = [active_version_of(d) for d in docs]
        return sorted(v.name for v in actives if v.structural_hash == structural_hash)

    # executions

    def create_execution(self, record: ExecutionRecord) -> None:
        text = check_execution(record)
        with self._lock:
            self._open()
            if record.execution_id in self._executions:
                raise StoreError(f"execution {record.execution_id} already exists")
            self._executions[record.execution_id] = text
            self._index.put(IndexEntry.of(record))

    def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        with self._lock:
            self._open()
            text = self._executions.get(execution_id)
        return None if text is None else execution_from_json(json.loads(text))

    def compare_and_set(self, record: ExecutionRecord, expected_version: int) -> bool:
        check_cas(record, expected_version)
        text = check_execution(record)
        with self._lock:
            self._open()
            entry = self._index.get(record.execution_id)
            if entry is None or entry.version != expected_version:
                return False
            self._executions[record.execution_id] = text
            self._index.put(IndexEntry.of(record))
            return True

    def delete_execution(self, execution_id: str) -> bool:
        with self._lock:
            self._open()
            self._index.remove(execution_id)
            return self._executions.pop(execution_id, None) is not None

    def list_executions(
        self,
        *,
        status: str | None = None,
        pipeline: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[ExecutionRecord], str | None]:
        with self._lock:
            self._open()
            ids, next_cursor = self._index.page(status, pipeline, limit, cursor)
            texts = [self._executions[i] for i in ids]
        return [execution_from_json(json.loads(t)) for t in texts], next_cursor

    def count_executions(self, status: str | None = None) -> int:
        with self._lock:
            self._open()
            return self._index.count(status)

    def prune(self, now: float | None = None) -> int:
        at = self._clock() if now is None else now
        with self._lock:
            self._open()
            doomed = self._index.prunable(at, self.retention_seconds)
            for execution_id in doomed:
                self._index.remove(execution_id)
                del self._executions[execution_id]
            return len(doomed)

    def close(self) -> None:
        with self._lock:
            self._closed = True
