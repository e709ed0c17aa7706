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

from .errors import FaultError, MediaError, NotFoundError, QueryError, TooLargeError, TooManyRequestsError
from .pipeline import ids
from .pipeline.catalog import VideoCatalog, VideoRecord, open_catalog
from .pipeline.index import IndexBackend, SearchQuery, open_index
from .pipeline.search import SearchResponse, search
from .pipeline.storage import LocalStorage, Storage, open_storage, video_suffix
from .settings import Settings

if TYPE_CHECKING:
    from .jobs import IngestQueue
    from .pipeline.analysis.protocol import RekognitionClient
    from .pipeline.aws.ingest import AwsIngest
    from .pipeline.clips import ClipReport
    from .pipeline.estimate import Estimate
    from .pipeline.ingest import Ingestor, IngestReport, ProgressFn
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
        self.storage: Storage = open_storage(settings.storage_url, settings.data_dir)
        self.progress = progress
        self._lock = threading.RLock()
        self._catalog: VideoCatalog | None = None
        self._index: IndexBackend | None = None
        self._persons: PersonStore | None = None
        self._ingestor: Ingestor | None = None
        self._queue: IngestQueue | None = None
        self._clip_slots = threading.BoundedSemaphore(CLIP_SLOTS)
        self._local: LocalStorage | None = None
        self._analyzer: RekognitionClient | None = None
        self._aws: AwsIngest | None = None

    # -- parts ------------------------------------------------------------------------------
    @property
    def catalog(self) -> VideoCatalog:
        """The video catalog (``REKO_CATALOG_URL``: SQLite in the data dir, or DynamoDB)."""
        with self._lock:
            if self._catalog is None:
                self._catalog = open_catalog(self.settings.catalog_url, self.settings.data_dir)
            return self._catalog

    @property
    def index_name(self) -> str:
        """The OpenSearch alias: ``REKO_INDEX_NAME``, or ``reko-frames-<installation id>``
        (the id of the local data dir)."""
        from .pipeline.index import DEFAULT_INDEX_NAME

        if self.settings.index_name:
            return self.settings.index_name
        return f"{DEFAULT_INDEX_NAME}-{self.local_storage.installation_id()}"

    @property
    def local_storage(self) -> LocalStorage:
        """The data dir's storage: the object storage itself locally; on AWS, only temporary
        files (uploads being received, clips being cut) live there."""
        if isinstance(self.storage, LocalStorage):
            return self.storage
        with self._lock:
            if self._local is None:
                self._local = LocalStorage(self.settings.data_dir)
            return self._local

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
                from .pipeline.person_records import open_person_records
                from .pipeline.persons import PersonStore

                records = open_person_records(self.settings.catalog_url, self.settings.data_dir)
                self._persons = PersonStore(self.settings, self.analyzer, records, self.storage)
            return self._persons

    @property
    def analyzer(self) -> "RekognitionClient":
        """The Rekognition-shaped client of this process (``REKO_ANALYZER``)."""
        with self._lock:
            if self._analyzer is None:
                from .pipeline.analysis import make_client

                self._analyzer = make_client(self.settings.analyzer, self.settings.data_dir)
            return self._analyzer

    @property
    def ingestor(self) -> "Ingestor":
        """The ingestor (its worker pool starts on the first analysed frame)."""
        with self._lock:
            if self._ingestor is None:
                from .pipeline.ingest import Ingestor

                self._ingestor = Ingestor(self.settings, self.catalog, self.index, self.local_storage,
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
        path = self.local_storage.find_video(record.video_id)
        if path is None:
            raise NotFoundError(f"the file of video {video_id} is not stored (still uploading?)")
        return path

    def frame_file(self, video_id: str, frame_ms: int) -> Path:
        """The stored thumbnail of an analysed frame.

        Raises:
            NotFoundError: malformed ids or no such thumbnail.
        """
        path = self.local_storage.frame_path(ids.video_id(video_id), ids.frame_ms(frame_ms))
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
        from .pipeline.ingest import remove_video

        record = self.video(video_id)
        self.catalog.update(record.video_id, status="deleting")
        with self.catalog.video_lock(record.video_id):
            if self.catalog.get(record.video_id) is not None:
                remove_video(record.video_id, self.index, self.storage, self.catalog,
                             self.persons_store if "faces" in self.settings.feature_list else None)

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
            stored = self.local_storage.adopt_video(src, video_id, video_suffix(filename, info.format_name))
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
        from .pipeline.analysis.images import fit_image

        check_image(photo, self.settings.max_image_pixels)
        photo = fit_image(photo)  # Rekognition's limits (5 MB), locally as on AWS
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

    def estimate(self, paths: list[Path], progress: "ProgressFn | None" = None) -> "Estimate":
        """What ingesting ``paths`` on AWS would cost, before processing (``reko estimate``):
        frames sampled and planned per analysis, Rekognition calls beside the naive plan,
        MediaConvert minutes, cost at ``REKO_AWS_REGION``'s prices."""
        from .pipeline.estimate import estimate_videos

        return estimate_videos(paths, self.settings, progress=progress)

    # -- stored media: a local file to send, or a URL (S3, presigned) to redirect to ----------
    @property
    def remote(self) -> bool:
        """Whether objects live in remote storage (S3): media are then URLs, not files."""
        return not isinstance(self.storage, LocalStorage)

    @property
    def aws(self) -> "AwsIngest":
        """The AWS steps and clients (MediaConvert, SQS) of this process."""
        with self._lock:
            if self._aws is None:
                from .pipeline.aws.ingest import AwsIngest

                self._aws = AwsIngest(self)
            return self._aws

    @property
    def media_origin(self) -> str:
        """The origin (``scheme://host[:port]``) media URLs point at on remote storage, for the
        site's Content-Security-Policy; empty when the web app serves media itself."""
        if not self.remote:
            return ""
        from urllib.parse import urlsplit

        parts = urlsplit(self.storage.url("frames/origin-probe.jpg") or "")
        return f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""

    def video_media(self, video_id: str) -> Path | str:
        """The stored video for playback: the local file, or a presigned URL of the MP4 proxy.

        Raises:
            NotFoundError: unknown video (or, locally, its file is not stored yet).
        """
        record = self.video(video_id)
        if not self.remote:
            return self.video_file(video_id)
        return self.storage.url(record.stored_path or f"videos/{record.video_id}.mp4") or ""

    def frame_media(self, video_id: str, frame_ms: int) -> Path | str:
        """A frame thumbnail: the local file, or a presigned URL."""
        if not self.remote:
            return self.frame_file(video_id, frame_ms)
        from .pipeline.storage import frame_key

        return self.storage.url(frame_key(ids.video_id(video_id), ids.frame_ms(frame_ms))) or ""

    def person_media(self, person_id: str) -> Path | str:
        """A person's face thumbnail: the local file, or a presigned URL."""
        if not self.remote:
            return self.person_thumbnail(person_id)
        return self.storage.url(self.persons_store.thumbnail_key(ids.person_id(person_id))) or ""

    def remote_clip(self, video_id: str, start_ms: int, end_ms: int, download_name: str) -> str | None:
        """On AWS: a presigned URL of the clip ``start_ms``..``end_ms`` once MediaConvert has cut
        it, else None (a job is cutting it; ask again)."""
        from .pipeline.aws.clips import clip_url
        from .pipeline.aws.s3_storage import S3Storage

        record = self.video(video_id)
        if start_ms < 0 or end_ms <= start_ms or start_ms >= record.duration_ms:
            raise QueryError("a clip needs 0 <= start_ms < end_ms within the video")
        assert isinstance(self.storage, S3Storage)
        if not record.fps:
            raise FaultError("the video's frame rate is not known yet (MediaConvert's input "
                             "information has not arrived); try again in a minute")
        return clip_url(self.storage, self.aws.mediaconvert, record.video_id, start_ms,
                        min(end_ms, record.duration_ms), record.fps,
                        self.settings.mediaconvert_role_arn, self.settings.mediaconvert_queue_arn or None,
                        download_name)

    def remote_clips_zip(self, response: SearchResponse) -> str | None:
        """On AWS: a presigned URL of a zip of every segment's clip (named as single clip
        downloads), or None while MediaConvert still cuts some of them (ask again). The zip is
        built once per set of clips and kept under ``clips/zips/``.

        Raises:
            QueryError: nothing matched, or more than :data:`MAX_ZIP_SEGMENTS` segments.
        """
        import hashlib
        import io
        import zipfile

        from .pipeline.aws.mediaconvert import clip_key

        if not response.segments:
            raise QueryError("the search matched nothing: no clips to cut")
        if len(response.segments) > MAX_ZIP_SEGMENTS:
            raise QueryError(f"{len(response.segments)} segments; narrow the search to at most "
                             f"{MAX_ZIP_SEGMENTS} to download them as a zip")
        clips = [(s.video_id, s.start_ms, s.end_ms) for s in response.segments]
        zip_key = "clips/zips/" + hashlib.sha256(repr(clips).encode()).hexdigest()[:24] + ".zip"
        if self.storage.exists(zip_key):
            return self.storage.url(zip_key, "reko-clips.zip")
        names = [self.site_clip_name(*clip) for clip in clips]
        ready = [self.remote_clip(video_id, start, end, name) for (video_id, start, end), name in zip(clips, names)]
        if not all(ready):
            return None
        buffer, used = io.BytesIO(), set()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for (video_id, start, end), name in zip(clips, names):
                unique, n = name, 1
                while unique in used:
                    n += 1
                    unique = name.removesuffix(".mp4") + f" ({n}).mp4"
                used.add(unique)
                zf.writestr(unique, self.storage.get(clip_key(video_id, start, min(end, self.video(video_id).duration_ms))))
        self.storage.put(zip_key, buffer.getvalue(), "application/zip")
        return self.storage.url(zip_key, "reko-clips.zip")

    def start_upload(self, filename: str, size_bytes: int) -> dict[str, Any]:
        """On AWS: start a browser upload straight to S3 (presigned multipart URLs; see
        :mod:`reko.pipeline.aws.uploads`)."""
        from .pipeline.aws.s3_storage import S3Storage
        from .pipeline.aws.uploads import start_upload

        if not isinstance(self.storage, S3Storage):
            raise QueryError("direct uploads need S3 storage; upload with POST /api/videos")
        return start_upload(self.storage, check_filename(filename), size_bytes, self.settings.max_upload_bytes)

    def complete_upload(self, key: str, upload_id: str, etags: list[str]) -> str:
        """On AWS: complete a browser upload; the S3 event then starts the ingest."""
        from .pipeline.aws.s3_storage import S3Storage
        from .pipeline.aws.uploads import complete_upload

        if not isinstance(self.storage, S3Storage):
            raise QueryError("direct uploads need S3 storage")
        return complete_upload(self.storage, key, upload_id, etags)

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

    def upgrade_index(self) -> int | None:
        """Move the OpenSearch index to this version's mapping in place (a new versioned index,
        every document copied with its derived fields recomputed, the alias swapped atomically:
        :meth:`OpenSearchIndex.upgrade`). Returns the documents copied (0: already current), or
        None for the SQLite index, which has no mapping versions.

        Raises:
            IndexBackendError: OpenSearch is unreachable or refused a write.
        """
        upgrade = getattr(self.index, "upgrade", None)
        return None if upgrade is None else int(upgrade())

    # -- the search site (issue 13) --
    # Use-cases of the web site (reko.static through reko.webapp): ingest progress with stages,
    # time estimates, persons numbered for display, person pages, merge and name suggestions,
    # why a segment matched, a per-video overview for the timeline, and clip names for people.
    # Methods only; their state lives in attributes created on first use (``_site_*``).

    #: an OCR line below this confidence (0-100) is noise on the video page unless "show all"
    SITE_MIN_TEXT_CONFIDENCE = 80.0
    #: a label below this confidence (0-100) is left off the video page unless "show all"
    SITE_MIN_LABEL_CONFIDENCE = 60.0
    #: labels shown as lanes on the video page (the ones on screen longest)
    SITE_TOP_LABELS = 5
    #: persons whose faces are at least this similar (0-100) are offered for merging
    SITE_MERGE_SIMILARITY = 75.0
    #: seconds of analysis per second of video assumed before any video was measured here
    #: (the demo's 19 s video took 17.6 s on 2 cores, engines starting included)
    SITE_DEFAULT_SECONDS_PER_VIDEO_SECOND = 1.0
    #: seconds an ingest needs before its first frame (probe, hashing, engines starting)
    SITE_STARTUP_SECONDS = 5.0

    def _site_state(self) -> dict[str, Any]:
        """The site's in-memory state (progress of running ingests, measured speeds, caches)."""
        with self._lock:
            state = self.__dict__.get("_site")
            if state is None:
                state = {"progress": {}, "speeds": [], "numbers_key": None, "numbers": {},
                         "similarities": {}}
                self.__dict__["_site"] = state
            return state

    def site_track_progress(self) -> None:
        """Record ingest progress for :meth:`site_progress` (frames sampled of expected, per
        video) and measure analysis speed for :meth:`site_estimate`. Chains any progress
        callback already set (the CLI's bar); idempotent. The web app calls it once."""
        import time

        state = self._site_state()
        with self._lock:
            if state.get("tracking"):
                return
            state["tracking"] = True
            previous = self.progress

            def hook(name: str, done: int, total: int) -> None:
                queue = self._queue
                key = (queue.current if queue is not None else None) or name
                now = time.monotonic()
                with self._lock:
                    entry = state["progress"].get(key)
                    if entry is None or done < entry["done"]:
                        entry = state["progress"][key] = {"started": now, "done": 0, "total": total}
                    entry.update(done=done, total=total, updated=now)
                    if done >= total and not entry.get("measured"):
                        entry["measured"] = True
                        video_seconds = total / max(self.settings.sample_fps, 1e-6)
                        state["speeds"] = (state["speeds"] + [(now - entry["started"]) / max(video_seconds, 1.0)])[-20:]
                    if len(state["progress"]) > 1000:
                        state["progress"].pop(next(iter(state["progress"])))
                if previous is not None:
                    previous(name, done, total)

            self.progress = hook
            if self._ingestor is not None:
                self._ingestor.progress = hook

    def site_frames_expected(self, duration_ms: int) -> int:
        """Frames an ingest samples from a video of ``duration_ms`` (as the ingest counts them)."""
        import math

        return max(1, math.ceil(duration_ms / 1000 * self.settings.sample_fps))

    def _site_seconds_per_video_second(self) -> tuple[float, str]:
        """Measured analysis speed (seconds per second of video) and where it comes from: this
        server's ingests, else the catalog's finished videos, else a default."""
        import statistics

        speeds = list(self._site_state()["speeds"])
        if speeds:
            return (statistics.median(speeds),
                    f"measured on the last {len(speeds)} video{'s' if len(speeds) > 1 else ''} analysed by this server")
        finished = [r for r in self.catalog.list(("ready",)) if r.duration_ms > 0 and r.updated_at > r.created_at][:10]
        if finished:
            rates = [(r.updated_at - r.created_at) / (r.duration_ms / 1000) for r in finished]
            return (statistics.median(rates),
                    f"measured on {len(finished)} video{'s' if len(finished) > 1 else ''} in this archive")
        return (self.SITE_DEFAULT_SECONDS_PER_VIDEO_SECOND,
                "no video analysed here yet: a typical speed on 2 CPU cores")

    def site_estimate(self, duration_ms: int) -> dict[str, Any]:
        """How long analysing a video of ``duration_ms`` should take here, before it is
        uploaded: ``frames_expected``, ``expected_seconds`` (startup + duration × measured
        speed), ``queue_seconds`` (videos waiting before it), ``seconds_per_video_second``
        and ``basis`` (what the speed was measured on)."""
        rate, basis = self._site_seconds_per_video_second()
        pending = self.catalog.list(("queued", "ingesting"))
        queue_s = sum(self.SITE_STARTUP_SECONDS + r.duration_ms / 1000 * rate for r in pending)
        return {"duration_ms": int(duration_ms), "frames_expected": self.site_frames_expected(duration_ms),
                "expected_seconds": round(self.SITE_STARTUP_SECONDS + duration_ms / 1000 * rate, 1),
                "queue_seconds": round(queue_s, 1), "videos_ahead": len(pending),
                "seconds_per_video_second": round(rate, 3), "basis": basis}

    def site_progress(self, record: VideoRecord) -> dict[str, Any]:
        """The ingest progress of ``record`` for people: ``stage`` (queued, preparing,
        analysing, finishing, ready, failed, deleting), ``stage_text``, ``frames_done`` (frames
        taken from the video and sent to analysis) of ``frames_expected``, ``fraction`` 0-1,
        ``seconds_left`` (None when unknown) and ``videos_ahead`` (queued before it)."""
        import time

        expected = self.site_frames_expected(record.duration_ms)
        out: dict[str, Any] = {"frames_expected": expected, "frames_done": 0, "fraction": 0.0,
                               "seconds_left": None, "videos_ahead": 0}
        status = record.status
        if status == "ready":
            return {**out, "stage": "ready", "stage_text": "Searchable",
                    "frames_done": max(record.frames_sampled, expected), "fraction": 1.0, "seconds_left": 0}
        if status == "failed":
            return {**out, "stage": "failed", "stage_text": "Failed"}
        if status == "deleting":
            return {**out, "stage": "deleting", "stage_text": "Being deleted"}
        rate, _ = self._site_seconds_per_video_second()
        if status == "queued":
            ahead = [r for r in self.catalog.list(("queued", "ingesting"))
                     if r.video_id != record.video_id and r.created_at <= record.created_at]
            wait = sum(self.SITE_STARTUP_SECONDS + r.duration_ms / 1000 * rate for r in ahead)
            text = f"Waiting for {len(ahead)} video{'s' if len(ahead) != 1 else ''} ahead" if ahead else "Waiting to start"
            return {**out, "stage": "queued", "stage_text": text, "videos_ahead": len(ahead),
                    "seconds_left": round(wait + self.SITE_STARTUP_SECONDS + record.duration_ms / 1000 * rate)}
        state = self._site_state()
        with self._lock:
            entry = dict(state["progress"].get(record.video_id) or state["progress"].get(record.filename) or {})
        done = entry.get("done", record.frames_sampled)
        done = min(max(done, record.frames_sampled), expected)
        if done <= 0:
            return {**out, "stage": "preparing", "stage_text": "Reading the video and starting the analysis engines",
                    "seconds_left": round(self.SITE_STARTUP_SECONDS + record.duration_ms / 1000 * rate)}
        # the measured speed until a quarter is done, then this ingest's own pace
        left = round((expected - done) / max(self.settings.sample_fps, 1e-6) * rate + 2)
        if entry.get("started") and done >= expected / 4:
            elapsed = time.monotonic() - entry["started"]
            left = round(elapsed / done * (expected - done) + 2)
        if done < expected:
            return {**out, "stage": "analysing", "stage_text": f"Analysing frame {done} of {expected}",
                    "frames_done": done, "fraction": round(0.95 * done / expected, 3), "seconds_left": left}
        return {**out, "stage": "finishing", "frames_done": expected, "fraction": 0.97, "seconds_left": 2,
                "stage_text": "Finishing: writing the index and grouping faces into persons"}

    # persons for display ---------------------------------------------------------------------
    def site_person_numbers(self) -> dict[str, int]:
        """person_id → the number shown as "Person N" until someone names them: persons in the
        order they first appeared (videos in the order they were added, then time in the
        video). New videos only add numbers after the existing ones; nothing in storage changes."""
        persons = self.persons()
        key = tuple(sorted((p.person_id, p.face_count) for p in persons))
        state = self._site_state()
        with self._lock:
            if state["numbers_key"] == key:
                return dict(state["numbers"])
        added = {r.video_id: r.created_at for r in self.catalog.list()}
        records = self.persons_store.records
        first: dict[str, tuple[float, int, str]] = {}
        for person in persons:
            faces = records.faces_of(person.person_id)
            first[person.person_id] = min(
                ((added.get(f.video_id, float("inf")), f.frame_ms, person.person_id) for f in faces),
                default=(float("inf"), 0, person.person_id))
        order = sorted(first, key=lambda pid: first[pid])
        numbers = {pid: i + 1 for i, pid in enumerate(order)}
        with self._lock:
            state["numbers_key"], state["numbers"] = key, numbers
        return dict(numbers)

    def site_person_json(self, person: "Person", numbers: dict[str, int] | None = None) -> dict[str, Any]:
        """A person for the site: the ``reko persons --json`` fields plus ``number`` and
        ``display_name`` (the name, or "Person N")."""
        numbers = self.site_person_numbers() if numbers is None else numbers
        number = numbers.get(person.person_id, 0)
        return {**person.to_json(), "number": number,
                "display_name": person.name or (f"Person {number}" if number else person.person_id)}

    def site_persons(self) -> list[dict[str, Any]]:
        """Every person for the site (see :meth:`site_person_json`), most screen time first."""
        numbers = self.site_person_numbers()
        return [self.site_person_json(p, numbers) for p in self.persons()]

    def site_person_page(self, person_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], SearchResponse]:
        """A person's page: (the person, their videos with ``screen_time_ms`` and ``faces``,
        their moments across videos as a search response). Raises NotFoundError."""
        person = self.person(person_id)
        names = {r.video_id: r.filename for r in self.videos()}
        per_video: dict[str, dict[str, Any]] = {}
        spans: dict[tuple[str, int], int] = {}
        for face in self.persons_store.records.faces_of(person.person_id):
            video = per_video.setdefault(face.video_id, {"video_id": face.video_id, "filename": names.get(face.video_id, ""),
                                                         "faces": 0, "screen_time_ms": 0})
            video["faces"] += 1
            spans[(face.video_id, face.frame_ms)] = max(spans.get((face.video_id, face.frame_ms), 0), face.span_ms)
        for (video_id, _), span in spans.items():
            per_video[video_id]["screen_time_ms"] += span
        videos = sorted(per_video.values(), key=lambda v: -v["screen_time_ms"])
        response = self.search(SearchQuery(person_ids=(person.person_id,)))
        return self.site_person_json(person), videos, response

    def site_merge_suggestions(self, min_similarity: float | None = None) -> list[dict[str, Any]]:
        """Pairs of persons whose faces look alike (``SearchUsers`` by user), most similar
        first: ``person_id``, ``other_id``, ``similarity`` 0-100. Below the match threshold by
        design: these are the pairs reko did not join on its own, for a person to decide."""
        threshold = self.SITE_MERGE_SIMILARITY if min_similarity is None else min_similarity
        store = self.persons_store
        persons = {p.person_id for p in self.persons()}
        pairs: dict[tuple[str, str], float] = {}
        if len(persons) < 2:
            return []
        for person_id in sorted(persons):
            try:
                matches = store.client.search_users(CollectionId=store.collection_id, UserId=person_id,
                                                    UserMatchThreshold=threshold, MaxUsers=5)["UserMatches"]
            except Exception as exc:  # a person without associated faces cannot be searched
                if type(exc).__name__ not in ("ResourceNotFoundException", "InvalidParameterException") and \
                        getattr(exc, "response", {}).get("Error", {}).get("Code") not in (
                            "ResourceNotFoundException", "InvalidParameterException"):
                    raise
                continue
            for match in matches:
                other = match["User"]["UserId"]
                if other in persons and other != person_id:
                    key = (min(person_id, other), max(person_id, other))
                    pairs[key] = max(pairs.get(key, 0.0), float(match["Similarity"]))
        return [{"person_id": a, "other_id": b, "similarity": round(s, 1)}
                for (a, b), s in sorted(pairs.items(), key=lambda item: -item[1])]

    def site_suggest(self, text: str, limit: int = 6) -> dict[str, list[dict[str, Any]]]:
        """What the search box may mean as the user types: ``persons`` whose name (or "Person
        N") and ``labels`` whose name contain ``text`` (case-insensitive; prefixes first)."""
        from .pipeline.index.base import normalize_text

        needle = normalize_text(text).strip().casefold()
        if not needle:
            return {"persons": [], "labels": []}

        def rank(name: str) -> tuple[int, int, str] | None:
            at = name.casefold().find(needle)
            return None if at < 0 else (0 if at == 0 else 1, len(name), name.casefold())

        persons = []
        for person in self.site_persons():
            score = min(filter(None, (rank(person["display_name"]), rank(f"Person {person['number']}"))), default=None)
            if score is not None:
                persons.append((score, person))
        labels: list[tuple[Any, dict[str, Any]]] = [
            (score, {"name": name, "frames": count}) for name, count in self.labels().items()
            if (score := rank(name)) is not None]
        return {"persons": [p for _, p in sorted(persons, key=lambda x: x[0])[:limit]],
                "labels": [lab for _, lab in sorted(labels, key=lambda x: (x[0][0], -int(x[1]["frames"]),
                                                                            x[0][2]))[:limit]]}

    # why a segment matched -------------------------------------------------------------------
    def site_face_similarity(self, face_id: str, person_id: str) -> float | None:
        """How similar (0-100) a face is to the other faces of its person (``SearchUsers`` by
        face; the face itself is excluded). None when the person has no other face."""
        cache = self._site_state()["similarities"]
        key = (face_id, person_id)
        if key not in cache:
            store = self.persons_store
            try:
                matches = store.client.search_users(CollectionId=store.collection_id, FaceId=face_id,
                                                    UserMatchThreshold=0, MaxUsers=10)["UserMatches"]
            except Exception as exc:  # the face was removed from the collection
                if "InvalidParameter" not in type(exc).__name__ and "ResourceNotFound" not in type(exc).__name__ \
                        and getattr(exc, "response", {}).get("Error", {}).get("Code") not in (
                            "ResourceNotFoundException", "InvalidParameterException"):
                    raise
                matches = []
            found = [float(m["Similarity"]) for m in matches if m["User"]["UserId"] == person_id]
            if len(cache) > 10_000:
                cache.clear()
            cache[key] = round(found[0], 1) if found else None
        return cache[key]

    def site_explain(self, segment: Any, query: SearchQuery, photo_similarity: float | None = None,
                     numbers: dict[str, int] | None = None) -> dict[str, Any]:
        """Why ``segment`` matched ``query``, from its best frame: ``lines`` (matched text lines
        with OCR confidence), ``labels`` (the searched labels, or a child of one, with
        confidence), ``persons`` (the searched persons' faces with display name and
        similarity: the photo's for a search by photo, else the face's to the person's other
        faces), and ``match_start_ms``/``match_end_ms``: the segment before padding."""
        from .pipeline.index.base import normalize_text

        best = next((d for d in segment.frames if d["frame_ms"] == segment.frame_ms), segment.frames[0])
        terms = [t.lower() for t in query.terms()]
        lines = [{"text": line["text"], "confidence": round(float(line.get("confidence", 0)), 1)}
                 for line in best.get("text_lines", [])
                 if terms and any(t in normalize_text(line["text"]).lower() for t in terms)]
        wanted = {label.casefold() for label in query.labels}
        labels: dict[str, dict[str, Any]] = {}
        for label in best.get("labels", []):
            names = {label["name"].casefold(), *(p.casefold() for p in label.get("parents", []))}
            if wanted & names:
                known = labels.get(label["name"])
                if known is None or label["confidence"] > known["confidence"]:
                    labels[label["name"]] = {"name": label["name"], "confidence": round(float(label["confidence"]), 1)}
        # the most specific label first: a searched parent (Vehicle) is explained by its child (Car)
        children = sorted(labels.values(), key=lambda lab: (lab["name"].casefold() in wanted, -lab["confidence"]))
        persons = []
        if query.person_ids:
            numbers = self.site_person_numbers() if numbers is None else numbers
            person_names = self.persons_store.names()
            for face in best.get("faces", []):
                pid = face.get("person_id")
                if pid not in query.person_ids:
                    continue
                similarity = photo_similarity if photo_similarity is not None else \
                    self.site_face_similarity(face["face_id"], pid)
                persons.append({"person_id": pid, "similarity": similarity,
                                "display_name": person_names.get(pid) or f"Person {numbers.get(pid, '?')}",
                                "confidence": round(float(face.get("confidence", 0)), 1)})
        return {"lines": lines, "labels": children, "persons": persons,
                "match_start_ms": min(d["start_ms"] for d in segment.frames),
                "match_end_ms": max(d["end_ms"] for d in segment.frames)}

    # the video page -------------------------------------------------------------------------
    def site_video_overview(self, video_id: str, show_all: bool = False) -> dict[str, Any]:
        """One video for its page: ``text`` (each on-screen line over the frames it stays on:
        ``start_ms``, ``end_ms``, ``text``, ``confidence``, ``noise``), ``persons`` (display
        name and intervals), ``labels`` (the :data:`SITE_TOP_LABELS` longest on screen,
        parents folded into their child: Car, not Car + Vehicle + Transportation), and how
        many lines and labels were hidden. Noise (confidence below
        :data:`SITE_MIN_TEXT_CONFIDENCE`, or one letter or digit) and weak labels are only
        included with ``show_all``. Raises NotFoundError."""
        record = self.video(video_id)
        frames = self.index.frames(record.video_id)
        text: list[dict[str, Any]] = []
        open_lines: dict[str, dict[str, Any]] = {}
        persons: dict[str, list[list[int]]] = {}
        labels: dict[str, dict[str, Any]] = {}

        def extend(intervals: list[list[int]], start: int, end: int) -> None:
            if intervals and intervals[-1][1] >= start:
                intervals[-1][1] = max(intervals[-1][1], end)
            else:
                intervals.append([start, end])

        for doc in frames:
            start, end = doc["start_ms"], doc["end_ms"]
            seen = {}
            for line in doc.get("text_lines", []):
                value = " ".join(line["text"].split())
                if not value:
                    continue
                confidence = float(line.get("confidence", 0))
                span = open_lines.get(value)
                if span is not None and span["end_ms"] >= start:
                    span["end_ms"] = end
                    span["confidence"] = max(span["confidence"], round(confidence, 1))
                else:
                    span = {"start_ms": start, "end_ms": end, "text": value, "confidence": round(confidence, 1)}
                    text.append(span)
                seen[value] = span
            open_lines = seen
            for pid in doc.get("person_ids", []):
                extend(persons.setdefault(pid, []), start, end)
            present = [lab for lab in doc.get("labels", [])
                       if lab["name"] != "Text" and (show_all or lab["confidence"] >= self.SITE_MIN_LABEL_CONFIDENCE)]
            parents = {p for lab in present for p in lab.get("parents", [])}
            for lab in present:
                if lab["name"] in parents:
                    continue
                entry = labels.setdefault(lab["name"], {"name": lab["name"], "confidence": 0.0, "intervals": []})
                entry["confidence"] = max(entry["confidence"], round(float(lab["confidence"]), 1))
                extend(entry["intervals"], start, end)
        for span in text:
            letters = sum(ch.isalnum() for ch in span["text"])
            span["noise"] = span["confidence"] < self.SITE_MIN_TEXT_CONFIDENCE or letters <= 1
        shown_text = text if show_all else [s for s in text if not s["noise"]]
        ranked = sorted(labels.values(), key=lambda lab: -sum(e - s for s, e in lab["intervals"]))
        shown_labels = ranked if show_all else ranked[:self.SITE_TOP_LABELS]
        numbers = self.site_person_numbers() if persons else {}
        names = self.persons_store.names() if persons else {}
        return {"video_id": record.video_id, "filename": record.filename, "duration_ms": record.duration_ms,
                "width": record.width, "height": record.height, "fps": record.fps, "frames": len(frames),
                "show_all": show_all, "text": shown_text, "text_hidden": len(text) - len(shown_text),
                "persons": [{"person_id": pid, "number": numbers.get(pid, 0),
                             "display_name": names.get(pid) or f"Person {numbers.get(pid, '?')}",
                             "intervals": intervals}
                            for pid, intervals in sorted(persons.items(), key=lambda kv: numbers.get(kv[0], 0))],
                "labels": sorted(shown_labels, key=lambda lab: lab["intervals"][0][0]),
                "labels_hidden": len(ranked) - len(shown_labels)}

    # clips named for people -----------------------------------------------------------------
    def site_clip_name(self, video_id: str, start_ms: int, end_ms: int) -> str:
        """``<original name>_<hh-mm-ss.mmm>-<hh-mm-ss.mmm>.mp4`` for a clip of a video (the
        original name without its extension; characters that file systems refuse replaced)."""
        record = self.video(video_id)
        stem = record.filename.rsplit(".", 1)[0] if "." in record.filename.strip(".") else record.filename
        stem = "".join("_" if ch in '/\\:*?"<>|' or not ch.isprintable() else ch for ch in stem).strip(" .")
        return f"{stem or record.video_id}_{self.site_hms(start_ms)}-{self.site_hms(end_ms)}.mp4"

    @staticmethod
    def site_hms(ms: int) -> str:
        """``hh-mm-ss.mmm`` for a time in ms (file-name safe: no colons)."""
        seconds, millis = divmod(max(0, int(ms)), 1000)
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours:02d}-{minutes:02d}-{seconds:02d}.{millis:03d}"

    def site_clips_zip(self, response: SearchResponse, out: Path) -> list["ClipReport"]:
        """Every segment of a search as MP4s in one zip at ``out``, each named as
        :meth:`site_clip_name` (a repeated name gets `` (2)``, …).

        Raises:
            QueryError: nothing matched, or more than :data:`MAX_ZIP_SEGMENTS` segments.
            TooManyRequestsError: as :meth:`clip`.
        """
        import os
        import tempfile
        import zipfile

        from .pipeline.clips import cut_clip

        if not response.segments:
            raise QueryError("the search matched nothing: no clips to cut")
        if len(response.segments) > MAX_ZIP_SEGMENTS:
            raise QueryError(f"{len(response.segments)} segments; narrow the search to at most "
                             f"{MAX_ZIP_SEGMENTS} to download them as a zip")
        sources = {s.video_id: self.video_file(s.video_id) for s in response.segments}
        reports: list[ClipReport] = []
        used: set[str] = set()
        with self._clip_slot(), tempfile.TemporaryDirectory(prefix=".reko-clips-", dir=out.parent) as tmp:
            partial = Path(tmp) / "clips.zip"
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                for i, seg in enumerate(response.segments):
                    name = self.site_clip_name(seg.video_id, seg.start_ms, seg.end_ms)
                    stem, n = name[:-4], 2
                    while name in used:
                        name, n = f"{stem} ({n}).mp4", n + 1
                    used.add(name)
                    clip = Path(tmp) / f"clip-{i}.mp4"
                    reports.append(cut_clip(sources[seg.video_id], seg.start_ms, seg.end_ms, clip))
                    zf.write(clip, name)
                    clip.unlink()
            os.replace(partial, out)
        return reports

    # -- editors (issue 15) --
    # Use-cases for media teams: moments across signals (a person near a caption, a label
    # while text is on screen), names proposed from name captions, and timelines out (EDL,
    # FCPXML, FCP 7 XML, OTIO). Each is one call for a front end: the CLI's `search --within`,
    # `persons --suggest`, `person accept-name`, `export`, and one web route each.

    def moment_query(self, text: str = "", persons: tuple[str, ...] | list[str] = (),
                     labels: tuple[str, ...] | list[str] = (), video_ids: tuple[str, ...] | list[str] = (),
                     near_persons: tuple[str, ...] | list[str] = (), near_labels: tuple[str, ...] | list[str] = (),
                     near_texts: tuple[str, ...] | list[str] = (),
                     within: str | int | float | None = None) -> SearchQuery:
        """A :class:`SearchQuery` from user input, as a moment query when asked for.

        Without ``within`` and ``near_*`` it is :meth:`query` (text, persons and labels in one
        frame). With either, every signal stands on its own: the anchor is ``text`` (or, with
        no text, the first person, else the first label); every other value of ``persons``
        and ``labels``, and every ``near_persons``/``near_labels``/``near_texts`` value, is a
        near clause that must occur within ``within`` of an anchor frame (see
        :mod:`reko.pipeline.index.base`). ``within``: ``"5s"``, ``"500ms"``, ``"2m"`` or a
        number of seconds; omitted means 0 s (overlapping or touching frames: "together").
        Persons are ids or names (a name of several persons is one clause: any of them).

        Raises:
            QueryError: a person matches nobody, ``within`` is not a duration (or over 10
                minutes), more than 4 near signals, ``within`` with only one signal, or an
                empty query.
        """
        from .pipeline.index.base import NearClause
        from .pipeline.index.moments import parse_within

        within_ms = parse_within(within)
        near_persons = [p for p in near_persons if p and p.strip()]
        near_labels = [label for label in near_labels if label and label.strip()]
        near_texts = [t for t in near_texts if t and t.strip()]
        if within_ms is None and not (near_persons or near_labels or near_texts):
            return self.query(text, persons, labels, video_ids)
        store = self.persons_store if (persons or near_persons) else None
        signals: list[tuple[str, str]] = [("person", p) for p in persons if p and p.strip()] + \
            [("label", label) for label in labels if label and label.strip()]
        anchor_person: tuple[str, ...] = ()
        anchor_label: tuple[str, ...] = ()
        if not text.strip() and signals:
            kind, value = signals.pop(0)
            if kind == "person":
                anchor_person = tuple(dict.fromkeys(store.resolve(value)))  # type: ignore[union-attr]
            else:
                anchor_label = (value,)
        near: list[NearClause] = []
        for kind, value in signals + [("person", p) for p in near_persons] + [("label", label) for label in near_labels]:
            if kind == "person":
                near.append(NearClause(person_ids=tuple(dict.fromkeys(store.resolve(value)))))  # type: ignore[union-attr]
            else:
                near.append(NearClause(labels=(value,)))
        near += [NearClause(text=t) for t in near_texts]
        query = SearchQuery(text=text, person_ids=anchor_person, labels=anchor_label,
                            video_ids=tuple(v for v in video_ids if v), near=tuple(near),
                            within_ms=within_ms if within_ms is not None else 0)
        query.check()
        return query

    @staticmethod
    def timeline_formats() -> dict[str, tuple[str, str]]:
        """The formats of :meth:`export_timeline`: name → (file suffix, media type), e.g.
        ``{"edl": (".edl", "text/plain; charset=utf-8"), ...}`` (for a download route)."""
        from .pipeline.timeline_export import FORMATS

        return {name: (suffix, media_type) for name, (_, suffix, media_type) in FORMATS.items()}

    def export_timeline(self, response: SearchResponse, format: str) -> bytes:
        """A search's segments as an edit decision list for editing software, written by
        OpenTimelineIO: ``edl`` (CMX 3600), ``fcpxml`` (Final Cut Pro X), ``xml`` (Final Cut
        Pro 7 XML: Premiere Pro, Resolve) or ``otio`` (see :mod:`reko.pipeline.timeline_export`
        for timecodes, frame rounding and drop-frame). Clips carry the original file names;
        locally they point at the stored files (``file://`` URLs).

        Raises:
            QueryError: unknown format, nothing matched, too many segments, or (single-rate
                formats) sources at different frame rates.
            NotFoundError: a segment's video is gone.
            FaultError: OpenTimelineIO or an adapter is missing (``pip install 'reko[timeline]'``).
        """
        from .pipeline.timeline_export import SourceMedia, export_timeline, file_url

        if format not in self.timeline_formats():
            raise QueryError(f"unknown timeline format {format!r}: use one of {', '.join(self.timeline_formats())}")
        sources = {}
        for video_id in dict.fromkeys(s.video_id for s in response.segments):
            record = self.video(video_id)
            path = None if self.remote else self.local_storage.find_video(record.video_id)
            sources[video_id] = SourceMedia(
                video_id=record.video_id, name=record.filename, url=file_url(str(path)) if path else record.filename,
                fps=record.fps, duration_ms=record.duration_ms, width=record.width, height=record.height)
        text = response.query.text or " ".join(response.query.labels) or "search"
        return export_timeline(response.segments, sources, format, name=f"reko: {text}"[:120])

    def timeline_file_name(self, response: SearchResponse, format: str) -> str:
        """A download name for :meth:`export_timeline`: ``reko-<query words>.<suffix>``."""
        from .pipeline.timeline_export import suggested_filename

        if format not in self.timeline_formats():
            raise QueryError(f"unknown timeline format {format!r}: use one of {', '.join(self.timeline_formats())}")
        return suggested_filename(response.query.text or " ".join(response.query.labels), format)

    def name_suggestions(self, person_ids: list[str] | None = None) -> dict[str, list[Any]]:
        """Names proposed for unnamed persons from the name captions shown with their faces
        (see :mod:`reko.pipeline.name_suggestions`): person_id → suggestions, best first
        (``NameSuggestion``: ``name``, ``title``, ``score``, ``together_ms``, ``name_ms``,
        ``specificity``, ``frames``, ``evidence``). Only persons with a suggestion are in the
        answer. Reads every frame of the videos the persons appear in (all ready videos when
        ``person_ids`` is None). Nothing is changed: :meth:`accept_name` applies one."""
        from .pipeline.name_suggestions import suggest_names

        people = {p.person_id: p for p in self.persons()}
        wanted = set(people) if person_ids is None else {ids.person_id(p) for p in person_ids}
        unnamed = {pid for pid in wanted if pid in people and not people[pid].name}
        if not unnamed:
            return {}
        records = self.persons_store.records
        videos: dict[str, None] = {}
        for pid in sorted(unnamed):
            for face in records.faces_of(pid):
                videos.setdefault(face.video_id, None)
        named = [pid for pid, p in people.items() if p.name]

        def frames():
            for video_id in videos:
                yield from self.index.frames(video_id)

        found = suggest_names(frames(), named=named)
        return {pid: found[pid] for pid in sorted(unnamed) if pid in found}

    def person_name_suggestions(self, person_id: str) -> list[Any]:
        """The names proposed for one person, best first (see :meth:`name_suggestions`);
        empty for a named person or when no caption names them.

        Raises:
            NotFoundError: malformed or unknown person id.
        """
        person = self.person(person_id)
        return self.name_suggestions([person.person_id]).get(person.person_id, [])

    def accept_name(self, person_id: str, name: str | None = None) -> "Person":
        """Name a person after one of their suggestions: ``name`` (matched as suggestions are:
        letters, case-insensitive; the suggestion's spelling is stored), or the best one when
        None. Returns the renamed person.

        Raises:
            NotFoundError: unknown person.
            QueryError: no suggestion for this person, or ``name`` is not one of them (give
                any name with :meth:`rename_person`).
        """
        from .pipeline.name_suggestions import name_key

        suggestions = self.person_name_suggestions(person_id)
        if not suggestions:
            raise QueryError(f"no name is suggested for {person_id}; name them with `reko person rename`")
        if name is None or not name.strip():
            chosen = suggestions[0]
        else:
            chosen = next((s for s in suggestions if name_key(s.name) == name_key(name)), None)
            if chosen is None:
                offered = ", ".join(s.name for s in suggestions[:5])
                raise QueryError(f"{name!r} is not a suggested name for {person_id} (suggested: {offered}); "
                                 "use `reko person rename` for any other name")
        return self.rename_person(person_id, chosen.name)

    # -- the site on AWS --
    # Use-cases of the web site when objects live in S3: whether the browser uploads straight
    # to the bucket, and what analysing a video on AWS can cost at most, asked before the
    # upload starts (the browser reads the video's duration and height; no bytes are sent).

    #: the longest video the AWS estimate accepts, s (100 h, as the time estimate of /api/health)
    SITE_AWS_MAX_SECONDS = 100 * 3600

    def site_uploads(self) -> str:
        """How the site uploads videos: ``"direct"`` (remote storage: the browser sends the
        bytes straight to S3 with presigned multipart URLs, :meth:`start_upload`) or
        ``"server"`` (``POST /api/videos`` into the data dir)."""
        return "direct" if self.remote else "server"

    def site_aws_estimate(self, duration_s: float, height: int | None = None) -> dict[str, Any]:
        """The naive ceiling of what analysing a video of ``duration_s`` seconds costs on AWS,
        before anything is uploaded: every frame sampled at ``REKO_SAMPLE_FPS`` sent to the
        image API of every ``REKO_FEATURES`` analysis (:data:`reko.pipeline.estimate.FEATURE_APIS`)
        at ``REKO_AWS_REGION``'s first-tier prices (:mod:`reko.pipeline.aws.prices`), plus the
        MediaConvert output minutes of the ingest job (frame capture + MP4 proxy; reported as
        minutes, priced only when a price is recorded). ``height`` (px, optional) gives
        MediaConvert's resolution category.

        A ceiling: the analysis planner skips near-duplicate frames and carries results over,
        which can only lower the calls (``reko estimate VIDEO`` counts them on the real file).
        Per-face calls (SearchUsers, CreateUser, AssociateFaces) are not included: faces are only
        known after IndexFaces.

        Returns ``{"region", "sample_fps", "video_seconds", "frames_sampled", "apis": [{"feature",
        "api", "calls", "usd_per_call", "cost_usd"}], "rekognition_cost_usd",
        "mediaconvert_minutes", "mediaconvert_category", "mediaconvert_cost_usd", "cost_usd",
        "cost_per_video_hour_usd", "ceiling", "not_counted", "price_source", "prices_read"}``.

        Raises:
            QueryError: a negative, non-finite or too long duration, or a height below 1.
            SettingsError: no prices are recorded for ``REKO_AWS_REGION``.
        """
        import math

        from .pipeline.aws.prices import REKOGNITION_GROUPS, REKOGNITION_PRICING_URL, region_prices
        from .pipeline.estimate import FEATURE_APIS, NOT_COUNTED, VideoFrames, estimate, resolution_category

        if not math.isfinite(duration_s) or not 0 < duration_s <= self.SITE_AWS_MAX_SECONDS:
            raise QueryError(f"duration_s must be a video's length in seconds, above 0 and at most "
                             f"{self.SITE_AWS_MAX_SECONDS}")
        if height is not None and height < 1:
            raise QueryError("height must be the video's height in pixels")
        prices = region_prices(self.settings.aws_region)
        frames = self.site_frames_expected(round(duration_s * 1000))
        video = VideoFrames(name="upload", video_seconds=float(duration_s), width=0, height=height or 0,
                            frames_sampled=frames, frames_kept=frames)  # every frame to every API
        features = list(self.settings.feature_list)
        result = estimate([video], features, prices, self.settings.sample_fps)
        apis: list[dict[str, Any]] = []
        for feature in features:
            api = FEATURE_APIS[feature]
            usd = prices.rekognition_usd_per_call(api)
            apis.append({"feature": feature, "api": api, "calls": result.rekognition_calls[api],
                         "usd_per_call": usd, "cost_usd": round(result.rekognition_calls[api] * usd, 6)})
        minutes = result.mediaconvert_total_minutes
        mediaconvert_cost = result.mediaconvert_cost_usd if height else None
        cost = result.rekognition_cost_usd + (mediaconvert_cost or 0.0)
        read = sorted({prices.rekognition_group_usd[REKOGNITION_GROUPS[a["api"]]].read for a in apis})
        return {"region": prices.region, "sample_fps": self.settings.sample_fps,
                "video_seconds": round(float(duration_s), 3), "frames_sampled": frames, "apis": apis,
                "rekognition_cost_usd": round(result.rekognition_cost_usd, 6),
                "mediaconvert_minutes": round(minutes, 4),
                "mediaconvert_category": resolution_category(height) if height else None,
                "mediaconvert_cost_usd": None if mediaconvert_cost is None else round(mediaconvert_cost, 6),
                "cost_usd": round(cost, 6),
                "cost_per_video_hour_usd": round(cost * 3600 / duration_s, 4),
                "ceiling": True, "not_counted": list(NOT_COUNTED),
                "price_source": REKOGNITION_PRICING_URL, "prices_read": read}


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
