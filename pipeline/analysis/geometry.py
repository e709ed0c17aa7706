"""Rekognition geometry helpers: pixel polygons → ``BoundingBox``/``Polygon`` ratios."""

from __future__ import annotations

from typing import Sequence


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
