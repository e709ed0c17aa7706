"""The static search site (package ``reko.static``, top-level ``static/``): plain files that also
deploy to an S3 website."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, send_from_directory

STATIC_DIR = Path(str(files("reko.static")))  #: a real directory in every install (wheel, editable)

bp = Blueprint("site", __name__)


@bp.get("/")
def index():
    """The single-page site."""
    return send_from_directory(STATIC_DIR, "index.html", max_age=0)


@bp.get("/static/<path:name>")
def static_file(name: str):
    """Site assets; ``send_from_directory`` refuses paths outside the folder."""
    return send_from_directory(STATIC_DIR, name, max_age=0)
