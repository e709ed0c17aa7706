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


class WhyLine(BaseModel):
    """A text line of the best frame that contains a search term."""

    text: str
    confidence: float = Field(description="OCR confidence, 0–100")


class WhyLabel(BaseModel):
    """A searched label (or a child of it: Car for Vehicle) on the best frame."""

    name: str
    confidence: float = Field(description="0–100")


class WhyPerson(BaseModel):
    """A searched person's face on the best frame."""

    person_id: str
    display_name: str = Field(description='the name, or "Person N" until named')
    similarity: float | None = Field(description="0–100: to the photo (search by photo) or to the "
                                                 "person's other faces; null when they have no other")
    confidence: float = Field(description="face detection confidence, 0–100")


class Why(BaseModel):
    """Why a segment matched, from its best frame."""

    lines: list[WhyLine]
    labels: list[WhyLabel]
    persons: list[WhyPerson]


class NearWitness(BaseModel):
    """A moment query's other signal, met near the segment's matching (anchor) frames: the
    frame where it is on screen and how far it is from the nearest anchor frame."""

    clause: int = Field(description="which near signal (0-based, in the order the query gives them)")
    kind: Literal["person", "label", "text"]
    label: str = Field(description="the signal for people: a display name (names of several persons "
                                   "joined with ' or '), a label or the text")
    frame_ms: int = Field(description="the frame where the signal is on screen")
    start_ms: int = Field(description="that frame's span")
    end_ms: int
    gap_ms: int = Field(description="time between that frame's span and the nearest anchor frame's (0: "
                                    "on screen together)")
    relation: Literal["together", "before", "after"] = Field(description="where it is from the anchor")
    frame_url: str


class Segment(BaseModel):
    """A time range of one video where the query matches; its best frame gives the thumbnail.
    ``start_ms``..``end_ms`` is padded (REKO_SEGMENT_PAD_MS); ``match_start_ms``..``match_end_ms``
    is the span of the matching frames themselves. A moment query's segment spans its anchor
    frames and their witnesses, listed in ``near``."""

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
    match_start_ms: int = Field(description="start of the matching frames (before padding)")
    match_end_ms: int = Field(description="end of the matching frames (before padding)")
    why: Why
    download_name: str = Field(description="the clip's file name: <original name>_<hh-mm-ss.mmm>-<hh-mm-ss.mmm>.mp4")
    near: list[NearWitness] | None = Field(None, description="moment queries only: the other signals' frames, "
                                                             "each once, in time order")


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
    number: int = Field(description='stable number for "Person N" (order of first appearance)')
    display_name: str = Field(description='the name, or "Person N" until named')


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
    """A person with their faces in (video, time) order, their videos (most screen time
    first) and persons who look alike."""

    faces: list[Face]
    in_videos: list[PersonVideo] = Field(description="the videos they appear in, with screen time")
    similar: list[SimilarPerson] = Field(description="merge suggestions, most similar first")


class PersonList(BaseModel):
    """Every person, most screen time first (or those matching ``q``, best first)."""

    persons: list[Person]
    merge_suggestions: list[MergeSuggestion] | None = Field(None, description="with merge_suggestions=1")
    name_suggestions: dict[str, list[NameSuggestion]] | None = Field(
        None, description="with name_suggestions=1: person_id → names proposed from name captions, best "
                          "first (only unnamed persons with a suggestion)")


class Merged(BaseModel):
    """The person that kept the faces, and how many frame documents were rewritten."""

    person: Person
    frames_updated: int


class Video(BaseModel):
    """A video's catalog record and ingest progress. A video whose background ingest rejected
    the file has only ``video_id``, ``status`` (failed), ``error`` and ``progress``."""

    video_id: str
    status: Literal[STATUSES]  # type: ignore[valid-type]
    progress: float = Field(description="0–1: how far the ingest is (1 when ready)")
    stage: Literal["queued", "preparing", "analysing", "finishing", "ready", "failed", "deleting"] = "queued"
    stage_text: str = Field("", description="the stage in plain words, e.g. Analysing frame 12 of 20")
    frames_done: int = Field(0, description="frames taken from the video and sent to analysis")
    frames_expected: int = Field(0, description="frames the ingest samples in all (duration × REKO_SAMPLE_FPS)")
    seconds_left: int | None = Field(None, description="expected seconds until searchable (null: unknown)")
    videos_ahead: int = Field(0, description="videos queued before this one")
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
    overview: VideoOverview | None = Field(None, description="with overview=1")


class OverviewText(BaseModel):
    """One on-screen line over the neighbouring frames it stays on."""

    start_ms: int
    end_ms: int
    text: str
    confidence: float = Field(description="best OCR confidence, 0–100")
    noise: bool = Field(description="low confidence or a single letter (shown only with all=1)")


class OverviewPerson(BaseModel):
    """When a person is on screen."""

    person_id: str
    number: int
    display_name: str
    intervals: list[tuple[int, int]]


class OverviewLabel(BaseModel):
    """When a label is on screen (parents folded into their child)."""

    name: str
    confidence: float = Field(description="best confidence, 0–100")
    intervals: list[tuple[int, int]]


