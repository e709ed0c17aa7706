"""The video catalog (SQLite in the data dir; DynamoDB's role on AWS).

One row per video: file facts from the probe, ingest ``status`` (``ingesting`` → ``ready``, or
``failed``), counters, and ``checkpoint_ms``: the ``frame_ms`` of the last frame document
written to the index, from which an interrupted ingest resumes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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


class Catalog:
    """Video records in ``<data dir>/catalog.db``; safe to share between threads."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def get(self, video_id: str) -> VideoRecord | None:
        """The record of ``video_id``, or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM videos WHERE video_id = ?", (video_id,)).fetchone()
        return VideoRecord(**dict(row)) if row else None

    def list(self) -> list[VideoRecord]:
        """Every record, newest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM videos ORDER BY created_at DESC").fetchall()
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
        return self.get(video_id)

    def update(self, video_id: str, **fields: Any) -> None:
        """Set columns (``status``, ``checkpoint_ms``, counters, ``error``) of one record."""
        allowed = {"status", "checkpoint_ms", "frames_sampled", "frames_analysed", "error", "filename"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._lock, self._db:
            self._db.execute(f"UPDATE videos SET {sets}, updated_at = ? WHERE video_id = ?",
                             (*fields.values(), time.time(), video_id))

    def delete(self, video_id: str) -> bool:
        """Remove the record; True when one existed."""
        with self._lock, self._db:
            return self._db.execute("DELETE FROM videos WHERE video_id = ?", (video_id,)).rowcount > 0

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
