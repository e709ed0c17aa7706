"""The scale-out index: OpenSearch (self-hosted, or Amazon OpenSearch Service / Serverless).

Same search semantics as the embedded SQLite backend (:mod:`.sqlite`, the reference), checked
for both by the contract suite ``tests/test_search_contract.py``; how a :class:`SearchQuery`
becomes OpenSearch clauses is :mod:`.opensearch_query`.

Index layout: a composable index template ``<name>-template`` (settings + mappings,
:mod:`.opensearch_schema`) applies to ``<name>-v*``; documents live in the versioned index
``<name>-v<MAPPING_VERSION>`` reached through the alias ``<name>`` (default ``reko-frames``). A
new mapping ships as a new version: :meth:`OpenSearchIndex.upgrade` creates ``-v2``, copies the
documents and swaps the alias atomically (``_aliases`` remove+add), so searches never see a
missing index. Everything is created lazily on first use; importing this module or
constructing the backend opens no connection. Writes go through :mod:`.opensearch_bulk`
(``_bulk`` with retries).

Modules: this one (the backend class, URL parsing, the client), :mod:`.opensearch_schema`
(settings, mappings, facets, derived fields), :mod:`.opensearch_query` (the pure query
builder), :mod:`.opensearch_bulk` (the bulk writer). Their public names are re-exported here.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

from opensearchpy import OpenSearch, RequestsHttpConnection
from opensearchpy.exceptions import NotFoundError, OpenSearchException, TransportError

from ...errors import IndexBackendError
from .base import DEFAULT_INDEX_NAME, FrameHit, IndexBackend, SearchQuery, SearchResult, Span
from .moments import join, merge_windows, windows
from .opensearch_bulk import (
    BATCH_DOCS,
    BULK_ATTEMPTS,
    BULK_BACKOFF_S,
    BULK_CHUNK_DOCS,
    RETRYABLE_STATUS,
    doc_id,
    index_actions,
    send_bulk,
)
from .opensearch_near import (
    NEAR_RADII_MS,
    NEAR_SOURCE,
    affected,
    near_fields,
    near_filter,
    unsafe_field,
)
from .opensearch_query import (
    HIT_SORT,
    bucket_filters,
    build_query,
    count_body,
    facets_body,
    first_spans_body,
    hits_body,
    max_span_body,
    near_windows_body,
    restrict,
    scan_body,
    spans_body,
    window_filters,
    within_filter,
    witnesses_body,
)
from .opensearch_schema import (
    DERIVED_FIELDS,
    FACET_FIELDS,
    FACET_SIZE,
    MAPPING_VERSION,
    MAPPINGS,
    MOMENT_BUCKET_MS,
    SETTINGS,
    facet_aggs,
    facet_values,
    index_template,
    strip_derived,
    to_source,
)

__all__ = [
    "OpenSearchIndex", "parse_url", "make_client", "AWS_HOST", "PAGE_SIZE", "DEFAULT_INDEX_NAME",
    # re-exported from opensearch_schema, opensearch_query and opensearch_bulk
    "MAPPING_VERSION", "MAPPINGS", "SETTINGS", "DERIVED_FIELDS", "FACET_FIELDS", "FACET_SIZE",
    "facet_aggs", "facet_values", "index_template", "to_source", "strip_derived",
    "HIT_SORT", "build_query", "hits_body", "facets_body", "scan_body",
    "BATCH_DOCS", "BULK_ATTEMPTS", "BULK_BACKOFF_S", "BULK_CHUNK_DOCS", "RETRYABLE_STATUS",
    "doc_id", "index_actions", "send_bulk",
]

PAGE_SIZE = 10_000  #: hits per request: OpenSearch's default ``index.max_result_window``
#: OpenSearch Service (``es``) and Serverless (``aoss``) hosts: group 1 is the region.
AWS_HOST = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d)\.(es|aoss)\.amazonaws\.com(?:\.cn)?$")


def parse_url(url: str) -> dict[str, Any]:
    """Connection settings from ``url``: ``http(s)://[user:pass@]host[:port][/prefix][?opts]``.

    Returns ``{"host", "port", "use_ssl", "url_prefix", "http_auth", "verify_certs",
    "ca_certs", "aws": (region, service) | None}``. The port defaults to the scheme's (80/443):
    write ``:9200`` for a self-hosted node. Query options: ``verify_certs=false``,
    ``ca_certs=/path/ca.pem``. Hosts ending in ``.es.amazonaws.com`` (OpenSearch Service,
    service ``es``) or ``.aoss.amazonaws.com`` (Serverless, ``aoss``) are signed with SigV4; the
    region is the host label before the service (``search-x.eu-west-1.es.amazonaws.com``).

    Raises:
        IndexBackendError: not an http(s) URL, or no host.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise IndexBackendError("REKO_INDEX_URL is not a usable OpenSearch URL: use "
                                "http(s)://HOST:PORT with a port from 1 to 65535, e.g. "
                                "http://127.0.0.1:9200", detail=f"REKO_INDEX_URL={url!r}")
    opts = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = parts.hostname
    match = AWS_HOST.search(host)
    return {
        "host": host,
        "port": port or (443 if parts.scheme == "https" else 80),
        "use_ssl": parts.scheme == "https",
        "url_prefix": parts.path.strip("/"),
        "http_auth": (unquote(parts.username), unquote(parts.password or ""))
        if parts.username else None,
        "verify_certs": opts.get("verify_certs", "true").lower() not in ("false", "0", "no"),
        "ca_certs": opts.get("ca_certs"),
        "aws": (match.group(1), match.group(2)) if match else None,
    }


