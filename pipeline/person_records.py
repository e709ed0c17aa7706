"""Person records: names, thumbnails and the face → person bookkeeping of
:class:`reko.pipeline.persons.PersonStore`, behind one small interface.

The face collection (Rekognition's, or the local engine's) holds the faces and the users
(persons); these records hold what the collection cannot: a person's name and best face, which
frame each face is in, whether it was associated to its user, removed by hand, and the span of
its frame (for screen time). SQLite (``<data dir>/persons.db``, :class:`SqlitePersonRecords`)
locally; DynamoDB on AWS (:mod:`reko.pipeline.aws.dynamodb_persons`). One contract test suite
runs over both.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .sqlite_util import connect


@dataclass
class Person:
    """A person: stable ``person_id``, optional ``name``, ``face_count`` (faces assigned),
    ``screen_time_ms`` (total span of the frames they appear in, ms) and ``videos``."""

    person_id: str
    name: str
    face_count: int
    screen_time_ms: int
    videos: int
    thumbnail_face_id: str | None

    def to_json(self) -> dict[str, Any]:
        """The ``reko persons --json`` shape."""
        return {"person_id": self.person_id, "name": self.name, "face_count": self.face_count,
                "screen_time_ms": self.screen_time_ms, "videos": self.videos}


@dataclass
class FaceRow:
    """One face's bookkeeping: its frame (``video_id``, ``frame_ms``, ``span_ms`` the frame
    stands for), ``box`` (BoundingBox ratios), detection ``confidence`` 0–100, ``good`` quality,
    ``associated`` with its person's user in the collection, ``removed`` by hand."""

    face_id: str
    person_id: str | None
    video_id: str
    frame_ms: int
    span_ms: int
    box: dict[str, float]
    confidence: float
    good: bool
    associated: bool
    removed: bool = False


def persons_from_faces(people: dict[str, tuple[str, str | None]], faces: list[FaceRow]) -> list[Person]:
    """Aggregate :class:`Person` rows from ``people`` (id → (name, thumbnail face id)) and their
    live faces: face count, screen time (each frame's span counted once per person) and videos;
    most screen time first, ties by id."""
    spans: dict[str, dict[tuple[str, int], int]] = {pid: {} for pid in people}
    counts = {pid: 0 for pid in people}
    for face in faces:
        if face.removed or face.person_id not in people:
            continue
        counts[face.person_id] += 1
        frame = (face.video_id, face.frame_ms)
        spans[face.person_id][frame] = max(spans[face.person_id].get(frame, 0), face.span_ms)
    persons = [Person(person_id=pid, name=name, thumbnail_face_id=thumb, face_count=counts[pid],
                      screen_time_ms=sum(spans[pid].values()),
                      videos=len({video for video, _ in spans[pid]}))
               for pid, (name, thumb) in people.items()]
    return sorted(persons, key=lambda p: (-p.screen_time_ms, p.person_id))


