"""Helpers shared by the API blueprints: services access and request parsing."""

from __future__ import annotations

import re

from flask import current_app, request

from ..errors import NotFoundError, QueryError
from .services import Services

VIDEO_ID = re.compile(r"^[0-9a-f]{16}$")


def services() -> Services:
    """The app's :class:`Services`."""
    return current_app.extensions["reko"]


def video_record(video_id: str):
    """The catalog record of ``video_id``. Raises NotFoundError (404) for unknown or malformed ids."""
    record = services().catalog.get(video_id) if VIDEO_ID.match(video_id) else None
    if record is None:
        raise NotFoundError(f"no video {video_id!r}")
    return record


def int_arg(name: str, default: int, minimum: int = 0, maximum: int = 10**12) -> int:
    """Integer query parameter; QueryError (400) when it is not an integer in range."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name} must be an integer, got {raw[:40]!r}") from None
    if not minimum <= value <= maximum:
        raise QueryError(f"{name} must be between {minimum} and {maximum}")
    return value
