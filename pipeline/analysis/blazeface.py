"""Fast face detection: MediaPipe BlazeFace, as bundled in the ``mediapipe`` 0.10.21 wheel.

BlazeFace (Bazarevsky et al., "BlazeFace: Sub-millisecond Neural Face Detection on Mobile
GPUs", arXiv:1907.05047, 2019) is an SSD-style detector; mediapipe 0.10.21 ships two of its
TFLite models inside the wheel, under ``mediapipe/modules/face_detection/``, and runs them
through its legacy ``mp.solutions.face_detection`` graph:

* ``face_detection_short_range.tflite`` (``model_selection=0``, 128×128 input): faces that
  fill a good part of the picture (selfie / video call distance, "within 2 meters");
* ``face_detection_full_range_sparse.tflite`` (``model_selection=1``, 192×192 input): faces
  "within 5 meters", i.e. small faces in wide shots.

Both load from the wheel's own files: nothing is downloaded (later mediapipe releases, 0.10.22+
and 1.x, ship no models in the wheel and need a model file fetched separately, which is why reko
pins 0.10.21). Licence: Apache-2.0, for the package and the bundled models (wheel metadata
``License: Apache 2.0``; model cards of BlazeFace short/full range, Google, Apache-2.0).

:class:`BlazeFaceDetector` runs both models and merges their boxes (non-maximum suppression at
IoU :data:`NMS_IOU`): measured here (``benchmarks/faces.py``), full range finds faces down to
≈58 px on a 720p frame in ≈6–16 ms, the short-range model finds the blurred face of
``carphone_distorted.mp4`` that dlib's HOG misses, and on face_recognition's portraits both
give boxes within ≈10 % of dlib's HOG box (so dlib's 68-point and 5-point shape predictors,
trained on HOG boxes, land on the face). Detection only: identity stays dlib's 128-d embedding
(:mod:`.faces`).

Thread safety: a MediaPipe graph processes one image at a time; calls are serialised with a
lock. One detector per process (graphs hold native threads and must not cross ``fork``).
"""

from __future__ import annotations

import math
import sys
import threading
import types
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ...errors import AnalyzerError
from ..planner import iou
from .engines import install_hint
from .images import as_rgb

#: Lowest BlazeFace score (0–1) kept. MediaPipe's own default ``min_detection_confidence`` is
#: 0.5; reko keeps weaker detections down to 0.4 and reports them with Confidence < 60 (poor
#: quality, see ``REKO_FACE_MIN_CONFIDENCE``) so they can be shown but never start a person.
#: Measured: face_recognition's portraits score 0.79–0.94, carphone_pristine's man 0.7–0.9,
#: the 44–60 px street faces of bikes.mp4 0.64–0.80.
MIN_SCORE = 0.4

#: Boxes of the two models overlapping at least this much (IoU) are one face (the higher score
#: is kept). 0.3 is the usual NMS threshold for face detectors (e.g. MediaPipe's own
#: ``min_suppression_threshold`` in face_detection_full_range.pbtxt is 0.3).
NMS_IOU = 0.3

#: MediaPipe's ``model_selection`` values, in the order they are run.
MODELS = (1, 0)  # full range first (small faces), then short range (large / blurred faces)

#: The full-range model sees the picture letterboxed into 192×192 px, so a 16:9 frame loses
#: almost half its resolution to padding. Frames wider than this aspect ratio are also
#: searched in square tiles (overlapping by :data:`TILE_OVERLAP` of a tile) by the full-range
#: model: on bikes.mp4 (640×272) the passer-by at 7.4 s (44 px face) is found only this way.
TILE_ASPECT = 1.3
TILE_OVERLAP = 0.25


#: Second opinion on every BlazeFace box: dlib's HOG detector (no model file: it is built into
#: dlib) run on a crop of twice the box, scaled so the face is :data:`VERIFY_FACE_PX` tall. The
#: face's Confidence is the lower of the two detectors' (see :attr:`FaceBox.confidence`).
#: Why: each detector has false faces the other does not (measured, ``benchmarks/faces.py``):
#: BlazeFace scores the cartoon bunny of bigbuckbunny.mp4 61–97 (HOG on the crop: score
#: −0.94…0.07, Confidence ≤ 58), HOG scores a car's bumper in bikes.mp4 at 7.4 s 91 (BlazeFace
#: finds nothing there); real faces pass both: face_recognition's portraits (HOG on the crop
#: 0.99–1.71), carphone_pristine's man (0.51–1.19), bikes.mp4's cyclist at 1.2 s (0.99). A face
#: only one detector sees is still reported, with Confidence < 60: it cannot start a person
#: (``REKO_FACE_MIN_CONFIDENCE``) but can join one and be searched with.
VERIFY_FACE_PX = 100
#: dlib HOG ``adjust_threshold`` for the check; no detection at all counts as this score.
VERIFY_MIN_SCORE = -1.0


