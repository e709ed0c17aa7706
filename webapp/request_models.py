"""What the JSON API accepts: query parameters, JSON bodies, multipart forms and headers, as
pydantic models.

These models are the one source for both request validation and the OpenAPI document (through
:data:`reko.webapp.spec.api`). A handler declares them with ``@api.validate(...)`` and receives
validated instances; invalid input never reaches it (see :func:`reko.webapp.spec.reject_invalid`
for the error answered). Ids in paths are checked by the application layer
(:mod:`reko.pipeline.ids`), which answers 404 for a malformed id.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from werkzeug.datastructures import FileStorage

MAX_PER_PAGE = 100  #: largest page of search results
MAX_PAGE = 10_000  #: highest page number


class QueryModel(BaseModel):
    """Base of query-parameter models: an empty parameter (``?page=``, as HTML forms send
    unfilled fields) counts as not given, so its default applies."""

    @model_validator(mode="before")
    @classmethod
    def _drop_empty(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != ""}
        return data


class SearchFilters(QueryModel):
    """What to search for (``GET /api/clips.zip``, ``GET /api/export.{fmt}``; the base of
    :class:`SearchParams`). Every filter is optional, but at least one of ``q``, ``person``,
    ``label``, ``video`` is needed.

    Moments across signals: with ``within`` or any ``near_*`` value, every signal stands on its
    own in time. The anchor is ``q`` (or, with no text, the first ``person``, else the first
    ``label``); every other ``person`` and ``label`` and every ``near_*`` value must be on screen
    within ``within`` of an anchor frame (omitted: 0 s, on screen together). Without them,
    ``q``, ``person`` and ``label`` must all match in one frame."""

    q: str = Field("", description='text to find: words are ANDed, "quoted phrases" kept whole')
    person: list[str] = Field(default_factory=list, description="person id or name (repeatable)")
    label: list[str] = Field(default_factory=list, description="label name, e.g. Car (repeatable)")
    video: list[str] = Field(default_factory=list, description="video_id to search in (repeatable)")
    unsafe: bool = Field(False, description="1 to include frames flagged unsafe (hidden by default)")
    near_person: list[str] = Field(default_factory=list, description="a person (id or name) on screen within "
                                                                     "`within` of the anchor (repeatable)")
    near_label: list[str] = Field(default_factory=list, description="a label on screen within `within` of "
                                                                    "the anchor (repeatable)")
    near_text: list[str] = Field(default_factory=list, description="text on screen within `within` of the "
                                                                   "anchor (repeatable)")
    within: str = Field("", max_length=40, description="how far apart the signals may be: 5s, 1.5s, 500ms, "
                                                       "2m or a number of seconds (at most 10 minutes)")


class SearchParams(SearchFilters):
    """``GET /api/search``: the filters plus paging."""

    page: int = Field(1, ge=1, le=MAX_PAGE, description="page number, from 1")
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE, description="segments per page")


class ZipParams(SearchFilters):
    """``GET /api/clips.zip``: the filters, and how to name the clips inside."""

    names: Literal["id", "file"] = Field("file", description="clip names: file (<original name>_<hh-mm-ss.mmm>-"
                                                             "<hh-mm-ss.mmm>.mp4, as single clip downloads) or id "
                                                             "(<video_id>_<start_ms>-<end_ms>.mp4)")


class PersonListParams(QueryModel):
    """``GET /api/persons``."""

    q: str = Field("", max_length=200, description="only persons whose name (or \"Person N\") contains this")
    merge_suggestions: bool = Field(False, description="1 to add pairs of persons whose faces look alike")
    name_suggestions: bool = Field(False, description="1 to add the names proposed for unnamed persons from "
                                                      "name captions shown with their faces")


class LabelParams(QueryModel):
    """``GET /api/labels``."""

    q: str = Field("", max_length=200, description="only labels whose name contains this")


class HealthParams(QueryModel):
    """``GET /api/health``."""

    estimate_ms: int | None = Field(None, ge=0, le=100 * 3600 * 1000,
                                    description="a video's duration in ms: add how long analysing it should take")


class EstimateParams(QueryModel):
    """``GET /api/estimate``: the video the browser is about to upload, as it reads it."""

    duration_s: float = Field(gt=0, le=100 * 3600, description="the video's duration in seconds")
    height: int | None = Field(None, ge=1, le=10_000, description="the video's height in px (MediaConvert's "
                                                                   "resolution category)")


class PageSize(QueryModel):
    """``POST /api/search/face``: how many segments to return."""

    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE, description="segments to return")


class ClipRange(QueryModel):
    """``GET /api/clips/{video_id}.mp4``: the span to cut, in ms (clamped to the video)."""

    start_ms: int = Field(0, ge=0, description="clip start, ms from the video's start")
    end_ms: int | None = Field(None, ge=1, description="clip end in ms (default: the video's end)")


class TimelineParams(QueryModel):
    """``GET /api/videos/{video_id}/timeline``."""

    limit: int = Field(0, ge=0, description="at most this many text spans (0: all)")
    overview: bool = Field(False, description="1 to add the video page's overview")
    all: bool = Field(False, description="with overview=1: include OCR noise and every label")


def _uploaded_file(value: Any) -> FileStorage:
    if not isinstance(value, FileStorage) or not value.filename:
        raise ValueError("must be a file part with a file name")
    return value


#: A multipart file part (werkzeug's FileStorage), documented as binary.
UploadedFile = Annotated[FileStorage, BeforeValidator(_uploaded_file),
                         WithJsonSchema({"type": "string", "format": "binary"})]


class VideoUpload(BaseModel):
    """``POST /api/videos``: multipart/form-data with the video in field ``file``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    file: UploadedFile = Field(description="the video (checked by probing its content, not its "
                                           "name), up to REKO_MAX_UPLOAD_BYTES")


