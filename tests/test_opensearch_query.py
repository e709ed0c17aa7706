"""Table tests of the pure OpenSearch query builder (:mod:`reko.pipeline.index.opensearch_query`):
SearchQuery → the exact clauses sent, no server needed. What the clauses match on a real
server is the contract suite's job (``tests/test_search_contract.py``)."""

from __future__ import annotations

import json

import pytest

from reko.pipeline.index import SearchQuery
from reko.pipeline.index import opensearch_query as q


def tri(term: str) -> dict:
    """A scored substring clause: ``match_phrase`` on the trigram field."""
    return {"match_phrase": {"search_text": {"query": term}}}


def bi(term: str) -> dict:
    return {"match_phrase": {"search_text.bi": {"query": term}}}


def uni(term: str) -> dict:
    return {"match_phrase": {"search_text.uni": {"query": term}}}


def terms(field: str, values: list[str]) -> dict:
    return {"terms": {field: values}}


def safe_below(confidence: float) -> dict:
    return {"bool": {"should": [
        {"range": {"unsafe_confidence": {"lt": confidence}}},
        {"bool": {"must_not": {"exists": {"field": "unsafe_confidence"}}}}],
        "minimum_should_match": 1}}


MATCH_ALL = [{"match_all": {}}]

ROWS = [
    # id, query, expected must (scored), expected filter
    ("Latin word of 3+ characters: trigram phrase, kept as typed (the analyzer lowercases)",
     SearchQuery("Taxi"), [tri("Taxi")], []),
    ("Korean word of 3+ characters: trigram phrase", SearchQuery("교통정보"), [tri("교통정보")], []),
    ("two-character Korean word: bigram field, filter context", SearchQuery("서울"), MATCH_ALL, [bi("서울")]),
    ("one character: unigram field", SearchQuery("뉴"), MATCH_ALL, [uni("뉴")]),
    ("mixed lengths are ANDed: scored trigrams, short terms as filters in order",
     SearchQuery("서울 자전거 9 TAXI"), [tri("자전거"), tri("TAXI")], [bi("서울"), uni("9")]),
    ("quoted phrase stays whole, with its space", SearchQuery('"도심 자전거" 행렬'),
     [tri("도심 자전거")], [bi("행렬")]),
    ("quoted short phrase counts its space: 'a b' is a trigram phrase", SearchQuery('"a b"'),
     [tri("a b")], []),
    ("an unbalanced quote is a plain separator", SearchQuery('say "hi'), [tri("say")], [bi("hi")]),
    ("full-width text is NFKC-normalised", SearchQuery("ＴＡＸＩ"), [tri("TAXI")], []),
    ("whitespace inside a phrase collapses", SearchQuery('"서울   도심"'), [tri("서울 도심")], []),
    ("control characters split terms", SearchQuery("TA\x00XI"), MATCH_ALL, [bi("TA"), bi("XI")]),
    ("operators are literal text", SearchQuery("text:TAXI OR *"),
     [tri("text:TAXI")], [bi("OR"), uni("*")]),
    ("video filter keeps the ids as given", SearchQuery(video_ids=("v1", "V2")),
     MATCH_ALL, [terms("video_id", ["v1", "V2"])]),
    ("person filter is lowercased (keyword normalizer)", SearchQuery(person_ids=("P-Abc",)),
     MATCH_ALL, [terms("person_ids", ["p-abc"])]),
    ("label filter is lowercased, any of the labels", SearchQuery(labels=("Car", "PERSON")),
     MATCH_ALL, [terms("label_names", ["car", "person"])]),
    ("unsafe frames hidden: below the confidence, or no moderation field",
     SearchQuery("TAXI", max_unsafe_confidence=80), [tri("TAXI")], [safe_below(80.0)]),
    ("unsafe confidence 0 still keeps frames without the field",
     SearchQuery(labels=("car",), max_unsafe_confidence=0), MATCH_ALL,
     [terms("label_names", ["car"]), safe_below(0.0)]),
    ("every filter together, in a fixed order: text, video, person, label, unsafe",
     SearchQuery("서울 뉴스 방송국", video_ids=("v2",), person_ids=("P1",), labels=("Car",),
                 max_unsafe_confidence=50.5),
     [tri("방송국")],
     [bi("서울"), bi("뉴스"), terms("video_id", ["v2"]), terms("person_ids", ["p1"]),
      terms("label_names", ["car"]), safe_below(50.5)]),
]


