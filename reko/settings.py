"""One settings object, read from ``REKO_*`` environment variables.

Every setting is a field of :class:`Settings` with its environment variable, default and
description in the field metadata; README.md documents each (a test checks it). Read them with
:meth:`Settings.from_env`; nothing reads ``os.environ`` elsewhere.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import SettingsError


def _setting(env: str, default: Any, doc: str) -> Any:
    return field(default=default, metadata={"env": env, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """reko's configuration. Units are in the names (``_ms``, ``_bytes``, ``_fps``)."""

    data_dir: Path = _setting(
        "REKO_DATA_DIR", Path("reko-data"),
        "Directory holding the catalog, the embedded index, stored videos and frame thumbnails; "
        "a relative path is resolved against the working directory once, when settings are read.")
    index_url: str = _setting(
        "REKO_INDEX_URL", "",
        "Index backend: `sqlite:///PATH` (default `sqlite:///<data dir>/index.db`) or an "
        "OpenSearch URL `http(s)://host:port`.")
    index_name: str = _setting(
        "REKO_INDEX_NAME", "",
        "OpenSearch index (alias) name; default `reko-frames-<installation id>`, the id made once "
        "per data dir, so two installations sharing one OpenSearch never see each other's videos. "
        "Set it to share one index on purpose (e.g. `reko-frames` for indexes made before 0.2).")
    storage_url: str = _setting(
        "REKO_STORAGE_URL", "",
        "Object storage for videos, frame thumbnails and person photos: empty for the data dir, "
        "or `s3://BUCKET[/PREFIX]` (AWS).")
    catalog_url: str = _setting(
        "REKO_CATALOG_URL", "",
        "Video catalog and person records: empty for SQLite files in the data dir, or "
        "`dynamodb://PREFIX` for the DynamoDB tables `PREFIX-videos`, `PREFIX-persons`, "
        "`PREFIX-faces` (AWS).")
    queue_url: str = _setting(
        "REKO_QUEUE_URL", "",
        "AWS: the SQS FIFO queue URL that frame batches are sent to for analysis.")
    frames_per_message: int = _setting(
        "REKO_FRAMES_PER_MESSAGE", 10,
        "AWS: kept frames per SQS message (one Lambda invocation analyses one message).")
    mediaconvert_role_arn: str = _setting(
        "REKO_MEDIACONVERT_ROLE_ARN", "",
        "AWS: the IAM role MediaConvert assumes to read uploads and write frames and proxies.")
    mediaconvert_queue_arn: str = _setting(
        "REKO_MEDIACONVERT_QUEUE_ARN", "",
        "AWS: the MediaConvert queue for jobs (empty: the account's Default queue).")
    idempotency_table: str = _setting(
        "REKO_IDEMPOTENCY_TABLE", "",
        "AWS: the DynamoDB table Powertools' idempotency records live in (empty: no "
        "idempotency records; handlers stay safe to replay, only slower).")
    analyzer: str = _setting(
        "REKO_ANALYZER", "local",
        "Analysis engine: `local` (offline, Rekognition-compatible) or `rekognition` (boto3).")
    sample_fps: float = _setting(
        "REKO_SAMPLE_FPS", 1.0,
        "Frames sampled per second of video (at most one source frame per 1/fps interval).")
    dedup_threshold_cells: int = _setting(
        "REKO_DEDUP_THRESHOLD_CELLS", 4,
        "Near-duplicate threshold: a sampled frame is skipped when at most this many cells of its "
        "128x72 grey thumbnail differ from the last analysed frame by more than 24 grey levels "
        "(a one-letter caption changes ~30); -1 analyses every sampled frame.")
    segment_gap_ms: int = _setting(
        "REKO_SEGMENT_GAP_MS", 1500,
        "Search hits of one video closer than this many ms are merged into one segment.")
    segment_pad_ms: int = _setting(
        "REKO_SEGMENT_PAD_MS", 500,
        "Padding in ms added before and after every segment (clamped to the video).")
    workers: int = _setting(
        "REKO_WORKERS", 0,
        "Analysis worker processes; 0 means one per CPU core.")
    features: str = _setting(
        "REKO_FEATURES", "text,faces,labels,moderation",
        "Comma-separated analyses to run on each kept frame: `text`, `faces` (and persons), "
        "`labels`, `moderation`. Optional ones whose dependencies are missing are skipped with "
        "a message.")
    face_collection: str = _setting(
        "REKO_FACE_COLLECTION", "reko-faces",
        "Rekognition face collection (CollectionId) holding every indexed face; persons are its users.")
    face_match_similarity: float = _setting(
        "REKO_FACE_MATCH_SIMILARITY", 90.0,
        "Similarity (0-100, Rekognition units) at which a good face joins an existing person, and "
        "that a photo search needs. Measured: the same man across encodes and sizes >= 96; an "
        "unknown real face against 44 px street faces up to 88.")
    face_poor_match_similarity: float = _setting(
        "REKO_FACE_POOR_MATCH_SIMILARITY", 95.0,
        "Similarity a poor-quality face needs to join a person; poor faces never start one.")
    face_min_confidence: float = _setting(
        "REKO_FACE_MIN_CONFIDENCE", 60.0,
        "A face detected with Confidence (0-100) below this is poor quality (likely not a face).")
    face_min_height_px: int = _setting(
        "REKO_FACE_MIN_HEIGHT_PX", 40,
        "A face shorter than this (pixels in the analysed frame) is poor quality.")
    face_max_yaw_deg: float = _setting(
        "REKO_FACE_MAX_YAW_DEG", 40.0,
        "A face turned further than this (degrees of Pose.Yaw) is poor quality.")
    face_min_sharpness: float = _setting(
        "REKO_FACE_MIN_SHARPNESS", 20.0,
        "A face with Quality.Sharpness (0-100) below this is poor quality.")
    hide_unsafe_confidence: float = _setting(
        "REKO_HIDE_UNSAFE_CONFIDENCE", 80.0,
        "Frames with an unsafe moderation label (not swimwear/underwear) at this confidence "
        "(0-100) or above are left out of search results unless asked for (`--include-unsafe`, "
        "`unsafe=1`); 100 shows everything.")
    max_upload_bytes: int = _setting(
        "REKO_MAX_UPLOAD_BYTES", 8 * 1024**3,
        "Largest video the web app accepts for upload, in bytes (default 8 GiB); larger gets 413.")
    max_video_seconds: int = _setting(
        "REKO_MAX_VIDEO_SECONDS", 4 * 3600,
        "Longest video accepted for ingest, in seconds of duration (default 4 hours); longer is "
        "refused (422) before any work starts.")
    max_request_bytes: int = _setting(
        "REKO_MAX_REQUEST_BYTES", 16 * 1024**2,
        "Largest web request body other than a video upload (JSON, face photos), in bytes "
        "(default 16 MiB); larger gets 413.")
    max_image_pixels: int = _setting(
        "REKO_MAX_IMAGE_PIXELS", 40_000_000,
        "Largest photo (width x height, pixels) accepted for a face search; larger gets 413 "
        "before it is decoded.")
    allowed_hosts: str = _setting(
        "REKO_ALLOWED_HOSTS", "",
        "Comma-separated host names the web app answers to (`Host` header; DNS-rebinding "
        "protection); default: localhost, 127.0.0.1, ::1 and the address `reko serve` binds. "
        "`*` allows any host.")
    auth_token: str = _setting(
        "REKO_AUTH_TOKEN", "",
        "When set, every web request must carry it (header `Authorization: Bearer <token>` or "
        "the `reko_token` cookie the site sets after asking once).")
    max_frame_side_px: int = _setting(
        "REKO_MAX_FRAME_SIDE_PX", 1920,
        "Sampled frames larger than this (longest side, pixels) are scaled down before analysis.")
    rekognition_max_tps: float = _setting(
        "REKO_REKOGNITION_MAX_TPS", 5.0,
        "With `REKO_ANALYZER=rekognition`: most requests per second reko sends to each Rekognition "
        "API (DetectText, IndexFaces, ...), per process, shared by its threads. Rekognition's TPS "
        "quotas are per account, region and API (default 5 for most image APIs in most regions, "
        "50 in us-east-1, us-west-2 and eu-west-1; see "
        "https://docs.aws.amazon.com/general/latest/gr/rekognition.html#limits_rekognition): set "
        "it to your quota divided by the processes calling at once (workers, Lambda concurrency).")
    aws_region: str = _setting(
        "REKO_AWS_REGION", "us-east-1",
        "AWS region whose published prices `reko estimate` uses (a region of "
        "`reko.pipeline.aws.prices.PRICES`); AWS clients take their region from the AWS "
        "environment as usual.")

    def __post_init__(self) -> None:
        # Paths are resolved once, here: nothing downstream depends on the working directory.
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().absolute())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Build settings from ``environ`` (default ``os.environ``), then apply ``overrides``.

        Raises:
            SettingsError: a variable cannot be parsed into its field's type, or is out of range.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            kind: Any = type(f.default)
            try:
                values[f.name] = Path(raw) if kind is Path else kind(raw)
            except ValueError:
                raise SettingsError(
                    f"{f.metadata['env']}={raw!r} is not a valid {kind.__name__}: "
                    f"{f.metadata['doc']}") from None
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check ranges. Raises SettingsError naming the variable to fix."""
        if self.sample_fps <= 0 or self.sample_fps > 30:
            raise SettingsError("REKO_SAMPLE_FPS must be > 0 and <= 30")
        if self.dedup_threshold_cells < -1:
            raise SettingsError("REKO_DEDUP_THRESHOLD_CELLS must be >= -1")
        if self.segment_gap_ms < 0 or self.segment_pad_ms < 0:
            raise SettingsError("REKO_SEGMENT_GAP_MS and REKO_SEGMENT_PAD_MS must be >= 0")
        if self.workers < 0:
            raise SettingsError("REKO_WORKERS must be >= 0")
        unknown = set(self.feature_list) - {"text", "faces", "labels", "moderation"}
        if unknown:
            raise SettingsError(f"REKO_FEATURES has unknown analyses {sorted(unknown)}; "
                                "use text, faces, labels, moderation")
        if not 0 <= self.face_match_similarity <= 100 or not 0 <= self.face_poor_match_similarity <= 100:
            raise SettingsError("REKO_FACE_MATCH_SIMILARITY and REKO_FACE_POOR_MATCH_SIMILARITY are 0-100")
        if self.analyzer not in ("local", "rekognition"):
            raise SettingsError("REKO_ANALYZER must be 'local' or 'rekognition'")
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise SettingsError(f"REKO_DATA_DIR={self.data_dir} is a file; point it at a directory "
                                "(it is created when missing)")
        if not 1 <= self.frames_per_message <= 100:
            raise SettingsError("REKO_FRAMES_PER_MESSAGE must be 1-100")
        for name in ("max_upload_bytes", "max_video_seconds", "max_request_bytes", "max_image_pixels"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"REKO_{name.upper()} must be > 0")

    @property
    def resolved_index_url(self) -> str:
        """``index_url``, or the embedded SQLite index inside ``data_dir`` when unset."""
        return self.index_url or f"sqlite:///{(self.data_dir / 'index.db').resolve()}"

    @property
    def feature_list(self) -> list[str]:
        """``features`` as a list, e.g. ``["text", "faces"]``."""
        return [f.strip() for f in self.features.split(",") if f.strip()]

    @property
    def worker_count(self) -> int:
        """Number of analysis processes: ``workers`` or the CPU count."""
        return self.workers or os.cpu_count() or 1

    @classmethod
    def documented(cls) -> list[tuple[str, Any, str]]:
        """(environment variable, default, description) for every setting, for docs and tests."""
        return [(f.metadata["env"], f.default, f.metadata["doc"]) for f in dataclasses.fields(cls)]
