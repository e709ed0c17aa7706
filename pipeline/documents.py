"""The frame document: one per analysed frame, the unit every index backend stores and search
returns. Built in one place (:func:`frame_document`), from the analysis of one frame, by the
local ingest and by the AWS frame consumer alike.

Field names follow the design brief, with units in the names: ``frame_ms`` (presentation time of
the analysed frame, ms from the video start), ``start_ms``..``end_ms`` (the span it stands for:
near-duplicate frames after it), ``width``/``height`` (analysed frame, px), boxes as
Rekognition ``BoundingBox`` ratios of the frame, confidences 0–100.

Not every analysis runs on every frame (:mod:`reko.pipeline.planner`): a result carried over
from an earlier frame says so in ``analysed_ms`` (analysis → ``frame_ms`` of the frame it was
measured on; boxes are that frame's). A face reported from the local tracker has the box
measured on this frame and the identity (``face_id``, ``person_id``) of the frame its track was
embedded on (``embedded_ms``).
"""

from __future__ import annotations

from typing import Any, Callable, TypedDict

from ..settings import Settings


class BoundingBox(TypedDict):
    """Rekognition's ``BoundingBox``: ratios (0–1) of the frame's width and height."""

    Width: float
    Height: float
    Left: float
    Top: float


class TextLine(TypedDict, total=False):
    """A LINE of DetectText: ``text``, ``confidence`` 0–100, ``box``; ``analysed_ms`` when
    the line was read on an earlier frame and carried over (its region did not change)."""

    text: str
    confidence: float
    box: BoundingBox
    analysed_ms: int


class Label(TypedDict):
    """A DetectLabels label (with labels implied by faces and text): ``name``, ``confidence``
    0–100, ``parents`` (names), ``boxes`` (one per instance)."""

    name: str
    confidence: float
    parents: list[str]
    boxes: list[BoundingBox]


class Face(TypedDict, total=False):
    """A face of the frame: Rekognition ``face_id``, its ``person_id`` (None: not assigned),
    detection ``confidence`` 0–100, ``box``, ``good`` (quality enough to shape a person), and
    ``embedded_ms``: the frame whose embedding gave ``face_id``/``person_id`` (this frame's
    ``frame_ms`` when it was indexed here; absent in documents written before issue 14)."""

    face_id: str
    person_id: str | None
    confidence: float
    box: BoundingBox
    good: bool
    embedded_ms: int | None


class Moderation(TypedDict):
    """A DetectModerationLabels label: ``name``, ``parent``, taxonomy ``level``, ``confidence``."""

    name: str
    parent: str
    level: int
    confidence: float


class FrameDocument(TypedDict):
    """One analysed frame, keyed by (``video_id``, ``frame_ms``). ``analysed_ms``: analysis
    (``text``, ``faces``, ``labels``, ``moderation``) → ``frame_ms`` of the frame its result
    was measured on (this frame's own, or an earlier frame's when carried over); an analysis
    that did not run is absent."""

    video_id: str
    frame_ms: int
    start_ms: int
    end_ms: int
    frame_uri: str
    width: int
    height: int
    text: str
    text_lines: list[TextLine]
    labels: list[Label]
    label_names: list[str]
    faces: list[Face]
    person_ids: list[str]
    moderation: list[Moderation]
    unsafe_confidence: float
    analyzer: str
    analysed_ms: dict[str, int]


def empty_document(video_id: str, frame_ms: int, end_ms: int, frame_uri: str, width: int,
                   height: int, analyzer: str) -> FrameDocument:
    """A document with nothing found yet (every list empty, ``unsafe_confidence`` 0)."""
    return FrameDocument(video_id=video_id, frame_ms=frame_ms, start_ms=frame_ms, end_ms=end_ms,
                         frame_uri=frame_uri, width=width, height=height, text="", text_lines=[],
                         labels=[], label_names=[], faces=[], person_ids=[], moderation=[],
                         unsafe_confidence=0.0, analyzer=analyzer, analysed_ms={})


AssignFaces = Callable[[list[dict[str, Any]]], list[Face]]


def frame_document(base: FrameDocument, fields: dict[str, Any], settings: Settings,
                   assign_faces: AssignFaces | None,
                   analysed_ms: dict[str, int] | None = None) -> FrameDocument:
    """Complete ``base`` with the analysis ``fields`` of :func:`reko.pipeline.analyze.analyse_frame`
    (already stripped of ``analysis_ms`` and ``missing``) and any fields carried over from
    earlier frames (``faces`` already assigned, ``detected_labels`` …): IndexFaces
    ``face_records`` go through ``assign_faces`` (persons), labels get their parents and the
    labels implied by sure faces and text (as Rekognition reports them). ``analysed_ms`` is
    stored as the document's (see :class:`FrameDocument`). Returns the document (``base`` is
    not modified)."""
    from .analyze import label_fields

    doc: dict[str, Any] = {**base}
    face_records = fields.pop("face_records", None)
    detected = fields.pop("detected_labels", None)
    doc.update(fields)
    if analysed_ms is not None:
        doc["analysed_ms"] = dict(analysed_ms)
    if face_records and assign_faces is not None:
        doc["faces"] = [{**face, "embedded_ms": base["frame_ms"]} for face in assign_faces(face_records)]
    if doc["faces"]:
        doc["person_ids"] = sorted({f["person_id"] for f in doc["faces"] if f.get("person_id")})
    if detected is not None or doc["faces"] or doc["text_lines"]:
        sure_faces = sum(1 for f in doc["faces"] if f["confidence"] >= settings.face_min_confidence)
        doc.update(label_fields(detected or [], sure_faces, len(doc["text_lines"])))
    return FrameDocument(**doc)  # type: ignore[typeddict-item]
