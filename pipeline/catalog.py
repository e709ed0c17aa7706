"""The video catalog (SQLite in the data dir; DynamoDB's role on AWS).

One row per video: file facts from the probe, ingest ``status`` (``queued`` → ``ingesting`` →
``ready``, or ``failed``; ``deleting`` while a delete waits for a running ingest), counters, and
``checkpoint_ms``: the ``frame_ms`` of the last frame document written to the index, from which
an interrupted ingest resumes.

:meth:`Catalog.video_lock` is the per-video lock every ingest and delete holds (a file lock, so
it works between processes and is released by the kernel when a holder dies, even by SIGKILL).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ContextManager, Iterator

from ..errors import FaultError, StorageError
from . import ids

STATUSES = ("queued", "ingesting", "ready", "failed", "deleting")
LOCK_TIMEOUT_S = 6 * 3600.0  #: how long to wait for another ingest of the same video to end

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS videos (
    video_id TEXT PRIMARY KEY,
    filename TEXT NOT NULL,
    stored_path TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    fps REAL NOT NULL,
    size_bytes INTEGER NOT NULL,
    status TEXT NOT NULL,
    checkpoint_ms INTEGER NOT NULL DEFAULT -1,
    frames_sampled INTEGER NOT NULL DEFAULT 0,
    frames_analysed INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
"""


@dataclass
class VideoRecord:
    """A catalog row. Times are seconds since the epoch; sizes in bytes; durations in ms."""

    video_id: str
    filename: str
    stored_path: str
    duration_ms: int
    width: int
    height: int
    fps: float
    size_bytes: int
    status: str
    checkpoint_ms: int
    frames_sampled: int
    frames_analysed: int
    error: str
    created_at: float
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        """The ``reko videos --json`` shape (no server paths)."""
        data = asdict(self)
        data.pop("stored_path")
        return data


class VideoCatalog(ABC):
    """The catalog interface: SQLite (:class:`Catalog`) locally, DynamoDB on AWS
    (:class:`reko.pipeline.aws.dynamodb_catalog.DynamoCatalog`)."""

    @abstractmethod
    def get(self, video_id: str) -> VideoRecord | None:
        """The record of ``video_id``, or None."""

    @abstractmethod
    def list(self, statuses: tuple[str, ...] = ()) -> list[VideoRecord]:
        """Every record (or those in one of ``statuses``), newest first."""

    @abstractmethod
    def start(self, video_id: str, filename: str, stored_path: str, duration_ms: int, width: int,
              height: int, fps: float, size_bytes: int, status: str = "ingesting") -> VideoRecord:
        """Create the record in ``status``, or set an existing one's status again keeping its
        checkpoint (resume)."""

    @abstractmethod
    def update(self, video_id: str, **fields: Any) -> None:
        """Set columns (``status``, ``checkpoint_ms``, counters, ``error``, ``filename``)."""

    @abstractmethod
    def delete(self, video_id: str) -> bool:
        """Remove the record; True when one existed."""

    @abstractmethod
    def video_lock(self, video_id: str, timeout_s: float = LOCK_TIMEOUT_S) -> ContextManager[None]:
        """Hold the lock of one video: one ingest or delete of it at a time."""

    def close(self) -> None:
        """Release connections."""


def check_update(fields: dict[str, Any]) -> None:
    """Raise ValueError for a field :meth:`VideoCatalog.update` may not set, or a bad status."""
    allowed = {"status", "checkpoint_ms", "frames_sampled", "frames_analysed", "error", "filename", "fps"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if fields.get("status", STATUSES[0]) not in STATUSES:
        raise ValueError(f"unknown status {fields['status']!r}")


class Catalog(VideoCatalog):
    """Video records in ``<data dir>/catalog.db``; safe to share between threads."""

    def __init__(self, path: Path):
        from .sqlite_util import connect

        self.path = Path(path)
        self._db = connect(self.path, SCHEMA, what="catalog", named_rows=True)
        self._lock = threading.Lock()
        self._locks_dir = self.path.parent / "locks"

    @contextmanager
    def video_lock(self, video_id: str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        """Hold the lock of one video (blocking up to ``timeout_s``): one ingest or delete of a
        video at a time, across threads and processes.

        Raises:
            FaultError: the lock was not free within ``timeout_s``.
        """
        import filelock

        try:
            self._locks_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError("the data directory cannot be written", detail=str(exc)) from None
        lock = filelock.FileLock(self._locks_dir / f"{ids.video_id(video_id)}.lock",
                                 thread_local=False)
        try:
            lock.acquire(timeout=timeout_s)
        except filelock.Timeout:
            raise FaultError(f"video {video_id} is busy (being ingested or deleted); try again "
                             "later") from None
        try:
            yield
        finally:
            lock.release()

    def get(self, video_id: str) -> VideoRecord | None:
        """The record of ``video_id``, or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM videos WHERE video_id = ?", (video_id,)).fetchone()
        return VideoRecord(**dict(row)) if row else None

    def list(self, statuses: tuple[str, ...] = ()) -> list[VideoRecord]:
        """Every record (or those in one of ``statuses``), newest first."""
        sql = "SELECT * FROM videos"
        params: tuple[str, ...] = ()
        if statuses:
            sql += f" WHERE status IN ({', '.join('?' * len(statuses))})"
            params = statuses
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY created_at DESC", params).fetchall()
        return [VideoRecord(**dict(r)) for r in rows]

    def start(self, video_id: str, filename: str, stored_path: str, duration_ms: int, width: int,
              height: int, fps: float, size_bytes: int, status: str = "ingesting") -> VideoRecord:
        """Create the record in ``status`` (``ingesting``, or ``queued`` for uploads waiting
        their turn), or set an existing one's status again keeping its checkpoint (resume)."""
        now = time.time()
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO videos (video_id, filename, stored_path, duration_ms, width, height,"
                " fps, size_bytes, status, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (video_id) DO UPDATE SET status=excluded.status, error='',"
                " stored_path=excluded.stored_path, updated_at=excluded.updated_at",
                (video_id, filename, stored_path, duration_ms, width, height, fps, size_bytes,
                 status, now, now))
        record = self.get(video_id)
        assert record is not None
        return record

    def update(self, video_id: str, **fields: Any) -> None:
        """Set columns (``status``, ``checkpoint_ms``, counters, ``error``) of one record."""
        check_update(fields)
        sets = "".join(f"{k} = ?, " for k in fields)
        with self._lock, self._db:
            self._db.execute(f"UPDATE videos SET {sets}updated_at = ? WHERE video_id = ?",
                             (*fields.values(), time.time(), video_id))

    def delete(self, video_id: str) -> bool:
        """Remove the record; True when one existed."""
        with self._lock, self._db:
            return self._db.execute("DELETE FROM videos WHERE video_id = ?", (video_id,)).rowcount > 0

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def open_catalog(url: str, data_dir: Path) -> VideoCatalog:
    """The catalog named by ``REKO_CATALOG_URL``: empty → SQLite ``<data_dir>/catalog.db``;
    ``dynamodb://prefix`` → the DynamoDB table ``<prefix>-videos`` (extra ``reko[aws]``).

    Raises:
        SettingsError: an unknown scheme.
    """
    from ..errors import SettingsError

    if not url:
        return Catalog(data_dir / "catalog.db")
    if url.startswith("dynamodb://"):
        from .aws.dynamodb_catalog import DynamoCatalog, parse_dynamodb_url

        return DynamoCatalog(parse_dynamodb_url(url))
    raise SettingsError("REKO_CATALOG_URL must be empty (SQLite in the data dir) or dynamodb://PREFIX")
