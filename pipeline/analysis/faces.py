"""Local face analysis: BlazeFace detection (mediapipe, :mod:`.blazeface`; dlib HOG as the
alternative), dlib 68-point landmarks, dlib 128-d embeddings, and Rekognition-shaped
``FaceDetails``.

The identity models are the ones ``face_recognition`` 1.3.0 uses, shipped by the PyPI package
``face-recognition-models`` and run by ``dlib`` (``dlib-bin`` wheel); the detector models ship
inside the ``mediapipe`` 0.10.21 wheel: no weights are downloaded at run time. They are loaded
once per :class:`FaceEngine`, on first use.

Why BlazeFace for detection (measured in ``benchmarks/faces.py``): on a 720p frame it takes
≈6–16 ms against ≈285 ms for dlib HOG at upsample 1, finds faces down to ≈58 px where HOG at
upsample 0 needs ≈80 px, and its short-range model finds the blurred face of
``carphone_distorted.mp4`` where HOG finds none. Landmarks and the embedding stay dlib's
(the 5-point alignment and ResNet descriptor only need a box around the face).

Everything that Rekognition reports in ratios of the image, or in 0–100 units, is mapped here:

* ``BoundingBox`` — the detector's box (BlazeFace: forehead to chin; HOG: the square around
  eyebrows to lower lip) in ratios of image width/height, clamped to 0–1.
* ``Confidence`` — BlazeFace: :attr:`.blazeface.FaceBox.confidence` (its score, capped by a
  HOG check on the face's crop); HOG: dlib's detection score (SVM margin)
  through :func:`score_to_confidence`.
* ``Landmarks`` — Rekognition's landmark types placed on dlib's 68 iBUG-300W points
  (:data:`LANDMARK_POINTS`).
* ``Pose`` — roll/yaw/pitch in degrees from ``cv2.solvePnP`` of six landmarks against a generic
  3D face (:data:`MODEL_POINTS_3D`).
* ``Quality`` — ``Brightness`` and ``Sharpness`` 0–100 (:func:`brightness_0_100`,
  :func:`sharpness_0_100`).

Age, gender, emotions, beard, glasses, eyes/mouth open, occlusion and gaze need models that do
not ship in any offline package here; they are left out (never invented), even with
``Attributes=['ALL']``.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from ...errors import AnalyzerError
from .engines import install_hint
from .images import as_rgb

if TYPE_CHECKING:
    from .blazeface import BlazeFaceDetector

#: How to install the face models when they are missing.
INSTALL_HINT = ("local face analysis needs dlib and the face_recognition models: "
                + install_hint("faces"))

#: ``FaceModelVersion`` reported by the local engine (the dlib ResNet embedding model file).
FACE_MODEL_VERSION = "dlib_face_recognition_resnet_model_v1"

#: Frames whose shorter side is below this (pixels) are searched with HOG upsampling 1, which
#: finds faces down to ≈40 px instead of ≈80 px (carphone 176×144 needs it; bikes 640×272 too).
SMALL_FRAME_PX = 400

#: Lowest dlib detection score returned (``adjust_threshold`` of ``face_detector.run``); dlib's
#: own decision boundary is 0. Scores -0.5…0 are weak faces (heavily compressed video, profile)
#: and false positives; they come back with Confidence < 50 so callers can filter.
MIN_DETECTION_SCORE = -0.5

#: Slope of the logistic score→confidence map: score 0 → 50, score 1 → 99 (k = ln 99).
CONFIDENCE_SLOPE = math.log(99.0)

#: Laplacian variance of a face crop resized to 112×112 grey that maps to Sharpness 50.
#: Measured on real faces: studio photos (obama*.jpg, biden.jpg) v ≈ 220–720 → 78–92;
#: carphone_pristine (176×144 video) v ≈ 120–240 → 67–80; the heavily compressed
#: carphone_distorted v ≈ 50 → 46; the dim, moving cyclist in bikes.mp4 v ≈ 40 → 40.
SHARPNESS_HALF_VARIANCE = 60.0

#: Side (pixels) of the grey face crop sharpness is measured on, so it does not depend on the
#: face's size in the image.
SHARPNESS_CROP_PX = 112

#: Rekognition landmark type → dlib 68-point indices averaged for it. "Left"/"right" follow
#: Rekognition's real output, which is the *image's* left/right: in AWS's DetectFaces example
#: (awscli ``detect-faces.rst``) eyeLeft.X < eyeRight.X, leftEyeBrowLeft.X < leftEyeBrowRight.X,
#: upperJawlineLeft is the smallest X and leftPupil equals eyeLeft. dlib numbers points in the
#: same viewer's frame (0 = jaw on the image's left, 36–41 = the eye on the image's left).
LANDMARK_POINTS: dict[str, tuple[int, ...]] = {
    "eyeLeft": tuple(range(36, 42)),
    "eyeRight": tuple(range(42, 48)),
    "mouthLeft": (48,),
    "mouthRight": (54,),
    "nose": (30,),
    "leftEyeBrowLeft": (17,),
    "leftEyeBrowRight": (21,),
    "leftEyeBrowUp": (19,),
    "rightEyeBrowLeft": (22,),
    "rightEyeBrowRight": (26,),
    "rightEyeBrowUp": (24,),
    "leftEyeLeft": (36,),
    "leftEyeRight": (39,),
    "leftEyeUp": (37, 38),
    "leftEyeDown": (40, 41),
    "rightEyeLeft": (42,),
    "rightEyeRight": (45,),
    "rightEyeUp": (43, 44),
    "rightEyeDown": (46, 47),
    "noseLeft": (31,),
    "noseRight": (35,),
    "mouthUp": (51,),
    "mouthDown": (57,),
    "leftPupil": tuple(range(36, 42)),
    "rightPupil": tuple(range(42, 48)),
    "upperJawlineLeft": (0,),
    "midJawlineLeft": (4,),
    "chinBottom": (8,),
    "midJawlineRight": (12,),
    "upperJawlineRight": (16,),
}

#: Generic 3D face (arbitrary units ≈ 0.1 mm, the widely used "learnopencv" head model) in the
#: camera's frame: x to the image's right, y down, z away from the viewer; nose tip at origin.
#: Keyed by dlib 68-point index: nose tip, chin, outer eye corners, mouth corners.
MODEL_POINTS_3D: dict[int, tuple[float, float, float]] = {
    30: (0.0, 0.0, 0.0),
    8: (0.0, 330.0, 65.0),
    36: (-225.0, -170.0, 135.0),
    45: (225.0, -170.0, 135.0),
    48: (-150.0, 150.0, 125.0),
    54: (150.0, 150.0, 125.0),
}

#: ``Attributes`` values this engine accepts; everything beyond DEFAULT is left out (see module).
ATTRIBUTE_VALUES = frozenset({
    "DEFAULT", "ALL", "AGE_RANGE", "BEARD", "EMOTIONS", "EYE_DIRECTION", "EYEGLASSES",
    "EYES_OPEN", "GENDER", "MOUTH_OPEN", "MUSTACHE", "FACE_OCCLUDED", "SMILE", "SUNGLASSES"})


#: Face detectors :class:`FaceEngine` can use (``detector=``): BlazeFace (default) or dlib HOG.
DETECTORS = ("blazeface", "hog")

#: dlib's shape predictors were trained on HOG boxes; a BlazeFace box (forehead to chin) is
#: moved onto the HOG box of the same face before landmarks are fitted: offsets of (left, top,
#: right, bottom) as fractions of the BlazeFace box's width/height. Measured as the mean offset
#: over 24 faces both detectors found (face_recognition's 4 portraits, carphone_pristine at
#: 5 fps upscaled 2×; std 0.07–0.09): −0.035, −0.118, 0.0, −0.085.
BLAZE_TO_HOG_BOX = (-0.035, -0.118, 0.0, -0.085)


@dataclass
class DetectedFace:
    """One face found by :meth:`FaceEngine.detect`.

    Pixel values are in the coordinates of the image passed to ``detect`` (not of any internal
    downscaled copy).

    Attributes:
        box_px: (left, top, right, bottom) of the detector's box, floats (HOG boxes may extend
            past the image).
        score: BlazeFace's score 0–1, or dlib's HOG score (SVM margin; 0 is dlib's threshold).
        confidence: 0–100: :attr:`.blazeface.FaceBox.confidence` (BlazeFace, HOG-checked), or
            :func:`score_to_confidence` of a HOG score.
        landmarks_px: 68×2 float array of (x, y), dlib/iBUG-300W point order.
        embedding: 128 float32, dlib ResNet descriptor (same-person distance < ≈0.5).
        pose: {"Roll", "Yaw", "Pitch"} in degrees, see :func:`estimate_pose`.
        brightness: 0–100, :func:`brightness_0_100` of the face crop.
        sharpness: 0–100, :func:`sharpness_0_100` of the face crop.
        image_width, image_height: size of the analysed image in pixels.
        sub_detector: dlib HOG sub-detector index (0 frontal, 1 left-looking, 2 right-looking,
            3/4 frontal rotated).
    """

    box_px: tuple[float, float, float, float]
    score: float
    confidence: float
    landmarks_px: np.ndarray
    embedding: np.ndarray
    pose: dict[str, float]
    brightness: float
    sharpness: float
    image_width: int
    image_height: int
    sub_detector: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def width_px(self) -> float:
        """Width of the face box in pixels."""
        return self.box_px[2] - self.box_px[0]

    @property
    def height_px(self) -> float:
        """Height of the face box in pixels."""
        return self.box_px[3] - self.box_px[1]

    @property
    def area_px(self) -> float:
        """Area of the face box in pixels² (what "largest face" is ranked by)."""
        return max(0.0, self.width_px) * max(0.0, self.height_px)

    def bounding_box(self) -> dict[str, float]:
        """Rekognition ``BoundingBox``: Width/Height/Left/Top as ratios of the image size,
        clamped to 0–1 (the part of the box inside the image)."""
        return bounding_box(self.box_px, self.image_width, self.image_height)


def score_to_confidence(score: float) -> float:
    """Rekognition ``Confidence`` (0–100) from a dlib HOG detection score.

    ``100 / (1 + exp(-k·score))`` with ``k = ln 99`` (:data:`CONFIDENCE_SLOPE`): dlib's own
    decision boundary (score 0) is 50, score 0.5 → 90.9, score 1 → 99, score 2 → 99.99;
    the weakest returned score -0.5 → 9.1. Measured: studio portraits (obama*.jpg,
    biden.jpg) 1.0–2.4 (→ 99–100); the man in carphone_pristine (176×144) 0.0–1.5; the
    cyclist in bikes.mp4 0.2–0.8; carphone_distorted's blocky face -0.49…0.04; false
    positives (car parts, cartoon, background) -0.5…-0.36.
    """
    return float(100.0 / (1.0 + math.exp(-CONFIDENCE_SLOPE * float(score))))


def bounding_box(box_px: Sequence[float], width: int, height: int) -> dict[str, float]:
    """Rekognition ``BoundingBox`` of a pixel box (left, top, right, bottom) in an image of
    ``width``×``height`` pixels: ratios, clamped to the image (0–1)."""
    left, top, right, bottom = (float(v) for v in box_px)
    x0, x1 = min(max(left / width, 0.0), 1.0), min(max(right / width, 0.0), 1.0)
    y0, y1 = min(max(top / height, 0.0), 1.0), min(max(bottom / height, 0.0), 1.0)
    return {"Width": x1 - x0, "Height": y1 - y0, "Left": x0, "Top": y0}


def brightness_0_100(gray_crop: np.ndarray) -> float:
    """Rekognition ``Quality.Brightness`` (0–100): mean luma (ITU-R BT.601, 0–255) of the
    face crop × 100 / 255. 0 is black, 100 is white; well-lit faces are ≈40–70."""
    if gray_crop.size == 0:
        return 0.0
    return float(np.clip(gray_crop.mean() * 100.0 / 255.0, 0.0, 100.0))


def sharpness_0_100(gray_crop: np.ndarray) -> float:
    """Rekognition ``Quality.Sharpness`` (0–100) from the variance ``v`` of the Laplacian of
    the face crop resized to :data:`SHARPNESS_CROP_PX`² grey: ``100·v / (v + V½)`` with
    ``V½`` = :data:`SHARPNESS_HALF_VARIANCE` (v = V½ gives 50). Monotone, saturating;
    resizing first makes it independent of the face's size in pixels."""
    import cv2

    if gray_crop.size == 0 or min(gray_crop.shape[:2]) < 2:
        return 0.0
    crop = cv2.resize(gray_crop, (SHARPNESS_CROP_PX, SHARPNESS_CROP_PX),
                      interpolation=cv2.INTER_AREA)
    var = float(cv2.Laplacian(crop.astype(np.float32), cv2.CV_32F).var())
    return float(100.0 * var / (var + SHARPNESS_HALF_VARIANCE))


def estimate_pose(landmarks_px: np.ndarray, width: int, height: int) -> dict[str, float]:
    """Rekognition ``Pose`` (degrees, −180…180) of a face from its 68 landmarks.

    ``cv2.solvePnP`` fits :data:`MODEL_POINTS_3D` to six landmarks with a pinhole camera
    (focal length = the image's longer side, principal point at the centre); the rotation
    ``R = Rz(Roll)·Ry(Yaw)·Rx(Pitch)`` is decomposed in image axes (x right, y down, z away
    from the viewer). Signs: Roll > 0 when the face is turned clockwise on screen; Yaw > 0 when
    the face turns toward the image's left (the subject's right); Pitch > 0 when the face tilts
    down. A frontal face is ≈(0, 0, 0). Accuracy is a few degrees for frontal faces; it is an
    estimate from a generic head, not a measurement.
    """
    import cv2

    idx = list(MODEL_POINTS_3D)
    obj = np.array([MODEL_POINTS_3D[i] for i in idx], dtype=np.float64)
    img = np.asarray(landmarks_px, dtype=np.float64)[idx]
    focal = float(max(width, height))
    cam = np.array([[focal, 0, width / 2.0], [0, focal, height / 2.0], [0, 0, 1]], np.float64)
    eye_px = float(np.linalg.norm(img[3] - img[2])) or 1.0
    tz = focal * 450.0 / eye_px                      # 450 = model distance between eye corners
    tvec_guess = np.array([[(img[0, 0] - width / 2.0) * tz / focal],
                           [(img[0, 1] - height / 2.0) * tz / focal], [tz]], np.float64)
    rvec_guess = np.zeros((3, 1), np.float64)
    no_distortion = np.zeros((4, 1), np.float64)  # the same as None; typed for every OpenCV's stubs
    ok, rvec, tvec = cv2.solvePnP(obj, img, cam, no_distortion, rvec_guess, tvec_guess, useExtrinsicGuess=True,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return {"Roll": 0.0, "Yaw": 0.0, "Pitch": 0.0}
    rot, _ = cv2.Rodrigues(rvec)
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -rot[2, 0]))))
    pitch = math.degrees(math.atan2(rot[2, 1], rot[2, 2]))
    roll = math.degrees(math.atan2(rot[1, 0], rot[0, 0]))
    return {"Roll": roll, "Yaw": yaw, "Pitch": pitch}