class PersonRecords(ABC):
    """Storage of persons and face rows (see the module docstring)."""

    @abstractmethod
    def add_person(self, person_id: str, video_id: str, frame_ms: int) -> None:
        """Record a person started by a face of (``video_id``, ``frame_ms``); no-op if known."""

    @abstractmethod
    def delete_person(self, person_id: str) -> None:
        """Forget a person (its faces stay, unassigned or reassigned by the caller)."""

    @abstractmethod
    def persons(self) -> list[Person]:
        """Every person with aggregates (see :func:`persons_from_faces`)."""

    @abstractmethod
    def person_ids_named(self, id_or_name: str) -> list[str]:
        """Ids of the person with that id, or of every person with that name (case-insensitive)."""

    @abstractmethod
    def names(self) -> dict[str, str]:
        """person_id → name, for named persons."""

    @abstractmethod
    def rename(self, person_id: str, name: str) -> None:
        """Set a person's name (empty clears it)."""

    @abstractmethod
    def thumbnail_score(self, person_id: str) -> float | None:
        """The score of the person's current thumbnail (0 when none), None for an unknown person."""

    @abstractmethod
    def set_thumbnail(self, person_id: str, face_id: str, score: float) -> None:
        """Record the face now used as the person's thumbnail, with its score."""

    @abstractmethod
    def started_after(self, video_id: str, after_frame_ms: int) -> list[str]:
        """Persons started by a face of ``video_id`` with ``frame_ms`` > ``after_frame_ms``."""

    @abstractmethod
    def put_face(self, face: FaceRow) -> None:
        """Insert or replace a face row."""

    @abstractmethod
    def face(self, face_id: str) -> FaceRow | None:
        """One face row, or None."""

    @abstractmethod
    def faces_after(self, video_id: str, after_frame_ms: int) -> list[FaceRow]:
        """Face rows of ``video_id`` with ``frame_ms`` > ``after_frame_ms``."""

    @abstractmethod
    def delete_faces_after(self, video_id: str, after_frame_ms: int) -> None:
        """Delete the face rows :meth:`faces_after` returns."""

    @abstractmethod
    def faces_of(self, person_id: str) -> list[FaceRow]:
        """A person's live (not removed) faces in (video, time) order."""

    @abstractmethod
    def move_faces(self, from_id: str, to_id: str) -> None:
        """Reassign every face of ``from_id`` to ``to_id`` (merge)."""

    @abstractmethod
    def mark_removed(self, face_id: str) -> None:
        """Mark a face removed by hand (it keeps its row, without a person)."""

    @abstractmethod
    def faces_by_id(self, face_ids: list[str]) -> dict[str, FaceRow]:
        """The rows of the given faces (removed ones included); unknown ids are absent."""

    def close(self) -> None:
        """Release connections."""


SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS persons (
    person_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    thumbnail_face_id TEXT,
    thumbnail_score REAL NOT NULL DEFAULT 0,
    video_id TEXT NOT NULL,
    frame_ms INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS faces (
    face_id TEXT PRIMARY KEY,
    person_id TEXT,
    video_id TEXT NOT NULL,
    frame_ms INTEGER NOT NULL,
    span_ms INTEGER NOT NULL,
    box TEXT NOT NULL,
    confidence REAL NOT NULL,
    good INTEGER NOT NULL,
    associated INTEGER NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS faces_person ON faces (person_id);
CREATE INDEX IF NOT EXISTS faces_frame ON faces (video_id, frame_ms);
"""

_FACE_COLUMNS = "face_id, person_id, video_id, frame_ms, span_ms, box, confidence, good, associated, removed"


def _face(row: Any) -> FaceRow:
    return FaceRow(face_id=row[0], person_id=row[1], video_id=row[2], frame_ms=row[3], span_ms=row[4],
                   box=json.loads(row[5]), confidence=row[6], good=bool(row[7]),
                   associated=bool(row[8]), removed=bool(row[9]))


class SqlitePersonRecords(PersonRecords):
    """Person records in one SQLite file (``<data dir>/persons.db``); thread-safe."""

    def __init__(self, path: Path):
        self._db = connect(path, SCHEMA, what="person store")
        self._lock = threading.RLock()

    def _query(self, sql: str, params: tuple = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _write(self, sql: str, params: tuple = ()) -> None:
        with self._lock, self._db:
            self._db.execute(sql, params)

    def add_person(self, person_id: str, video_id: str, frame_ms: int) -> None:
        self._write("INSERT OR IGNORE INTO persons (person_id, video_id, frame_ms, created_at)"
                    " VALUES (?, ?, ?, ?)", (person_id, video_id, frame_ms, time.time()))

    def delete_person(self, person_id: str) -> None:
        self._write("DELETE FROM persons WHERE person_id = ?", (person_id,))

    def persons(self) -> list[Person]:
        with self._lock:
            people = {r[0]: (r[1], r[2]) for r in self._db.execute(
                "SELECT person_id, name, thumbnail_face_id FROM persons")}
            faces = [_face(r) for r in self._db.execute(
                f"SELECT {_FACE_COLUMNS} FROM faces WHERE removed = 0 AND person_id IS NOT NULL")]
        return persons_from_faces(people, faces)

    def person_ids_named(self, id_or_name: str) -> list[str]:
        wanted = id_or_name.strip().casefold()  # Unicode case folding (SQLite's lower() is ASCII only)
        rows = self._query("SELECT person_id, name FROM persons")
        return sorted(r[0] for r in rows if r[0] == id_or_name or (r[1] and r[1].casefold() == wanted))

    def names(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._query("SELECT person_id, name FROM persons WHERE name != ''")}

    def rename(self, person_id: str, name: str) -> None:
        self._write("UPDATE persons SET name = ? WHERE person_id = ?", (name, person_id))

    def thumbnail_score(self, person_id: str) -> float | None:
        rows = self._query("SELECT thumbnail_score FROM persons WHERE person_id = ?", (person_id,))
        return float(rows[0][0]) if rows else None

    def set_thumbnail(self, person_id: str, face_id: str, score: float) -> None:
        self._write("UPDATE persons SET thumbnail_face_id = ?, thumbnail_score = ? WHERE person_id = ?",
                    (face_id, score, person_id))

    def started_after(self, video_id: str, after_frame_ms: int) -> list[str]:
        return [r[0] for r in self._query("SELECT person_id FROM persons WHERE video_id = ? AND frame_ms > ?",
                                          (video_id, after_frame_ms))]

    def put_face(self, face: FaceRow) -> None:
        self._write(f"INSERT OR REPLACE INTO faces ({_FACE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (face.face_id, face.person_id, face.video_id, face.frame_ms, face.span_ms,
                     json.dumps(face.box), float(face.confidence), int(face.good),
                     int(face.associated), int(face.removed)))

    def face(self, face_id: str) -> FaceRow | None:
        rows = self._query(f"SELECT {_FACE_COLUMNS} FROM faces WHERE face_id = ?", (face_id,))
        return _face(rows[0]) if rows else None

    def faces_after(self, video_id: str, after_frame_ms: int) -> list[FaceRow]:
        return [_face(r) for r in self._query(
            f"SELECT {_FACE_COLUMNS} FROM faces WHERE video_id = ? AND frame_ms > ?", (video_id, after_frame_ms))]

    def delete_faces_after(self, video_id: str, after_frame_ms: int) -> None:
        self._write("DELETE FROM faces WHERE video_id = ? AND frame_ms > ?", (video_id, after_frame_ms))

    def faces_of(self, person_id: str) -> list[FaceRow]:
        return [_face(r) for r in self._query(
            f"SELECT {_FACE_COLUMNS} FROM faces WHERE person_id = ? AND removed = 0"
            " ORDER BY video_id, frame_ms", (person_id,))]

    def move_faces(self, from_id: str, to_id: str) -> None:
        self._write("UPDATE faces SET person_id = ? WHERE person_id = ?", (to_id, from_id))

    def mark_removed(self, face_id: str) -> None:
        self._write("UPDATE faces SET removed = 1, person_id = NULL WHERE face_id = ?", (face_id,))

    def faces_by_id(self, face_ids: list[str]) -> dict[str, FaceRow]:
        found: dict[str, FaceRow] = {}
        for start in range(0, len(face_ids), 500):
            chunk = face_ids[start:start + 500]
            found.update({r[0]: _face(r) for r in self._query(
                f"SELECT {_FACE_COLUMNS} FROM faces WHERE face_id IN ({','.join('?' * len(chunk))})",
                tuple(chunk))})
        return found

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_person_records(url: str, data_dir: Path) -> PersonRecords:
    """The person records named by ``REKO_CATALOG_URL`` (they live beside the catalog): empty →
    SQLite ``<data_dir>/persons.db``; ``dynamodb://prefix`` → the tables ``<prefix>-persons``
    and ``<prefix>-faces``.

    Raises:
        SettingsError: an unknown scheme.
    """
    from ..errors import SettingsError

    if not url:
        return SqlitePersonRecords(data_dir / "persons.db")
    if url.startswith("dynamodb://"):
        from .aws.dynamodb_catalog import parse_dynamodb_url
        from .aws.dynamodb_persons import DynamoPersonRecords

        return DynamoPersonRecords(parse_dynamodb_url(url))
    raise SettingsError("REKO_CATALOG_URL must be empty (SQLite in the data dir) or dynamodb://PREFIX")
