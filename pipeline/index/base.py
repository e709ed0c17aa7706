"""The index backend interface and the search semantics shared by every backend.

A backend stores one *frame document* per analysed frame (see ``docs/architecture.md``) and
answers :class:`SearchQuery` with matching frames; segments are built from those hits by
:mod:`reko.pipeline.segments`, never stored.

Moments across signals (issue 15)
---------------------------------
A plain query matches signals *in the same frame*. A query with :attr:`SearchQuery.near`
clauses matches *moments*: signals near each other in time. Exactly:

* The **anchor** is the query without its near clauses (``text``, ``person_ids``, ``labels``
  in one frame, as a plain query); every **near clause** (:class:`NearClause`) is a signal of
  its own (its text, persons and labels again in one frame of their own).
* ``video_ids`` and ``max_unsafe_confidence`` apply to every clause: a frame hidden as unsafe
  neither matches nor witnesses.
* Every frame document covers a closed span ``[start_ms, end_ms]`` of its video. Two frames
  are **within N ms** of each other when they are in the same video and the gap between their
  spans is at most N: ``b.start_ms <= a.end_ms + N`` and ``b.end_ms >= a.start_ms - N``
  (overlapping or touching spans have gap 0; the same frame is within 0 ms of itself, so "two
  signals in one frame" is a moment for every N).
* An anchor frame **qualifies** when, for *every* near clause, at least one frame matching
  that clause is within ``within_ms`` of it (each clause relative to the anchor, not pairwise
  between clauses). ``within_ms`` is None or 0..:data:`MAX_WITHIN_MS`; None means 0.
* The result's hits are the qualifying **anchor frames only** (so ``total_frames`` counts
  them, facets count over them, and scores are the anchor's own: BM25 of its text, 1.0 for a
  filter-only anchor). Each hit names its **witnesses** (:attr:`FrameHit.near`): per clause,
  the matching frame with the smallest gap (ties: the earliest ``start_ms``, then
  ``frame_ms``), and its **moment** (:attr:`FrameHit.moment`): the smallest span covering the
  anchor frame and its witnesses, which is what segments are built from
  (:func:`reko.pipeline.segments.merge_segments`).

Both backends compute the same thing (:mod:`.moments` holds the shared pure join), checked by
``tests/test_search_contract.py``.
"""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from ...errors import QueryError

#: OpenSearch alias prefix: installations use ``reko-frames-<id>``; Dashboards use ``reko-frames*``.
DEFAULT_INDEX_NAME = "reko-frames"
MAX_QUERY_CHARS = 500  #: longer queries (after NFKC) are rejected (QueryError), not truncated
MAX_QUERY_TERMS = 32  #: more terms are rejected: each is a clause (OpenSearch caps clauses at 1024)
MAX_NEAR_CLAUSES = 4  #: near clauses per query (each costs one more lookup per window)
MAX_WITHIN_MS = 600_000  #: the largest ``within_ms`` (10 minutes); larger is a QueryError


@dataclass(frozen=True)
class NearClause:
    """One signal that must occur near the anchor in time (see the module docstring): its
    ``text`` (terms ANDed, as :attr:`SearchQuery.text`), ``person_ids`` (any of them) and
    ``labels`` (any of them) must all match in one frame. At least one is required."""

    text: str = ""
    person_ids: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()

    def terms(self) -> list[str]:
        """The normalised search terms of ``text`` (see :func:`parse_terms`)."""
        return parse_terms(self.text)

    def describe(self) -> str:
        """A short human description (``"person p1"``, ``"label Car"``, ``"text 속보"``)."""
        parts = ([f"text {self.text!r}"] if self.text.strip() else []) + \
            [f"person {p}" for p in self.person_ids] + [f"label {label}" for label in self.labels]
        return " + ".join(parts) or "nothing"


