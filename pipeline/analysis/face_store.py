"""Rekognition-compatible face collections, persisted on disk, searched with numpy.

One SQLite database per collection: ``<root>/collections/<CollectionId>.sqlite`` (WAL mode, so
several ingest processes can index into one collection while others search it), opened through
reko's one SQLite helper (:func:`reko.pipeline.sqlite_util.connect`: a full disk or an
unwritable file is a :class:`~reko.errors.StorageError`). A face row holds Rekognition's
metadata (FaceId, ImageId, ExternalImageId, BoundingBox, Confidence, UserId) and the 128-d dlib
embedding as a float32 blob; images are never stored.

Searches load a collection's embeddings once into a numpy matrix (cached per process and
refreshed when the collection changes) and compute Euclidean distances in one vectorised step.
Distances become Rekognition ``Similarity`` (0–100) through
:func:`.similarity.distance_to_similarity`, calibrated on real photos (see there).

All methods take Python arguments (snake_case, RGB arrays) and return dicts shaped exactly like
the matching Rekognition responses; :mod:`.local_faces` maps boto3's keyword names onto them.
Errors are Rekognition's (:mod:`.rekognition_errors`: ``ResourceNotFoundException`` …), ids are
checked against the Rekognition patterns of :mod:`reko.pipeline.ids`.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ...errors import StorageError
from ..ids import COLLECTION_ID, EXTERNAL_IMAGE_ID, FACE_ID, USER_ID
from ..sqlite_util import Connection, connect
from .face_quality import QUALITY_FILTERS, quality_reasons
from .faces import FACE_MODEL_VERSION, DetectedFace, FaceEngine, check_attributes, face_detail
from .rekognition_errors import (
    ConflictException,
    InvalidPaginationTokenException,
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from .similarity import (
    DEFAULT_ASSOCIATE_THRESHOLD,
    DEFAULT_FACE_MATCH_THRESHOLD,
    DEFAULT_USER_SEARCH_THRESHOLD,
    distance_to_similarity,
)

# --------------------------------------------------------------------------------------------
# Parameter checks (patterns and ranges from botocore's Rekognition model)
# --------------------------------------------------------------------------------------------


def _check(pattern: re.Pattern, value: Any, name: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidParameterException(
            f"{name} {value!r} is invalid: it must match {pattern.pattern}")
    return value


def _check_range(value: Any, name: str, low: float, high: float, default: Any) -> Any:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InvalidParameterException(f"{name} must be a number from {low} to {high}, got {value!r}")
    return value


def _check_quality(value: str | None, default: str) -> str:
    value = default if value is None else value
    if value not in QUALITY_FILTERS:
        raise InvalidParameterException(f"QualityFilter must be one of {QUALITY_FILTERS}, got {value!r}")
    return value


def _check_face_ids(face_ids: Any, name: str = "FaceIds", max_items: int = 4096) -> list[str]:
    if isinstance(face_ids, str) or not isinstance(face_ids, (list, tuple)) or \
            not 1 <= len(face_ids) <= max_items:
        raise InvalidParameterException(f"{name} must be a list of 1 to {max_items} FaceIds")
    return [_check(FACE_ID, f, "FaceId") for f in face_ids]


# --------------------------------------------------------------------------------------------
# The collections store
# --------------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE faces (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    face_id TEXT NOT NULL UNIQUE,
    image_id TEXT NOT NULL,
    external_image_id TEXT,
    box_width REAL NOT NULL, box_height REAL NOT NULL, box_left REAL NOT NULL, box_top REAL NOT NULL,
    confidence REAL NOT NULL,
    user_id TEXT,
    embedding BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX faces_user ON faces (user_id);
CREATE TABLE users (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL
);
"""
_FACE_COLUMNS = ("face_id, image_id, external_image_id, box_width, box_height, box_left, "
                 "box_top, confidence, user_id")
_EMBEDDING_DIM = 128


class _Matrix:
    """A collection's embeddings as loaded for search (one per collection and generation)."""

    def __init__(self, generation: str, face_ids: list[str], user_ids: list[str | None],
                 matrix: np.ndarray):
        self.generation = generation
        self.face_ids = face_ids
        self.user_ids = user_ids
        self.matrix = matrix                       # N×128 float32
        self.row = {f: i for i, f in enumerate(face_ids)}


