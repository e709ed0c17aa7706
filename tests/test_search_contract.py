"""The search contract every index backend must pass (parametrised over backends).

The ``opensearch`` parameter runs against the server at ``REKO_TEST_OPENSEARCH_URL`` (default
``http://127.0.0.1:9200``; start one with ``bash infra/opensearch/start.sh``), one fresh index
per test, dropped afterwards. Without a server the tests skip, except under CI (``CI`` set),
where they fail: CI must start the server.
"""

import os
import urllib.request
import uuid

import pytest

from reko.errors import QueryError
from reko.pipeline.index import SearchQuery, open_index
from reko.pipeline.segments import merge_segments

TEXTS = ["서울 도심 자전거 행렬", "서울 도심 자전거 행렬", "", "Morning traffic report",
         "실시간교통정보 안내", "TAXI", "REF-2024-KX7", "뉴스 9", "100% 할인_특가"]


def doc(video_id, i, text, persons=(), labels=()):
    return {"video_id": video_id, "frame_ms": i * 1000, "start_ms": i * 1000, "end_ms": i * 1000 + 1000,
            "frame_uri": f"frames/{video_id}/{i * 1000}.jpg", "width": 1280, "height": 720,
            "text": text, "text_lines": [{"text": t, "confidence": 95.0, "box": {}} for t in text.split("\n") if t],
            "labels": [], "label_names": list(labels), "faces": [], "person_ids": list(persons),
            "moderation": [], "analyzer": "local"}


OPENSEARCH_URL = os.environ.get("REKO_TEST_OPENSEARCH_URL", "http://127.0.0.1:9200")


def opensearch_or_skip(index_name: str):
    """An ``OpenSearchIndex`` on a fresh ``index_name`` at ``OPENSEARCH_URL``; skips (or fails
    under CI) when opensearch-py or the server is missing."""
    def unavailable(reason: str):
        if os.environ.get("CI"):
            pytest.fail(f"CI: {reason}. CI must start it: bash infra/opensearch/start.sh "
                        f"(and pip install 'reko[opensearch]')", pytrace=False)
        pytest.skip(f"{reason} (start one: bash infra/opensearch/start.sh)")

    try:
        from reko.pipeline.index.opensearch import OpenSearchIndex
    except ImportError as exc:
        unavailable(f"opensearch-py is not installed ({exc})")
    try:
        with urllib.request.urlopen(f"{OPENSEARCH_URL}/_cluster/health", timeout=5) as response:
            response.read()
    except OSError as exc:
        unavailable(f"no OpenSearch server at REKO_TEST_OPENSEARCH_URL={OPENSEARCH_URL} ({exc})")
    return OpenSearchIndex(OPENSEARCH_URL, index_name=index_name)


@pytest.fixture
def make_backend(request, tmp_path):
    """``make_backend(kind)`` → an empty backend of ``kind`` ("sqlite" | "opensearch"),
    closed (and for OpenSearch dropped) after the test."""
    made = []

    def make(kind: str):
        if kind == "sqlite":
            index = open_index(f"sqlite:///{tmp_path}/index-{len(made)}.db")
        else:
            index = opensearch_or_skip(f"reko-test-{uuid.uuid4().hex[:12]}")
        made.append(index)
        return index

    yield make
    for index in made:
        if hasattr(index, "drop"):
            index.drop()
        index.close()


@pytest.fixture(params=["sqlite", "opensearch"])
def backend(request, make_backend):
    index = make_backend(request.param)
    index.index_frames([doc("v1", i, t, persons=["p1"] if i < 2 else [], labels=["Car"] if i == 5 else [])
                        for i, t in enumerate(TEXTS)])
    index.index_frames([doc("v2", 0, "다른 영상의 서울 뉴스", persons=["p2"])])
    return index


def texts(result):
    return sorted({h.doc["text"] for h in result.hits})


def test_korean_substring_inside_unspaced_text(backend):
    assert texts(backend.search(SearchQuery("교통"))) == ["실시간교통정보 안내"]
    assert texts(backend.search(SearchQuery("교통정보"))) == ["실시간교통정보 안내"]


def test_two_syllable_korean_words_are_found(backend):
    assert texts(backend.search(SearchQuery("서울"))) == ["다른 영상의 서울 뉴스", "서울 도심 자전거 행렬"]
    assert backend.search(SearchQuery("서울")).total_frames == 3