@dataclass(frozen=True)
class SearchQuery:
    """What to look for. ``text`` is user text (terms ANDed; ``"quoted phrases"`` kept whole);
    filters narrow the frames; at least one of text or a filter is required.

    ``near`` (at most :data:`MAX_NEAR_CLAUSES`) and ``within_ms`` turn the query into a
    *moment* query: the fields above are the anchor, each :class:`NearClause` must match a
    frame within ``within_ms`` ms of an anchor frame (see the module docstring for the exact
    semantics). ``within_ms`` without ``near`` is a QueryError."""

    text: str = ""
    video_ids: tuple[str, ...] = ()
    person_ids: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    limit_frames: int = 10_000
    #: frames whose ``unsafe_confidence`` is at or above this are excluded; None keeps all
    max_unsafe_confidence: float | None = None
    #: signals that must occur near the anchor in time (empty: a plain same-frame query)
    near: tuple[NearClause, ...] = ()
    #: how far apart (ms, gap between frame spans) the anchor and each near clause may be;
    #: None means 0 (overlapping or touching spans)
    within_ms: int | None = None

    def terms(self) -> list[str]:
        """The normalised search terms of ``text`` (see :func:`parse_terms`)."""
        return parse_terms(self.text)

    @property
    def window_ms(self) -> int:
        """``within_ms`` as an int (0 when None)."""
        return int(self.within_ms or 0)

    def anchor(self) -> "SearchQuery":
        """This query without its near clauses: the frames a moment query returns."""
        return replace(self, near=(), within_ms=None)

    def clause(self, index: int) -> "SearchQuery":
        """Near clause ``index`` as a plain query with this query's ``video_ids`` and
        ``max_unsafe_confidence`` (which apply to every clause)."""
        near = self.near[index]
        return SearchQuery(text=near.text, video_ids=self.video_ids, person_ids=near.person_ids,
                           labels=near.labels, limit_frames=self.limit_frames,
                           max_unsafe_confidence=self.max_unsafe_confidence)

    def check(self) -> None:
        """Raise QueryError when there is nothing to search for, or the text is too long or has
        too many terms. Lengths are measured after NFKC normalisation, which can expand a single
        character into many (U+FDFA becomes 18 characters and 4 words). For a moment query
        also: more than :data:`MAX_NEAR_CLAUSES` near clauses, an empty clause, ``within_ms``
        outside 0..:data:`MAX_WITHIN_MS`, or ``within_ms`` without near clauses."""
        self._check_text(self.text, "the query")
        terms = self.terms()
        if not terms and not (self.person_ids or self.labels or self.video_ids):
            if self.near:
                raise QueryError("a search for moments needs something for the other signals to be "
                                 "near: type some words, or choose a person or label")
            raise QueryError("the query is empty: type some words, or choose a person or label")
        if self.within_ms is not None:
            if isinstance(self.within_ms, bool) or not isinstance(self.within_ms, int):
                raise QueryError("within must be a whole number of milliseconds")
            if not 0 <= self.within_ms <= MAX_WITHIN_MS:
                raise QueryError(f"within must be between 0 and {MAX_WITHIN_MS // 1000} seconds")
            if not self.near:
                raise QueryError("within needs a second signal to be near: add a near person, "
                                 "label or text")
        if len(self.near) > MAX_NEAR_CLAUSES:
            raise QueryError(f"the search has {len(self.near)} near signals; use at most {MAX_NEAR_CLAUSES}")
        for clause in self.near:
            if not isinstance(clause, NearClause):
                raise QueryError("a near signal must be a person, a label or some text")
            self._check_text(clause.text, "a near text")
            if not clause.terms() and not (clause.person_ids or clause.labels):
                raise QueryError("a near signal is empty: give it a person, a label or some words")

    @staticmethod
    def _check_text(text: str, what: str) -> None:
        if len(text) > MAX_QUERY_CHARS or len(normalize_text(text)) > MAX_QUERY_CHARS:
            raise QueryError(f"{what} is too long; use at most {MAX_QUERY_CHARS} characters")
        terms = parse_terms(text)
        if len(terms) > MAX_QUERY_TERMS:
            raise QueryError(f"{what} has {len(terms)} words; use at most {MAX_QUERY_TERMS}")


@dataclass(frozen=True)
class Span:
    """Where one frame document sits: ``video_id``, ``frame_ms`` (its key in the video) and
    the closed span ``[start_ms, end_ms]`` (ms from the video start) it stands for."""

    video_id: str
    frame_ms: int
    start_ms: int
    end_ms: int

    def gap_ms(self, other: "Span") -> int:
        """The gap between the two spans in ms (0 when they overlap or touch); only meaningful
        for spans of the same video."""
        return max(0, other.start_ms - self.end_ms, self.start_ms - other.end_ms)


@dataclass
class FrameHit:
    """One matching frame document and its relevance ``score`` (higher is better).

    For a moment query (:attr:`SearchQuery.near`), ``near`` holds one witness :class:`Span`
    per near clause, in clause order (see the module docstring); empty otherwise."""

    doc: dict[str, Any]
    score: float
    near: tuple[Span, ...] = ()

    @property
    def moment(self) -> tuple[int, int]:
        """``(start_ms, end_ms)``: the smallest span covering this frame and its witnesses
        (the frame's own span for a plain query)."""
        starts = [int(self.doc["start_ms"]), *(s.start_ms for s in self.near)]
        ends = [int(self.doc["end_ms"]), *(s.end_ms for s in self.near)]
        return min(starts), max(ends)


@dataclass
class SearchResult:
    """Matching frames (best first, at most ``limit_frames``) and how many matched in all."""

    hits: list[FrameHit]
    total_frames: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)


def normalize_text(text: str) -> str:
    """NFKC-normalise (full-width → ASCII, decomposed Hangul jamo → syllables), drop control
    characters and collapse whitespace; applied to indexed text and to queries alike."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch if ch.isspace() or unicodedata.category(ch) != "Cc" else " " for ch in text)
    return " ".join(text.split())


_TERM = re.compile(r'"([^"]*)"|(\S+)')


def parse_terms(text: str) -> list[str]:
    """Split user text into terms: ``"double-quoted phrases"`` stay whole, other words split on
    whitespace; an unbalanced quote is treated as a plain character. Terms are normalised with
    :func:`normalize_text`; empty ones are dropped. No character has an operator meaning."""
    text = normalize_text(text)
    if text.count('"') % 2:
        text = text.replace('"', " ")
    terms = []
    for phrase, word in _TERM.findall(text):
        term = normalize_text(phrase or word)
        if term:
            terms.append(term)
    return terms


class IndexBackend(ABC):
    """A store of frame documents keyed by (``video_id``, ``frame_ms``)."""

    @abstractmethod
    def index_frames(self, docs: Iterable[Mapping[str, Any]]) -> int:
        """Insert or replace frame documents (idempotent); returns how many were written."""

    @abstractmethod
    def search(self, query: SearchQuery) -> SearchResult:
        """Frames matching ``query``, best first. Raises QueryError for an unusable query."""

    @abstractmethod
    def delete_video(self, video_id: str) -> int:
        """Remove every frame of ``video_id``; returns how many were removed."""

    @abstractmethod
    def frames(self, video_id: str) -> list[dict[str, Any]]:
        """All frame documents of ``video_id`` ordered by ``frame_ms``."""

    @abstractmethod
    def facet_counts(self) -> dict[str, dict[str, int]]:
        """Facets over the whole index: ``{"label_names": {name: frames}, "person_ids": {...}}``."""

    @abstractmethod
    def stats(self) -> dict[str, int]:
        """``{"frames": N, "videos": M}`` over the whole index."""

    def close(self) -> None:
        """Release connections."""
