"""The video catalog on DynamoDB (``REKO_CATALOG_URL=dynamodb://<prefix>``, table
``<prefix>-videos``, partition key ``video_id``): the same records and statuses as the SQLite
catalog, plus what the distributed ingest needs.

* :meth:`DynamoCatalog.create` is a conditional put (``attribute_not_exists``): S3 delivers an
  upload event at least once, and only the first delivery starts the work.
* :meth:`DynamoCatalog.mark_batch_done` adds a frame batch's id to the ``batches_done`` string
  set: adding twice is a no-op, so a replayed SQS message never counts twice; the video is
  ``ready`` when the set holds ``batches_total`` ids.
* :meth:`DynamoCatalog.video_lock` is a lease on a separate item (``lock#<video_id>``) taken
  with a conditional write and released by deleting it; a holder that dies loses the lease
  after ``lease_s``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from ...errors import FaultError, StorageError
from .. import ids
from ..catalog import LOCK_TIMEOUT_S, VideoCatalog, VideoRecord, check_update
from .dynamodb_tables import table_name

LOCK_PREFIX = "lock#"
LEASE_S = 900.0  #: a video lock expires this long after it was taken (Lambda's longest run)
FIELDS = tuple(VideoRecord.__dataclass_fields__)


def parse_dynamodb_url(url: str) -> str:
    """The table prefix of ``dynamodb://<prefix>`` (a trailing ``/`` is ignored).

    Raises:
        StorageError: not a ``dynamodb://`` URL, or no prefix.
    """
    prefix = url.removeprefix("dynamodb://").strip("/")
    if not url.startswith("dynamodb://") or not prefix:
        raise StorageError("REKO_CATALOG_URL must be dynamodb://TABLE_PREFIX")
    return prefix


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value)
    return value


def _dynamo(value: Any) -> Any:
    return Decimal(str(value)) if isinstance(value, float) else value


_TYPES = {"int": int, "float": float, "str": str}
#: field → the Python type of that VideoRecord field (DynamoDB returns every number as a Decimal,
#: and normalises 25.0 to 25: the field's type, not the number's look, decides int or float)
FIELD_TYPES = {name: _TYPES[str(field.type)] for name, field in VideoRecord.__dataclass_fields__.items()}


def _record(item: dict[str, Any]) -> VideoRecord:
    return VideoRecord(**{name: FIELD_TYPES[name](item.get(name, _DEFAULTS.get(name)))
                          for name in FIELDS})


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code", "") if isinstance(response, dict) else ""


def _is_aws_error(exc: Exception) -> bool:
    import botocore.exceptions

    return isinstance(exc, (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError))


def _well_formed(video_id: object) -> bool:
    return isinstance(video_id, str) and ids.VIDEO_ID.fullmatch(video_id) is not None


_DEFAULTS: dict[str, Any] = {"stored_path": "", "checkpoint_ms": -1, "frames_sampled": 0,
                             "frames_analysed": 0, "error": "", "width": 0, "height": 0,
                             "fps": 0.0, "size_bytes": 0, "duration_ms": 0}


class DynamoCatalog(VideoCatalog):
    """Video records in the DynamoDB table ``<prefix>-videos`` (see :mod:`.dynamodb_tables`).

    ``resource`` is a boto3 DynamoDB service resource; without one, a resource of a new boto3
    session is made on first use (never at import or construction). Safe to share between
    threads. Every method raises :class:`reko.errors.StorageError` when DynamoDB fails (missing
    table, no permission, no network), saying what to check. A malformed ``video_id`` is an
    unknown video (``get`` None, ``delete`` False, ``update`` no-op), as with SQLite; ``start``,
    ``create`` and ``video_lock`` refuse it (NotFoundError).
    """

    def __init__(self, prefix: str, resource: Any = None):
        self.table_name = table_name(prefix, "videos")
        self._resource = resource
        self._table: Any = None
        self._init_lock = threading.Lock()

    @property
    def table(self) -> Any:
        """The boto3 Table (created on first use, once even when threads race for it)."""
        if self._table is None:
            with self._init_lock:
                if self._table is None:
                    if self._resource is None:
                        import boto3

                        # a session of its own: boto3's default session is not safe to set up
                        # from several threads at once
                        self._resource = boto3.session.Session().resource("dynamodb")
                    self._table = self._resource.Table(self.table_name)
        return self._table

    def _fail(self, action: str, exc: Exception) -> StorageError:
        return StorageError(f"the video catalog (DynamoDB) failed to {action}; check the table "
                            "and the function's permissions", detail=f"{self.table_name}: {exc}")

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
                raise self._fail(action, exc) from None
            raise

    def get(self, video_id: str) -> VideoRecord | None:
        """The record of ``video_id`` (a strongly consistent read), or None (also for a
        malformed id, which no video can have, and so never a lock item)."""
        if not _well_formed(video_id):
            return None
        with self._aws("read a video"):
            item = self.table.get_item(Key={"video_id": video_id}, ConsistentRead=True).get("Item")
        return _record(item) if item else None

    def item(self, video_id: str) -> dict[str, Any] | None:
        """The raw item of a video with its AWS-only attributes (``job_id``, ``batches_total``,
        ``batches_done`` (sorted list), ``source_key``), numbers as int/float; None when unknown."""
        if not _well_formed(video_id):
            return None
        with self._aws("read a video"):
            item = self.table.get_item(Key={"video_id": video_id}, ConsistentRead=True).get("Item")
        return {k: _plain(v) for k, v in item.items()} if item else None

    def list(self, statuses: tuple[str, ...] = ()) -> list[VideoRecord]:
        """Every record (or those in one of ``statuses``), newest ``created_at`` first: a
        paginated, strongly consistent Scan (lock items left out)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"ConsistentRead": True}
        with self._aws("list videos"):
            while True:
                page = self.table.scan(**kwargs)
                items += page.get("Items", [])
                if not page.get("LastEvaluatedKey"):
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        records = [_record(i) for i in items if not str(i["video_id"]).startswith(LOCK_PREFIX)
                   and (not statuses or i.get("status") in statuses)]
        return sorted(records, key=lambda r: r.created_at, reverse=True)

    def create(self, video_id: str, filename: str, **attributes: Any) -> bool:
        """Create a ``queued`` record unless one exists (a conditional put, so a replayed
        upload event is a no-op); ``attributes`` are further columns (probe facts) or AWS-only
        attributes (``source_key``, ``job_id``). True when this call created the record.

        Raises:
            NotFoundError: ``video_id`` is not a video id.
        """
        now = Decimal(str(time.time()))
        item = {"video_id": ids.video_id(video_id), "filename": filename, "status": "queued",
                "created_at": now, "updated_at": now, **_DEFAULTS,
                **{k: _dynamo(v) for k, v in attributes.items()}}
        item["fps"] = _dynamo(float(item["fps"]))
        created = False
        with self._aws("record a video", conditional=True):
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(video_id)")
            created = True
        return created

    def start(self, video_id: str, filename: str, stored_path: str, duration_ms: int, width: int,
              height: int, fps: float, size_bytes: int, status: str = "ingesting") -> VideoRecord:
        """Create the record in ``status``, or set an existing one's status again (clearing
        ``error``, setting ``stored_path``) keeping its filename, checkpoint, counters and
        ``created_at`` (resume). Unlike SQLite, the probe facts (duration, size, fps) are set
        again too: a record :meth:`create` made before the probe has placeholders there.

        Raises:
            NotFoundError: ``video_id`` is not a video id.
        """
        now = Decimal(str(time.time()))
        values = {":filename": filename, ":stored": stored_path, ":duration": duration_ms,
                  ":width": width, ":height": height, ":fps": _dynamo(float(fps)),
                  ":size": size_bytes, ":status": status, ":now": now, ":minus": -1, ":zero": 0,
                  ":empty": ""}
        key = {"video_id": ids.video_id(video_id)}
        with self._aws("record a video"):
            item = self.table.update_item(
                Key=key,
                UpdateExpression=(
                    "SET filename = if_not_exists(filename, :filename), stored_path = :stored,"
                    " duration_ms = :duration, width = :width, height = :height, fps = :fps,"
                    " size_bytes = :size, #s = :status, #e = :empty, updated_at = :now,"
                    " created_at = if_not_exists(created_at, :now),"
                    " checkpoint_ms = if_not_exists(checkpoint_ms, :minus),"
                    " frames_sampled = if_not_exists(frames_sampled, :zero),"
                    " frames_analysed = if_not_exists(frames_analysed, :zero)"),
                ExpressionAttributeNames={"#s": "status", "#e": "error"},
                ExpressionAttributeValues=values, ReturnValues="ALL_NEW")["Attributes"]
        return _record(item)

    def update(self, video_id: str, **fields: Any) -> None:
        """Set columns (``status``, ``checkpoint_ms``, counters, ``error``, ``filename``, and the
        AWS-only ``job_id``, ``batches_total``, ``source_key``) and ``updated_at`` of an existing
        record; an unknown video is left unknown (conditional update).

        Raises:
            ValueError: a field that may not be set, or an unknown status.
        """
        extra = {k: v for k, v in fields.items() if k in ("job_id", "batches_total", "source_key")}
        check_update({k: v for k, v in fields.items() if k not in extra})
        if not _well_formed(video_id):
            return
        kwargs: dict[str, Any] = {
            "ExpressionAttributeValues": {**{f":v{i}": _dynamo(v) for i, v in enumerate(fields.values())},
                                          ":now": Decimal(str(time.time()))}}
        if fields:
            kwargs["ExpressionAttributeNames"] = {f"#f{i}": name for i, name in enumerate(fields)}
        sets = "".join(f"#f{i} = :v{i}, " for i in range(len(fields)))
        # conditional: a video deleted meanwhile stays deleted, as with SQLite's UPDATE
        with self._aws("update a video", conditional=True):
            self.table.update_item(Key={"video_id": video_id}, UpdateExpression=f"SET {sets}updated_at = :now",
                                   ConditionExpression="attribute_exists(video_id)", **kwargs)

    def mark_batch_done(self, video_id: str, batch_id: str) -> tuple[int, int]:
        """Add ``batch_id`` to the video's ``batches_done`` (idempotent); returns (batches
        done, batches total); the total is -1 until ``update(batches_total=…)`` set it. A deleted
        (or malformed) video returns (0, -1) and is not re-created."""
        if not _well_formed(video_id):
            return 0, -1
        item: dict[str, Any] | None = None
        with self._aws("count a frame batch", conditional=True):
            item = self.table.update_item(
                Key={"video_id": video_id},
                UpdateExpression="ADD batches_done :b SET updated_at = :now",
                ConditionExpression="attribute_exists(video_id)",
                ExpressionAttributeValues={":b": {batch_id}, ":now": Decimal(str(time.time()))},
                ReturnValues="ALL_NEW")["Attributes"]
        if item is None:
            return 0, -1
        return len(item.get("batches_done", ())), int(item.get("batches_total", -1))

    def delete(self, video_id: str) -> bool:
        """Remove the record; True when one existed (False for a malformed id)."""
        if not _well_formed(video_id):
            return False
        with self._aws("delete a video"):
            old = self.table.delete_item(Key={"video_id": video_id}, ReturnValues="ALL_OLD")
        return "Attributes" in old

    @contextmanager
    def video_lock(self, video_id: str, timeout_s: float = LOCK_TIMEOUT_S,
                   lease_s: float = LEASE_S) -> Iterator[None]:
        """Hold the lock of one video (one ingest or delete of it at a time): a lease item
        ``lock#<video_id>`` put on condition that none exists or the one there expired, retried
        every 0.2 s for up to ``timeout_s`` s; released by deleting it (only if still ours). A
        holder that dies without releasing loses the lock ``lease_s`` s after taking it.

        Raises:
            FaultError: the lock was not free within ``timeout_s``.
            NotFoundError: ``video_id`` is not a video id.
            StorageError: DynamoDB failed.
        """
        key = {"video_id": LOCK_PREFIX + ids.video_id(video_id)}
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + timeout_s
        while True:
            now = time.time()
            taken = False
            with self._aws("lock a video", conditional=True):
                self.table.put_item(
                    Item={**key, "owner": owner, "expires_at": Decimal(str(now + lease_s))},
                    ConditionExpression="attribute_not_exists(video_id) OR expires_at < :now",
                    ExpressionAttributeValues={":now": Decimal(str(now))})
                taken = True
            if taken:
                break
            if time.monotonic() > deadline:
                raise FaultError(f"video {video_id} is busy (being ingested or deleted); try "
                                 "again later")
            time.sleep(0.2)
        try:
            yield
        except BaseException:
            try:
                self._release(key, owner)
            except StorageError:
                pass  # the body's error matters more; the lease expires on its own
            raise
        self._release(key, owner)

    def _release(self, key: dict[str, str], owner: str) -> None:
        # conditional: when the lease expired and someone else holds it now, leave theirs
        with self._aws("unlock a video", conditional=True):
            self.table.delete_item(Key=key, ConditionExpression="#o = :me",
                                   ExpressionAttributeNames={"#o": "owner"},
                                   ExpressionAttributeValues={":me": owner})
