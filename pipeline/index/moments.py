"""Moments across signals: the backend-independent part of a moment query (issue 15).

The semantics are written down in :mod:`.base` (module docstring). A backend answers a moment
query in three steps, the middle one shared here:

1. **spans**: per clause (the anchor and each near clause), the :class:`~.base.Span` of its
   matching frames: the *driver* (the clause with the fewest matches, by a capped count) in
   full, every other clause only inside the **windows** around the frames that can still
   qualify (:func:`windows`: spans widened by ``within_ms`` and merged per video). A frame
   outside every window is more than ``within_ms`` from each of those frames, so it cannot
   witness nor qualify: the restriction loses nothing. This is what keeps a rare signal near a
   frequent one cheap (a person near the label ``Person``): the frequent clause is only read
   around the rare one's frames.
2. **join** (:func:`join`): per anchor frame and near clause, the nearest matching frame within
   ``within_ms`` (per video: spans sorted by start, a binary search, a short scan back bounded
   by the longest span); anchors lacking a witness for some clause drop out.
3. **hits**: the qualifying anchor frames' documents, scored as the anchor query scores them,
   best first, with the exact total and the facets over them.

:func:`find_moments` runs steps 1–2 over a :class:`MomentSource` (what a backend provides:
capped counts, spans, spans inside windows). Pure Python, no I/O of its own.
"""

from __future__ import annotations

import bisect
import math
import re
from typing import Iterable, Protocol, Sequence

import numpy as np

from .base import SearchQuery, Span

#: clause counts are capped at this (the driver only needs to be *a* small clause)
COUNT_CAP = 50_000
#: ``{video_id: [(lo_ms, hi_ms), ...]}``: merged closed intervals, sorted, per video
Windows = dict[str, list[tuple[int, int]]]


class MomentSource(Protocol):
    """What a backend provides to :func:`find_moments`. ``clause`` is a plain
    :class:`SearchQuery` (the anchor, or :meth:`SearchQuery.clause`)."""

    def clause_counts(self, clauses: Sequence[SearchQuery], cap: int) -> list[int]:
        """How many frames match each of ``clauses``, counted up to ``cap`` (``cap`` when
        more). A backend may fetch the spans of small clauses at the same time."""

    def clause_spans(self, clause: SearchQuery, within: Windows | None) -> list[Span]:
        """The spans of every frame matching ``clause``; with ``within``, only (at least) those
        whose span intersects one of the windows of its video (a backend may return more:
        :func:`join` checks distances exactly)."""


def windows(spans: Iterable[Span], within_ms: int) -> Windows:
    """Per video, the spans widened by ``within_ms`` on both sides (``[start - N, end + N]``,
    clamped at 0) and merged where they overlap or touch: a frame is within ``within_ms`` of
    one of ``spans`` exactly when its span intersects one of these windows."""
    return merge_windows((s.video_id, max(0, s.start_ms - within_ms), s.end_ms + within_ms) for s in spans)


def merge_windows(intervals: Iterable[tuple[str, int, int]]) -> Windows:
    """``(video_id, lo_ms, hi_ms)`` closed intervals, in any order and overlapping, as
    :data:`Windows`: per video sorted and merged where they overlap or touch (disjoint).
    Vectorised (numpy): an OpenSearch clause's windows come back by the ten thousand."""
    codes: dict[str, int] = {}
    videos: list[int] = []
    bounds: list[int] = []
    for video_id, lo, hi in intervals:
        videos.append(codes.setdefault(video_id, len(codes)))
        bounds += (lo, hi)
    if not videos:
        return {}
    group = np.asarray(videos, dtype=np.int64)
    pairs = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    order = np.lexsort((pairs[:, 1], pairs[:, 0], group))
    group, lo, hi = group[order], pairs[order, 0], pairs[order, 1]
    # the running end within each video: offset each video above every end before it, so the
    # running maximum never carries over from the previous video
    offset = group * (int(hi.max()) + 1)
    reach = np.maximum.accumulate(hi + offset) - offset
    starts = np.ones(len(group), dtype=bool)
    starts[1:] = (group[1:] != group[:-1]) | (lo[1:] > reach[:-1])
    first = np.flatnonzero(starts)
    last = np.append(first[1:] - 1, len(group) - 1)
    names = list(codes)
    out: Windows = {}
    for g, w_lo, w_hi in zip(group[first].tolist(), lo[first].tolist(), reach[last].tolist()):
        out.setdefault(names[g], []).append((w_lo, w_hi))
    return out


