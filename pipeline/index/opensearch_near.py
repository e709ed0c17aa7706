"""Moments without a join at query time: per-frame "near" fields for fixed radii (issue 15).

A moment query (:mod:`.base`) asks for anchor frames with, for every near clause, a matching
frame *within N ms*. In general that is a join (:class:`.opensearch._Moments`). For the common
clause, one person or one label (any of several persons, any of several labels), and for the
radii in :data:`NEAR_RADII_MS`, every frame document carries the answer instead:

* ``near_<R>_person_ids`` / ``near_<R>_label_names``: the person ids / label names of every
  frame of the same video within ``R`` ms of this one (the frame itself included), with the
  gap of :mod:`.base` (``b.start_ms <= a.end_ms + R`` and ``b.end_ms >= a.start_ms - R``);
* ``near_<R>_unsafe``: the highest ``unsafe_confidence`` among those frames (0 when none).

"Person X within 5 s" is then the filter ``terms near_5000_person_ids: [x]`` of a plain query:
hits, exact total and facets in the plain query's one round trip, then one more for the hits'
witnesses (``opensearch._Moments._witnesses``). The fields count frames that
search may hide as unsafe; a frame near a hidden one (``near_<R>_unsafe`` at or above the
query's ``max_unsafe_confidence``) is left to the join, which skips hidden witnesses.

The fields of a frame change when a frame within ``R`` of it is written, so the writer
(:meth:`.opensearch.OpenSearchIndex.index_frames`) reads, per video, the frames within
``2 × max(R)`` of the written ones, recomputes (:func:`near_fields`) and updates the frames
within ``max(R)`` of them (the fields are not in ``_source``: nothing to compare with). That
needs one writer per video at a time: the local ingest has one, and the AWS frames queue is
FIFO with the video as message group.

Pure data and functions: no client, no connection.
"""

from __future__ import annotations

import bisect
from typing import Any, Iterable, Mapping

#: The radii (ms) with near fields. A moment query with another ``within_ms``, or with a clause
#: that has text or both persons and labels, runs the join. 5 s is the example of the issue
#: and the benchmark; 10 s and 30 s are the next steps an editor asks ("in the same minute" is
#: the join's). Each radius adds three fields to every document.
NEAR_RADII_MS = (5_000, 10_000, 30_000)
#: document fields whose values the near fields gather
NEAR_SIGNALS = ("person_ids", "label_names")
#: what :func:`near_fields` reads from a document
NEAR_SOURCE = ("video_id", "frame_ms", "start_ms", "end_ms", *NEAR_SIGNALS, "unsafe_confidence")


def near_field(radius_ms: int, signal: str) -> str:
    """The near field of ``signal`` (``person_ids`` | ``label_names``) for ``radius_ms``."""
    return f"near_{radius_ms}_{signal}"


def unsafe_field(radius_ms: int) -> str:
    """The field with the highest ``unsafe_confidence`` within ``radius_ms``."""
    return f"near_{radius_ms}_unsafe"


def near_field_names() -> tuple[str, ...]:
    """Every near field of every radius (derived fields: stripped from what search returns)."""
    return tuple(name for r in NEAR_RADII_MS for name in (*(near_field(r, s) for s in NEAR_SIGNALS), unsafe_field(r)))


#: The near fields are indexed only: left out of ``_source`` (``MAPPINGS["_source"]``) and
#: without doc values (only ``terms`` / ``range`` filters read them). Measured at 1M documents
#: of ``benchmarks/search.py``: with them in ``_source`` and doc values the index grew from
#: 437 MB to 845 MB, and a moment query at limit 10,000 spent most of its time parsing them.
SOURCE_EXCLUDES = ["near_*"]


def near_mappings() -> dict[str, Any]:
    """Mapping properties of the near fields: keywords normalised like the fields they gather
    (filters are case-insensitive), the unsafe maximum as a float; filters only (no doc
    values, see :data:`SOURCE_EXCLUDES`)."""
    props: dict[str, Any] = {}
    for r in NEAR_RADII_MS:
        for signal in NEAR_SIGNALS:
            props[near_field(r, signal)] = {"type": "keyword", "normalizer": "reko_lowercase", "doc_values": False}
        props[unsafe_field(r)] = {"type": "float", "doc_values": False}
    return props


