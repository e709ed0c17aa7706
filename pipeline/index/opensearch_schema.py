"""The OpenSearch index schema of frame documents: settings (analyzers), mappings, the index
template, the facet aggregations, and the derived fields stored with each document.

Only analyzers shipped with OpenSearch (module ``analysis-common``, present in every
distribution and on AWS) are used: no ICU / nori plugin is required. The substring search runs
on n-gram sub-fields of ``search_text`` (trigrams, as SQLite FTS5's ``trigram`` tokenizer;
bigrams and unigrams for one- and two-character terms), see :mod:`.opensearch_query`.

The stored document (``_source``) is the frame document as given, plus two derived fields that
reko computes and strips from what it returns (:data:`DERIVED_FIELDS`): ``search_text`` (the
normalised text the substring search runs on; OpenSearch has no NFKC without the ICU plugin)
``duration_ms`` (``end_ms - start_ms``, summed for "screen time" in Dashboards) and
``moment_buckets`` (issue 15: the ``<video_id>:<k>`` keys of the :data:`MOMENT_BUCKET_MS`
time buckets the frame's span touches, so a moment query finds the frames near given times
with one ``terms`` clause instead of thousands of ranges). The bucket field was added to the
mapping of version 1; an index created before it lacks it (its ``_meta`` has no
``reko_moment_buckets_ms``) and moment queries there fall back to ranges (correct, slower)
until ``reko reindex`` copies it into a fresh index. The near fields of
:mod:`.opensearch_near` (moments for fixed radii) are derived fields too, computed by the writer
from the neighbouring frames; their ``_meta`` key is ``reko_near_radii_ms``.

Pure data and functions: no client, no connection.
"""

from __future__ import annotations

from typing import Any

from .opensearch_near import NEAR_RADII_MS, SOURCE_EXCLUDES, near_field_names, near_mappings
from .sqlite import indexed_text

#: bump when :data:`MAPPINGS` or :data:`SETTINGS` change incompatibly (2: the near fields, kept out of
#: ``_source``; an index of version 1 answers moments by the join until ``reko reindex`` upgrades it)
MAPPING_VERSION = 2
#: computed at index time, never returned
DERIVED_FIELDS = ("search_text", "duration_ms", "moment_buckets", *near_field_names())
MOMENT_BUCKET_MS = 10_000  #: width of the time buckets of ``moment_buckets`` (ms)
#: facet name (as in :class:`SearchResult.facets`) → the exact-spelling keyword field it counts
FACET_FIELDS = {"label_names": "label_names.raw", "person_ids": "person_ids.raw"}
FACET_SIZE = 50  #: facet values returned per field, most frequent first (same in sqlite.py)

#: Analysis settings. Only analyzers shipped with OpenSearch (module ``analysis-common``,
#: present in every distribution and on AWS) are used: no ICU / nori plugin is required.
SETTINGS: dict[str, Any] = {
    "index": {
        "number_of_shards": 1,  # 1M frames ≈ 1–2 GB: one shard keeps BM25 and facets exact
        "auto_expand_replicas": "0-1",  # green on one node, one replica when there are two
        "max_ngram_diff": 0,
    },
    "analysis": {
        "tokenizer": {
            # token_chars [] keeps every character (spaces, punctuation, newlines), so
            # consecutive n-grams spell the original text exactly, as FTS5's trigram tokenizer does
            "reko_trigram": {"type": "ngram", "min_gram": 3, "max_gram": 3, "token_chars": []},
            "reko_bigram": {"type": "ngram", "min_gram": 2, "max_gram": 2, "token_chars": []},
            "reko_unigram": {"type": "ngram", "min_gram": 1, "max_gram": 1, "token_chars": []},
        },
        "analyzer": {
            "reko_trigram": {"type": "custom", "tokenizer": "reko_trigram", "filter": ["lowercase"]},
            "reko_bigram": {"type": "custom", "tokenizer": "reko_bigram", "filter": ["lowercase"]},
            "reko_unigram": {"type": "custom", "tokenizer": "reko_unigram", "filter": ["lowercase"]},
            # the built-in `cjk` analyzer without its English stop words: words for Latin text,
            # overlapping bigrams for Hangul/Han/Kana ("교통정보" → 교통 통정 정보)
            "reko_cjk": {"type": "custom", "tokenizer": "standard",
                         "filter": ["cjk_width", "lowercase", "cjk_bigram"]},
        },
        "normalizer": {"reko_lowercase": {"type": "custom", "filter": ["lowercase"]}},
    },
}

_STORED_ONLY = {"type": "object", "enabled": False}  # kept in _source, not indexed