def test_terms_are_anded_and_phrases_kept_whole(backend):
    assert texts(backend.search(SearchQuery("서울 자전거"))) == ["서울 도심 자전거 행렬"]
    assert texts(backend.search(SearchQuery('"도심 자전거"'))) == ["서울 도심 자전거 행렬"]
    assert backend.search(SearchQuery('"자전거 도심"')).total_frames == 0


def test_english_is_case_insensitive_and_codes_match_exactly(backend):
    assert texts(backend.search(SearchQuery("TRAFFIC report"))) == ["Morning traffic report"]
    assert texts(backend.search(SearchQuery("ref-2024-kx7"))) == ["REF-2024-KX7"]
    assert texts(backend.search(SearchQuery("9"))) == ["뉴스 9"]


def test_nfd_hangul_and_fullwidth_queries_are_normalised(backend):
    import unicodedata

    assert texts(backend.search(SearchQuery(unicodedata.normalize("NFD", "교통정보")))) == ["실시간교통정보 안내"]
    assert texts(backend.search(SearchQuery("ＴＡＸＩ"))) == ["TAXI"]


@pytest.mark.parametrize("hostile", ['"AND(', "'; DROP TABLE frames; --", "*", "NEAR(a b)", 'a"b"c"',
                                     "\\", "-TAXI", "TAXI OR 서울", "text:TAXI", "^T", "((("])
def test_hostile_queries_match_literally_and_never_raise(backend, hostile):
    result = backend.search(SearchQuery(hostile))
    assert result.total_frames == 0
    assert backend.stats() == {"frames": len(TEXTS) + 1, "videos": 2}  # nothing was dropped


def test_like_wildcards_are_literal(backend):
    assert texts(backend.search(SearchQuery("%"))) == ["100% 할인_특가"]
    assert texts(backend.search(SearchQuery("_"))) == ["100% 할인_특가"]


def test_empty_and_overlong_queries_give_a_clear_error(backend):
    for bad in ("", "   ", '""', "\x00\t"):
        with pytest.raises(QueryError, match="empty"):
            backend.search(SearchQuery(bad))
    with pytest.raises(QueryError, match="at most"):
        backend.search(SearchQuery("가" * 501))


def test_filters_by_video_person_and_label(backend):
    assert texts(backend.search(SearchQuery("서울", video_ids=("v2",)))) == ["다른 영상의 서울 뉴스"]
    assert backend.search(SearchQuery(person_ids=("p1",))).total_frames == 2
    assert texts(backend.search(SearchQuery("서울", person_ids=("p2",)))) == ["다른 영상의 서울 뉴스"]
    assert texts(backend.search(SearchQuery(labels=("car",)))) == ["TAXI"]


def test_reindexing_is_idempotent_and_delete_removes_a_video(backend):
    backend.index_frames([doc("v2", 0, "다른 영상의 서울 뉴스", persons=["p2"])])
    assert backend.stats() == {"frames": len(TEXTS) + 1, "videos": 2}
    backend.index_frames([doc("v2", 0, "바뀐 텍스트")])  # same key: replaced, old text gone
    assert backend.search(SearchQuery("다른 영상")).total_frames == 0
    assert backend.search(SearchQuery("바뀐")).total_frames == 1
    assert backend.delete_video("v1") == len(TEXTS)
    assert backend.stats() == {"frames": 1, "videos": 1}
    assert [d["frame_ms"] for d in backend.frames("v2")] == [0]


def test_hits_merge_into_segments(backend):
    result = backend.search(SearchQuery("서울 도심"))
    segments = merge_segments(result.hits, gap_ms=1500, pad_ms=0)
    assert [(s.video_id, s.start_ms, s.end_ms, s.hits) for s in segments] == [("v1", 0, 2000, 2)]


def test_facets_count_matching_frames_per_label_and_person(backend):
    assert backend.search(SearchQuery("서울")).facets == {
        "label_names": {}, "person_ids": {"p1": 2, "p2": 1}}
    assert backend.search(SearchQuery(labels=("car",))).facets == {
        "label_names": {"Car": 1}, "person_ids": {}}  # exact spelling, case-insensitive filter
    assert backend.search(SearchQuery(video_ids=("v1",))).facets == {
        "label_names": {"Car": 1}, "person_ids": {"p1": 2}}
    assert backend.search(SearchQuery("없는말")).facets == {"label_names": {}, "person_ids": {}}


