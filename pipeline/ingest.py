"""Ingest: probe → sample → skip near-duplicates → analyse (process pool) → index.

Idempotent and resumable:

* ``video_id`` is a content hash, so ingesting the same bytes again (under any name) finds the
  catalog record and adds nothing;
* a frame document is written only once its span is final (when the next kept frame is known),
  in batches, each followed by the catalog's ``checkpoint_ms``; an ingest killed at any point
  re-runs sampling and the (deterministic) duplicate decisions, skips analysis of frames up to
  the checkpoint, and ends with the same index as an uninterrupted run (writes are upserts).

Bad input (not a video, empty, truncated) raises :class:`MediaError` and leaves nothing behind:
the probe runs before anything is written, and a truncation found while decoding removes the
catalog record, the documents and the stored files.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

from ..errors import AnalyzerError, MediaError, RekoError
from ..settings import Settings
from .analysis import make_client
from .analyze import analyse_frame, init_worker, label_fields
from .catalog import Catalog
from .dedup import DuplicateFilter
from .index import IndexBackend, open_index
from .media import encode_jpeg, probe, sample_frames
from .persons import PersonStore
from .storage import THUMBNAIL_MAX_SIDE_PX, LocalStorage

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


def remove_video(video_id: str, index: IndexBackend, storage: LocalStorage, catalog: Catalog,
                 persons: PersonStore | None) -> bool:
    """Remove a video's faces (and persons left without faces), documents, stored files and
    catalog record; True if the record existed."""
    if persons is not None:
        persons.forget_frames(video_id, -1)
    index.delete_video(video_id)
    storage.delete_video(video_id)
    return catalog.delete(video_id)


@dataclass
class IngestReport:
    """What one ingest did. ``frames_resumed`` kept frames were already indexed by an earlier,
    interrupted run; ``analysis_ms`` sums worker time per analyzer operation."""

    video_id: str
    filename: str
    duration_ms: int
    frames_sampled: int = 0
    frames_analysed: int = 0
    frames_resumed: int = 0
    already_indexed: bool = False
    seconds: float = 0.0
    analysis_ms: dict[str, float] = field(default_factory=dict)
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
    frame_uri: str = ""
    width: int = 0
    height: int = 0
    closed: bool = False


class Ingestor:
    """Ingests videos into one index/catalog/storage; the worker pool is created on first use
    and reused for every video (models load once per worker)."""

    def __init__(self, settings: Settings, index: IndexBackend | None = None,
                 progress: ProgressFn | None = None):
        self.settings = settings
        self.index = index or open_index(settings.resolved_index_url)
        self.catalog = Catalog(settings.data_dir / "catalog.db")
        self.storage = LocalStorage(settings.data_dir)
        self.progress = progress
        self.features = list(settings.feature_list)
        self._pool: ProcessPoolExecutor | None = None
        self._persons: PersonStore | None = None

    @property
    def persons(self) -> PersonStore:
        """The person store (face collection client in this process), created on first use."""
        if self._persons is None:
            self._persons = PersonStore(self.settings, make_client(self.settings.analyzer, self.settings.data_dir))
        return self._persons

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.settings.worker_count, mp_context=get_context("spawn"),
                initializer=init_worker,
                initargs=(self.settings.analyzer, str(self.settings.data_dir)))
        return self._pool

    def close(self) -> None:
        """Stop the worker pool and close the catalog."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self._persons is not None:
            self._persons.close()
        self.catalog.close()

    def __enter__(self) -> "Ingestor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def ingest(self, path: str | Path, filename: str | None = None) -> IngestReport:
        """Ingest one video file; ``filename`` is the name shown to users (default: the path's).

        Raises:
            MediaError: not a video, empty or truncated (nothing is left behind).
            AnalyzerError, IndexBackendError: analysis or indexing failed; the record stays
                ``failed`` with its checkpoint, and the next run resumes.
        """
        started = time.perf_counter()
        path = Path(path)
        info = probe(path)
        video_id = content_id(path)
        filename = filename or path.name
        report = IngestReport(video_id=video_id, filename=filename, duration_ms=info.duration_ms)
        record = self.catalog.get(video_id)
        if record is not None and record.status == "ready":
            report.already_indexed = True
            report.frames_sampled, report.frames_analysed = record.frames_sampled, record.frames_analysed
            return report
        stored = self.storage.put_video(path, video_id)
        if "faces" in self.features:
            self.persons.ensure_collection()
            if record is not None:  # an interrupted run: drop faces past its checkpoint
                self.persons.forget_frames(video_id, record.checkpoint_ms)
        known_persons = {p.person_id for p in self.persons.list()} if "faces" in self.features else set()
        record = self.catalog.start(video_id, filename, str(stored), info.duration_ms, info.width,
                                    info.height, info.fps, info.size_bytes)
        try:
            self._run(info, video_id, record.checkpoint_ms, report)
        except MediaError:
            self.delete(video_id)
            raise
        except BaseException as exc:
            self.catalog.update(video_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        self.catalog.update(video_id, status="ready", frames_sampled=report.frames_sampled,
                            frames_analysed=report.frames_analysed + report.frames_resumed)
        if "faces" in self.features or report.missing.get("faces"):
            docs = self.index.frames(video_id)
            report.faces_found = sum(len(d.get("faces", [])) for d in docs)
            report.person_ids = sorted({p for d in docs for p in d.get("person_ids", [])})
            report.persons_new = len(set(report.person_ids) - known_persons)
        report.seconds = time.perf_counter() - started
        return report

    def delete(self, video_id: str) -> bool:
        """Remove everything of a video (see :func:`remove_video`); True if it existed."""
        return remove_video(video_id, self.index, self.storage, self.catalog,
                            self.persons if "faces" in self.features else None)

    def _run(self, info, video_id: str, checkpoint_ms: int, report: IngestReport) -> None:
        settings = self.settings
        expected = max(1, math.ceil(info.duration_ms / 1000 * settings.sample_fps))
        dedup = DuplicateFilter(settings.dedup_threshold_cells)
        pending: deque[_Kept] = deque()
        batch: list[dict[str, Any]] = []
        last_flush = time.monotonic()
        max_in_flight = 2 * settings.worker_count

        def flush() -> None:
            nonlocal last_flush
            if batch:
                self.index.index_frames(batch)
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
                    batch.append(self._document(video_id, head, self._result(head), report))
                if len(batch) >= BATCH_DOCS or time.monotonic() - last_flush > BATCH_SECONDS:
                    flush()

        for frame in sample_frames(info, settings.sample_fps, settings.max_frame_side_px):
            report.frames_sampled += 1
            if self.progress:
                self.progress(report.filename, report.frames_sampled, expected)
            if dedup.is_duplicate(frame.image):
                continue
            if pending:
                pending[-1].end_ms, pending[-1].closed = frame.pts_ms, True
            height, width = frame.image.shape[:2]
            kept = _Kept(frame_ms=frame.pts_ms, end_ms=info.duration_ms, future=None,
                         width=width, height=height)
            if frame.pts_ms <= checkpoint_ms:
                report.frames_resumed += 1
            else:
                kept.frame_uri = self.storage.put_frame(
                    video_id, frame.pts_ms, encode_jpeg(frame.image, 80, THUMBNAIL_MAX_SIDE_PX))
                kept.future = self._executor().submit(
                    analyse_frame, encode_jpeg(frame.image, ANALYSIS_JPEG_QUALITY), video_id,
                    frame.pts_ms, tuple(self.features), settings.face_collection)
                report.frames_analysed += 1
            pending.append(kept)
            drain(block=False)
        if pending:
            pending[-1].end_ms, pending[-1].closed = max(info.duration_ms, pending[-1].frame_ms + 1), True
        drain(block=True)
        flush()

    def _result(self, kept: _Kept) -> dict[str, Any]:
        """The analysis result of a kept frame; failures become AnalyzerError naming the frame."""
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
                  report: IngestReport) -> dict[str, Any]:
        for op, ms in fields.pop("analysis_ms", {}).items():
            report.analysis_ms[op] = report.analysis_ms.get(op, 0.0) + ms
        for feature, why in fields.pop("missing", {}).items():
            report.missing.setdefault(feature, why)
            if feature in self.features:
                self.features.remove(feature)  # skip it for the rest of this run
        face_records = fields.pop("face_records", None)
        if face_records:
            fields["faces"] = self.persons.assign(
                video_id, kept.frame_ms, kept.end_ms - kept.frame_ms, kept.height, face_records,
                self.settings.data_dir / kept.frame_uri)
            fields["person_ids"] = sorted({f["person_id"] for f in fields["faces"] if f["person_id"]})
        detected = fields.pop("detected_labels", None)
        if detected is not None or fields.get("faces") or fields.get("text_lines"):
            sure_faces = sum(1 for f in fields.get("faces", []) if f["confidence"] >= self.settings.face_min_confidence)
            fields.update(label_fields(detected or [], sure_faces, len(fields.get("text_lines", []))))
        return {
            "video_id": video_id, "frame_ms": kept.frame_ms, "start_ms": kept.frame_ms,
            "end_ms": kept.end_ms, "frame_uri": kept.frame_uri, "width": kept.width,
            "height": kept.height, "text": "", "text_lines": [], "labels": [], "label_names": [],
            "faces": [], "person_ids": [], "moderation": [], "unsafe_confidence": 0.0,
            "analyzer": self.settings.analyzer,
            **fields,
        }
