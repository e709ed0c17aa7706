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
              source: bool | list[str] = True, after: list[Any] | None = None) -> dict[str, Any]:
    """One page of a ``search_after`` scan: ``size`` hits of ``clause`` in ``sort`` order (which
    must be unique per document), after the sort values ``after`` of the previous page's last
    hit (``None`` for the first page); ``source`` False leaves out ``_source``, a list of
    field names keeps only those."""
    body: dict[str, Any] = {"query": clause, "sort": sort, "size": size,
                            "track_total_hits": False, "_source": source}
    if after is not None:
        body["search_after"] = after
    return body


# -- moments (issue 15): semantics in base.py, the shared join in moments.py ----------------

#: leaf clauses of window filters per request: OpenSearch rejects a query of more than
#: ``indices.query.bool.max_clause_count`` (1024 by default) leaves (Lucene counts every leaf
#: of the rewritten tree); the clause's own leaves (terms, filters) need room too
MAX_WINDOW_LEAVES = 900
#: leaves one ``range`` on a numeric field costs: OpenSearch runs it as Lucene's
#: ``IndexOrDocValuesQuery`` (a points query and a doc-values query, both counted)
RANGE_LEAVES = 2
#: the sort of a span scan: unique per document by its first two keys (so ``search_after``
#: pages never skip or repeat); the last two only carry the span, so the hit needs no fetch
SPAN_SORT: list[dict[str, str]] = [{"video_id": "asc"}, {"frame_ms": "asc"}, {"start_ms": "asc"},
                                   {"end_ms": "asc"}]


#: Painless (``lang-painless``, in every OpenSearch distribution and on Amazon OpenSearch
#: Service) for :func:`near_windows_body`'s ``scripted_metric``: per frame, its span widened by
#: ``params.within_ms`` (clamped at 0). Frames of a video mostly arrive in time order (indexed
#: so, and Lucene keeps a segment's order), so each video's current window grows in place and is
#: emitted when a frame starts past it; an out-of-order frame is emitted alone. ``state.out`` is
#: a flat list ``[video_id, lo_ms, hi_ms, ...]``: possibly overlapping windows, merged by the
#: client (:func:`.moments.merge_windows`). No loop runs per frame (Painless caps the loop
#: iterations of one script execution at 1,000,000).
WINDOWS_MAP_SCRIPT = """
String v = doc['video_id'].value;
long lo = doc['start_ms'].value - params.within_ms;
if (lo < 0) { lo = 0; }
long hi = doc['end_ms'].value + params.within_ms;
long[] cur = state.cur.get(v);
if (cur == null) { state.cur.put(v, new long[] {lo, hi}); }
else if (lo >= cur[0] && lo <= cur[1]) { if (hi > cur[1]) { cur[1] = hi; } }
else if (lo > cur[1]) { state.out.add(v); state.out.add(cur[0]); state.out.add(cur[1]); cur[0] = lo; cur[1] = hi; }
else { state.out.add(v); state.out.add(lo); state.out.add(hi); }
"""
WINDOWS_COMBINE_SCRIPT = """
for (def entry : state.cur.entrySet()) {
  state.out.add(entry.getKey()); state.out.add(entry.getValue()[0]); state.out.add(entry.getValue()[1]);
}
return state.out;
"""
#: Painless for :func:`within_filter`: does the frame's span ``[start_ms, end_ms]`` intersect
#: one of its video's windows (``params.windows[video_id]`` = ``[lo0, hi0, lo1, hi1, ...]``,
#: sorted, disjoint)? A binary search for the last window starting at or before ``end_ms``.
WITHIN_FILTER_SCRIPT = """
def w = params.windows.get(doc['video_id'].value);
if (w == null) { return false; }
long s = doc['start_ms'].value;
long e = doc['end_ms'].value;
int a = 0; int b = w.size() / 2 - 1; int found = -1;
while (a <= b) {
  int m = (a + b) >>> 1;
  if (w.get(2 * m) <= e) { found = m; a = m + 1; } else { b = m - 1; }
}
return found >= 0 && w.get(2 * found + 1) >= s;
"""


def near_windows_body(clause: dict[str, Any], within_ms: int) -> dict[str, Any]:
    """A ``size: 0`` body whose ``aggregations.windows.value`` is a list (one per shard) of flat
    ``[video_id, lo_ms, hi_ms, ...]`` lists: every frame matching ``clause`` widened by
    ``within_ms`` on both sides (``scripted_metric``, :data:`WINDOWS_MAP_SCRIPT`). A frame is
    within ``within_ms`` of one of those frames exactly when its span intersects one of these
    windows. Only windows leave the server, not the frames: a clause of 600,000 frames
    (the label ``Person`` at 1M documents) comes back as ≈ 17,000 windows."""
    return {"query": clause, "size": 0, "track_total_hits": False, "aggs": {"windows": {"scripted_metric": {
        "params": {"within_ms": int(within_ms)},
        "init_script": "state.cur = new HashMap(); state.out = new ArrayList();",
        "map_script": WINDOWS_MAP_SCRIPT, "combine_script": WINDOWS_COMBINE_SCRIPT,
        "reduce_script": "return states;"}}}}


