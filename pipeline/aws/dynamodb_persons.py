"""Person records on DynamoDB: :class:`DynamoPersonRecords`, the AWS side of
:class:`reko.pipeline.person_records.PersonRecords` (the SQLite side is
:class:`~reko.pipeline.person_records.SqlitePersonRecords`; one contract suite runs over both).

Two tables (described in :mod:`reko.pipeline.aws.dynamodb_tables`):

* ``<prefix>-persons``, key ``person_id``: ``name`` (``""`` when unnamed), ``thumbnail_face_id``
  (absent when none), ``thumbnail_score``, ``video_id`` and ``frame_ms`` of the face that
  started the person, ``created_at`` (s since the epoch).
* ``<prefix>-faces``, key ``face_id``: ``person_id`` (absent when the face has no person: it is
  the partition key of the GSI ``by_person``, which may not hold a null), ``video_id``,
  ``frame_ms`` (number; sort key of the GSI ``by_frame``), ``span_ms``, ``box`` (map of ratios),
  ``confidence``, ``good``, ``associated``, ``removed`` (booleans).

Numbers are written as ``Decimal`` and read back as ``int`` (times, spans) or ``float``
(ratios, scores, confidence). Reads of single items and scans are strongly consistent; the
queries of the two GSIs (:meth:`~DynamoPersonRecords.faces_of`,
:meth:`~DynamoPersonRecords.faces_after`, :meth:`~DynamoPersonRecords.move_faces`,
:meth:`~DynamoPersonRecords.delete_faces_after`) are eventually consistent, as every GSI read
is: a face written a moment ago may be missing from them for a fraction of a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from ...errors import StorageError
from ..person_records import FaceRow, Person, PersonRecords, persons_from_faces
from .dynamodb_tables import table_name

BATCH_GET_MAX = 100  #: keys per BatchGetItem request (the API's limit)
BATCH_GET_ROUNDS = 8  #: BatchGetItem rounds for one chunk before giving up on UnprocessedKeys


def _number(value: float) -> Decimal | int:
    """A number as DynamoDB takes it: ints as they are, floats as a Decimal of their repr."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    return value if isinstance(value, int) else Decimal(repr(float(value)))


def _face_item(face: FaceRow) -> dict[str, Any]:
    if face.person_id == "":
        raise ValueError("a face's person_id is None or a non-empty id")
    item: dict[str, Any] = {
        "face_id": face.face_id, "video_id": face.video_id, "frame_ms": int(face.frame_ms),
        "span_ms": int(face.span_ms), "box": {k: _number(v) for k, v in face.box.items()},
        "confidence": _number(float(face.confidence)), "good": bool(face.good),
        "associated": bool(face.associated), "removed": bool(face.removed)}
    if face.person_id is not None:
        item["person_id"] = face.person_id
    return item


def _face_row(item: dict[str, Any]) -> FaceRow:
    return FaceRow(face_id=item["face_id"], person_id=item.get("person_id"), video_id=item["video_id"],
                   frame_ms=int(item["frame_ms"]), span_ms=int(item["span_ms"]),
                   box={k: float(v) for k, v in item.get("box", {}).items()},
                   confidence=float(item["confidence"]), good=bool(item["good"]),
                   associated=bool(item["associated"]), removed=bool(item.get("removed", False)))


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code", "") if isinstance(response, dict) else ""


def _is_aws_error(exc: Exception) -> bool:
    import botocore.exceptions

    return isinstance(exc, (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError))


