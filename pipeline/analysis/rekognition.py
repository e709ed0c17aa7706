"""Amazon Rekognition behind reko's analysis seam: boto3's client, made safe to drive at scale.

``REKO_ANALYZER=rekognition`` builds :class:`RekognitionAnalyzer` around
``boto3.client("rekognition")``. It *forwards* every call: boto3's method names, keyword
parameters, response dicts and error classes are unchanged (``client.exceptions``,
``e.response["Error"]["Code"]``), so :mod:`reko.pipeline.analyze` and
:class:`reko.pipeline.persons.PersonStore` run on it as on the local engine. Around each call it
adds what a pipeline sending thousands of frames needs:

1. **Image limits** — every ``Image={"Bytes": ...}`` argument goes through
   :func:`.images.fit_image` first (≤ 5 MiB, sides ≥ 80 px, long side ≤ 1920 px; the limits and
   their sources are documented there), so an 8 MB 5000×5000 frame or a 16 MiB face photo is
   sent, not refused with ``ImageTooLargeException``.
2. **A requests-per-second cap per API** — ``REKO_REKOGNITION_MAX_TPS`` (default 5.0), one
   thread-safe token bucket per operation name shared by every thread of the process
   (:data:`BUCKETS`). Rekognition's TPS quotas are per account, region and API: 5 for
   DetectText, DetectLabels, DetectModerationLabels, IndexFaces, SearchUsers … in most regions,
   50 in us-east-1, us-west-2 and eu-west-1; DetectFaces 25/100; AssociateFaces,
   DisassociateFaces, CreateUser, DeleteUser, DeleteFaces 5 everywhere ("Amazon Rekognition
   endpoints and quotas", https://docs.aws.amazon.com/general/latest/gr/rekognition.html#limits_rekognition,
   read 2026-11-30). 5.0 is therefore safe for every image API in every region for one process.
3. **Retries that lose no frame** — botocore's own retries (``Config(retries={"mode":
   "adaptive", "max_attempts": BOTOCORE_MAX_ATTEMPTS})``: exponential backoff plus client-side
   rate adaptation) and, over them, reko's: a call that still fails with a throttling or
   server error (:data:`RETRYABLE_CODES`, any HTTP 5xx, a connection error) is retried with
   exponential backoff and full jitter (delay uniform in ``[0, min(max_delay_s,
   base_delay_s·2^attempt)]``) until ``max_retry_s`` have passed, then
   :class:`RekognitionRetriesExhausted` (an :class:`~reko.errors.AnalyzerError`, so a
   :class:`~reko.errors.FaultError`) is raised so the frame or batch is retried later rather
   than dropped. The Rekognition developer guide asks
   for exactly this ("configuring retries, exponential backoff and jitter", Guidelines and
   quotas, https://docs.aws.amazon.com/rekognition/latest/dg/limits.html). Calls whose input
   has an idempotency token (``ClientRequestToken`` of CreateUser, DeleteUser, AssociateFaces,
   DisassociateFaces) get one token for all of reko's attempts, so a retried CreateUser that
   had succeeded is recognised by Rekognition instead of conflicting.

Any other error (``InvalidParameterException``, ``ResourceNotFoundException`` …) is boto3's
``ClientError``, raised unchanged on the first attempt. Nothing is created at import time:
boto3 is imported by :func:`make_rekognition_client`.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from os import PathLike
from typing import Any, Callable, Mapping

from ...errors import AnalyzerError, SettingsError
from .images import fit_image

log = logging.getLogger(__name__)

#: Error codes worth retrying: throttling (Rekognition's modelled ``ThrottlingException`` and
#: ``ProvisionedThroughputExceededException``; ``LimitExceededException`` of its video
#: operations) and server faults (modelled ``InternalServerError``; ``ServiceUnavailable`` from
#: the HTTP front end). Any HTTP status ≥ 500 is retried too.
RETRYABLE_CODES = frozenset({
    "ThrottlingException", "ProvisionedThroughputExceededException", "LimitExceededException",
    "InternalServerError", "ServiceUnavailable", "ServiceUnavailableException", "Throttling",
})
BOTOCORE_MAX_ATTEMPTS = 5  #: botocore's ``max_attempts``: its retries after the first try (6 tries in all) per reko attempt
DEFAULT_MAX_TPS = 5.0  #: REKO_REKOGNITION_MAX_TPS' default (see the module doc)
DEFAULT_MAX_RETRY_S = 120.0  #: give up (AnalyzerError) once retries would exceed this, seconds
DEFAULT_BASE_DELAY_S = 0.5  #: first backoff cap, seconds (doubles per attempt)
DEFAULT_MAX_DELAY_S = 20.0  #: largest backoff cap, seconds


class RekognitionRetriesExhausted(AnalyzerError):
    """A Rekognition call was still throttled or failing when reko's retry budget ran out.

    An :class:`~reko.errors.AnalyzerError` (a :class:`~reko.errors.FaultError`): the frame or
    batch must be retried later, never dropped. ``transient`` is True so callers that treat an
    ``AnalyzerError`` as a missing dependency (and skip the feature) can tell this one apart.
    """

    transient = True


class TokenBucket:
    """A thread-safe token bucket: at most ``rate`` acquisitions per second on average and
    ``burst`` at once (default 1: calls are spaced ``1/rate`` s apart, so no window of one
    second holds more than ``rate`` calls, rounded up).

    ``clock`` (seconds, monotonic) and ``sleep`` are injectable for tests. A caller reserves its
    token under the lock and sleeps outside it, so waiting callers are served in order.
    """

    def __init__(self, rate: float, burst: float = 1.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if not rate > 0:
            raise SettingsError(f"REKO_REKOGNITION_MAX_TPS must be > 0, got {rate!r}")
        self.rate = float(rate)
        self.burst = max(1.0, float(burst))
        self._clock, self._sleep = clock, sleep
        self._tokens = self.burst
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until it is available; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self._sleep(wait)
        return wait


class OperationBuckets:
    """One :class:`TokenBucket` per (operation name, rate), created on first use and shared by
    every thread of the process (a forked child starts with fresh buckets)."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, float], TokenBucket] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def get(self, operation: str, rate: float, **bucket_options: Any) -> TokenBucket:
        """The bucket of ``operation`` (e.g. ``DetectText``) at ``rate`` requests per second."""
        with self._lock:
            if self._pid != os.getpid():
                self._buckets, self._pid = {}, os.getpid()
            key = (operation, float(rate))
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(rate, **bucket_options)
            return bucket