def within_filter(windows: dict[str, list[tuple[int, int]]]) -> dict[str, Any]:
    """A filter for the frames whose span intersects one of ``windows`` (``{video_id: [(lo_ms,
    hi_ms), ...]}``, sorted and disjoint per video, as :func:`.moments.merge_windows` returns
    them): a ``script`` query (:data:`WITHIN_FILTER_SCRIPT`) checking the span exactly, run on
    the frames the rest of the query matches. Filter context: scores are unchanged. (A
    ``terms`` on ``video_id`` in front of it was measured to cost as much as the script.)"""
    flat = {video_id: [bound for lo, hi in spans for bound in (lo, hi)] for video_id, spans in windows.items()}
    return {"script": {"script": {"lang": "painless", "source": WITHIN_FILTER_SCRIPT, "params": {"windows": flat}}}}


#: Painless ``map_script`` of :func:`witnesses_body`: for the clause frame being mapped, every
#: hit of its video within ``params.within_ms`` (``params.hits[video_id]`` = ``[start0, end0,
#: start1, end1, ...]`` sorted by start; ``params.longest[video_id]`` the longest hit span, so
#: no hit starting earlier can reach the frame) keeps the frame when it is nearer than the one
#: it holds: smallest gap, then earliest ``start_ms``, then ``frame_ms`` (base.py's witness).
#: ``state.best[video_id]`` is ``[gap, start_ms, frame_ms, end_ms]`` per hit, in hit order
#: (gap -1: none yet).
WITNESSES_MAP_SCRIPT = """
String v = doc['video_id'].value;
def hs = params.hits.get(v);
if (hs == null) { return; }
int n = hs.size() / 2;
long[] best = state.best.get(v);
if (best == null) { best = new long[4 * n]; for (int i = 0; i < n; i++) { best[4 * i] = -1; } state.best.put(v, best); }
long gs = doc['start_ms'].value; long ge = doc['end_ms'].value; long gf = doc['frame_ms'].value;
long r = params.within_ms;
long first = gs - r - ((Number) params.longest.get(v)).longValue();
int a = 0; int b = n;
while (a < b) { int m = (a + b) >>> 1; if (((Number) hs.get(2 * m)).longValue() < first) { a = m + 1; } else { b = m; } }
for (int k = a; k < n; k++) {
  long s = ((Number) hs.get(2 * k)).longValue();
  if (s > ge + r) { break; }
  long e = ((Number) hs.get(2 * k + 1)).longValue();
  if (e < gs - r) { continue; }
  long gap = gs - e; if (s - ge > gap) { gap = s - ge; } if (gap < 0) { gap = 0; }
  int i = 4 * k;
  if (best[i] < 0 || gap < best[i] || (gap == best[i] && (gs < best[i + 1] || (gs == best[i + 1] && gf < best[i + 2])))) {
    best[i] = gap; best[i + 1] = gs; best[i + 2] = gf; best[i + 3] = ge;
  }
}
"""


def witnesses_body(clause: dict[str, Any], hits: dict[str, list[tuple[int, int]]], within_ms: int) -> dict[str, Any]:
    """A ``size: 0`` body whose ``aggregations.witnesses.value`` is a list (one per shard) of
    ``{video_id: [gap, start_ms, frame_ms, end_ms, ...]}``: four numbers per hit of ``hits``
    (``{video_id: [(start_ms, end_ms), ...]}`` sorted by start), in that order, for the frame
    matching ``clause`` nearest to it within ``within_ms`` (gap -1: none;
    :data:`WITNESSES_MAP_SCRIPT`). Only those leave the server, not every frame of the clause
    near the hits."""
    flat = {v: [bound for span in spans for bound in span] for v, spans in hits.items()}
    longest = {v: max(e - s for s, e in spans) for v, spans in hits.items()}
    return {"query": clause, "size": 0, "track_total_hits": False, "aggs": {"witnesses": {"scripted_metric": {
        "params": {"within_ms": int(within_ms), "hits": flat, "longest": longest},
        "init_script": "state.best = new HashMap();",
        "map_script": WITNESSES_MAP_SCRIPT, "combine_script": "return state.best;",
        "reduce_script": "return states;"}}}}


def count_body(clause: dict[str, Any], cap: int) -> dict[str, Any]:
    """A ``size: 0`` body counting the matches of ``clause`` exactly up to ``cap``
    (``track_total_hits: cap``; ``hits.total.relation`` is ``gte`` beyond it)."""
    return {"query": clause, "size": 0, "track_total_hits": cap}