class DynamoPersonRecords(PersonRecords):
    """Person records in the DynamoDB tables ``<prefix>-persons`` and ``<prefix>-faces``
    (see the module docstring). ``resource`` is a boto3 DynamoDB service resource; without
    one, a resource of a new boto3 session is made on first use (never at import or
    construction). Safe to share between threads.

    Every method raises :class:`reko.errors.StorageError` when DynamoDB fails (missing table,
    no permission, throttling that outlasts the retries, no network), with what to check.
    """

    def __init__(self, prefix: str, resource: Any = None):
        self.persons_table_name = table_name(prefix, "persons")
        self.faces_table_name = table_name(prefix, "faces")
        self._resource = resource
        self._tables: tuple[Any, Any] | None = None
        self._init_lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------
    def _both(self) -> tuple[Any, Any]:
        if self._tables is None:
            with self._init_lock:
                if self._tables is None:
                    if self._resource is None:
                        import boto3

                        self._resource = boto3.session.Session().resource("dynamodb")
                    self._tables = (self._resource.Table(self.persons_table_name),
                                    self._resource.Table(self.faces_table_name))
        return self._tables

    @property
    def persons_table(self) -> Any:
        """The boto3 Table ``<prefix>-persons`` (made on first use)."""
        return self._both()[0]

    @property
    def faces_table(self) -> Any:
        """The boto3 Table ``<prefix>-faces`` (made on first use)."""
        return self._both()[1]

    def _fault(self, action: str, exc: Exception) -> StorageError:
        return StorageError(f"the person records (DynamoDB) failed to {action}; check the persons "
                            "and faces tables and the function's permissions",
                            detail=f"{self.persons_table_name}, {self.faces_table_name}: {exc}")

    @contextmanager
    def _aws(self, action: str, conditional: bool = False) -> Iterator[None]:
        """Turn an AWS fault inside the block into a StorageError saying what failed. With
        ``conditional``, a failed write condition is no fault: the block just ends (nothing
        was written)."""
        try:
            yield
        except Exception as exc:
            if conditional and _code(exc) == "ConditionalCheckFailedException":
                return
            if _is_aws_error(exc):
                raise self._fault(action, exc) from None
            raise

    @staticmethod
    def _all(call: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item of a paginated Query or Scan (a page may be empty yet not the last)."""
        items: list[dict[str, Any]] = []
        while True:
            page = call(**kwargs)
            items += page.get("Items", [])
            last = page.get("LastEvaluatedKey")
            if not last:
                return items
            kwargs["ExclusiveStartKey"] = last

    # -- persons ------------------------------------------------------------------------------
    def add_person(self, person_id: str, video_id: str, frame_ms: int) -> None:
        """Record a person started by a face of (``video_id``, ``frame_ms`` ms); a person
        already recorded is left untouched (conditional put)."""
        with self._aws("record a person", conditional=True):
            self.persons_table.put_item(
                Item={"person_id": person_id, "name": "", "thumbnail_score": 0, "video_id": video_id,
                      "frame_ms": int(frame_ms), "created_at": _number(time.time())},
                ConditionExpression="attribute_not_exists(person_id)")

    def delete_person(self, person_id: str) -> None:
        """Forget a person (no-op when unknown); its faces are not touched."""
        with self._aws("delete a person"):
            self.persons_table.delete_item(Key={"person_id": person_id})

    def _people(self) -> list[dict[str, Any]]:
        return self._all(self.persons_table.scan, ConsistentRead=True,
                         ProjectionExpression="person_id, #n, thumbnail_face_id",
                         ExpressionAttributeNames={"#n": "name"})

    def persons(self) -> list[Person]:
        """Every person with face count, screen time (ms, each frame's span once per person)
        and videos, from its live faces; most screen time first, ties by id."""
        with self._aws("list persons"):
            people = {i["person_id"]: (i.get("name", ""), i.get("thumbnail_face_id")) for i in self._people()}
            faces = [_face_row(i) for i in self._all(
                self.faces_table.scan, ConsistentRead=True,
                FilterExpression="attribute_exists(person_id) AND #r = :no",
                ExpressionAttributeNames={"#r": "removed"}, ExpressionAttributeValues={":no": False})]
        return persons_from_faces(people, faces)

    def person_ids_named(self, id_or_name: str) -> list[str]:
        """Sorted ids of the person whose id is ``id_or_name`` and of every person whose
        non-empty name equals it stripped, ignoring case."""
        wanted = id_or_name.strip().casefold()
        with self._aws("look up a person"):
            people = self._people()
        return sorted(i["person_id"] for i in people if i["person_id"] == id_or_name
                      or (i.get("name", "") != "" and i["name"].casefold() == wanted))

    def names(self) -> dict[str, str]:
        """person_id → name, for the persons with a non-empty name."""
        with self._aws("read person names"):
            people = self._people()
        return {i["person_id"]: i["name"] for i in people if i.get("name", "") != ""}

    def rename(self, person_id: str, name: str) -> None:
        """Set a person's name (``""`` clears it); no-op for an unknown person."""
        with self._aws("rename a person", conditional=True):
            self.persons_table.update_item(
                Key={"person_id": person_id}, UpdateExpression="SET #n = :n",
                ConditionExpression="attribute_exists(person_id)",
                ExpressionAttributeNames={"#n": "name"}, ExpressionAttributeValues={":n": name})

    def thumbnail_score(self, person_id: str) -> float | None:
        """The score of the person's thumbnail (0.0 when none yet), None for an unknown person."""
        with self._aws("read a person"):
            item = self.persons_table.get_item(Key={"person_id": person_id}, ConsistentRead=True,
                                               ProjectionExpression="person_id, thumbnail_score").get("Item")
        return None if item is None else float(item.get("thumbnail_score", 0))

    def set_thumbnail(self, person_id: str, face_id: str, score: float) -> None:
        """Record ``face_id`` as the person's thumbnail with ``score``; no-op for an unknown person."""
        with self._aws("set a person's thumbnail", conditional=True):
            self.persons_table.update_item(
                Key={"person_id": person_id},
                UpdateExpression="SET thumbnail_face_id = :f, thumbnail_score = :s",
                ConditionExpression="attribute_exists(person_id)",
                ExpressionAttributeValues={":f": face_id, ":s": _number(float(score))})

    def started_after(self, video_id: str, after_frame_ms: int) -> list[str]:
        """Ids of the persons started by a face of ``video_id`` with ``frame_ms`` >
        ``after_frame_ms`` (a filtered scan of the persons table), in no particular order."""
        with self._aws("find the persons of a video"):
            items = self._all(self.persons_table.scan, ConsistentRead=True, ProjectionExpression="person_id",
                              FilterExpression="video_id = :v AND frame_ms > :f",
                              ExpressionAttributeValues={":v": video_id, ":f": int(after_frame_ms)})
        return [i["person_id"] for i in items]

    # -- faces --------------------------------------------------------------------------------
    def put_face(self, face: FaceRow) -> None:
        """Insert or replace a face row (a ``person_id`` of None leaves the attribute out).

        Raises:
            ValueError: ``person_id`` is the empty string (DynamoDB keys cannot be empty).
        """
        item = _face_item(face)
        with self._aws("record a face"):
            self.faces_table.put_item(Item=item)

    def face(self, face_id: str) -> FaceRow | None:
        """One face row (removed or not), or None."""
        with self._aws("read a face"):
            item = self.faces_table.get_item(Key={"face_id": face_id}, ConsistentRead=True).get("Item")
        return _face_row(item) if item else None

    def faces_after(self, video_id: str, after_frame_ms: int) -> list[FaceRow]:
        """Face rows of ``video_id`` with ``frame_ms`` > ``after_frame_ms`` (removed ones
        included), by ``frame_ms`` (GSI ``by_frame``)."""
        with self._aws("read the faces of a video"):
            items = self._all(self.faces_table.query, IndexName="by_frame",
                              KeyConditionExpression="video_id = :v AND frame_ms > :f",
                              ExpressionAttributeValues={":v": video_id, ":f": int(after_frame_ms)})
        return [_face_row(i) for i in items]

    def delete_faces_after(self, video_id: str, after_frame_ms: int) -> None:
        """Delete the rows :meth:`faces_after` returns (one DeleteItem each)."""
        with self._aws("delete the faces of a video"):
            for face_id in self._frame_face_ids(video_id, after_frame_ms):
                self.faces_table.delete_item(Key={"face_id": face_id})

    def _frame_face_ids(self, video_id: str, after_frame_ms: int) -> list[str]:
        return [i["face_id"] for i in self._all(
            self.faces_table.query, IndexName="by_frame", ProjectionExpression="face_id",
            KeyConditionExpression="video_id = :v AND frame_ms > :f",
            ExpressionAttributeValues={":v": video_id, ":f": int(after_frame_ms)})]

    def faces_of(self, person_id: str) -> list[FaceRow]:
        """The person's faces that are not removed, by (``video_id``, ``frame_ms``, ``face_id``)
        (GSI ``by_person``)."""
        with self._aws("read the faces of a person"):
            items = self._all(self.faces_table.query, IndexName="by_person",
                              KeyConditionExpression="person_id = :p", FilterExpression="#r = :no",
                              ExpressionAttributeNames={"#r": "removed"},
                              ExpressionAttributeValues={":p": person_id, ":no": False})
        return sorted((_face_row(i) for i in items), key=lambda f: (f.video_id, f.frame_ms, f.face_id))

    def move_faces(self, from_id: str, to_id: str) -> None:
        """Reassign every face of ``from_id`` (removed or not) to ``to_id``: one conditional
        update per face (a face reassigned meanwhile by someone else is left alone)."""
        if from_id == to_id:
            return
        with self._aws("find the faces of a person"):
            face_ids = [i["face_id"] for i in self._all(
                self.faces_table.query, IndexName="by_person", ProjectionExpression="face_id",
                KeyConditionExpression="person_id = :p", ExpressionAttributeValues={":p": from_id})]
        for face_id in face_ids:
            with self._aws("move a face", conditional=True):
                self.faces_table.update_item(
                    Key={"face_id": face_id}, UpdateExpression="SET person_id = :to",
                    ConditionExpression="person_id = :from",
                    ExpressionAttributeValues={":to": to_id, ":from": from_id})

    def mark_removed(self, face_id: str) -> None:
        """Mark a face removed and take it from its person (``person_id`` is REMOVEd, which
        also takes it out of GSI ``by_person``); no-op for an unknown face."""
        with self._aws("remove a face", conditional=True):
            self.faces_table.update_item(
                Key={"face_id": face_id}, UpdateExpression="SET #r = :yes REMOVE person_id",
                ConditionExpression="attribute_exists(face_id)",
                ExpressionAttributeNames={"#r": "removed"}, ExpressionAttributeValues={":yes": True})

    def faces_by_id(self, face_ids: list[str]) -> dict[str, FaceRow]:
        """face_id → row for the given ids (removed faces included; unknown ids absent;
        duplicates allowed). BatchGetItem, 100 keys a request, strongly consistent; keys
        DynamoDB leaves unprocessed (throttling, 16 MB) are asked again with backoff.

        Raises:
            StorageError: DynamoDB failed, or left keys unprocessed ``BATCH_GET_ROUNDS`` times.
        """
        unique = list(dict.fromkeys(face_ids))
        found: dict[str, FaceRow] = {}
        if not unique:
            return found
        with self._aws("read faces"):
            self._both()
        for start in range(0, len(unique), BATCH_GET_MAX):
            request = {self.faces_table_name: {
                "Keys": [{"face_id": f} for f in unique[start:start + BATCH_GET_MAX]], "ConsistentRead": True}}
            for attempt in range(BATCH_GET_ROUNDS):
                with self._aws("read faces"):
                    response = self._resource.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.faces_table_name, []):
                    found[item["face_id"]] = _face_row(item)
                request = response.get("UnprocessedKeys") or {}
                if not request.get(self.faces_table_name, {}).get("Keys"):
                    break
                time.sleep(min(1.0, 0.05 * 2 ** attempt))
            else:
                raise StorageError("the person records (DynamoDB) failed to read faces: DynamoDB "
                                   "kept them unprocessed (throttled); try again later",
                                   detail=f"{self.faces_table_name}: UnprocessedKeys after "
                                          f"{BATCH_GET_ROUNDS} rounds")
        return found
