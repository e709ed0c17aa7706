"""Segments: neighbouring search hits of one video merged into padded time ranges.

Computed at query time from frame hits (never stored): hits of a video are sorted by time; a hit
starting within ``gap_ms`` of the current segment's end joins it; every segment is then padded
by ``pad_ms`` on both sides, clamped to ``[0, duration_ms]``. A segment keeps its best frame
(highest score) for thumbnails and playback.

Hits of a moment query (:attr:`reko.pipeline.index.base.FrameHit.near`) are placed by their
*moment* (the span covering the anchor frame and its witnesses, ms) instead of the frame's
own span, so a segment shows both signals: a caption at 10 s and the person 3 s later make one
segment from 10 s to the person's frame's end. Their witnesses are listed in ``Segment.near``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .index.base import FrameHit


@dataclass
class Segment:
    """A time range ``[start_ms, end_ms]`` of one video where the query matches.

    ``frame_ms``/``text``/``score`` come from the best frame; ``hits`` is the number of frames
    merged; ``frames`` holds their documents in time order. For a moment query ``near`` lists
    the witnesses of its frames (``clause`` index, ``frame_ms``, ``start_ms``, ``end_ms``; each
    witness once, in time order); empty otherwise.
    """

    video_id: str
    start_ms: int
    end_ms: int
    frame_ms: int
    text: str
    score: float
    hits: int = 1
    person_ids: list[str] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list, repr=False)
    near: list[dict[str, int]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The CLI/API ``--json`` shape of a segment; ``near`` only for a moment query."""
        out = {"video_id": self.video_id, "start_ms": self.start_ms, "end_ms": self.end_ms,
               "frame_ms": self.frame_ms, "text": self.text, "score": round(self.score, 4),
               "hits": self.hits, "person_ids": self.person_ids}
        if self.near:
            out["near"] = self.near
        return out

    def add_near(self, hit: FrameHit) -> None:
        """Record the witnesses of ``hit`` (a moment query's hit) once each, in time order."""
        known = {(n["clause"], n["frame_ms"]) for n in self.near}
        for clause, span in enumerate(hit.near):
            if (clause, span.frame_ms) not in known:
                known.add((clause, span.frame_ms))
                self.near.append({"clause": clause, "frame_ms": span.frame_ms,
                                  "start_ms": span.start_ms, "end_ms": span.end_ms})
        self.near.sort(key=lambda n: (n["start_ms"], n["clause"], n["frame_ms"]))


def merge_segments(hits: Iterable[FrameHit], gap_ms: int, pad_ms: int,
                   durations_ms: Mapping[str, int] | None = None) -> list[Segment]:
    """Merge frame hits into segments, grouped by video.

    Videos are ordered by their best segment score (best first), segments of a video by time.
    ``durations_ms`` (video_id → duration) clamps padding at the video's end; without it only
    the start is clamped (at 0). A moment query's hit is placed by its ``moment`` span (see
    the module docstring).
    """
    by_video: dict[str, list[FrameHit]] = {}
    for hit in hits:
        by_video.setdefault(hit.doc["video_id"], []).append(hit)
    groups = []
    for video_id, video_hits in by_video.items():
        video_hits.sort(key=lambda h: (h.moment[0], h.doc["start_ms"]))
        segments: list[Segment] = []
        for hit in video_hits:
            doc = hit.doc
            start_ms, end_ms = hit.moment
            current = segments[-1] if segments else None
            if current is not None and start_ms - current.end_ms <= gap_ms:
                current.end_ms = max(current.end_ms, end_ms)
                current.hits += 1
                current.frames.append(doc)
                if hit.score > current.score:
                    current.frame_ms, current.text, current.score = doc["frame_ms"], doc.get("text", ""), hit.score
                for pid in doc.get("person_ids", []):
                    if pid not in current.person_ids:
                        current.person_ids.append(pid)
            else:
                segments.append(Segment(
                    video_id=video_id, start_ms=start_ms, end_ms=end_ms,
                    frame_ms=doc["frame_ms"], text=doc.get("text", ""), score=hit.score,
                    person_ids=list(doc.get("person_ids", [])), frames=[doc]))
            if hit.near:
                segments[-1].add_near(hit)
        limit = (durations_ms or {}).get(video_id)
        for seg in segments:
            seg.start_ms = max(0, seg.start_ms - pad_ms)
            seg.end_ms = seg.end_ms + pad_ms if limit is None else min(limit, seg.end_ms + pad_ms)
        groups.append(segments)
    groups.sort(key=lambda segs: -max(s.score for s in segs))
    return [seg for segs in groups for seg in segs]
