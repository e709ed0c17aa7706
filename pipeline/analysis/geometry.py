"""Geometry helpers of the local engines: pixel polygons → Rekognition ``BoundingBox`` /
``Polygon`` ratios, region overlap, and the one non-maximum suppression the detectors share."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def polygon_ratios(points: Sequence[tuple[float, float]], width: int, height: int) -> list[dict]:
    """Rekognition ``Polygon``: points as ``{"X", "Y"}`` ratios of image width/height (0–1)."""
    return [{"X": _clamp(x / width), "Y": _clamp(y / height)} for x, y in points]


def bounding_box(points: Sequence[tuple[float, float]], width: int, height: int) -> dict:
    """Rekognition ``BoundingBox`` (``Width``, ``Height``, ``Left``, ``Top`` ratios) enclosing
    pixel ``points``, clamped to the image."""
    xs = [_clamp(x / width) for x, _ in points]
    ys = [_clamp(y / height) for _, y in points]
    return {"Width": max(xs) - min(xs), "Height": max(ys) - min(ys), "Left": min(xs), "Top": min(ys)}


def overlap_ratio(box: dict, region: dict) -> float:
    """Fraction of ``box``'s area inside ``region`` (both BoundingBox dicts)."""
    left = max(box["Left"], region["Left"])
    top = max(box["Top"], region["Top"])
    right = min(box["Left"] + box["Width"], region["Left"] + region["Width"])
    bottom = min(box["Top"] + box["Height"], region["Top"] + region["Height"])
    area = box["Width"] * box["Height"]
    if area <= 0:
        return 0.0
    return max(0.0, right - left) * max(0.0, bottom - top) / area


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, *,
        classes: np.ndarray | None = None, class_iou_threshold: float | None = None) -> list[int]:
    """Greedy non-maximum suppression: the indices of the boxes kept, best score first.

    ``boxes`` is N×4 ``(x1, y1, x2, y2)`` in any one unit (pixels or ratios), ``scores`` N.
    Boxes are visited by descending score (equal scores in input order); a box is dropped when
    its IoU (intersection over union) with a box already kept is above ``iou_threshold``, or,
    when ``classes`` (N labels) is given, above ``class_iou_threshold`` with a kept box of the
    same class. IoU is computed in the dtype of ``boxes`` (float32 boxes give float32 IoU).

    Without ``classes`` this is the algorithm of OpenCV's ``cv2.dnn.NMSBoxes`` (tests check
    both keep the same boxes; with ``iou_threshold`` 1 and ``classes`` it is
    ``cv2.dnn.NMSBoxesBatched``). OpenCV is not called because it has no mixed rule (one IoU
    within a class, another across classes), which the label detector needs.
    """
    boxes = np.asarray(boxes)
    scores = np.asarray(scores)
    if classes is not None:
        classes = np.asarray(classes)
        if class_iou_threshold is None:
            raise ValueError("nms: classes needs class_iou_threshold")
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept: list[int] = []
    while order.size:
        i = int(order[0])
        kept.append(i)
        rest = order[1:]
        if not rest.size:
            break
        w = np.clip(np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None)
        h = np.clip(np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None)
        inter = w * h
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        if classes is None:
            limit = np.asarray(iou_threshold, dtype=overlap.dtype)
        else:
            assert class_iou_threshold is not None  # checked above whenever classes is given
            limit = np.where(classes[rest] == classes[i], class_iou_threshold,
                             iou_threshold).astype(overlap.dtype)
        order = rest[overlap <= limit]
    return kept