def near_fields(docs: Iterable[Mapping[str, Any]], only: set[int] | None = None) -> dict[int, dict[str, Any]]:
    """The near fields of frames of **one video**: ``{frame_ms: {field: value}}`` for every
    document of ``docs`` (or only those whose ``frame_ms`` is in ``only``), computed from all
    of ``docs`` (which must hold every frame within ``max(NEAR_RADII_MS)`` of those asked for).
    Values are sorted lists.

    Raises:
        ValueError: ``docs`` hold more than one video.
    """
    items = sorted(docs, key=lambda d: (int(d["start_ms"]), int(d["frame_ms"])))
    if len({d["video_id"] for d in items}) > 1:
        raise ValueError("near_fields: documents of more than one video")
    starts = [int(d["start_ms"]) for d in items]
    longest = max((int(d["end_ms"]) - int(d["start_ms"]) for d in items), default=0)
    widest = max(NEAR_RADII_MS)
    out: dict[int, dict[str, Any]] = {}
    for a in items:
        frame_ms = int(a["frame_ms"])
        if only is not None and frame_ms not in only:
            continue
        a_start, a_end = int(a["start_ms"]), int(a["end_ms"])
        lo = bisect.bisect_left(starts, a_start - widest - longest)
        hi = bisect.bisect_right(starts, a_end + widest)
        # gap to each candidate (0 when the spans meet), as in base.py's definition
        near = [(max(0, int(b["start_ms"]) - a_end, a_start - int(b["end_ms"])), b) for b in items[lo:hi]]
        fields: dict[str, Any] = {}
        for r in NEAR_RADII_MS:
            within = [b for gap, b in near if gap <= r]
            for signal in NEAR_SIGNALS:
                fields[near_field(r, signal)] = sorted({v for b in within for v in b.get(signal) or ()})
            fields[unsafe_field(r)] = max((float(b.get("unsafe_confidence") or 0.0) for b in within), default=0.0)
        out[frame_ms] = fields
    return out


def affected(spans: Iterable[tuple[int, int]], frames: Iterable[Mapping[str, Any]]) -> set[int]:
    """``frame_ms`` of the ``frames`` within ``max(NEAR_RADII_MS)`` of one of ``spans``
    (``(start_ms, end_ms)`` of written frames, old and new): the frames whose near fields a
    write may change."""
    widest = max(NEAR_RADII_MS)
    ordered = sorted(spans)
    starts = [s for s, _ in ordered]
    reach = 0
    ends: list[int] = []
    for _, e in ordered:  # running maximum of the ends, for the look-up below
        reach = max(reach, e)
        ends.append(reach)
    out = set()
    for f in frames:
        f_start, f_end = int(f["start_ms"]), int(f["end_ms"])
        # the written spans starting at or before f_end + R; one of them must end at or after f_start - R
        i = bisect.bisect_right(starts, f_end + widest)
        if i and ends[i - 1] >= f_start - widest:
            out.add(int(f["frame_ms"]))
    return out


def near_filter(clause_persons: tuple[str, ...], clause_labels: tuple[str, ...], clause_text: str | None,
                radius_ms: int) -> dict[str, Any] | None:
    """The filter for "a frame of this clause within ``radius_ms``" from the near fields, or
    None when they cannot answer it: a radius without fields, a clause with text, or with both
    persons and labels (those must be in one frame: a join)."""
    if radius_ms not in NEAR_RADII_MS or (clause_text or "").strip() or bool(clause_persons) == bool(clause_labels):
        return None
    signal, values = ("person_ids", clause_persons) if clause_persons else ("label_names", clause_labels)
    return {"terms": {near_field(radius_ms, signal): [v.lower() for v in values]}}
