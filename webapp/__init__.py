"""The reko web app: a Flask app factory serving the static search site and a JSON API.

``create_app(settings)`` builds everything; nothing (no index, no catalog, no client) is
created at import time. Handlers are thin: parse the request, call one use-case of the
application layer (:class:`reko.app.Reko`, in ``app.extensions["reko"]``), format JSON. One
blueprint per area: search, videos, clips, persons, meta (OpenAPI), site. Every API route is
declared once with pydantic models (:mod:`.spec`): the same declaration validates its requests
and generates ``/api/openapi.json``.
"""

from __future__ import annotations

import logging
import re

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from ..app import Reko
from ..errors import RekoError, TooManyRequestsError
from ..settings import Settings
from .common import UploadRequest
from .security import install_security

log = logging.getLogger(__name__)

#: what never belongs in a message shown to people: ffmpeg's "[mov,mp4,… @ 0x55…]" prefixes,
#: Python object reprs "<_io.BytesIO object at 0x7f…>", and absolute paths
_INTERNALS = (re.compile(r"\[[^\]\n]* @ 0x[0-9a-fA-F]+\]\s*"), re.compile(r"<[^<>\n]* at 0x[0-9a-fA-F]+>"),
              re.compile(r"(?<![\w.])(?:/[\w.@+-]+){2,}/?"))


def plain_message(message: str, settings: Settings) -> str:
    """An error message without internals: the data dir, absolute paths, object reprs and
    ffmpeg's stream prefixes are cut out (the full error is in the server log)."""
    message = re.sub(re.escape(str(settings.data_dir)) + r"\S*", "(a file in the data folder)", message)
    for pattern in _INTERNALS:
        message = pattern.sub("", message)
    return " ".join(message.split()) or "the request failed; the server log has the details"



def create_app(settings: Settings | None = None, app: Reko | None = None,
               bound_host: str | None = None) -> Flask:
    """A configured Flask app over ``app`` (default: a new :class:`Reko` from ``settings``,
    itself from the environment). ``bound_host`` is the address ``reko serve`` listens on; it
    joins the default Host allow-list."""
    settings = settings or (app.settings if app else Settings.from_env())
    web = Flask(__name__, static_folder=None)
    web.request_class = UploadRequest
    # every body is limited to REKO_MAX_REQUEST_BYTES; the upload route raises it for itself
    web.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    web.json.ensure_ascii = False  # type: ignore[attr-defined]
    web.extensions["reko"] = app or Reko(settings)
    web.extensions["reko"].site_track_progress()  # stages and frame counts for upload progress

    from .api_clips import bp as clips_bp
    from .api_meta import bp as meta_bp
    from .api_meta import declare_login
    from .api_persons import bp as persons_bp
    from .api_search import bp as search_bp
    from .api_videos import bp as videos_bp
    from .site import bp as site_bp

    for bp in (search_bp, videos_bp, clips_bp, persons_bp, meta_bp, site_bp):
        web.register_blueprint(bp)
    install_security(web, settings, bound_host, web.extensions["reko"].media_origin)
    declare_login(web)  # document the login route of install_security in the OpenAPI document

    @web.errorhandler(RekoError)
    def reko_error(exc: RekoError):
        if exc.http_status >= 500:
            log.warning("%s: %s (%s)", type(exc).__name__, exc, exc.detail)
        response = jsonify(error=type(exc).__name__, message=plain_message(str(exc), settings))
        if isinstance(exc, TooManyRequestsError):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response, exc.http_status

    @web.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = exc.description
        if exc.code == 413:
            message = ("the request is too large: videos up to REKO_MAX_UPLOAD_BYTES, other "
                       "requests up to REKO_MAX_REQUEST_BYTES")
        return jsonify(error=exc.name, message=message), exc.code

    @web.errorhandler(Exception)
    def unexpected(exc: Exception):
        web.logger.exception("unhandled error")
        return jsonify(error="Internal Server Error",
                       message="reko hit an unexpected error; the server log has the details"), 500

    return web
