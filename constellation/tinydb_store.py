"""TinyDBStore: the store in a folder, in TinyDB's JSON format, made durable.

Every ``.json`` file is a TinyDB database (``{table: {doc_id: document}}``) that
``TinyDB(path, access_mode="r")`` can read::

    <folder>/
      store.json                  format marker: {"store": {"1": {"format": 1}}}
      lock                        flock'ed while the store is open; holds the owner's pid
      names.json                  table "names": one document per pipeline name
      images/<hash>.json          table "image": one compiled pipeline
      executions/<xx>/<id>.json   table "execution": one execution (xx: crc32 of the id)
      index.json                  a cache of the in-memory index, written on close

Why one file per record: TinyDB's own storage rewrites one growing file on every write, so a
write at 10,000 executions would cost a hundred times one at 100. Here a write replaces one
small file, whatever is stored. The 256 shard folders keep directories small.

Why the index cache: listing, pruning and compare-and-set work on an in-memory index, built on
open. Reading every record to build it is slow for big states, so ``close()`` writes it down.
It is trusted only for files whose (inode, size, mtime) still match, and the first change of a
session deletes it first: after a crash there is no cache, and the open reads every record.

Durability: every write goes to a temporary file in the same folder, is flushed and fsynced,
then ``os.replace``-d over the target, and the folder is fsynced (:func:`write_atomically`), so
a crash leaves the old or the new file, never a torn one. Leftover temporary files are
removed on the next open. A file that does not parse stops the open with a ``StoreError``
naming it; it is never repaired, emptied or skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from tinydb import Query, TinyDB
from tinydb.storages import Storage
from tinydb.table import Document, Table

from constellation.errors import StoreError
from constellation.store import (
    DEFAULT_RETENTION_SECONDS,
    STATUSES,
    ActiveNames,
    ExecutionIndex,
    ExecutionRecord,
    ExecutionStatus,
    ImageRecord,
    IndexEntry,
    JSONFields,
    MalformedRecord,
    NameDoc,
    NameVersion,
    active_version_of,
    check_cas,
    check_execution,
    check_image,
    check_name_doc,
    check_retention,
    encode_json,
    execution_from_json,
    image_from_json,
    is_key,
    name_activated,
    name_pointed,
    name_versions_of,
)

FORMAT = 1
MARKER = "store.json"
LOCK = "lock"
NAMES = "names.json"
INDEX = "index.json"
IMAGES = "images"
EXECUTIONS = "executions"
TEMP_SUFFIX = ".tmp"

#: ``fault_hook(step)`` runs after each step of a write: "temp-written", "temp-fsynced",
#: "replaced", "dir-fsynced"; of a removal: "removed", "dir-fsynced". Crash tests exit there.
FaultHook = Callable[[str], None]

#: (inode, size, mtime in ns): a file whose signature matches the cache is not read on open.
Signature = tuple[int, int, int]

_LOCK_POLL_SECONDS = 0.05
_CACHE_ADVICE = "it is only a cache of the records: delete it (the next open rebuilds it)"


def _no_hook(step: str) -> None:
    pass


def _signature(st: os.stat_result) -> Signature:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, hook: FaultHook = _no_hook) -> Signature:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file.

    Raises ``OSError`` if nothing was replaced, and ``StoreError`` if the file was replaced
    but the folder could not be synced (then the state on disk is uncertain).
    """
    # mkstemp: a fresh name (two writers of one file never share a temp file) and mode 0600,
    # which the record keeps: states hold users' data.
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            hook("temp-written")
            os.fsync(fd)
            hook("temp-fsynced")
            # os.replace keeps the inode, size and mtime: this is the file's signature.
            signature = _signature(os.fstat(fd))
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    hook("replaced")
    try:
        _fsync_dir(path.parent)
    except OSError as exc:
        raise StoreError(f"{path} was written but its folder could not be synced: {exc}") from exc
    hook("dir-fsynced")
    return signature


