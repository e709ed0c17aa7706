"""Rekognition's ``QualityFilter`` for the local engine (IndexFaces, SearchFacesByImage,
SearchUsersByImage): which faces are good enough, and the ``Reasons`` a face is not."""

from __future__ import annotations

from .faces import DetectedFace

#: Quality bars, reko's own (Rekognition does not publish its values). A face must meet every
#: bound; each failed bound adds its Rekognition ``Reason``. ``min_confidence`` 50 is dlib's own
#: detection boundary (score 0); ``min_face_px`` is the shorter box side in image pixels (the
#: embedding aligns faces to 150 px chips); ``max_yaw``/``max_pitch`` in degrees of
#: :func:`.faces.estimate_pose`; sharpness/brightness in :mod:`.faces`' 0–100 units.
QUALITY_BARS: dict[str, dict[str, float]] = {
    "LOW": {"min_confidence": 50.0, "min_face_px": 20, "min_sharpness": 20.0,
            "min_brightness": 8.0, "max_yaw": 60.0, "max_pitch": 45.0},
    "MEDIUM": {"min_confidence": 80.0, "min_face_px": 40, "min_sharpness": 35.0,
               "min_brightness": 15.0, "max_yaw": 45.0, "max_pitch": 35.0},
    "HIGH": {"min_confidence": 95.0, "min_face_px": 80, "min_sharpness": 50.0,
             "min_brightness": 25.0, "max_yaw": 30.0, "max_pitch": 25.0},
}
#: ``AUTO`` (IndexFaces' default) uses the LOW bar: drop only what is likely not a usable face.
QUALITY_BARS["AUTO"] = QUALITY_BARS["LOW"]
#: The values of Rekognition's ``QualityFilter`` enum.
QUALITY_FILTERS = ("NONE", "AUTO", "LOW", "MEDIUM", "HIGH")


def quality_reasons(face: DetectedFace, quality_filter: str) -> list[str]:
    """Rekognition ``Reasons`` (``LOW_CONFIDENCE``, ``SMALL_BOUNDING_BOX``, ``LOW_SHARPNESS``,
    ``LOW_BRIGHTNESS``, ``EXTREME_POSE``) why ``face`` fails ``quality_filter``
    (``NONE``/``AUTO``/``LOW``/``MEDIUM``/``HIGH``, bars in :data:`QUALITY_BARS`); ``[]`` when
    it passes."""
    bar = QUALITY_BARS.get(quality_filter)
    if bar is None:
        return []
    reasons = []
    if face.confidence < bar["min_confidence"]:
        reasons.append("LOW_CONFIDENCE")
    if min(face.width_px, face.height_px) < bar["min_face_px"]:
        reasons.append("SMALL_BOUNDING_BOX")
    if face.sharpness < bar["min_sharpness"]:
        reasons.append("LOW_SHARPNESS")
    if face.brightness < bar["min_brightness"]:
        reasons.append("LOW_BRIGHTNESS")
    if abs(face.pose["Yaw"]) > bar["max_yaw"] or abs(face.pose["Pitch"]) > bar["max_pitch"]:
        reasons.append("EXTREME_POSE")
    return reasons