def landmarks(landmarks_px: np.ndarray, width: int, height: int) -> list[dict[str, Any]]:
    """Rekognition ``Landmarks``: ``[{"Type", "X", "Y"}]`` with X/Y ratios of the image
    width/height (clamped to 0–1), one per type in :data:`LANDMARK_POINTS`."""
    pts = np.asarray(landmarks_px, dtype=np.float64)
    out = []
    for name, indices in LANDMARK_POINTS.items():
        x, y = pts[list(indices)].mean(axis=0)
        out.append({"Type": name, "X": float(min(max(x / width, 0.0), 1.0)),
                    "Y": float(min(max(y / height, 0.0), 1.0))})
    return out


def check_attributes(attributes: Iterable[str] | None) -> list[str]:
    """Validate a Rekognition ``Attributes``/``DetectionAttributes`` list (default
    ``['DEFAULT']``).

    Raises:
        ValueError: an unknown attribute name (callers map it to InvalidParameterException).
    """
    attrs = list(attributes) if attributes is not None else ["DEFAULT"]
    unknown = [a for a in attrs if a not in ATTRIBUTE_VALUES]
    if unknown:
        raise ValueError(f"unknown face attribute(s) {unknown}; use one of {sorted(ATTRIBUTE_VALUES)}")
    return attrs


