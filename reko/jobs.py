"""The background ingest queue of the web app: uploads are ingested one at a time, oldest first.

Durable without a second store: the work list *is* the catalog. An upload is stored and
recorded as ``queued`` before the request returns; the worker takes the oldest record that is
``queued`` (or ``ingesting``, left so by a server that was killed) and ingests it. So a server
killed by SIGKILL resumes every unfinished video at its next start (:meth:`IngestQueue.start`),
and one stopped by SIGTERM interrupts its current ingest at the next frame, puts it back to
``queued`` and resumes it likewise. Two servers (or a server and a CLI ingest) on one data dir
never ingest the same video at once: the catalog's per-video lock serialises them.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from .errors import IngestCancelled, IngestInterrupted, RekoError
from .pipeline.ingest import failure_text

if TYPE_CHECKING:
    from .app import Reko
    from .pipeline.catalog import VideoRecord

log = logging.getLogger(__name__)

PENDING = ("queued", "ingesting")  #: catalog statuses the queue works on
IDLE_POLL_S = 2.0  #: how often an idle worker looks at the catalog (uploads also wake it)


class IngestQueue:
    """One worker thread ingesting the catalog's pending videos through ``app``."""

    def __init__(self, app: "Reko"):
        self._app = app
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.current: str | None = None  #: the video being ingested, if any
        self.failures: dict[str, str] = {}  #: video_id → why a background ingest rejected it

    def start(self) -> None:
        """Start the worker (idempotent); it resumes every pending video, oldest first."""
        with self._lock:
            if self._stop.is_set():
                return
            if self._thread is None or not self._thread.is_alive():
                self._idle.clear()
                self._thread = threading.Thread(target=self._run, name="reko-ingest", daemon=True)
                self._thread.start()
        self._wake.set()

    wake = start  #: an upload was queued: make sure the worker runs and looks now

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop the worker: a running ingest stops at its next frame and resumes at the next
        start. Waits up to ``timeout_s`` for the thread to end."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    def pending(self) -> list["VideoRecord"]:
        """Videos waiting or being ingested, oldest first."""
        return sorted(self._app.catalog.list(PENDING), key=lambda r: r.created_at)

    def wait_idle(self, timeout_s: float = 600.0) -> None:
        """Block until no video is pending and the worker is idle (tests, scripts).

        Raises:
            TimeoutError: still busy after ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while self.pending() or not self._idle.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError("the ingest queue is still busy")
            time.sleep(0.05)

    def status(self) -> dict[str, Any]:
        """``{"pending": N, "current": video_id | None}`` for the API."""
        return {"pending": len(self.pending()), "current": self.current}

    def _run(self) -> None:
        while not self._stop.is_set():
            todo = self.pending()
            if not todo:
                self._idle.set()
                self._wake.wait(IDLE_POLL_S)
                self._wake.clear()
                continue
            self._idle.clear()
            self._ingest(todo[0])
        self._idle.set()

    def _ingest(self, record: "VideoRecord") -> None:
        app, video_id = self._app, record.video_id
        self.current = video_id
        try:
            path = app.local_storage.find_video(video_id)
            if path is None:
                raise RekoError("the uploaded file is missing; upload the video again")
            app.ingest(path, record.filename, should_stop=self._stop.is_set)
            self.failures.pop(video_id, None)
        except IngestInterrupted:
            return
        except IngestCancelled:
            pass
        except Exception as exc:  # keep the worker alive; say what failed
            if not isinstance(exc, RekoError):
                log.exception("ingest of %s failed", video_id)
            self.failures[video_id] = failure_text(exc)
        finally:
            self.current = None
            # never loop on one record: whatever happened, it must leave the pending states
            left = app.catalog.get(video_id)
            if left is not None and left.status in PENDING and not self._stop.is_set():
                app.catalog.update(video_id, status="failed",
                                   error=self.failures.get(video_id, "the ingest stopped; upload again"))
