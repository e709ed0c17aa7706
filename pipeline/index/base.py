"""The index backend interface and the search semantics shared by every backend.

A backend stores one *frame document* per analysed frame (see ``docs/architecture.md``) and
answers :class:`SearchQuery` with matching frames; segments are built from those hits by
:mod:`reko.pipeline.segments`, never stored.
"""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Iterable

from ...errors import QueryError

#: OpenSearch alias prefix: installations use ``reko-frames-<id>``; Dashboards use ``reko-frames*``.
DEFAULT_INDEX_NAME = "reko-frames"
MAX_QUERY_CHARS = 500  #: longer queries (after NFKC) are rejected (QueryError), not truncated
MAX_QUERY_TERMS = 32  #: more terms are rejected: each is a clause (OpenSearch caps clauses at 1024)


@dataclass(frozen=True)
class SearchQuery:
    """What to look for. ``text`` is user text (terms ANDed; ``"quoted phrases"`` kept whole);
    filters narrow the frames; at least one of text or a filter is required."""

    text: str = ""
    video_ids: tuple[str, ...] = ()
    person_ids: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    limit_frames: int = 10_000
    #: frames whose ``unsafe_confidence`` is at or above this are excluded; None keeps all
    max_unsafe_confidence: float | None = None

    def terms(self) -> list[str]:
        """The normalised search terms of ``text`` (see :func:`parse_terms`)."""
        return parse_terms(self.text)

    def check(self) -> None:
        """Raise QueryError when there is nothing to search for, or the text is too long or has
        too many terms. Lengths are measured after NFKC normalisation, which can expand a single
        character into many (U+FDFA becomes 18 characters and 4 words)."""
        if len(self.text) > MAX_QUERY_CHARS or len(normalize_text(self.text)) > MAX_QUERY_CHARS:
            raise QueryError(f"the query is too long; use at most {MAX_QUERY_CHARS} characters")
        terms = self.terms()
        if len(terms) > MAX_QUERY_TERMS:
            raise QueryError(f"the query has {len(terms)} words; use at most {MAX_QUERY_TERMS}")
        if not terms and not (self.person_ids or self.labels or self.video_ids):
            raise QueryError("the query is empty: type some words, or choose a person or label")


@dataclass
class FrameHit:
    """One matching frame document and its relevance ``score`` (higher is better)."""

    doc: dict[str, Any]
    score: float


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
    def index_frames(self, docs: Iterable[dict[str, Any]]) -> int:
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
