"""The nudity detector behind ``detect_moderation_labels``: NudeNet's ONNX model on onnxruntime.

``nudenet`` 3.4.2 (PyPI) ships ``nudenet/320n.onnx``, a YOLOv8n detector (320×320 input, 18
body-part classes such as ``FEMALE_BREAST_EXPOSED``). reko uses only the model file: NudeNet's
own Python code needs ``opencv-python-headless`` (which clashes with the ``opencv-python`` that
rapidocr installs) and cannot take an RGB array, so preprocessing (pad to square, resize,
0–1 RGB NCHW) is done here in NumPy, and NMS by :func:`.geometry.nms`. Install with
``pip install --no-deps nudenet==3.4.2`` (its other dependencies, numpy and onnxruntime, are
reko's own).

:data:`MODERATION_TAXONOMY` maps NudeNet's classes onto Amazon Rekognition's moderation
taxonomy v7 (three levels; ``ModerationModelVersion`` "7.0"). Classes that are not moderation
content (faces, feet, armpits, belly, covered buttocks/anus) are not reported.
"""

from __future__ import annotations

import ast
import threading
from dataclasses import dataclass

import numpy as np

from ...errors import AnalyzerError
from .engines import install_hint
from .geometry import nms
from .images import as_rgb

INSTALL_HINT = install_hint("moderation")
MODERATION_MODEL_VERSION = "7.0"  #: Rekognition's moderation model version whose taxonomy we emit
INPUT_PX = 320  #: the model's input side in pixels
MIN_SCORE = 0.2  #: NudeNet's own detection threshold (0–1)
NMS_IOU = 0.45  #: NudeNet's NMS IoU threshold

#: Rekognition moderation taxonomy v7: label → (parent name or "", taxonomy level 1–3).
#: Source: AWS Rekognition developer guide, "Moderating content" → "Using the image and video
#: moderation APIs" (top-level, second-level and third-level categories of model version 7.0),
#: only the part NudeNet's classes can reach.
TAXONOMY: dict[str, tuple[str, int]] = {
    "Explicit": ("", 1),
    "Explicit Nudity": ("Explicit", 2),
    "Exposed Male Genitalia": ("Explicit Nudity", 3),
    "Exposed Female Genitalia": ("Explicit Nudity", 3),
    "Exposed Buttocks or Anus": ("Explicit Nudity", 3),
    "Exposed Female Nipple": ("Explicit Nudity", 3),
    "Non-Explicit Nudity of Intimate parts and Kissing": ("", 1),
    "Non-Explicit Nudity": ("Non-Explicit Nudity of Intimate parts and Kissing", 2),
    "Exposed Male Nipple": ("Non-Explicit Nudity", 3),
    "Swimwear or Underwear": ("", 1),
    "Female Swimwear or Underwear": ("Swimwear or Underwear", 2),
}

#: NudeNet class → the most specific Rekognition v7 label it is evidence of. A covered female
#: breast or genital area (a bikini, a bra, underwear) is "Female Swimwear or Underwear"; a
#: covered buttock or anus is left out (ordinary trousers trigger it), as are faces, feet,
#: armpits and bellies (not moderation content).
MODERATION_TAXONOMY: dict[str, str] = {
    "FEMALE_GENITALIA_EXPOSED": "Exposed Female Genitalia",
    "MALE_GENITALIA_EXPOSED": "Exposed Male Genitalia",
    "BUTTOCKS_EXPOSED": "Exposed Buttocks or Anus",
    "ANUS_EXPOSED": "Exposed Buttocks or Anus",
    "FEMALE_BREAST_EXPOSED": "Exposed Female Nipple",
    "MALE_BREAST_EXPOSED": "Exposed Male Nipple",
    "FEMALE_BREAST_COVERED": "Female Swimwear or Underwear",
    "FEMALE_GENITALIA_COVERED": "Female Swimwear or Underwear",
}

#: NudeNet 3.4's class order (also stored in the model's metadata, which is preferred).
NUDENET_CLASSES = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED",
    "BELLY_COVERED", "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE",
    "BELLY_EXPOSED", "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)


@dataclass(frozen=True)
class BodyPart:
    """One NudeNet detection: ``nudenet_class`` (e.g. ``FEMALE_BREAST_EXPOSED``), ``score``
    0–1, ``box`` ``(left, top, width, height)`` as ratios 0–1 of the image."""

    nudenet_class: str
    score: float
    box: tuple[float, float, float, float]


