"""Helpers shared by the API blueprints: the application, uploads written straight into the
data dir, and temporary downloads that leave nothing behind. Requests are parsed and validated
from their declarations (:mod:`reko.webapp.spec`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO, Any

from flask import Request, current_app, redirect, send_file
from flask.wrappers import Response
from werkzeug.wrappers import Response as BaseResponse

from ..app import Reko


def reko() -> Reko:
    """The application layer of this Flask app."""
    return current_app.extensions["reko"]


class UploadRequest(Request):
    """A request whose uploaded files are written straight into ``<data dir>/uploads/`` (not
    /tmp, not memory), so a video upload costs its size on disk once: the use-case then moves
    the file into storage by rename. Files a handler did not take are removed when the request
    ends."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        folder = reko().local_storage.temp_dir("uploads")
        handle = tempfile.NamedTemporaryFile("wb+", dir=folder, prefix="upload-", suffix=".part",
                                             delete=False)
        self.__dict__.setdefault("_reko_uploads", []).append(Path(handle.name))
        return handle

    def close(self) -> None:
        """Close the files and remove every upload file still in ``uploads/``."""
        try:
            super().close()
        finally:
            for path in self.__dict__.get("_reko_uploads", []):
                path.unlink(missing_ok=True)


def send_media(media: Path | str, mimetype: str, max_age: int, conditional: bool = False) -> BaseResponse:
    """Answer with a stored object: a local file is sent (with HTTP range requests when
    ``conditional``), remote storage gives a URL (S3, presigned) the browser is redirected to
    (302), so media bytes never pass through the web function on AWS."""
    if isinstance(media, str):
        response = redirect(media, code=302)
        response.headers["Cache-Control"] = "private, max-age=300"
        return response
    return send_file(media, mimetype=mimetype, conditional=conditional, max_age=max_age)


def send_temporary(path: Path, mimetype: str, download_name: str) -> Response:
    """Send ``path`` as a download and remove it at once: the open handle keeps the bytes
    until the response is closed (even when the client goes away), then the disk space is
    freed. Nothing is left behind in any case."""
    handle: Any = open(path, "rb")
    path.unlink()
    return send_file(handle, mimetype=mimetype, as_attachment=True, download_name=download_name,
                     max_age=0, conditional=False)
