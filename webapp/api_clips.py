"""Clips: one segment as MP4, or every segment of a search as a zip (cut by pipeline.clips);
and a search as a timeline for editing software (EDL, FCPXML, FCP 7 XML, OTIO).

Each clip is cut into ``<data dir>/tmp/`` and sent with :func:`send_temporary`, which removes
the file as the download starts: no request, finished or abandoned, leaves a file behind.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from flask import Blueprint, redirect, send_file

from ..app import Reko
from ..errors import NotFoundError
from .api_search import search_query
from .common import reko, send_temporary
from .request_models import ClipRange, SearchFilters, ZipParams
from .response_models import Error, Pending
from .spec import FileResponse, api

bp = Blueprint("clips", __name__, url_prefix="/api")


def _temp_path(suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile(prefix="clip-", suffix=suffix, delete=False,
                                         dir=reko().local_storage.temp_dir("tmp"))
    handle.close()
    return Path(handle.name)


_BUSY = (Error, "other clips are being cut; retry after Retry-After seconds")


@bp.get("/clips/<video_id>.mp4")
@api.validate(resp=FileResponse("video/mp4", HTTP_200=(None, "the clip, as a download"),
                                HTTP_202=(Pending, "S3 storage: MediaConvert is cutting it; ask again"),
                                HTTP_302=(None, "S3 storage: a presigned URL of the cut clip"),
                                HTTP_404=Error, HTTP_429=_BUSY), tags=["clips"])
def clip(video_id: str, query: ClipRange):
    """A frame-accurate clip.

    ``start_ms``..``end_ms`` of the video as an MP4 download (the span is clamped to the
    video). 400 when the span is empty or starts past the end.
    """
    app = reko()
    start_ms = query.start_ms
    end_ms = app.video(video_id).duration_ms if query.end_ms is None else query.end_ms
    if app.remote:
        url = app.remote_clip(video_id, start_ms, end_ms, app.site_clip_name(video_id, start_ms, end_ms))
        return redirect(url, code=302) if url else pending()
    out = _temp_path(".mp4")
    try:
        app.clip(video_id, start_ms, end_ms, out)
        return send_temporary(out, "video/mp4", app.site_clip_name(video_id, start_ms, end_ms))
    finally:
        out.unlink(missing_ok=True)


@bp.get("/clips.zip")
@api.validate(resp=FileResponse("application/zip", HTTP_200=(None, "one MP4 per segment"),
                                HTTP_202=(Pending, "S3 storage: MediaConvert is cutting the clips; ask again"),
                                HTTP_302=(None, "S3 storage: a presigned URL of the zip"),
                                HTTP_429=_BUSY), tags=["clips"])
def clips_zip(query: ZipParams):
    """Every segment of a search as MP4 clips in one zip.

    Same filters as ``GET /api/search``. The clips are named like single clip downloads,
    ``<original name>_<hh-mm-ss.mmm>-<hh-mm-ss.mmm>.mp4`` (``names=id``:
    ``<video_id>_<start_ms>-<end_ms>.mp4``; on S3 storage always the file style).
    400 when the search matches nothing or more than 200 segments (narrow it first).
    """
    app = reko()
    response = app.search(search_query(query), include_unsafe=query.unsafe)
    if app.remote:
        url = app.remote_clips_zip(response)
        return redirect(url, code=302) if url else pending()
    out = _temp_path(".zip")
    try:
        if query.names == "file":
            app.site_clips_zip(response, out)
        else:
            app.clips_zip(response, out)
        return send_temporary(out, "application/zip", "reko-clips.zip")
    finally:
        out.unlink(missing_ok=True)


def pending(retry_after_s: int = 5):
    """202 ``{"status": "cutting", "retry_after_s"}`` with a ``Retry-After`` header."""
    return {"status": "cutting", "retry_after_s": retry_after_s}, 202, {"Retry-After": str(retry_after_s)}


#: the export's media types, one per format (documented together: the type depends on ``fmt``)
EXPORT_TYPES = tuple(dict.fromkeys(media_type for _, media_type in Reko.timeline_formats().values()))


@bp.get("/export.<fmt>")
@api.validate(resp=FileResponse(EXPORT_TYPES, HTTP_200=(None, "the timeline file, as a download"), HTTP_404=Error),
              tags=["clips"])
def export_timeline(fmt: str, query: SearchFilters):
    """A search's segments as a timeline for editing software.

    Same filters as ``GET /api/search`` (moments included). ``fmt``: ``edl`` (CMX 3600),
    ``fcpxml`` (Final Cut Pro X), ``xml`` (Final Cut Pro 7 XML, which Premiere Pro and DaVinci
    Resolve import) or ``otio`` (OpenTimelineIO), written by OpenTimelineIO with the source
    file names and frame-accurate timecodes at each source's frame rate. 400 when the search
    matches nothing or too much, or (edl, fcpxml, xml) when the sources have different frame
    rates: export one video at a time then. 404 for another format.
    """
    app = reko()
    formats = app.timeline_formats()
    if fmt not in formats:
        raise NotFoundError(f"no timeline format {fmt!r}: use one of {', '.join(formats)}")
    response = app.search(search_query(query), include_unsafe=query.unsafe)
    data = app.export_timeline(response, fmt)
    return send_file(io.BytesIO(data), mimetype=formats[fmt][1], as_attachment=True,
                     download_name=app.timeline_file_name(response, fmt), max_age=0, conditional=False)