class VideoOverview(BaseModel):
    """A video's page: on-screen text, persons and the top labels over time."""

    video_id: str
    filename: str
    duration_ms: int
    width: int
    height: int
    fps: float
    frames: int
    show_all: bool
    text: list[OverviewText]
    text_hidden: int = Field(description="noise lines left out (all=1 shows them)")
    persons: list[OverviewPerson]
    labels: list[OverviewLabel]
    labels_hidden: int = Field(description="labels left out (all=1 shows them)")


class PersonVideo(BaseModel):
    """A video a person appears in."""

    video_id: str
    filename: str
    faces: int
    screen_time_ms: int


class MergeSuggestion(BaseModel):
    """Two persons whose faces look alike."""

    person_id: str
    other_id: str
    similarity: float = Field(description="0–100")


class SimilarPerson(BaseModel):
    """A person whose faces look like this person's (a merge suggestion)."""

    person_id: str
    similarity: float = Field(description="0–100")


class Estimate(BaseModel):
    """How long analysing a video should take on this server, before uploading it."""

    duration_ms: int
    frames_expected: int
    expected_seconds: float = Field(description="from start to searchable")
    queue_seconds: float = Field(description="for the videos already waiting")
    videos_ahead: int
    seconds_per_video_second: float = Field(description="the measured analysis speed")
    basis: str = Field(description="what the speed was measured on")


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
    uploads: Literal["direct", "server"] = Field(
        description="how the site uploads videos: direct (S3 storage: POST /api/uploads, then PUT the parts "
                    "to S3) or server (POST /api/videos)")
    estimate: Estimate | None = Field(None, description="with estimate_ms")


class AwsApiCalls(BaseModel):
    """One Rekognition image API in the AWS estimate."""

    feature: str = Field(description="the REKO_FEATURES analysis, e.g. text")
    api: str = Field(description="its Rekognition API, e.g. DetectText")
    calls: int = Field(description="at most: one per sampled frame")
    usd_per_call: float = Field(description="first-tier price per image, USD")
    cost_usd: float


class AwsEstimate(BaseModel):
    """What analysing a video on AWS costs at most (every sampled frame to every API), before it
    is uploaded. A ceiling: near-duplicate frames are skipped, which can only lower it; per-face
    calls are not included (see ``not_counted``)."""

    region: str = Field(description="REKO_AWS_REGION, whose prices are used")
    sample_fps: float
    video_seconds: float
    frames_sampled: int = Field(description="frames MediaConvert captures at REKO_SAMPLE_FPS")
    apis: list[AwsApiCalls] = Field(description="one per REKO_FEATURES analysis")
    rekognition_cost_usd: float
    mediaconvert_minutes: float = Field(description="billed output minutes: frame capture + MP4 proxy")
    mediaconvert_category: Literal["SD", "HD", "UHD"] | None = Field(description="from height; null without it")
    mediaconvert_cost_usd: float | None = Field(description="null: no citable MediaConvert price is recorded")
    cost_usd: float = Field(description="the priced total (Rekognition, plus MediaConvert when priced)")
    cost_per_video_hour_usd: float
    ceiling: bool = Field(description="always true: the naive plan, an upper bound")
    not_counted: list[str] = Field(description="costs left out, in plain words")
    price_source: str
    prices_read: list[str] = Field(description="when the prices used were read (ISO dates)")


class NameEvidence(BaseModel):
    """A frame where a suggested name is on screen with the person's face."""

    video_id: str
    frame_ms: int
    start_ms: int
    end_ms: int
    line: str = Field(description="the caption line read")
    box: Box = Field(description="where the line is on the frame")
    frame_url: str


class NameSuggestion(BaseModel):
    """A name proposed for a person from the name captions shown with their face (never applied
    until someone accepts it)."""

    name: str
    title: str = Field(description="the title read after the name, e.g. 국회의원, Reporter")
    score: float = Field(description="higher is better")
    together_ms: int = Field(description="screen time the name shares with the person's face")
    name_ms: int = Field(description="screen time of the name in the videos the person is in")
    specificity: float = Field(description="together_ms / name_ms, 0–1")
    frames: int = Field(description="frames showing both")
    evidence: list[NameEvidence] = Field(description="some of those frames, earliest first")


class NameSuggestions(BaseModel):
    """The names proposed for one person, best first (empty for a named person)."""

    person_id: str
    suggestions: list[NameSuggestion]


class LoggedIn(BaseModel):
    """The access token was right; the ``reko_token`` cookie is set."""

    ok: bool


class OpenApiDocument(BaseModel):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict[str, object]
    paths: dict[str, object]


for _model in (PersonDetail, Timeline, PersonList):  # they name models defined after them
    _model.model_rebuild()


class UploadPart(BaseModel):
    """One part of a direct upload: PUT its bytes to ``url`` and keep the answer's ETag."""

    part_number: int
    url: str


class UploadStarted(BaseModel):
    """``POST /api/uploads``: where and how to send the video's bytes (presigned S3 URLs)."""

    key: str
    upload_id: str
    part_bytes: int = Field(description="bytes per part (the last part may be smaller)")
    parts: list[UploadPart]


class UploadCompleted(BaseModel):
    """``POST /api/uploads/complete``: the object is in; its ingest starts by itself."""

    key: str


class Pending(BaseModel):
    """The work is under way (a clip being cut); ask again after ``retry_after_s`` seconds."""

    status: Literal["cutting"]
    retry_after_s: int
