"""What the JSON API answers: the response shapes, as pydantic models.

They document the responses in the OpenAPI document (``GET /api/openapi.json``); handlers still
return plain dicts, and tests check real responses against the document's schemas. Times are in
ms, sizes in bytes, boxes in ratios of the frame (0–1, Rekognition's ``BoundingBox``; a face
partly outside the frame may go slightly beyond), confidences and similarities in 0–100.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..pipeline.catalog import STATUSES


class Error(BaseModel):
    """Every error: a name and a plain-language message that says what to do."""

    error: str = Field(description="the error's name, e.g. QueryError, Not Found")
    message: str = Field(description="what went wrong and what to change")


class Box(BaseModel):
    """A bounding box in ratios of the frame's width and height."""

    Left: float
    Top: float
    Width: float
    Height: float


class SegmentBox(BaseModel):
    """Something to outline on a segment's thumbnail: a matched text line, the face of a
    person, or an instance of a searched label."""

    kind: Literal["text", "face", "label"]
    box: Box
    text: str | None = Field(None, description="the text line or label name (text, label)")
    person_id: str | None = Field(None, description="whose face it is (face)")


class Segment(BaseModel):
    """A time range of one video where the query matches; its best frame gives the thumbnail."""

    video_id: str
    start_ms: int
    end_ms: int
    frame_ms: int = Field(description="the best frame's time (thumbnail, playback start)")
    text: str = Field(description="the best frame's on-screen text")
    score: float
    hits: int = Field(description="frames merged into this segment")
    person_ids: list[str]
    filename: str = Field(description="the uploaded file's name")
    matched_lines: list[str] = Field(description="text lines of the best frame that match")
    boxes: list[SegmentBox]
    frame_url: str
    video_url: str
    clip_url: str


class SearchResult(BaseModel):
    """One page of segments, best video first, with facet counts over every matching frame."""

    query: str
    total_frames: int
    total_segments: int
    page: int
    per_page: int
    segments: list[Segment]
    facets: dict[str, dict[str, int]] = Field(description="field (person_ids, label_names) → value → frames")


class Person(BaseModel):
    """A person found in the videos (a Rekognition user of the face collection)."""

    person_id: str
    name: str = Field(description="empty until someone names the person")
    face_count: int
    screen_time_ms: int
    videos: int = Field(description="videos the person appears in")
    thumbnail_url: str


class FaceSearchResult(SearchResult):
    """The segments of the person found in a photo."""

    person: Person
    similarity: float = Field(description="0–100")


class Face(BaseModel):
    """One face of a person in one frame."""

    face_id: str
    video_id: str
    frame_ms: int
    box: Box
    good: bool = Field(description="good enough (size, pose, sharpness) to shape the person")


class PersonDetail(Person):
    """A person with their faces, in (video, time) order."""

    faces: list[Face]


class PersonList(BaseModel):
    """Every person, most screen time first."""

    persons: list[Person]


class Merged(BaseModel):
    """The person that kept the faces, and how many frame documents were rewritten."""

    person: Person
    frames_updated: int


class Video(BaseModel):
    """A video's catalog record and ingest progress. A video whose background ingest rejected
    the file has only ``video_id``, ``status`` (failed), ``error`` and ``progress``."""

    video_id: str
    status: Literal[STATUSES]  # type: ignore[valid-type]
    progress: float = Field(description="0–1: ingest checkpoint over duration (1 when ready)")
    error: str = Field("", description="why the ingest failed")
    filename: str = ""
    duration_ms: int = 0
    width: int = Field(0, description="px")
    height: int = Field(0, description="px")
    fps: float = 0.0
    size_bytes: int = 0
    checkpoint_ms: int = Field(-1, description="the last frame written to the index (-1: none yet)")
    frames_sampled: int = 0
    frames_analysed: int = 0
    created_at: float = Field(0.0, description="seconds since the epoch")
    updated_at: float = Field(0.0, description="seconds since the epoch")


class VideoList(BaseModel):
    """Every video, newest first."""

    videos: list[Video]


class Deleted(BaseModel):
    """The deleted video."""

    deleted: str


class TextSpan(BaseModel):
    """The same on-screen text over neighbouring frames."""

    start_ms: int
    end_ms: int
    text: str


class Timeline(BaseModel):
    """What appears when in one video; intervals are ``[start_ms, end_ms]``."""

    video_id: str
    duration_ms: int
    frames: int = Field(description="frame documents of the video")
    text: list[TextSpan]
    persons: dict[str, list[tuple[int, int]]] = Field(description="person_id → intervals")
    labels: dict[str, list[tuple[int, int]]] = Field(description="label name → intervals")


class Labels(BaseModel):
    """Label names with frame counts over the whole index."""

    labels: dict[str, int]


class Removed(BaseModel):
    """The face taken away from its person."""

    removed: str


class Health(BaseModel):
    """Liveness and index statistics."""

    ok: bool
    frames: int = Field(description="frame documents in the index")
    videos: int = Field(description="videos in the index")
    pending: int = Field(description="videos queued or being ingested")


class LoggedIn(BaseModel):
    """The access token was right; the ``reko_token`` cookie is set."""

    ok: bool


class OpenApiDocument(BaseModel):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict[str, object]
    paths: dict[str, object]
