"""Search as users see it: index hits merged into padded segments (CLI and web API)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..settings import Settings
from .catalog import VideoCatalog
from .index import IndexBackend, SearchQuery
from .segments import Segment, merge_segments


@dataclass
class SearchResponse:
    """Segments of a query, best video first, plus the number of matching frames."""

    query: SearchQuery
    total_frames: int
    segments: list[Segment]
    facets: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"query", "total_frames", "segments": [...]}``, the ``--json`` contract."""
        return {"query": self.query.text, "total_frames": self.total_frames,
                "segments": [s.to_json() for s in self.segments]}


def search(settings: Settings, index: IndexBackend, catalog: VideoCatalog, query: SearchQuery,
           include_unsafe: bool = False) -> SearchResponse:
    """Run ``query`` and merge its hits into segments with the gap/padding settings. Frames
    flagged unsafe (``REKO_HIDE_UNSAFE_CONFIDENCE``) are left out unless ``include_unsafe``.

    Raises:
        QueryError: nothing to search for, or the query is too long.
    """
    if not include_unsafe and settings.hide_unsafe_confidence < 100:
        query = dataclasses.replace(query, max_unsafe_confidence=settings.hide_unsafe_confidence)
    result = index.search(query)
    durations = {}
    for video_id in {h.doc["video_id"] for h in result.hits}:
        record = catalog.get(video_id)
        if record is not None:
            durations[video_id] = record.duration_ms
    segments = merge_segments(result.hits, settings.segment_gap_ms, settings.segment_pad_ms, durations)
    return SearchResponse(query=query, total_frames=result.total_frames, segments=segments,
                          facets=result.facets)