#: The process's buckets, shared by every :class:`RekognitionAnalyzer` of the process.
BUCKETS = OperationBuckets()


def _retryable(exc: BaseException) -> str | None:
    """Why ``exc`` is worth retrying (its error code or class), or None."""
    import botocore.exceptions as bex

    if isinstance(exc, bex.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0
        if code in RETRYABLE_CODES or status >= 500:
            return code or f"HTTP {status}"
        return None
    if isinstance(exc, (bex.ConnectionError, bex.HTTPClientError)):
        return type(exc).__name__
    return None


class RekognitionAnalyzer:
    """boto3's Rekognition ``client`` with image fitting, a TPS cap per API and bounded retries
    (see the module doc). Every boto3 client method is available under its own name with its
    own parameters and response; non-method attributes (``meta``, ``exceptions``) are the
    client's.

    ``max_tps`` is requests per second per API (``REKO_REKOGNITION_MAX_TPS``); ``max_retry_s``
    bounds reko's retries of one call; ``base_delay_s``/``max_delay_s`` shape the backoff.
    ``buckets``, ``clock``, ``sleep`` and ``rng`` (uniform in [0, 1)) are injectable for tests.

    Raises (from any method):
        RekognitionRetriesExhausted: (an AnalyzerError) the call was still throttled or failing
            after ``max_retry_s``.
        InvalidImageFormatException, ImageTooLargeException: an ``Image.Bytes`` argument could
            not be fitted (not a JPEG/PNG; a decompression bomb) — nothing was sent.
        botocore.exceptions.ClientError: any other Rekognition error, unchanged.
    """

    def __init__(self, client: Any, *, max_tps: float = DEFAULT_MAX_TPS,
                 max_retry_s: float = DEFAULT_MAX_RETRY_S, base_delay_s: float = DEFAULT_BASE_DELAY_S,
                 max_delay_s: float = DEFAULT_MAX_DELAY_S, buckets: OperationBuckets = BUCKETS,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: Callable[[], float] = random.random):
        if not max_tps > 0:
            raise SettingsError(f"REKO_REKOGNITION_MAX_TPS must be > 0, got {max_tps!r}")
        self.client = client
        self.max_tps = float(max_tps)
        self.max_retry_s = max_retry_s
        self.base_delay_s, self.max_delay_s = base_delay_s, max_delay_s
        self._buckets, self._clock, self._sleep, self._rng = buckets, clock, sleep, rng
        self._operations: Mapping[str, str] = client.meta.method_to_api_mapping
        self._methods: dict[str, Callable[..., dict[str, Any]]] = {}
        self.retries: dict[str, int] = {}  #: operation → reko-level retries so far (for logs, tests)

    def __getattr__(self, name: str) -> Any:
        if "client" not in self.__dict__:  # not initialised (copy, unpickling)
            raise AttributeError(name)
        operation = self.__dict__["_operations"].get(name)
        if operation is None:
            return getattr(self.__dict__["client"], name)
        method = self._methods.get(name)
        if method is None:
            method = self._methods[name] = self._wrap(name, operation)
        return method

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._operations))

    def _wrap(self, name: str, operation: str) -> Callable[..., dict[str, Any]]:
        call = getattr(self.client, name)
        model = self.client.meta.service_model.operation_model(operation)
        image_members = [m for m, shape in model.input_shape.members.items()
                         if shape.name == "Image"] if model.input_shape else []
        token_members = list(model.idempotent_members)

        def method(**params: Any) -> dict[str, Any]:
            for member in image_members:
                image = params.get(member)
                if isinstance(image, Mapping) and isinstance(image.get("Bytes"), (bytes, bytearray)):
                    params[member] = {**image, "Bytes": fit_image(bytes(image["Bytes"]))}
            for member in token_members:
                params.setdefault(member, str(uuid.uuid4()))
            return self._call(operation, call, params)

        method.__name__ = name
        method.__doc__ = f"boto3 ``{name}`` ({operation}) with image fitting, TPS cap and retries."
        return method

    def _call(self, operation: str, call: Callable[..., dict[str, Any]],
              params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._buckets.get(operation, self.max_tps, clock=self._clock, sleep=self._sleep)
        started = self._clock()
        attempt = 0
        while True:
            bucket.acquire()
            try:
                return call(**params)
            except Exception as exc:
                why = _retryable(exc)
                if why is None:
                    raise
                cap = min(self.max_delay_s, self.base_delay_s * 2 ** attempt)
                delay = self._rng() * cap
                elapsed = self._clock() - started
                if elapsed + delay > self.max_retry_s:
                    raise RekognitionRetriesExhausted(
                        f"Rekognition {operation} kept failing ({why}) for {elapsed:.0f} s over "
                        f"{attempt + 1} attempts; retry the frame later. If this is "
                        "throttling, lower REKO_REKOGNITION_MAX_TPS or raise the account's quota",
                        detail=str(exc)) from exc
                attempt += 1
                self.retries[operation] = self.retries.get(operation, 0) + 1
                log.info("Rekognition %s: %s, retry %d in %.2f s", operation, why, attempt, delay)
                self._sleep(delay)


def make_rekognition_client(data_dir: str | PathLike | None = None, *, settings: Any = None,
                            client: Any = None, **options: Any) -> RekognitionAnalyzer:
    """The ``rekognition`` analyzer: :class:`RekognitionAnalyzer` around ``client`` or a new
    ``boto3.client("rekognition")`` (credentials and region from the AWS environment) with
    ``Config(retries={"mode": "adaptive", "max_attempts": BOTOCORE_MAX_ATTEMPTS})``.
    ``settings`` (default: :meth:`reko.settings.Settings.from_env`) gives
    ``rekognition_max_tps``; ``options`` go to :class:`RekognitionAnalyzer`. ``data_dir`` is
    accepted for the registry's signature and unused (collections live in AWS).

    Raises:
        AnalyzerError: boto3 is not installed (``pip install 'reko[aws]'``).
        SettingsError: a ``REKO_*`` variable is invalid, or the TPS cap is not > 0.
    """
    if settings is None:
        from ...settings import Settings

        settings = Settings.from_env()
    if client is None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise AnalyzerError("REKO_ANALYZER=rekognition needs boto3: pip install 'reko[aws]'") from None
        client = boto3.client("rekognition", config=Config(
            retries={"mode": "adaptive", "max_attempts": BOTOCORE_MAX_ATTEMPTS}))
    options.setdefault("max_tps", settings.rekognition_max_tps)
    return RekognitionAnalyzer(client, **options)
