"""``detect_labels`` and ``detect_moderation_labels`` of the local engine, shaped exactly like
boto3 Rekognition's DetectLabels and DetectModerationLabels.

Labels come from the CenterNet COCO-80 detector in a Node worker (:mod:`.labels`), translated to
Rekognition's names and hierarchy (:mod:`.label_taxonomy`); moderation labels from NudeNet's
ONNX model (:mod:`.moderation`) in Rekognition's moderation taxonomy v7. Both engines load on
first use, once per process (:data:`.engines.ENGINES`), and are shared by every client instance
in that process.
"""

from __future__ import annotations

from typing import Any, Sequence

from ...errors import AnalyzerError
from .engines import ENGINES
from .images import request_image
from .label_taxonomy import COCO_TO_REKOGNITION, label_entry, with_parents
from .protocol import Request
from .rekognition_errors import InvalidParameterException

LABEL_MODEL_VERSION = "3.0"  #: the DetectLabels model version AWS reports; kept for shape parity
#: The values of DetectLabels' ``Features`` enum (botocore's model, shape ``DetectLabelsFeatureName``).
LABEL_FEATURES = ("GENERAL_LABELS", "IMAGE_PROPERTIES")


class LocalLabelsMixin:
    """Adds ``detect_labels`` and ``detect_moderation_labels`` to the local engine.

    Needs no constructor arguments (composes with the other mixins of ``LocalRekognition``).
    """

    def detect_labels(self, *, Image: Request, MaxLabels: int | None = None,
                      MinConfidence: float = 55, Features: Sequence[str] | None = None,
                      Settings: Request | None = None) -> dict[str, Any]:
        """Objects in ``Image={'Bytes': jpeg_or_png}`` like ``rekognition.detect_labels``.

        Returns ``{"Labels": [...], "LabelModelVersion": "3.0"}``. Each label has ``Name``
        (Rekognition's spelling: ``Car``, ``Mobile Phone``), ``Confidence`` 0–100 (the best
        instance's), ``Instances`` (``[{"BoundingBox": {Width, Height, Left, Top ratios of the
        image}, "Confidence"}]``), ``Parents`` (all ancestors, nearest first), ``Aliases`` and
        ``Categories``. Ancestors are labels too (``Car`` brings ``Vehicle`` and
        ``Transportation``, with empty ``Instances``), as on AWS. Sorted by ``Confidence``
        descending; labels and instances under ``MinConfidence`` are dropped; ``MaxLabels``
        keeps the first N. ``Settings={"GeneralLabels": {...}}`` applies
        ``LabelInclusionFilters`` / ``LabelExclusionFilters`` (names) and
        ``LabelCategoryInclusionFilters`` / ``LabelCategoryExclusionFilters`` (category names).
        The detector knows the 80 COCO classes only (see :mod:`.label_taxonomy`).

        Raises:
            InvalidS3ObjectException, ImageTooLargeException, InvalidImageFormatException:
                ``Image`` is not ``{'Bytes': <JPEG or PNG of at most 5 MiB>}``;
            InvalidParameterException: the request does not match botocore's DetectLabels
                input (:func:`.images.request_image`), or ``Features`` names an unknown feature.
            AnalyzerError: Node or the label model is missing (the message gives the install
                command), the worker failed, or ``Features`` asks for ``IMAGE_PROPERTIES``
                (which the local engine does not compute).
        """
        image = request_image("DetectLabels", Image=Image, MaxLabels=MaxLabels,
                              MinConfidence=MinConfidence, Features=Features, Settings=Settings)
        features = list(Features or ["GENERAL_LABELS"])
        unknown = [f for f in features if f not in LABEL_FEATURES]
        if unknown:
            raise InvalidParameterException(f"detect_labels: unknown Features {unknown}; use "
                                            f"{' or '.join(LABEL_FEATURES)}")
        if "IMAGE_PROPERTIES" in features:
            raise AnalyzerError("detect_labels: Features IMAGE_PROPERTIES is not supported by the "
                                "local engine (only GENERAL_LABELS)")
        from .labels import confidence_from_score

        instances: dict[str, list[dict]] = {}
        for det in ENGINES.get("labels").detect(image):
            confidence = confidence_from_score(det.score)
            if confidence < MinConfidence:
                continue
            left, top, width, height = det.box
            instances.setdefault(COCO_TO_REKOGNITION[det.coco_class], []).append({
                "BoundingBox": {"Width": width, "Height": height, "Left": left, "Top": top},
                "Confidence": confidence})
        labels = with_parents(label_entry(name, max(i["Confidence"] for i in found), found)
                              for name, found in instances.items())
        labels = _apply_settings(labels, (Settings or {}).get("GeneralLabels") or {})
        if MaxLabels is not None:
            labels = labels[:MaxLabels]
        return {"Labels": labels, "LabelModelVersion": LABEL_MODEL_VERSION}

    def detect_moderation_labels(self, *, Image: Request, MinConfidence: float = 50,
                                 HumanLoopConfig: Request | None = None,
                                 ProjectVersion: str | None = None) -> dict[str, Any]:
        """Unsafe content in ``Image={'Bytes': ...}`` like ``rekognition.detect_moderation_labels``.

        Returns ``{"ModerationLabels": [...], "ModerationModelVersion": "7.0"}``; each label is
        ``{"Confidence" 0–100, "Name", "ParentName" ("" at level 1), "TaxonomyLevel" 1–3}`` in
        Rekognition's moderation taxonomy v7, with every ancestor of a detected label listed
        too. Only nudity and swimwear/underwear are detected (NudeNet's classes; see
        :data:`.moderation.MODERATION_TAXONOMY`); violence, drugs, alcohol, gestures, gambling
        and hate symbols are never reported. ``HumanLoopConfig`` and ``ProjectVersion`` (AWS-only)
        raise.

        Raises:
            InvalidS3ObjectException, ImageTooLargeException, InvalidImageFormatException:
                ``Image`` is not ``{'Bytes': <JPEG or PNG of at most 5 MiB>}``;
            InvalidParameterException: the request does not match botocore's
                DetectModerationLabels input (:func:`.images.request_image`).
            AnalyzerError: nudenet is not installed, or an AWS-only parameter was given.
        """
        image = request_image("DetectModerationLabels", Image=Image, MinConfidence=MinConfidence,
                              HumanLoopConfig=HumanLoopConfig, ProjectVersion=ProjectVersion)
        if HumanLoopConfig is not None or ProjectVersion is not None:
            raise AnalyzerError("detect_moderation_labels: HumanLoopConfig and ProjectVersion are AWS-only")
        from .moderation import MODERATION_MODEL_VERSION, moderation_labels

        labels = moderation_labels(ENGINES.get("moderation").detect(image), MinConfidence)
        return {"ModerationLabels": labels, "ModerationModelVersion": MODERATION_MODEL_VERSION}


def _apply_settings(labels: list[dict], general: dict[str, Any]) -> list[dict]:
    include = set(general.get("LabelInclusionFilters") or [])
    exclude = set(general.get("LabelExclusionFilters") or [])
    include_cat = set(general.get("LabelCategoryInclusionFilters") or [])
    exclude_cat = set(general.get("LabelCategoryExclusionFilters") or [])
    out = []
    for label in labels:
        categories = {c["Name"] for c in label["Categories"]}
        if include and label["Name"] not in include:
            continue
        if include_cat and not categories & include_cat:
            continue
        if label["Name"] in exclude or categories & exclude_cat:
            continue
        out.append(label)
    return out
