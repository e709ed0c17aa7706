"""The error hierarchy of reko.

Every error reko raises on purpose derives from :class:`RekoError`, carries a message that says
what happened and what to do (never an internal path, address, object repr or backend host: the
web app shows it to users), an optional ``detail`` for logs and the CLI, and the HTTP status the
web app maps it to.

Two families decide what happens to data:

* :class:`InputError` — the input is wrong (a file proven not to be a usable video, a bad query,
  an unknown id, something too large). Nothing to retry; a file proven bad is removed.
* :class:`FaultError` — something around reko failed (ffmpeg missing or killed, the index down,
  the disk full, an analysis engine broken). Everything done so far is kept and the work resumes
  on the next run; nothing is deleted because of a fault.
"""

from __future__ import annotations


class RekoError(Exception):
    """Base of every reko error; ``http_status`` is what the web API answers with, ``detail``
    (may be empty) holds technical context for logs and the CLI, never shown by the web app."""

    http_status = 500

    def __init__(self, message: str = "", *, detail: str = ""):
        super().__init__(message)
        self.detail = detail


class SettingsError(RekoError):
    """A ``REKO_*`` environment variable has a value reko cannot use."""

    http_status = 500


# -- bad input ---------------------------------------------------------------------------------
class InputError(RekoError):
    """The input is wrong; retrying the same input fails the same way."""

    http_status = 400


class MediaError(InputError):
    """A file is proven not to be a usable video or image: not a video, empty, truncated."""

    http_status = 422


class QueryError(InputError):
    """A search query or request reko cannot run (for example an empty query with no filter)."""

    http_status = 400


class NotFoundError(InputError):
    """A video, frame, person or face id that does not exist (or is not a valid id at all)."""

    http_status = 404


class TooLargeError(InputError):
    """An upload, request body or image over a limit (``REKO_MAX_*`` settings)."""

    http_status = 413


class TooManyRequestsError(InputError):
    """Too many attempts (login) or too much concurrent work (clip cutting); retry later.
    ``retry_after_s`` is how long to wait."""

    http_status = 429

    def __init__(self, message: str = "", *, retry_after_s: int = 1, detail: str = ""):
        super().__init__(message, detail=detail)
        self.retry_after_s = retry_after_s


# -- faults ------------------------------------------------------------------------------------
class FaultError(RekoError):
    """Something reko depends on failed; all work so far is kept and resumes on the next run."""

    http_status = 503


class FfmpegError(FaultError):
    """ffmpeg or ffprobe is missing, was killed, or failed for a reason other than the file;
    ``returncode`` is the process's exit status (negative: killed by that signal; 0: none ran)."""

    returncode = 0


class IndexBackendError(FaultError):
    """The index backend failed or is misconfigured (bad ``REKO_INDEX_URL``, server down)."""


class AnalyzerError(FaultError):
    """The analysis engine is missing a dependency or failed on a frame."""


class StorageError(FaultError):
    """The data directory cannot be written (disk full, permissions)."""

    http_status = 507


class IngestInterrupted(FaultError):
    """An ingest stopped before its end because reko is shutting down (or was asked to stop);
    the checkpoint is kept and the next run resumes."""


class IngestCancelled(RekoError):
    """An ingest stopped because its video was deleted meanwhile; nothing of it is left."""

    http_status = 409
