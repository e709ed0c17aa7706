"""The error hierarchy of reko.

Every error reko raises on purpose derives from :class:`RekoError`, carries a message that
says how to fix the problem, and has an HTTP status the web app maps it to.
"""


class RekoError(Exception):
    """Base of every reko error; ``http_status`` is what the web API answers with."""

    http_status = 500


class SettingsError(RekoError):
    """A ``REKO_*`` environment variable has a value reko cannot use."""

    http_status = 500


class MediaError(RekoError):
    """A file is not a usable video: not a video, empty, truncated or unreadable."""

    http_status = 422


class FfmpegError(MediaError):
    """ffmpeg or ffprobe failed or is missing; ``stderr`` holds the tail of its output."""

    def __init__(self, message: str, stderr: str = ""):
        super().__init__(message)
        self.stderr = stderr


class QueryError(RekoError):
    """A search query reko cannot run (for example an empty query with no filter)."""

    http_status = 400


class NotFoundError(RekoError):
    """A video, frame, person or face id that does not exist."""

    http_status = 404


class IndexBackendError(RekoError):
    """The index backend failed or is misconfigured (bad ``REKO_INDEX_URL``, server down)."""

    http_status = 503


class AnalyzerError(RekoError):
    """The analysis engine is missing a dependency or failed on a frame."""

    http_status = 503
