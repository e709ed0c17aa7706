"""Uploads straight from the browser to S3 with presigned multipart URLs.

API Gateway caps request bodies at 10 MB and videos are gigabytes, so the web API never sees the
video bytes: it starts a multipart upload under ``uploads/`` (``CreateMultipartUpload``), hands
the browser one presigned ``UploadPart`` URL per part, and completes the upload with the parts'
ETags (``CompleteMultipartUpload``). The object then triggers the ingest exactly like
``aws s3 cp video.mp4 s3://<bucket>/uploads/``. Limits from the S3 User Guide ("Amazon S3
multipart upload limits"): parts of 5 MiB–5 GiB (the last may be smaller), at most 10,000 parts.
"""

from __future__ import annotations

import math
import posixpath
import re
import uuid
from typing import Any

from ...errors import QueryError, TooLargeError
from .s3_storage import URL_EXPIRES_S, S3Storage

MIN_PART_BYTES = 5 * 2**20  #: S3's smallest part (but the last)
MAX_PARTS = 10_000  #: S3's most parts per upload
DEFAULT_PART_BYTES = 64 * 2**20  #: parts the browser sends (fewer round trips, retry unit)
_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)


def upload_key(filename: str) -> str:
    """``uploads/<random>/<name>``: a unique key that keeps the user's file name (what the site
    shows), with path separators and control characters removed."""
    name = _UNSAFE.sub("_", posixpath.basename(filename.replace("\\", "/")))[:200].strip() or "video"
    return f"uploads/{uuid.uuid4().hex[:12]}/{name}"


def part_size(size_bytes: int) -> int:
    """Bytes per part for an object of ``size_bytes``: :data:`DEFAULT_PART_BYTES`, larger when
    needed to stay within :data:`MAX_PARTS` parts."""
    return max(DEFAULT_PART_BYTES, MIN_PART_BYTES, math.ceil(size_bytes / MAX_PARTS))


def start_upload(storage: S3Storage, filename: str, size_bytes: int, max_bytes: int) -> dict[str, Any]:
    """Start a multipart upload and presign its parts.

    Returns ``{"key", "upload_id", "part_bytes", "parts": [{"part_number", "url"}]}``.

    Raises:
        QueryError: no size. TooLargeError: over ``max_bytes`` (``REKO_MAX_UPLOAD_BYTES``).
    """
    if size_bytes <= 0:
        raise QueryError("say how large the video is (size_bytes)")
    if size_bytes > max_bytes:
        raise TooLargeError(f"the video is larger than this server accepts ({max_bytes // 2**30} GiB)")
    key = upload_key(filename)
    upload = storage.client.create_multipart_upload(Bucket=storage.bucket, Key=storage.key(key),
                                                    ContentType="application/octet-stream")
    chunk = part_size(size_bytes)
    parts = [{"part_number": n, "url": storage.client.generate_presigned_url(
                 "upload_part", ExpiresIn=URL_EXPIRES_S * 6,
                 Params={"Bucket": storage.bucket, "Key": storage.key(key),
                         "UploadId": upload["UploadId"], "PartNumber": n})}
             for n in range(1, math.ceil(size_bytes / chunk) + 1)]
    return {"key": key, "upload_id": upload["UploadId"], "part_bytes": chunk, "parts": parts}


def complete_upload(storage: S3Storage, key: str, upload_id: str, etags: list[str]) -> str:
    """Complete a multipart upload with the ETags of parts 1..N, in order; returns the key.

    Raises:
        QueryError: the key is not an upload key, or no parts.
    """
    if not key.startswith("uploads/") or ".." in key or not etags:
        raise QueryError("complete an upload with its key and the ETag of every part")
    storage.client.complete_multipart_upload(
        Bucket=storage.bucket, Key=storage.key(key), UploadId=upload_id,
        MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": n} for n, etag in enumerate(etags, 1)]})
    return key
