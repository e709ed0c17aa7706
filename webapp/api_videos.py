"""Videos: list, upload (then background ingest), status/progress, delete, playback with HTTP
range requests, frame thumbnails, and the per-video timeline of what appears when."""

from __future__ import annotations

import time
from pathlib import Path

from flask import Blueprint, request
from spectree import Response

from ..pipeline.catalog import VideoRecord
from .common import reko, send_media
from .request_models import StateChange, TimelineParams, UploadComplete, UploadStart, VideoUpload
from .response_models import Deleted, Error, Timeline, UploadCompleted, UploadStarted, Video, VideoList
from .spec import FileResponse, api

bp = Blueprint("videos", __name__, url_prefix="/api")


def record_json(record: VideoRecord) -> dict:
    """A catalog record plus its ingest progress (see :meth:`reko.app.Reko.site_progress`):
    ``progress`` 0–1, ``stage``, ``stage_text``, ``frames_done`` of ``frames_expected``,
    ``seconds_left``, ``videos_ahead``."""
    data = record.to_json()
    progress = reko().site_progress(record)
    data["progress"] = progress.pop("fraction")
    return {**data, **progress}


@bp.before_request
def allow_video_uploads() -> None:
    """Raise the body limit of the upload route to ``REKO_MAX_UPLOAD_BYTES`` before its form
    is parsed (every other request stays at ``REKO_MAX_REQUEST_BYTES``)."""
    if request.endpoint == "videos.upload_video":
        request.max_content_length = reko().settings.max_upload_bytes


@bp.get("/videos")
@api.validate(resp=Response(HTTP_200=VideoList), tags=["videos"])
def list_videos():
    """List videos, newest first, with ingest status and progress."""
    return {"videos": [record_json(r) for r in reko().videos()]}


@bp.post("/videos")
@api.validate(form=VideoUpload, headers=StateChange, validation_error_status=422, tags=["videos"],
              resp=Response(HTTP_200=(Video, "the same bytes are already in"),
                            HTTP_202=(Video, "queued for ingest in the background"),
                            HTTP_403=Error, HTTP_413=Error))
def upload_video(form: VideoUpload):
    """Upload a video.

    The file is checked by probing its content (not its name), then ingested in the
    background; poll ``GET /api/videos/{video_id}`` for progress. 422 when it is not a usable
    video (nothing is kept), 413 over ``REKO_MAX_UPLOAD_BYTES``, 400 for a missing or too long
    file name.
    """
    stream = form.file.stream
    stream.flush()
    record, queued = reko().upload(Path(stream.name), form.file.filename or "")
    return record_json(record), 202 if queued else 200


@bp.get("/videos/<video_id>")
@api.validate(resp=Response(HTTP_200=Video, HTTP_404=Error), tags=["videos"])
def get_video(video_id: str):
    """A video's status and progress.

    A background ingest that rejected the file (e.g. truncated) removed everything; the status
    is then ``failed`` with ``error``.
    """
    app = reko()
    failure = app.queue.failures.get(video_id)
    if failure is None and app.queue.current == video_id and app.catalog.get(video_id) is None:
        # the background ingest rejected the file and removed the record: it says why in a moment
        deadline = time.monotonic() + 2.0
        while app.queue.current == video_id and video_id not in app.queue.failures and time.monotonic() < deadline:
            time.sleep(0.02)
        failure = app.queue.failures.get(video_id)
    if failure and app.catalog.get(video_id) is None:
        return {"video_id": video_id, "status": "failed", "error": failure, "progress": 0.0,
                "stage": "failed", "stage_text": "Failed"}
    return record_json(app.video(video_id))


@bp.delete("/videos/<video_id>")
@api.validate(headers=StateChange, resp=Response(HTTP_200=Deleted, HTTP_403=Error, HTTP_404=Error),
              tags=["videos"])
def delete_video(video_id: str):
    """Delete a video: its documents, faces, stored files and record (a running ingest of it
    stops first)."""
    reko().delete(video_id)
    return {"deleted": video_id}


@bp.get("/videos/<video_id>/media")
@api.validate(resp=FileResponse("video/mp4", HTTP_200=(None, "the whole file"),
                                HTTP_206=(None, "the requested byte range"),
                                HTTP_302=(None, "on S3 storage: a presigned URL of the MP4 proxy"),
                                HTTP_404=Error),
              tags=["videos"])
def video_media(video_id: str):
    """The video file, with HTTP range requests (206) for seeking."""
    return send_media(reko().video_media(video_id), "video/mp4", 3600, conditional=True)


@bp.get("/frames/<video_id>/<int:frame_ms>.jpg")
@api.validate(resp=FileResponse("image/jpeg", HTTP_200=None, HTTP_302=(None, "on S3 storage: a presigned URL"),
                                HTTP_404=Error), tags=["videos"])
def frame_thumbnail(video_id: str, frame_ms: int):
    """The thumbnail of an analysed frame."""
    return send_media(reko().frame_media(video_id, frame_ms), "image/jpeg", 86400)


@bp.get("/videos/<video_id>/timeline")
@api.validate(resp=Response(HTTP_200=Timeline, HTTP_404=Error), tags=["videos"])
def timeline(video_id: str, query: TimelineParams):
    """What appears when in a video.

    ``text`` spans, and ``persons`` and ``labels`` as lists of ``[start_ms, end_ms]``
    intervals (neighbouring frames merged). With ``overview=1`` also ``overview``, what the
    video page shows: each on-screen line over time (a transcript), persons with their
    display names, and the labels on screen longest with parents folded into their child;
    OCR noise (low confidence, single letters) and weak or minor labels are left out and
    counted unless ``all=1``.
    """
    app = reko()
    body = app.timeline(video_id, query.limit)
    if query.overview:
        body["overview"] = app.site_video_overview(video_id, query.all)
    return body


@bp.post("/uploads")
@api.validate(json=UploadStart, headers=StateChange, tags=["videos"],
              resp=Response(HTTP_200=UploadStarted, HTTP_400=Error, HTTP_403=Error, HTTP_413=Error))
def start_upload(json: UploadStart):
    """Start a direct upload to S3 (S3 storage only).

    Videos are gigabytes and API Gateway caps request bodies at 10 MB, so on AWS the browser
    sends the bytes straight to S3: PUT each part to its presigned URL, then
    ``POST /api/uploads/complete`` with the ETags. The ingest then starts by itself, as for
    ``aws s3 cp video.mp4 s3://<bucket>/uploads/``. 400 on local storage (use POST /api/videos).
    """
    return reko().start_upload(json.filename, json.size_bytes)


@bp.post("/uploads/complete")
@api.validate(json=UploadComplete, headers=StateChange, tags=["videos"],
              resp=Response(HTTP_200=UploadCompleted, HTTP_400=Error, HTTP_403=Error))
def complete_upload(json: UploadComplete):
    """Complete a direct upload (S3 storage only)."""
    return {"key": reko().complete_upload(json.key, json.upload_id, json.etags)}
