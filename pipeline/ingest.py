"""Ingest: probe → sample → plan (skip near-duplicates, decide analyses) → analyse (process
pool) → index.

The analysis planner (:mod:`reko.pipeline.planner`) decides per kept frame which analyses run;
the others carry over from the frame they last ran on (documents say so in ``analysed_ms``).
With the local engine, the planner tracks faces with BlazeFace on every kept frame and runs the
embedding only for new tracks. Documents are built in frame order in this process, with the
carried results held in a :class:`~reko.pipeline.planner.CarryState` that is stored next to
every checkpoint.

Idempotent and resumable:

* ``video_id`` is a content hash, so ingesting the same bytes again (under any name) finds the
  catalog record and adds nothing; two ingests of the same bytes at once are serialised by the
  catalog's per-video lock (the second finds the first's result);
* a frame document is written only once its span is final (when the next kept frame is known),
  in batches, each followed by the catalog's ``checkpoint_ms``; an ingest killed at any point
  re-runs sampling and the (deterministic) duplicate decisions, skips analysis of frames up to
  the checkpoint, and ends with the same index as an uninterrupted run (writes are upserts).

What happens to data depends on why an ingest stops (see :mod:`reko.errors`):

* bad input (:class:`MediaError`: not a video, empty, truncated, too long) leaves nothing
  behind: the probe runs before anything is written, and a truncation found while decoding
  removes the catalog record, the documents and the stored files;
* a fault (ffmpeg missing or killed, the index down, a full disk, a dead worker) keeps
  everything: the record becomes ``failed`` with its checkpoint and the next run resumes;
* a shutdown (``should_stop``) puts the record back to ``queued`` to resume at the next start;
* a delete while ingesting (status ``deleting``) stops the ingest at its next batch and removes
  everything, so no document of a deleted video appears afterwards.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

from ..errors import AnalyzerError, IngestCancelled, IngestInterrupted, MediaError, RekoError
from ..settings import Settings
from .analyze import analyse_frame, init_worker, ready, text_fields
from .catalog import VideoCatalog
from .documents import Face, FrameDocument, empty_document, frame_document
from .index import IndexBackend
from .media import VideoInfo, encode_jpeg, probe, sample_frames
from .persons import PersonStore
from .planner import (
    AnalysisPlanner,
    CarryState,
    FaceTracker,
    PlannedFrame,
    TextFinder,
    carry_key,
    link_tracks,
    merge_carried,
    record_unindexed_faces,
)
from .storage import THUMBNAIL_MAX_SIDE_PX, LocalStorage, Storage, video_suffix

BATCH_DOCS = 16  #: documents per index write (and checkpoint)
BATCH_SECONDS = 3.0  #: …or fewer, when this long has passed since the last write
ANALYSIS_JPEG_QUALITY = 90  #: JPEG sent to the analyzer (Rekognition accepts JPEG/PNG ≤ 5 MB)

ProgressFn = Callable[[str, int, int], None]  # (filename, frames sampled, frames expected)


def content_id(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """``video_id``: the first 16 hex digits of the SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def check_duration(info: VideoInfo, settings: Settings) -> None:
    """Refuse a video longer than ``REKO_MAX_VIDEO_SECONDS`` before any work starts.

    Raises:
        MediaError: the video is too long.
    """
    limit_s = settings.max_video_seconds
    if info.duration_ms > limit_s * 1000:
        raise MediaError(f"the video lasts {info.duration_ms / 3_600_000:.1f} h, longer than the "
                         f"{limit_s / 3600:g} h this server accepts (REKO_MAX_VIDEO_SECONDS); cut "
                         "it into parts")


def remove_video(video_id: str, index: IndexBackend, storage: Storage, catalog: VideoCatalog,
                 persons: PersonStore | None) -> bool:
    """Remove a video's faces (and persons left without faces), documents, stored files and
    catalog record; True if the record existed. Call it holding the video's lock."""
    if persons is not None:
        persons.forget_frames(video_id, -1)
    index.delete_video(video_id)
    storage.delete_video(video_id)
    return catalog.delete(video_id)