def max_span_body() -> dict[str, Any]:
    """A ``size: 0`` body for the longest frame span in the index: ``max`` of ``duration_ms``
    (``end_ms - start_ms``, stored with every document) in ``aggregations.max_span.value``."""
    return {"query": {"match_all": {}}, "size": 0, "track_total_hits": False,
            "aggs": {"max_span": {"max": {"field": "duration_ms"}}}}


def spans_body(clause: dict[str, Any], size: int, after: list[Any] | None = None) -> dict[str, Any]:
    """One page of the spans of the frames matching ``clause``, after the sort values
    ``after`` of the previous page: each hit's ``sort`` is ``[video_id, frame_ms, start_ms,
    end_ms]`` (:data:`SPAN_SORT`, from doc values), and nothing else is loaded (no
    ``_source``, no stored fields, not even ``_id``: measured 4× faster than doc-value
    fields at 1,000 hits)."""
    body: dict[str, Any] = {"query": clause, "size": size, "sort": [dict(s) for s in SPAN_SORT],
                            "_source": False, "stored_fields": "_none_", "track_total_hits": False}
    if after is not None:
        body["search_after"] = after
    return body


def first_spans_body(clause: dict[str, Any], size: int) -> dict[str, Any]:
    """The spans of the first ``size`` frames matching ``clause`` in index order (``_doc``:
    collection stops after ``size`` hits, however many match), as doc-value ``fields``
    (``video_id``, ``frame_ms``, ``start_ms``, ``end_ms``); no ``_source``, no stored fields.
    Complete when the clause has at most ``size`` matches; not for paging."""
    return {"query": clause, "size": size, "sort": ["_doc"], "_source": False, "stored_fields": "_none_",
            "docvalue_fields": ["video_id", "frame_ms", "start_ms", "end_ms"], "track_total_hits": False}


def window_filters(windows: dict[str, list[tuple[int, int]]], max_span_ms: int,
                   max_leaves: int = MAX_WINDOW_LEAVES) -> list[dict[str, Any]]:
    """Filters for the frames whose span may intersect one of ``windows`` (``{video_id:
    [(lo_ms, hi_ms), ...]}``), split so that none has more than ``max_leaves`` leaf clauses as
    Lucene counts them (a ``term`` 1, a ``range`` :data:`RANGE_LEAVES`):
    per video a ``term`` on ``video_id`` and one ``range`` on ``start_ms`` per window, ``lo -
    max_span_ms .. hi`` (a frame that intersects ``[lo, hi]`` starts there, since no frame is
    longer than ``max_span_ms``; the exact distance is checked afterwards). Each filter is a
    ``bool`` ``should`` of such per-video clauses; ANDed with a clause it is one request."""
    filters: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    leaves = 0
    per_part = (max_leaves - 1) // RANGE_LEAVES
    for video_id in sorted(windows):
        spans = windows[video_id]
        for i in range(0, len(spans), per_part):
            part = spans[i:i + per_part]
            cost = 1 + RANGE_LEAVES * len(part)
            if current and leaves + cost > max_leaves:
                filters.append({"bool": {"should": current, "minimum_should_match": 1}})
                current, leaves = [], 0
            current.append({"bool": {"filter": [{"term": {"video_id": video_id}}], "should": [
                {"range": {"start_ms": {"gte": lo - max_span_ms, "lte": hi}}} for lo, hi in part],
                "minimum_should_match": 1}})
            leaves += cost
    if current:
        filters.append({"bool": {"should": current, "minimum_should_match": 1}})
    return filters


MAX_TERMS_PER_CLAUSE = 65_536  #: OpenSearch's ``index.max_terms_count`` default


def bucket_filters(windows: dict[str, list[tuple[int, int]]]) -> list[dict[str, Any]]:
    """Filters for the frames whose span intersects one of ``windows``, on an index with
    ``moment_buckets`` (:func:`.opensearch_schema.bucket_keys`): one ``terms`` clause of the
    windows' bucket keys per :data:`MAX_TERMS_PER_CLAUSE` keys (a frame that intersects a
    window shares a bucket with it; the buckets may also admit frames up to one bucket away,
    which the exact join discards). Each filter is one request's worth."""
    from .opensearch_schema import bucket_keys

    keys = sorted({key for video_id, spans in windows.items() for lo, hi in spans
                   for key in bucket_keys(video_id, lo, hi)})
    return [{"terms": {"moment_buckets": keys[i:i + MAX_TERMS_PER_CLAUSE]}}
            for i in range(0, len(keys), MAX_TERMS_PER_CLAUSE)]


def restrict(clause: dict[str, Any], *filters: dict[str, Any]) -> dict[str, Any]:
    """``clause`` (a :func:`build_query` ``bool``) with ``filters`` added to its filter
    context: same scores, fewer matches."""
    inner = clause["bool"]
    return {"bool": {**inner, "filter": [*inner.get("filter", []), *filters]}}