def test_facets_are_ordered_by_count_then_name(backend):
    backend.index_frames([doc("v3", i, "facet order", persons=persons, labels=labels) for i, (persons, labels) in
                          enumerate([(["b"], ["Person", "Car"]), (["a", "b"], ["Person"]), (["a"], ["Tree"])])])
    facets = backend.search(SearchQuery("facet order")).facets
    assert list(facets["label_names"].items()) == [("Person", 2), ("Car", 1), ("Tree", 1)]
    assert list(facets["person_ids"].items()) == [("a", 2), ("b", 2)]


def test_scores_are_best_first_with_ties_by_video_and_frame(backend):
    result = backend.search(SearchQuery(person_ids=("p1", "p2")))
    assert [(h.doc["video_id"], h.doc["frame_ms"]) for h in result.hits] == [("v1", 0), ("v1", 1000), ("v2", 0)]
    scores = [h.score for h in backend.search(SearchQuery("서울")).hits]
    assert scores == sorted(scores, reverse=True)


def test_limit_frames_caps_hits_not_the_total(backend):
    result = backend.search(SearchQuery(video_ids=("v1",), limit_frames=3))
    assert len(result.hits) == 3 and result.total_frames == len(TEXTS)


def test_frames_flagged_unsafe_are_hidden_when_asked(backend):
    flagged = {**doc("v3", 0, "위험 장면 TAXI"), "unsafe_confidence": 97.5}
    safe = {**doc("v3", 1, "안전 장면 TAXI"), "unsafe_confidence": 0.0}
    backend.index_frames([flagged, safe])
    everything = backend.search(SearchQuery("장면"))
    hidden = backend.search(SearchQuery("장면", max_unsafe_confidence=80.0))
    assert everything.total_frames == 2
    assert [h.doc["frame_ms"] for h in hidden.hits] == [1000]
    # documents written before moderation existed (no field) count as safe
    assert backend.search(SearchQuery("TAXI", max_unsafe_confidence=80.0)).total_frames == 2


def test_facet_counts_over_the_whole_index(backend):
    counts = backend.facet_counts()
    assert counts["label_names"] == {"Car": 1}
    assert counts["person_ids"] == {"p1": 2, "p2": 1}


def test_two_character_terms_use_the_index_and_match_like_substrings(backend):
    backend.index_frames([doc("v4", 0, "오늘의뉴스속보"), doc("v4", 1, "뉴 스"), doc("v4", 2, "TV Tonight")])
    assert texts(backend.search(SearchQuery("뉴스", video_ids=("v4",)))) == ["오늘의뉴스속보"]
    assert texts(backend.search(SearchQuery("tv", video_ids=("v4",)))) == ["TV Tonight"]
    assert texts(backend.search(SearchQuery("스속 오늘"))) == ["오늘의뉴스속보"]


# -- moments across signals (issue 15): semantics in reko/pipeline/index/base.py -----------

def span_doc(video_id, frame_ms, end_ms, text="", persons=(), labels=(), unsafe=0.0):
    """A frame document covering [frame_ms, end_ms] (spans of any length, unlike doc())."""
    return {**doc(video_id, 0, text, persons, labels), "frame_ms": frame_ms, "start_ms": frame_ms,
            "end_ms": end_ms, "frame_uri": f"frames/{video_id}/{frame_ms}.jpg", "unsafe_confidence": unsafe}


@pytest.fixture(params=["sqlite", "opensearch"])
def timeline(request, make_backend):
    """Two videos with signals at known times (ms):

    m1: caption 국회 본회의 [10000,11000]; 김기자 (pk) [14000,15000] and [30000,31000];
        caption 속보 [40000,42000] with Car [41000,42000], Car again [50000,51000];
        persons pa+pb together [60000,61000], pa alone [70000,71000], pb [73500,74500];
        a long frame (a static shot) [80000,140000] with caption 정지화면 and pk at [145000,146000]
    m2: caption 국회 [0,1000] with nobody near; pk [20000,21000]
    """
    index = make_backend(request.param)
    index.index_frames([
        span_doc("m1", 10000, 11000, "국회 본회의"),
        span_doc("m1", 14000, 15000, persons=["pk"]),
        span_doc("m1", 30000, 31000, persons=["pk"]),
        span_doc("m1", 40000, 41000, "속보"),
        span_doc("m1", 41000, 42000, "속보", labels=["Car"]),
        span_doc("m1", 50000, 51000, labels=["Car"]),
        span_doc("m1", 60000, 61000, persons=["pa", "pb"]),
        span_doc("m1", 70000, 71000, persons=["pa"]),
        span_doc("m1", 73500, 74500, persons=["pb"]),
        span_doc("m1", 80000, 140000, "정지화면"),
        span_doc("m1", 145000, 146000, persons=["pk"]),
        span_doc("m2", 0, 1000, "국회"),
        span_doc("m2", 20000, 21000, persons=["pk"]),
    ])
    return index