#: Field mappings of a frame document (see docs/architecture.md "Frame documents").
MAPPINGS: dict[str, Any] = {
    "dynamic": False,  # unknown fields are kept in _source but not indexed (no mapping explosion)
    "_source": {"excludes": SOURCE_EXCLUDES},  # the near fields are indexed only
    "_meta": {"reko_mapping_version": MAPPING_VERSION, "reko_moment_buckets_ms": MOMENT_BUCKET_MS,
              "reko_near_radii_ms": list(NEAR_RADII_MS)},
    "properties": {
        "video_id": {"type": "keyword"},
        "frame_ms": {"type": "long"},
        "start_ms": {"type": "long"},
        "end_ms": {"type": "long"},
        "duration_ms": {"type": "long"},
        # "<video_id>:<k>" for every MOMENT_BUCKET_MS bucket k the span touches (moments)
        "moment_buckets": {"type": "keyword"},
        "frame_uri": {"type": "keyword", "index": False},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "analyzer": {"type": "keyword"},
        # as recognised, for Dashboards' query bar and highlighting: CJK bigrams + English stems
        "text": {"type": "text", "analyzer": "reko_cjk",
                 "fields": {"en": {"type": "text", "analyzer": "english"}}},
        # what reko's search runs on: NFKC-normalised lines joined by "\n" (sqlite.indexed_text)
        "search_text": {
            "type": "text", "analyzer": "reko_trigram", "index_options": "positions",
            "fields": {
                "bi": {"type": "text", "analyzer": "reko_bigram", "index_options": "docs", "norms": False},
                "uni": {"type": "text", "analyzer": "reko_unigram", "index_options": "docs", "norms": False},
            },
        },
        # filters are case-insensitive (as SQLite's lower() filters); facets and Dashboards
        # use the exact spelling in `.raw` ("Car", not "car")
        "label_names": {"type": "keyword", "normalizer": "reko_lowercase",
                        "fields": {"raw": {"type": "keyword"}}},
        "person_ids": {"type": "keyword", "normalizer": "reko_lowercase",
                       "fields": {"raw": {"type": "keyword"}}},
        # highest confidence of an unsafe moderation label (0 when none): search hides frames
        # at or above REKO_HIDE_UNSAFE_CONFIDENCE
        "unsafe_confidence": {"type": "float"},
        "text_lines": _STORED_ONLY,
        "labels": _STORED_ONLY,
        "faces": _STORED_ONLY,
        "moderation": _STORED_ONLY,
        # near_<R>_person_ids / near_<R>_label_names / near_<R>_unsafe (opensearch_near.py)
        **near_mappings(),
    },
}


def index_template(alias: str, mapping_version: int) -> dict[str, Any]:
    """The composable index template body for the alias ``alias``: :data:`SETTINGS` and
    :data:`MAPPINGS` applied to every index named ``<alias>-v*`` (priority 100), with
    ``mapping_version`` recorded in its ``_meta``."""
    return {"index_patterns": [f"{alias}-v*"], "priority": 100,
            "template": {"settings": SETTINGS, "mappings": MAPPINGS},
            "_meta": {"owner": "reko", "mapping_version": mapping_version}}


def facet_aggs() -> dict[str, Any]:
    """Terms aggregations for :data:`FACET_FIELDS`: top :data:`FACET_SIZE` by count, ties by key."""
    return {name: {"terms": {"field": field, "size": FACET_SIZE,
                             "order": [{"_count": "desc"}, {"_key": "asc"}]}}
            for name, field in FACET_FIELDS.items()}


def facet_values(response: dict[str, Any]) -> dict[str, dict[str, int]]:
    """``{facet: {value: frames}}`` from a search response with :func:`facet_aggs`."""
    return {name: {b["key"]: b["doc_count"] for b in response["aggregations"][name]["buckets"]}
            for name in FACET_FIELDS}


def to_source(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``_source`` stored for a frame document: the document plus :data:`DERIVED_FIELDS`."""
    start, end = int(doc["start_ms"]), int(doc["end_ms"])
    return {**doc, "search_text": indexed_text(doc), "duration_ms": end - start,
            "moment_buckets": bucket_keys(doc["video_id"], start, end)}


def bucket_keys(video_id: str, lo_ms: int, hi_ms: int) -> list[str]:
    """The ``moment_buckets`` keys of the closed span ``[lo_ms, hi_ms]`` of ``video_id``:
    ``"<video_id>:<k>"`` for ``k`` from ``lo_ms // MOMENT_BUCKET_MS`` to ``hi_ms //
    MOMENT_BUCKET_MS``. Two spans that intersect share a key."""
    return [f"{video_id}:{k}" for k in range(max(0, lo_ms) // MOMENT_BUCKET_MS, max(0, hi_ms) // MOMENT_BUCKET_MS + 1)]


def strip_derived(source: dict[str, Any]) -> dict[str, Any]:
    """``source`` without :data:`DERIVED_FIELDS` (the frame document as it was indexed);
    ``source`` is changed in place and returned."""
    for name in DERIVED_FIELDS:
        source.pop(name, None)
    return source