def unreadable(path: Path, reason: str, advice: str = "") -> StoreError:
    """The error for a file that does not parse: it names the file and what to do."""
    return StoreError(
        f"store file {path} is unreadable: {reason}. It was left as it is: "
        f"{advice or 'move it out of the store folder or restore it from a backup'}, "
        "then try again"
    )


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def parse_database(path: Path, data: bytes, advice: str = "") -> dict[str, dict[str, Any]]:
    """The tables of a TinyDB file, or the ``StoreError`` that names it."""
    reason = ""
    if not data.strip():
        reason = "the file is empty" if not data else "the file is blank"
    else:
        try:
            tables = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError as exc:
            reason = f"it is not UTF-8 text (byte {exc.start})"
        except json.JSONDecodeError as exc:
            reason = f"it is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        except (ValueError, RecursionError) as exc:
            reason = f"it is not JSON ({exc})"
        else:
            if isinstance(tables, dict) and all(isinstance(t, dict) for t in tables.values()):
                return tables
            reason = "it is not a TinyDB database (an object of tables)"
    raise unreadable(path, reason, advice)


def read_database(path: Path, advice: str = "") -> dict[str, dict[str, Any]] | None:
    """The tables of the file at ``path``; None if there is no such file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read store file {path}: {exc}") from exc
    return parse_database(path, data, advice)


def _single(path: Path, tables: dict[str, dict[str, Any]], table: str) -> object:
    docs = tables.get(table)
    if docs is None or len(docs) != 1:
        raise unreadable(path, f"expected one document in the table {table!r}")
    return next(iter(docs.values()))


class AtomicJSONStorage(Storage):
    """A TinyDB storage that writes atomically and refuses files that do not parse.

    ``TinyDB(path, storage=AtomicJSONStorage)`` works; the store uses it for ``names.json``.
    Unlike ``JSONStorage`` it keeps no file open and never rewrites a file in place.
    """

    def __init__(self, path: str | os.PathLike[str], fault_hook: FaultHook = _no_hook) -> None:
        super().__init__()
        self._path = Path(path)
        self._hook = fault_hook

    def read(self) -> dict[str, dict[str, Any]] | None:
        return read_database(self._path)

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        text = encode_json(data, str(self._path))
        try:
            write_atomically(self._path, text.encode("ascii"), self._hook)
        except OSError as exc:
            raise StoreError(f"cannot write store file {self._path}: {exc}") from exc


def _wrap(table: str, document_json: str) -> bytes:
    """A one-document TinyDB database around already encoded (and checked) JSON."""
    return f'{{"{table}":{{"1":{document_json}}}}}'.encode("ascii")


def _shard(execution_id: str) -> str:
    # crc32, not the id's first characters: ids need not be random (``run-1``, ``run-2``…).
    return f"{zlib.crc32(execution_id.encode()) & 0xFF:02x}"


def _is_shard(name: str) -> bool:
    return len(name) == 2 and all(c in "0123456789abcdef" for c in name)


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return list(entries)


# The index cache holds one row per record, not an object: it is read on every open.


def _entry_row(e: IndexEntry) -> list[object]:
    return [
        e.execution_id,
        e.structural_hash,
        e.pipeline_name,
        e.status,
        e.version,
        e.created_at,
        e.updated_at,
        e.expires_at,
    ]


def _cache_row(row: list[object]) -> tuple[IndexEntry, Signature]:
    if len(row) != 11:
        raise MalformedRecord(f"a row of {len(row)} fields, not 11")
    execution_id, structural_hash, pipeline, status, version, created, updated, expires = row[:8]
    if status not in STATUSES or type(version) is not int:
        raise MalformedRecord(f"a row with a bad status or version: {row[:8]}")
    entry = IndexEntry(
        _text(execution_id),
        _text(structural_hash),
        None if pipeline is None else _text(pipeline),
        cast(ExecutionStatus, status),
        version,
        _number(created),
        _number(updated),
        None if expires is None else _number(expires),
    )
    return entry, _file_signature(row[8:])


def _file_signature(values: list[object]) -> Signature:
    if len(values) == 3:
        inode, size, mtime = values
        if type(inode) is int and type(size) is int and type(mtime) is int:
            return (inode, size, mtime)
    raise MalformedRecord(f"not a file signature: {values}")


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    raise MalformedRecord(f"not a string: {value!r}")


def _number(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise MalformedRecord(f"not a number: {value!r}")


def _is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _left_by_creation(path: Path) -> bool:
    if path.name in (IMAGES, EXECUTIONS):
        return path.is_dir() and not any(path.iterdir())
    return path.name == LOCK or (path.name.startswith(f".{MARKER}.") and _is_temp(path.name))


def _lock_folder(folder: Path, timeout: float) -> int:
    """An exclusive flock on ``folder/lock`` (the pid written in it), or ``StoreError``."""
    path = folder / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreError(
                        f"store {folder} is in use by {_holder(path)}: stop that process, or "
                        "open another folder"
                    ) from None
                # Polling: flock has no timeout, and a waiting opener is rare (the CLI).
                time.sleep(min(_LOCK_POLL_SECONDS, remaining))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return f"pid {text}" if text.isdigit() else "another process"


class TinyDBStore:
    """The durable store: one folder, owned by one process at a time (see the module doc)."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        clock: Callable[[], float] = time.time,
        fault_hook: FaultHook | None = None,
        lock_timeout: float = 0.0,
    ) -> None:
        self.retention_seconds = check_retention(retention_seconds)
        self._folder = Path(folder)
        self._clock = clock
        self._hook = fault_hook or _no_hook
        self._lock = threading.RLock()
        self._index = ExecutionIndex()
        self._signatures: dict[str, Signature] = {}
        self._images: dict[str, Signature] = {}
        self._shards: set[str] = set()
        self._cache_on_disk = False  # index.json exists
        self._cache_current = False  # …and matches the memory
        self._broken: str | None = None
        self._closed = False
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            self._refuse_foreign_folder()  # before the lock file is created in it
            self._lock_fd = _lock_folder(self._folder, lock_timeout)
        except OSError as exc:
            raise StoreError(f"cannot open store {self._folder}: {exc}") from exc
        try:
            try:
                self._load()
            except OSError as exc:
                raise StoreError(f"cannot open store {self._folder}: {exc}") from exc
            self._db = TinyDB(
                self._folder / NAMES, storage=AtomicJSONStorage, fault_hook=self._hook
            )
            self._names: Table = self._db.table("names")
            self._active = ActiveNames()  # only this process writes names (the folder lock)
        except BaseException:
            os.close(self._lock_fd)
            raise

    @property
    def folder(self) -> Path:
        return self._folder

    def __repr__(self) -> str:
        return f"TinyDBStore({str(self._folder)!r})"

    def __enter__(self) -> TinyDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- opening ------------------------------------------------------------------------------

    def _load(self) -> None:
        """Check every file (the cache spares unchanged records), then remove temp files.

        Apart from creating a new store, nothing is written or removed before everything has
        been checked, so an open that fails leaves the folder exactly as it was.
        """
        root = self._folder
        marker = read_database(root / MARKER)
        if marker is None:
            self._create()
        else:
            fmt = JSONFields(_single(root / MARKER, marker, "store")).integer("format")
            if fmt != FORMAT:
                raise StoreError(
                    f"store {root} has format {fmt}, and this version of Constellation reads "
                    f"format {FORMAT}: open it with the version that wrote it"
                )
        for doc in (read_database(root / NAMES) or {}).get("names", {}).values():
            try:
                check_name_doc(doc)
            except MalformedRecord as exc:
                raise unreadable(root / NAMES, str(exc)) from None
        for sub in (IMAGES, EXECUTIONS):
            if not (root / sub).is_dir():
                raise StoreError(
                    f"store {root} has no {sub} folder: restore it from a backup, or create "
                    "it empty to go on without what it held"
                )
        cached_entries, cached_images = self._read_cache()
        temps: list[Path] = []
        entries: list[IndexEntry] = []
        changed = False

        temps.extend(Path(e.path) for e in _entries(root) if _is_temp(e.name))
        for entry in _entries(root / IMAGES):
            if _is_temp(entry.name):
                temps.append(Path(entry.path))
            elif entry.name.endswith(".json") and is_key(entry.name[:-5]):
                structural_hash = entry.name[:-5]
                signature = _signature(entry.stat())
                if cached_images.get(structural_hash) != signature:
                    self._read_image(structural_hash)
                    changed = True
                self._images[structural_hash] = signature

        for shard in _entries(root / EXECUTIONS):
            if not (_is_shard(shard.name) and shard.is_dir()):
                continue
            self._shards.add(shard.name)
            for entry in _entries(Path(shard.path)):
                if _is_temp(entry.name):
                    temps.append(Path(entry.path))
                elif entry.name.endswith(".json") and is_key(entry.name[:-5]):
                    execution_id = entry.name[:-5]
                    if _shard(execution_id) != shard.name:
                        raise unreadable(
                            Path(entry.path), f"it belongs in {EXECUTIONS}/{_shard(execution_id)}"
                        )
                    signature = _signature(entry.stat())
                    cached = cached_entries.get(execution_id)
                    if cached is None or cached[1] != signature:
                        record = self._read_execution(execution_id, Path(entry.path))
                        cached = (IndexEntry.of(record), signature)
                        changed = True
                    entries.append(cached[0])
                    self._signatures[execution_id] = signature

        self._index.load(entries)
        if len(entries) != len(cached_entries) or len(self._images) != len(cached_images):
            changed = True  # records the cache lists are gone
        self._cache_on_disk = (root / INDEX).exists()
        self._cache_current = self._cache_on_disk and not changed
        for temp in temps:
            temp.unlink()
        for parent in {temp.parent for temp in temps}:
            _fsync_dir(parent)

    def _refuse_foreign_folder(self) -> None:
        """A folder with files but no marker is someone else's: take nothing over.

        What a creation cut short leaves (the lock, empty subfolders, the marker's temporary
        file) is not "files": the marker is written last, and the next open completes it.
        """
        root = self._folder
        if (root / MARKER).exists():
            return
        others = sorted(p.name for p in root.iterdir() if not _left_by_creation(p))
        if others:
            raise StoreError(
                f"{root} is not a Constellation store ({MARKER} is missing) and is not empty "
                f"(it holds {', '.join(others[:3])}{'…' if len(others) > 3 else ''}): "
                "give a new or empty folder"
            )

    def _create(self) -> None:
        root = self._folder
        self._refuse_foreign_folder()  # again, now that the lock is held
        (root / IMAGES).mkdir(exist_ok=True)
        (root / EXECUTIONS).mkdir(exist_ok=True)
        _fsync_dir(root)
        write_atomically(root / MARKER, _wrap("store", json.dumps({"format": FORMAT})))

    def _read_cache(
        self,
    ) -> tuple[dict[str, tuple[IndexEntry, Signature]], dict[str, Signature]]:
        path = self._folder / INDEX
        tables = read_database(path, _CACHE_ADVICE)
        if tables is None:
            return {}, {}
        entries: dict[str, tuple[IndexEntry, Signature]] = {}
        images: dict[str, Signature] = {}
        try:
            for doc in tables.get("executions", {}).values():
                entry, signature = _cache_row(JSONFields(doc).listing("row"))
                entries[entry.execution_id] = (entry, signature)
            for doc in tables.get("images", {}).values():
                row = JSONFields(doc).listing("row")
                images[_text(row[0] if row else None)] = _file_signature(row[1:])
        except MalformedRecord as exc:
            raise unreadable(path, str(exc), _CACHE_ADVICE) from None
        return entries, images

    # -- files --------------------------------------------------------------------------------

    def _image_path(self, structural_hash: str) -> Path:
        return self._folder / IMAGES / f"{structural_hash}.json"

    def _execution_path(self, execution_id: str) -> Path:
        return self._folder / EXECUTIONS / _shard(execution_id) / f"{execution_id}.json"

    def _read_image(self, structural_hash: str) -> ImageRecord:
        path = self._image_path(structural_hash)
        tables = read_database(path)
        if tables is None:
            raise FileNotFoundError(path)
        try:
            image = image_from_json(_single(path, tables, "image"))
        except MalformedRecord as exc:
            raise unreadable(path, str(exc)) from None
        if image.structural_hash != structural_hash:
            raise unreadable(path, f"it holds the image {image.structural_hash}")
        return image

    def _read_execution(self, execution_id: str, path: Path | None = None) -> ExecutionRecord:
        path = path or self._execution_path(execution_id)
        tables = read_database(path)
        if tables is None:
            raise FileNotFoundError(path)
        try:
            record = execution_from_json(_single(path, tables, "execution"))
        except MalformedRecord as exc:
            raise unreadable(path, str(exc)) from None
        if record.execution_id != execution_id:
            raise unreadable(path, f"it holds the execution {record.execution_id}")
        return record

    def _guard(self) -> None:
        if self._closed:
            raise StoreError(f"store {self._folder} is closed")
        if self._broken is not None:
            raise StoreError(f"store {self._folder} must be reopened: {self._broken}")

    def _before_change(self) -> None:
        # A cache on disk would describe the folder as it was before this session's changes;
        # if the process dies, the next open must not trust it.
        if self._cache_on_disk:
            (self._folder / INDEX).unlink()
            _fsync_dir(self._folder)
            self._cache_on_disk = False
        self._cache_current = False

    def _write(self, path: Path, data: bytes) -> Signature:
        try:
            self._before_change()
            return write_atomically(path, data, self._hook)
        except StoreError as exc:
            # Replaced but not synced: the memory may no longer describe the disk.
            self._broken = str(exc)
            raise
        except OSError as exc:
            raise StoreError(f"cannot write store file {path}: {exc}") from exc

    def _remove(self, path: Path) -> None:
        try:
            self._before_change()
            os.unlink(path)
        except OSError as exc:
            raise StoreError(f"cannot remove store file {path}: {exc}") from exc
        self._hook("removed")
        self._sync(path.parent)
        self._hook("dir-fsynced")

    def _sync(self, folder: Path) -> None:
        try:
            _fsync_dir(folder)
        except OSError as exc:
            # Removed but not synced: the memory may no longer describe the disk.
            self._broken = f"cannot sync {folder}: {exc}"
            raise StoreError(self._broken) from exc

    # -- images -------------------------------------------------------------------------------

    def put_image(self, image: ImageRecord) -> None:
        text = check_image(image)
        with self._lock:
            self._guard()
            if image.structural_hash not in self._images:
                path = self._image_path(image.structural_hash)
                self._images[image.structural_hash] = self._write(path, _wrap("image", text))

    def get_image(self, structural_hash: str) -> ImageRecord | None:
        with self._lock:
            self._guard()
            if structural_hash not in self._images:
                return None
        try:
            return self._read_image(structural_hash)
        except FileNotFoundError:  # deleted by another thread since
            return None

    def list_images(self) -> list[ImageRecord]:
        with self._lock:
            self._guard()
            hashes = list(self._images)
        images = []
        for structural_hash in hashes:
            with contextlib.suppress(FileNotFoundError):
                images.append(self._read_image(structural_hash))
        return sorted(images, key=lambda i: (i.created_at, i.structural_hash))

    def delete_image(self, structural_hash: str) -> bool:
        with self._lock:
            self._guard()
            if structural_hash not in self._images:
                return False
            self._remove(self._image_path(structural_hash))
            del self._images[structural_hash]
            return True

    def executions_using(self, structural_hash: str) -> int:
        with self._lock:
            self._guard()
            return self._index.using(structural_hash)

    # -- names (a TinyDB table in names.json: few, small, rarely written) ---------------------

    def _find_name(self, name: str) -> Document | None:
        found: list[Document] = self._names.search(Query().name == name)
        return found[0] if found else None

    def _save_name(self, name: str, found: Document | None, new: NameDoc | None) -> None:
        if new is not None:
            self._active.forget(name)
            if found is None:
                self._names.insert(new)
            else:
                self._names.update(new, doc_ids=[found.doc_id])

    def point_name(self, name: str, structural_hash: str, now: float) -> NameVersion:
        with self._lock:
            self._guard()
            found = self._find_name(name)
            new, version = name_pointed(found, name, structural_hash, now)
            self._save_name(name, found, new)
            return version

    def get_name(self, name: str) -> NameVersion | None:
        with self._lock:
            self._guard()
            return self._active.get(name, self._find_name)

    def name_versions(self, name: str) -> list[NameVersion]:
        with self._lock:
            self._guard()
            found = self._find_name(name)
            return [] if found is None else name_versions_of(found)

    def activate(self, name: str, version: int) -> NameVersion:
        with self._lock:
            self._guard()
            found = self._find_name(name)
            new, active = name_activated(found, name, version)
            self._save_name(name, found, new)
            return active

    def delete_name(self, name: str) -> bool:
        with self._lock:
            self._guard()
            found = self._find_name(name)
            if found is None:
                return False
            self._active.forget(name)
            self._names.remove(doc_ids=[found.doc_id])
            return True

    def names_for(self, structural_hash: str) -> list[str]:
        with self._lock:
            self._guard()
            actives = [active_version_of(doc) for doc in self._names.all()]
        return sorted(v.name for v in actives if v.structural_hash == structural_hash)

    # -- executions ---------------------------------------------------------------------------

    def _save_execution(self, record: ExecutionRecord, text: str) -> None:
        shard = _shard(record.execution_id)
        if shard not in self._shards:
            try:
                (self._folder / EXECUTIONS / shard).mkdir(exist_ok=True)
                _fsync_dir(self._folder / EXECUTIONS)
            except OSError as exc:
                raise StoreError(f"cannot create the store folder {shard}: {exc}") from exc
            self._shards.add(shard)
        path = self._execution_path(record.execution_id)
        self._signatures[record.execution_id] = self._write(path, _wrap("execution", text))
        self._index.put(IndexEntry.of(record))

    def create_execution(self, record: ExecutionRecord) -> None:
        text = check_execution(record)
        with self._lock:
            self._guard()
            if self._index.get(record.execution_id) is not None:
                raise StoreError(f"execution {record.execution_id} already exists")
            self._save_execution(record, text)

    def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        with self._lock:
            self._guard()
            if self._index.get(execution_id) is None:
                return None
        # Read outside the lock: a file is only ever replaced whole, never torn.
        try:
            return self._read_execution(execution_id)
        except FileNotFoundError:  # deleted by another thread since
            return None

    def compare_and_set(self, record: ExecutionRecord, expected_version: int) -> bool:
        check_cas(record, expected_version)
        text = check_execution(record)
        with self._lock:
            self._guard()
            # The lock file makes this process the only writer, so the index is the truth.
            entry = self._index.get(record.execution_id)
            if entry is None or entry.version != expected_version:
                return False
            self._save_execution(record, text)
            return True

    def _delete(self, execution_id: str) -> None:
        self._remove(self._execution_path(execution_id))
        self._index.remove(execution_id)
        del self._signatures[execution_id]

    def delete_execution(self, execution_id: str) -> bool:
        with self._lock:
            self._guard()
            if self._index.get(execution_id) is None:
                return False
            self._delete(execution_id)
            return True

    def list_executions(
        self,
        *,
        status: str | None = None,
        pipeline: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[ExecutionRecord], str | None]:
        with self._lock:
            self._guard()
            ids, next_cursor = self._index.page(status, pipeline, limit, cursor)
        records = []
        for execution_id in ids:
            with contextlib.suppress(FileNotFoundError):
                records.append(self._read_execution(execution_id))
        return records, next_cursor

    def count_executions(self, status: str | None = None) -> int:
        with self._lock:
            self._guard()
            return self._index.count(status)

    def prune(self, now: float | None = None) -> int:
        at = self._clock() if now is None else now
        with self._lock:
            self._guard()
            doomed = self._index.prunable(at, self.retention_seconds)
            if doomed:
                self._before_change()
            # One sync per folder at the end, not one per file: a prune cut short by a crash
            # is simply done again, so there is nothing to order.
            folders = set()
            for execution_id in doomed:
                path = self._execution_path(execution_id)
                try:
                    os.unlink(path)
                except OSError as exc:
                    raise StoreError(f"cannot remove store file {path}: {exc}") from exc
                self._index.remove(execution_id)
                del self._signatures[execution_id]
                folders.add(path.parent)
            for folder in folders:
                self._sync(folder)
            return len(doomed)

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Write the index cache (if it changed) and release the folder. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if not self._cache_current and self._broken is None:
                    self._write_cache()
            finally:
                self._db.close()
                os.close(self._lock_fd)

    def _write_cache(self) -> None:
        executions = {
            str(n): {"row": [*_entry_row(e), *self._signatures[e.execution_id]]}
            for n, e in enumerate(self._index, 1)
        }
        images = {
            str(n): {"row": [h, *signature]}
            for n, (h, signature) in enumerate(self._images.items(), 1)
        }
        text = json.dumps({"executions": executions, "images": images}, separators=(",", ":"))
        try:
            write_atomically(self._folder / INDEX, text.encode("ascii"))
        except (OSError, StoreError):
            # Only a cache: without it the next open reads every record instead.
            return
