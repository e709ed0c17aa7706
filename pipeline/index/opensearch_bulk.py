"""The OpenSearch bulk writer: ``_bulk`` index/delete actions sent until each one succeeded,
with retries and exponential backoff; no document is dropped silently.

Retryable per-item failures (``429 Too Many Requests`` and :data:`RETRYABLE_STATUS`) and
connection errors are retried (:data:`BULK_ATTEMPTS` tries, waits from :data:`BULK_BACKOFF_S`
doubling); a document the index rejects for good (a mapping error) raises at once. The client
is passed in by the caller (:class:`.opensearch.OpenSearchIndex`); nothing here connects.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterable

from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import OpenSearchException

from ...errors import IndexBackendError
from .opensearch_schema import to_source

log = logging.getLogger(__name__)

BULK_CHUNK_DOCS = 1_000  #: documents per ``_bulk`` request (≈ 1–3 MB of OCR frame documents)
BATCH_DOCS = 10_000  #: documents held in memory at once by the writers (index_frames, upgrade)
BULK_ATTEMPTS = 6  #: tries per document for retryable failures before IndexBackendError
BULK_BACKOFF_S = 0.5  #: first wait between tries, doubled each time (0.5, 1, 2, 4, 8 s)
RETRYABLE_STATUS = {429, 500, 502, 503, 504}  #: per-item statuses worth another try


def doc_id(doc: dict[str, Any]) -> str:
    """The document ``_id``: ``"<video_id>:<frame_ms>"`` (re-indexing a frame replaces it)."""
    return f"{doc['video_id']}:{int(doc['frame_ms'])}"


def index_actions(docs: Iterable[dict[str, Any]], index: str) -> dict[str, dict[str, Any]]:
    """``_bulk`` index actions into ``index`` (an index or an alias) by ``_id``
    (:func:`doc_id`), each ``_source`` with the derived fields
    (:func:`.opensearch_schema.to_source`); of documents with the same id the last one wins."""
    return {doc_id(d): {"_op_type": "index", "_index": index, "_id": doc_id(d),
                        "_source": to_source(d)} for d in docs}


def send_bulk(client: OpenSearch, pending: dict[str, dict[str, Any]], op: str, *, alias: str,
              timeout_s: float) -> int:
    """Send ``pending`` bulk actions (by ``_id``; ``op`` is ``index``, ``update`` (partial
    documents) or ``delete``) until each succeeded. Index actions that all target ``alias`` are
    sent with ``require_alias``, so a write never auto-creates a dynamically mapped index named
    like a vanished alias. A delete or partial update of a missing document (404) counts as
    done. Requests time out after ``timeout_s`` seconds (at least 60).

    Returns:
        the count of successes (for deletes: of documents that existed).

    Raises:
        IndexBackendError: an action was rejected with a non-retryable status (not retried), or
            still failed after :data:`BULK_ATTEMPTS` attempts; the message names its id.
    """
    done = 0
    backoff = BULK_BACKOFF_S
    for attempt in range(1, BULK_ATTEMPTS + 1):
        failed: dict[str, dict[str, Any]] = {}
        first_error = None
        try:
            results = helpers.streaming_bulk(
                client, list(pending.values()), chunk_size=BULK_CHUNK_DOCS,
                max_retries=2, initial_backoff=backoff, max_backoff=30,  # type: ignore[arg-type]  # a float works; the stub says int
                raise_on_error=False, raise_on_exception=False, yield_ok=True,
                request_timeout=max(timeout_s, 60),
                # writes through the alias never auto-create a dynamically mapped index
                # named like the alias when the alias has gone (deleted under us)
                require_alias=op == "index" and all(
                    a["_index"] == alias for a in pending.values()))
            for ok, item in results:
                info = next(iter(item.values()))
                if ok:
                    done += 1 if op != "delete" or info.get("result") == "deleted" else 0
                    pending.pop(info.get("_id"), None)
                    continue
                status = info.get("status")
                if op in ("delete", "update") and status == 404:  # gone: nothing to delete or update
                    pending.pop(info.get("_id"), None)
                    continue
                error = info.get("error") or info.get("exception")
                if isinstance(status, int) and status not in RETRYABLE_STATUS:
                    raise IndexBackendError(
                        f"OpenSearch rejected frame {info.get('_id')} ({status}); the index "
                        "mapping does not fit the document: run `reko reindex`",
                        detail=str(error)[:1000])
                failed[info["_id"]] = pending[info["_id"]]
                first_error = first_error or f"{status}: {error}"
        except OpenSearchException as exc:  # the connection itself failed mid-stream
            failed, first_error = pending, str(exc)
        if not failed:
            return done
        pending = failed
        if attempt < BULK_ATTEMPTS:
            log.warning("bulk %s: %d documents failed (%s); retry %d in %.1f s",
                        op, len(failed), first_error, attempt, backoff)
            time.sleep(backoff)
            backoff *= 2
    raise IndexBackendError(
        f"{len(pending)} frame documents could not be written to OpenSearch after "
        f"{BULK_ATTEMPTS} attempts (first: {next(iter(pending))}); the cluster is overloaded "
        "or unhealthy: check _cluster/health and retry the ingest",
        detail=f"last error {first_error}"[:1000])
