"""Index backends, chosen by the scheme of ``REKO_INDEX_URL`` from :data:`BACKENDS`.

``sqlite:///PATH`` is the embedded default (:mod:`.sqlite`); ``http(s)://`` is OpenSearch
(:mod:`.opensearch`, optional extra ``reko[opensearch]``). Backends are imported lazily.
"""

from __future__ import annotations

from importlib import import_module
from typing import Callable

from ...errors import IndexBackendError
from .base import DEFAULT_INDEX_NAME, FrameHit, IndexBackend, SearchQuery, SearchResult

__all__ = ["open_index", "IndexBackend", "SearchQuery", "SearchResult", "FrameHit", "BACKENDS"]


def _sqlite(url: str, index_name: str) -> IndexBackend:
    from .sqlite import SqliteIndex

    return SqliteIndex(url.removeprefix("sqlite:///"))


def _opensearch(url: str, index_name: str) -> IndexBackend:
    try:
        module = import_module(".opensearch", __name__)
    except ImportError as exc:
        raise IndexBackendError("an OpenSearch REKO_INDEX_URL needs the OpenSearch client: "
                                "pip install 'reko[opensearch]'", detail=str(exc)) from None
    return module.OpenSearchIndex(url, index_name=index_name)


#: URL scheme → backend factory ``(url, index_name) -> IndexBackend``.
BACKENDS: dict[str, Callable[[str, str], IndexBackend]] = {
    "sqlite": _sqlite, "http": _opensearch, "https": _opensearch}


def open_index(url: str, index_name: str = DEFAULT_INDEX_NAME) -> IndexBackend:
    """Open the backend named by ``url``'s scheme; ``index_name`` names the OpenSearch alias
    (ignored by SQLite, whose file is the installation's own).

    Raises:
        IndexBackendError: unknown scheme, unusable URL, or the backend's dependency is missing.
    """
    factory = BACKENDS.get(url.split("://", 1)[0] if "://" in url else "")
    if factory is None:
        raise IndexBackendError("REKO_INDEX_URL is not supported: use sqlite:///PATH or "
                                "http(s)://HOST:PORT", detail=f"REKO_INDEX_URL={url!r}")
    return factory(url, index_name)
