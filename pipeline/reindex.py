"""Copy frame documents from one index backend to another, without re-analysing any frame.

Used to move an archive from the embedded SQLite index to OpenSearch (``reko reindex --to
URL``), or between OpenSearch mapping versions: documents are read with
:meth:`IndexBackend.frames` (one video at a time, in frame order) and written with
:meth:`IndexBackend.index_frames` in batches, so memory is bounded by one video's documents
plus one batch. Writes are idempotent (documents are keyed by ``video_id`` + ``frame_ms``), so
an interrupted copy is simply run again.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from ..errors import IndexBackendError
from .index.base import IndexBackend

BATCH_DOCS = 2_000  #: documents per ``dest.index_frames`` call (each call refreshes OpenSearch)


def batched(docs: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """``docs`` in lists of at most ``size`` (the last one shorter)."""
    batch: list[dict[str, Any]] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def reindex(source: IndexBackend, dest: IndexBackend, video_ids: Iterable[str],
            batch_docs: int = BATCH_DOCS,
            on_video: Callable[[str, int], None] | None = None) -> int:
    """Copy every frame document of ``video_ids`` from ``source`` to ``dest``, unchanged.

    Args:
        source: the backend read from (not modified).
        dest: the backend written to; existing documents with the same key are replaced,
            documents of other videos are left alone.
        video_ids: the videos to copy (e.g. every video in the catalog).
        batch_docs: documents per write.
        on_video: called as ``on_video(video_id, frames_copied)`` after each video (progress).

    Returns:
        the number of frame documents written.

    Raises:
        IndexBackendError: either backend failed, or ``dest`` reported fewer writes than
            ``source`` had documents for a video (nothing is dropped silently).
    """
    total = 0
    for video_id in video_ids:
        copied = 0
        for batch in batched(source.frames(video_id), batch_docs):
            written = dest.index_frames(batch)
            if written != len(batch):
                raise IndexBackendError(
                    f"reindex: the destination wrote {written} of {len(batch)} frames of video "
                    f"{video_id}; run the reindex again (writes are idempotent)")
            copied += written
        total += copied
        if on_video is not None:
            on_video(video_id, copied)
    return total
