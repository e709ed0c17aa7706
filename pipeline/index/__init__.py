"""Index backends, chosen by the scheme of ``REKO_INDEX_URL``.

``sqlite:///PATH`` is the embedded default (:mod:`.sqlite`); ``http(s)://`` is OpenSearch
(:mod:`.opensearch`, optional extra ``reko[opensearch]``). Backends are imported lazily.
"""

from __future__ import annotations

from ...errors import IndexBackendError
from .base import FrameHit, IndexBackend, SearchQuery, SearchResult

__all__ = ["open_index", "IndexBackend", "SearchQuery", "SearchResult", "FrameHit"]


def open_index(url: str) -> IndexBackend:
    """Open the backend named by ``url``.

    Raises:
        IndexBackendError: unknown scheme, or the backend's dependency is missing.
    """
    if url.startswith("sqlite://"):
        from .sqlite import SqliteIndex

        return SqliteIndex(url.removeprefix("sqlite:///"))
    if url.startswith(("http://", "https://")):
        try:
            from .opensearch import OpenSearchIndex
        except ImportError as exc:
            raise IndexBackendError(
                f"REKO_INDEX_URL={url} needs the OpenSearch client: pip install 'reko[opensearch]' "
                f"({exc})") from None
        return OpenSearchIndex(url)
    raise IndexBackendError(
        f"REKO_INDEX_URL={url!r} is not supported: use sqlite:///PATH or http(s)://HOST:PORT")
