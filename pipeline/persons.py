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
Names and the face bookkeeping live in :mod:`reko.pipeline.person_records` (SQLite locally,
DynamoDB on AWS), thumbnails in the storage (``persons/<person_id>.jpg``); frame documents carry
only ``person_ids``, names resolve at query time, and rename/merge/remove-face never re-analyse
video. With ``REKO_ANALYZER=rekognition`` the same calls go to Amazon Rekognition.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import threading
from typing import Any

from ..errors import InputError, NotFoundError, QueryError
from ..settings import Settings
from .analysis.protocol import RekognitionClient
from .documents import Face
from .index import IndexBackend
from .person_records import FaceRow, Person, PersonRecords
from .storage import Storage, person_key

__all__ = ["Person", "PersonStore", "face_quality", "person_id_for", "update_documents",
           "face_thumbnail"]


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
    """Persons over a Rekognition-shaped face collection (``client``), their records and
    their thumbnails (in ``storage``)."""

    def __init__(self, settings: Settings, client: RekognitionClient, records: PersonRecords,
                 storage: Storage):
        self.settings = settings
        self.client = client
        self.records = records
        self.storage = storage
        self.collection_id = settings.face_collection
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
               face_records: list[dict[str, Any]], frame_jpeg: bytes | None = None) -> list[Face]:
        """Assign the ``FaceRecords`` of one frame to persons; returns the document's ``faces``
        (``face_id``, ``person_id`` or None, ``confidence`` 0–100, ``box`` ratios, ``good``).
        ``frame_jpeg`` (the frame's thumbnail) gives persons their best face photo."""
        out: list[Face] = []
        for index, record in enumerate(face_records):
            face_id = record["Face"]["FaceId"]
            detail = record["FaceDetail"]
            good = face_quality(detail, frame_height_px, self.settings)
            threshold = self.settings.face_match_similarity if good else self.settings.face_poor_match_similarity
            matches = self.client.search_users(CollectionId=self.collection_id, FaceId=face_id,
                                               UserMatchThreshold=threshold, MaxUsers=1)["UserMatches"]
            person_id = matches[0]["User"]["UserId"] if matches else None
            associated = False
            with self._lock:
                if person_id is None and good:
                    person_id = person_id_for(video_id, frame_ms, index)
                    # recorded first, so a run killed before CreateUser returns leaves a record
                    # that forget_frames finds and undoes
                    self.records.add_person(person_id, video_id, frame_ms)
                    self._create_user(person_id)
                if person_id is not None and good:
                    result = self.client.associate_faces(CollectionId=self.collection_id, UserId=person_id,
                                                         FaceIds=[face_id], UserMatchThreshold=0)
                    associated = bool(result["AssociatedFaces"])
                box = {k: round(v, 5) for k, v in detail["BoundingBox"].items()}
                self.records.put_face(FaceRow(
                    face_id=face_id, person_id=person_id, video_id=video_id, frame_ms=frame_ms,
                    span_ms=span_ms, box=box, confidence=float(detail["Confidence"]), good=good,
                    associated=associated))
                if person_id is not None and good and frame_jpeg is not None:
                    self._maybe_thumbnail(person_id, face_id, box, detail, frame_jpeg)
            out.append(Face(face_id=face_id, person_id=person_id,
                            confidence=round(float(detail["Confidence"]), 2), box=box,  # type: ignore[typeddict-item]
                            good=good))
        return out

    def _create_user(self, person_id: str) -> None:
        """``CreateUser``, where an existing user of that id is the one a killed run created:
        person ids are derived from the face that starts them, so no one else makes it."""
        try:
            self.client.create_user(CollectionId=self.collection_id, UserId=person_id)
        except Exception as exc:  # boto3 ClientError or the local engine's RekognitionError
            if _error_code(exc) != "ConflictException":
                raise

    def _maybe_thumbnail(self, person_id: str, face_id: str, box: dict, detail: dict, frame_jpeg: bytes) -> None:
        score = box["Height"] * detail.get("Quality", {}).get("Sharpness", 50.0) * \
            max(0.0, 1 - abs(detail.get("Pose", {}).get("Yaw", 0.0)) / 90)
        current = self.records.thumbnail_score(person_id)
        if current is None or score <= current:
            return
        try:
            jpeg = face_thumbnail(frame_jpeg, box)
        except (OSError, ValueError):
            return
        self.storage.put(person_key(person_id), jpeg)
        self.records.set_thumbnail(person_id, face_id, score)

    def thumbnail_key(self, person_id: str) -> str:
        """The storage key of a person's face thumbnail (JPEG)."""
        return person_key(person_id)

    # -- rollback (resume, bad input, delete) -----------------------------------------------
    def forget_frames(self, video_id: str, after_frame_ms: int = -1) -> None:
        """Remove the faces of ``video_id`` with ``frame_ms`` > ``after_frame_ms`` from the
        collection and the records, and the persons those frames started. Also removes faces a
        killed ingest indexed but never assigned (found by their ``ExternalImageId``)."""
        self.ensure_collection()
        with self._lock:
            rows = self.records.faces_after(video_id, after_frame_ms)
            started = self.records.started_after(video_id, after_frame_ms)
        stray = [f["FaceId"] for f in self._list_faces()
                 if (frame_ms := _frame_of(f, video_id)) is not None and frame_ms > after_frame_ms]
        face_ids = sorted({r.face_id for r in rows} | set(stray))
        for person_id in {r.person_id for r in rows if r.person_id and r.associated}:
            ids = [r.face_id for r in rows if r.person_id == person_id and r.associated]
            for chunk in _chunks(ids, 100):
                self._call_ignoring_missing(self.client.disassociate_faces, CollectionId=self.collection_id,
                                            UserId=person_id, FaceIds=chunk)
        for chunk in _chunks(face_ids, 4096):
            self.client.delete_faces(CollectionId=self.collection_id, FaceIds=chunk)
        with self._lock:
            self.records.delete_faces_after(video_id, after_frame_ms)
        for person_id in set(started) | {r.person_id for r in rows if r.person_id}:
            self._drop_if_empty(person_id)

    def _list_faces(self) -> list[dict[str, Any]]:
        faces, token = [], None
        while True:
            kwargs: dict[str, Any] = {"CollectionId": self.collection_id, "MaxResults": 4096}
            if token:
                kwargs["NextToken"] = token
            page = self.client.list_faces(**kwargs)
            faces.extend(page["Faces"])
            token = page.get("NextToken")
            if not token:
                return faces

    def _drop_if_empty(self, person_id: str) -> None:
        with self._lock:
            if self.records.faces_of(person_id):
                return
            self.records.delete_person(person_id)
        self._call_ignoring_missing(self.client.delete_user, CollectionId=self.collection_id, UserId=person_id)
        self.storage.delete(person_key(person_id))

    @staticmethod
    def _call_ignoring_missing(fn: Any, **kwargs: Any) -> None:
        try:
            fn(**kwargs)
        except Exception as exc:
            if _error_code(exc) not in ("ResourceNotFoundException", "InvalidParameterException"):
                raise

    # -- queries ----------------------------------------------------------------------------
    def list(self) -> builtins.list[Person]:
        """Every person, most screen time first."""
        return self.records.persons()

    def get(self, person_id: str) -> Person:
        """One person. Raises NotFoundError."""
        for person in self.list():
            if person.person_id == person_id:
                return person
        raise NotFoundError(f"no person {person_id!r}; see `reko persons`")

    def resolve(self, id_or_name: str) -> builtins.list[str]:
        """Person ids for an id or a name (case-insensitive, every person with that name).

        Raises:
            QueryError: nobody has that id or name.
        """
        found = self.records.person_ids_named(id_or_name)
        if not found:
            raise QueryError(f"no person with the id or name {id_or_name!r}; see `reko persons`")
        return found

    def names(self) -> dict[str, str]:
        """person_id → name (only named persons)."""
        return self.records.names()

    def face(self, face_id: str) -> dict[str, Any]:
        """One face: ``face_id``, ``person_id``, ``video_id``, ``frame_ms``. Raises NotFoundError."""
        row = self.records.face(face_id)
        if row is None or row.removed:
            raise NotFoundError(f"no face {face_id!r}")
        return {"face_id": row.face_id, "person_id": row.person_id, "video_id": row.video_id,
                "frame_ms": row.frame_ms}

    def faces_of(self, person_id: str) -> builtins.list[dict[str, Any]]:
        """The faces of a person, in (video, time) order: ``face_id``, ``video_id``,
        ``frame_ms``, ``box`` (ratios), ``good``."""
        return [{"face_id": r.face_id, "video_id": r.video_id, "frame_ms": r.frame_ms, "box": r.box,
                 "good": r.good} for r in self.records.faces_of(person_id)]

    def search_by_image(self, image_bytes: bytes) -> tuple[str, float]:
        """The person whose faces best match the largest face in a photo: (person_id, similarity).

        Raises:
            QueryError: no face in the photo, or nobody known matches it.
            FaultError: the engine failed (faults are not the photo's fault).
        """
        self.ensure_collection()
        try:
            response = self.client.search_users_by_image(
                CollectionId=self.collection_id, Image={"Bytes": image_bytes},
                UserMatchThreshold=self.settings.face_match_similarity, MaxUsers=1)
        except InputError as exc:
            raise QueryError(f"cannot search by this photo: {exc}") from None
        except Exception as exc:
            if _error_code(exc) in ("InvalidParameterException", "InvalidImageFormatException",
                                    "ImageTooLargeException"):
                raise QueryError("cannot search by this photo: no usable face found in it") from None
            raise
        matches = response.get("UserMatches", [])
        if not matches:
            raise QueryError("the face in the photo matches nobody in the archive")
        return matches[0]["User"]["UserId"], float(matches[0]["Similarity"])

    # -- late naming --------------------------------------------------------------------------
    def rename(self, person_id: str, name: str) -> None:
        """Give a person a name (empty clears it). Documents keep ids; nothing is re-analysed."""
        self.get(person_id)
        self.records.rename(person_id, name.strip()[:200])

    def merge(self, person_id: str, into_id: str) -> builtins.list[tuple[str, int]]:
        """Move every face of ``person_id`` to ``into_id`` and delete ``person_id``; returns the
        (video_id, frame_ms) of frames whose documents must be updated."""
        if person_id == into_id:
            raise QueryError("a person cannot be merged into itself")
        source, target = self.get(person_id), self.get(into_id)
        rows = self.records.faces_of(person_id)
        associated = [r.face_id for r in rows if r.associated]
        for chunk in _chunks(associated, 100):
            self.client.disassociate_faces(CollectionId=self.collection_id, UserId=person_id, FaceIds=chunk)
            self.client.associate_faces(CollectionId=self.collection_id, UserId=into_id, FaceIds=chunk,
                                        UserMatchThreshold=0)
        with self._lock:
            self.records.move_faces(person_id, into_id)
            if not target.name and source.name:
                self.records.rename(into_id, source.name)
            self.records.delete_person(person_id)
        self._call_ignoring_missing(self.client.delete_user, CollectionId=self.collection_id, UserId=person_id)
        if not self.storage.exists(person_key(into_id)) and self.storage.exists(person_key(person_id)):
            self.storage.put(person_key(into_id), self.storage.get(person_key(person_id)))
        self.storage.delete(person_key(person_id))
        return sorted({(r.video_id, r.frame_ms) for r in rows})

    def remove_face(self, face_id: str) -> tuple[str, int]:
        """Take one face away from its person (it is deleted from the collection so it cannot
        attract later faces); returns the (video_id, frame_ms) of its frame."""
        row = self.records.face(face_id)
        if row is None or row.removed:
            raise NotFoundError(f"no face {face_id!r}")
        if row.person_id and row.associated:
            self._call_ignoring_missing(self.client.disassociate_faces, CollectionId=self.collection_id,
                                        UserId=row.person_id, FaceIds=[face_id])
        self.client.delete_faces(CollectionId=self.collection_id, FaceIds=[face_id])
        self.records.mark_removed(face_id)
        if row.person_id:
            self._drop_if_empty(row.person_id)
        return row.video_id, row.frame_ms

    def close(self) -> None:
        """Close the records."""
        self.records.close()