class ModerationEngine:
    """NudeNet 320n on a single-threaded onnxruntime session (reko runs one process per core).

    Constructing checks that onnxruntime and the model file are installed; :meth:`load` (or the
    first :meth:`detect`) opens the session, :meth:`close` drops it. Calls from several threads
    are serialised while the session loads; onnxruntime's ``run`` itself is thread-safe.

    Raises:
        AnalyzerError: nudenet (the model file) or onnxruntime is not installed.
    """

    def __init__(self) -> None:
        try:
            import importlib.resources

            import onnxruntime  # noqa: F401  (checked here, used by load)

            model = importlib.resources.files("nudenet").joinpath("320n.onnx")
            if not model.is_file():
                raise ModuleNotFoundError("nudenet/320n.onnx")
        except ModuleNotFoundError as exc:
            raise AnalyzerError(f"moderation needs the NudeNet model ({exc.name or exc} missing): "
                                f"{INSTALL_HINT}") from None
        self._model = str(model)
        self._session = None
        self._input = ""
        self.classes: tuple[str, ...] = NUDENET_CLASSES
        self._lock = threading.Lock()

    def load(self) -> "ModerationEngine":
        """Open the ONNX session now (otherwise on the first :meth:`detect`); returns self.

        Raises:
            AnalyzerError: the model file cannot be loaded by onnxruntime.
        """
        self._loaded_session()
        return self

    def _loaded_session(self):
        with self._lock:
            if self._session is None:
                self._session = self._open()
            return self._session

    def _open(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(self._model, sess_options=options,
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            raise AnalyzerError(f"moderation: the NudeNet model cannot be loaded ({exc}); "
                                f"reinstall: {INSTALL_HINT}") from None
        self._input = session.get_inputs()[0].name
        names = session.get_modelmeta().custom_metadata_map.get("names")
        try:
            table = ast.literal_eval(names) if names else None
            self.classes = tuple(table[i] for i in range(len(table)))
        except (ValueError, SyntaxError, KeyError, TypeError):
            self.classes = NUDENET_CLASSES
        return session

    def close(self) -> None:
        """Drop the ONNX session (a later :meth:`detect` opens it again)."""
        with self._lock:
            self._session = None

    def detect(self, image: np.ndarray) -> list[BodyPart]:
        """Body parts in an RGB uint8 H×W×3 image, best first (score ≥ 0.2, class-agnostic NMS
        at IoU 0.45, as NudeNet does)."""
        from PIL import Image

        session = self._loaded_session()
        image = as_rgb(image, "moderation")
        height, width = image.shape[:2]
        side = max(height, width)
        square = np.zeros((side, side, 3), dtype=np.uint8)  # pad right/bottom, as NudeNet does
        square[:height, :width] = image
        pil = Image.fromarray(square).resize((INPUT_PX, INPUT_PX), Image.Resampling.BILINEAR)
        blob = (np.asarray(pil, dtype=np.float32) / 255.0).transpose(2, 0, 1)[None]
        out = session.run(None, {self._input: blob})[0][0].T  # (anchors, 4 + classes)
        scores = out[:, 4:]
        cls = scores.argmax(axis=1)
        best = scores[np.arange(len(cls)), cls]
        keep = best >= MIN_SCORE
        boxes, cls, best = out[keep, :4], cls[keep], best[keep]
        scale = side / INPUT_PX
        x1 = (boxes[:, 0] - boxes[:, 2] / 2) * scale
        y1 = (boxes[:, 1] - boxes[:, 3] / 2) * scale
        x2 = (boxes[:, 0] + boxes[:, 2] / 2) * scale
        y2 = (boxes[:, 1] + boxes[:, 3] / 2) * scale
        xyxy = np.stack([np.clip(x1, 0, width), np.clip(y1, 0, height),
                         np.clip(x2, 0, width), np.clip(y2, 0, height)], axis=1)
        parts = []
        for i in nms(xyxy, best, NMS_IOU):
            bx1, by1, bx2, by2 = xyxy[i]
            if bx2 <= bx1 or by2 <= by1:
                continue
            parts.append(BodyPart(self.classes[int(cls[i])], float(best[i]),
                                  (float(bx1 / width), float(by1 / height),
                                   float((bx2 - bx1) / width), float((by2 - by1) / height))))
        return parts


def moderation_labels(parts: list[BodyPart], min_confidence: float = 50.0) -> list[dict]:
    """Rekognition ``ModerationLabels`` from NudeNet detections.

    Each mapped detection yields its label and every ancestor (``Exposed Female Nipple`` →
    ``Explicit Nudity`` → ``Explicit``), each ``{"Confidence", "Name", "ParentName",
    "TaxonomyLevel"}`` with ``ParentName`` ``""`` at level 1, as Rekognition does. A label's
    ``Confidence`` (0–100) is the highest score × 100 among the detections under it. Labels
    below ``min_confidence`` are dropped. Sorted by taxonomy level, then confidence descending.
    """
    best: dict[str, float] = {}
    for part in parts:
        name = MODERATION_TAXONOMY.get(part.nudenet_class)
        confidence = 100.0 * part.score
        while name:
            best[name] = max(best.get(name, 0.0), confidence)
            name = TAXONOMY[name][0]
    labels = [{"Confidence": conf, "Name": name, "ParentName": TAXONOMY[name][0],
               "TaxonomyLevel": TAXONOMY[name][1]}
              for name, conf in best.items() if conf >= min_confidence]
    return sorted(labels, key=lambda lab: (lab["TaxonomyLevel"], -lab["Confidence"], lab["Name"]))