def make_client(url: str, timeout_s: float = 30.0) -> OpenSearch:
    """An opensearch-py client for ``url`` (see :func:`parse_url`); opens no connection.

    AWS hosts get ``AWSV4SignerAuth(boto3 credentials, region, 'es'|'aoss')`` over
    ``RequestsHttpConnection``; credentials come from boto3's default chain (environment,
    profile, instance/task role) and are refreshed by boto3 as they expire.

    Raises:
        IndexBackendError: bad URL, boto3 missing or no AWS credentials for an AWS host.
    """
    cfg = parse_url(url)
    kwargs: dict[str, Any] = dict(
        hosts=[{"host": cfg["host"], "port": cfg["port"], "url_prefix": cfg["url_prefix"]}],
        use_ssl=cfg["use_ssl"], verify_certs=cfg["verify_certs"] if cfg["use_ssl"] else False,
        # gzip request bodies only over TLS (remote clusters); on localhost it only costs CPU
        ssl_show_warn=False, timeout=timeout_s, http_compress=cfg["use_ssl"])
    if cfg["ca_certs"]:
        kwargs["ca_certs"] = cfg["ca_certs"]
    if cfg["aws"]:
        region, service = cfg["aws"]
        try:
            import boto3
            from opensearchpy import AWSV4SignerAuth
        except ImportError as exc:
            raise IndexBackendError(f"{cfg['host']} is an AWS endpoint and needs boto3: "
                                    f"pip install 'reko[aws,opensearch]' ({exc})") from None
        credentials = boto3.Session().get_credentials()
        if credentials is None:
            raise IndexBackendError(
                f"no AWS credentials to sign requests to {cfg['host']}: set AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run with an IAM role")
        kwargs.update(http_auth=AWSV4SignerAuth(credentials, region, service),
                      connection_class=RequestsHttpConnection, http_compress=False)
    elif cfg["http_auth"]:
        kwargs["http_auth"] = cfg["http_auth"]
    return OpenSearch(**kwargs)


