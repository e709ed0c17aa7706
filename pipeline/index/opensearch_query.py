"""The OpenSearch query builder: :class:`SearchQuery` → request bodies. Pure: no client.

Same search semantics as the embedded SQLite backend (:mod:`.sqlite`, the reference), which
the contract suite ``tests/test_search_contract.py`` checks for both:

* every term of :meth:`SearchQuery.terms` (NFKC-normalised, ``"quoted phrases"`` whole) must be
  a case-insensitive *substring* of the frame's normalised text, terms ANDed. Terms of three or
  more characters are ``match_phrase`` queries on a trigram field (consecutive trigrams == the
  substring, exactly what SQLite's FTS5 ``trigram`` tokenizer does); one- and two-character
  terms (common in Korean: 서울, 뉴스) are single-token queries on a 1-gram/2-gram field (SQLite
  uses ``LIKE`` for them). Queries are built only from structured clauses (``bool`` /
  ``match_phrase`` / ``terms``); user text never reaches ``query_string``, so no character acts
  as an operator and hostile queries match literally.
* relevance is BM25 over the trigram phrases (SQLite: ``bm25()`` over trigrams); ties, and
  filter-only queries (score 1.0), are ordered by ``video_id`` then ``frame_ms``
  (:data:`HIT_SORT`).
* ``total_frames`` is exact (``track_total_hits``); facets count matching frames per exact
  label name / person id (terms aggregations, :func:`.opensearch_schema.facet_aggs`).
"""

from __future__ import annotations

from typing import Any

from .base import SearchQuery
from .opensearch_schema import facet_aggs

#: Order of search hits: best score first, ties by video then frame time.
HIT_SORT: list[dict[str, str]] = [{"_score": "desc"}, {"video_id": "asc"}, {"frame_ms": "asc"}]


def build_query(query: SearchQuery) -> dict[str, Any]:
    """The ``query`` clause for ``query`` (already checked): see the module docstring.

    ≥ 3-character terms → scored ``match_phrase`` on ``search_text`` (trigrams); shorter terms
    → ``match_phrase`` on ``search_text.bi`` / ``.uni`` in filter context; ``video_ids`` →
    ``terms`` on ``video_id``; ``person_ids``/``labels`` → ``terms`` on the lowercase-normalised
    keyword fields (any of the values matches; the filters are ANDed);
    ``max_unsafe_confidence`` → ``unsafe_confidence`` below it, or the field missing (a document
    without it counts as safe). Without text terms ``must`` is ``match_all`` (every hit scores 1).
    """
    must: list[dict[str, Any]] = []
    filters: list[dict[str, Any]] = []
    for term in query.terms():
        if len(term) >= 3:
            must.append({"match_phrase": {"search_text": {"query": term}}})
        else:
            field = "search_text.bi" if len(term) == 2 else "search_text.uni"
            filters.append({"match_phrase": {field: {"query": term}}})
    if query.video_ids:
        filters.append({"terms": {"video_id": list(query.video_ids)}})
    if query.person_ids:
        filters.append({"terms": {"person_ids": [p.lower() for p in query.person_ids]}})
    if query.labels:
        filters.append({"terms": {"label_names": [label.lower() for label in query.labels]}})
    if query.max_unsafe_confidence is not None:  # documents without the field count as safe
        filters.append({"bool": {"should": [
            {"range": {"unsafe_confidence": {"lt": float(query.max_unsafe_confidence)}}},
            {"bool": {"must_not": {"exists": {"field": "unsafe_confidence"}}}}],
            "minimum_should_match": 1}})
    return {"bool": {"must": must or [{"match_all": {}}], "filter": filters}}


def hits_body(clause: dict[str, Any], size: int) -> dict[str, Any]:
    """The search body for the first ``size`` hits of the query ``clause`` in :data:`HIT_SORT`
    order, scores kept (``track_scores``), without exact counting (``track_total_hits`` off, so
    scored text queries may skip non-competitive blocks). The whole ``_source`` is returned:
    server-side source filtering would re-parse and re-serialise every returned document."""
    return {"query": clause, "sort": [dict(key) for key in HIT_SORT], "track_scores": True,
            "track_total_hits": False, "size": size}


def facets_body(clause: dict[str, Any]) -> dict[str, Any]:
    """The ``size: 0`` search body for the exact total (``track_total_hits``) and the facets
    (:func:`.opensearch_schema.facet_aggs`) of the query ``clause``."""
    return {"query": clause, "size": 0, "track_total_hits": True, "aggs": facet_aggs()}


def scan_body(clause: dict[str, Any], sort: list[dict[str, Any]], size: int,
              source: bool = True, after: list[Any] | None = None) -> dict[str, Any]:
    """One page of a ``search_after`` scan: ``size`` hits of ``clause`` in ``sort`` order (which
    must be unique per document), after the sort values ``after`` of the previous page's last
    hit (``None`` for the first page); ``source`` False leaves out ``_source``."""
    body: dict[str, Any] = {"query": clause, "sort": sort, "size": size,
                            "track_total_hits": False, "_source": source}
    if after is not None:
        body["search_after"] = after
    return body
