"""Local object storage in the data dir (S3's role on AWS).

Layout under ``data_dir``: ``videos/<video_id><ext>`` (the ingested file, hard-linked when on
the same filesystem, else copied) and ``frames/<video_id>/<frame_ms>.jpg`` (thumbnails of
analysed frames). ``frame_uri`` values in documents are paths relative to ``data_dir``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

THUMBNAIL_MAX_SIDE_PX = 640  #: stored frame thumbnails are at most this large


class LocalStorage:
    """Videos and frame thumbnails under ``root`` (the data dir)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def video_path(self, video_id: str, suffix: str) -> Path:
        """Where the stored copy of ``video_id`` lives."""
        return self.root / "videos" / f"{video_id}{suffix.lower()}"

    def put_video(self, src: Path, video_id: str) -> Path:
        """Store ``src`` as ``video_id`` (idempotent; atomic rename). Returns the stored path."""
        dest = self.video_path(video_id, src.suffix or ".mp4")
        if dest.exists():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
        return dest

    def frame_uri(self, video_id: str, frame_ms: int) -> str:
        """The ``frame_uri`` of a frame thumbnail (relative to the data dir)."""
        return f"frames/{video_id}/{frame_ms}.jpg"

    def put_frame(self, video_id: str, frame_ms: int, jpeg: bytes) -> str:
        """Write a thumbnail; returns its ``frame_uri``."""
        uri = self.frame_uri(video_id, frame_ms)
        path = self.root / uri
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(jpeg)
        os.replace(tmp, path)
        return uri

    def delete_video(self, video_id: str) -> None:
        """Remove the stored video and its thumbnails (missing files are fine)."""
        for path in (self.root / "videos").glob(f"{video_id}.*"):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.root / "frames" / video_id, ignore_errors=True)