@pytest.mark.parametrize("query,must,filters", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_build_query(query, must, filters):
    clause = q.build_query(query)
    assert clause == {"bool": {"must": must, "filter": filters}}
    assert "query_string" not in json.dumps(clause)


def test_hits_body_sorts_by_score_then_video_then_frame_without_exact_count():
    clause = q.build_query(SearchQuery("TAXI"))
    body = q.hits_body(clause, 25)
    assert body == {"query": clause, "size": 25, "track_scores": True, "track_total_hits": False,
                    "sort": [{"_score": "desc"}, {"video_id": "asc"}, {"frame_ms": "asc"}]}
    body["sort"].append({"x": "asc"})  # a caller's change does not leak into the next body
    assert q.hits_body(clause, 1)["sort"] == q.HIT_SORT and len(q.HIT_SORT) == 3


def test_facets_body_counts_exactly_and_aggregates_the_raw_spellings():
    clause = q.build_query(SearchQuery(labels=("car",)))
    body = q.facets_body(clause)
    assert body["query"] == clause and body["size"] == 0 and body["track_total_hits"] is True
    order = [{"_count": "desc"}, {"_key": "asc"}]
    assert body["aggs"] == {
        "label_names": {"terms": {"field": "label_names.raw", "size": 50, "order": order}},
        "person_ids": {"terms": {"field": "person_ids.raw", "size": 50, "order": order}}}


def test_scan_body_pages_with_search_after():
    first = q.scan_body({"term": {"video_id": "v1"}}, [{"frame_ms": "asc"}], 100, source=False)
    assert first == {"query": {"term": {"video_id": "v1"}}, "sort": [{"frame_ms": "asc"}],
                     "size": 100, "track_total_hits": False, "_source": False}
    nxt = q.scan_body({"match_all": {}}, [{"frame_ms": "asc"}], 7, after=[42_000])
    assert nxt["search_after"] == [42_000] and nxt["_source"] is True and nxt["size"] == 7


# -- moments (issue 15) ---------------------------------------------------------------------

def leaves(clause) -> int:
    """Leaf clauses of a query, as OpenSearch counts them against max_clause_count."""
    if isinstance(clause, list):
        return sum(leaves(c) for c in clause)
    (kind, body), = clause.items()
    if kind == "bool":
        return sum(leaves(body.get(part, [])) for part in ("must", "filter", "should", "must_not"))
    return q.RANGE_LEAVES if kind == "range" else 1  # a numeric range is points + doc values


def test_window_filters_stay_under_the_clause_limit_and_cover_every_window():
    windows = {f"v{v:03d}": [(t * 10_000, t * 10_000 + 3000) for t in range(v % 7 + 1)] for v in range(400)}
    windows["big"] = [(t * 10_000, t * 10_000 + 3000) for t in range(2500)]  # one video, many windows
    filters = q.window_filters(windows, max_span_ms=4000, max_leaves=900)
    assert all(leaves(f) <= 900 for f in filters)
    covered = {}
    for f in filters:
        for per_video in f["bool"]["should"]:
            video = per_video["bool"]["filter"][0]["term"]["video_id"]
            for r in per_video["bool"]["should"]:
                covered.setdefault(video, []).append((r["range"]["start_ms"]["gte"] + 4000, r["range"]["start_ms"]["lte"]))
    assert {v: sorted(w) for v, w in covered.items()} == windows
    total = sum(1 + 2 * len(w) for w in windows.values()) + 5  # the big video is split in parts
    assert len(filters) <= -(-total // 900) + 1  # packed: at most one request more than the minimum


def test_a_window_filter_is_a_range_on_the_start_widened_by_the_longest_span():
    (f,) = q.window_filters({"v1": [(5000, 9000)]}, max_span_ms=60_000)
    assert f == {"bool": {"should": [{"bool": {"filter": [{"term": {"video_id": "v1"}}], "should": [
        {"range": {"start_ms": {"gte": -55_000, "lte": 9000}}}], "minimum_should_match": 1}}],
        "minimum_should_match": 1}}


def test_spans_body_reads_doc_values_only_in_a_unique_order():
    body = q.spans_body({"match_all": {}}, 10_000, after=["v1", 5000, 5000, 6000])
    assert body["_source"] is False and body["stored_fields"] == "_none_"
    assert body["sort"] == [{"video_id": "asc"}, {"frame_ms": "asc"}, {"start_ms": "asc"}, {"end_ms": "asc"}]
    assert body["search_after"] == ["v1", 5000, 5000, 6000]
    assert body["track_total_hits"] is False


def test_restrict_adds_filters_and_keeps_the_scored_part():
    clause = q.build_query(SearchQuery("교통정보 서울", labels=("Car",)))
    restricted = q.restrict(clause, {"ids": {"values": ["v1:0"]}})
    assert restricted["bool"]["must"] == clause["bool"]["must"]
    assert restricted["bool"]["filter"] == [*clause["bool"]["filter"], {"ids": {"values": ["v1:0"]}}]
    assert clause["bool"]["filter"] == [bi("서울"), terms("label_names", ["car"])]  # not modified


def test_bucket_filters_cover_every_window_with_one_terms_clause():
    from reko.pipeline.index.opensearch_schema import MOMENT_BUCKET_MS, bucket_keys, to_source

    assert MOMENT_BUCKET_MS == 10_000
    assert bucket_keys("v1", 9_500, 20_000) == ["v1:0", "v1:1", "v1:2"]  # closed span: 20 000 is in bucket 2
    (f,) = q.bucket_filters({"v1": [(0, 4000), (25_000, 31_000)], "v2": [(5000, 5000)]})
    assert f == {"terms": {"moment_buckets": ["v1:0", "v1:2", "v1:3", "v2:0"]}}
    source = to_source({"video_id": "v1", "frame_ms": 80_000, "start_ms": 80_000, "end_ms": 140_000, "text_lines": []})
    assert source["moment_buckets"] == [f"v1:{k}" for k in range(8, 15)]  # a long static shot
    many = {f"v{i}": [(0, 10 * MOMENT_BUCKET_MS)] for i in range(7000)}  # 77,000 keys
    assert [len(f["terms"]["moment_buckets"]) for f in q.bucket_filters(many)] == [65_536, 77_000 - 65_536]


def test_moment_windows_and_the_within_filter():
    """Windows are computed on the server (Painless scripted_metric) and checked there; the
    client merges them into sorted disjoint windows and sends them back as script params."""
    from reko.pipeline.index.moments import merge_windows

    body = q.near_windows_body({"match_all": {}}, 5000)
    metric = body["aggs"]["windows"]["scripted_metric"]
    assert body["size"] == 0 and metric["params"] == {"within_ms": 5000}
    assert "for" not in metric["map_script"] and "while" not in metric["map_script"]  # no per-frame loop
    merged = merge_windows([("v1", 9000, 12000), ("v2", 0, 10), ("v1", 0, 3000), ("v1", 3000, 4000), ("v1", 2000, 2500)])
    assert merged == {"v1": [(0, 4000), (9000, 12000)], "v2": [(0, 10)]}
    f = q.within_filter(merged)
    assert f["script"]["script"]["params"] == {"windows": {"v1": [0, 4000, 9000, 12000], "v2": [0, 10]}}


def test_moment_query_without_painless_says_what_is_missing(monkeypatch):
    from reko.errors import IndexBackendError
    from reko.pipeline.index.base import NearClause
    from reko.pipeline.index.opensearch import OpenSearchIndex

    index = OpenSearchIndex("http://127.0.0.1:1", index_name="reko-no-painless")
    monkeypatch.setattr(index, "ensure_index", lambda: None)
    index._metas = [{}]  # an index without near fields (opensearch_near): moments need Painless

    def msearch(bodies):
        raise IndexBackendError("the search index (OpenSearch) failed to search", detail=(
            "x: RuntimeError: {'type': 'illegal_argument_exception', 'reason': 'script_lang not supported [painless]'}"))

    monkeypatch.setattr(index, "_msearch", msearch)
    with pytest.raises(IndexBackendError, match="lang-painless"):
        index.search(SearchQuery("국회", near=(NearClause(person_ids=("p1",)),), within_ms=5000))


def test_first_spans_stop_early_and_read_doc_values():
    body = q.first_spans_body({"match_all": {}}, 500)
    assert body["sort"] == ["_doc"] and body["size"] == 500 and body["track_total_hits"] is False
    assert body["docvalue_fields"] == ["video_id", "frame_ms", "start_ms", "end_ms"] and body["_source"] is False


# -- near fields (opensearch_near.py): pure parts -------------------------------------------

def near_doc(frame_ms, end_ms, persons=(), labels=(), unsafe=0.0, video_id="v"):
    return {"video_id": video_id, "frame_ms": frame_ms, "start_ms": frame_ms, "end_ms": end_ms,
            "person_ids": list(persons), "label_names": list(labels), "unsafe_confidence": unsafe}


def test_near_fields_gather_the_frames_within_each_radius_by_their_spans():
    from reko.pipeline.index.opensearch_near import near_fields

    docs = [near_doc(0, 1000, persons=["pa"]),
            near_doc(6000, 7000, labels=["Car"], unsafe=90.0),  # gap 5000 to the first frame
            near_doc(7000, 60_000, persons=["pb"]),  # a long frame: 20 s from the last one by its span
            near_doc(80_000, 81_000, labels=["Dog"])]
    fields = near_fields(docs)
    assert fields[0]["near_5000_person_ids"] == ["pa"] and fields[0]["near_5000_label_names"] == ["Car"]
    assert fields[0]["near_5000_unsafe"] == 90.0
    assert fields[80_000]["near_5000_person_ids"] == [] and fields[80_000]["near_10000_person_ids"] == []
    assert fields[80_000]["near_30000_person_ids"] == ["pb"] and fields[80_000]["near_30000_unsafe"] == 0.0
    assert fields[7000]["near_5000_person_ids"] == ["pb"]  # a gap of 6000 to pa: 10 s reaches it
    assert fields[7000]["near_10000_person_ids"] == ["pa", "pb"]
    assert set(near_fields(docs, only={0})) == {0}
    with pytest.raises(ValueError, match="more than one video"):
        near_fields([near_doc(0, 1000), near_doc(0, 1000, video_id="w")])


def test_frames_a_write_affects_are_those_within_the_widest_radius():
    from reko.pipeline.index.opensearch_near import affected

    frames = [near_doc(0, 1000), near_doc(31_000, 32_000), near_doc(32_000, 100_000), near_doc(140_000, 141_000)]
    assert affected([(63_000, 64_000)], frames) == {32_000}  # inside the long frame, 31 s after the one before it
    assert affected([(0, 1000)], frames) == {0, 31_000}  # 30 s exactly; the long frame starts 31 s after
    assert affected([(135_000, 136_000), (0, 500)], frames) == {0, 140_000}  # 31.5 s and 35 s are too far


@pytest.mark.parametrize("persons,labels,text,radius,expected", [
    (("PA",), (), "", 5000, {"terms": {"near_5000_person_ids": ["pa"]}}),
    ((), ("Car", "Dog"), None, 30000, {"terms": {"near_30000_label_names": ["car", "dog"]}}),
    (("pa",), (), "", 7000, None),  # no fields for 7 s: the join
    (("pa",), (), "국회", 5000, None),  # text: the join
    (("pa",), ("Car",), "", 5000, None),  # a person and a label in one frame: the join
])
def test_near_filter_answers_only_what_the_fields_hold(persons, labels, text, radius, expected):
    from reko.pipeline.index.opensearch_near import near_filter

    assert near_filter(persons, labels, text, radius) == expected
