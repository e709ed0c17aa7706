"""OpenSearch backend specifics: URL parsing, AWS SigV4 wiring, bulk retries (with a fake
client), paging past a page, and reindexing SQLite → OpenSearch (real server, see
``test_search_contract.opensearch_or_skip``). The search semantics themselves are in the
contract suite."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("opensearchpy", reason="pip install 'reko[opensearch]'")

from opensearchpy import RequestsHttpConnection  # noqa: E402
from opensearchpy.serializer import JSONSerializer  # noqa: E402
from test_search_contract import TEXTS, doc, opensearch_or_skip  # noqa: E402

from reko.errors import IndexBackendError  # noqa: E402
from reko.pipeline.index import (  # noqa: E402
    SearchQuery,
    open_index,
    opensearch,  # noqa: E402
    opensearch_bulk,  # noqa: E402
)
from reko.pipeline.index.base import NearClause  # noqa: E402
from reko.pipeline.reindex import reindex  # noqa: E402

AWS_ENV = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
           "AWS_SESSION_TOKEN": "fake-session-token"}


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Fake credentials from the environment only: no profile files, no instance metadata."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


# -- URLs and authentication ---------------------------------------------------------------

def test_url_parsing():
    cfg = opensearch.parse_url("http://127.0.0.1:9200")
    assert (cfg["host"], cfg["port"], cfg["use_ssl"], cfg["http_auth"], cfg["aws"]) == (
        "127.0.0.1", 9200, False, None, None)
    cfg = opensearch.parse_url("https://admin:p%40ss@search.example.org/os/?verify_certs=false")
    assert (cfg["port"], cfg["use_ssl"], cfg["url_prefix"], cfg["http_auth"], cfg["verify_certs"]) == (
        443, True, "os", ("admin", "p@ss"), False)
    assert opensearch.parse_url("https://search-reko-abc123.eu-west-1.es.amazonaws.com")["aws"] == ("eu-west-1", "es")
    assert opensearch.parse_url("https://vpc-reko-x.us-gov-west-1.es.amazonaws.com")["aws"] == ("us-gov-west-1", "es")
    assert opensearch.parse_url("https://0a1b2c.ap-northeast-2.aoss.amazonaws.com")["aws"] == ("ap-northeast-2", "aoss")
    for bad in ("ftp://host", "http://", "127.0.0.1:9200"):
        with pytest.raises(IndexBackendError, match="http"):
            opensearch.parse_url(bad)


def test_construction_opens_no_connection():
    index = open_index("http://127.0.0.1:1")  # nothing listens on port 1
    assert index._client is None
    with pytest.raises(IndexBackendError, match="start.sh"):
        index.stats()


def test_basic_auth_from_url_userinfo():
    client = opensearch.make_client("https://reko:s3cret@127.0.0.1:9200")
    connection = client.transport.connection_pool.connections[0]
    assert connection.headers["authorization"] == "Basic cmVrbzpzM2NyZXQ="  # base64("reko:s3cret")


@pytest.mark.parametrize("host,region,service", [
    ("search-reko-abc123.ap-northeast-2.es.amazonaws.com", "ap-northeast-2", "es"),
    ("0a1b2c3d4e.us-east-1.aoss.amazonaws.com", "us-east-1", "aoss")])
def test_aws_hosts_are_sigv4_signed(aws_env, host, region, service):
    import requests

    client = opensearch.make_client(f"https://{host}")
    connection = client.transport.connection_pool.connections[0]
    assert isinstance(connection, RequestsHttpConnection)
    request = requests.Request("POST", f"https://{host}/reko-frames/_search", data=b'{"size": 0}',
                               headers={"Content-Type": "application/json"}).prepare()
    signed = connection.session.auth(request)
    authorization = signed.headers["Authorization"]
    assert authorization.startswith(f"AWS4-HMAC-SHA256 Credential={AWS_ENV['AWS_ACCESS_KEY_ID']}/")
    assert f"/{region}/{service}/aws4_request" in authorization
    assert "SignedHeaders=" in authorization and "Signature=" in authorization
    assert signed.headers["X-Amz-Security-Token"] == AWS_ENV["AWS_SESSION_TOKEN"]


def test_aws_host_without_credentials_says_how_to_fix(aws_env):
    for name in AWS_ENV:
        aws_env.delenv(name)
    with pytest.raises(IndexBackendError, match="AWS_ACCESS_KEY_ID"):
        opensearch.make_client("https://search-x.eu-west-1.es.amazonaws.com")


# -- bulk retries (a fake client that answers _bulk like OpenSearch does) --------------------

class FakeBulkClient:
    """Answers ``_bulk`` with a per-call plan of item statuses (``{_id: status}``; default 201)."""

    class transport:  # noqa: N801 - mirrors the client's attribute
        serializer = JSONSerializer()

    def __init__(self, plan):
        self.plan = list(plan)
        self.calls = []
        self.indices = self

    def bulk(self, body, **kwargs):
        lines = [json.loads(line) for line in body.splitlines() if line]
        actions = [line for line in lines if "index" in line or "delete" in line]
        statuses = self.plan.pop(0) if self.plan else {}
        self.calls.append([next(iter(a.values()))["_id"] for a in actions])
        items = []
        for action in actions:
            op, meta = next(iter(action.items()))
            status = statuses.get(meta["_id"], 201)
            item = {"_id": meta["_id"], "_index": meta["_index"], "status": status}
            if status >= 300:
                item["error"] = {"type": "es_rejected_execution_exception" if status == 429
                                 else "mapper_parsing_exception", "reason": "fake"}
            items.append({op: item})
        return {"errors": any(s >= 300 for s in statuses.values()), "items": items}

    def refresh(self, index):
        pass


def fake_index(plan, monkeypatch):
    monkeypatch.setattr(opensearch_bulk, "BULK_BACKOFF_S", 0)  # the bulk writer's own constants
    monkeypatch.setattr(opensearch_bulk.time, "sleep", lambda s: None)
    client = FakeBulkClient(plan)
    index = opensearch.OpenSearchIndex("http://127.0.0.1:9200", client=client)
    index._ready = True
    index._metas = [{}]  # an index without near fields: writes are plain _bulk calls
    return index, client


def test_bulk_retries_429_and_partial_failures_until_every_document_is_written(monkeypatch):
    docs = [doc("v1", i, f"frame {i}") for i in range(5)]
    # 429 three times (streaming_bulk retries 429s twice itself, then reko's loop) and a 503
    index, client = fake_index([{"v1:1000": 429, "v1:3000": 503}, {"v1:1000": 429}, {"v1:1000": 429}],
                               monkeypatch)
    assert index.index_frames(docs) == 5
    assert client.calls[0] == [f"v1:{i * 1000}" for i in range(5)]
    assert [sorted(c) for c in client.calls[1:]] == [["v1:1000"], ["v1:1000"], ["v1:1000", "v1:3000"]]


def test_bulk_gives_up_loudly_after_its_attempts(monkeypatch):
    index, client = fake_index([{"v1:0": 429}] * 100, monkeypatch)
    with pytest.raises(IndexBackendError, match="could not be written .* after"):
        index.index_frames([doc("v1", 0, "x"), doc("v1", 1, "y")])
    assert len(client.calls) > opensearch.BULK_ATTEMPTS  # streaming_bulk's own 429 retries too


def test_rejected_documents_are_not_retried(monkeypatch):
    index, client = fake_index([{"v1:1000": 400}], monkeypatch)
    with pytest.raises(IndexBackendError, match="rejected frame v1:1000 .400"):
        index.index_frames([doc("v1", 0, "x"), doc("v1", 1, "y")])


def test_documents_get_derived_fields_that_search_results_strip():
    source = opensearch.to_source(doc("v1", 2, "ＴＡＸＩ  서울"))
    assert source["search_text"] == "TAXI 서울" and source["duration_ms"] == 1000
    assert opensearch.strip_derived(dict(source)) == doc("v1", 2, "ＴＡＸＩ  서울")


def test_user_text_only_reaches_structured_clauses():
    body = json.dumps(opensearch.build_query(SearchQuery('text:TAXI OR "서울 도심" 뉴 *')))
    assert "query_string" not in body
    query = opensearch.build_query(SearchQuery('text:TAXI OR "서울 도심" 뉴 *'))["bool"]
    assert [c["match_phrase"] for c in query["must"]] == [
        {"search_text": {"query": "text:TAXI"}}, {"search_text": {"query": "서울 도심"}}]
    assert [c["match_phrase"] for c in query["filter"]] == [
        {"search_text.bi": {"query": "OR"}}, {"search_text.uni": {"query": "뉴"}}, {"search_text.uni": {"query": "*"}}]


# -- against the real server ----------------------------------------------------------------

@pytest.fixture
def os_index():
    from uuid import uuid4

    index = opensearch_or_skip(f"reko-test-{uuid4().hex[:12]}")
    yield index
    index.drop()
    index.close()


def test_index_is_versioned_behind_an_alias(os_index):
    os_index.index_frames([doc("v1", 0, "hello")])
    aliases = os_index.client.indices.get_alias(name=os_index.alias)
    assert list(aliases) == [os_index.index] and os_index.index.endswith(f"-v{opensearch.MAPPING_VERSION}")
    mapping = os_index.client.indices.get_mapping(index=os_index.alias)[os_index.index]["mappings"]
    assert mapping["properties"]["label_names"]["normalizer"] == "reko_lowercase"
    assert mapping["_meta"]["reko_mapping_version"] == opensearch.MAPPING_VERSION


def test_paging_past_one_page(os_index, monkeypatch):
    monkeypatch.setattr(opensearch, "PAGE_SIZE", 4)
    os_index.index_frames([doc("v1", i, f"page {t}") for i, t in enumerate(TEXTS)])
    assert [d["frame_ms"] for d in os_index.frames("v1")] == [i * 1000 for i in range(len(TEXTS))]
    paged = [(key(h), h.score) for h in os_index.search(SearchQuery("page")).hits]
    result = os_index.search(SearchQuery("page", limit_frames=7))
    assert [(key(h), h.score) for h in result.hits] == paged[:7] and result.total_frames == len(TEXTS)
    monkeypatch.setattr(opensearch, "PAGE_SIZE", 10_000)
    assert [(key(h), h.score) for h in os_index.search(SearchQuery("page")).hits] == paged
    assert len(paged) == len(TEXTS)
    assert os_index.delete_video("v1") == len(TEXTS) and os_index.stats() == {"frames": 0, "videos": 0}


QUERIES = [SearchQuery(q) for q in ("서울", "교통", "서울 자전거", '"도심 자전거"', "TRAFFIC", "9", "%", "frame 1")] + [
    SearchQuery(person_ids=("p1",)), SearchQuery(labels=("car",)), SearchQuery("서울", video_ids=("v2",)),
    SearchQuery(video_ids=("v3",), limit_frames=50)]


def test_reindex_sqlite_to_opensearch_gives_the_same_answers(tmp_path, os_index):
    sqlite = open_index(f"sqlite:///{tmp_path}/index.db")
    sqlite.index_frames([doc("v1", i, t, persons=["p1"] if i < 2 else [], labels=["Car"] if i == 5 else [])
                         for i, t in enumerate(TEXTS)])
    sqlite.index_frames([doc("v2", 0, "다른 영상의 서울 뉴스", persons=["p2"])])
    sqlite.index_frames([doc("v3", i, f"frame {i}", persons=[f"p{i % 3}"], labels=["Person"] * (i % 2))
                         for i in range(1, 2501)])
    progress = []
    copied = reindex(sqlite, os_index, ["v1", "v2", "v3"], batch_docs=1000,
                     on_video=lambda v, n: progress.append((v, n)))
    assert copied == len(TEXTS) + 1 + 2500
    assert progress == [("v1", len(TEXTS)), ("v2", 1), ("v3", 2500)]
    assert os_index.stats() == sqlite.stats()
    for video_id in ("v1", "v2", "v3"):
        assert os_index.frames(video_id) == sqlite.frames(video_id)
    for query in QUERIES:
        expected, got = sqlite.search(query), os_index.search(query)
        assert got.total_frames == expected.total_frames, query
        assert got.facets == expected.facets, query
        assert sorted(key(h) for h in got.hits) == sorted(key(h) for h in expected.hits), query
    # run again: idempotent, nothing doubled
    assert reindex(sqlite, os_index, ["v1", "v2", "v3"]) == copied
    assert os_index.stats() == sqlite.stats()
    sqlite.close()


def key(hit):
    return hit.doc["video_id"], hit.doc["frame_ms"]


def test_upgrade_moves_the_alias_to_a_new_mapping_version(os_index, monkeypatch):
    os_index.index_frames([doc("v1", i, t, labels=["Car"] if i == 5 else [], persons=["p1"] if i == 1 else [])
                           for i, t in enumerate(TEXTS)])
    before = [(key(h), h.doc) for h in os_index.search(SearchQuery("서울")).hits]
    current = opensearch.MAPPING_VERSION
    monkeypatch.setattr(opensearch, "MAPPING_VERSION", current + 1)
    upgraded = opensearch.OpenSearchIndex(os_index.url, index_name=os_index.alias)
    assert upgraded.index.endswith(f"-v{current + 1}") and os_index.index.endswith(f"-v{current}")
    assert upgraded.upgrade() == len(TEXTS)
    assert list(upgraded.client.indices.get_alias(name=upgraded.alias)) == [upgraded.index]
    assert not upgraded.client.indices.exists(index=os_index.index)  # the old version is gone
    assert [(key(h), h.doc) for h in upgraded.search(SearchQuery("서울")).hits] == before
    assert upgraded.search(SearchQuery(labels=("car",))).facets["label_names"] == {"Car": 1}
    # the copy recomputed the near fields: Car [5000,6000] is 3 s from p1 [1000,2000]
    assert upgraded.has_near_fields()
    for within_ms, found in ((5000, [("v1", 5000)]), (10000, [("v1", 5000)])):
        moment = upgraded.search(SearchQuery(labels=("car",), near=(NearClause(person_ids=("p1",)),), within_ms=within_ms))
        assert [key(h) for h in moment.hits] == found and moment.total_frames == 1
    assert upgraded.upgrade() == 0 and upgraded.stats() == {"frames": len(TEXTS), "videos": 1}
    upgraded.close()


def test_writes_never_auto_create_an_index_when_the_alias_is_gone(os_index):
    os_index.index_frames([doc("v1", 0, "hello")])
    os_index.client.indices.delete(index=os_index.index)  # e.g. dropped by another process
    with pytest.raises(IndexBackendError, match="is gone .deleted while reko was writing"):
        os_index.index_frames([doc("v1", 1, "again")])  # the read of the frames near it fails first
    assert not os_index.client.indices.exists(index=os_index.alias)


def test_cli_reindex_upgrades_an_index_without_near_fields_in_place(os_index, tmp_path):
    """An index of mapping version 1 (before the near fields) keeps answering moments by the
    join; ``reko reindex`` without --to moves it to the current version, near fields computed."""
    import subprocess
    import sys

    from reko.pipeline.index.opensearch_near import near_field_names

    old = f"{os_index.alias}-v1"
    meta = {"reko_mapping_version": 1, "reko_moment_buckets_ms": opensearch.MOMENT_BUCKET_MS}
    mappings = {**opensearch.MAPPINGS, "_meta": meta}
    mappings.pop("_source")
    mappings["properties"] = {k: v for k, v in mappings["properties"].items() if k not in near_field_names()}
    os_index.client.indices.create(index=old, body={"settings": opensearch.SETTINGS, "mappings": mappings,
                                                    "aliases": {os_index.alias: {"is_write_index": True}}})
    os_index.index_frames([doc("v1", i, t, labels=["Car"] if i == 5 else [], persons=["p1"] if i == 1 else [])
                           for i, t in enumerate(TEXTS)])
    assert not os_index.has_near_fields()
    moment = SearchQuery(labels=("car",), near=(NearClause(person_ids=("p1",)),), within_ms=5000)
    assert [key(h) for h in os_index.search(moment).hits] == [("v1", 5000)]  # by the join

    env = {k: v for k, v in os.environ.items() if not k.startswith("REKO_")}
    env.update(REKO_DATA_DIR=str(tmp_path), REKO_INDEX_URL=os_index.url, REKO_INDEX_NAME=os_index.alias)
    run = subprocess.run([sys.executable, "-m", "reko.cli", "reindex"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert f"{len(TEXTS)} frames copied" in run.stdout
    upgraded = opensearch.OpenSearchIndex(os_index.url, index_name=os_index.alias)
    assert list(upgraded.client.indices.get_alias(name=upgraded.alias)) == [upgraded.index] and upgraded.has_near_fields()
    answered = upgraded.search(moment)
    assert [key(h) for h in answered.hits] == [("v1", 5000)] and answered.hits[0].near[0].frame_ms == 1000
    again = subprocess.run([sys.executable, "-m", "reko.cli", "reindex"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "already current" in again.stdout
    upgraded.close()