def keys(result):
    return [(h.doc["video_id"], h.doc["frame_ms"]) for h in result.hits]


def near_person(*ids):
    from reko.pipeline.index.base import NearClause

    return (NearClause(person_ids=tuple(ids)),)


def test_moment_person_within_n_seconds_of_a_caption(timeline):
    # 국회 ends at 11000 in m1, pk starts at 14000: a gap of exactly 3000 ms
    assert keys(timeline.search(SearchQuery("국회", near=near_person("pk"), within_ms=3000))) == [("m1", 10000)]
    assert keys(timeline.search(SearchQuery("국회", near=near_person("pk"), within_ms=2999))) == []
    # m2's caption is 19 s from pk: only a wide window reaches it
    wide = timeline.search(SearchQuery("국회", near=near_person("pk"), within_ms=19000))
    assert sorted(keys(wide)) == [("m1", 10000), ("m2", 0)] and wide.total_frames == 2


def test_moment_hits_carry_the_nearest_witness_and_the_moment_span(timeline):
    result = timeline.search(SearchQuery("국회", video_ids=("m1",), near=near_person("pk"), within_ms=20000))
    (hit,) = result.hits
    (witness,) = hit.near
    # pk is at 14000 (gap 3000) and 30000 (gap 19000): the nearest one wins
    assert (witness.video_id, witness.frame_ms, witness.start_ms, witness.end_ms) == ("m1", 14000, 14000, 15000)
    assert hit.moment == (10000, 15000)
    segments = merge_segments(result.hits, gap_ms=1500, pad_ms=0)
    assert [(s.start_ms, s.end_ms) for s in segments] == [(10000, 15000)]


def test_moment_label_while_text_is_on_screen(timeline):
    # within 0: overlapping or touching spans; 속보 [40000,41000] touches Car [41000,42000]
    from reko.pipeline.index.base import NearClause

    result = timeline.search(SearchQuery("속보", near=(NearClause(labels=("car",)),), within_ms=0))
    assert keys(result) == [("m1", 40000), ("m1", 41000)]
    assert [h.near[0].frame_ms for h in result.hits] == [41000, 41000]
    # the same frame counts: label and text in one frame is a moment for any N
    assert keys(timeline.search(SearchQuery("속보", labels=("Car",), near=(NearClause(labels=("Car",)),)))) == [("m1", 41000)]


def test_moment_two_persons_together_or_apart(timeline):
    together = timeline.search(SearchQuery(person_ids=("pa",), near=near_person("pb")))
    assert keys(together) == [("m1", 60000)]  # 70000 is 2500 ms from pb at 73500
    apart = timeline.search(SearchQuery(person_ids=("pa",), near=near_person("pb"), within_ms=2500))
    assert keys(apart) == [("m1", 60000), ("m1", 70000)]
    assert apart.hits[1].near[0].frame_ms == 73500 and apart.hits[1].moment == (70000, 74500)


def test_moment_long_frames_are_measured_by_their_span(timeline):
    # the static shot [80000,140000] is 5000 ms from pk at 145000, although its frame_ms is 65 s away
    assert keys(timeline.search(SearchQuery("정지화면", near=near_person("pk"), within_ms=5000))) == [("m1", 80000)]
    # and from pk's side: the long frame is the witness
    from reko.pipeline.index.base import NearClause

    found = timeline.search(SearchQuery(person_ids=("pk",), near=(NearClause(text="정지화면"),), within_ms=5000))
    assert keys(found) == [("m1", 145000)] and found.hits[0].near[0].frame_ms == 80000


