"""AWS Elemental MediaConvert for reko: the CreateJob requests (frame capture + MP4 proxy for
an upload, ``InputClippings`` for a clip), the EventBridge "MediaConvert Job State Change" event
(parse and build), and the S3 keys those jobs write.

Nothing here calls AWS: the functions return request dicts (keyword arguments of boto3's
``mediaconvert.create_job``) that :func:`validate_request` checks against botocore's service
model, and :func:`create_job` sends through an injected client (boto3's, or the local stand-in
:class:`reko.pipeline.aws.local_mediaconvert.LocalMediaConvert`).

S3 keys (one bucket, optionally under a key prefix as :class:`S3Storage` uses):

* ``captures/<video_id>/frame.NNNNNNN.jpg`` — frame capture; ``NNNNNNN`` is the 0-based capture
  number zero padded to 7 digits, and capture N shows the source at N / ``sample_fps`` s
  (MediaConvert API reference, ``FrameCaptureSettings.FramerateNumerator``: "Frame capture will
  encode the first frame of the output stream, then one frame every
  framerateDenominator/framerateNumerator seconds ... Files will be named as
  filename.NNNNNNN.jpg where N is the 0-based frame sequence number zero padded to 7 decimal
  places").
* ``videos/<video_id>.mp4`` — the H.264/AAC proxy (playback and clipping; the key
  :mod:`reko.pipeline.storage` uses for a stored video).
* ``clips/<video_id>/<start_ms>-<end_ms>.mp4`` — clips.

MediaConvert names a FILE_GROUP output ``<destination base name><NameModifier>.<extension>``
(``FileGroupSettings.Destination``: "the S3 output location and the output filename base";
``Output.NameModifier``: "add a string to the end of each output filename", required only when
a group has several outputs; ``Output.Extension``: default ``mp4`` for the MP4 container). Every
group here has one output and no name modifier, so the destination ``s3://b/videos/<id>`` gives
exactly ``videos/<id>.mp4``.

Timecodes: jobs set the input's ``TimecodeSource`` to ``ZEROBASED`` (the first frame is
``00:00:00:00``), so an ``InputClippings`` timecode names a frame by its index from the start.
Frame indexes are written as non-drop-frame ``HH:MM:SS:FF`` at the nominal integer rate, except
at 30000/1001 and 60000/1001 fps, where they are written as SMPTE drop-frame ``HH:MM:SS;FF``
(MediaConvert: "For drop frame, MediaConvert uses a semicolon before the frame number"). Either
notation names exactly one frame index; drop-frame keeps the label close to wall-clock time at
NTSC rates, which is the convention MediaConvert users expect there.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any, Mapping

from ...errors import InputError, SettingsError
from .. import ids

# -- constants (sources in comments) -------------------------------------------------------------
EVENT_SOURCE = "aws.mediaconvert"  #: EventBridge ``source`` of MediaConvert events
EVENT_DETAIL_TYPE = "MediaConvert Job State Change"  #: their ``detail-type``
#: Job statuses (botocore model, shape ``JobStatus``); COMPLETE/ERROR/CANCELED are final.
FINAL_STATUSES = frozenset({"COMPLETE", "ERROR", "CANCELED"})
KIND_INGEST = "ingest"  #: ``UserMetadata.kind`` of an upload's frame capture + proxy job
KIND_CLIP = "clip"  #: ``UserMetadata.kind`` of a clip job

CAPTURE_BASENAME = "frame"  #: frame capture destination base name → ``frame.NNNNNNN.jpg``
CAPTURE_DIGITS = 7  #: zero padding of capture numbers (FrameCaptureSettings documentation)
CAPTURE_QUALITY = 80  #: ``FrameCaptureSettings.Quality`` (JPEG quality, 1–100)
#: ``FrameCaptureSettings.MaxCaptures`` maximum (botocore model: ``__integerMin1Max10000000``).
MAX_CAPTURES_LIMIT = 10_000_000
DEFAULT_MAX_VIDEO_SECONDS = 4 * 3600  #: REKO_MAX_VIDEO_SECONDS' default (the longest video)
MAX_SAMPLE_FPS = 30  #: REKO_SAMPLE_FPS' upper bound (reko.settings)
FPS_MAX_DENOMINATOR = 1001  #: float rates become fractions with at most this denominator

PROXY_GOP_S = 2.0  #: a keyframe (closed GOP) every 2 s in the proxy: clips cut close to any time
PROXY_QVBR_LEVEL = 7  #: ``H264QvbrSettings.QvbrQualityLevel`` (1–10; 7 ≈ broadcast quality)
PROXY_MAX_BITRATE = 8_000_000  #: ``H264Settings.MaxBitrate`` b/s (required with QVBR)
AUDIO_BITRATE = 128_000  #: ``AacSettings.Bitrate`` b/s
AUDIO_SAMPLE_RATE = 48_000  #: ``AacSettings.SampleRate`` Hz
AUDIO_SELECTOR = "Audio Selector 1"  #: the input's audio selector name (``AudioSourceName``)
STATUS_UPDATE_INTERVAL = "SECONDS_60"  #: ``StatusUpdateInterval`` (enum ``StatusUpdateInterval``)
#: ``ClientRequestToken`` limit ("any string that includes up to 64 ASCII characters").
MAX_TOKEN_CHARS = 64

_CAPTURE_NAME = re.compile(rf"{CAPTURE_BASENAME}\.(\d{{{CAPTURE_DIGITS}}})\.jpg")
_TIMECODE = re.compile(r"(\d{2}):(\d{2}):(\d{2})([:;])(\d{2})")
_NTSC_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))


# -- S3 keys --------------------------------------------------------------------------------------
def _key(prefix: str, key: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{key}" if prefix else key


def capture_prefix(video_id: str, prefix: str = "") -> str:
    """``captures/<video_id>/``: where a video's frame captures are written (with a key prefix).

    Raises:
        NotFoundError: ``video_id`` is not a well-formed video id.
    """
    return _key(prefix, f"captures/{ids.video_id(video_id)}/")


def capture_key(video_id: str, index: int, prefix: str = "") -> str:
    """The key of capture ``index`` (0-based): ``captures/<video_id>/frame.NNNNNNN.jpg``."""
    if not isinstance(index, int) or index < 0 or index >= 10 ** CAPTURE_DIGITS:
        raise InputError(f"capture index {index!r} is outside 0..{10 ** CAPTURE_DIGITS - 1}")
    return f"{capture_prefix(video_id, prefix)}{CAPTURE_BASENAME}.{index:0{CAPTURE_DIGITS}d}.jpg"


def proxy_key(video_id: str, prefix: str = "") -> str:
    """``videos/<video_id>.mp4``: the MP4 proxy MediaConvert writes (playback, clipping)."""
    return _key(prefix, f"videos/{ids.video_id(video_id)}.mp4")


def clip_key(video_id: str, start_ms: int, end_ms: int, prefix: str = "") -> str:
    """``clips/<video_id>/<start_ms>-<end_ms>.mp4``: a clip's key."""
    return _key(prefix, f"clips/{ids.video_id(video_id)}/{ids.frame_ms(start_ms)}-{ids.frame_ms(end_ms)}.mp4")


