"""Clips: one segment as MP4, or every segment of a search as a zip (cut by pipeline.clips).

Each clip is cut into ``<data dir>/tmp/`` and sent with :func:`send_temporary`, which removes
the file as the download starts: no request, finished or abandoned, leaves a file behind.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint

from .api_search import query_from_request
from .common import int_arg, reko, send_temporary

bp = Blueprint("clips", __name__, url_prefix="/api")


def _temp_path(suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile(prefix="clip-", suffix=suffix, delete=False,
                                         dir=reko().storage.temp_dir("tmp"))
    handle.close()
    return Path(handle.name)


@bp.get("/clips/<video_id>.mp4")
def clip(video_id: str):
    """``start_ms``..``end_ms`` of a video as a frame-accurate MP4 download."""
    app = reko()
    record = app.video(video_id)
    start_ms = int_arg("start_ms", 0)
    end_ms = int_arg("end_ms", record.duration_ms)
    out = _temp_path(".mp4")
    try:
        app.clip(video_id, start_ms, end_ms, out)
        return send_temporary(out, "video/mp4", f"{video_id}_{start_ms}-{end_ms}.mp4")
    finally:
        out.unlink(missing_ok=True)


@bp.get("/clips.zip")
def clips_zip():
    """Every segment of a search (same parameters as /api/search) as MP4s in one zip."""
    app = reko()
    response = app.search(query_from_request())
    out = _temp_path(".zip")
    try:
        app.clips_zip(response, out)
        return send_temporary(out, "application/zip", "reko-clips.zip")
    finally:
        out.unlink(missing_ok=True)