def test_moment_every_near_clause_must_hold(timeline):
    from reko.pipeline.index.base import NearClause

    both = (NearClause(person_ids=("pk",)), NearClause(labels=("Car",)))
    assert keys(timeline.search(SearchQuery("국회", near=both, within_ms=30000))) == [("m1", 10000)]
    assert keys(timeline.search(SearchQuery("국회", near=both, within_ms=5000))) == []  # Car is 29 s away


def test_moment_filters_apply_to_every_clause(timeline):
    timeline.index_frames([span_doc("m3", 0, 1000, "국회"), span_doc("m3", 1000, 2000, persons=["pk"], unsafe=99.0)])
    query = SearchQuery("국회", near=near_person("pk"), within_ms=0)
    assert keys(timeline.search(query)) == [("m3", 0)]
    assert keys(timeline.search(SearchQuery("국회", near=near_person("pk"), within_ms=0,
                                            max_unsafe_confidence=80.0))) == []  # the witness is hidden
    assert keys(timeline.search(SearchQuery("국회", video_ids=("m1",), near=near_person("pk"), within_ms=0))) == []


def test_moment_totals_facets_order_and_limit(timeline):
    from reko.pipeline.index.base import NearClause

    query = SearchQuery(person_ids=("pk", "pa", "pb"), near=(NearClause(person_ids=("pk", "pa", "pb")),), within_ms=100_000)
    result = timeline.search(query)
    assert result.total_frames == 7  # every person frame has another person frame within 100 s
    assert keys(result) == sorted(keys(result))  # filter-only anchors: score 1.0, ordered by video, time
    assert result.facets["person_ids"] == {"pk": 4, "pa": 2, "pb": 2}
    limited = timeline.search(dataclasses_replace(query, limit_frames=2))
    assert len(limited.hits) == 2 and limited.total_frames == 7
    scored = timeline.search(SearchQuery("국회 본회의", near=near_person("pk"), within_ms=19000))
    assert [h.score for h in scored.hits] == sorted((h.score for h in scored.hits), reverse=True)


def dataclasses_replace(query, **changes):
    import dataclasses

    return dataclasses.replace(query, **changes)


def test_moment_queries_are_checked(timeline):
    from reko.pipeline.index.base import NearClause

    with pytest.raises(QueryError, match="within needs"):
        timeline.search(SearchQuery("국회", within_ms=5000))
    with pytest.raises(QueryError, match="near signal is empty"):
        timeline.search(SearchQuery("국회", near=(NearClause(),), within_ms=5000))
    with pytest.raises(QueryError, match="between 0 and 600"):
        timeline.search(SearchQuery("국회", near=near_person("pk"), within_ms=-1))
    with pytest.raises(QueryError, match="between 0 and 600"):
        timeline.search(SearchQuery("국회", near=near_person("pk"), within_ms=600_001))
    with pytest.raises(QueryError, match="something for the other signals"):
        timeline.search(SearchQuery(near=near_person("pk"), within_ms=5000))
    with pytest.raises(QueryError, match="at most 4"):
        timeline.search(SearchQuery("국회", near=near_person("pk") * 5))


@pytest.mark.parametrize("hostile", ['"AND(', "'; DROP TABLE frames; --", "*", "NEAR(a b)", "text:TAXI", "%"])
def test_moment_near_text_is_literal(timeline, hostile):
    from reko.pipeline.index.base import NearClause

    assert timeline.search(SearchQuery(person_ids=("pk",), near=(NearClause(text=hostile),), within_ms=600_000)).total_frames == 0
    assert timeline.stats()["frames"] == 13


def test_moment_results_match_a_brute_force_join(make_backend, request, monkeypatch):
    """Random videos: both backends agree with an exhaustive pairwise check of the definition."""
    import random

    from reko.pipeline.index.base import NearClause

    rng = random.Random(15)
    docs = random_frames(rng, "r", 6, 80, spans=(1000, 1000, 2000, 4000, 15000), gaps=(0, 0, 500, 3000))
    rng.shuffle(docs)  # frames out of time order: the server-side windows must not rely on it
    cases = [SearchQuery("국회", near=(NearClause(person_ids=("pa",)),), within_ms=4000),
             SearchQuery(person_ids=("pb",), near=(NearClause(labels=("Dog",)), NearClause(text="속보")), within_ms=7000),
             SearchQuery(labels=("Car",), near=(NearClause(person_ids=("pc",)),), within_ms=0)]

    from reko.pipeline.index.opensearch import _Moments

    for kind in ("sqlite", "opensearch", "opensearch-ranges", "opensearch-server"):
        index = make_backend(kind.split("-")[0])
        if kind == "opensearch-ranges":
            index._metas = [{}]  # as an index made before moment_buckets (and near fields)
        # every anchor joined on the server (Painless windows), not only those above 500 frames
        monkeypatch.setattr(_Moments, "SMALL_ANCHOR", 0 if kind == "opensearch-server" else 500)
        index.index_frames(docs)
        for query in cases:
            expected, result = brute_force(docs, query), index.search(query)
            assert set(keys(result)) == expected and result.total_frames == len(expected) and expected, (kind, query)


