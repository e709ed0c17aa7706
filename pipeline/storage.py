"""Object storage: the data dir locally (:class:`LocalStorage`), an S3 bucket on AWS
(:mod:`reko.pipeline.aws.s3_storage`), behind one small interface (:class:`Storage`).

Keys are the same everywhere: ``videos/<video_id><ext>`` (the stored video; on AWS the MP4
proxy), ``frames/<video_id>/<frame_ms>.jpg`` (thumbnails of analysed frames; documents' ``frame_uri``),
``persons/<person_id>.jpg`` (a person's best face). Locally also ``uploads/`` (web uploads while
they arrive) and ``tmp/`` (clips being cut).

Every key is derived from an id validated by :mod:`reko.pipeline.ids`, and every local path is
checked to lie inside the data dir, so no user-typed id can name a file elsewhere.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from abc import ABC, abstractmethod
from pathlib import Path

from ..errors import NotFoundError, StorageError
from . import ids

THUMBNAIL_MAX_SIDE_PX = 640  #: stored frame thumbnails are at most this large
#: Extensions a stored video keeps; anything else is stored under its container's usual one.
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts",
                            ".m2ts", ".mxf", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ogv"})
#: ffprobe ``format_name`` prefix → extension, for uploads whose own name says nothing useful.
FORMAT_SUFFIXES = (("matroska", ".mkv"), ("avi", ".avi"), ("mpegts", ".ts"), ("mxf", ".mxf"),
                   ("mpeg", ".mpg"), ("flv", ".flv"), ("asf", ".wmv"), ("ogg", ".ogv"))
STALE_TEMP_S = 3600  #: files in uploads/ and tmp/ older than this are removed at start-up


def video_suffix(filename: str, format_name: str = "") -> str:
    """The extension to store a video under: its own when it is a known video extension,
    else the usual one of its container (``format_name`` from ffprobe), else ``.mp4``."""
    suffix = Path(filename).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return suffix
    return next((ext for prefix, ext in FORMAT_SUFFIXES if format_name.startswith(prefix)), ".mp4")


def frame_key(video_id: str, frame_ms: int) -> str:
    """The key (and documents' ``frame_uri``) of a frame thumbnail."""
    return f"frames/{ids.video_id(video_id)}/{ids.frame_ms(frame_ms)}.jpg"


def person_key(person_id: str) -> str:
    """The key of a person's face thumbnail."""
    return f"persons/{ids.person_id(person_id)}.jpg"


class Storage(ABC):
    """Objects by key (see the module docstring). Local files and S3 objects alike."""

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str = "image/jpeg") -> str:
        """Write an object (atomically); returns ``key``. Raises StorageError."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """An object's bytes. Raises NotFoundError when it does not exist."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object exists."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove one object (missing is fine)."""

    @abstractmethod
    def delete_video(self, video_id: str) -> None:
        """Remove a video's stored file(s) and frame thumbnails (missing is fine)."""

    @abstractmethod
    def url(self, key: str, download_name: str | None = None) -> str | None:
        """A URL the browser can fetch the object from (S3: presigned GET), or None when the
        web app serves it itself from :meth:`local_path`."""

    @abstractmethod
    def local_path(self, key: str) -> Path | None:
        """The object as a local file (None on remote storage)."""

    def put_frame(self, video_id: str, frame_ms: int, jpeg: bytes) -> str:
        """Write a frame thumbnail; returns its ``frame_uri`` (key)."""
        return self.put(frame_key(video_id, frame_ms), jpeg)

    def frame_uri(self, video_id: str, frame_ms: int) -> str:
        """The ``frame_uri`` of a frame thumbnail."""
        return frame_key(video_id, frame_ms)