def face_detail(face: DetectedFace, attributes: Iterable[str] | None = None) -> dict[str, Any]:
    """Rekognition ``FaceDetail`` of one face.

    ``DEFAULT`` (or no attributes) gives what Rekognition gives by default: ``BoundingBox``,
    ``Confidence``, ``Landmarks``, ``Pose``, ``Quality``. ``ALL`` and the individual attribute
    names (``AGE_RANGE``, ``EMOTIONS`` …) give the same: those attributes cannot be computed
    offline and are left out rather than invented.
    """
    check_attributes(attributes)
    w, h = face.image_width, face.image_height
    return {
        "BoundingBox": face.bounding_box(),
        "Landmarks": landmarks(face.landmarks_px, w, h),
        "Pose": {k: float(v) for k, v in face.pose.items()},
        "Quality": {"Brightness": float(face.brightness), "Sharpness": float(face.sharpness)},
        "Confidence": float(face.confidence),
    }


class FaceEngine:
    """Face detector + dlib landmarks + embedder, loaded once per instance by :meth:`load` or
    the first :meth:`detect`; :meth:`close` drops them.

    Args:
        detector: ``"blazeface"`` (default, :mod:`.blazeface`) or ``"hog"`` (dlib's HOG, the
            detector before issue 14; kept for comparison in ``benchmarks/faces.py``).
        upsample: HOG upsampling passes (HOG only); ``None`` (default) picks 1 for frames whose shorter
            side is < :data:`SMALL_FRAME_PX` (faces ≥ ≈40 px) and 0 otherwise (faces ≥ ≈80 px;
            65 ms per 720p frame vs ≈4× that with 1).
        min_score: lowest dlib detection score kept (:data:`MIN_DETECTION_SCORE`).
        max_side_px: images whose longer side exceeds this are downscaled (INTER_AREA) before
            analysis, for speed on large photos; results are reported in the original
            coordinates. ``None`` disables.
        num_jitters: re-samplings per embedding (``face_recognition``'s ``num_jitters``; 1).

    Raises (on first use):
        AnalyzerError: dlib, face_recognition_models, mediapipe or the model files are missing.
    """

    def __init__(self, upsample: int | None = None, min_score: float = MIN_DETECTION_SCORE,
                 max_side_px: int | None = 1920, num_jitters: int = 1,
                 detector: str = "blazeface"):
        if detector not in DETECTORS:
            raise AnalyzerError(f"unknown face detector {detector!r}: use one of {DETECTORS}")
        self.detector = detector
        self._blaze: BlazeFaceDetector | None = None
        self.upsample = upsample
        self.min_score = float(min_score)
        self.max_side_px = max_side_px
        self.num_jitters = int(num_jitters)
        self._models: tuple | None = None
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()     # dlib objects are not documented thread-safe

    # -- models -------------------------------------------------------------------------------
    def _load(self) -> tuple:
        """(detector, 68-point predictor, 5-point predictor, encoder), loaded once."""
        if self._models is None:
            with self._lock:
                if self._models is None:
                    if self.detector == "blazeface":
                        from .blazeface import BlazeFaceDetector

                        self._blaze = BlazeFaceDetector().load()
                    self._models = _load_models()
        return self._models

    def load(self) -> "FaceEngine":
        """Load the models now (otherwise on first :meth:`detect`); returns self.

        Raises:
            AnalyzerError: a dependency or model file is missing.
        """
        self._load()
        return self

    def close(self) -> None:
        """Drop the models (a later :meth:`detect` loads them again)."""
        with self._lock, self._run_lock:
            self._models = None
            if self._blaze is not None:
                self._blaze.close()
                self._blaze = None

    def find(self, image: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
        """Detection only (no landmarks, no embedding): ``[(box_px, confidence)]`` for an RGB
        uint8 H×W×3 image, box (left, top, right, bottom) in its pixels, confidence 0–100,
        highest first. BlazeFace: ≈6–16 ms per 720p frame; what the local planner's face
        tracker runs on every sampled frame.

        Raises:
            AnalyzerError: the models are missing, or ``image`` is not H×W×3 uint8.
        """
        detector = self._load()[0]
        image = as_rgb(image, "face detection")
        with self._run_lock:
            if self._blaze is not None:
                return [(f.box_px, f.confidence) for f in self._blaze.detect(image)]
            h, w = image.shape[:2]
            rects, scores, _ = detector.run(np.ascontiguousarray(image), self.upsample_for(w, h),
                                            self.min_score)
            found = [((r.left(), r.top(), r.right() + 1, r.bottom() + 1), score_to_confidence(s))
                     for r, s in zip(rects, scores)]
        return sorted(found, key=lambda f: -f[1])

    def upsample_for(self, width: int, height: int) -> int:
        """HOG upsampling used for a ``width``×``height`` image (see the class doc)."""
        if self.upsample is not None:
            return int(self.upsample)
        return 1 if min(width, height) < SMALL_FRAME_PX else 0

    # -- analysis -----------------------------------------------------------------------------
    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """All faces in an RGB uint8 H×W×3 image, highest confidence first.

        Each face carries its box, confidence, 68 landmarks, 128-d embedding, pose and quality.
        Embeddings are computed as ``face_recognition.face_encodings(image, [box],
        num_jitters, model="small")`` does: dlib's 5-point alignment + ResNet descriptor.

        Raises:
            AnalyzerError: the models are missing, or ``image`` is not H×W×3 uint8.
        """
        detector, sp68, sp5, encoder = self._load()
        image = as_rgb(image, "face analysis")
        with self._run_lock:
            return self._detect(image, detector, sp68, sp5, encoder)

    def _detect(self, image: np.ndarray, detector, sp68, sp5, encoder) -> list[DetectedFace]:
        import cv2
        import dlib

        full_h, full_w = image.shape[:2]
        scale = 1.0
        work = image
        if self.max_side_px and max(full_w, full_h) > self.max_side_px:
            scale = self.max_side_px / max(full_w, full_h)
            work = cv2.resize(image, (max(1, round(full_w * scale)), max(1, round(full_h * scale))),
                              interpolation=cv2.INTER_AREA)
        work = np.ascontiguousarray(work)
        h, w = work.shape[:2]
        if self._blaze is not None:
            blaze = self._blaze.detect(work)
            rects = [_hog_like_rect(dlib, f.box_px) for f in blaze]
            scores, kinds = [f.score for f in blaze], [0] * len(blaze)
            confidences = [f.confidence for f in blaze]
        else:
            rects, scores, kinds = detector.run(work, self.upsample_for(full_w, full_h), self.min_score)
            confidences = [score_to_confidence(score) for score in scores]
        if not len(rects):
            return []
        gray = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
        faces = []
        shapes5 = dlib.full_object_detections()
        for rect, score, kind, confidence in zip(rects, scores, kinds, confidences):
            shape68 = sp68(work, rect)
            pts = np.array([(p.x, p.y) for p in shape68.parts()], dtype=np.float64)
            shapes5.append(sp5(work, rect))
            x0, y0 = max(rect.left(), 0), max(rect.top(), 0)
            x1, y1 = min(rect.right() + 1, w), min(rect.bottom() + 1, h)
            crop = gray[y0:y1, x0:x1]
            box = (rect.left() / scale, rect.top() / scale,
                   (rect.right() + 1) / scale, (rect.bottom() + 1) / scale)
            faces.append(DetectedFace(
                box_px=box, score=float(score), confidence=confidence,
                landmarks_px=pts / scale, embedding=np.zeros(128, np.float32),
                pose=estimate_pose(pts, w, h), brightness=brightness_0_100(crop),
                sharpness=sharpness_0_100(crop), image_width=full_w, image_height=full_h,
                sub_detector=int(kind)))
        descriptors = encoder.compute_face_descriptor(work, shapes5, self.num_jitters)
        for face, desc in zip(faces, descriptors):
            face.embedding = np.asarray(desc, dtype=np.float32)
        faces.sort(key=lambda f: -f.confidence)
        return faces


def _hog_like_rect(dlib: Any, box: Sequence[float]) -> Any:
    """The dlib rectangle where HOG would put the face of a BlazeFace ``box`` (left, top,
    right, bottom px), by :data:`BLAZE_TO_HOG_BOX`."""
    width, height = box[2] - box[0], box[3] - box[1]
    dl, dt, dr, db = BLAZE_TO_HOG_BOX
    return dlib.rectangle(int(round(box[0] + dl * width)), int(round(box[1] + dt * height)),
                          int(round(box[2] + dr * width)) - 1, int(round(box[3] + db * height)) - 1)


def _load_models() -> tuple:
    try:
        import dlib
        import face_recognition_models as frm
    except ImportError as exc:
        raise AnalyzerError(f"{INSTALL_HINT} ({exc})") from None
    try:
        detector = dlib.get_frontal_face_detector()
        sp68 = dlib.shape_predictor(frm.pose_predictor_model_location())
        sp5 = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        encoder = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    except RuntimeError as exc:  # dlib raises RuntimeError for unreadable model files
        raise AnalyzerError(f"face model files are missing or unreadable ({exc}); "
                            f"reinstall: {INSTALL_HINT}") from None
    return detector, sp68, sp5, encoder