def frame_index(key: str) -> int:
    """The capture number N of a key or URI ending in ``frame.NNNNNNN.jpg`` (0-based; capture N
    shows the source at N / sample_fps s, see :func:`capture_times_ms`).

    Raises:
        InputError: the name is not a frame capture's.
    """
    match = _CAPTURE_NAME.fullmatch(str(key).rsplit("/", 1)[-1])
    if not match:
        raise InputError(f"{str(key)[-60:]!r} is not a frame capture (frame.NNNNNNN.jpg)")
    return int(match.group(1))


def s3_uri(bucket: str, key: str) -> str:
    """``s3://bucket/key``."""
    return f"s3://{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key``.

    Raises:
        InputError: not an s3:// URI with a bucket and a key.
    """
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InputError(f"{str(uri)[:80]!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key:
        raise InputError(f"{uri[:80]!r} names no bucket and key")
    return bucket, key


# -- rates, times, timecodes ----------------------------------------------------------------------
def fps_fraction(fps: float | int | str | Fraction) -> Fraction:
    """``fps`` (frames per second) as an exact fraction: a :class:`Fraction`, an int or a string
    such as ``"30000/1001"`` or ``"0.5"`` is taken exactly; a float is read as its shortest
    decimal and reduced to the nearest fraction with a denominator ≤ 1001 (so ``1/3`` → 1/3,
    ``29.97`` → 2997/100, ``30000/1001`` as a float → 30000/1001).

    Raises:
        SettingsError: not a positive number whose numerator and denominator fit MediaConvert's
            ``FramerateNumerator``/``FramerateDenominator`` (1 .. 2^31-1).
    """
    try:
        if isinstance(fps, float):
            value = Fraction(repr(fps)).limit_denominator(FPS_MAX_DENOMINATOR)
        else:
            value = Fraction(fps)
    except (TypeError, ValueError, ZeroDivisionError):
        raise SettingsError(f"frame rate {fps!r} is not a number") from None
    if value <= 0 or value.numerator >= 2 ** 31 or value.denominator >= 2 ** 31:
        raise SettingsError(f"frame rate {fps!r} must be a positive fraction of 31-bit integers")
    return value


def sample_rate(sample_fps: float | int | str | Fraction) -> Fraction:
    """``sample_fps`` (REKO_SAMPLE_FPS) as an exact fraction in (0, 30].

    Raises:
        SettingsError: outside (0, 30] or not a number (see :func:`fps_fraction`).
    """
    value = fps_fraction(sample_fps)
    if value > MAX_SAMPLE_FPS:
        raise SettingsError(f"REKO_SAMPLE_FPS must be > 0 and <= {MAX_SAMPLE_FPS}, not {sample_fps!r}")
    return value


def capture_time_ms(index: int, sample_fps: float | Fraction) -> int:
    """Time of capture ``index`` in ms from the first frame: index / sample_fps s, rounded
    half up to a whole ms."""
    return math.floor(Fraction(index * 1000) / sample_rate(sample_fps) + Fraction(1, 2))


def capture_times_ms(n: int, sample_fps: float | Fraction) -> list[int]:
    """Times in ms of captures 0..n-1 (capture N is at N / sample_fps s; MediaConvert captures
    "the first frame of the output stream, then one frame every
    framerateDenominator/framerateNumerator seconds")."""
    rate = sample_rate(sample_fps)
    return [math.floor(Fraction(i * 1000) / rate + Fraction(1, 2)) for i in range(max(0, n))]


def capture_limit(sample_fps: float | Fraction, max_video_seconds: int = DEFAULT_MAX_VIDEO_SECONDS) -> int:
    """``FrameCaptureSettings.MaxCaptures`` for the longest allowed video: captures at
    0, 1/fps, … up to ``max_video_seconds`` (ceil(seconds × fps) + 1), capped at the model's
    maximum of 10,000,000."""
    count = math.ceil(Fraction(int(max_video_seconds)) * sample_rate(sample_fps)) + 1
    return max(1, min(MAX_CAPTURES_LIMIT, count))


def ms_to_frame(ms: int, fps: float | Fraction) -> int:
    """Index of the first frame at or after ``ms`` (frame k is at k / fps s from the first
    frame), with 0.5 ms of slack for whole-ms times, as the local clipper counts:
    ceil((ms − 0.5) × fps / 1000), at least 0."""
    return max(0, math.ceil(Fraction(2 * int(ms) - 1, 2000) * fps_fraction(fps)))


def _timebase(fps: Fraction) -> tuple[int, int]:
    """(nominal integer frames per timecode second, frame numbers dropped per minute)."""
    nominal = max(1, math.floor(fps + Fraction(1, 2)))
    return nominal, (2 * nominal // 30 if fps in _NTSC_RATES else 0)


def frames_to_timecode(frame: int, fps: float | Fraction) -> str:
    """The ``HH:MM:SS:FF`` timecode of frame index ``frame`` on a ZEROBASED timeline.

    Counting is non-drop-frame at the nominal integer rate (round(fps)), except at 30000/1001
    and 60000/1001 fps: SMPTE drop-frame (``HH:MM:SS;FF``; frame numbers 0–1, or 0–3 at 59.94,
    are skipped at the start of every minute not divisible by 10). The pattern is the model's
    ``InputClipping.StartTimecode`` one (hours 00–24).

    Raises:
        InputError: ``frame`` is negative or past 24 hours of timecode.
    """
    rate = fps_fraction(fps)
    nominal, drop = _timebase(rate)
    if frame < 0:
        raise InputError(f"frame index {frame} is negative")
    label = frame
    if drop:
        per_min = nominal * 60 - drop
        per_10min = nominal * 600 - drop * 9
        tens, rest = divmod(frame, per_10min)
        label += drop * 9 * tens + (drop * ((rest - drop) // per_min) if rest >= drop else 0)
    ff = label % nominal
    seconds = label // nominal
    hh, mm, ss = seconds // 3600, seconds // 60 % 60, seconds % 60
    if hh > 24:
        raise InputError(f"frame index {frame} is past 24 hours of timecode")
    return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if drop else ':'}{ff:02d}"


def timecode_to_frames(timecode: str, fps: float | Fraction) -> int:
    """The frame index named by ``HH:MM:SS:FF`` (non-drop-frame at the nominal rate) or
    ``HH:MM:SS;FF`` (drop-frame; only at 30000/1001 and 60000/1001 fps). Inverse of
    :func:`frames_to_timecode`.

    Raises:
        InputError: malformed, a frame number ≥ the nominal rate, drop-frame at another rate,
            or a drop-frame label that does not exist (``00:01:00;00``).
    """
    rate = fps_fraction(fps)
    nominal, drop = _timebase(rate)
    match = _TIMECODE.fullmatch(timecode or "")
    if not match:
        raise InputError(f"timecode {timecode!r} is not HH:MM:SS:FF")
    hh, mm, ss, ff = (int(match.group(i)) for i in (1, 2, 3, 5))
    sep = match.group(4)
    if mm > 59 or ss > 59 or ff >= nominal:
        raise InputError(f"timecode {timecode!r} is out of range at {float(rate):g} fps")
    minutes = hh * 60 + mm
    label = (minutes * 60 + ss) * nominal + ff
    if sep == ";":
        if not drop:
            raise InputError(f"drop-frame timecode {timecode!r} at {float(rate):g} fps "
                             "(only 29.97 and 59.94 fps have drop-frame timecode)")
        if ss == 0 and ff < drop and mm % 10:
            raise InputError(f"drop-frame timecode {timecode!r} does not exist")
        return label - drop * (minutes - minutes // 10)
    return label


# -- requests -------------------------------------------------------------------------------------
def _token(*parts: object) -> str:
    token = "reko-" + "-".join(str(p) for p in parts)
    if len(token) > MAX_TOKEN_CHARS:  # cannot happen for well-formed ids; keep it bounded anyway
        token = "reko-" + uuid.uuid5(uuid.NAMESPACE_URL, token).hex
    return token


def _h264_output(has_audio: bool) -> dict[str, Any]:
    """The proxy/clip output: MP4 (moov first), H.264 QVBR with a closed GOP every 2 s, AAC."""
    output: dict[str, Any] = {
        "ContainerSettings": {"Container": "MP4", "Mp4Settings": {"MoovPlacement": "PROGRESSIVE_DOWNLOAD"}},
        "Extension": "mp4",
        "VideoDescription": {
            "ScalingBehavior": "DEFAULT",
            "CodecSettings": {
                "Codec": "H_264",
                "H264Settings": {
                    "RateControlMode": "QVBR",
                    "QvbrSettings": {"QvbrQualityLevel": PROXY_QVBR_LEVEL},
                    "MaxBitrate": PROXY_MAX_BITRATE,
                    "GopSize": PROXY_GOP_S,
                    "GopSizeUnits": "SECONDS",
                    "GopClosedCadence": 1,
                    "SceneChangeDetect": "TRANSITION_DETECTION",
                    "CodecProfile": "HIGH",
                    "CodecLevel": "AUTO",
                    "QualityTuningLevel": "SINGLE_PASS_HQ",
                    "FramerateControl": "INITIALIZE_FROM_SOURCE",
                    "ParControl": "INITIALIZE_FROM_SOURCE",
                },
            },
        },
    }
    if has_audio:
        output["AudioDescriptions"] = [{
            "AudioSourceName": AUDIO_SELECTOR,
            "CodecSettings": {"Codec": "AAC", "AacSettings": {
                "Bitrate": AUDIO_BITRATE, "CodingMode": "CODING_MODE_2_0",
                "SampleRate": AUDIO_SAMPLE_RATE, "CodecProfile": "LC"}},
        }]
    return output


def _input(file_input: str, has_audio: bool, clippings: list[dict[str, str]] | None = None) -> dict[str, Any]:
    source: dict[str, Any] = {"FileInput": file_input, "TimecodeSource": "ZEROBASED",
                              "VideoSelector": {"Rotate": "AUTO"}}
    if has_audio:
        source["AudioSelectors"] = {AUDIO_SELECTOR: {"DefaultSelection": "DEFAULT"}}
    if clippings:
        source["InputClippings"] = clippings
    return source


def _job(settings: dict[str, Any], role_arn: str, queue_arn: str | None, metadata: dict[str, str],
         token: str) -> dict[str, Any]:
    if not role_arn:
        raise SettingsError("REKO_MEDIACONVERT_ROLE_ARN is not set: MediaConvert jobs need the "
                            "ARN of the role MediaConvert assumes to read and write the bucket")
    request: dict[str, Any] = {
        "Role": role_arn,
        "Settings": settings,
        "UserMetadata": metadata,
        "ClientRequestToken": token,
        "StatusUpdateInterval": STATUS_UPDATE_INTERVAL,
    }
    if queue_arn:
        request["Queue"] = queue_arn
    validate_request("CreateJob", request)
    return request


def ingest_job(input_s3_uri: str, bucket: str, video_id: str, sample_fps: float | Fraction,
               role_arn: str, queue_arn: str | None = None, *, max_captures: int | None = None,
               max_video_seconds: int = DEFAULT_MAX_VIDEO_SECONDS, has_audio: bool = True,
               prefix: str = "") -> dict[str, Any]:
    """The CreateJob request (keyword arguments of boto3 ``mediaconvert.create_job``) for an
    upload: one input (``input_s3_uri``, ``TimecodeSource: ZEROBASED``) and two FILE_GROUP
    output groups:

    1. frame capture to ``s3://bucket/captures/<video_id>/frame`` → ``frame.NNNNNNN.jpg``
       (``Container: RAW``, ``Codec: FRAME_CAPTURE``, ``FramerateNumerator/Denominator`` =
       ``sample_fps`` as an exact fraction, ``Quality`` 80, ``MaxCaptures`` enough for
       ``max_video_seconds`` unless ``max_captures`` is given);
    2. the proxy to ``s3://bucket/videos/<video_id>`` → ``videos/<video_id>.mp4``: H.264 QVBR
       (level 7, ≤ 8 Mb/s), a closed GOP every 2 s, AAC-LC stereo 128 kb/s 48 kHz from
       ``Audio Selector 1`` when ``has_audio`` (pass False when the upload is known to have no
       audio track).

    ``UserMetadata`` is ``{"video_id": …, "kind": "ingest"}``; ``ClientRequestToken`` is
    ``reko-ingest-<video_id>`` (MediaConvert returns the original job for a token reused
    within one minute of a successful request, so a quickly repeated S3 event starts no second
    job; the catalog's conditional put guards later repeats). ``prefix`` is the storage key
    prefix (``REKO_STORAGE_URL=s3://bucket/prefix``).

    Raises:
        SettingsError: ``sample_fps`` outside (0, 30], no ``role_arn``.
        NotFoundError: ``video_id`` is not a video id.
        botocore.exceptions.ParamValidationError: the request does not fit the service model
            (a bug; see :func:`validate_request`).
    """
    rate = sample_rate(sample_fps)
    video_id = ids.video_id(video_id)
    captures = max_captures if max_captures is not None else capture_limit(rate, max_video_seconds)
    capture_destination = s3_uri(bucket, capture_prefix(video_id, prefix) + CAPTURE_BASENAME)
    proxy_destination = s3_uri(bucket, proxy_key(video_id, prefix).removesuffix(".mp4"))
    settings = {
        "TimecodeConfig": {"Source": "ZEROBASED"},
        "Inputs": [_input(input_s3_uri, has_audio)],
        "OutputGroups": [
            {
                "Name": "File Group",
                "CustomName": "reko frame capture",
                "OutputGroupSettings": {"Type": "FILE_GROUP_SETTINGS",
                                        "FileGroupSettings": {"Destination": capture_destination}},
                "Outputs": [{
                    "ContainerSettings": {"Container": "RAW"},
                    "VideoDescription": {"CodecSettings": {
                        "Codec": "FRAME_CAPTURE",
                        "FrameCaptureSettings": {
                            "FramerateNumerator": rate.numerator,
                            "FramerateDenominator": rate.denominator,
                            "MaxCaptures": int(captures),
                            "Quality": CAPTURE_QUALITY,
                        }}},
                }],
            },
            {
                "Name": "File Group",
                "CustomName": "reko proxy",
                "OutputGroupSettings": {"Type": "FILE_GROUP_SETTINGS",
                                        "FileGroupSettings": {"Destination": proxy_destination}},
                "Outputs": [_h264_output(has_audio)],
            },
        ],
    }
    return _job(settings, role_arn, queue_arn, {"video_id": video_id, "kind": KIND_INGEST},
                _token(KIND_INGEST, video_id))


def clip_job(bucket: str, video_id: str, start_ms: int, end_ms: int, fps: float | Fraction,
             role_arn: str, queue_arn: str | None = None, *, has_audio: bool = True,
             prefix: str = "") -> dict[str, Any]:
    """The CreateJob request that cuts ``[start_ms, end_ms)`` of the stored proxy
    ``videos/<video_id>.mp4`` into ``clips/<video_id>/<start_ms>-<end_ms>.mp4``.

    ``fps`` is the proxy's frame rate (MediaConvert keeps the source's:
    ``FramerateControl: INITIALIZE_FROM_SOURCE``). The clip holds frames
    ``ms_to_frame(start_ms)`` .. ``ms_to_frame(end_ms) - 1``: ``InputClippings`` gives the first
    and the last frame as ZEROBASED timecodes (the API reference: "The frame corresponding to
    the End timecode value is included in the clip"), see :func:`frames_to_timecode`.
    ``end_ms`` past the end of the video is the caller's to clamp (to the duration).
    ``UserMetadata`` is ``{"video_id", "kind": "clip", "start_ms", "end_ms"}`` (strings).

    Raises:
        InputError: ``start_ms``/``end_ms`` not whole ms with 0 ≤ start < end, or the span holds
            no frame.
        SettingsError: no ``role_arn`` or an unusable ``fps``.
        NotFoundError: ``video_id`` is not a video id.
    """
    video_id = ids.video_id(video_id)
    if not (isinstance(start_ms, int) and isinstance(end_ms, int) and 0 <= start_ms < end_ms):
        raise InputError(f"a clip needs 0 <= start_ms < end_ms (got {start_ms!r}, {end_ms!r})")
    first, stop = ms_to_frame(start_ms, fps), ms_to_frame(end_ms, fps)
    if stop <= first:
        raise InputError(f"{start_ms}-{end_ms} ms holds no frame at {float(fps_fraction(fps)):g} fps")
    clipping = {"StartTimecode": frames_to_timecode(first, fps),
                "EndTimecode": frames_to_timecode(stop - 1, fps)}
    destination = s3_uri(bucket, clip_key(video_id, start_ms, end_ms, prefix).removesuffix(".mp4"))
    settings = {
        "TimecodeConfig": {"Source": "ZEROBASED"},
        "Inputs": [_input(s3_uri(bucket, proxy_key(video_id, prefix)), has_audio, [clipping])],
        "OutputGroups": [{
            "Name": "File Group",
            "CustomName": "reko clip",
            "OutputGroupSettings": {"Type": "FILE_GROUP_SETTINGS",
                                    "FileGroupSettings": {"Destination": destination}},
            "Outputs": [_h264_output(has_audio)],
        }],
    }
    metadata = {"video_id": video_id, "kind": KIND_CLIP, "start_ms": str(start_ms), "end_ms": str(end_ms)}
    return _job(settings, role_arn, queue_arn, metadata, _token(KIND_CLIP, video_id, start_ms, end_ms))


def create_job(client: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Validate ``request`` (:func:`validate_request`) and send it with
    ``client.create_job(**request)`` (boto3's ``mediaconvert`` client or
    :class:`LocalMediaConvert`); returns the response's ``Job`` (``Id``, ``Status``, …).

    Raises:
        botocore.exceptions.ParamValidationError: the request does not fit the model.
        botocore.exceptions.ClientError: MediaConvert refused it (``BadRequestException``, …).
    """
    validate_request("CreateJob", request)
    return client.create_job(**request)["Job"]


# -- validation against botocore's service model --------------------------------------------------
@lru_cache(maxsize=1)
def service_model():
    """botocore's ``ServiceModel`` for MediaConvert (``botocore/data/mediaconvert``; loaded once,
    no client, no credentials)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("mediaconvert")


def validate_request(operation: str, params: Mapping[str, Any]) -> None:
    """Check ``params`` against the input shape of ``operation`` (``CreateJob``, ``GetJob``,
    ``ListJobs``, …) in botocore's MediaConvert model.

    First :func:`botocore.validate.validate_parameters` (what boto3 checks before sending:
    member names, types, required members, minimums), then what only the service checks:
    ``enum`` values, ``pattern`` regexes, and ``max`` lengths/values from the same model.
    MediaConvert's semantic checks (which settings go together) are not modelled; a request
    that passes here is refused by neither boto3 nor the service for a member's name, type,
    enum value, pattern or range.

    Raises:
        botocore.exceptions.ParamValidationError: the report names every offending member
            (e.g. ``Unknown parameter in Settings.Inputs[0]: "FileInputt"``).
    """
    from botocore.exceptions import ParamValidationError
    from botocore.validate import validate_parameters

    shape = service_model().operation_model(operation).input_shape
    validate_parameters(dict(params), shape)
    errors: list[str] = []
    _strict(params, shape, operation, errors)
    if errors:
        raise ParamValidationError(report="\n".join(errors))


def validate_response(operation: str, response: Mapping[str, Any]) -> None:
    """Check a response (e.g. the stand-in's ``CreateJob``/``GetJob``/``ListJobs`` answers)
    against the output shape of ``operation``, with the same checks as
    :func:`validate_request`; ``ResponseMetadata`` is ignored.

    Raises:
        botocore.exceptions.ParamValidationError: the response does not fit the model.
    """
    from botocore.exceptions import ParamValidationError
    from botocore.validate import ParamValidator

    shape = service_model().operation_model(operation).output_shape
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    report = ParamValidator().validate(body, shape)
    errors = [report.generate_report()] if report.has_errors() else []
    _strict(body, shape, operation, errors)
    if errors:
        raise ParamValidationError(report="\n".join(errors))


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:  # a Java-only construct: leave that member to the service
        return None


def _strict(value: Any, shape: Any, path: str, errors: list[str]) -> None:
    """enum, pattern and max checks (botocore's validator checks none of them)."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure" and isinstance(value, Mapping):
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                _strict(value[name], member, f"{path}.{name}", errors)
    elif kind == "list" and isinstance(value, (list, tuple)):
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: {len(value)} items, at most {meta['max']} allowed")
        for i, item in enumerate(value):
            _strict(item, shape.member, f"{path}[{i}]", errors)
    elif kind == "map" and isinstance(value, Mapping):
        for key, item in value.items():
            _strict(key, shape.key, f"{path} key", errors)
            _strict(item, shape.value, f"{path}[{key!r}]", errors)
    elif kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} is not one of {', '.join(shape.enum)}")
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: {len(value)} characters, at most {meta['max']} allowed")
        if "min" in meta and len(value) < meta["min"]:
            errors.append(f"{path}: {len(value)} characters, at least {meta['min']} required")
        regex = _pattern(meta["pattern"]) if "pattern" in meta else None
        if regex is not None and not regex.search(value):
            errors.append(f"{path}: {value[:80]!r} does not match {meta['pattern']}")
    elif kind in ("integer", "long", "double", "float") and isinstance(value, (int, float)):
        if "max" in meta and value > meta["max"]:
            errors.append(f"{path}: {value} is above the maximum {meta['max']}")


# -- EventBridge "MediaConvert Job State Change" --------------------------------------------------
@dataclass(frozen=True)
class JobStateChange:
    """A parsed "MediaConvert Job State Change" event (MediaConvert User Guide, "Events with
    COMPLETE status", "Events with ERROR status").

    ``status``: ``detail.status`` (SUBMITTED, PROGRESSING, STATUS_UPDATE, INPUT_INFORMATION,
    COMPLETE, ERROR, CANCELED, NEW_WARNING, QUEUE_HOP); ``user_metadata``:
    ``detail.userMetadata`` (reko's ``video_id`` and ``kind``); ``error_code``/``error_message``:
    ``detail.errorCode``/``detail.errorMessage`` (ERROR only); ``output_groups``: per output
    group, the ``outputFilePaths`` of its outputs (COMPLETE only; a frame capture output lists
    only its *last* image); ``durations_ms``: per output group, ``durationInMs`` of its outputs;
    ``timestamp_ms``: ``detail.timestamp`` (ms since the epoch).
    """

    job_id: str
    status: str
    user_metadata: dict[str, str] = field(default_factory=dict)
    error_code: int | None = None
    error_message: str = ""
    output_groups: tuple[tuple[str, ...], ...] = ()
    durations_ms: tuple[tuple[int | None, ...], ...] = ()
    timestamp_ms: int | None = None
    queue: str = ""
    #: INPUT_INFORMATION only: ``detail.inputDetails[0].video[0].frameRate`` (frames per second)
    input_fps: float | None = None

    @property
    def video_id(self) -> str | None:
        """``userMetadata.video_id`` (None for a job reko did not start)."""
        return self.user_metadata.get("video_id")

    @property
    def kind(self) -> str | None:
        """``userMetadata.kind``: ``ingest`` or ``clip`` (None for a foreign job)."""
        return self.user_metadata.get("kind")

    @property
    def final(self) -> bool:
        """Whether the job has ended (COMPLETE, ERROR or CANCELED)."""
        return self.status in FINAL_STATUSES

    @property
    def output_paths(self) -> list[str]:
        """Every ``outputFilePaths`` entry, in group order (s3:// URIs)."""
        return [path for group in self.output_groups for path in group]

    def capture_count(self) -> int:
        """How many frame captures the job wrote: the last capture's number + 1 (the event
        lists only the final image of a frame capture output), 0 when there is none."""
        last = [frame_index(p) for p in self.output_paths if _CAPTURE_NAME.fullmatch(p.rsplit("/", 1)[-1])]
        return max(last) + 1 if last else 0


def is_job_state_event(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is an EventBridge MediaConvert job state change."""
    return (isinstance(event, Mapping) and event.get("source") == EVENT_SOURCE
            and event.get("detail-type") == EVENT_DETAIL_TYPE)


def parse_job_state_event(event: Mapping[str, Any]) -> JobStateChange:
    """Parse an EventBridge "MediaConvert Job State Change" event (the dict a Lambda receives,
    or ``EventBridgeEvent.raw_event`` from Powertools).

    Raises:
        InputError: not a MediaConvert job state change, or ``detail.jobId``/``status`` missing.
    """
    event = getattr(event, "raw_event", event)
    if not is_job_state_event(event):
        raise InputError("not a MediaConvert job state change event (source "
                         f"{str(event.get('source') if isinstance(event, Mapping) else None)!r})")
    detail = event.get("detail")
    if not isinstance(detail, Mapping) or not detail.get("jobId") or not detail.get("status"):
        raise InputError("the MediaConvert event has no detail.jobId or detail.status")
    groups, durations = [], []
    for group in detail.get("outputGroupDetails") or []:
        outputs = group.get("outputDetails") or []
        groups.append(tuple(p for out in outputs for p in out.get("outputFilePaths") or []))
        durations.append(tuple(out.get("durationInMs") for out in outputs))
    code = detail.get("errorCode")
    videos = [v for d in detail.get("inputDetails") or [] for v in d.get("video") or []]
    fps = videos[0].get("frameRate") if videos else None
    return JobStateChange(
        input_fps=float(fps) if isinstance(fps, (int, float)) and fps > 0 else None,
        job_id=str(detail["jobId"]), status=str(detail["status"]),
        user_metadata={str(k): str(v) for k, v in (detail.get("userMetadata") or {}).items()},
        error_code=int(code) if code is not None else None,
        error_message=str(detail.get("errorMessage") or ""),
        output_groups=tuple(groups), durations_ms=tuple(durations),
        timestamp_ms=detail.get("timestamp"), queue=str(detail.get("queue") or ""))


def job_state_event(job_id: str, status: str, *, region: str, account_id: str, queue_arn: str,
                    user_metadata: Mapping[str, str], timestamp_ms: int,
                    output_group_details: list[dict[str, Any]] | None = None,
                    error_code: int | None = None, error_message: str | None = None,
                    input_details: list[dict[str, Any]] | None = None,
                    event_id: str | None = None) -> dict[str, Any]:
    """The EventBridge event MediaConvert sends when job ``job_id`` changes to ``status``, in
    the documented shape (``version``, ``id``, ``detail-type``, ``source``, ``account``,
    ``time``, ``region``, ``resources`` = [job ARN], ``detail`` = {``timestamp``,
    ``accountId``, ``queue``, ``jobId``, ``status``, ``userMetadata``} plus
    ``outputGroupDetails`` (COMPLETE: ``[{"outputDetails": [{"outputFilePaths": [...],
    "durationInMs": …, "videoDetails": {"widthInPx", "heightInPx"}}], "type": "FILE_GROUP"}]``)
    or ``errorCode``/``errorMessage`` (ERROR) or ``inputDetails`` (INPUT_INFORMATION: ``[{"id",
    "uri", "video": [{"frameRate", "width", "height", "codec", …}]}]``, MediaConvert User Guide,
    "Events with INPUT_INFORMATION status")). ``timestamp_ms`` is ms since the epoch."""
    import datetime as dt

    detail: dict[str, Any] = {
        "timestamp": int(timestamp_ms), "accountId": account_id, "queue": queue_arn,
        "jobId": job_id, "status": status, "userMetadata": dict(user_metadata),
    }
    if output_group_details is not None:
        detail["outputGroupDetails"] = output_group_details
    if input_details is not None:
        detail["inputDetails"] = input_details
    if error_code is not None:
        detail["errorCode"] = int(error_code)
        detail["errorMessage"] = error_message or ""
    when = dt.datetime.fromtimestamp(timestamp_ms / 1000, dt.UTC)
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": EVENT_DETAIL_TYPE,
        "source": EVENT_SOURCE,
        "account": account_id,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:mediaconvert:{region}:{account_id}:jobs/{job_id}"],
        "detail": detail,
    }


def eventbridge_entry(event: Mapping[str, Any], bus_name: str = "default") -> dict[str, Any]:
    """The ``PutEvents`` entry that carries ``event`` (``Source``, ``DetailType``, ``Detail``
    as JSON, ``Resources``, ``EventBusName``). Real EventBridge refuses the reserved ``aws.``
    sources from PutEvents (only AWS services send them); moto and local routers accept it."""
    return {"Source": event["source"], "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]), "Resources": list(event.get("resources") or []),
            "EventBusName": bus_name}