class _Index:
    """The spans of one clause, per video, sorted by ``start_ms``, for nearest look-ups."""

    def __init__(self, spans: Iterable[Span]):
        self.by_video: dict[str, list[Span]] = {}
        for s in spans:
            self.by_video.setdefault(s.video_id, []).append(s)
        self.starts: dict[str, list[int]] = {}
        self.longest: dict[str, int] = {}
        for video_id, items in self.by_video.items():
            items.sort(key=lambda s: (s.start_ms, s.frame_ms))
            self.starts[video_id] = [s.start_ms for s in items]
            self.longest[video_id] = max(s.end_ms - s.start_ms for s in items)

    def nearest(self, anchor: Span, within_ms: int) -> Span | None:
        """The span of this clause nearest to ``anchor`` (smallest gap ≤ ``within_ms``; ties:
        earliest ``start_ms``, then ``frame_ms``), or None."""
        items = self.by_video.get(anchor.video_id)
        if not items:
            return None
        starts = self.starts[anchor.video_id]
        # candidates start at or before anchor.end + N and end at or after anchor.start - N;
        # a span ends at most `longest` after it starts, so none starts before the bound below
        hi = bisect.bisect_right(starts, anchor.end_ms + within_ms)
        lo = bisect.bisect_left(starts, anchor.start_ms - within_ms - self.longest[anchor.video_id])
        best: Span | None = None
        best_key: tuple[int, int, int] | None = None
        for s in items[lo:hi]:
            gap = anchor.gap_ms(s)
            if gap <= within_ms:
                key = (gap, s.start_ms, s.frame_ms)
                if best_key is None or key < best_key:
                    best, best_key = s, key
        return best


def join(anchors: Iterable[Span], near: Sequence[Iterable[Span]], within_ms: int) -> dict[tuple[str, int], tuple[Span, ...]]:
    """The qualifying anchors: ``{(video_id, frame_ms): witnesses}``, one witness per near
    clause in clause order (the nearest matching frame, see :mod:`.base`). ``near[i]`` must hold
    at least every frame of clause ``i`` within ``within_ms`` of an anchor (more is harmless).
    Duplicate spans are ignored."""
    indexes = [_Index(spans) for spans in near]
    out: dict[tuple[str, int], tuple[Span, ...]] = {}
    for anchor in anchors:
        key = (anchor.video_id, anchor.frame_ms)
        if key in out:
            continue
        found = []
        for index in indexes:
            witness = index.nearest(anchor, within_ms)
            if witness is None:
                break
            found.append(witness)
        else:
            out[key] = tuple(found)
    return out


def find_moments(query: SearchQuery, source: MomentSource) -> dict[tuple[str, int], tuple[Span, ...]]:
    """Steps 1–2 of the module docstring for a checked moment ``query`` over ``source``:
    ``{(video_id, frame_ms): witnesses}`` of every qualifying anchor frame.

    The driver is the clause with the fewest matches (counts capped at :data:`COUNT_CAP`);
    near clauses are then read in increasing count order, each inside the windows of the
    anchors still qualifying, which shrink as clauses are joined."""
    within = query.window_ms
    anchor_q = query.anchor()
    clauses = [query.clause(i) for i in range(len(query.near))]
    counts = source.clause_counts([anchor_q, *clauses], COUNT_CAP)
    if min(counts) == 0:
        return {}
    driver = min(range(len(counts)), key=lambda i: (counts[i], i))  # 0: the anchor
    known: dict[int, list[Span]] = {}
    if driver == 0:
        anchors = source.clause_spans(anchor_q, None)
    else:
        known[driver - 1] = source.clause_spans(clauses[driver - 1], None)
        anchors = source.clause_spans(anchor_q, windows(known[driver - 1], within))
    order = sorted(range(len(clauses)), key=lambda i: (i not in known, counts[i + 1], i))
    witnesses: dict[tuple[str, int], dict[int, Span]] = {}
    alive = {(a.video_id, a.frame_ms): a for a in anchors}
    for i in order:
        if not alive:
            return {}
        spans = known[i] if i in known else source.clause_spans(clauses[i], windows(alive.values(), within))
        matched = join(alive.values(), [spans], within)
        alive = {key: alive[key] for key in matched}
        for key, (witness,) in matched.items():
            witnesses.setdefault(key, {})[i] = witness
    return {key: tuple(witnesses[key][i] for i in range(len(clauses))) for key in alive}



_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|seconds?|m|min|mins|minutes?)?\s*$", re.IGNORECASE)


def parse_within(value: str | int | float | None) -> int | None:
    """A user's "within" as whole ms: ``"5s"``, ``"1.5 s"``, ``"500ms"``, ``"2m"``, or a bare
    number of seconds (``"5"``, ``5``, ``2.5``); None/empty stays None.

    Raises:
        QueryError: anything else (negative, not a number, unknown unit), or more than
            :data:`.base.MAX_WITHIN_MS`.
    """
    from ...errors import QueryError
    from .base import MAX_WITHIN_MS

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise QueryError("within must be a duration such as 5s or 500ms")
    if isinstance(value, (int, float)):
        amount, unit = float(value), "s"
    else:
        match = _DURATION.match(value)
        if not match:
            raise QueryError(f"within must be a duration such as 5s or 500ms, not {value[:40]!r}")
        amount, unit = float(match.group(1)), (match.group(2) or "s").lower()
    if not math.isfinite(amount) or amount < 0:
        raise QueryError("within must be a duration of 0 or more")
    ms = amount * (1 if unit == "ms" else 60_000 if unit.startswith("m") and unit != "ms" else 1000)
    if ms > MAX_WITHIN_MS:
        raise QueryError(f"within must be between 0 and {MAX_WITHIN_MS // 1000} seconds")
    return int(round(ms))
