"""Face similarity: dlib embedding distance ↔ Rekognition ``Similarity`` (0–100), and the
default thresholds of the Rekognition operations that compare faces.

The map is a logistic calibrated on real photos and video (see
:func:`distance_to_similarity`); Rekognition does not publish how its own similarity is
computed, only its default thresholds.
"""

from __future__ import annotations

import math

import numpy as np

#: Embedding distance that maps to Similarity 80 (Rekognition's default FaceMatchThreshold):
#: 0.6 is face_recognition's customary ``tolerance`` for "same person".
DISTANCE_AT_DEFAULT_THRESHOLD = 0.6
#: Rekognition's default ``FaceMatchThreshold`` (SearchFaces, SearchFacesByImage).
DEFAULT_FACE_MATCH_THRESHOLD = 80.0
#: Rekognition's default ``UserMatchThreshold`` for SearchUsers/SearchUsersByImage.
DEFAULT_USER_SEARCH_THRESHOLD = 80.0
#: Rekognition's default ``UserMatchThreshold`` for AssociateFaces.
DEFAULT_ASSOCIATE_THRESHOLD = 75.0
#: Steepness of the logistic (per unit of distance). Chosen so the measured ranges on real
#: photos separate cleanly: same person 0.18–0.48 → 99.8–94.4, different people 0.64–0.93 →
#: 71–7 (see :func:`distance_to_similarity`).
SIMILARITY_SLOPE = 12.0
#: Distance at Similarity 50: 0.6 + ln(4)/12 ≈ 0.7155, which puts 0.6 exactly at 80.
SIMILARITY_MIDPOINT = DISTANCE_AT_DEFAULT_THRESHOLD + math.log(4.0) / SIMILARITY_SLOPE


def distance_to_similarity(distance):
    """Rekognition ``Similarity`` (0–100) from the Euclidean distance of two dlib embeddings.

    ``S(d) = 100 / (1 + exp(k·(d − d½)))`` with ``k`` = :data:`SIMILARITY_SLOPE` = 12 and
    ``d½`` = :data:`SIMILARITY_MIDPOINT` ≈ 0.7155: strictly decreasing, S(0.6) = 80 (so
    Rekognition's default FaceMatchThreshold means face_recognition's customary tolerance).
    Calibration: the design brief's measurements (same person 0.18–0.48 apart → S 99.8–94.4;
    different people 0.64–0.93 → S 71–7) and reko's own (``benchmarks/faces.py``):
    face_recognition 1.3.0's photos, obama×3 0.32–0.43 → 97.0–99.1, obama vs biden
    0.82–0.87 → 13–23; the 176×144 carphone man across frames and an x264 re-encode
    0.24–0.61 (his best match per frame ≥ 0.41 → ≥ 96), the bikes.mp4 cyclist vs him
    0.74–0.80 → 26–44. Key points: d 0.3 → 99.3, 0.4 → 97.8, 0.5 → 93.0, 0.6 → 80.0, 0.7 → 54.6, 0.8 → 26.6.

    Accepts a float or a numpy array (returns the same kind).
    """
    d = np.asarray(distance, dtype=np.float64)
    s = 100.0 / (1.0 + np.exp(np.clip(SIMILARITY_SLOPE * (d - SIMILARITY_MIDPOINT), -700, 700)))
    return float(s) if s.ndim == 0 else s


def similarity_to_distance(similarity: float) -> float:
    """Inverse of :func:`distance_to_similarity`: the largest embedding distance whose
    similarity is still ≥ ``similarity`` (0–100). 100 (or more) → 0.0; 0 (or less) → ``inf``.
    E.g. 80 → 0.6, 90 → 0.532, 95 → 0.470, 99 → 0.333."""
    s = float(similarity)
    if s <= 0.0:
        return math.inf
    if s >= 100.0:
        return 0.0
    return max(0.0, SIMILARITY_MIDPOINT + math.log(100.0 / s - 1.0) / SIMILARITY_SLOPE)
