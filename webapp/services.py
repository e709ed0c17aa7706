"""The web app's long-lived objects, created on first use (never at import time)."""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

from ..pipeline.catalog import Catalog
from ..pipeline.index import IndexBackend, open_index
from ..pipeline.storage import LocalStorage
from ..settings import Settings


class Services:
    """Index, catalog, storage and the background ingest queue of one app instance."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._index: IndexBackend | None = None
        self._catalog: Catalog | None = None
        self._persons = None
        self.storage = LocalStorage(settings.data_dir)
        self._queue: "queue.Queue[tuple[str, Path, str]]" = queue.Queue()
        self._worker: threading.Thread | None = None
        self.failures: dict[str, str] = {}  #: video_id → why its background ingest failed

    @property
    def index(self) -> IndexBackend:
        """The index backend named by the settings."""
        with self._lock:
            if self._index is None:
                self._index = open_index(self.settings.resolved_index_url)
            return self._index

    @property
    def persons(self):
        """The person store (persons.db and the face collection)."""
        with self._lock:
            if self._persons is None:
                from ..pipeline.analysis import make_client
                from ..pipeline.persons import PersonStore

                self._persons = PersonStore(self.settings, make_client(self.settings.analyzer,
                                                                       self.settings.data_dir))
            return self._persons

    @property
    def catalog(self) -> Catalog:
        """The video catalog."""
        with self._lock:
            if self._catalog is None:
                self._catalog = Catalog(self.settings.data_dir / "catalog.db")
            return self._catalog

    def enqueue_ingest(self, video_id: str, path: Path, filename: str) -> None:
        """Ingest ``path`` in the background (one video at a time, in upload order); the upload
        file is removed afterwards (the stored copy is a hard link or copy of it)."""
        self._queue.put((video_id, path, filename))
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run_queue, name="reko-ingest", daemon=True)
                self._worker.start()

    def _run_queue(self) -> None:
        from ..errors import RekoError
        from ..pipeline.ingest import Ingestor

        with Ingestor(self.settings, index=self.index) as ingestor:
            while True:
                try:
                    video_id, path, filename = self._queue.get(timeout=30)
                except queue.Empty:
                    return
                try:
                    ingestor.ingest(path, filename=filename)
                except Exception as exc:  # keep the worker alive; say what failed
                    message = str(exc) if isinstance(exc, RekoError) else f"{type(exc).__name__}: {exc}"
                    self.failures[video_id] = message[:500]
                    if self.catalog.get(video_id):
                        self.catalog.update(video_id, status="failed", error=message[:500])
                finally:
                    path.unlink(missing_ok=True)
                    self._queue.task_done()

    def wait_idle(self) -> None:
        """Block until every queued ingest has finished (tests, shutdown)."""
        self._queue.join()

    def status(self) -> dict[str, Any]:
        """Queue length, for the API."""
        return {"queued": self._queue.qsize()}