@pytest.mark.parametrize("buckets", [True, False], ids=["buckets", "ranges"])
def test_moment_with_thousands_of_windows(make_backend, buckets):
    """2,100 anchor frames and 2,500 person frames, each anchor 2 s from a person: the windowed
    reads must be split (OpenSearch caps a query at 1,024 clauses) and still find every one.
    On OpenSearch, with the time-bucket field and without it (an index made before it: ranges)."""
    for kind in ("sqlite", "opensearch"):
        index = make_backend(kind)
        if kind == "opensearch" and not buckets:
            index._metas = [{}]  # as an index made before moment_buckets (and near fields)
        index.index_frames([span_doc("w", i * 10_000, i * 10_000 + 1000, "앵커 멘트") for i in range(2100)] +
                           [span_doc("w", i * 10_000 + 3000, i * 10_000 + 4000, persons=["pz"]) for i in range(2500)])
        found = index.search(SearchQuery("앵커", near=near_person("pz"), within_ms=2000, limit_frames=50))
        assert found.total_frames == 2100 and len(found.hits) == 50, kind
        assert all(h.near[0].frame_ms == h.doc["frame_ms"] + 3000 for h in found.hits)
        assert index.search(SearchQuery("앵커", near=near_person("pz"), within_ms=1999)).total_frames == 0


def random_frames(rng, prefix, videos, per_video, spans, gaps, unsafe=(0.0,)):
    """``videos`` × ``per_video`` frame documents of random spans, gaps, captions, persons,
    labels and unsafe scores (drawn from ``rng``), videos ``<prefix>0``, ``<prefix>1``, …"""
    docs = []
    for v in range(videos):
        t = 0
        for _ in range(per_video):
            span = rng.choice(spans)
            docs.append(span_doc(f"{prefix}{v}", t, t + span, rng.choice(("", "", "국회 소식", "속보")),
                                 persons=rng.sample(["pa", "pb", "pc"], rng.choice((0, 0, 1, 2))),
                                 labels=rng.sample(["Car", "Dog"], rng.choice((0, 0, 1))), unsafe=rng.choice(unsafe)))
            t += span + rng.choice(gaps)
    return docs


def brute_force(docs, query):
    """``{(video_id, frame_ms)}`` qualifying for the moment ``query`` by the definition in
    base.py, checked pair by pair (frames at or above ``max_unsafe_confidence`` neither match
    nor witness)."""
    def visible(d):
        return query.max_unsafe_confidence is None or d.get("unsafe_confidence", 0.0) < query.max_unsafe_confidence

    def matches(d, text, persons, labels):
        return visible(d) and ((not text or text in d["text"]) and (not persons or set(persons) & set(d["person_ids"]))
                               and (not labels or {x.lower() for x in labels} & {x.lower() for x in d["label_names"]}))

    within = query.within_ms or 0
    return {(a["video_id"], a["frame_ms"]) for a in docs if matches(a, query.text, query.person_ids, query.labels)
            and all(any(b["video_id"] == a["video_id"] and matches(b, c.text, c.person_ids, c.labels)
                        and b["start_ms"] <= a["end_ms"] + within and b["end_ms"] >= a["start_ms"] - within
                        for b in docs) for c in query.near)}


