"""Analyse one frame through a Rekognition-shaped client and turn responses into document fields.

Runs inside analysis worker processes: :func:`init_worker` builds the client once per process
(models load once), :func:`analyse_frame` is called per kept frame with its JPEG bytes. Only
client methods are called (``detect_text``, ``index_faces`` …), so a boto3 Rekognition client
works unchanged.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Iterable, Sequence

from ..errors import AnalyzerError
from .analysis import make_client

MIN_LINE_CONFIDENCE = 50.0  #: LINE detections below this Confidence (0–100) are not indexed
MAX_FACES_PER_FRAME = 20  #: IndexFaces MaxFaces: the largest faces of a frame are indexed
LABEL_MIN_CONFIDENCE = 55.0  #: DetectLabels MinConfidence (Rekognition's default)
MODERATION_MIN_CONFIDENCE = 50.0  #: DetectModerationLabels MinConfidence (Rekognition's default)
#: Moderation top-level categories that do not make a frame unsafe to show.
NOT_UNSAFE = {"Swimwear or Underwear"}
OPTIONAL_FEATURES = ("faces", "labels", "moderation")  #: skipped (not fatal) when unavailable

_client: Any = None


def init_worker(analyzer: str, data_dir: str, features: Iterable[str] = (),
                parent_pid: int | None = None) -> None:
    """Process-pool initializer: one single-threaded client per worker process (reko runs one
    worker per core, so libraries must not start their own thread pools). The worker exits by
    itself when the process that started it dies, even by SIGKILL (no orphans burning CPU).
    With the local analyzer, the engines of ``features`` load now (while the ingest process
    probes and starts sampling) instead of on the first frame; one that cannot load is left
    for the first frame to report (as a missing feature). ``parent_pid`` is the ingest
    process's pid, given by it: a worker whose parent died while the worker was still starting
    (before this initializer ran) has already been re-parented, so its own ``getppid()``
    would watch the wrong process."""
    global _client
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parent = parent_pid if parent_pid is not None else os.getppid()
    if os.getppid() != parent:
        os._exit(1)  # the ingest process died while this worker was starting
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True,
                     name="reko-parent-watch").start()
    _client = make_client(analyzer, data_dir)
    if analyzer == "local":
        from .analysis.engines import ENGINES

        for feature in features:
            try:
                ENGINES.get(feature)
            except AnalyzerError:
                pass


def ready() -> bool:
    """A no-op task: submitting it starts the pool's workers (and their engine loading)."""
    return _client is not None


def _exit_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    while True:
        time.sleep(interval_s)
        if os.getppid() != parent_pid:  # re-parented: the ingest process is gone
            os._exit(1)


def text_fields(response: dict[str, Any]) -> dict[str, Any]:
    """Document fields from a DetectText response: ``text_lines`` (``text``, ``confidence``
    0–100, ``box`` BoundingBox ratios) and ``text`` (the lines joined by newlines)."""
    lines = [{"text": d["DetectedText"], "confidence": round(d["Confidence"], 2),
              "box": {k: round(v, 5) for k, v in d["Geometry"]["BoundingBox"].items()}}
             for d in response.get("TextDetections", [])
             if d.get("Type") == "LINE" and d.get("Confidence", 0) >= MIN_LINE_CONFIDENCE]
    return {"text_lines": lines, "text": "\n".join(line["text"] for line in lines)}


