"""The distributed ingest on AWS, step by step (each step is what one Lambda handler does):

1. :meth:`AwsIngest.register_upload` — an object landed under ``uploads/``: its ``video_id``
   is the SHA-256 of its bytes (streamed from S3, as locally), the catalog record is created
   with a conditional put (a repeated S3 event or the same bytes uploaded again start nothing),
   and a MediaConvert job captures frames at ``REKO_SAMPLE_FPS`` and writes the MP4 proxy.
2. :meth:`AwsIngest.job_state_changed` — the job ended: on ERROR the record becomes ``failed``
   (nothing is deleted); on COMPLETE the captured frames are read in time order, the analysis
   planner (:mod:`reko.pipeline.planner`, the same as locally, without the local face tracker:
   numpy and Pillow only) drops near-duplicates and decides per frame which APIs run and which
   results carry over from an earlier frame, and the planned frames go to the SQS FIFO queue in
   batches (group = video, so one video's batches are analysed in order, one at a time; dedup
   id = ``video_id:batch``).
3. :meth:`AwsIngest.analyse_batch` — one batch: thumbnails, the planned Rekognition calls,
   carried results (from this batch or from the carry state the previous batch stored at
   ``frames/<video_id>/carry-b<batch>.json``), persons, documents bulk-indexed, the batch
   counted (idempotently); the last batch makes the video ``ready``. A redelivered batch first
   forgets the faces a failed attempt indexed (batches of a video run in order, so nothing after
   it exists yet). A carried result whose source is not available (the previous batch ended in
   the DLQ) is measured on the frame instead: never invented.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from ...errors import InputError, NotFoundError
from ...settings import Settings
from .. import ids
from ..analyze import analyse_frame
from ..catalog import VideoRecord
from ..documents import Face, FrameDocument, empty_document, frame_document
from ..index import IndexBackend
from ..media import decode_image, encode_jpeg
from ..persons import PersonStore
from ..planner import AnalysisPlanner, CarryState, PlannedFrame, carry_key, merge_carried, plan_spans, record_unindexed_faces
from ..storage import THUMBNAIL_MAX_SIDE_PX
from . import mediaconvert
from .dynamodb_catalog import DynamoCatalog
from .s3_storage import S3Storage

HASH_CHUNK_BYTES = 8 << 20  #: S3 read size while hashing an upload
FETCH_THREADS = 16  #: concurrent S3 GETs while planning (each capture is ~50–200 KB)
UPLOAD_PREFIX = "uploads/"
SQS_BATCH_ENTRIES = 10  #: SendMessageBatch's maximum entries per request


class Parts(Protocol):
    """What the steps need from the application layer (:class:`reko.app.Reko` provides it)."""

    settings: Settings
    storage: Any

    @property
    def catalog(self) -> Any: ...

    @property
    def index(self) -> IndexBackend: ...

    @property
    def persons_store(self) -> PersonStore: ...

    @property
    def analyzer(self) -> Any: ...


@dataclass
class BatchResult:
    """What :meth:`AwsIngest.analyse_batch` did: documents written, batches done of total
    (total -1: the video was deleted meanwhile), and whether the video is now ready."""

    video_id: str
    documents: int
    batches_done: int
    batches_total: int
    ready: bool


class AwsIngest:
    """The three steps over ``app``'s parts (S3 storage, DynamoDB catalog, OpenSearch index,
    persons, the Rekognition client) and the MediaConvert and SQS clients (injected, or
    boto3's, created on first use)."""

    def __init__(self, app: Parts, mediaconvert_client: Any = None, sqs_client: Any = None):
        self.app = app
        self.settings = app.settings
        self._mediaconvert = mediaconvert_client
        self._sqs = sqs_client

    @property
    def storage(self) -> S3Storage:
        """The S3 storage (the AWS path needs it)."""
        storage = self.app.storage
        if not isinstance(storage, S3Storage):
            raise InputError("the AWS ingest needs REKO_STORAGE_URL=s3://BUCKET")
        return storage

    @property
    def catalog(self) -> DynamoCatalog:
        """The DynamoDB catalog (the AWS path needs its conditional writes and batch counts)."""
        catalog = self.app.catalog
        if not isinstance(catalog, DynamoCatalog):
            raise InputError("the AWS ingest needs REKO_CATALOG_URL=dynamodb://PREFIX")
        return catalog

    @property
    def mediaconvert(self) -> Any:
        """The MediaConvert client."""
        if self._mediaconvert is None:
            import boto3

            self._mediaconvert = boto3.client("mediaconvert")
        return self._mediaconvert

    @property
    def sqs(self) -> Any:
        """The SQS client."""
        if self._sqs is None:
            import boto3

            self._sqs = boto3.client("sqs")
        return self._sqs

    # -- 1. upload ----------------------------------------------------------------------------
    def content_id(self, key: str) -> tuple[str, int]:
        """(``video_id``, size in bytes) of an uploaded object: SHA-256 streamed in
        :data:`HASH_CHUNK_BYTES` reads, the same id ``reko ingest`` gives the same bytes."""
        digest, size = hashlib.sha256(), 0
        body = self.storage.client.get_object(Bucket=self.storage.bucket, Key=self.storage.key(key))["Body"]
        for chunk in body.iter_chunks(HASH_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest()[:16], size

    def register_upload(self, key: str) -> tuple[VideoRecord, bool]:
        """Record the upload at ``key`` (relative to the storage prefix, under ``uploads/``) and
        start its MediaConvert job. Returns (record, started): started is False when the
        record existed (a repeated event, or the same bytes uploaded before).

        Raises:
            InputError: the key is not under ``uploads/``.
        """
        if not key.startswith(UPLOAD_PREFIX) or key.endswith("/"):
            raise InputError(f"not an upload: {key[:200]!r} (uploads go under {UPLOAD_PREFIX})")
        video_id, size = self.content_id(key)
        filename = posixpath.basename(key)[:255] or "upload"
        created = self.catalog.create(video_id, filename, size_bytes=size, source_key=key,
                                      stored_path=mediaconvert.proxy_key(video_id))
        if created:
            storage = self.storage
            request = mediaconvert.ingest_job(
                mediaconvert.s3_uri(storage.bucket, storage.key(key)), storage.bucket, video_id,
                self.settings.sample_fps, self.settings.mediaconvert_role_arn,
                self.settings.mediaconvert_queue_arn or None,
                max_video_seconds=self.settings.max_video_seconds, prefix=storage.prefix)
            job = mediaconvert.create_job(self.mediaconvert, request)
            self.catalog.update(video_id, job_id=job["Id"])
        record = self.catalog.get(video_id)
        assert record is not None
        return record, created

    # -- 2. frames captured --------------------------------------------------------------------
    def job_state_changed(self, event: dict[str, Any]) -> int:
        """Handle a MediaConvert job state change; returns how many frame batches were queued
        (0 for a failure, a clip job, or a video deleted meanwhile).

        Raises:
            InputError: not a MediaConvert job state change event.
        """
        change = mediaconvert.parse_job_state_event(event)
        if change.kind != mediaconvert.KIND_INGEST or not change.video_id:
            return 0
        video_id = ids.video_id(change.video_id)
        if change.status == "INPUT_INFORMATION" and change.input_fps:
            self.catalog.update(video_id, fps=change.input_fps)  # the source's rate, for clips
            return 0
        if not change.final:
            return 0
        record = self.catalog.get(video_id)
        if record is None or record.status in ("deleting", "ready", "ingesting"):
            return 0  # deleted, or a repeated event for work already planned
        if change.status != "COMPLETE":
            reason = change.error_message or change.status.lower()
            self.catalog.update(video_id, status="failed", error=(
                f"MediaConvert could not process the video ({reason[:300]}); check that the upload "
                "is a complete video and upload it again"))
            return 0
        captures = sorted(self.storage.list(mediaconvert.capture_prefix(video_id)), key=mediaconvert.frame_index)
        duration_ms = max([d for group in change.durations_ms for d in group if d] or [0])
        planned, indexes, size = self._plan(captures)
        duration_ms = max(duration_ms, planned[-1].frame_ms + 1 if planned else 1)
        plan_spans(planned, duration_ms)
        capture_of = {id(f): n for f, n in zip(planned, indexes)}
        batches = [planned[i:i + self.settings.frames_per_message]
                   for i in range(0, len(planned), self.settings.frames_per_message)]
        self.catalog.start(video_id, record.filename, record.stored_path, duration_ms, size[0], size[1],
                           record.fps, record.size_bytes, status="ingesting")
        self.catalog.update(video_id, batches_total=len(batches), frames_sampled=len(captures))
        entries = [{"Id": str(n), "MessageGroupId": video_id, "MessageDeduplicationId": f"{video_id}:{n}",
                    "MessageBody": json.dumps({"video_id": video_id, "batch": n, "width": size[0],
                                               "height": size[1], "frames": [
                                                   {"key": mediaconvert.capture_key(video_id, capture_of[id(f)]),
                                                    "frame_ms": f.frame_ms, "end_ms": f.end_ms,
                                                    "analyses": list(f.analyses),
                                                    "carried": dict(f.carried)} for f in batch]})}
                   for n, batch in enumerate(batches)]
        for start in range(0, len(entries), SQS_BATCH_ENTRIES):
            response = self.sqs.send_message_batch(QueueUrl=self.settings.queue_url,
                                                   Entries=entries[start:start + SQS_BATCH_ENTRIES])
            if response.get("Failed"):
                raise RuntimeError(f"SQS refused {len(response['Failed'])} frame batches; the event "
                                   "is retried")
        if not batches:
            self.catalog.update(video_id, status="ready")
        return len(batches)

    def _plan(self, captures: list[str]) -> tuple[list[PlannedFrame], list[int], tuple[int, int]]:
        """The planned frames of the captures (in time order), their capture numbers, and the
        captures' (width, height) in px. Each planned frame names the APIs to call on it and
        the earlier frames whose results it carries (the message's ``analyses`` and
        ``carried``); the planner runs without the local face tracker (no detector here)."""
        planner = AnalysisPlanner(self.settings.feature_list, self.settings.dedup_threshold_cells)
        planned: list[PlannedFrame] = []
        indexes: list[int] = []
        size = (0, 0)
        with ThreadPoolExecutor(FETCH_THREADS) as pool:
            for key, data in zip(captures, pool.map(self.storage.get, captures)):
                image = decode_image(data)
                size = (image.shape[1], image.shape[0])
                index = mediaconvert.frame_index(key)
                plan = planner.offer(mediaconvert.capture_time_ms(index, self.settings.sample_fps), image)
                if plan is not None:
                    planned.append(plan)
                    indexes.append(index)
        return planned, indexes, size

    # -- 3. one batch ----------------------------------------------------------------------------
    def analyse_batch(self, message: dict[str, Any], redelivered: bool = False) -> BatchResult:
        """Analyse one SQS message of :meth:`job_state_changed` and index its documents.

        Raises:
            InputError: the message is not a frame batch (a poison message: it goes to the DLQ).
            FaultError: Rekognition, OpenSearch, S3 or DynamoDB failed (the message is retried).
        """
        try:
            video_id = ids.video_id(message["video_id"])
            batch = int(message["batch"])
            frames = [(str(f["key"]), ids.frame_ms(int(f["frame_ms"])), int(f["end_ms"]),
                       tuple(f["analyses"] if "analyses" in f else self.settings.feature_list),
                       {str(a): int(ms) for a, ms in (f.get("carried") or {}).items()})
                      for f in message["frames"]]
            height = int(message["height"])
            width = int(message["width"])
        except (KeyError, TypeError, ValueError, NotFoundError) as exc:
            raise InputError(f"not a frame batch message ({type(exc).__name__})") from None
        record = self.catalog.get(video_id)
        if record is None or record.status == "deleting" or not frames:
            return BatchResult(video_id, 0, 0, -1, False)
        persons = self.app.persons_store if "faces" in self.settings.feature_list else None
        if persons is not None:
            persons.ensure_collection()
            if redelivered:  # a failed attempt may have indexed faces of these frames
                persons.forget_frames(video_id, frames[0][1] - 1)
        features = self.settings.feature_list
        carry = self._carry_state(video_id, batch)
        docs: list[FrameDocument] = []
        for key, frame_ms, end_ms, analyses, carried in frames:
            # a carried result the state does not hold is measured here instead
            missing = tuple(a for a, source in carried.items() if carry.carried(a, source) is None)
            plan = PlannedFrame(frame_ms, end_ms, tuple(dict.fromkeys(analyses + missing)),
                                {a: ms for a, ms in carried.items() if a not in missing})
            jpeg = self.storage.get(key)
            thumb = encode_jpeg(decode_image(jpeg), 80, THUMBNAIL_MAX_SIDE_PX)
            uri = self.storage.put_frame(video_id, frame_ms, thumb)
            fields = analyse_frame(jpeg, video_id, frame_ms, plan.analyses, self.settings.face_collection,
                                   client=self.app.analyzer) if plan.analyses else {}
            fields.pop("analysis_ms", None)
            fields.pop("missing", None)
            base = empty_document(video_id, frame_ms, end_ms, uri, width, height, self.settings.analyzer)

            def assign(records: list[dict[str, Any]], frame_ms: int = frame_ms, end_ms: int = end_ms,
                       thumb: bytes = thumb) -> list[Face]:
                assert persons is not None
                return persons.assign(video_id, frame_ms, end_ms - frame_ms, height, records, thumb)

            fields, ran, analysed_ms = merge_carried(plan, fields, carry, features, video_id)
            raw = dict(fields)
            doc = frame_document(base, fields, self.settings, assign if persons else None, analysed_ms)
            if persons is not None and doc["faces"]:
                record_unindexed_faces(persons, video_id, frame_ms, end_ms - frame_ms,
                                       doc["faces"])  # type: ignore[arg-type]
            raw["faces"] = doc["faces"]
            carry.remember(frame_ms, ran, raw)
            docs.append(doc)
        self.app.index.index_frames(docs)
        self.storage.put(carry_key(video_id, f"b{batch}"), carry.to_json(), "application/json")
        done, total = self.catalog.mark_batch_done(video_id, str(batch))
        ready = total >= 0 and done >= total
        if ready:
            self.catalog.update(video_id, status="ready", frames_analysed=self._analysed(video_id))
        return BatchResult(video_id, len(docs), done, total, ready)

    def _carry_state(self, video_id: str, batch: int) -> CarryState:
        """The carry state the previous batch stored (empty for the first batch, or when the
        previous batch never completed)."""
        if batch <= 0:
            return CarryState()
        try:
            return CarryState.from_json(self.storage.get(carry_key(video_id, f"b{batch - 1}")))
        except (NotFoundError, ValueError):
            return CarryState()

    def _analysed(self, video_id: str) -> int:
        return len(self.app.index.frames(video_id))
