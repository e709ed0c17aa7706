"""Persons: faces grouped into people across all videos, through the Rekognition collection API.

Every face of every analysed frame is indexed into one face collection (``IndexFaces`` in the
analysis workers, ``ExternalImageId`` = ``<video_id>:<frame_ms>``). Then, in the ingest process
and in frame order (so the result does not depend on worker timing), each face is assigned:

1. ``SearchUsers(FaceId=…)`` finds the best-matching person (a Rekognition *user*);
2. a *good* face (settings: minimum height, pose and sharpness limits) that matches at
   ``REKO_FACE_MATCH_SIMILARITY`` joins that person and is associated with the user
   (``AssociateFaces``), so it helps match later faces; a good face with no match starts a new
   person (``CreateUser``);
3. a *poor* face joins a person only when it clearly matches
   (``REKO_FACE_POOR_MATCH_SIMILARITY``), is never associated (so it cannot drag the person's
   faces towards someone else) and never starts a person.

Person ids are derived from the face that started them (``p-`` + SHA-1 of
``video_id:frame_ms:face index``), so re-running an interrupted ingest recreates the same ids.
Names, thumbnails and counts live in ``<data dir>/persons.db``; frame documents carry only
``person_ids``, names resolve at query time, and rename/merge/remove-face never re-analyse video.
With ``REKO_ANALYZER=rekognition`` the same calls go to Amazon Rekognition.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, QueryError, RekoError
from ..settings import Settings
from .sqlite_util import connect

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


@dataclass
class Person:
    """A person: stable ``person_id``, optional ``name``, ``face_count`` (faces assigned),
    ``screen_time_ms`` (total span of the frames they appear in) and ``videos``."""

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


def face_quality(detail: dict[str, Any], frame_height_px: int, settings: Settings) -> bool:
    """True when a Rekognition ``FaceDetail`` is good enough to start or shape a person:
    ``Confidence`` ≥ ``face_min_confidence``, box height ≥ ``face_min_height_px``,
    |Yaw| ≤ ``face_max_yaw_deg``, |Pitch| ≤ 30°, ``Quality.Sharpness`` ≥ ``face_min_sharpness``."""
    height_px = detail["BoundingBox"]["Height"] * frame_height_px
    pose = detail.get("Pose", {})
    sharpness = detail.get("Quality", {}).get("Sharpness", 100.0)
    return (detail["Confidence"] >= settings.face_min_confidence
            and height_px >= settings.face_min_height_px
            and abs(pose.get("Yaw", 0.0)) <= settings.face_max_yaw_deg
            and abs(pose.get("Pitch", 0.0)) <= 30.0
            and sharpness >= settings.face_min_sharpness)


def person_id_for(video_id: str, frame_ms: int, index: int) -> str:
    """Deterministic id of a person started by face ``index`` of a frame."""
    return "p-" + hashlib.sha1(f"{video_id}:{frame_ms}:{index}".encode()).hexdigest()[:10]


class PersonStore:
    """Persons and their faces (``<data dir>/persons.db``) over a Rekognition-shaped client."""

    def __init__(self, settings: Settings, client: Any):
        self.settings = settings
        self.client = client
        self.collection_id = settings.face_collection
        self._db = connect(settings.data_dir / "persons.db", SCHEMA, what="person store")
        self._lock = threading.RLock()
        self._collection_ready = False

    # -- collection -------------------------------------------------------------------------
    def ensure_collection(self) -> None:
        """Create the face collection when it does not exist yet."""
        if self._collection_ready:
            return
        try:
            self.client.create_collection(CollectionId=self.collection_id)
        except Exception as exc:  # boto3 ClientError or the local engine's RekognitionError
            if _error_code(exc) != "ResourceAlreadyExistsException":
                raise
        self._collection_ready = True

    # -- assignment (ingest) ----------------------------------------------------------------
    def assign(self, video_id: str, frame_ms: int, span_ms: int, frame_height_px: int,
               face_records: list[dict[str, Any]], frame_jpeg_path: Path | None = None) -> list[dict[str, Any]]:
        """Assign the ``FaceRecords`` of one frame to persons; returns the document's ``faces``
        (``face_id``, ``person_id`` or None, ``confidence`` 0–100, ``box`` ratios, ``good``)."""
        out = []
        for index, record in enumerate(face_records):
            face_id = record["Face"]["FaceId"]
            detail = record["FaceDetail"]
            good = face_quality(detail, frame_height_px, self.settings)
            threshold = self.settings.face_match_similarity if good else self.settings.face_poor_match_similarity
            matches = self.client.search_users(CollectionId=self.collection_id, FaceId=face_id,
                                               UserMatchThreshold=threshold, MaxUsers=1)["UserMatches"]
            person_id = matches[0]["User"]["UserId"] if matches else None
            associated = False
            with self._lock, self._db:
                if person_id is None and good:
                    person_id = person_id_for(video_id, frame_ms, index)
                    self.client.create_user(CollectionId=self.collection_id, UserId=person_id)
                    self._db.execute(
                        "INSERT OR IGNORE INTO persons (person_id, video_id, frame_ms, created_at)"
                        " VALUES (?, ?, ?, ?)", (person_id, video_id, frame_ms, time.time()))
                if person_id is not None and good:
                    result = self.client.associate_faces(CollectionId=self.collection_id, UserId=person_id,
                                                         FaceIds=[face_id], UserMatchThreshold=0)
                    associated = bool(result["AssociatedFaces"])
                box = {k: round(v, 5) for k, v in detail["BoundingBox"].items()}
                self._db.execute(
                    "INSERT OR REPLACE INTO faces (face_id, person_id, video_id, frame_ms, span_ms, box,"
                    " confidence, good, associated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (face_id, person_id, video_id, frame_ms, span_ms, json.dumps(box),
                     float(detail["Confidence"]), int(good), int(associated)))
                if person_id is not None and good and frame_jpeg_path is not None:
                    self._maybe_thumbnail(person_id, face_id, box, detail, frame_jpeg_path)
            out.append({"face_id": face_id, "person_id": person_id,
                        "confidence": round(float(detail["Confidence"]), 2), "box": box, "good": good})
        return out

    def _maybe_thumbnail(self, person_id: str, face_id: str, box: dict, detail: dict, frame_path: Path) -> None:
        score = box["Height"] * detail.get("Quality", {}).get("Sharpness", 50.0) * \
            max(0.0, 1 - abs(detail.get("Pose", {}).get("Yaw", 0.0)) / 90)
        current = self._db.execute("SELECT thumbnail_score FROM persons WHERE person_id = ?",
                                   (person_id,)).fetchone()
        if current is None or score <= current[0]:
            return
        try:
            write_face_thumbnail(frame_path, box, self.thumbnail_path(person_id))
        except (OSError, ValueError):
            return
        self._db.execute("UPDATE persons SET thumbnail_face_id = ?, thumbnail_score = ? WHERE person_id = ?",
                         (face_id, score, person_id))

    def thumbnail_path(self, person_id: str) -> Path:
        """Where a person's face thumbnail (JPEG) is stored."""
        return self.settings.data_dir / "persons" / f"{person_id}.jpg"

    # -- rollback (resume, bad input, delete) -----------------------------------------------
    def forget_frames(self, video_id: str, after_frame_ms: int = -1) -> None:
        """Remove the faces of ``video_id`` with ``frame_ms`` > ``after_frame_ms`` from the
        collection and the store, and the persons those frames started. Also removes faces a
        killed ingest indexed but never assigned (found by their ``ExternalImageId``)."""
        self.ensure_collection()
        with self._lock, self._db:
            rows = self._db.execute("SELECT face_id, person_id, associated FROM faces WHERE video_id = ?"
                                    " AND frame_ms > ?", (video_id, after_frame_ms)).fetchall()
            started = [r[0] for r in self._db.execute(
                "SELECT person_id FROM persons WHERE video_id = ? AND frame_ms > ?", (video_id, after_frame_ms))]
        stray = [f["FaceId"] for f in self._list_faces()
                 if (frame_ms := _frame_of(f, video_id)) is not None and frame_ms > after_frame_ms]
        face_ids = sorted({r[0] for r in rows} | set(stray))
        for person_id in {r[1] for r in rows if r[1] and r[2]}:
            ids = [r[0] for r in rows if r[1] == person_id and r[2]]
            for chunk in _chunks(ids, 100):
                self._call_ignoring_missing(self.client.disassociate_faces, CollectionId=self.collection_id,
                                            UserId=person_id, FaceIds=chunk)
        for chunk in _chunks(face_ids, 4096):
            self.client.delete_faces(CollectionId=self.collection_id, FaceIds=chunk)
        with self._lock, self._db:
            self._db.execute("DELETE FROM faces WHERE video_id = ? AND frame_ms > ?", (video_id, after_frame_ms))
        for person_id in set(started) | {r[1] for r in rows if r[1]}:
            self._drop_if_empty(person_id)

    def _list_faces(self) -> list[dict[str, Any]]:
        faces, token = [], None
        while True:
            kwargs = {"CollectionId": self.collection_id, "MaxResults": 4096}
            if token:
                kwargs["NextToken"] = token
            page = self.client.list_faces(**kwargs)
            faces.extend(page["Faces"])
            token = page.get("NextToken")
            if not token:
                return faces

    def _drop_if_empty(self, person_id: str) -> None:
        with self._lock, self._db:
            left = self._db.execute("SELECT count(*) FROM faces WHERE person_id = ? AND removed = 0",
                                    (person_id,)).fetchone()[0]
            if left:
                return
            self._db.execute("DELETE FROM persons WHERE person_id = ?", (person_id,))
        self._call_ignoring_missing(self.client.delete_user, CollectionId=self.collection_id, UserId=person_id)
        self.thumbnail_path(person_id).unlink(missing_ok=True)

    @staticmethod
    def _call_ignoring_missing(fn, **kwargs) -> None:
        try:
            fn(**kwargs)
        except Exception as exc:
            if _error_code(exc) not in ("ResourceNotFoundException", "InvalidParameterException"):
                raise

    # -- queries ----------------------------------------------------------------------------
    def list(self) -> list[Person]:
        """Every person, most screen time first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT p.person_id, p.name, p.thumbnail_face_id,"
                " (SELECT count(*) FROM faces f WHERE f.person_id = p.person_id AND f.removed = 0),"
                " (SELECT coalesce(sum(span), 0) FROM (SELECT max(f.span_ms) AS span FROM faces f"
                "   WHERE f.person_id = p.person_id AND f.removed = 0 GROUP BY f.video_id, f.frame_ms)),"
                " (SELECT count(DISTINCT f.video_id) FROM faces f WHERE f.person_id = p.person_id AND f.removed = 0)"
                " FROM persons p").fetchall()
        persons = [Person(person_id=r[0], name=r[1], thumbnail_face_id=r[2], face_count=r[3],
                          screen_time_ms=r[4], videos=r[5]) for r in rows]
        return sorted(persons, key=lambda p: (-p.screen_time_ms, p.person_id))

    def get(self, person_id: str) -> Person:
        """One person. Raises NotFoundError."""
        for person in self.list():
            if person.person_id == person_id:
                return person
        raise NotFoundError(f"no person {person_id!r}; see `reko persons`")

    def resolve(self, id_or_name: str) -> list[str]:
        """Person ids for an id or a name (case-insensitive, every person with that name).

        Raises:
            QueryError: nobody has that id or name.
        """
        with self._lock:
            rows = self._db.execute("SELECT person_id FROM persons WHERE person_id = ? OR"
                                    " (name != '' AND lower(name) = lower(?))",
                                    (id_or_name, id_or_name.strip())).fetchall()
        if not rows:
            raise QueryError(f"no person with the id or name {id_or_name!r}; see `reko persons`")
        return sorted(r[0] for r in rows)

    def names(self) -> dict[str, str]:
        """person_id → name (only named persons)."""
        with self._lock:
            return dict(self._db.execute("SELECT person_id, name FROM persons WHERE name != ''").fetchall())

    def face(self, face_id: str) -> dict[str, Any]:
        """One face row. Raises NotFoundError."""
        with self._lock:
            row = self._db.execute("SELECT face_id, person_id, video_id, frame_ms, removed FROM faces"
                                   " WHERE face_id = ?", (face_id,)).fetchone()
        if row is None or row[4]:
            raise NotFoundError(f"no face {face_id!r}")
        return {"face_id": row[0], "person_id": row[1], "video_id": row[2], "frame_ms": row[3]}

    def faces_of(self, person_id: str) -> list[dict[str, Any]]:
        """The faces of a person, in (video, time) order."""
        with self._lock:
            rows = self._db.execute("SELECT face_id, video_id, frame_ms, box, good FROM faces WHERE"
                                    " person_id = ? AND removed = 0 ORDER BY video_id, frame_ms",
                                    (person_id,)).fetchall()
        return [{"face_id": r[0], "video_id": r[1], "frame_ms": r[2], "box": json.loads(r[3]),
                 "good": bool(r[4])} for r in rows]

    def search_by_image(self, image_bytes: bytes) -> tuple[str, float]:
        """The person whose faces best match the largest face in a photo: (person_id, similarity).

        Raises:
            QueryError: no face in the photo, or nobody known matches it.
        """
        self.ensure_collection()
        try:
            response = self.client.search_users_by_image(
                CollectionId=self.collection_id, Image={"Bytes": image_bytes},
                UserMatchThreshold=self.settings.face_match_similarity, MaxUsers=1)
        except RekoError as exc:
            raise QueryError(f"cannot search by this photo: {exc}") from None
        except Exception as exc:
            if _error_code(exc) == "InvalidParameterException":
                raise QueryError(f"no face found in the photo: {exc}") from None
            raise
        matches = response.get("UserMatches", [])
        if not matches:
            raise QueryError("the face in the photo matches nobody in the archive")
        return matches[0]["User"]["UserId"], float(matches[0]["Similarity"])

    # -- late naming --------------------------------------------------------------------------
    def rename(self, person_id: str, name: str) -> None:
        """Give a person a name (empty clears it). Documents keep ids; nothing is re-analysed."""
        self.get(person_id)
        with self._lock, self._db:
            self._db.execute("UPDATE persons SET name = ? WHERE person_id = ?", (name.strip()[:200], person_id))

    def merge(self, person_id: str, into_id: str) -> list[tuple[str, int]]:
        """Move every face of ``person_id`` to ``into_id`` and delete ``person_id``; returns the
        (video_id, frame_ms) of frames whose documents must be updated."""
        if person_id == into_id:
            raise QueryError("a person cannot be merged into itself")
        source, target = self.get(person_id), self.get(into_id)
        with self._lock:
            rows = self._db.execute("SELECT face_id, associated, video_id, frame_ms FROM faces"
                                    " WHERE person_id = ? AND removed = 0", (person_id,)).fetchall()
        associated = [r[0] for r in rows if r[1]]
        for chunk in _chunks(associated, 100):
            self.client.disassociate_faces(CollectionId=self.collection_id, UserId=person_id, FaceIds=chunk)
            self.client.associate_faces(CollectionId=self.collection_id, UserId=into_id, FaceIds=chunk,
                                        UserMatchThreshold=0)
        with self._lock, self._db:
            self._db.execute("UPDATE faces SET person_id = ? WHERE person_id = ?", (into_id, person_id))
            if not target.name and source.name:
                self._db.execute("UPDATE persons SET name = ? WHERE person_id = ?", (source.name, into_id))
            self._db.execute("DELETE FROM persons WHERE person_id = ?", (person_id,))
        self._call_ignoring_missing(self.client.delete_user, CollectionId=self.collection_id, UserId=person_id)
        if not self.thumbnail_path(into_id).exists() and self.thumbnail_path(person_id).exists():
            self.thumbnail_path(person_id).rename(self.thumbnail_path(into_id))
        self.thumbnail_path(person_id).unlink(missing_ok=True)
        return sorted({(r[2], r[3]) for r in rows})

    def remove_face(self, face_id: str) -> tuple[str, int]:
        """Take one face away from its person (it is deleted from the collection so it cannot
        attract later faces); returns the (video_id, frame_ms) of its frame."""
        face = self.face(face_id)
        with self._lock:
            associated = self._db.execute("SELECT associated FROM faces WHERE face_id = ?", (face_id,)).fetchone()[0]
        if face["person_id"] and associated:
            self._call_ignoring_missing(self.client.disassociate_faces, CollectionId=self.collection_id,
                                        UserId=face["person_id"], FaceIds=[face_id])
        self.client.delete_faces(CollectionId=self.collection_id, FaceIds=[face_id])
        with self._lock, self._db:
            self._db.execute("UPDATE faces SET removed = 1, person_id = NULL WHERE face_id = ?", (face_id,))
        if face["person_id"]:
            self._drop_if_empty(face["person_id"])
        return face["video_id"], face["frame_ms"]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def write_face_thumbnail(frame_path: Path, box: dict[str, float], out: Path, side_px: int = 160) -> None:
    """Crop ``box`` (ratios) with 30 % margin from a frame JPEG into a square ``side_px`` JPEG."""
    from PIL import Image

    with Image.open(frame_path) as img:
        w, h = img.size
        cx, cy = (box["Left"] + box["Width"] / 2) * w, (box["Top"] + box["Height"] / 2) * h
        half = max(box["Width"] * w, box["Height"] * h) * 0.65
        crop = img.convert("RGB").crop((int(max(0, cx - half)), int(max(0, cy - half)),
                                        int(min(w, cx + half)), int(min(h, cy + half))))
        crop = crop.resize((side_px, side_px), Image.Resampling.LANCZOS)
        out.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        crop.save(buf, format="JPEG", quality=88)
        tmp = out.with_suffix(".part")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(out)


def update_documents(index, frames: list[tuple[str, int]], store: PersonStore) -> int:
    """Rewrite the ``faces``/``person_ids`` of the given frame documents from the person store
    (after a merge or a face removal); returns how many documents changed."""
    by_video: dict[str, set[int]] = {}
    for video_id, frame_ms in frames:
        by_video.setdefault(video_id, set()).add(frame_ms)
    changed = []
    with store._lock:
        owners = dict(store._db.execute("SELECT face_id, person_id FROM faces").fetchall())
        removed = {r[0] for r in store._db.execute("SELECT face_id FROM faces WHERE removed = 1")}
    for video_id, wanted in by_video.items():
        for doc in index.frames(video_id):
            if doc["frame_ms"] not in wanted:
                continue
            faces = [dict(f, person_id=owners.get(f["face_id"])) for f in doc.get("faces", [])
                     if f["face_id"] not in removed]
            doc["faces"] = faces
            doc["person_ids"] = sorted({f["person_id"] for f in faces if f["person_id"]})
            changed.append(doc)
    if changed:
        index.index_frames(changed)
    return len(changed)


def _frame_of(face: dict[str, Any], video_id: str) -> int | None:
    ext = face.get("ExternalImageId", "")
    if not ext.startswith(video_id + ":"):
        return None
    try:
        return int(ext.split(":", 1)[1])
    except ValueError:
        return None


def _chunks(items: list[str], size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code", "")
    return type(exc).__name__
