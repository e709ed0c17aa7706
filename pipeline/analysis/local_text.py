"""``detect_text`` of the local engine, shaped exactly like boto3 Rekognition's DetectText."""

from __future__ import annotations

from typing import Any

from .engines import ENGINES
from .geometry import bounding_box, overlap_ratio, polygon_ratios
from .images import request_image

TEXT_MODEL_VERSION = "3.0"  #: the DetectText model version AWS reports; kept for shape parity


class LocalTextMixin:
    """Adds ``detect_text`` to the local engine; the OCR engine (``ENGINES.get("text")``)
    loads on first use, once per process."""

    def detect_text(self, *, Image: dict[str, Any], Filters: dict[str, Any] | None = None) -> dict:
        """Detect text in ``Image={'Bytes': jpeg_or_png}`` like ``rekognition.detect_text``.

        Returns ``{"TextDetections": [...], "TextModelVersion": "3.0"}``: every LINE (``Id``
        0…n-1, reading order) followed by its WORDs (``ParentId`` = the line's ``Id``), each with
        ``DetectedText``, ``Confidence`` 0–100 and ``Geometry`` (``BoundingBox`` and ``Polygon``
        as ratios of the image). ``Filters``: ``WordFilter`` (``MinConfidence``,
        ``MinBoundingBoxHeight``, ``MinBoundingBoxWidth``) drops words (and lines left without
        words); ``RegionsOfInterest`` keeps text at least half inside one region, as AWS does.

        Raises:
            InvalidS3ObjectException, ImageTooLargeException, InvalidImageFormatException:
                ``Image`` is not ``{'Bytes': <JPEG or PNG of at most 5 MiB>}``;
            InvalidParameterException: the request does not match botocore's DetectText input
                (:func:`.images.request_image`).
            AnalyzerError: the OCR engine's dependencies are missing.
        """
        image = request_image("DetectText", Image=Image, Filters=Filters)
        height, width = image.shape[:2]
        ocr = ENGINES.get("text")
        word_filter = (Filters or {}).get("WordFilter", {})
        regions = [r["BoundingBox"] for r in (Filters or {}).get("RegionsOfInterest", [])
                   if "BoundingBox" in r]
        lines, words = [], []
        for line in ocr.read(image):
            line_geometry = _geometry(line.polygon, width, height)
            if regions and not any(overlap_ratio(line_geometry["BoundingBox"], r) >= 0.5 for r in regions):
                continue
            kept_words = []
            for word in line.words:
                geometry = _geometry(word.polygon, width, height)
                box = geometry["BoundingBox"]
                if (word.confidence < word_filter.get("MinConfidence", 0)
                        or box["Height"] < word_filter.get("MinBoundingBoxHeight", 0)
                        or box["Width"] < word_filter.get("MinBoundingBoxWidth", 0)):
                    continue
                kept_words.append({"DetectedText": word.text, "Type": "WORD",
                                   "Confidence": float(word.confidence), "Geometry": geometry})
            if not kept_words:
                continue
            line_id = len(lines)
            lines.append({"DetectedText": " ".join(w["DetectedText"] for w in kept_words)
                          if len(kept_words) != len(line.words) else line.text,
                          "Type": "LINE", "Id": line_id, "Confidence": float(line.confidence),
                          "Geometry": line_geometry})
            for word in kept_words:
                words.append({**word, "ParentId": line_id})
        for i, word in enumerate(words, start=len(lines)):
            word["Id"] = i
        ordered = [{k: d[k] for k in ("DetectedText", "Type", "Id", "ParentId", "Confidence", "Geometry")
                    if k in d} for d in lines + words]
        return {"TextDetections": ordered, "TextModelVersion": TEXT_MODEL_VERSION}


def _geometry(polygon, width: int, height: int) -> dict:
    return {"BoundingBox": bounding_box(polygon, width, height),
            "Polygon": polygon_ratios(polygon, width, height)}