@dataclass(frozen=True)
class FaceBox:
    """One detected face: ``box_px`` (left, top, right, bottom) floats in pixels of the image
    passed to :meth:`BlazeFaceDetector.detect` (clamped to it), ``score`` 0–1 (BlazeFace's
    sigmoid score), ``model`` the ``model_selection`` (1 full range, 0 short range) that found
    it, ``hog_score`` dlib's HOG score on the face's crop (None when not verified)."""

    box_px: tuple[float, float, float, float]
    score: float
    model: int
    hog_score: float | None = None

    @property
    def confidence(self) -> float:
        """Rekognition-style ``Confidence`` 0–100: :func:`score_to_confidence` of the BlazeFace
        score, capped by the HOG check's confidence when verified (see
        :data:`VERIFY_FACE_PX`; dlib's map :func:`.faces.score_to_confidence`)."""
        confidence = score_to_confidence(self.score)
        if self.hog_score is not None:
            from .faces import score_to_confidence as hog_confidence

            confidence = min(confidence, hog_confidence(self.hog_score))
        return confidence


#: Slope of the logistic score→confidence map (see :func:`score_to_confidence`).
CONFIDENCE_SLOPE = math.log(99.0) / 0.25


def score_to_confidence(score: float) -> float:
    """Rekognition ``Confidence`` (0–100) of a BlazeFace score (0–1).

    ``100 / (1 + exp(-k·(score − 0.5)))`` with ``k = ln 99 / 0.25``: MediaPipe's default
    decision threshold 0.5 → 50, 0.75 → 99 — the same shape as reko's map of dlib's HOG score
    (decision boundary → 50, a clear face → 99), so ``REKO_FACE_MIN_CONFIDENCE`` (60) means
    score ≥ 0.52 with either detector, and a clear portrait reports ≥ 99 as Rekognition does.
    Measured scores: face_recognition's portraits 0.79–0.94 (→ 99.5–100).
    """
    return float(100.0 / (1.0 + math.exp(-CONFIDENCE_SLOPE * (float(score) - 0.5))))


def import_face_detection() -> Any:
    """``mediapipe.python.solutions.face_detection``, imported without matplotlib.

    ``import mediapipe`` imports every legacy solution, and their drawing helpers import
    ``matplotlib.pyplot`` (≈1 s here, in every worker process) only to plot landmarks, which
    reko never does. While mediapipe is imported, placeholder modules stand in for
    ``matplotlib`` and ``matplotlib.pyplot`` when those are not imported yet; they are removed
    right after, so a later ``import matplotlib`` is the real one. Measured: 1.25 s instead of
    2.3 s on a loaded 2-core machine.

    Raises:
        ImportError: mediapipe is not installed.
    """
    placeholders = {}
    for name in ("matplotlib", "matplotlib.pyplot"):
        if name not in sys.modules:
            module = types.ModuleType(name, "placeholder while reko imports mediapipe")
            module.__path__ = []  # a package, so the submodule import resolves
            sys.modules[name] = placeholders[name] = module
    try:
        from mediapipe.python.solutions import face_detection
    finally:
        for name, module in placeholders.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    return face_detection