class FacePhoto(BaseModel):
    """``POST /api/search/face``: multipart/form-data with a photo in field ``photo``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    photo: UploadedFile = Field(description="a JPEG or PNG photo of one person, up to "
                                            "REKO_MAX_REQUEST_BYTES and REKO_MAX_IMAGE_PIXELS")


class PersonRename(BaseModel):
    """``PATCH /api/persons/{person_id}``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Kim Yuna"}]})
    name: str = Field(description="the new name; an empty string clears it")


class PersonMerge(BaseModel):
    """``POST /api/persons/{person_id}/merge``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"into": "p-0123456789"}]})
    into: str = Field(description="the person_id that keeps the faces")


class AcceptName(BaseModel):
    """``POST /api/persons/{person_id}/accept-name``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "김철수"}]})
    name: str = Field("", max_length=200, description="one of the person's suggested names (GET "
                                                      "/api/persons/{person_id}/name-suggestions); empty: the best")


class Login(BaseModel):
    """``POST /api/login``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"token": "the REKO_AUTH_TOKEN value"}]})
    token: str = Field(description="the access token (REKO_AUTH_TOKEN)")


class StateChange(BaseModel):
    """The header every state-changing request (POST, PATCH, DELETE) must send; without it
    the answer is 403. A cross-site page cannot add it without a CORS preflight, which reko
    never grants."""

    x_reko_request: Literal["1"] = Field(alias="X-Reko-Request",
                                         description="always 1: proves the request comes from a script "
                                                     "of the reko site, not a cross-site form")


class UploadStart(BaseModel):
    """``POST /api/uploads`` (S3 storage): a direct upload's file name and size."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"filename": "뉴스 9시.mp4", "size_bytes": 734003200}]})
    filename: str = Field(description="the video's file name (shown in the archive)")
    size_bytes: int = Field(gt=0, description="the file's size in bytes")


class UploadComplete(BaseModel):
    """``POST /api/uploads/complete``: the upload's key and id, and every part's ETag in order."""

    key: str = Field(description="the key POST /api/uploads answered")
    upload_id: str = Field(description="the upload_id POST /api/uploads answered")
    etags: list[str] = Field(min_length=1, description="the ETag S3 answered for parts 1..N, in order")
