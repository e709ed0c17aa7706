"""Clips on AWS: MediaConvert cuts ``[start_ms, end_ms)`` of the stored proxy with
``InputClippings`` (frame-accurate timecodes, see :mod:`reko.pipeline.aws.mediaconvert`) into
``clips/<video_id>/<start_ms>-<end_ms>.mp4``; the web API answers with a presigned URL once the
object exists, or "being cut, ask again" (202) while the job runs. The same clip asked twice is
cut once: the clip's key names it, and a marker object ``<clip key>.job`` holds the id of the
job cutting it (``ClientRequestToken`` alone dedups only within a minute).
"""

from __future__ import annotations

from typing import Any

from ...errors import FaultError, NotFoundError
from . import mediaconvert
from .s3_storage import S3Storage


def clip_url(storage: S3Storage, mediaconvert_client: Any, video_id: str, start_ms: int, end_ms: int,
             fps: float, role_arn: str, queue_arn: str | None, download_name: str) -> str | None:
    """A presigned URL of the clip when it is cut, else None after making sure one MediaConvert
    job cuts it.

    Raises:
        FaultError: the job cutting it failed (the marker is removed: asking again retries).
    """
    key = mediaconvert.clip_key(video_id, start_ms, end_ms)  # the storage adds its prefix
    if storage.exists(key):
        return storage.url(key, download_name)
    marker = f"{key}.job"
    try:
        job_id = storage.get(marker).decode()
    except NotFoundError:
        job_id = ""
    if job_id:
        job = mediaconvert_client.get_job(Id=job_id)["Job"]
        if job["Status"] not in ("ERROR", "CANCELED"):
            return storage.url(key, download_name) if storage.exists(key) else None
        storage.delete(marker)
        raise FaultError("cutting the clip failed; try again",
                         detail=f"MediaConvert job {job_id}: {job.get('ErrorMessage', job['Status'])}")
    request = mediaconvert.clip_job(storage.bucket, video_id, start_ms, end_ms, fps, role_arn, queue_arn,
                                    prefix=storage.prefix)
    job = mediaconvert.create_job(mediaconvert_client, request)
    storage.put(marker, job["Id"].encode(), "text/plain")
    return None