def analyse_frame(jpeg: bytes, video_id: str, frame_ms: int, features: Iterable[str],
                  collection_id: str, client: Any = None,
                  text_bands: Sequence[dict[str, float]] | None = None) -> dict[str, Any]:
    """Analyse one frame (JPEG bytes) with the requested ``features``. ``text_bands``
    (``BoundingBox`` ratios) limits text to those regions (DetectText ``RegionsOfInterest``:
    the planner's changed bands or the bands where its text finder saw text, see
    :func:`reko.pipeline.planner.merge_carried`); an empty ``text_bands`` means no region
    holds text: no DetectText call, no lines.

    Returns document fields (``text``, ``text_lines`` …), ``face_records`` (IndexFaces
    ``FaceRecords``, assigned to persons by the ingest process), ``analysis_ms`` (ms per
    operation) and ``missing`` (optional feature → why it could not run).

    Raises:
        AnalyzerError: the text analysis (the core feature) failed.
    """
    client = client or _client
    if client is None:
        raise RuntimeError("analyse_frame called outside a worker: call init_worker first")
    features = set(features)
    fields: dict[str, Any] = {"analysis_ms": {}, "missing": {}}
    image = {"Bytes": jpeg}

    def timed(op: str, call):
        started = time.perf_counter()
        try:
            return call()
        finally:
            fields["analysis_ms"][op] = (time.perf_counter() - started) * 1000

    if "text" in features and text_bands is not None and not text_bands:
        fields.update(text_fields({"TextDetections": []}))
    elif "text" in features:
        extra = ({"Filters": {"RegionsOfInterest": [{"BoundingBox": dict(b)} for b in text_bands]}}
                 if text_bands else {})
        fields.update(text_fields(timed("detect_text", lambda: client.detect_text(Image=image, **extra))))
    if "faces" in features:
        try:
            response = timed("index_faces", lambda: client.index_faces(
                CollectionId=collection_id, Image=image, ExternalImageId=f"{video_id}:{frame_ms}",
                DetectionAttributes=["DEFAULT"], QualityFilter="NONE", MaxFaces=MAX_FACES_PER_FRAME))
            fields["face_records"] = response.get("FaceRecords", [])
        except AnalyzerError as exc:
            if getattr(exc, "transient", False):  # throttled past the retry budget: retry the frame
                raise
            fields["missing"]["faces"] = str(exc)
    if "labels" in features:
        try:
            fields["detected_labels"] = timed("detect_labels", lambda: client.detect_labels(
                Image=image, MinConfidence=LABEL_MIN_CONFIDENCE))["Labels"]
        except AnalyzerError as exc:
            if getattr(exc, "transient", False):  # throttled past the retry budget: retry the frame
                raise
            fields["missing"]["labels"] = str(exc)
    if "moderation" in features:
        try:
            response = timed("detect_moderation_labels", lambda: client.detect_moderation_labels(
                Image=image, MinConfidence=MODERATION_MIN_CONFIDENCE))
            fields.update(moderation_fields(response))
        except AnalyzerError as exc:
            if getattr(exc, "transient", False):  # throttled past the retry budget: retry the frame
                raise
            fields["missing"]["moderation"] = str(exc)
    return fields


def moderation_fields(response: dict[str, Any]) -> dict[str, Any]:
    """``moderation`` (``name``, ``parent``, ``level``, ``confidence`` 0–100) and
    ``unsafe_confidence``: the highest confidence of a label outside :data:`NOT_UNSAFE`
    (0 when none), which search compares with ``REKO_HIDE_UNSAFE_CONFIDENCE``."""
    labels = response.get("ModerationLabels", [])
    parents = {label["Name"]: label.get("ParentName", "") for label in labels}

    def top(name: str) -> str:
        seen = set()
        while parents.get(name) and name not in seen:
            seen.add(name)
            name = parents[name]
        return name

    unsafe = [label["Confidence"] for label in labels if top(label["Name"]) not in NOT_UNSAFE]
    return {"moderation": [{"name": label["Name"], "parent": label.get("ParentName", ""),
                            "level": label.get("TaxonomyLevel", 0), "confidence": round(label["Confidence"], 2)}
                           for label in labels],
            "unsafe_confidence": round(max(unsafe, default=0.0), 2)}


def label_fields(detected: list[dict[str, Any]], face_count: int, text_line_count: int) -> dict[str, Any]:
    """``labels`` (``name``, ``confidence``, ``parents``, ``boxes``) and ``label_names`` from a
    DetectLabels ``Labels`` list plus what other analyzers are sure of (a face implies Face,
    Head, Person; text implies Text), with every parent reported as a label, as Rekognition does."""
    from .analysis.label_taxonomy import implied_labels, merge_labels, with_parents

    labels = with_parents(merge_labels(implied_labels(face_count, text_line_count), detected))
    out = [{"name": label["Name"], "confidence": round(label["Confidence"], 2),
            "parents": [p["Name"] for p in label.get("Parents", [])],
            "boxes": [{k: round(v, 5) for k, v in i["BoundingBox"].items()} for i in label.get("Instances", [])]}
           for label in labels]
    return {"labels": out, "label_names": [label["name"] for label in out]}