class OpenSearchIndex(IndexBackend):
    """Frame documents in OpenSearch at ``url``, behind the alias ``index_name``.

    Args:
        url: ``http(s)://[user:pass@]host:port`` (see :func:`parse_url`; AWS hosts are signed).
        index_name: the alias; the concrete index is ``<index_name>-v<MAPPING_VERSION>`` and
            the template ``<index_name>-template`` (patterns ``<index_name>-v*``).
        timeout_s: per-request timeout in seconds.
        client: an existing opensearch-py client (tests, shared connection pools).

    All methods raise :class:`IndexBackendError` when the server is unreachable or refuses a
    request, with the URL and what to do; ``search`` raises ``QueryError`` for an empty query.
    """

    def __init__(self, url: str, index_name: str = DEFAULT_INDEX_NAME, timeout_s: float = 30.0,
                 client: OpenSearch | None = None):
        parse_url(url)  # fail fast on a malformed URL, without connecting
        self.url = url
        self.alias = index_name
        self.index = f"{index_name}-v{MAPPING_VERSION}"
        self.template = f"{index_name}-template"
        self.timeout_s = timeout_s
        self._client = client
        self._ready = False
        self._metas: list[dict[str, Any]] | None = None  # the indices' mapping _meta (_index_metas)
        self._lock = threading.RLock()

    # -- connection and index lifecycle -------------------------------------------------

    @property
    def client(self) -> OpenSearch:
        """The opensearch-py client, created on first use (no network until a request)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = make_client(self.url, self.timeout_s)
        return self._client

    def _fail(self, action: str, exc: Exception) -> IndexBackendError:
        where = parse_url(self.url)
        return IndexBackendError(
            f"the search index (OpenSearch) failed to {action}; check that it is running "
            "(bash infra/opensearch/start.sh) and that REKO_INDEX_URL is right",
            detail=f"{where['host']}:{where['port']}: {type(exc).__name__}: {str(exc)[:500]}")

    def ensure_index(self) -> None:
        """Create the template, the versioned index and the alias unless the alias exists.

        Idempotent and safe against a concurrent creator. An existing alias is used as it is,
        whatever version it points to (rolling out a new version is an explicit reindex).
        """
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            client = self.client
            try:
                if not client.indices.exists_alias(name=self.alias):
                    client.indices.put_index_template(
                        name=self.template, body=index_template(self.alias, MAPPING_VERSION))
                    try:
                        client.indices.create(index=self.index, body={
                            "aliases": {self.alias: {"is_write_index": True}}})
                    except TransportError as exc:
                        if exc.error != "resource_already_exists_exception":
                            raise
                        client.indices.put_alias(index=self.index, name=self.alias)
                    # the server waits up to 30 s (its default) for the primary shard
                    client.cluster.health(index=self.index, wait_for_status="yellow")
            except OpenSearchException as exc:
                raise self._fail(f"create the index {self.index}", exc) from None
            self._ready = True

    def upgrade(self) -> int:
        """Move the alias to this code's mapping version without search downtime.

        When the alias points to an older index (``<name>-v1`` while :data:`MAPPING_VERSION`
        is 2): install the current template, create ``<name>-v<MAPPING_VERSION>``, copy every
        document into it (``search_after`` scan by ``video_id``/``frame_ms``, ``_bulk``; the
        derived fields are recomputed, the near fields from each video's frames), then swap the
        alias in one atomic ``_aliases`` call and delete the old index. Searches keep answering
        from the old index until the swap. Pause ingest meanwhile: writes to the old index after
        the copy started would be lost.

        Returns:
            documents copied (0 when the alias already points to the current version).
        """
        try:
            if not self.client.indices.exists_alias(name=self.alias):
                self.ensure_index()
                return 0
            current = sorted(self.client.indices.get_alias(name=self.alias))
            if current == [self.index]:
                self._ready = True
                return 0
            self.client.indices.put_index_template(
                name=self.template, body=index_template(self.alias, MAPPING_VERSION))
            if not self.client.indices.exists(index=self.index):
                self.client.indices.create(index=self.index)
        except OpenSearchException as exc:
            raise self._fail(f"prepare {self.index}", exc) from None
        copied = 0
        batch: dict[str, dict[str, Any]] = {}
        video: list[dict[str, Any]] = []  # the frames of one video: their near fields come from each other

        def add_video() -> None:
            fields = near_fields(video)
            batch.update(index_actions([{**d, **fields[int(d["frame_ms"])]} for d in video], self.index))
            video.clear()

        for hit in self._scan({"match_all": {}}, [{"video_id": "asc"}, {"frame_ms": "asc"}]):
            doc = strip_derived(hit["_source"])
            if video and video[0]["video_id"] != doc["video_id"]:
                add_video()
                if len(batch) >= BATCH_DOCS:
                    copied += self._send(batch, "index")
                    batch = {}
            video.append(doc)
        if video:
            add_video()
        if batch:
            copied += self._send(batch, "index")
        try:
            self.client.indices.refresh(index=self.index)
            self.client.indices.update_aliases(body={"actions": [
                *({"remove": {"index": old, "alias": self.alias}} for old in current),
                {"add": {"index": self.index, "alias": self.alias, "is_write_index": True}}]})
            for old in current:
                if old != self.index:
                    self.client.indices.delete(index=old)
        except OpenSearchException as exc:
            raise self._fail(f"switch the alias {self.alias} to {self.index}", exc) from None
        self._ready = True
        self._metas = None
        return copied

    def drop(self) -> None:
        """Delete every index behind the alias and the template (tests, ``reko`` resets)."""
        try:
            indices = list(self.client.indices.get_alias(name=self.alias))
        except NotFoundError:
            indices = []
        except OpenSearchException as exc:
            raise self._fail("look up the alias", exc) from None
        for name in set(indices) | {self.index}:
            self.client.indices.delete(index=name, ignore_unavailable=True)
        try:
            self.client.indices.delete_index_template(name=self.template)
        except NotFoundError:
            pass
        self._ready = False
        self._metas = None

    def refresh(self) -> None:
        """Make every write so far visible to search."""
        try:
            self.client.indices.refresh(index=self.alias)
        except OpenSearchException as exc:
            raise self._fail("refresh", exc) from None

    # -- writes -------------------------------------------------------------------------

    def index_frames(self, docs: Iterable[Mapping[str, Any]]) -> int:
        """Upsert frame documents (``_id`` = :func:`doc_id`) with ``_bulk``, then refresh.

        Streams ``docs`` (:data:`BATCH_DOCS` in memory, :data:`BULK_CHUNK_DOCS` per request). ``429 Too Many Requests`` and
        other retryable per-item failures (:data:`RETRYABLE_STATUS`, connection errors) are
        retried with exponential backoff (:data:`BULK_ATTEMPTS`, :data:`BULK_BACKOFF_S`); no
        document is dropped silently.

        Returns:
            how many documents were written.

        Raises:
            IndexBackendError: a document was rejected (mapping error: not retried) or still
                failed after every attempt; the message names its id and the reason.
        """
        self.ensure_index()
        near = self.has_near_fields()
        written = 0
        batch: list[dict[str, Any]] = []
        for doc in docs:
            batch.append(dict(doc))
            if len(batch) >= BATCH_DOCS:
                written += self._bulk(batch, near)
                batch = []
        if batch:
            written += self._bulk(batch, near)
        if written and not near:  # with near fields every batch is refreshed already
            self.refresh()
        return written

    def _bulk(self, docs: list[dict[str, Any]], near: bool = False) -> int:
        """Index ``docs`` through the alias; returns how many were written. With ``near``, the
        documents get their near fields and the frames near them are updated
        (:meth:`_near_updates`), then the index is refreshed (the next batch reads them)."""
        updates: dict[str, dict[str, Any]] = {}
        if near:
            docs, updates = self._near_updates(docs)
        pending = index_actions(docs, self.alias)
        written = len(docs) - len(pending)  # repeated keys in one call: the last one wins
        written += self._send(pending, "index")
        if near:
            self._send(updates, "update")
            self.refresh()
        return written

    def _near_updates(self, docs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        """``docs`` with their near fields (:mod:`.opensearch_near`), and the partial updates
        (``_bulk`` update actions by ``_id``) of the stored frames whose near fields they may
        change. Per video, every frame within ``max(NEAR_RADII_MS)`` of a written span (new,
        or the old span of a rewritten frame) is recomputed from ``docs`` and the stored frames
        around it (read within ``2 × max(NEAR_RADII_MS)`` of the written spans, and wider when a
        long frame reaches further)."""
        widest = max(NEAR_RADII_MS)
        by_video: dict[str, dict[int, dict[str, Any]]] = {}
        for doc in docs:  # of frames written twice in one call the last one wins
            by_video.setdefault(doc["video_id"], {})[int(doc["frame_ms"])] = doc
        out: list[dict[str, Any]] = []
        updates: dict[str, dict[str, Any]] = {}
        for video_id, new in by_video.items():
            written = [(int(d["start_ms"]), int(d["end_ms"])) for d in new.values()]
            lo, hi = min(s for s, _ in written) - 2 * widest, max(e for _, e in written) + 2 * widest
            while True:  # read until every frame to recompute has its neighbours in what was read
                stored = self._near_read(video_id, lo, hi)
                frames = {**stored, **new}
                # a rewritten frame's old span meets its new one (both hold frame_ms): it was read
                spans = written + [(int(stored[f]["start_ms"]), int(stored[f]["end_ms"])) for f in new if f in stored]
                todo = affected(spans, frames.values())
                # what must have been read: every frame within `widest` of a written span (old
                # ones too), and every frame within `widest` of those
                need_lo = min(min(s for s, _ in spans), *(int(frames[f]["start_ms"]) for f in todo)) - widest
                need_hi = max(max(e for _, e in spans), *(int(frames[f]["end_ms"]) for f in todo)) + widest
                if lo <= need_lo and need_hi <= hi:
                    break
                lo, hi = min(lo, need_lo), max(hi, need_hi)
            fields = near_fields(frames.values(), only=todo)
            for frame_ms, values in fields.items():
                if frame_ms in new:
                    out.append({**new[frame_ms], **values})
                else:
                    key = doc_id(stored[frame_ms])
                    updates[key] = {"_op_type": "update", "_index": self.alias, "_id": key, "doc": values}
        return out, updates

    def _near_read(self, video_id: str, lo_ms: int, hi_ms: int) -> dict[int, dict[str, Any]]:
        """The stored frames of ``video_id`` whose spans meet ``[lo_ms, hi_ms]``, by
        ``frame_ms``: what :func:`.opensearch_near.near_fields` reads."""
        clause = {"bool": {"filter": [{"term": {"video_id": video_id}}, {"range": {"start_ms": {"lte": hi_ms}}},
                                      {"range": {"end_ms": {"gte": lo_ms}}}]}}
        try:
            return {int(h["_source"]["frame_ms"]): h["_source"]
                    for h in self._scan(clause, [{"frame_ms": "asc"}], source=list(NEAR_SOURCE))}
        except IndexBackendError as exc:
            if "NotFoundError" in (exc.detail or ""):
                raise IndexBackendError(
                    f"the search index {self.alias} is gone (deleted while reko was writing to it); "
                    "nothing more was written: run the ingest again to recreate it", detail=exc.detail) from None
            raise

    def _send(self, pending: dict[str, dict[str, Any]], op: str) -> int:
        """Send ``pending`` bulk actions (by ``_id``) until each succeeded
        (:func:`.opensearch_bulk.send_bulk`); returns the count of successes (for deletes: of
        documents that existed)."""
        return send_bulk(self.client, pending, op, alias=self.alias, timeout_s=self.timeout_s)

    def delete_video(self, video_id: str) -> int:
        """Delete every frame of ``video_id`` (ids found by a sorted scan, then ``_bulk``
        deletes; works without the ``reindex`` module that ``_delete_by_query`` needs)."""
        self.ensure_index()
        ids = [hit["_id"] for hit in self._scan(
            {"term": {"video_id": video_id}}, [{"frame_ms": "asc"}], source=False)]
        if not ids:
            return 0
        deleted = self._send({i: {"_op_type": "delete", "_index": self.alias, "_id": i}
                              for i in ids}, "delete")
        self.refresh()
        return deleted

    # -- reads --------------------------------------------------------------------------

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.client.search(index=self.alias, body=body)
        except OpenSearchException as exc:
            raise self._fail("search", exc) from None

    def _scan(self, query: dict[str, Any], sort: list[dict[str, Any]], source: bool | list[str] = True,
              limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Hits of ``query`` in ``sort`` order, paged with ``search_after`` (no 10k limit;
        ``sort`` must be unique per document, as ``frame_ms`` is within one video)."""
        page = PAGE_SIZE
        after = None
        seen = 0
        while limit is None or seen < limit:
            size = page if limit is None else min(page, limit - seen)
            hits = self._search(scan_body(query, sort, size, source, after))["hits"]["hits"]
            yield from hits
            seen += len(hits)
            if len(hits) < size:
                return
            after = hits[-1]["sort"]

    def search(self, query: SearchQuery) -> SearchResult:
        """Frames matching ``query``, best first (score desc, ``video_id``, ``frame_ms``),
        at most ``limit_frames`` (paged past 10,000 with ``search_after``), the exact
        ``total_frames`` and facets ``{"label_names": {name: n}, "person_ids": {id: n}}``
        (top :data:`FACET_SIZE` by frame count, over all matching frames).

        One ``_msearch`` round trip runs two searches side by side on the server: the hits
        (without exact counting, so scored text queries may skip non-competitive blocks) and a
        ``size: 0`` search for the exact total and the facets, which the shard request cache
        answers again for free until the index changes.

        Raises:
            QueryError: empty or overlong query (:meth:`SearchQuery.check`).
            IndexBackendError: the server failed.
        """
        query.check()
        self.ensure_index()
        if query.near:
            return self._search_moments(query)
        return self._result(build_query(query), query.limit_frames)

    def _result(self, clause: dict[str, Any], limit: int, total: int | None = None,
                together: bool = False) -> SearchResult:
        """Hits (at most ``limit``, best first), the exact total (unless given) and the facets
        of the frames matching ``clause``: one ``_msearch`` (see :meth:`search`). With
        ``together``, the first page, the total and the facets are one search instead of two:
        for a clause whose every match costs a script (moment queries), evaluated once, and its
        parameters sent and parsed once."""
        return self._result_and_extra(clause, limit, [], total, together)[0]

    def _result_and_extra(self, clause: dict[str, Any], limit: int, extra: list[dict[str, Any]],
                          total: int | None = None, together: bool = False
                          ) -> tuple[SearchResult, list[dict[str, Any]]]:
        """:meth:`_result`, with the ``extra`` search bodies run in the same ``_msearch`` (side
        by side on the server): the result and their responses, in order."""
        first_page = hits_body(clause, min(limit, PAGE_SIZE))
        if together:
            lines = [{"index": self.alias}, {**first_page, "track_total_hits": True, "aggs": facet_aggs()}]
        else:
            lines = [{"index": self.alias}, first_page, {"index": self.alias, "request_cache": True}, facets_body(clause)]
        for body in extra:
            lines += [{"index": self.alias}, body]
        try:
            responses = self.client.msearch(body=lines)["responses"]
        except OpenSearchException as exc:
            raise self._fail("search", exc) from None
        for response in responses:
            if "error" in response:
                raise self._fail("search", RuntimeError(response["error"]))
        extras = responses[len(responses) - len(extra):]
        responses = responses[:len(responses) - len(extra)]
        found, counted = responses if len(responses) == 2 else (responses[0], responses[0])
        raw = found["hits"]["hits"]
        while len(raw) < limit and len(raw) % PAGE_SIZE == 0 and raw:
            more = self._search({**first_page, "search_after": raw[-1]["sort"],
                                 "size": min(PAGE_SIZE, limit - len(raw))})
            if not more["hits"]["hits"]:
                break
            raw.extend(more["hits"]["hits"])
        hits = [FrameHit(strip_derived(h["_source"]), float(h["_score"])) for h in raw]
        result = SearchResult(hits=hits, total_frames=counted["hits"]["total"]["value"] if total is None else total,
                              facets=facet_values(counted))
        return result, extras

    # -- moments (issue 15): the semantics are in base.py, the shared join in moments.py ----

    def _index_metas(self) -> list[dict[str, Any]]:
        """The mapping ``_meta`` of every index behind the alias, read once per instance (an
        index never gains a derived field: reindex instead)."""
        if self._metas is None:
            try:
                mappings = self.client.indices.get_mapping(index=self.alias)
            except OpenSearchException as exc:
                raise self._fail("read the mapping", exc) from None
            self._metas = [m.get("mappings", {}).get("_meta", {}) for m in mappings.values()]
        return self._metas

    def has_moment_buckets(self) -> bool:
        """Whether every index behind the alias was created with the ``moment_buckets`` field
        (its mapping's ``_meta.reko_moment_buckets_ms`` is :data:`MOMENT_BUCKET_MS`), so every
        document has it."""
        metas = self._index_metas()
        return bool(metas) and all(m.get("reko_moment_buckets_ms") == MOMENT_BUCKET_MS for m in metas)

    def has_near_fields(self) -> bool:
        """Whether every index behind the alias was created with the near fields of
        :data:`.opensearch_near.NEAR_RADII_MS` (``_meta.reko_near_radii_ms``), so every
        document has them and writes must keep them (:meth:`_near_updates`)."""
        metas = self._index_metas()
        return bool(metas) and all(m.get("reko_near_radii_ms") == list(NEAR_RADII_MS) for m in metas)

    #: what a moment read needs from each response (``filter_path``: smaller JSON to parse)
    MOMENT_FILTER_PATH = ("responses.took,responses.error,responses.hits.total,responses.hits.hits.sort,"
                          "responses.hits.hits.fields,responses.aggregations")

    def _msearch(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run ``bodies`` in one ``_msearch`` round trip; the responses in order, trimmed to
        :data:`MOMENT_FILTER_PATH` (``took`` keeps every response in the list; a response
        without hits comes back without ``hits``)."""
        if not bodies:
            return []
        lines: list[dict[str, Any]] = []
        for body in bodies:
            lines += [{"index": self.alias}, body]
        try:
            responses = self.client.msearch(body=lines, filter_path=self.MOMENT_FILTER_PATH)["responses"]
        except OpenSearchException as exc:
            raise self._fail("search", exc) from None
        for response in responses:
            if "error" in response:
                raise self._fail("search", RuntimeError(response["error"]))
        return responses

    def _search_moments(self, query: SearchQuery) -> SearchResult:
        """A moment query (see :class:`_Moments`): from the near fields when they can answer
        it, else joined (on the server for a large anchor)."""
        return _Moments(self, query).search()

    def facet_counts(self) -> dict[str, dict[str, int]]:
        """Facets over the whole index (``label_names``, ``person_ids``: value → frames)."""
        self.ensure_index()
        return facet_values(self._search({"size": 0, "query": {"match_all": {}}, "aggs": facet_aggs()}))

    def frames(self, video_id: str) -> list[dict[str, Any]]:
        """All frame documents of ``video_id`` by ``frame_ms`` (``search_after`` pages)."""
        self.ensure_index()
        return [strip_derived(h["_source"]) for h in
                self._scan({"term": {"video_id": video_id}}, [{"frame_ms": "asc"}])]

    def video_ids(self) -> list[str]:
        """Every ``video_id`` in the index, sorted (exact: a paged ``composite`` aggregation)."""
        self.ensure_index()
        ids: list[str] = []
        after = None
        while True:
            composite: dict[str, Any] = {"size": 10_000,
                                         "sources": [{"v": {"terms": {"field": "video_id"}}}]}
            if after:
                composite["after"] = after
            response = self._search({"size": 0, "aggs": {"videos": {"composite": composite}}})
            agg = response["aggregations"]["videos"]
            ids.extend(b["key"]["v"] for b in agg["buckets"])
            after = agg.get("after_key")
            if not agg["buckets"] or not after:
                return ids

    def stats(self) -> dict[str, int]:
        """``{"frames": N, "videos": M}``, both exact (``_count`` and a composite aggregation,
        not the approximate ``cardinality``)."""
        self.ensure_index()
        try:
            frames = self.client.count(index=self.alias)["count"]
        except OpenSearchException as exc:
            raise self._fail("count", exc) from None
        return {"frames": frames, "videos": len(self.video_ids())}

    def close(self) -> None:
        """Close the client's connection pool (a later call reconnects)."""
        if self._client is not None:
            self._client.close()
            self._client = None
            self._ready = False


def _spans(result: SearchResult) -> list[Span]:
    """The spans of ``result``'s hits."""
    return [Span(h.doc["video_id"], int(h.doc["frame_ms"]), int(h.doc["start_ms"]), int(h.doc["end_ms"]))
            for h in result.hits]


def _witnessed(result: SearchResult, found: dict[tuple[str, int], tuple[Span, ...]]) -> SearchResult:
    """``result`` with each hit's witnesses from ``found`` (``{(video_id, frame_ms):
    witnesses}``, :attr:`FrameHit.near`); a hit without any is dropped, which happens only if
    the index changed between the round trips."""
    kept = []
    for hit in result.hits:
        near = found.get((hit.doc["video_id"], int(hit.doc["frame_ms"])))
        if near is not None:
            hit.near = near
            kept.append(hit)
    result.hits = kept
    return result


class _Moments:
    """One moment query (semantics: :mod:`.base`) over an :class:`OpenSearchIndex`.

    When every near clause is persons only or labels only and ``within_ms`` is one of
    :data:`.opensearch_near.NEAR_RADII_MS` (on an index with near fields), the **near fields**
    answer it: the anchor query filtered by each clause's near field is a plain query (hits,
    exact total and facets in one ``_msearch``), then the returned hits' witnesses are found
    on the server (:meth:`_witnesses`: one ``_msearch``). Measured with ``benchmarks/search.py``
    at 1M documents, p95 (four runs of 100 or 300 queries): 12–18 ms against 9–15 ms for the
    plain combined query at limit 100 (the join: 74–80 against 9–10 ms); at limit 10,000,
    1.7–2.5× the plain query, which returns a third fewer frames (against a plain query
    returning the same frames: 1.2×). Otherwise the query is joined: first, in one round
    trip, the anchor's capped count and its first :data:`SMALL_ANCHOR` spans; then

    * a **small anchor** (at most :data:`SMALL_ANCHOR` frames, all known now) is joined here:
      each near clause's frames inside the windows around the anchors (``moment_buckets``
      terms, or ``start_ms`` ranges on an older index), :func:`.moments.join`, then the
      qualifying frames' documents by ``ids`` with the anchor's scores and facets;
    * a **large anchor** is joined on the server, so that no large clause's frames leave it:
      1. **windows**: per near clause, every matching frame's span widened by ``within_ms``
         (:func:`.opensearch_query.near_windows_body`, a Painless ``scripted_metric``; merged
         here by :func:`.moments.merge_windows`). A frame is within ``within_ms`` of a clause's
         frame exactly when its span meets one of the clause's windows;
      2. **hits**: the anchor query restricted by one :func:`.opensearch_query.within_filter`
         per clause: hits, exact total and facets in one ``_msearch`` as for a plain query
         (:meth:`OpenSearchIndex._result`), the anchor's scores unchanged (filter context);
      3. **witnesses** of the returned hits only, read and joined as for a small anchor.

    The client-side join of every clause this replaced transferred every matching frame's span
    (≈ 10 ms per 1,000 frames): measured with ``benchmarks/search.py`` at 1M documents (limit
    100), p50/p95/p99 28/263/2,094 ms then, 11–13/74–80/94–103 ms now. Needs Painless (the
    ``lang-painless`` module of every OpenSearch distribution and of Amazon OpenSearch
    Service; ``infra/opensearch/fetch.sh`` installs it into the test distribution)."""

    #: anchors of at most this many frames are joined on the client (read with the count)
    SMALL_ANCHOR = 500

    def __init__(self, index: OpenSearchIndex, query: SearchQuery):
        self.index = index
        self.query = query
        self.clauses = [query.clause(i) for i in range(len(query.near))]

    def search(self) -> SearchResult:
        """The :class:`SearchResult` of the moment query (hits with :attr:`FrameHit.near`)."""
        within = self.query.window_ms
        anchor = build_query(self.query.anchor())
        if self.index.has_near_fields():
            candidates = [near_filter(c.person_ids, c.labels, c.text, within) for c in self.query.near]
            answerable = [f for f in candidates if f is not None]
            if len(answerable) == len(candidates):
                result = self._from_near_fields(anchor, answerable)
                if result is not None:
                    return result
        counted, page = self._send([count_body(anchor, self.SMALL_ANCHOR), first_spans_body(anchor, self.SMALL_ANCHOR)])
        total = counted["hits"]["total"]
        if total["value"] == 0 and total["relation"] == "eq":
            return self._empty()
        if total["relation"] == "eq" and total["value"] <= self.SMALL_ANCHOR:
            spans = [Span(f["video_id"][0], int(f["frame_ms"][0]), int(f["start_ms"][0]), int(f["end_ms"][0]))
                     for f in (h["fields"] for h in page.get("hits", {}).get("hits", []))]
            found = join(spans, self._spans_near(spans, within), within)
            if not found:
                return self._empty()
            ids = {"ids": {"values": [f"{video_id}:{frame_ms}" for video_id, frame_ms in found]}}
            result = self.index._result(restrict(anchor, ids), self.query.limit_frames, total=len(found))
        else:
            filters = []
            for response in self._send([near_windows_body(build_query(c), within) for c in self.clauses]):
                flat = [x for state in response["aggregations"]["windows"]["value"] for x in state]
                windows_found = merge_windows(zip(flat[0::3], flat[1::3], flat[2::3]))
                if not windows_found:
                    return self._empty()
                filters.append(within_filter(windows_found))
            result = self.index._result(restrict(anchor, *filters), self.query.limit_frames, together=True)
            hits = _spans(result)
            found = join(hits, self._spans_near(hits, within), within)
        return _witnessed(result, found)

    def _from_near_fields(self, anchor: dict[str, Any], near: list[dict[str, Any]]) -> SearchResult | None:
        """The moment query from the near fields (:mod:`.opensearch_near`): the anchor query
        filtered by every clause's near field is a plain query (hits, exact total and facets in
        one ``_msearch``), then the returned hits' witnesses are found on the server (one more
        ``_msearch``: :meth:`_witnesses`). None when a qualifying frame may owe its witness
        to a frame search hides as unsafe (the near fields count those): the caller joins
        instead."""
        within = self.query.window_ms
        clause = restrict(anchor, *near)
        extra = []
        threshold = self.query.max_unsafe_confidence
        if threshold is not None:  # frames near a hidden one: only the join can tell
            extra.append(count_body(restrict(clause, {"range": {unsafe_field(within): {"gte": float(threshold)}}}), 1))
        result, probed = self.index._result_and_extra(clause, self.query.limit_frames, extra)
        if probed and probed[0]["hits"]["total"]["value"] > 0:
            return None
        return _witnessed(result, self._witnesses(_spans(result), within))

    def _witnesses(self, hits: list[Span], within_ms: int) -> dict[tuple[str, int], tuple[Span, ...]]:
        """``{(video_id, frame_ms): witnesses}`` of ``hits`` (one per near clause, the nearest
        as :func:`.moments.join` picks it), found on the server: per clause one
        ``scripted_metric`` over the clause's frames in the hits' ``moment_buckets``
        (:func:`.opensearch_query.witnesses_body`), all in one ``_msearch``. A hit missing a
        witness for some clause is left out."""
        if not hits:
            return {}
        by_video: dict[str, list[Span]] = {}  # in the order witnesses_body reports them
        for span in sorted(hits, key=lambda h: (h.start_ms, h.frame_ms)):
            by_video.setdefault(span.video_id, []).append(span)
        spans = {v: [(h.start_ms, h.end_ms) for h in items] for v, items in by_video.items()}
        restriction = bucket_filters(windows(hits, within_ms))
        bodies = [(i, witnesses_body(restrict(build_query(c), f), spans, within_ms))
                  for i, c in enumerate(self.clauses) for f in restriction]
        best: list[dict[str, list[int]]] = [{} for _ in self.clauses]  # per clause: video -> 4 per hit
        for (i, _), response in zip(bodies, self._send([body for _, body in bodies])):
            for state in response["aggregations"]["witnesses"]["value"]:
                for video_id, found in state.items():
                    held = best[i].setdefault(video_id, found)
                    for k in range(0, len(found) if held is not found else 0, 4):  # another shard's or filter's
                        if found[k] >= 0 and (held[k] < 0 or found[k:k + 3] < held[k:k + 3]):  # (gap, start, frame)
                            held[k:k + 4] = found[k:k + 4]
        out: dict[tuple[str, int], tuple[Span, ...]] = {}
        for video_id, items in by_video.items():
            per_clause = [b.get(video_id) for b in best]
            for k, hit in enumerate(items):
                if all(w is not None and w[4 * k] >= 0 for w in per_clause):
                    out[(video_id, hit.frame_ms)] = tuple(
                        Span(video_id, int(w[4 * k + 2]), int(w[4 * k + 1]), int(w[4 * k + 3])) for w in per_clause if w)
        return out

    @staticmethod
    def _empty() -> SearchResult:
        return SearchResult(hits=[], total_frames=0, facets={name: {} for name in FACET_FIELDS})

    def _send(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            return self.index._msearch(bodies)
        except IndexBackendError as exc:
            if "script_lang not supported" in (exc.detail or ""):
                raise IndexBackendError(
                    "the search index (OpenSearch) cannot run moment queries: it lacks the "
                    "lang-painless module (every OpenSearch distribution and Amazon OpenSearch "
                    "Service have it; bash infra/opensearch/fetch.sh installs it)", detail=exc.detail) from None
            raise

    def _spans_near(self, anchors: list[Span], within_ms: int) -> list[list[Span]]:
        """Per near clause, the spans of its frames within ``within_ms`` of ``anchors`` (and
        maybe a few more: :func:`.moments.join` measures exactly), every clause's pages in the
        same ``_msearch`` round trips (``search_after`` on :data:`SPAN_SORT`)."""
        if not anchors:
            return [[] for _ in self.clauses]
        around = windows(anchors, within_ms)
        if self.index.has_moment_buckets():
            restriction = bucket_filters(around)
        else:
            max_span = int(self._send([max_span_body()])[0]["aggregations"]["max_span"]["value"] or 0)
            restriction = window_filters(around, max_span)
        out: list[list[Span]] = [[] for _ in self.clauses]
        pending = [(i, restrict(build_query(c), f), None) for i, c in enumerate(self.clauses) for f in restriction]
        while pending:
            responses = self._send([spans_body(q, PAGE_SIZE, after) for _, q, after in pending])
            more = []
            for (i, q, _), response in zip(pending, responses):
                hits = response.get("hits", {}).get("hits", [])
                out[i] += [Span(v, int(f), int(s), int(e)) for v, f, s, e in (h["sort"] for h in hits)]
                if len(hits) == PAGE_SIZE:
                    more.append((i, q, hits[-1]["sort"]))
            pending = more
        return out