@dataclass
class IngestReport:
    """What one ingest did. ``frames_analysed`` frames were kept (one document each);
    ``frames_resumed`` kept frames were already indexed by an earlier, interrupted run;
    ``analyses_run`` counts, per analysis, the kept frames it ran on (the rest carried a result
    over); ``analysis_ms`` sums worker time per analyzer operation; ``shots`` counts shots."""

    video_id: str
    filename: str
    duration_ms: int
    frames_sampled: int = 0
    frames_analysed: int = 0
    frames_resumed: int = 0
    already_indexed: bool = False
    seconds: float = 0.0
    analysis_ms: dict[str, float] = field(default_factory=dict)
    analyses_run: dict[str, int] = field(default_factory=dict)
    shots: int = 0
    faces_found: int = 0
    person_ids: list[str] = field(default_factory=list)
    persons_new: int = 0
    missing: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain dict for ``--json`` output."""
        return dict(self.__dict__)


@dataclass
class _Kept:
    frame_ms: int
    end_ms: int
    future: Future | None  # None: already indexed before a resume
    plan: PlannedFrame | None = None
    frame_uri: str = ""
    width: int = 0
    height: int = 0
    closed: bool = False


class Ingestor:
    """Ingests videos into the catalog, index and storage it is given (the application layer
    owns them); the worker pool is created on first use and reused for every video (models load
    once per worker). ``person_store`` returns the person store, created on first use."""

    def __init__(self, settings: Settings, catalog: VideoCatalog, index: IndexBackend,
                 storage: LocalStorage, person_store: Callable[[], PersonStore],
                 progress: ProgressFn | None = None):
        self.settings = settings
        self.catalog = catalog
        self.index = index
        self.storage = storage
        self._person_store = person_store
        self.progress = progress
        self.features = list(settings.feature_list)
        self._pool: ProcessPoolExecutor | None = None
        self._tracker_detector: Any = None
        self._text_detector: TextFinder | None = None  # the planner's (local engine), made on first use
        #: plan every analysis on every kept frame (the rule before issue 14; benchmarks only)
        self.plan_every_frame = False

    @property
    def persons(self) -> PersonStore:
        """The person store (face collection client in this process)."""
        return self._person_store()

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.settings.worker_count, mp_context=get_context("spawn"),
                initializer=init_worker,
                initargs=(self.settings.analyzer, str(self.settings.data_dir), tuple(self.features),
                          os.getpid()))
        return self._pool

    def close(self) -> None:
        """Stop the worker pool (the stores belong to the caller)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self._tracker_detector is not None:
            self._tracker_detector.close()
            self._tracker_detector = None
        self._text_detector = None  # an onnxruntime session: freed with the object

    def ingest(self, path: str | Path, filename: str | None = None,
               should_stop: Callable[[], bool] | None = None) -> IngestReport:
        """Ingest one video file; ``filename`` is the name shown to users (default: the path's).
        ``should_stop`` is polled between frames; when it returns True the ingest stops and
        resumes on the next run.

        Raises:
            MediaError: not a video, empty, truncated or too long (nothing is left behind).
            IngestInterrupted: ``should_stop`` said so; the record is ``queued`` again.
            IngestCancelled: the video was deleted meanwhile (nothing of it is left).
            FaultError (AnalyzerError, IndexBackendError, FfmpegError, StorageError): the
                record stays ``failed`` with its checkpoint, and the next run resumes.
        """
        started = time.perf_counter()
        path = Path(path)
        filename = filename or path.name
        try:
            info = probe(path)
            check_duration(info, self.settings)
        except MediaError as exc:
            raise MediaError(f"{filename}: {exc}", detail=exc.detail) from None
        video_id = content_id(path)
        with self.catalog.video_lock(video_id):
            report = IngestReport(video_id=video_id, filename=filename, duration_ms=info.duration_ms)
            record = self.catalog.get(video_id)
            if record is not None and record.status == "ready":
                report.already_indexed = True
                report.frames_sampled, report.frames_analysed = record.frames_sampled, record.frames_analysed
                return report
            stored = self.storage.put_video(path, video_id, video_suffix(filename, info.format_name))
            if "faces" in self.features:
                self.persons.ensure_collection()
                if record is not None:  # an interrupted run: drop faces past its checkpoint
                    self.persons.forget_frames(video_id, record.checkpoint_ms)
            known_persons = {p.person_id for p in self.persons.list()} if "faces" in self.features else set()
            self.catalog.start(video_id, filename, str(stored), info.duration_ms, info.width,
                               info.height, info.fps, info.size_bytes)
            try:
                self._run(info, video_id,
                          record.checkpoint_ms if record else -1, report, should_stop)
            except (MediaError, IngestCancelled) as exc:
                self.delete(video_id)
                if isinstance(exc, MediaError):
                    raise MediaError(f"{filename}: {exc}", detail=exc.detail) from None
                raise
            except IngestInterrupted:
                self.catalog.update(video_id, status="queued", error="")
                raise
            except BaseException as exc:
                self.catalog.update(video_id, status="failed", error=failure_text(exc))
                raise
            self.catalog.update(video_id, status="ready", error="", frames_sampled=report.frames_sampled,
                                frames_analysed=report.frames_analysed + report.frames_resumed)
        if report.frames_resumed and ("faces" in self.features or report.missing.get("faces")):
            # a resumed run did not build the documents before its checkpoint: count them all
            docs = self.index.frames(video_id)
            report.faces_found = sum(len(d.get("faces", [])) for d in docs)
            report.person_ids = sorted({p for d in docs for p in d.get("person_ids", [])})
        report.persons_new = len(set(report.person_ids) - known_persons)
        report.seconds = time.perf_counter() - started
        return report

    def delete(self, video_id: str) -> bool:
        """Remove everything of a video (see :func:`remove_video`); True if it existed. The
        caller holds the video's lock."""
        return remove_video(video_id, self.index, self.storage, self.catalog,
                            self.persons if "faces" in self.features else None)

    def _run(self, info: VideoInfo, video_id: str, checkpoint_ms: int, report: IngestReport,
             should_stop: Callable[[], bool] | None) -> None:
        settings = self.settings
        last_check = time.monotonic()

        def check_alive(force: bool = False) -> None:
            """Stop for a shutdown (every frame) or a delete (catalog, every BATCH_SECONDS)."""
            nonlocal last_check
            if should_stop is not None and should_stop():
                raise IngestInterrupted(f"stopped while ingesting {report.filename}; it resumes "
                                        "at the next start")
            if force or time.monotonic() - last_check > BATCH_SECONDS:
                last_check = time.monotonic()
                record = self.catalog.get(video_id)
                if record is None or record.status == "deleting":
                    raise IngestCancelled(f"{report.filename} was deleted while it was being ingested")

        expected = max(1, math.ceil(info.duration_ms / 1000 * settings.sample_fps))
        self._executor().submit(ready)  # workers start loading engines while sampling starts
        planner = AnalysisPlanner(self.features, settings.dedup_threshold_cells,
                                  face_tracker=None if self.plan_every_frame else self._face_tracker(),
                                  text_finder=None if self.plan_every_frame else self._text_finder(),
                                  every_frame=self.plan_every_frame)
        carry = self._load_carry(video_id, checkpoint_ms)
        stored_carry: list[str] = []
        pending: deque[_Kept] = deque()
        batch: list[FrameDocument] = []
        last_flush = time.monotonic()
        max_in_flight = 2 * settings.worker_count

        def flush() -> None:
            nonlocal last_flush
            if batch:
                check_alive(force=True)
                self.index.index_frames(batch)
                key = carry_key(video_id, str(batch[-1]["frame_ms"]))
                self.storage.put(key, carry.to_json(), "application/json")
                stored_carry.append(key)
                self.catalog.update(video_id, checkpoint_ms=batch[-1]["frame_ms"],
                                    frames_sampled=report.frames_sampled,
                                    frames_analysed=report.frames_analysed + report.frames_resumed)
                batch.clear()
            last_flush = time.monotonic()

        def drain(block: bool) -> None:
            while pending and pending[0].closed:
                head = pending[0]
                if head.future is not None and not head.future.done():
                    in_flight = sum(1 for k in pending if k.future is not None and not k.future.done())
                    if not block and in_flight < max_in_flight:
                        break
                pending.popleft()
                if head.future is not None:
                    batch.append(self._document(video_id, head, self._result(head), report, carry))
                if len(batch) >= BATCH_DOCS or time.monotonic() - last_flush > BATCH_SECONDS:
                    flush()

        for frame in sample_frames(info, settings.sample_fps, settings.max_frame_side_px):
            check_alive()
            report.frames_sampled += 1
            if self.progress:
                self.progress(report.filename, report.frames_sampled, expected)
            plan = planner.offer(frame.pts_ms, frame.image)
            if plan is None:
                continue
            if pending:
                pending[-1].end_ms, pending[-1].closed = frame.pts_ms, True
            height, width = frame.image.shape[:2]
            kept = _Kept(frame_ms=frame.pts_ms, end_ms=info.duration_ms, future=None, plan=plan,
                         width=width, height=height)
            if frame.pts_ms <= checkpoint_ms:
                report.frames_resumed += 1
            else:
                kept.frame_uri = self.storage.put_frame(
                    video_id, frame.pts_ms, encode_jpeg(frame.image, 80, THUMBNAIL_MAX_SIDE_PX))
                analyses = tuple(f for f in plan.analyses if f in self.features)
                calls = tuple(f for f in plan.calls if f in self.features)
                if calls:
                    kept.future = self._executor().submit(
                        analyse_frame, encode_jpeg(frame.image, ANALYSIS_JPEG_QUALITY), video_id,
                        frame.pts_ms, analyses, settings.face_collection, None, plan.text_bands)
                else:  # everything carries over (or comes from the tracker or the text finder)
                    kept.future = Future()
                    kept.future.set_result(text_fields({"TextDetections": []}) if "text" in analyses else {})
                for analysis in calls:
                    report.analyses_run[analysis] = report.analyses_run.get(analysis, 0) + 1
                report.frames_analysed += 1
            pending.append(kept)
            drain(block=False)
        if pending:
            pending[-1].end_ms, pending[-1].closed = max(info.duration_ms, pending[-1].frame_ms + 1), True
        drain(block=True)
        flush()
        check_alive(force=True)
        report.shots = planner.shots
        for key in stored_carry:  # the video is complete: no resume needs them
            self.storage.delete(key)

    def _face_tracker(self) -> FaceTracker | None:
        """The planner's face tracker: BlazeFace in this process, with the local engine and
        faces on (None otherwise, or when mediapipe is missing: faces are then planned by the
        cheap rule, as on AWS)."""
        if "faces" not in self.features or self.settings.analyzer != "local":
            return None
        if self._tracker_detector is None:
            from .analysis.blazeface import BlazeFaceDetector

            try:
                self._tracker_detector = BlazeFaceDetector().load()
            except AnalyzerError:
                return None
        detector = self._tracker_detector
        # only faces sure enough to shape a person (REKO_FACE_MIN_CONFIDENCE) drive embeddings:
        # a face both detectors doubt (a cartoon, a blurred passer-by) is not worth one
        return FaceTracker(lambda image: [(f.box_px, f.confidence) for f in detector.detect(image)],
                           min_confidence=self.settings.face_min_confidence)

    def _text_finder(self) -> TextFinder | None:
        """The planner's text finder (:class:`~reko.pipeline.planner.TextFinder`): rapidocr's
        detector at 480 px in this process (:mod:`.analysis.text_boxes`), with the local engine
        and text on; None otherwise (text is then read on every kept frame of a moving shot)."""
        if "text" not in self.features or self.settings.analyzer != "local":
            return None
        if self._text_detector is None:
            from .analysis.text_boxes import TextBoxDetector

            try:
                self._text_detector = TextBoxDetector().load()
            except AnalyzerError:
                return None
        return self._text_detector

    def _load_carry(self, video_id: str, checkpoint_ms: int) -> CarryState:
        """The carry state stored with checkpoint ``checkpoint_ms`` (empty for a new ingest, or
        when none was stored: carried analyses then have nothing to carry and stay absent)."""
        if checkpoint_ms < 0:
            return CarryState()
        try:
            return CarryState.from_json(self.storage.get(carry_key(video_id, str(checkpoint_ms))))
        except (RekoError, ValueError):
            return CarryState()

    def _result(self, kept: _Kept) -> dict[str, Any]:
        """The analysis result of a kept frame; failures become AnalyzerError naming the frame."""
        assert kept.future is not None, "only frames sent for analysis have a result"
        try:
            return kept.future.result()
        except RekoError:
            raise
        except BrokenProcessPool:
            self._pool = None  # a worker died (killed, out of memory): start a fresh pool next time
            raise AnalyzerError(f"an analysis worker died at the frame at {kept.frame_ms} ms; "
                                "run the ingest again to resume") from None
        except Exception as exc:
            raise AnalyzerError(f"analysing the frame at {kept.frame_ms} ms failed: "
                                f"{type(exc).__name__}: {exc}") from exc

    def _document(self, video_id: str, kept: _Kept, fields: dict[str, Any],
                  report: IngestReport, carry: CarryState) -> FrameDocument:
        for op, ms in fields.pop("analysis_ms", {}).items():
            report.analysis_ms[op] = report.analysis_ms.get(op, 0.0) + ms
        for feature, why in fields.pop("missing", {}).items():
            report.missing.setdefault(feature, why)
            if feature in self.features:
                self.features.remove(feature)  # skip it for the rest of this run
        base = empty_document(video_id, kept.frame_ms, kept.end_ms, kept.frame_uri, kept.width,
                              kept.height, self.settings.analyzer)
        plan = kept.plan
        assert plan is not None

        def assign(face_records: list[dict[str, Any]]) -> list[Face]:
            return self.persons.assign(video_id, kept.frame_ms, kept.end_ms - kept.frame_ms,
                                       kept.height, face_records, self.storage.get(kept.frame_uri))

        fields, ran, analysed_ms = merge_carried(plan, fields, carry, self.features, video_id)
        raw = dict(fields)
        doc = frame_document(base, fields, self.settings, assign, analysed_ms)
        if plan.faces is not None and "faces" in self.features and "faces" in ran:
            link_tracks(plan, doc["faces"], carry)  # type: ignore[arg-type]
        if "faces" in self.features and doc["faces"]:
            record_unindexed_faces(self.persons, video_id, kept.frame_ms,
                                   kept.end_ms - kept.frame_ms, doc["faces"])  # type: ignore[arg-type]
        raw["faces"] = doc["faces"]
        carry.remember(kept.frame_ms, ran, raw)
        # counted as documents are built: reading them back at the end would hold the whole
        # video's documents in memory at once (peak RSS growing with the video's length)
        report.faces_found += len(doc["faces"])
        if doc["person_ids"]:
            report.person_ids = sorted(set(report.person_ids) | set(doc["person_ids"]))
        return doc


def failure_text(exc: BaseException) -> str:
    """What to store as a failed record's ``error``: a reko error's message (safe to show), or
    a generic sentence for anything else (the details belong in the log)."""
    if isinstance(exc, RekoError):
        return str(exc)[:500]
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted; run the ingest again to resume"
    return f"unexpected error ({type(exc).__name__}); run the ingest again to resume"
