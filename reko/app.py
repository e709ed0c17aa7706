"""reko's application layer: one object, built from :class:`~reko.settings.Settings`, that owns
the catalog, index, storage, persons and ingestor and offers every use-case.

Front ends stay thin: the CLI (:mod:`reko.cli`), the Flask handlers (:mod:`reko.webapp`) and the
AWS Lambda handlers parse their input, call one method of :class:`Reko`, and format the result.
Every id a front end passes in is validated here (through :mod:`reko.pipeline.ids`) before it
reaches storage, the index or the face collection.

Use-cases, by area:

* videos: :meth:`Reko.ingest`, :meth:`Reko.upload` (queued, ingested in the background by
  :class:`reko.jobs.IngestQueue`), :meth:`Reko.videos`, :meth:`Reko.video`,
  :meth:`Reko.delete`, :meth:`Reko.timeline`, :meth:`Reko.video_file`, :meth:`Reko.frame_file`
* search: :meth:`Reko.query`, :meth:`Reko.search`, :meth:`Reko.search_by_face`,
  :meth:`Reko.labels`, :meth:`Reko.health`
* persons: :meth:`Reko.persons`, :meth:`Reko.person`, :meth:`Reko.rename_person`,
  :meth:`Reko.merge_persons`, :meth:`Reko.remove_face`, :meth:`Reko.person_thumbnail`
* clips and copies: :meth:`Reko.clip`, :meth:`Reko.clips_zip`, :meth:`Reko.reindex`
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .errors import MediaError, NotFoundError, QueryError, TooLargeError, TooManyRequestsError
from .pipeline import ids
from .pipeline.catalog import Catalog, VideoRecord
from .pipeline.index import IndexBackend, SearchQuery, open_index
from .pipeline.search import SearchResponse, search
from .pipeline.storage import LocalStorage, video_suffix
from .settings import Settings

if TYPE_CHECKING:
    from .jobs import IngestQueue
    from .pipeline.clips import ClipReport
    from .pipeline.ingest import IngestReport, Ingestor, ProgressFn
    from .pipeline.persons import Person, PersonStore

MAX_ZIP_SEGMENTS = 200  #: larger results must be narrowed first (each clip costs a cut)
CLIP_SLOTS = 2  #: clips cut at the same time; more requests are refused with 429 (CPU bound)
MAX_FILENAME_BYTES = 255  #: longest file name (UTF-8 bytes) an upload may carry, as on ext4


@dataclass
class FaceSearch:
    """The answer to a search by photo: who it is, how similar (0–100), and their moments."""

    person: "Person"
    similarity: float
    response: SearchResponse


class Reko:
    """The application: one per process (CLI run, web server, Lambda container).

    Parts are created on first use and closed once by :meth:`close` (or ``with Reko(...)``);
    nothing connects at construction. Thread-safe: the web server shares one instance between
    its threads.
    """

    def __init__(self, settings: Settings, progress: "ProgressFn | None" = None):
        self.settings = settings
        self.storage = LocalStorage(settings.data_dir)
        self.progress = progress
        self._lock = threading.RLock()
        self._catalog: Catalog | None = None
        self._index: IndexBackend | None = None
        self._persons: PersonStore | None = None
        self._ingestor: Ingestor | None = None
        self._queue: IngestQueue | None = None
        self._clip_slots = threading.BoundedSemaphore(CLIP_SLOTS)

    # -- parts ------------------------------------------------------------------------------
    @property
    def catalog(self) -> Catalog:
        """The video catalog (``<data dir>/catalog.db``)."""
        with self._lock:
            if self._catalog is None:
                self._catalog = Catalog(self.settings.data_dir / "catalog.db")
            return self._catalog

    @property
    def index_name(self) -> str:
        """The OpenSearch alias: ``REKO_INDEX_NAME``, or ``reko-frames-<installation id>``."""
        from .pipeline.index import DEFAULT_INDEX_NAME

        return self.settings.index_name or f"{DEFAULT_INDEX_NAME}-{self.storage.installation_id()}"

    @property
    def index(self) -> IndexBackend:
        """The index backend named by ``REKO_INDEX_URL``."""
        with self._lock:
            if self._index is None:
                url = self.settings.resolved_index_url
                name = self.index_name if url.startswith("http") else ""
                self._index = open_index(url, name)
            return self._index

    @property
    def persons_store(self) -> "PersonStore":
        """The person store (the face collection client, person records, thumbnails)."""
        with self._lock:
            if self._persons is None:
                from .pipeline.analysis import make_client
                from .pipeline.person_records import SqlitePersonRecords
                from .pipeline.persons import PersonStore

                records = SqlitePersonRecords(self.settings.data_dir / "persons.db")
                self._persons = PersonStore(self.settings, make_client(self.settings.analyzer,
                                                                       self.settings.data_dir),
                                            records, self.storage)
            return self._persons

    @property
    def ingestor(self) -> "Ingestor":
        """The ingestor (its worker pool starts on the first analysed frame)."""
        with self._lock:
            if self._ingestor is None:
                from .pipeline.ingest import Ingestor

                self._ingestor = Ingestor(self.settings, self.catalog, self.index, self.storage,
                                          lambda: self.persons_store, self.progress)
            return self._ingestor

    @property
    def queue(self) -> "IngestQueue":
        """The background ingest queue for uploads (durable: it lives in the catalog)."""
        with self._lock:
            if self._queue is None:
                from .jobs import IngestQueue

                self._queue = IngestQueue(self)
            return self._queue

    def close(self) -> None:
        """Stop the queue (a running ingest is interrupted and resumes at the next start),
        the worker pool, and close every store."""
        with self._lock:
            queue, self._queue = self._queue, None
        if queue is not None:
            queue.stop()
        with self._lock:
            for part in (self._ingestor, self._persons, self._index, self._catalog):
                if part is not None:
                    part.close()
            self._ingestor = self._persons = self._index = self._catalog = None

    def __enter__(self) -> "Reko":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- videos -----------------------------------------------------------------------------
    def ingest(self, path: str | Path, filename: str | None = None,
               should_stop: Callable[[], bool] | None = None) -> "IngestReport":
        """Ingest one video file (see :meth:`reko.pipeline.ingest.Ingestor.ingest`)."""
        return self.ingestor.ingest(path, filename, should_stop)

    def videos(self) -> list[VideoRecord]:
        """Every video, newest first."""
        return self.catalog.list()

    def video(self, video_id: str) -> VideoRecord:
        """One video's record.

        Raises:
            NotFoundError: malformed or unknown id.
        """
        record = self.catalog.get(ids.video_id(video_id))
        if record is None:
            raise NotFoundError(f"no video {video_id!r}; see `reko videos`")
        return record

    def video_file(self, video_id: str) -> Path:
        """The stored file of a video (for playback and clips).

        Raises:
            NotFoundError: unknown video, or its file is not stored (yet).
        """
        record = self.video(video_id)
        path = self.storage.find_video(record.video_id)
        if path is None:
            raise NotFoundError(f"the file of video {video_id} is not stored (still uploading?)")
        return path

    def frame_file(self, video_id: str, frame_ms: int) -> Path:
        """The stored thumbnail of an analysed frame.

        Raises:
            NotFoundError: malformed ids or no such thumbnail.
        """
        path = self.storage.frame_path(ids.video_id(video_id), ids.frame_ms(frame_ms))
        if not path.is_file():
            raise NotFoundError(f"no frame {frame_ms} ms in video {video_id}")
        return path

    def delete(self, video_id: str) -> None:
        """Delete a video: its faces (and persons left without faces), documents, stored files
        and record. A running ingest of it is stopped first (at its next batch) and writes
        nothing more.

        Raises:
            NotFoundError: malformed or unknown id.
            FaultError: the video stayed busy for too long.
        """
        record = self.video(video_id)
        self.catalog.update(record.video_id, status="deleting")
        with self.catalog.video_lock(record.video_id):
            if self.catalog.get(record.video_id) is not None:
                self.ingestor.delete(record.video_id)

    def upload(self, src: Path, filename: str) -> tuple[VideoRecord, bool]:
        """Accept an uploaded file (already written inside the data dir's ``uploads/``): check
        it is a video by probing its content (not its name), store it without copying, and
        queue it for ingest. Returns (record, queued); queued is False when the same bytes are
        already in (the upload is discarded). ``src`` never outlives this call.

        Raises:
            QueryError: the file name is missing or too long.
            MediaError: not a video, empty, truncated or too long (``src`` is removed).
        """
        from .pipeline.ingest import check_duration, content_id
        from .pipeline.media import probe

        try:
            filename = check_filename(filename)
            try:
                info = probe(src)
                check_duration(info, self.settings)
            except MediaError as exc:
                raise MediaError(f"{filename}: {exc}", detail=exc.detail) from None
            video_id = content_id(src)
            existing = self.catalog.get(video_id)
            if existing is not None and existing.status in ("ready", "queued", "ingesting"):
                return existing, False
            stored = self.storage.adopt_video(src, video_id, video_suffix(filename, info.format_name))
            record = self.catalog.start(video_id, filename, str(stored), info.duration_ms, info.width,
                                        info.height, info.fps, info.size_bytes, status="queued")
        finally:
            src.unlink(missing_ok=True)
        self.queue.wake()
        return record, True

    def timeline(self, video_id: str, limit: int = 0) -> dict[str, Any]:
        """What appears when in a video: ``text`` spans (``start_ms``, ``end_ms``, ``text``),
        ``persons`` and ``labels`` as name → ``[[start_ms, end_ms], ...]`` (neighbouring
        frames merged); at most ``limit`` text spans when ``limit`` > 0."""
        record = self.video(video_id)
        frames = self.index.frames(record.video_id)
        text: list[dict[str, Any]] = []
        persons: dict[str, list[list[int]]] = {}
        labels: dict[str, list[list[int]]] = {}
        for doc in frames:
            span = [doc["start_ms"], doc["end_ms"]]
            if doc.get("text"):
                if text and text[-1]["text"] == doc["text"] and text[-1]["end_ms"] >= span[0]:
                    text[-1]["end_ms"] = span[1]
                else:
                    text.append({"start_ms": span[0], "end_ms": span[1], "text": doc["text"]})
            for names, target in ((doc.get("person_ids", []), persons), (doc.get("label_names", []), labels)):
                for name in names:
                    intervals = target.setdefault(name, [])
                    if intervals and intervals[-1][1] >= span[0]:
                        intervals[-1][1] = span[1]
                    else:
                        intervals.append(list(span))
        return {"video_id": record.video_id, "duration_ms": record.duration_ms, "frames": len(frames),
                "text": text[:limit] if limit else text, "persons": persons, "labels": labels}

    # -- search -----------------------------------------------------------------------------
    def query(self, text: str = "", persons: tuple[str, ...] | list[str] = (),
              labels: tuple[str, ...] | list[str] = (),
              video_ids: tuple[str, ...] | list[str] = ()) -> SearchQuery:
        """A :class:`SearchQuery` from user input: ``persons`` are ids or names (resolved),
        empty values are dropped.

        Raises:
            QueryError: a person matches nobody.
        """
        person_ids: list[str] = []
        for value in persons:
            if value:
                person_ids += self.persons_store.resolve(value)
        return SearchQuery(text=text, person_ids=tuple(dict.fromkeys(person_ids)),
                           labels=tuple(label for label in labels if label),
                           video_ids=tuple(v for v in video_ids if v))

    def search(self, query: SearchQuery, include_unsafe: bool = False) -> SearchResponse:
        """Run a query; hits merged into padded segments (see :func:`reko.pipeline.search.search`)."""
        return search(self.settings, self.index, self.catalog, query, include_unsafe=include_unsafe)

    def search_by_face(self, photo: bytes, include_unsafe: bool = False) -> FaceSearch:
        """Find the person in a photo (the largest face) and return their moments.

        Raises:
            TooLargeError: the photo is over ``REKO_MAX_REQUEST_BYTES`` or
                ``REKO_MAX_IMAGE_PIXELS`` (checked before decoding).
            MediaError: not a readable image.
            QueryError: no face in it, or it matches nobody.
        """
        from .pipeline.media import check_image

        if len(photo) > self.settings.max_request_bytes:
            raise TooLargeError(f"the photo is larger than {self.settings.max_request_bytes // 2**20} MiB")
        check_image(photo, self.settings.max_image_pixels)
        person_id, similarity = self.persons_store.search_by_image(photo)
        response = self.search(SearchQuery(person_ids=(person_id,)), include_unsafe)
        return FaceSearch(self.persons_store.get(person_id), similarity, response)

    def labels(self) -> dict[str, int]:
        """Label names with frame counts over the whole index."""
        return self.index.facet_counts().get("label_names", {})

    def health(self) -> dict[str, Any]:
        """``{"ok", "frames", "videos", "pending"}``: index stats and videos waiting for ingest
        (raises IndexBackendError when the index is down)."""
        return {"ok": True, **self.index.stats(),
                "pending": len(self.catalog.list(("queued", "ingesting")))}

    # -- persons ----------------------------------------------------------------------------
    def persons(self) -> list["Person"]:
        """Every person, most screen time first."""
        return self.persons_store.list()

    def person(self, person_id: str) -> "Person":
        """One person. Raises NotFoundError."""
        return self.persons_store.get(ids.person_id(person_id))

    def person_faces(self, person_id: str) -> list[dict[str, Any]]:
        """The faces of a person, in (video, time) order."""
        return self.persons_store.faces_of(self.person(person_id).person_id)

    def person_thumbnail(self, person_id: str) -> Path:
        """The person's best face crop (JPEG). Raises NotFoundError."""
        path = self.storage.local_path(self.persons_store.thumbnail_key(ids.person_id(person_id)))
        if path is None or not path.is_file():
            raise NotFoundError(f"no thumbnail for {person_id}")
        return path

    def rename_person(self, person_id: str, name: str) -> "Person":
        """Give a person a name (empty clears it); nothing is re-analysed."""
        self.persons_store.rename(ids.person_id(person_id), name)
        return self.persons_store.get(person_id)

    def merge_persons(self, person_id: str, into_id: str) -> tuple["Person", int]:
        """Merge ``person_id`` into ``into_id``; rewrites the affected frame documents.
        Returns (the merged person, frames updated)."""
        from .pipeline.persons import update_documents

        frames = self.persons_store.merge(ids.person_id(person_id), ids.person_id(into_id))
        changed = update_documents(self.index, frames, self.persons_store)
        return self.persons_store.get(into_id), changed

    def remove_face(self, face_id: str) -> str | None:
        """Take a wrongly matched face away from its person; returns the person it had."""
        from .pipeline.persons import update_documents

        store = self.persons_store
        owner = store.face(ids.face_id(face_id))["person_id"]
        frame = store.remove_face(face_id)
        update_documents(self.index, [frame], store)
        return owner

    # -- clips and copies -------------------------------------------------------------------
    def clip(self, video_id: str, start_ms: int, end_ms: int, out: Path) -> "ClipReport":
        """Cut ``start_ms``..``end_ms`` (clamped to the video) into a frame-accurate MP4.

        Raises:
            NotFoundError: unknown video. QueryError: an empty or out-of-range span.
            TooManyRequestsError: :data:`CLIP_SLOTS` clips are being cut already.
        """
        from .pipeline.clips import cut_clip

        record = self.video(video_id)
        if start_ms < 0 or end_ms <= start_ms:
            raise QueryError("a clip needs 0 <= start_ms < end_ms")
        if start_ms >= record.duration_ms:
            raise QueryError(f"start_ms is past the end of the video ({record.duration_ms} ms)")
        source = self.video_file(video_id)
        with self._clip_slot():
            return cut_clip(source, start_ms, min(end_ms, record.duration_ms), out)

    def clips_zip(self, response: SearchResponse, out: Path) -> list["ClipReport"]:
        """Every segment of a search as MP4s in one zip at ``out``.

        Raises:
            QueryError: nothing matched, or more than :data:`MAX_ZIP_SEGMENTS` segments.
            TooManyRequestsError: as :meth:`clip`.
        """
        from .pipeline.clips import cut_clips_zip

        if not response.segments:
            raise QueryError("the search matched nothing: no clips to cut")
        if len(response.segments) > MAX_ZIP_SEGMENTS:
            raise QueryError(f"{len(response.segments)} segments; narrow the search to at most "
                             f"{MAX_ZIP_SEGMENTS} to download them as a zip")
        sources = {s.video_id: self.video_file(s.video_id) for s in response.segments}
        with self._clip_slot():
            return cut_clips_zip(sources, [(s.video_id, s.start_ms, s.end_ms) for s in response.segments], out)

    @contextmanager
    def _clip_slot(self) -> Iterator[None]:
        if not self._clip_slots.acquire(timeout=0.5):
            raise TooManyRequestsError("other clips are being cut; try again in a few seconds",
                                       retry_after_s=5)
        try:
            yield
        finally:
            self._clip_slots.release()

    def reindex(self, dest_url: str, on_video: Callable[[str, int], None] | None = None) -> tuple[int, int]:
        """Copy every ready video's frame documents to the index at ``dest_url`` without
        re-analysis. Returns (documents copied, videos).

        Raises:
            IndexBackendError: either index is unreachable (the destination is checked before
                anything is copied) or refused a write.
        """
        from .pipeline.reindex import reindex

        dest = open_index(dest_url, self.index_name)
        try:
            dest.stats()  # connect (and create the index) now: fail before copying anything
            videos = [r.video_id for r in self.catalog.list(("ready",))]
            return reindex(self.index, dest, videos, on_video=on_video), len(videos)
        finally:
            dest.close()


def check_filename(filename: str) -> str:
    """The display name of an upload: its last path component, at most
    :data:`MAX_FILENAME_BYTES` UTF-8 bytes, no control characters.

    Raises:
        QueryError: no name, or a longer one.
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    if not name:
        raise QueryError("the upload has no file name")
    if len(name.encode()) > MAX_FILENAME_BYTES:
        raise QueryError(f"the file name is longer than {MAX_FILENAME_BYTES} bytes; rename the file")
    return name