def tiles(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Square tiles (left, top, right, bottom px) covering a frame wider than
    :data:`TILE_ASPECT`, overlapping by :data:`TILE_OVERLAP`; ``[]`` for other frames."""
    if width <= TILE_ASPECT * height:
        return []
    side = height
    step = max(1, int(side * (1 - TILE_OVERLAP)))
    lefts = list(range(0, max(1, width - side), step))
    if lefts[-1] + side < width:
        lefts.append(width - side)
    return [(x, 0, x + side, height) for x in lefts]


class BlazeFaceDetector:
    """Both BlazeFace models of mediapipe 0.10.21, loaded on first use (:meth:`load`).

    Args:
        min_score: lowest score kept (:data:`MIN_SCORE`).
        models: ``model_selection`` values run, merged by NMS (:data:`MODELS`).

    Raises (from :meth:`load` / :meth:`detect`):
        AnalyzerError: mediapipe is not installed (the message names the install command).
    """

    def __init__(self, min_score: float = MIN_SCORE, models: tuple[int, ...] = MODELS,
                 verify: bool = True):
        self.min_score = float(min_score)
        self.models = tuple(models)
        self.verify = verify
        self._hog: Any = None
        self._graphs: list | None = None
        self._lock = threading.Lock()

    def load(self) -> "BlazeFaceDetector":
        """Build the MediaPipe graphs now (≈2 s the first time in a process, mostly importing
        mediapipe); returns self."""
        with self._lock:
            if self._graphs is None:
                try:
                    face_detection = import_face_detection()
                except ImportError as exc:
                    raise AnalyzerError("fast face detection needs mediapipe 0.10.21 (the last "
                                        f"release whose wheel bundles the BlazeFace models): "
                                        f"{install_hint('faces')} ({exc})") from None
                self._graphs = [face_detection.FaceDetection(model_selection=m,
                                                             min_detection_confidence=self.min_score)
                                for m in self.models]
                if self.verify:
                    try:
                        import dlib
                    except ImportError as exc:
                        raise AnalyzerError(f"the face check needs dlib: {install_hint('faces')} "
                                            f"({exc})") from None
                    self._hog = dlib.get_frontal_face_detector()
        return self

    def close(self) -> None:
        """Free the graphs (a later :meth:`detect` builds them again)."""
        with self._lock:
            for graph in self._graphs or []:
                graph.close()
            self._graphs = None

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        """Faces in an RGB uint8 H×W×3 image, highest score first (boxes in its pixels).

        Raises:
            AnalyzerError: mediapipe is missing, or ``image`` is not an image array.
        """
        image = np.ascontiguousarray(as_rgb(image, "face detection"))
        height, width = image.shape[:2]
        self.load()
        found: list[FaceBox] = []
        with self._lock:
            for model, graph in zip(self.models, self._graphs or []):
                views = [(0, 0, width, height)]
                if model == 1:
                    views += tiles(width, height)
                for x0, y0, x1, y1 in views:
                    view = image if (x1 - x0, y1 - y0) == (width, height) else \
                        np.ascontiguousarray(image[y0:y1, x0:x1])
                    vw, vh = x1 - x0, y1 - y0
                    for det in graph.process(view).detections or []:
                        rel = det.location_data.relative_bounding_box
                        box = (max(0.0, x0 + rel.xmin * vw), max(0.0, y0 + rel.ymin * vh),
                               min(float(width), x0 + (rel.xmin + rel.width) * vw),
                               min(float(height), y0 + (rel.ymin + rel.height) * vh))
                        if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
                            found.append(FaceBox(box, float(det.score[0]), model))
        found.sort(key=lambda f: -f.score)
        kept: list[FaceBox] = []
        for face in found:
            if all(iou(face.box_px, k.box_px) < NMS_IOU for k in kept):
                kept.append(face)
        if self._hog is not None:
            kept = [replace(face, hog_score=self._hog_score(image, face.box_px)) for face in kept]
        return kept

    def _hog_score(self, image: np.ndarray, box: tuple[float, float, float, float]) -> float:
        """dlib HOG's best score on a crop of twice ``box``, the face scaled to
        :data:`VERIFY_FACE_PX` (:data:`VERIFY_MIN_SCORE` when it finds nothing)."""
        import cv2

        side = max(box[2] - box[0], box[3] - box[1], 1.0)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        x0, y0 = int(max(0, cx - side)), int(max(0, cy - side))
        x1, y1 = int(min(image.shape[1], cx + side)), int(min(image.shape[0], cy + side))
        crop = image[y0:y1, x0:x1]
        if crop.size == 0:
            return VERIFY_MIN_SCORE
        scale = VERIFY_FACE_PX / side
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
        _rects, scores, _kinds = self._hog.run(np.ascontiguousarray(crop), 0, VERIFY_MIN_SCORE)
        return float(max(scores)) if len(scores) else VERIFY_MIN_SCORE
