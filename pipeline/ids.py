"""Identifier checks, in one place below every front end (CLI, web API, Lambda handlers).

Anything that turns an id into a path, a query or an API call validates it here first, so a
user-typed ``..``, ``*`` or empty string never reaches the filesystem. The patterns of the
Rekognition ids are those of the Rekognition API reference (``UserId``, ``CollectionId``,
``ExternalImageId``, ``FaceId``), which botocore's service model also carries.
"""

from __future__ import annotations

import re

from ..errors import NotFoundError

#: ``video_id``: the first 16 hex digits of the SHA-256 of the video's bytes (see ingest).
VIDEO_ID = re.compile(r"[0-9a-f]{16}")
#: Rekognition ``UserId`` (reko's person ids are Rekognition users).
USER_ID = re.compile(r"[a-zA-Z0-9_.\-:]{1,128}")
#: Rekognition ``CollectionId``.
COLLECTION_ID = re.compile(r"[a-zA-Z0-9_.\-]{1,255}")
#: Rekognition ``ExternalImageId`` (reko writes ``<video_id>:<frame_ms>``).
EXTERNAL_IMAGE_ID = re.compile(r"[a-zA-Z0-9_.\-:]{1,255}")
#: Rekognition ``FaceId`` (a UUID).
FACE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

MAX_FRAME_MS = 10**10  #: ≈ 115 days; any larger frame time is not a frame of a real video


def _shown(value: object) -> str:
    return repr(str(value)[:40])


def video_id(value: object) -> str:
    """``value`` if it is a well-formed ``video_id``.

    Raises:
        NotFoundError: anything else (no video can have that id).
    """
    if isinstance(value, str) and VIDEO_ID.fullmatch(value):
        return value
    raise NotFoundError(f"no video {_shown(value)}: a video id is 16 hex digits (see `reko videos`)")


def person_id(value: object) -> str:
    """``value`` if it is a well-formed person id (a Rekognition ``UserId``).

    Raises:
        NotFoundError: anything else.
    """
    if isinstance(value, str) and USER_ID.fullmatch(value):
        return value
    raise NotFoundError(f"no person {_shown(value)} (see `reko persons`)")


def face_id(value: object) -> str:
    """``value`` if it is a well-formed ``FaceId``.

    Raises:
        NotFoundError: anything else.
    """
    if isinstance(value, str) and FACE_ID.fullmatch(value):
        return value
    raise NotFoundError(f"no face {_shown(value)}: a face id is a UUID")


def frame_ms(value: object) -> int:
    """``value`` if it is a frame time in ms (an int, 0 ≤ value ≤ :data:`MAX_FRAME_MS`).

    Raises:
        NotFoundError: anything else.
    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_FRAME_MS:
        return value
    raise NotFoundError(f"no frame at {_shown(value)} ms")