def face_thumbnail(frame_jpeg: bytes, box: dict[str, float], side_px: int = 160) -> bytes:
    """A square ``side_px`` JPEG of ``box`` (BoundingBox ratios) with 30 % margin, cropped
    from a frame JPEG."""
    from PIL import Image

    with Image.open(io.BytesIO(frame_jpeg)) as img:
        w, h = img.size
        cx, cy = (box["Left"] + box["Width"] / 2) * w, (box["Top"] + box["Height"] / 2) * h
        half = max(box["Width"] * w, box["Height"] * h) * 0.65
        crop = img.convert("RGB").crop((int(max(0, cx - half)), int(max(0, cy - half)),
                                        int(min(w, cx + half)), int(min(h, cy + half))))
        crop = crop.resize((side_px, side_px), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        crop.save(buf, format="JPEG", quality=88)
        return buf.getvalue()


def update_documents(index: IndexBackend, frames: list[tuple[str, int]], store: PersonStore) -> int:
    """Rewrite the ``faces``/``person_ids`` of the given frame documents from the person
    records (after a merge or a face removal); returns how many documents changed."""
    by_video: dict[str, set[int]] = {}
    for video_id, frame_ms in frames:
        by_video.setdefault(video_id, set()).add(frame_ms)
    changed: list[dict[str, Any]] = []
    for video_id, wanted in by_video.items():
        for doc in index.frames(video_id):
            if doc["frame_ms"] not in wanted:
                continue
            rows = store.records.faces_by_id([f["face_id"] for f in doc.get("faces", [])])
            faces = [Face(**{**f, "person_id": rows[f["face_id"]].person_id if f["face_id"] in rows else None})
                     for f in doc.get("faces", [])
                     if not (f["face_id"] in rows and rows[f["face_id"]].removed)]
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
