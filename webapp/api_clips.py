"""Clips: one segment as MP4, or every segment of a search as a zip (cut by pipeline.clips)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, after_this_request, send_file

from ..errors import QueryError
from ..pipeline.search import search
from .api_search import query_from_request
from .common import int_arg, services, video_record

bp = Blueprint("clips", __name__, url_prefix="/api")

MAX_ZIP_SEGMENTS = 200  #: larger results must be narrowed first (each clip costs a cut)


def _temp_path(suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile(prefix="reko-clip-", suffix=suffix, delete=False)
    handle.close()
    path = Path(handle.name)

    @after_this_request
    def cleanup(response):
        response.call_on_close(lambda: path.unlink(missing_ok=True))
        return response

    return path


@bp.get("/clips/<video_id>.mp4")
def clip(video_id: str):
    """``start_ms``..``end_ms`` of a video as a frame-accurate MP4 download."""
    from ..pipeline.clips import cut_clip

    record = video_record(video_id)
    start_ms = int_arg("start_ms", 0)
    end_ms = int_arg("end_ms", record.duration_ms)
    if end_ms <= start_ms:
        raise QueryError("end_ms must be greater than start_ms")
    out = _temp_path(".mp4")
    cut_clip(Path(record.stored_path), start_ms, min(end_ms, record.duration_ms), out)
    return send_file(out, mimetype="video/mp4", as_attachment=True,
                     download_name=f"{video_id}_{start_ms}-{end_ms}.mp4")


@bp.get("/clips.zip")
def clips_zip():
    """Every segment of a search (same parameters as /api/search) as MP4s in one zip."""
    from ..pipeline.clips import cut_clips_zip

    svc = services()
    response = search(svc.settings, svc.index, svc.catalog, query_from_request())
    if len(response.segments) > MAX_ZIP_SEGMENTS:
        raise QueryError(f"{len(response.segments)} segments; narrow the search to at most "
                         f"{MAX_ZIP_SEGMENTS} to download them as a zip")
    sources = {s.video_id: Path(video_record(s.video_id).stored_path) for s in response.segments}
    out = _temp_path(".zip")
    cut_clips_zip(sources, [(s.video_id, s.start_ms, s.end_ms) for s in response.segments], out)
    return send_file(out, mimetype="application/zip", as_attachment=True, download_name="reko-clips.zip")
