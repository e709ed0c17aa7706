"""The reko web app: a Flask app factory serving the static search site and a JSON API.

``create_app(settings)`` builds everything; nothing (no index, no catalog, no client) is
created at import time. One blueprint per area: search, videos, clips, meta (OpenAPI), site.
"""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from ..errors import RekoError
from ..settings import Settings
from .security import install_security
from .services import Services


def create_app(settings: Settings | None = None) -> Flask:
    """A configured Flask app over ``settings`` (default: from the environment)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.config["JSON_SORT_KEYS"] = False
    app.json.ensure_ascii = False
    app.extensions["reko"] = Services(settings)

    from .api_clips import bp as clips_bp
    from .api_meta import bp as meta_bp
    from .api_persons import bp as persons_bp
    from .api_search import bp as search_bp
    from .api_videos import bp as videos_bp
    from .site import bp as site_bp

    for bp in (search_bp, videos_bp, clips_bp, persons_bp, meta_bp, site_bp):
        app.register_blueprint(bp)
    install_security(app, settings)

    @app.errorhandler(RekoError)
    def reko_error(exc: RekoError):
        return jsonify(error=type(exc).__name__, message=str(exc)), exc.http_status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error=exc.name, message=exc.description), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return jsonify(error="Internal Server Error",
                       message="reko hit an unexpected error; the server log has the details"), 500

    return app
