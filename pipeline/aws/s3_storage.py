"""S3 as reko's object storage (``REKO_STORAGE_URL=s3://bucket[/prefix]``): the same keys as
the data dir (see :mod:`reko.pipeline.storage`), presigned GET URLs for the browser.

The boto3 client is created on first use (never at import time) and may be injected (tests,
moto). Server-side encryption is the bucket's default (SSE-S3 or SSE-KMS, set by the template).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from ...errors import NotFoundError, SettingsError, StorageError
from .. import ids
from ..storage import Storage

URL_EXPIRES_S = 3600  #: lifetime of presigned URLs (the site asks again when they expire)
DELETE_BATCH = 1000  #: keys per DeleteObjects request (the API's maximum)


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key prefix without trailing slash) from ``s3://bucket[/prefix]``.

    Raises:
        SettingsError: not an s3:// URL with a bucket.
    """
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise SettingsError("REKO_STORAGE_URL must be s3://BUCKET[/PREFIX] for S3 storage")
    return parts.netloc, parts.path.strip("/")


class S3Storage(Storage):
    """Objects in ``bucket`` under ``prefix`` (may be empty)."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client = client

    @classmethod
    def from_url(cls, url: str, client: Any = None) -> "S3Storage":
        """From ``s3://bucket[/prefix]`` (see :func:`parse_s3_url`)."""
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix, client)

    @property
    def client(self) -> Any:
        """The boto3 S3 client (created on first use)."""
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def key(self, key: str) -> str:
        """The full object key of a reko key (with the prefix)."""
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, action: str, exc: Exception) -> StorageError:
        return StorageError(f"S3 failed to {action}; check the bucket and the function's permissions",
                            detail=f"s3://{self.bucket}: {type(exc).__name__}: {exc}")

    def put(self, key: str, data: bytes, content_type: str = "image/jpeg") -> str:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(key), Body=data, ContentType=content_type)
        except Exception as exc:
            raise self._fail("write an object", exc) from None
        return key

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise NotFoundError("no such stored object") from None
        except Exception as exc:
            raise self._fail("read an object", exc) from None

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(key))
            return True
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail("check an object", exc) from None

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(key))
        except Exception as exc:
            raise self._fail("delete an object", exc) from None

    def list(self, prefix: str) -> list[str]:
        """Every reko key under ``prefix`` (all pages), sorted."""
        keys: list[str] = []
        full = self.key(prefix)
        strip = len(self.key("")) if self.prefix else 0
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                keys += [item["Key"][strip:] for item in page.get("Contents", [])]
        except Exception as exc:
            raise self._fail("list objects", exc) from None
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many."""
        keys = self.list(prefix)
        for start in range(0, len(keys), DELETE_BATCH):
            chunk = keys[start:start + DELETE_BATCH]
            try:
                self.client.delete_objects(Bucket=self.bucket, Delete={
                    "Objects": [{"Key": self.key(k)} for k in chunk], "Quiet": True})
            except Exception as exc:
                raise self._fail("delete objects", exc) from None
        return len(keys)

    def delete_video(self, video_id: str) -> None:
        video_id = ids.video_id(video_id)
        for prefix in (f"videos/{video_id}", f"frames/{video_id}/", f"captures/{video_id}/",
                       f"clips/{video_id}/"):
            self.delete_prefix(prefix)

    def url(self, key: str, download_name: str | None = None) -> str | None:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key(key)}
        if download_name:
            params["ResponseContentDisposition"] = f"attachment; filename*=UTF-8''{quote(download_name)}"
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=URL_EXPIRES_S)

    def local_path(self, key: str) -> Path | None:
        return None