class LocalStorage(Storage):
    """Objects as files under ``root`` (the data dir, an absolute path)."""

    def __init__(self, root: Path):
        self.root = Path(root).absolute()

    def _key_path(self, key: str) -> Path:
        return self._inside(self.root / key)

    def put(self, key: str, data: bytes, content_type: str = "image/jpeg") -> str:
        path = self._key_path(key)
        self._write_dir(path.parent)
        tmp = path.with_name(path.name + ".part")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _storage_error(exc) from None
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._key_path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError("no such stored object") from None

    def exists(self, key: str) -> bool:
        return self._key_path(key).is_file()

    def delete(self, key: str) -> None:
        self._key_path(key).unlink(missing_ok=True)

    def url(self, key: str, download_name: str | None = None) -> str | None:
        return None

    def local_path(self, key: str) -> Path | None:
        return self._key_path(key)

    def _inside(self, path: Path) -> Path:
        """``path`` if it lies inside the data dir (after resolving ``..`` and links)."""
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root.resolve()):
            raise StorageError("refused a path outside the data directory")
        return path

    def _write_dir(self, path: Path) -> Path:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _storage_error(exc) from None
        return path

    # -- videos -----------------------------------------------------------------------------
    def video_path(self, video_id: str, suffix: str) -> Path:
        """Where the stored copy of ``video_id`` lives (``suffix`` such as ``.mp4``)."""
        if suffix not in VIDEO_SUFFIXES:
            suffix = ".mp4"
        return self._inside(self.root / "videos" / f"{ids.video_id(video_id)}{suffix}")

    def put_video(self, src: Path, video_id: str, suffix: str | None = None) -> Path:
        """Store ``src`` as ``video_id`` (idempotent; atomic rename; hard link when possible,
        else a copy). Returns the stored path.

        Raises:
            StorageError: the data dir cannot be written (disk full, permissions).
        """
        dest = self.video_path(video_id, suffix or video_suffix(src.name))
        if dest.exists():
            return dest
        self._write_dir(dest.parent)
        tmp = dest.with_name(dest.name + ".part")
        try:
            tmp.unlink(missing_ok=True)
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _storage_error(exc) from None
        return dest

    def adopt_video(self, src: Path, video_id: str, suffix: str) -> Path:
        """Move an upload (a file already inside the data dir) to its stored place, without a
        copy; if the video is already stored, ``src`` is removed. Returns the stored path."""
        dest = self.video_path(video_id, suffix)
        self._write_dir(dest.parent)
        existing = self.find_video(video_id)
        if existing is not None:
            src.unlink(missing_ok=True)
            return existing
        os.replace(self._inside(src), dest)
        return dest

    def find_video(self, video_id: str) -> Path | None:
        """The stored file of ``video_id``, or None."""
        folder = self.root / "videos"
        for suffix in sorted(VIDEO_SUFFIXES):
            path = folder / f"{ids.video_id(video_id)}{suffix}"
            if path.is_file():
                return path
        return None

    # -- frames -----------------------------------------------------------------------------
    def frame_path(self, video_id: str, frame_ms: int) -> Path:
        """Absolute path of a frame thumbnail (it may not exist)."""
        return self._key_path(frame_key(video_id, frame_ms))

    def delete_video(self, video_id: str) -> None:
        """Remove the stored video and its thumbnails (missing files are fine). Only files named
        by the validated id are touched."""
        video_id = ids.video_id(video_id)
        for suffix in VIDEO_SUFFIXES:
            path = self.video_path(video_id, suffix)
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".part").unlink(missing_ok=True)
        shutil.rmtree(self._inside(self.root / "frames" / video_id), ignore_errors=True)

    # -- uploads and temporary files --------------------------------------------------------
    def temp_dir(self, kind: str = "tmp") -> Path:
        """``uploads/`` or ``tmp/`` inside the data dir (created)."""
        if kind not in ("tmp", "uploads"):
            raise ValueError(kind)
        return self._write_dir(self.root / kind)

    def clean_temp(self, older_than_s: float = STALE_TEMP_S) -> int:
        """Remove files left in ``uploads/`` and ``tmp/`` by a killed process; returns how many."""
        removed, cutoff = 0, time.time() - older_than_s
        for kind in ("uploads", "tmp"):
            folder = self.root / kind
            for path in folder.glob("*") if folder.is_dir() else ():
                try:
                    if path.is_file() and path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
                except OSError:
                    continue
        return removed

    def installation_id(self) -> str:
        """A random id made once per data dir (``installation-id``), naming this
        installation's OpenSearch index."""
        path = self.root / "installation-id"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            self._write_dir(self.root)
            tmp = path.with_name(f"installation-id.{os.getpid()}.part")
            tmp.write_text(secrets.token_hex(4))
            try:
                os.link(tmp, path)  # first writer wins, even between processes
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
            return path.read_text().strip()


def _storage_error(exc: OSError) -> StorageError:
    import errno

    if exc.errno == errno.ENOSPC:
        return StorageError("the disk holding the data directory is full; free some space and run "
                            "again (nothing already done is lost)", detail=str(exc))
    return StorageError("the data directory cannot be written; check its permissions and free "
                        "space", detail=str(exc))


def open_storage(url: str, data_dir: Path) -> Storage:
    """The storage named by ``REKO_STORAGE_URL``: empty → :class:`LocalStorage` on
    ``data_dir``; ``s3://bucket[/prefix]`` → S3 (optional extra ``reko[aws]``).

    Raises:
        SettingsError: an unknown scheme.
    """
    from ..errors import SettingsError

    if not url:
        return LocalStorage(data_dir)
    if url.startswith("s3://"):
        from .aws.s3_storage import S3Storage

        return S3Storage.from_url(url)
    raise SettingsError("REKO_STORAGE_URL must be empty (the data dir) or s3://BUCKET[/PREFIX]")
