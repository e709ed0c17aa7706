"""Videos: list, upload (then background ingest), status/progress, delete, playback with HTTP
range requests, frame thumbnails, and the per-video timeline of what appears when."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, jsonify, request, send_file

from ..errors import MediaError
from ..pipeline.catalog import VideoRecord
from .common import int_arg, reko

bp = Blueprint("videos", __name__, url_prefix="/api")


def record_json(record: VideoRecord) -> dict:
    """A catalog record plus ``progress`` (0–1: checkpoint over duration; 1 when ready)."""
    data = record.to_json()
    if record.status == "ready":
        data["progress"] = 1.0
    else:
        data["progress"] = round(max(0, record.checkpoint_ms) / max(1, record.duration_ms), 3)
    return data


@bp.get("/videos")
def list_videos():
    """Every video with status and progress, newest first."""
    return jsonify(videos=[record_json(r) for r in reko().videos()])


@bp.post("/videos")
def upload_video():
    """Upload one video (multipart field ``file``, up to ``REKO_MAX_UPLOAD_BYTES``); it is
    checked by probing its content, then ingested in the background. 202 with the record; 200
    when the same bytes are already in."""
    app = reko()
    request.max_content_length = app.settings.max_upload_bytes
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise MediaError("send the video as multipart/form-data field 'file'")
    stream = upload.stream
    stream.flush()
    record, queued = app.upload(Path(stream.name), upload.filename)
    return jsonify(record_json(record)), 202 if queued else 200


@bp.get("/videos/<video_id>")
def get_video(video_id: str):
    """One video's record with ingest status and progress. A background ingest that rejected
    the file (e.g. truncated) removed everything; its status is then ``failed`` with ``error``."""
    app = reko()
    failure = app.queue.failures.get(video_id)
    if failure and app.catalog.get(video_id) is None:
        return jsonify(video_id=video_id, status="failed", error=failure, progress=0.0)
    return jsonify(record_json(app.video(video_id)))


@bp.delete("/videos/<video_id>")
def delete_video(video_id: str):
    """Delete a video's documents, faces, stored files and record (a running ingest of it
    stops first)."""
    reko().delete(video_id)
    return jsonify(deleted=video_id)


@bp.get("/videos/<video_id>/media")
def video_media(video_id: str):
    """The stored video, with HTTP range requests (206) for seeking."""
    return send_file(reko().video_file(video_id), mimetype="video/mp4", conditional=True, max_age=3600)


@bp.get("/frames/<video_id>/<int:frame_ms>.jpg")
def frame_thumbnail(video_id: str, frame_ms: int):
    """The stored thumbnail of an analysed frame."""
    return send_file(reko().frame_file(video_id, frame_ms), mimetype="image/jpeg", max_age=86400)


@bp.get("/videos/<video_id>/timeline")
def timeline(video_id: str):
    """What appears when: ``text`` spans, ``persons`` and ``labels`` as lists of
    ``[start_ms, end_ms]`` intervals (neighbouring frames merged)."""
    return jsonify(reko().timeline(video_id, int_arg("limit", 0)))