class FaceCollections:
    """Rekognition face collections and users stored under ``root``.

    Args:
        root: reko's data directory; collections live in ``root/collections/*.sqlite``.
        engine: the :class:`~.faces.FaceEngine` used to analyse images (or a zero-argument
            callable returning one, called at each use). Default: the process's shared
            ``faces`` engine (:data:`.engines.ENGINES`).

    Every method raises :class:`ResourceNotFoundException` for a missing collection and
    :class:`InvalidParameterException` for malformed parameters, as Rekognition does.
    """

    def __init__(self, root: str | os.PathLike,
                 engine: FaceEngine | Callable[[], FaceEngine] | None = None):
        self.root = Path(root)
        self.dir = self.root / "collections"
        self._engine_arg = engine
        self._cache: dict[str, _Matrix] = {}
        self._lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def engine(self) -> FaceEngine:
        """The face engine: the one given, or the process's ``faces`` engine
        (:data:`.engines.ENGINES`), loaded on first use.

        Raises:
            AnalyzerError: dlib or the face models are missing.
        """
        if isinstance(self._engine_arg, FaceEngine):
            return self._engine_arg
        if callable(self._engine_arg):
            return self._engine_arg()
        from .engines import ENGINES

        return ENGINES.get("faces")

    def path(self, collection_id: str) -> Path:
        """SQLite file of a collection (whether or not it exists)."""
        return self.dir / f"{_check(COLLECTION_ID, collection_id, 'CollectionId')}.sqlite"

    def arn(self, collection_id: str) -> str:
        """The collection's ARN as reported locally (region ``local``, account 000000000000)."""
        return f"arn:aws:rekognition:local:000000000000:collection/{collection_id}"

    @contextmanager
    def _db(self, collection_id: str, write: bool = False) -> Iterator[Connection]:
        """One transaction on an existing collection (``BEGIN IMMEDIATE`` when ``write``, which
        also bumps the collection's generation so every process reloads its matrix).

        Raises:
            ResourceNotFoundException: no such collection (or it was deleted meanwhile).
            StorageError: the file cannot be read or written (disk full, permissions).
        """
        path = self.path(collection_id)
        if not path.is_file():
            raise ResourceNotFoundException(
                f"The collection id: {collection_id} does not exist; create it with "
                f"create_collection(CollectionId={collection_id!r})")
        try:
            conn = connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None,
                           what=f"face collection {collection_id}")
        except StorageError:
            if not path.is_file():      # deleted since the check
                raise ResourceNotFoundException(
                    f"The collection id: {collection_id} does not exist") from None
            raise
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
                if write:
                    conn.execute("UPDATE meta SET value = ? WHERE key = 'generation'",
                                 (uuid.uuid4().hex,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except StorageError:
            if not path.is_file():      # deleted while we were opening it
                raise ResourceNotFoundException(
                    f"The collection id: {collection_id} does not exist") from None
            raise
        finally:
            conn.close()

    def _matrix(self, conn: Connection, collection_id: str) -> _Matrix:
        generation = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
        cached = self._cache.get(collection_id)
        if cached is not None and cached.generation == generation:
            return cached
        rows = conn.execute("SELECT face_id, user_id, embedding FROM faces ORDER BY seq").fetchall()
        matrix = (np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32)
                  .reshape(len(rows), _EMBEDDING_DIM)) if rows else np.zeros((0, _EMBEDDING_DIM), np.float32)
        loaded = _Matrix(generation, [r[0] for r in rows], [r[1] for r in rows], matrix)
        with self._lock:
            self._cache[collection_id] = loaded
        return loaded

    @staticmethod
    def _face(row: Sequence, with_versions: bool = True) -> dict[str, Any]:
        face_id, image_id, ext, w, h, left, top, conf, user_id = row
        face: dict[str, Any] = {"FaceId": face_id,
                                "BoundingBox": {"Width": w, "Height": h, "Left": left, "Top": top},
                                "ImageId": image_id}
        if ext is not None:
            face["ExternalImageId"] = ext
        face["Confidence"] = conf
        if with_versions:
            face["IndexFacesModelVersion"] = FACE_MODEL_VERSION
            if user_id is not None:
                face["UserId"] = user_id
        return face

    def _faces_by_id(self, conn: Connection, face_ids: Iterable[str]) -> dict[str, tuple]:
        ids = list(face_ids)
        out: dict[str, tuple] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(f"SELECT {_FACE_COLUMNS} FROM faces WHERE face_id IN ({marks})",
                                    chunk):
                out[row[0]] = row
        return out

    def _detect(self, image: np.ndarray) -> list[DetectedFace]:
        return self.engine.detect(image)

    def _largest_face(self, image: np.ndarray, quality_filter: str) -> tuple[DetectedFace, list[DetectedFace]]:
        faces = self._detect(image)
        if not faces:
            raise InvalidParameterException(
                "There are no faces in the image. Should be at least 1. (No face was found: "
                "send a photo or frame in which a face is at least ≈40–80 px tall and seen "
                "from the front.)")
        faces = sorted(faces, key=lambda f: -f.area_px)
        largest = faces[0]
        reasons = quality_reasons(largest, quality_filter)
        if reasons:
            raise InvalidParameterException(
                f"The largest face in the image does not meet QualityFilter={quality_filter} "
                f"({', '.join(reasons)}); use a better photo or QualityFilter='NONE'")
        return largest, faces[1:]

    # -- collections ---------------------------------------------------------------------------
    def create_collection(self, collection_id: str, tags: Mapping[str, str] | None = None) -> dict:
        """Create an empty collection (Rekognition ``CreateCollection``).

        Returns ``{"StatusCode": 200, "CollectionArn", "FaceModelVersion"}``. ``tags`` are
        accepted and not stored.

        Raises:
            ResourceAlreadyExistsException: the collection exists.
            InvalidParameterException: CollectionId does not match ``[a-zA-Z0-9_.\\-]+``.
            StorageError: the collections directory cannot be written.
        """
        path = self.path(collection_id)
        if path.exists():
            raise ResourceAlreadyExistsException(
                f"The collection id: {collection_id} already exists; delete it first or use it")
        tmp = self.dir / f".{collection_id}.{uuid.uuid4().hex}.creating"
        conn = connect(tmp, _SCHEMA, what=f"face collection {collection_id}")  # creates self.dir
        try:
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("created_ms", str(int(time.time() * 1000))),
                ("face_model_version", FACE_MODEL_VERSION),
                ("generation", uuid.uuid4().hex)])
            conn.commit()
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
        try:
            os.link(tmp, path)          # atomic, never overwrites a concurrent create
        except FileExistsError:
            raise ResourceAlreadyExistsException(
                f"The collection id: {collection_id} already exists") from None
        finally:
            tmp.unlink(missing_ok=True)
        return {"StatusCode": 200, "CollectionArn": self.arn(collection_id),
                "FaceModelVersion": FACE_MODEL_VERSION}

    def delete_collection(self, collection_id: str) -> dict:
        """Delete a collection and all its faces and users (Rekognition ``DeleteCollection``).

        Returns ``{"StatusCode": 200}``.

        Raises:
            ResourceNotFoundException: no such collection.
        """
        path = self.path(collection_id)
        if not path.is_file():
            raise ResourceNotFoundException(f"The collection id: {collection_id} does not exist")
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        with self._lock:
            self._cache.pop(collection_id, None)
        return {"StatusCode": 200}

    def list_collections(self, max_results: int | None = None, next_token: str | None = None) -> dict:
        """Collection ids in name order (Rekognition ``ListCollections``), paginated.

        Returns ``{"CollectionIds": [...], "FaceModelVersions": [...], "NextToken"?}``;
        ``max_results`` 0–4096 (0 or None = 1000).

        Raises:
            InvalidPaginationTokenException: ``next_token`` is not a collection id.
        """
        limit = int(_check_range(max_results, "MaxResults", 0, 4096, 1000)) or 1000
        ids = sorted(p.stem for p in self.dir.glob("*.sqlite")) if self.dir.is_dir() else []
        if next_token is not None:
            if not isinstance(next_token, str) or not COLLECTION_ID.fullmatch(next_token):
                raise InvalidPaginationTokenException(f"invalid NextToken {next_token!r}")
            ids = [i for i in ids if i > next_token]
        page = ids[:limit]
        out: dict[str, Any] = {"CollectionIds": page, "FaceModelVersions": [FACE_MODEL_VERSION] * len(page)}
        if len(ids) > limit:
            out["NextToken"] = page[-1]
        return out

    def describe_collection(self, collection_id: str) -> dict:
        """Rekognition ``DescribeCollection``: ``{"FaceCount", "UserCount", "FaceModelVersion",
        "CollectionARN", "CreationTimestamp" (aware UTC datetime)}``.

        Raises:
            ResourceNotFoundException: no such collection.
        """
        with self._db(collection_id) as conn:
            faces = conn.execute("SELECT COUNT(*) FROM faces").fetchone()[0]
            users = conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]
            created = int(conn.execute("SELECT value FROM meta WHERE key = 'created_ms'").fetchone()[0])
        return {"FaceCount": faces, "FaceModelVersion": FACE_MODEL_VERSION,
                "CollectionARN": self.arn(collection_id),
                "CreationTimestamp": datetime.fromtimestamp(created / 1000, tz=UTC),
                "UserCount": users}

    # -- faces ---------------------------------------------------------------------------------
    def index_faces(self, collection_id: str, image: np.ndarray, external_image_id: str | None = None,
                    max_faces: int | None = None, quality_filter: str | None = None,
                    detection_attributes: Iterable[str] | None = None,
                    faces: Sequence[DetectedFace] | None = None) -> dict:
        """Detect faces in an RGB uint8 H×W×3 image and add them (Rekognition ``IndexFaces``).

        Faces failing ``quality_filter`` (default ``AUTO``; bars in :data:`QUALITY_BARS`) and
        those beyond the ``max_faces`` largest (≥ 1) are returned in ``UnindexedFaces`` with
        Rekognition's ``Reasons`` (``LOW_CONFIDENCE``, ``SMALL_BOUNDING_BOX``,
        ``LOW_SHARPNESS``, ``LOW_BRIGHTNESS``, ``EXTREME_POSE``, ``EXCEEDS_MAX_FACES``).
        Indexed faces come back largest first in ``FaceRecords`` as ``{"Face": {FaceId (uuid4),
        BoundingBox, ImageId, ExternalImageId, Confidence}, "FaceDetail": ...}``. All faces of
        one call share one ImageId. ``faces`` may pass detections already computed for
        ``image`` (reko's ingest does, to avoid detecting twice).

        Raises:
            ResourceNotFoundException: no such collection.
            InvalidParameterException: bad ExternalImageId, MaxFaces, QualityFilter or
                DetectionAttributes.
        """
        if external_image_id is not None:
            _check(EXTERNAL_IMAGE_ID, external_image_id, "ExternalImageId")
        limit = _check_range(max_faces, "MaxFaces", 1, math.inf, None)
        quality = _check_quality(quality_filter, "AUTO")
        try:
            attrs = check_attributes(detection_attributes)
        except ValueError as exc:
            raise InvalidParameterException(str(exc)) from None
        if not self.path(collection_id).is_file():
            raise ResourceNotFoundException(f"The collection id: {collection_id} does not exist")
        found = sorted(self._detect(image) if faces is None else faces, key=lambda f: -f.area_px)
        keep: list[DetectedFace] = []
        unindexed: list[dict] = []
        for face in found:
            reasons = quality_reasons(face, quality)
            if not reasons and limit is not None and len(keep) >= limit:
                reasons = ["EXCEEDS_MAX_FACES"]
            if reasons:
                unindexed.append({"Reasons": reasons, "FaceDetail": face_detail(face, attrs)})
            else:
                keep.append(face)
        image_id = str(uuid.uuid4())
        now = int(time.time() * 1000)
        records = []
        rows = []
        for face in keep:
            face_id = str(uuid.uuid4())
            box = face.bounding_box()
            row = (face_id, image_id, external_image_id, box["Width"], box["Height"], box["Left"],
                   box["Top"], float(face.confidence), None)
            rows.append(row + (np.asarray(face.embedding, np.float32).tobytes(), now))
            records.append({"Face": self._face(row, with_versions=False),
                            "FaceDetail": face_detail(face, attrs)})
        if rows:
            with self._db(collection_id, write=True) as conn:
                conn.executemany(f"INSERT INTO faces ({_FACE_COLUMNS}, embedding, created_ms) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return {"FaceRecords": records, "FaceModelVersion": FACE_MODEL_VERSION,
                "UnindexedFaces": unindexed}

    def list_faces(self, collection_id: str, max_results: int | None = None,
                   next_token: str | None = None, user_id: str | None = None,
                   face_ids: Sequence[str] | None = None) -> dict:
        """Faces in indexing order (Rekognition ``ListFaces``), optionally only those of
        ``user_id`` and/or in ``face_ids``; ``max_results`` 0–4096 (0 or None = 1000).

        Returns ``{"Faces": [{FaceId, BoundingBox, ImageId, ExternalImageId?, Confidence,
        IndexFacesModelVersion, UserId?}], "FaceModelVersion", "NextToken"?}``.

        Raises:
            ResourceNotFoundException: no such collection.
            InvalidPaginationTokenException: bad ``next_token``.
        """
        limit = int(_check_range(max_results, "MaxResults", 0, 4096, 1000)) or 1000
        where = ["seq > ?"]
        args: list[int | str] = []
        try:
            args.append(int(next_token) if next_token is not None else 0)
        except (TypeError, ValueError):
            raise InvalidPaginationTokenException(f"invalid NextToken {next_token!r}") from None
        if user_id is not None:
            where.append("user_id = ?")
            args.append(_check(USER_ID, user_id, "UserId"))
        if face_ids is not None:
            ids = _check_face_ids(face_ids)
            where.append(f"face_id IN ({','.join('?' * len(ids))})")
            args.extend(ids)
        with self._db(collection_id) as conn:
            rows = conn.execute(f"SELECT seq, {_FACE_COLUMNS} FROM faces WHERE {' AND '.join(where)} "
                                f"ORDER BY seq LIMIT ?", (*args, limit + 1)).fetchall()
        out: dict[str, Any] = {"Faces": [self._face(r[1:]) for r in rows[:limit]],
                               "FaceModelVersion": FACE_MODEL_VERSION}
        if len(rows) > limit:
            out["NextToken"] = str(rows[limit - 1][0])
        return out

    def delete_faces(self, collection_id: str, face_ids: Sequence[str]) -> dict:
        """Delete faces (Rekognition ``DeleteFaces``). A face associated with a user is not
        deleted (``ASSOCIATED_TO_AN_EXISTING_USER``; disassociate it first); an unknown id
        gives ``FACE_NOT_FOUND``.

        Returns ``{"DeletedFaces": [...], "UnsuccessfulFaceDeletions": [{FaceId, UserId?,
        Reasons}]}``.

        Raises:
            ResourceNotFoundException: no such collection.
        """
        ids = _check_face_ids(face_ids)
        deleted, failed = [], []
        with self._db(collection_id, write=True) as conn:
            found = self._faces_by_id(conn, ids)
            for face_id in dict.fromkeys(ids):
                row = found.get(face_id)
                if row is None:
                    failed.append({"FaceId": face_id, "Reasons": ["FACE_NOT_FOUND"]})
                elif row[8] is not None:
                    failed.append({"FaceId": face_id, "UserId": row[8],
                                   "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]})
                else:
                    conn.execute("DELETE FROM faces WHERE face_id = ?", (face_id,))
                    deleted.append(face_id)
        return {"DeletedFaces": deleted, "UnsuccessfulFaceDeletions": failed}

    # -- face search ---------------------------------------------------------------------------
    def _matches(self, m: _Matrix, query: np.ndarray, threshold: float, limit: int,
                 exclude: str | None = None) -> list[tuple[str, float]]:
        if not len(m.face_ids):
            return []
        dist = np.sqrt(np.maximum(((m.matrix - query.astype(np.float32)) ** 2).sum(axis=1), 0.0))
        sims = distance_to_similarity(dist)
        order = np.argsort(-sims, kind="stable")
        out = []
        for i in order:
            if sims[i] < threshold:
                break
            if m.face_ids[i] == exclude:
                continue
            out.append((m.face_ids[i], float(sims[i])))
            if len(out) >= limit:
                break
        return out

    def _face_matches(self, conn: Connection, matches: list[tuple[str, float]]) -> list[dict]:
        rows = self._faces_by_id(conn, [f for f, _ in matches])
        return [{"Similarity": s, "Face": self._face(rows[f])} for f, s in matches if f in rows]

    def search_faces(self, collection_id: str, face_id: str, max_faces: int | None = None,
                     face_match_threshold: float | None = None) -> dict:
        """Faces similar to an indexed face (Rekognition ``SearchFaces``), the face itself
        excluded, most similar first; ``face_match_threshold`` 0–100 (default 80),
        ``max_faces`` 1–4096 (default 4096).

        Returns ``{"SearchedFaceId", "FaceMatches": [{"Similarity", "Face"}], "FaceModelVersion"}``.

        Raises:
            ResourceNotFoundException: no such collection.
            InvalidParameterException: ``face_id`` is malformed or not in the collection.
        """
        _check(FACE_ID, face_id, "FaceId")
        limit = int(_check_range(max_faces, "MaxFaces", 1, 4096, 4096))
        threshold = _check_range(face_match_threshold, "FaceMatchThreshold", 0, 100,
                                 DEFAULT_FACE_MATCH_THRESHOLD)
        with self._db(collection_id) as conn:
            m = self._matrix(conn, collection_id)
            if face_id not in m.row:
                raise InvalidParameterException(
                    f"FaceId {face_id} is not in collection {collection_id} (list_faces shows "
                    "the indexed faces)")
            matches = self._matches(m, m.matrix[m.row[face_id]], threshold, limit, exclude=face_id)
            return {"SearchedFaceId": face_id, "FaceMatches": self._face_matches(conn, matches),
                    "FaceModelVersion": FACE_MODEL_VERSION}

    def search_faces_by_image(self, collection_id: str, image: np.ndarray,
                              max_faces: int | None = None,
                              face_match_threshold: float | None = None,
                              quality_filter: str | None = None) -> dict:
        """Faces similar to the largest face in an RGB image (Rekognition
        ``SearchFacesByImage``); ``quality_filter`` default ``NONE``.

        Returns ``{"SearchedFaceBoundingBox", "SearchedFaceConfidence", "FaceMatches",
        "FaceModelVersion"}``.

        Raises:
            ResourceNotFoundException: no such collection.
            InvalidParameterException: the image has no face, or its largest face fails
                ``quality_filter``.
        """
        limit = int(_check_range(max_faces, "MaxFaces", 1, 4096, 4096))
        threshold = _check_range(face_match_threshold, "FaceMatchThreshold", 0, 100,
                                 DEFAULT_FACE_MATCH_THRESHOLD)
        quality = _check_quality(quality_filter, "NONE")
        if not self.path(collection_id).is_file():
            raise ResourceNotFoundException(f"The collection id: {collection_id} does not exist")
        face, _ = self._largest_face(image, quality)
        with self._db(collection_id) as conn:
            m = self._matrix(conn, collection_id)
            matches = self._matches(m, face.embedding, threshold, limit)
            return {"SearchedFaceBoundingBox": face.bounding_box(),
                    "SearchedFaceConfidence": float(face.confidence),
                    "FaceMatches": self._face_matches(conn, matches),
                    "FaceModelVersion": FACE_MODEL_VERSION}

    # -- users ---------------------------------------------------------------------------------
    @staticmethod
    def _user_status(conn: Connection, user_id: str) -> str:
        n = conn.execute("SELECT COUNT(*) FROM faces WHERE user_id = ?", (user_id,)).fetchone()[0]
        return "ACTIVE" if n else "CREATED"

    @staticmethod
    def _require_user(conn: Connection, collection_id: str, user_id: str) -> None:
        if conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone() is None:
            raise ResourceNotFoundException(
                f"User {user_id} does not exist in collection {collection_id}; "
                f"create it with create_user")

    def create_user(self, collection_id: str, user_id: str) -> dict:
        """Create a user with no faces, status ``CREATED`` (Rekognition ``CreateUser``);
        returns ``{}``.

        Raises:
            ResourceNotFoundException: no such collection.
            ConflictException: the user already exists.
        """
        _check(USER_ID, user_id, "UserId")
        with self._db(collection_id, write=True) as conn:
            added = conn.execute("INSERT OR IGNORE INTO users (user_id, created_ms) VALUES (?, ?)",
                                 (user_id, int(time.time() * 1000))).rowcount
            if not added:       # the write lock is held: nobody else inserted it meanwhile
                raise ConflictException(
                    f"User {user_id} already exists in collection {collection_id}")
        return {}

    def delete_user(self, collection_id: str, user_id: str) -> dict:
        """Delete a user; its faces stay in the collection, unassociated (Rekognition
        ``DeleteUser``); returns ``{}``.

        Raises:
            ResourceNotFoundException: no such collection or user.
        """
        _check(USER_ID, user_id, "UserId")
        with self._db(collection_id, write=True) as conn:
            self._require_user(conn, collection_id, user_id)
            conn.execute("UPDATE faces SET user_id = NULL WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM users WHERE user_id = ?", (user_id,))
        return {}

    def list_users(self, collection_id: str, max_results: int | None = None,
                   next_token: str | None = None) -> dict:
        """Users in creation order (Rekognition ``ListUsers``); ``max_results`` 1–500
        (default 500). Returns ``{"Users": [{"UserId", "UserStatus"}], "NextToken"?}``.

        Raises:
            ResourceNotFoundException: no such collection.
            InvalidPaginationTokenException: bad ``next_token``.
        """
        limit = int(_check_range(max_results, "MaxResults", 1, 500, 500))
        try:
            after = int(next_token) if next_token is not None else 0
        except (TypeError, ValueError):
            raise InvalidPaginationTokenException(f"invalid NextToken {next_token!r}") from None
        with self._db(collection_id) as conn:
            rows = conn.execute(
                "SELECT u.seq, u.user_id, EXISTS (SELECT 1 FROM faces f WHERE f.user_id = u.user_id) "
                "FROM users u WHERE u.seq > ? ORDER BY u.seq LIMIT ?", (after, limit + 1)).fetchall()
        out: dict[str, Any] = {"Users": [{"UserId": r[1], "UserStatus": "ACTIVE" if r[2] else "CREATED"}
                                         for r in rows[:limit]]}
        if len(rows) > limit:
            out["NextToken"] = str(rows[limit - 1][0])
        return out

    def associate_faces(self, collection_id: str, user_id: str, face_ids: Sequence[str],
                        user_match_threshold: float | None = None) -> dict:
        """Associate indexed faces with a user (Rekognition ``AssociateFaces``, 1–100 ids).

        A face is refused with ``FACE_NOT_FOUND``, ``ASSOCIATED_TO_A_DIFFERENT_USER``, or
        ``LOW_MATCH_CONFIDENCE`` when its best similarity to the user's faces (those already
        associated plus those accepted earlier in this call) is below ``user_match_threshold``
        (default 75; refusals carry that similarity as ``Confidence``). A user with no faces
        accepts the first valid face unconditionally. Faces already associated with this user
        count as associated.

        Returns ``{"AssociatedFaces": [{"FaceId"}], "UnsuccessfulFaceAssociations": [{FaceId,
        UserId?, Confidence?, Reasons}], "UserStatus"}``.

        Raises:
            ResourceNotFoundException: no such collection or user.
        """
        _check(USER_ID, user_id, "UserId")
        ids = _check_face_ids(face_ids, max_items=100)
        threshold = _check_range(user_match_threshold, "UserMatchThreshold", 0, 100,
                                 DEFAULT_ASSOCIATE_THRESHOLD)
        associated: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        with self._db(collection_id, write=True) as conn:
            self._require_user(conn, collection_id, user_id)
            m = self._matrix(conn, collection_id)
            rows = self._faces_by_id(conn, ids)
            members = [m.row[f] for f, u in zip(m.face_ids, m.user_ids) if u == user_id]
            for face_id in dict.fromkeys(ids):
                row = rows.get(face_id)
                if row is None or face_id not in m.row:
                    failed.append({"FaceId": face_id, "Reasons": ["FACE_NOT_FOUND"]})
                    continue
                owner = row[8]
                if owner == user_id:
                    associated.append({"FaceId": face_id})
                    continue
                if owner is not None:
                    failed.append({"FaceId": face_id, "UserId": owner,
                                   "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"]})
                    continue
                emb = m.matrix[m.row[face_id]]
                if members:
                    dist = np.sqrt(((m.matrix[members] - emb) ** 2).sum(axis=1)).min()
                    sim = float(distance_to_similarity(dist))
                    if sim < threshold:
                        failed.append({"FaceId": face_id, "UserId": user_id, "Confidence": sim,
                                       "Reasons": ["LOW_MATCH_CONFIDENCE"]})
                        continue
                conn.execute("UPDATE faces SET user_id = ? WHERE face_id = ?", (user_id, face_id))
                members.append(m.row[face_id])
                associated.append({"FaceId": face_id})
            status = self._user_status(conn, user_id)
        return {"AssociatedFaces": associated, "UnsuccessfulFaceAssociations": failed,
                "UserStatus": status}

    def disassociate_faces(self, collection_id: str, user_id: str, face_ids: Sequence[str]) -> dict:
        """Remove faces from a user; they stay in the collection (Rekognition
        ``DisassociateFaces``, 1–100 ids). Refusals: ``FACE_NOT_FOUND``,
        ``ASSOCIATED_TO_A_DIFFERENT_USER`` (also for faces of no user).

        Returns ``{"DisassociatedFaces": [{"FaceId"}], "UnsuccessfulFaceDisassociations":
        [{FaceId, UserId?, Reasons}], "UserStatus"}``.

        Raises:
            ResourceNotFoundException: no such collection or user.
        """
        _check(USER_ID, user_id, "UserId")
        ids = _check_face_ids(face_ids, max_items=100)
        done, failed = [], []
        with self._db(collection_id, write=True) as conn:
            self._require_user(conn, collection_id, user_id)
            rows = self._faces_by_id(conn, ids)
            for face_id in dict.fromkeys(ids):
                row = rows.get(face_id)
                if row is None:
                    failed.append({"FaceId": face_id, "Reasons": ["FACE_NOT_FOUND"]})
                elif row[8] != user_id:
                    item = {"FaceId": face_id, "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"]}
                    if row[8] is not None:
                        item["UserId"] = row[8]
                    failed.append(item)
                else:
                    conn.execute("UPDATE faces SET user_id = NULL WHERE face_id = ?", (face_id,))
                    done.append({"FaceId": face_id})
            status = self._user_status(conn, user_id)
        return {"DisassociatedFaces": done, "UnsuccessfulFaceDisassociations": failed,
                "UserStatus": status}

    def _user_matches(self, conn: Connection, m: _Matrix, queries: np.ndarray,
                      threshold: float, limit: int, exclude_face: str | None = None,
                      exclude_user: str | None = None) -> list[dict]:
        """Users ranked by their best face similarity to any of ``queries`` (k×128)."""
        rows = [i for i, u in enumerate(m.user_ids)
                if u is not None and u != exclude_user and m.face_ids[i] != exclude_face]
        if not rows or not len(queries):
            return []
        emb = m.matrix[rows]
        q = np.asarray(queries, np.float32).reshape(-1, _EMBEDDING_DIM)
        d2 = (q ** 2).sum(1)[:, None] + (emb ** 2).sum(1)[None, :] - 2.0 * q @ emb.T
        best_dist = np.sqrt(np.maximum(d2, 0.0)).min(axis=0)
        users = [m.user_ids[i] for i in rows]
        names, index = np.unique(np.array(users, dtype=object), return_inverse=True)
        best = np.full(len(names), np.inf)
        np.minimum.at(best, index, best_dist)
        sims = distance_to_similarity(best)
        order = [i for i in np.argsort(-sims, kind="stable") if sims[i] >= threshold][:limit]
        return [{"Similarity": float(sims[i]),
                 "User": {"UserId": str(names[i]), "UserStatus": "ACTIVE"}} for i in order]

    def search_users(self, collection_id: str, user_id: str | None = None,
                     face_id: str | None = None, user_match_threshold: float | None = None,
                     max_users: int | None = None) -> dict:
        """Users similar to an indexed face or to a user (Rekognition ``SearchUsers``; give
        exactly one of ``user_id``/``face_id``). A user's similarity is its best face's; the
        searched face itself, or the searched user, is excluded. ``user_match_threshold``
        default 80, ``max_users`` 1–500 (default 500).

        Returns ``{"UserMatches": [{"Similarity", "User": {"UserId", "UserStatus"}}],
        "FaceModelVersion", "SearchedFace": {"FaceId"} | "SearchedUser": {"UserId"}}``.

        Raises:
            ResourceNotFoundException: no such collection or user.
            InvalidParameterException: neither or both ids, or an unknown face id.
        """
        if (user_id is None) == (face_id is None):
            raise InvalidParameterException("SearchUsers needs exactly one of UserId or FaceId")
        threshold = _check_range(user_match_threshold, "UserMatchThreshold", 0, 100,
                                 DEFAULT_USER_SEARCH_THRESHOLD)
        limit = int(_check_range(max_users, "MaxUsers", 1, 500, 500))
        out: dict[str, Any] = {"FaceModelVersion": FACE_MODEL_VERSION}
        with self._db(collection_id) as conn:
            m = self._matrix(conn, collection_id)
            if face_id is not None:
                _check(FACE_ID, face_id, "FaceId")
                if face_id not in m.row:
                    raise InvalidParameterException(
                        f"FaceId {face_id} is not in collection {collection_id}")
                queries = m.matrix[[m.row[face_id]]]
                matches = self._user_matches(conn, m, queries, threshold, limit, exclude_face=face_id)
                out["SearchedFace"] = {"FaceId": face_id}
            else:
                user_id = _check(USER_ID, user_id, "UserId")  # a str from here on
                self._require_user(conn, collection_id, user_id)
                queries = m.matrix[[i for i, u in enumerate(m.user_ids) if u == user_id]]
                matches = self._user_matches(conn, m, queries, threshold, limit, exclude_user=user_id)
                out["SearchedUser"] = {"UserId": user_id}
        return {"UserMatches": matches, **out}

    def search_users_by_image(self, collection_id: str, image: np.ndarray,
                              user_match_threshold: float | None = None,
                              max_users: int | None = None,
                              quality_filter: str | None = None) -> dict:
        """Users similar to the largest face in an RGB image (Rekognition
        ``SearchUsersByImage``); other faces are listed in ``UnsearchedFaces`` with reason
        ``FACE_NOT_LARGEST``. ``quality_filter`` default ``NONE``.

        Returns ``{"UserMatches", "FaceModelVersion", "SearchedFace": {"FaceDetail"},
        "UnsearchedFaces": [{"FaceDetails", "Reasons"}]}``.

        Raises:
            ResourceNotFoundException: no such collection.
            InvalidParameterException: no face in the image, or the largest fails the filter.
        """
        threshold = _check_range(user_match_threshold, "UserMatchThreshold", 0, 100,
                                 DEFAULT_USER_SEARCH_THRESHOLD)
        limit = int(_check_range(max_users, "MaxUsers", 1, 500, 500))
        quality = _check_quality(quality_filter, "NONE")
        if not self.path(collection_id).is_file():
            raise ResourceNotFoundException(f"The collection id: {collection_id} does not exist")
        face, others = self._largest_face(image, quality)
        with self._db(collection_id) as conn:
            m = self._matrix(conn, collection_id)
            matches = self._user_matches(conn, m, face.embedding[None, :], threshold, limit)
        return {"UserMatches": matches, "FaceModelVersion": FACE_MODEL_VERSION,
                "SearchedFace": {"FaceDetail": face_detail(face)},
                "UnsearchedFaces": [{"FaceDetails": face_detail(f), "Reasons": ["FACE_NOT_LARGEST"]}
                                    for f in others]}
