"""The analysis planner: which sampled frames are analysed, and by which analyses.

One module for both engines: the local ingest (frames from ffmpeg) and the AWS Lambdas (frames
from MediaConvert's frame capture) offer it the same sampled frames in time order and get the
same decisions, so a saving measured locally is the saving on AWS (and what ``reko estimate``
bills).

Today's rule: a frame that is a near-duplicate of the last analysed frame
(:class:`reko.pipeline.dedup.DuplicateFilter`) is not analysed; the analysed frame stands for it
(its span grows to the next analysed frame). Every analysed frame gets every configured analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .dedup import DuplicateFilter


@dataclass
class PlannedFrame:
    """A frame to analyse: ``frame_ms`` (its presentation time), ``end_ms`` (the span it stands
    for ends here: the next planned frame's time, or the video's end), ``analyses`` (features)."""

    frame_ms: int
    end_ms: int
    analyses: tuple[str, ...]


class AnalysisPlanner:
    """Decides frame by frame, in time order. ``features`` are the configured analyses
    (``REKO_FEATURES``); ``dedup_threshold_cells`` is ``REKO_DEDUP_THRESHOLD_CELLS``."""

    def __init__(self, features: Iterable[str], dedup_threshold_cells: int):
        self.features = tuple(features)
        self._dedup = DuplicateFilter(dedup_threshold_cells)
        self.sampled = 0  #: frames offered
        self.planned = 0  #: frames to analyse

    def offer(self, frame_ms: int, image: np.ndarray) -> PlannedFrame | None:
        """The plan for a sampled frame (RGB uint8 H×W×3) at ``frame_ms``, or None when it is
        skipped (the previous planned frame stands for it). A returned frame's ``end_ms`` is
        provisional until the next frame is planned or the video ends (see :func:`plan_spans`)."""
        self.sampled += 1
        if self._dedup.is_duplicate(image):
            return None
        self.planned += 1
        return PlannedFrame(frame_ms=frame_ms, end_ms=frame_ms + 1, analyses=self.features)


def plan_spans(planned: list[PlannedFrame], duration_ms: int) -> list[PlannedFrame]:
    """Close the spans of frames planned in time order: each ends where the next begins, the
    last at the video's end (or 1 ms after itself when the duration is shorter). Returns
    ``planned`` (modified in place)."""
    for current, following in zip(planned, planned[1:]):
        current.end_ms = following.frame_ms
    if planned:
        planned[-1].end_ms = max(duration_ms, planned[-1].frame_ms + 1)
    return planned
