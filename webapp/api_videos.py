"""Videos: list, upload (then background ingest), status/progress, delete, playback with HTTP
range requests, frame thumbnails, and the per-video timeline of what appears when."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from flask import Blueprint, jsonify, request, send_file

from ..errors import MediaError, NotFoundError
from ..pipeline.ingest import content_id, remove_video
from ..pipeline.media import probe
from .common import VIDEO_ID, int_arg, services, video_record

bp = Blueprint("videos", __name__, url_prefix="/api")


def record_json(record) -> dict:
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
    return jsonify(videos=[record_json(r) for r in services().catalog.list()])


@bp.post("/videos")
def upload_video():
    """Upload one video (multipart field ``file``); it is checked by probing its content, then
    ingested in the background. 202 with the record; 200 when the same bytes are already in."""
    svc = services()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise MediaError("send the video as multipart/form-data field 'file'")
    display_name = os.path.basename(upload.filename.replace("\\", "/"))[:255] or "upload"
    uploads = svc.settings.data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    suffix = Path(display_name).suffix.lower()
    suffix = suffix if suffix.isascii() and suffix[1:].isalnum() and len(suffix) <= 6 else ".bin"
    dest = uploads / f"{uuid.uuid4().hex}{suffix}"
    upload.save(dest)
    try:
        info = probe(dest)  # the content decides, not the extension
    except MediaError as exc:
        dest.unlink(missing_ok=True)
        raise MediaError(f"{display_name}: {str(exc).split(': ', 1)[-1]}") from None
    video_id = content_id(dest)
    existing = svc.catalog.get(video_id)
    if existing is not None and existing.status in ("ready", "queued", "ingesting"):
        dest.unlink(missing_ok=True)
        return jsonify(record_json(existing)), 200
    svc.catalog.start(video_id, display_name, str(dest), info.duration_ms, info.width, info.height,
                      info.fps, info.size_bytes, status="queued")
    svc.enqueue_ingest(video_id, dest, display_name)
    return jsonify(record_json(svc.catalog.get(video_id))), 202


@bp.get("/videos/<video_id>")
def get_video(video_id: str):
    """One video's record with ingest status and progress. A background ingest that rejected
    the file (e.g. truncated) removed everything; its status is then ``failed`` with ``error``."""
    failure = services().failures.get(video_id)
    if failure and services().catalog.get(video_id) is None:
        return jsonify(video_id=video_id, status="failed", error=failure, progress=0.0)
    return jsonify(record_json(video_record(video_id)))


@bp.delete("/videos/<video_id>")
def delete_video(video_id: str):
    """Delete a video's documents, stored files and record."""
    video_record(video_id)
    svc = services()
    remove_video(video_id, svc.index, svc.storage, svc.catalog,
                 svc.persons if "faces" in svc.settings.feature_list else None)
    return jsonify(deleted=video_id)


@bp.get("/videos/<video_id>/media")
def video_media(video_id: str):
    """The stored video, with HTTP range requests (206) for seeking."""
    record = video_record(video_id)
    path = Path(record.stored_path)
    if not path.is_file():
        raise NotFoundError(f"the file of video {video_id} is not stored (still uploading?)")
    return send_file(path, mimetype="video/mp4", conditional=True, max_age=3600)


@bp.get("/frames/<video_id>/<int:frame_ms>.jpg")
def frame_thumbnail(video_id: str, frame_ms: int):
    """The stored thumbnail of an analysed frame."""
    if not VIDEO_ID.match(video_id):
        raise NotFoundError("no such frame")
    svc = services()
    path = svc.settings.data_dir / svc.storage.frame_uri(video_id, frame_ms)
    if not path.is_file():
        raise NotFoundError(f"no frame {frame_ms} ms in video {video_id}")
    return send_file(path, mimetype="image/jpeg", max_age=86400)


@bp.get("/videos/<video_id>/timeline")
def timeline(video_id: str):
    """What appears when: ``text`` spans, ``persons`` and ``labels`` as lists of
    ``[start_ms, end_ms]`` intervals (neighbouring frames merged)."""
    record = video_record(video_id)
    frames = services().index.frames(video_id)
    text, persons, labels = [], {}, {}
    for doc in frames:
        span = [doc["start_ms"], doc["end_ms"]]
        if doc.get("text"):
            if text and text[-1]["text"] == doc["text"] and text[-1]["end_ms"] >= span[0]:
                text[-1]["end_ms"] = span[1]
            else:
                text.append({"start_ms": span[0], "end_ms": span[1], "text": doc["text"]})
        for key, target in ((doc.get("person_ids", []), persons), (doc.get("label_names", []), labels)):
            for name in key:
                intervals = target.setdefault(name, [])
                if intervals and intervals[-1][1] >= span[0]:
                    intervals[-1][1] = span[1]
                else:
                    intervals.append(list(span))
    limit = int_arg("limit", 0)
    return jsonify(video_id=video_id, duration_ms=record.duration_ms, frames=len(frames),
                   text=text[:limit] if limit else text, persons=persons, labels=labels)
