"""Analyse one frame through a Rekognition-shaped client and turn responses into document fields.

Runs inside analysis worker processes: :func:`init_worker` builds the client once per process
(models load once), :func:`analyse_frame` is called per kept frame with its JPEG bytes.
"""

from __future__ import annotations

import os
import time
from typing import Any

from .analysis import make_client

MIN_LINE_CONFIDENCE = 50.0  #: LINE detections below this Confidence (0–100) are not indexed

_client: Any = None


def init_worker(analyzer: str, data_dir: str) -> None:
    """Process-pool initializer: one single-threaded client per worker process (reko runs one
    worker per core, so libraries must not start their own thread pools)."""
    global _client
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _client = make_client(analyzer, data_dir)


def text_fields(response: dict[str, Any]) -> dict[str, Any]:
    """Document fields from a DetectText response: ``text_lines`` (``text``, ``confidence``
    0–100, ``box`` BoundingBox ratios) and ``text`` (the lines joined by newlines)."""
    lines = [{"text": d["DetectedText"], "confidence": round(d["Confidence"], 2),
              "box": {k: round(v, 5) for k, v in d["Geometry"]["BoundingBox"].items()}}
             for d in response.get("TextDetections", [])
             if d.get("Type") == "LINE" and d.get("Confidence", 0) >= MIN_LINE_CONFIDENCE]
    return {"text_lines": lines, "text": "\n".join(line["text"] for line in lines)}


def analyse_frame(jpeg: bytes, client: Any = None) -> dict[str, Any]:
    """Analyse one frame (JPEG bytes) and return its document fields plus ``analysis_ms``
    (milliseconds per operation). Uses the worker's client unless ``client`` is given."""
    client = client or _client
    if client is None:
        raise RuntimeError("analyse_frame called outside a worker: call init_worker first")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    fields = text_fields(client.detect_text(Image={"Bytes": jpeg}))
    timings["detect_text"] = (time.perf_counter() - started) * 1000
    fields["analysis_ms"] = timings
    return fields