@pytest.mark.parametrize("writes", ["one call", "shuffled batches", "rewritten"])
def test_near_fields_answer_moments_exactly_however_frames_are_written(make_backend, monkeypatch, writes):
    """OpenSearch's near fields (opensearch_near.py) stay exact when frames arrive in any order
    and batch, and when frames are written again with other persons, labels, spans or unsafe
    scores: every answerable query agrees with the definition and, hit for hit (witnesses,
    total, facets), with the join on the same index; the near fields answered every one."""
    import random

    from reko.pipeline.index.base import NearClause
    from reko.pipeline.index.opensearch import MOMENT_BUCKET_MS, OpenSearchIndex, _Moments
    from reko.pipeline.index.opensearch_near import NEAR_RADII_MS

    rng = random.Random(f"near-{writes}")

    def timeline(seed):
        return random_frames(random.Random(seed), "n", 4, 60, spans=(1000, 1000, 2000, 6000, 40000),
                             gaps=(0, 0, 700, 4000, 12000), unsafe=(0.0,) * 12 + (90.0,))

    docs = timeline(1)
    index = make_backend("opensearch")
    if writes == "one call":
        index.index_frames(docs)
    else:
        if writes == "rewritten":  # first another timeline on the same frame times, then the true one
            index.index_frames([{**wrong, "start_ms": d["start_ms"], "end_ms": d["end_ms"] + rng.choice((0, 0, 30000)),
                                 "frame_ms": d["frame_ms"]} for d, wrong in zip(docs, timeline(2))])
        shuffled = docs[:]
        rng.shuffle(shuffled)
        for i in range(0, len(shuffled), 17):
            index.index_frames(shuffled[i:i + 17])
    assert index.has_near_fields()
    joined = OpenSearchIndex(index.url, index_name=index.alias)
    joined._metas = [{"reko_moment_buckets_ms": MOMENT_BUCKET_MS}]  # the same index, moments by the join

    answered = []
    real = _Moments._from_near_fields
    monkeypatch.setattr(_Moments, "_from_near_fields", lambda self, *a: answered.append(real(self, *a)) or answered[-1])
    cases = []
    for radius in NEAR_RADII_MS:
        cases += [SearchQuery("국회", near=(NearClause(person_ids=("pa",)),), within_ms=radius),
                  SearchQuery(person_ids=("pb",), near=(NearClause(labels=("dog",)), NearClause(person_ids=("pa", "pc"))),
                              within_ms=radius),
                  SearchQuery(labels=("Car",), near=(NearClause(labels=("Car",)),), within_ms=radius, limit_frames=7)]
    from reko.pipeline.index import opensearch

    for page in (opensearch.PAGE_SIZE, 4):  # 4: hits come in pages
        monkeypatch.setattr(opensearch, "PAGE_SIZE", page)
        for query in cases:
            result, reference, expected = index.search(query), joined.search(query), brute_force(docs, query)
            assert set(keys(result)) <= expected and len(result.hits) == min(len(expected), query.limit_frames), query
            assert result.total_frames == len(expected)
            assert keys(result) == keys(reference) and result.facets == reference.facets
            assert [h.near for h in result.hits] == [h.near for h in reference.hits]
    assert len(answered) == 2 * len(cases) and all(r is not None for r in answered)
    monkeypatch.undo()
    monkeypatch.setattr(_Moments, "_from_near_fields", lambda self, *a: answered.append(real(self, *a)) or answered[-1])

    # hiding unsafe frames: where a hidden frame is near, the join answers instead, still exactly
    answered.clear()
    for query in (dataclasses_replace(q, max_unsafe_confidence=80.0, limit_frames=10_000) for q in cases):
        assert set(keys(index.search(query))) == brute_force(docs, query), query
    assert None in answered  # 90.0 frames are everywhere: some queries fell back to the join


def test_near_fields_forget_a_frame_whose_span_shrank(make_backend):
    """A frame written again with a shorter span leaves the near fields of the frames it no
    longer reaches (they are found through its old span)."""
    from reko.pipeline.index.base import NearClause

    index = make_backend("opensearch")
    index.index_frames([span_doc("s", 0, 100_000, persons=["pa"]), span_doc("s", 120_000, 121_000, "국회")])
    query = SearchQuery("국회", near=(NearClause(person_ids=("pa",)),), within_ms=30_000)
    assert keys(index.search(query)) == [("s", 120_000)]  # a gap of 20 s
    index.index_frames([span_doc("s", 0, 1_000, persons=["pa"])])  # the same frame, now 1 s long
    assert index.search(query).total_frames == 0
    assert keys(index.search(dataclasses_replace(query, within_ms=120_000))) == [("s", 120_000)]  # by the join
