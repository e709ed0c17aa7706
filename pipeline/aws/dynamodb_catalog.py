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

import time
import uuid
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Iterator

from ...errors import FaultError, StorageError
from .. import ids
from ..catalog import LOCK_TIMEOUT_S, VideoCatalog, VideoRecord, check_update

LOCK_PREFIX = "lock#"
LEASE_S = 900.0  #: a video lock expires this long after it was taken (Lambda's longest run)
FIELDS = tuple(VideoRecord.__dataclass_fields__)


def parse_dynamodb_url(url: str) -> str:
    """The table prefix of ``dynamodb://<prefix>``."""
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


def _record(item: dict[str, Any]) -> VideoRecord:
    return VideoRecord(**{name: _plain(item.get(name, _DEFAULTS.get(name))) for name in FIELDS})


_DEFAULTS: dict[str, Any] = {"stored_path": "", "checkpoint_ms": -1, "frames_sampled": 0,
                             "frames_analysed": 0, "error": "", "width": 0, "height": 0,
                             "fps": 0.0, "size_bytes": 0, "duration_ms": 0}


class DynamoCatalog(VideoCatalog):
    """Video records in the DynamoDB table ``<prefix>-videos``."""

    def __init__(self, prefix: str, resource: Any = None):
        self.table_name = f"{prefix}-videos"
        self._resource = resource
        self._table: Any = None

    @property
    def table(self) -> Any:
        """The boto3 Table (created on first use)."""
        if self._table is None:
            if self._resource is None:
                import boto3

                self._resource = boto3.resource("dynamodb")
            self._table = self._resource.Table(self.table_name)
        return self._table

    def _fail(self, action: str, exc: Exception) -> StorageError:
        return StorageError(f"the video catalog (DynamoDB) failed to {action}; check the table "
                            "and the function's permissions", detail=f"{self.table_name}: {exc}")

    def get(self, video_id: str) -> VideoRecord | None:
        try:
            item = self.table.get_item(Key={"video_id": video_id}, ConsistentRead=True).get("Item")
        except Exception as exc:
            raise self._fail("read a video", exc) from None
        return _record(item) if item else None

    def item(self, video_id: str) -> dict[str, Any] | None:
        """The raw item of a video with its AWS-only attributes (``job_id``, ``batches_total``,
        ``batches_done``, ``source_key``), numbers as int/float."""
        item = self.table.get_item(Key={"video_id": video_id}, ConsistentRead=True).get("Item")
        return {k: _plain(v) for k, v in item.items()} if item else None

    def list(self, statuses: tuple[str, ...] = ()) -> list[VideoRecord]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        try:
            while True:
                page = self.table.scan(**kwargs)
                items += page.get("Items", [])
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except Exception as exc:
            raise self._fail("list videos", exc) from None
        records = [_record(i) for i in items if not str(i["video_id"]).startswith(LOCK_PREFIX)
                   and (not statuses or i.get("status") in statuses)]
        return sorted(records, key=lambda r: r.created_at, reverse=True)

    def create(self, video_id: str, filename: str, **attributes: Any) -> bool:
        """Create a ``queued`` record unless one exists; True when this call created it."""
        now = Decimal(str(time.time()))
        item = {"video_id": ids.video_id(video_id), "filename": filename, "status": "queued",
                "created_at": now, "updated_at": now, **_DEFAULTS,
                **{k: _dynamo(v) for k, v in attributes.items()}}
        item["fps"] = _dynamo(float(item["fps"]))
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(video_id)")
            return True
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        except Exception as exc:
            raise self._fail("record a video", exc) from None

    def start(self, video_id: str, filename: str, stored_path: str, duration_ms: int, width: int,
              height: int, fps: float, size_bytes: int, status: str = "ingesting") -> VideoRecord:
        now = Decimal(str(time.time()))
        values = {":filename": filename, ":stored": stored_path, ":duration": duration_ms,
                  ":width": width, ":height": height, ":fps": _dynamo(float(fps)),
                  ":size": size_bytes, ":status": status, ":now": now, ":minus": -1, ":zero": 0,
                  ":empty": ""}
        try:
            self.table.update_item(
                Key={"video_id": ids.video_id(video_id)},
                UpdateExpression=(
                    "SET filename = if_not_exists(filename, :filename), stored_path = :stored,"
                    " duration_ms = :duration, width = :width, height = :height, fps = :fps,"
                    " size_bytes = :size, #s = :status, #e = :empty, updated_at = :now,"
                    " created_at = if_not_exists(created_at, :now),"
                    " checkpoint_ms = if_not_exists(checkpoint_ms, :minus),"
                    " frames_sampled = if_not_exists(frames_sampled, :zero),"
                    " frames_analysed = if_not_exists(frames_analysed, :zero)"),
                ExpressionAttributeNames={"#s": "status", "#e": "error"},
                ExpressionAttributeValues=values)
        except Exception as exc:
            raise self._fail("record a video", exc) from None
        record = self.get(video_id)
        assert record is not None
        return record

    def update(self, video_id: str, **fields: Any) -> None:
        extra = {k: v for k, v in fields.items() if k in ("job_id", "batches_total", "source_key")}
        check_update({k: v for k, v in fields.items() if k not in extra})
        kwargs: dict[str, Any] = {
            "ExpressionAttributeValues": {**{f":v{i}": _dynamo(v) for i, v in enumerate(fields.values())},
                                          ":now": Decimal(str(time.time()))}}
        if fields:
            kwargs["ExpressionAttributeNames"] = {f"#f{i}": name for i, name in enumerate(fields)}
        sets = "".join(f"#f{i} = :v{i}, " for i in range(len(fields)))
        try:
            self.table.update_item(Key={"video_id": ids.video_id(video_id)},
                                   UpdateExpression=f"SET {sets}updated_at = :now",
                                   ConditionExpression="attribute_exists(video_id)", **kwargs)
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return  # deleted meanwhile: nothing to update, as with SQLite's UPDATE
        except Exception as exc:
            raise self._fail("update a video", exc) from None

    def mark_batch_done(self, video_id: str, batch_id: str) -> tuple[int, int]:
        """Add ``batch_id`` to the video's ``batches_done`` (idempotent); returns (batches
        done, batches total). A deleted video returns (0, -1)."""
        try:
            item = self.table.update_item(
                Key={"video_id": ids.video_id(video_id)},
                UpdateExpression="ADD batches_done :b SET updated_at = :now",
                ConditionExpression="attribute_exists(video_id)",
                ExpressionAttributeValues={":b": {batch_id}, ":now": Decimal(str(time.time()))},
                ReturnValues="ALL_NEW")["Attributes"]
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return 0, -1
        except Exception as exc:
            raise self._fail("count a frame batch", exc) from None
        return len(item.get("batches_done", ())), int(item.get("batches_total", -1))

    def delete(self, video_id: str) -> bool:
        try:
            old = self.table.delete_item(Key={"video_id": ids.video_id(video_id)}, ReturnValues="ALL_OLD")
        except Exception as exc:
            raise self._fail("delete a video", exc) from None
        return "Attributes" in old

    @contextmanager
    def video_lock(self, video_id: str, timeout_s: float = LOCK_TIMEOUT_S,
                   lease_s: float = LEASE_S) -> Iterator[None]:
        key = {"video_id": LOCK_PREFIX + ids.video_id(video_id)}
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + timeout_s
        errors = self.table.meta.client.exceptions
        while True:
            now = time.time()
            try:
                self.table.put_item(
                    Item={**key, "owner": owner, "expires_at": Decimal(str(now + lease_s))},
                    ConditionExpression="attribute_not_exists(video_id) OR expires_at < :now",
                    ExpressionAttributeValues={":now": Decimal(str(now))})
                break
            except errors.ConditionalCheckFailedException:
                if time.monotonic() > deadline:
                    raise FaultError(f"video {video_id} is busy (being ingested or deleted); try "
                                     "again later") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            try:
                self.table.delete_item(Key=key, ConditionExpression="#o = :me",
                                       ExpressionAttributeNames={"#o": "owner"},
                                       ExpressionAttributeValues={":me": owner})
            except errors.ConditionalCheckFailedException:
                pass  # the lease expired and someone else holds it now
