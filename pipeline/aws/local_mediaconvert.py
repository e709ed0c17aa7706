"""A local stand-in for AWS Elemental MediaConvert: boto3 ``mediaconvert``'s method names,
parameters and response shapes for the subset reko uses (``create_job``, ``get_job``,
``list_jobs``), running ffmpeg (through :func:`reko.pipeline.media.run_ffmpeg`) on the job's
settings and writing the outputs to S3 at the keys MediaConvert would write.

What a job does here:

* reads its one input from S3 (the injected boto3 ``s3`` client; downloaded to a temp dir);
* ``InputClippings`` (ZEROBASED timecodes, see :func:`.mediaconvert.timecode_to_frames`) keep
  frames Start..End, both included, as MediaConvert does; every output gets the clipped input;
* a FRAME_CAPTURE output writes ``<base><NameModifier>.NNNNNNN.jpg``: capture N is the source
  frame shown at N × FramerateDenominator / FramerateNumerator s (ffmpeg's ``fps`` filter
  rounding input timestamps *up*: the latest frame whose time is ≤ N/fps), one capture per
  capture time before the end of the video, at most ``MaxCaptures``; ``Quality`` (1–100) maps
  to the JPEG quantiser;
* an H_264/MP4 output writes ``<base><NameModifier>.<Extension or mp4>``: libx264, QVBR level
  mapped to a CRF, ``MaxBitrate`` as the VBV cap, ``GopSize`` (seconds or frames) as forced
  keyframes (closed GOPs), AAC from the input's first audio track when the output has
  ``AudioDescriptions`` and the input has audio (real MediaConvert would write silence when
  the selected track is missing), MOOV first;
* then it emits the real EventBridge "MediaConvert Job State Change" event (PROGRESSING, then
  COMPLETE with ``outputGroupDetails`` or ERROR with ``errorCode``/``errorMessage``) through
  the injected ``on_event`` callable (see :func:`eventbridge_sender` to put it on a bus).

Error codes follow MediaConvert's list (User Guide, "Error codes"): 1010 when the input cannot
be opened (missing object, not a video); 1999 for anything else that fails here (a setting
outside the supported subset, an ffmpeg failure, an S3 write refused).

A job runs inside ``create_job`` by default; with ``background=True`` it runs on a thread and
the job goes SUBMITTED → PROGRESSING → COMPLETE/ERROR as on AWS (:meth:`LocalMediaConvert.wait`
waits for it). Requests are validated against botocore's model
(:func:`.mediaconvert.validate_request`): a misspelt member raises botocore's
``ParamValidationError`` exactly where boto3 would raise it before sending.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import math
import secrets
import string
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Collection, Mapping

from ...errors import FaultError, FfmpegError, MediaError, RekoError
from .. import media
from . import mediaconvert as mc

log = logging.getLogger(__name__)

EventSink = Callable[[dict], None]
#: ClientRequestToken reuse window (API reference, CreateJob ``ClientRequestToken``: "If you
#: reuse a client request token within one minute of a successful request, the API returns the
#: job details of the original request instead").
TOKEN_WINDOW_S = 60.0
ERROR_INPUT = 1010  #: MediaConvert error code "File access error" (input cannot be opened)
ERROR_OTHER = 1999  #: used here for every other failure of a local job
DEFAULT_ACCOUNT = "123456789012"  #: the account id moto also uses
DEFAULT_REGION = "us-east-1"
X264_PRESET = "veryfast"  #: libx264 speed preset for proxies and clips
#: ``QvbrQualityLevel`` (1–10) → libx264 CRF: level 7 → 23 (libx264's default), 10 → 17.
QVBR_CRF = {1: 41, 2: 38, 3: 35, 4: 32, 5: 29, 6: 26, 7: 23, 8: 21, 9: 19, 10: 17}
_ID_CHARS = string.ascii_lowercase + string.digits


class JobFailed(RekoError):
    """A local job failed; ``code`` is the MediaConvert error code of the ERROR event."""

    def __init__(self, code: int, message: str, *, detail: str = ""):
        super().__init__(message, detail=detail)
        self.code = code


def _client_error(code: str, message: str, status: int, operation: str) -> Exception:
    """A ``client.exceptions.<code>`` error as botocore raises it for an HTTP ``status``."""
    cls = getattr(_exceptions(), code)
    return cls({"Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


_EXC: SimpleNamespace | None = None


def _exceptions() -> SimpleNamespace:
    """``client.exceptions``: ClientError subclasses named as boto3 names MediaConvert's."""
    global _EXC
    if _EXC is None:
        from botocore.exceptions import ClientError

        names = ("BadRequestException", "NotFoundException", "ConflictException",
                 "ForbiddenException", "InternalServerErrorException", "TooManyRequestsException")
        _EXC = SimpleNamespace(ClientError=ClientError,
                               **{name: type(name, (ClientError,), {}) for name in names})
    return _EXC


def eventbridge_sender(events_client: Any, bus_name: str = "default") -> EventSink:
    """An ``on_event`` callable that puts each event on an EventBridge bus with
    ``events_client.put_events`` (Source ``aws.mediaconvert``, DetailType ``MediaConvert Job
    State Change``, Detail JSON). Real EventBridge refuses the reserved ``aws.`` source from
    PutEvents; moto (and a local router) accept it.

    Raises (from the returned callable):
        FaultError: EventBridge reported the entry as failed.
    """
    def send(event: dict) -> None:
        answer = events_client.put_events(Entries=[mc.eventbridge_entry(event, bus_name)])
        if answer.get("FailedEntryCount"):
            raise FaultError("EventBridge refused a MediaConvert event",
                             detail=json.dumps(answer.get("Entries"))[:500])
    return send


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LocalMediaConvert:
    """boto3 ``mediaconvert`` client stand-in (see the module docstring).

    ``s3``: a boto3 S3 client (moto in tests); ``on_event``: called with every job state
    change event (a dict as EventBridge delivers it to Lambda; exceptions are logged and kept
    in :attr:`delivery_errors`, never raised into the job); ``background``: run jobs on a
    thread; ``statuses``: which event statuses are emitted (an EventBridge rule's
    ``detail.status`` filter); ``work_dir``: parent of the temp dirs (default: the system's).
    """

    def __init__(self, s3: Any, on_event: EventSink | None = None, *, background: bool = False,
                 region: str = DEFAULT_REGION, account_id: str = DEFAULT_ACCOUNT,
                 statuses: Collection[str] = ("PROGRESSING", "INPUT_INFORMATION", "COMPLETE", "ERROR"),
                 work_dir: str | Path | None = None):
        self.s3 = s3
        self.on_event = on_event
        self.background = background
        self.region = region
        self.account_id = account_id
        self.statuses = frozenset(statuses)
        self.work_dir = str(work_dir) if work_dir else None
        self.exceptions = _exceptions()
        self.delivery_errors: list[tuple[dict, BaseException]] = []
        self._jobs: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.RLock()

    @property
    def default_queue(self) -> str:
        """The ARN of the account's ``Default`` queue."""
        return f"arn:aws:mediaconvert:{self.region}:{self.account_id}:queues/Default"

    # -- the boto3 methods -------------------------------------------------------------------
    def create_job(self, **request: Any) -> dict[str, Any]:
        """``CreateJob``: validate ``request`` against the model, record the job and run it
        (here, or on a thread when ``background``). Returns ``{"Job": {...}}`` (``Id``,
        ``Arn``, ``Status``, ``Settings``, ``UserMetadata``, ``CreatedAt``, ``Queue``, ``Role``,
        ``Timing``, …; after a synchronous run also ``OutputGroupDetails`` or ``ErrorCode``).
        A ``ClientRequestToken`` reused within 60 s returns the original job.

        Raises:
            botocore.exceptions.ParamValidationError: the request does not fit the model.
        """
        mc.validate_request("CreateJob", request)
        token = request.get("ClientRequestToken")
        with self._lock:
            if token and token in self._tokens:
                job_id, created = self._tokens[token]
                if time.monotonic() - created < TOKEN_WINDOW_S:
                    return {"Job": copy.deepcopy(self._jobs[job_id])}
            job = self._new_job(request)
            self._jobs[job["Id"]] = job
            if token:
                self._tokens[token] = (job["Id"], time.monotonic())
            job_id = job["Id"]
            if self.background:
                thread = threading.Thread(target=self._run, args=(job_id,), daemon=True,
                                          name=f"mediaconvert-{job_id}")
                self._threads[job_id] = thread
                thread.start()
        if not self.background:
            self._run(job_id)
        with self._lock:
            return {"Job": copy.deepcopy(self._jobs[job_id])}

    def get_job(self, **params: Any) -> dict[str, Any]:
        """``GetJob(Id=...)`` → ``{"Job": {...}}``.

        Raises:
            botocore.exceptions.ParamValidationError: no ``Id`` or other members.
            NotFoundException: no such job (a botocore ``ClientError``).
        """
        mc.validate_request("GetJob", params)
        with self._lock:
            job = self._jobs.get(params["Id"])
            if job is None:
                raise _client_error("NotFoundException", f"Job {params['Id']!r} not found", 404, "GetJob")
            return {"Job": copy.deepcopy(job)}

    def list_jobs(self, **params: Any) -> dict[str, Any]:
        """``ListJobs(MaxResults=20, NextToken=, Order='DESCENDING', Queue=, Status=)`` →
        ``{"Jobs": [...], "NextToken": ...}`` (newest first by default; ``Queue`` matches a
        queue ARN or name; ``NextToken`` is opaque).

        Raises:
            botocore.exceptions.ParamValidationError: unknown members or bad values.
            BadRequestException: a ``NextToken`` this client did not issue.
        """
        mc.validate_request("ListJobs", params)
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: (j["CreatedAt"], j["Id"]),
                          reverse=params.get("Order", "DESCENDING") == "DESCENDING")
            if params.get("Status"):
                jobs = [j for j in jobs if j["Status"] == params["Status"]]
            if params.get("Queue"):
                queue = params["Queue"]
                jobs = [j for j in jobs if j["Queue"] == queue or j["Queue"].rsplit("/", 1)[-1] == queue]
            try:
                start = int(params.get("NextToken") or 0)
            except ValueError:
                raise _client_error("BadRequestException", "invalid NextToken", 400, "ListJobs") from None
            size = params.get("MaxResults", 20)
            page = [copy.deepcopy(j) for j in jobs[start:start + size]]
        answer: dict[str, Any] = {"Jobs": page}
        if start + size < len(jobs):
            answer["NextToken"] = str(start + size)
        return answer

    # -- helpers that boto3 lacks ------------------------------------------------------------
    def wait(self, job_id: str, timeout_s: float = 600.0) -> dict[str, Any]:
        """Wait until job ``job_id`` has ended; returns its ``Job`` dict.

        Raises:
            TimeoutError: still running after ``timeout_s``.
            NotFoundException: no such job.
        """
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                raise TimeoutError(f"MediaConvert job {job_id} still runs after {timeout_s:g} s")
        return self.get_job(Id=job_id)["Job"]

    def close(self, timeout_s: float = 600.0) -> None:
        """Wait for every background job to end."""
        for thread in list(self._threads.values()):
            thread.join(timeout_s)

    # -- the job -------------------------------------------------------------------------------
    def _new_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        now = _now()
        job_id = f"{int(now.timestamp() * 1000)}-{''.join(secrets.choice(_ID_CHARS) for _ in range(6))}"
        job: dict[str, Any] = {
            "Id": job_id,
            "Arn": f"arn:aws:mediaconvert:{self.region}:{self.account_id}:jobs/{job_id}",
            "Role": request["Role"],
            "Settings": copy.deepcopy(request["Settings"]),
            "Queue": request.get("Queue") or self.default_queue,
            "Status": "SUBMITTED",
            "CreatedAt": now,
            "Timing": {"SubmitTime": now},
            "UserMetadata": dict(request.get("UserMetadata") or {}),
            "Priority": request.get("Priority", 0),
            "AccelerationStatus": "NOT_APPLICABLE",
            "Messages": {"Info": [], "Warning": []},
            "RetryCount": 0,
            "StatusUpdateInterval": request.get("StatusUpdateInterval", "SECONDS_60"),
            "BillingTagsSource": request.get("BillingTagsSource", "JOB"),
            "SimulateReservedQueue": request.get("SimulateReservedQueue", "DISABLED"),
        }
        if request.get("ClientRequestToken"):
            job["ClientRequestToken"] = request["ClientRequestToken"]
        return job

    def _update(self, job_id: str, **changes: Any) -> dict[str, Any]:
        with self._lock:
            job = self._jobs[job_id]
            job.update(changes)
            return copy.deepcopy(job)

    def _run(self, job_id: str) -> None:
        started = _now()
        job = self._update(job_id, Status="PROGRESSING", CurrentPhase="PROBING", JobPercentComplete=0)
        with self._lock:
            self._jobs[job_id]["Timing"]["StartTime"] = started
        self._emit(job, "PROGRESSING")
        try:
            with tempfile.TemporaryDirectory(prefix="reko-mediaconvert-", dir=self.work_dir) as tmp:
                api_groups, event_groups = _Runner(self, job, Path(tmp)).run()
        except JobFailed as exc:
            job = self._finish(job_id, Status="ERROR", ErrorCode=exc.code, ErrorMessage=str(exc))
            self._emit(job, "ERROR", error_code=exc.code, error_message=str(exc))
            return
        except Exception as exc:  # a stand-in bug or a fault: still end the job as AWS would
            log.exception("local MediaConvert job %s failed", job_id)
            message = f"Local job failed: {type(exc).__name__}: {str(exc)[:300]}"
            job = self._finish(job_id, Status="ERROR", ErrorCode=ERROR_OTHER, ErrorMessage=message)
            self._emit(job, "ERROR", error_code=ERROR_OTHER, error_message=message)
            return
        job = self._finish(job_id, Status="COMPLETE", OutputGroupDetails=api_groups, JobPercentComplete=100)
        self._emit(job, "COMPLETE", output_group_details=event_groups)

    def _finish(self, job_id: str, **changes: Any) -> dict[str, Any]:
        with self._lock:
            job = self._jobs[job_id]
            job.pop("CurrentPhase", None)
            job["Timing"]["FinishTime"] = _now()
            job.update(changes)
            return copy.deepcopy(job)

    def _phase(self, job_id: str, phase: str, percent: int) -> None:
        self._update(job_id, CurrentPhase=phase, JobPercentComplete=percent)

    def _emit(self, job: dict[str, Any], status: str, **extra: Any) -> None:
        if self.on_event is None or status not in self.statuses:
            return
        event = mc.job_state_event(
            job["Id"], status, region=self.region, account_id=self.account_id,
            queue_arn=job["Queue"], user_metadata=job["UserMetadata"],
            timestamp_ms=int(time.time() * 1000), **extra)
        try:
            self.on_event(event)
        except Exception as exc:  # delivery is not the job's business (as on AWS)
            log.exception("delivering the %s event of job %s failed", status, job["Id"])
            self.delivery_errors.append((event, exc))


class _Runner:
    """One job's work: download, probe, one ffmpeg run per output, uploads."""

    def __init__(self, owner: LocalMediaConvert, job: dict[str, Any], tmp: Path):
        self.owner = owner
        self.job = job
        self.tmp = tmp

    def run(self) -> tuple[list[dict], list[dict]]:
        settings = self.job["Settings"]
        inputs = settings.get("Inputs") or []
        if len(inputs) != 1:
            raise JobFailed(ERROR_OTHER, f"The local MediaConvert runs jobs with exactly one input, not {len(inputs)}")
        source = inputs[0]
        uri = source.get("FileInput", "")
        path = self._download(uri)
        info, rate, frames = self._probe(path, uri)
        self.owner._emit(self.job, "INPUT_INFORMATION", input_details=[{
            "id": 1, "uri": uri, "video": [{"frameRate": round(float(rate), 3), "width": info.width,
                                            "height": info.height, "codec": info.video_codec.upper(),
                                            "streamId": 1}]}])
        first, stop, clipped = self._clipping(source, rate, frames)
        self.owner._phase(self.job["Id"], "TRANSCODING", 10)
        api_groups, event_groups = [], []
        for group in settings.get("OutputGroups") or []:
            group_settings = group.get("OutputGroupSettings") or {}
            if group_settings.get("Type") != "FILE_GROUP_SETTINGS":
                raise JobFailed(ERROR_OTHER, f"The local MediaConvert writes FILE_GROUP outputs only, "
                                             f"not {group_settings.get('Type')}")
            destination = (group_settings.get("FileGroupSettings") or {}).get("Destination")
            bucket, base = self._destination(destination, uri)
            api_outputs, event_outputs = [], []
            for output in group.get("Outputs") or []:
                api, event = self._output(output, source, path, info, rate, first, stop, clipped,
                                          bucket, base)
                api_outputs.append(api)
                event_outputs.append(event)
            api_groups.append({"OutputDetails": api_outputs})
            event_groups.append({"outputDetails": event_outputs, "type": "FILE_GROUP"})
        return api_groups, event_groups

    # -- input ---------------------------------------------------------------------------------
    def _download(self, uri: str) -> Path:
        try:
            bucket, key = mc.split_s3_uri(uri)
        except Exception:
            raise JobFailed(ERROR_INPUT, f"Unable to open input file [{uri}]: [not an S3 URI]") from None
        path = self.tmp / ("input" + (Path(key).suffix[:8] if Path(key).suffix else ""))
        try:
            self.owner.s3.download_file(bucket, key, str(path))
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise JobFailed(ERROR_INPUT, f"Unable to open input file [{uri}]: [Failed probe/open: "
                                         f"[S3 {code}]]") from None
        return path

    def _probe(self, path: Path, uri: str) -> tuple[media.VideoInfo, Fraction, int]:
        """(info, exact frame rate, number of video frames)."""
        try:
            info = media.probe(path)
        except MediaError as exc:
            raise JobFailed(ERROR_INPUT, f"Unable to open input file [{uri}]: [Failed probe/open: [{exc}]]") from None
        data = media.run_ffprobe(["-select_streams", "v:0", "-show_entries",
                                  "stream=avg_frame_rate,r_frame_rate,nb_frames", str(path)], "probing the input")
        stream = (data.get("streams") or [{}])[0]
        rate = _rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate")) or mc.fps_fraction(info.fps)
        frames = int(stream["nb_frames"]) if str(stream.get("nb_frames", "")).isdigit() else 0
        if frames <= 0:  # no count in the header (mkv, ts, ...): count the packets
            data = media.run_ffprobe(["-select_streams", "v:0", "-count_packets", "-show_entries",
                                      "stream=nb_read_packets", str(path)], "counting the input's frames")
            frames = int((data.get("streams") or [{}])[0].get("nb_read_packets") or 0)
        if frames <= 0:
            raise JobFailed(ERROR_INPUT, f"Unable to open input file [{uri}]: [no video frames]")
        return info, rate, frames

    def _clipping(self, source: Mapping[str, Any], rate: Fraction, frames: int) -> tuple[int, int, bool]:
        """([first, stop) frame indexes of the (clipped) input, whether it is clipped)."""
        clippings = source.get("InputClippings") or []
        if not clippings:
            return 0, frames, False
        if len(clippings) > 1:
            raise JobFailed(ERROR_OTHER, "The local MediaConvert supports one input clipping per input")
        if source.get("TimecodeSource", "EMBEDDED") != "ZEROBASED":
            raise JobFailed(ERROR_OTHER, "The local MediaConvert clips ZEROBASED inputs only "
                                         "(set Inputs[].TimecodeSource to ZEROBASED)")
        clip = clippings[0]
        try:
            first = mc.timecode_to_frames(clip["StartTimecode"], rate) if clip.get("StartTimecode") else 0
            stop = mc.timecode_to_frames(clip["EndTimecode"], rate) + 1 if clip.get("EndTimecode") else frames
        except RekoError as exc:
            raise JobFailed(ERROR_OTHER, f"Invalid input clipping: {exc}") from None
        stop = min(stop, frames)
        if stop <= first:
            raise JobFailed(ERROR_OTHER, f"Input clipping {clip} selects no frame of a "
                                         f"{frames}-frame input")
        return first, stop, True

    def _destination(self, destination: str | None, uri: str) -> tuple[str, str]:
        """(bucket, key base): a destination ending in ``/`` takes the input's base name."""
        if not destination:
            raise JobFailed(ERROR_OTHER, "FileGroupSettings.Destination is required here")
        bucket, _, key = destination[5:].partition("/")
        if key.endswith("/") or not key:
            key += Path(uri.rsplit("/", 1)[-1]).stem
        return bucket, key

    # -- outputs -------------------------------------------------------------------------------
    def _output(self, output: Mapping[str, Any], source: Mapping[str, Any], path: Path,
                info: media.VideoInfo, rate: Fraction, first: int, stop: int, clipped: bool,
                bucket: str, base: str) -> tuple[dict, dict]:
        video = output.get("VideoDescription") or {}
        codec = (video.get("CodecSettings") or {}).get("Codec")
        container = (output.get("ContainerSettings") or {}).get("Container")
        name = base + (output.get("NameModifier") or "")
        pre = [] if (source.get("VideoSelector") or {}).get("Rotate") == "AUTO" else ["-noautorotate"]
        trim = f"trim=start_frame={first}:end_frame={stop}," if clipped else ""
        scale = _scale(video)
        if codec == "FRAME_CAPTURE" and container == "RAW":
            return self._frame_capture(video, pre, path, rate, first, stop, trim, scale, bucket, name)
        if codec == "H_264" and container == "MP4":
            return self._h264(output, video, pre, path, info, rate, first, stop, trim, scale, bucket, name)
        raise JobFailed(ERROR_OTHER, f"The local MediaConvert does not write {codec} in {container}")

    def _frame_capture(self, video, pre, path, rate, first, stop, trim, scale, bucket, name):
        fc = video["CodecSettings"].get("FrameCaptureSettings") or {}
        capture_rate = Fraction(fc.get("FramerateNumerator", 1), fc.get("FramerateDenominator", 1))
        # one capture per capture time N/capture_rate before the end of the (clipped) input
        span_s = Fraction(stop - first) / rate
        count = min(int(fc.get("MaxCaptures", mc.MAX_CAPTURES_LIMIT)), math.ceil(span_s * capture_rate))
        quality = int(fc.get("Quality", mc.CAPTURE_QUALITY))
        qscale = round(2 + (100 - quality) * 29 / 99)  # Quality 100 → q 2 (best), 1 → q 31
        out_dir = self.tmp / "captures"
        out_dir.mkdir(exist_ok=True)
        pattern = out_dir / f"frame.%0{mc.CAPTURE_DIGITS}d.jpg"
        vf = (f"{trim}setpts=PTS-STARTPTS,"
              f"fps=fps={capture_rate.numerator}/{capture_rate.denominator}:round=up{scale},format=yuvj420p")
        self._ffmpeg([*pre, "-i", str(path), "-map", "0:v:0", "-vf", vf, "-frames:v", str(count),
                      "-q:v", str(qscale), "-start_number", "0", "-f", "image2", str(pattern)],
                     "capturing frames")
        files = sorted(out_dir.glob("frame.*.jpg"))
        if not files:
            raise JobFailed(ERROR_OTHER, "Frame capture wrote no image")
        self.owner._phase(self.job["Id"], "UPLOADING", 60)
        keys = []
        for file in files:
            index = mc.frame_index(file.name)
            key = f"{name}.{index:0{mc.CAPTURE_DIGITS}d}.jpg"
            self._upload(file, bucket, key, "image/jpeg")
            keys.append(key)
        width, height = _jpeg_size(files[0])
        duration_ms = int(span_s * 1000)
        return ({"DurationInMs": duration_ms, "VideoDetails": {"WidthInPx": width, "HeightInPx": height}},
                {"outputFilePaths": [mc.s3_uri(bucket, keys[-1])], "durationInMs": duration_ms,
                 "videoDetails": {"widthInPx": width, "heightInPx": height}})

    def _h264(self, output, video, pre, path, info, rate, first, stop, trim, scale, bucket, name):
        h264 = video["CodecSettings"].get("H264Settings") or {}
        ext = output.get("Extension") or "mp4"
        out = self.tmp / f"output-{secrets.token_hex(4)}.{ext}"
        args = [*pre, "-i", str(path)]
        filters = [f"[0:v:0]{trim}setpts=PTS-STARTPTS{scale},format=yuv420p[v]"]
        maps = ["-map", "[v]"]
        if output.get("AudioDescriptions") and info.audio_codec:
            start_s, end_s = Fraction(first) / rate, Fraction(stop) / rate
            atrim = f"atrim=start={float(start_s):.6f}:end={float(end_s):.6f}," if trim else ""
            filters.append(f"[0:a:0]{atrim}asetpts=PTS-STARTPTS[a]")
            maps += ["-map", "[a]"]
            aac = (output["AudioDescriptions"][0].get("CodecSettings") or {}).get("AacSettings") or {}
            audio = ["-c:a", "aac", "-b:a", str(aac.get("Bitrate", mc.AUDIO_BITRATE)),
                     "-ar", str(aac.get("SampleRate", mc.AUDIO_SAMPLE_RATE)),
                     "-ac", "1" if aac.get("CodingMode") == "CODING_MODE_1_0" else "2"]
        else:
            audio = []
        gop = h264.get("GopSize")
        gop_s = (Fraction(str(gop)) if h264.get("GopSizeUnits") == "SECONDS"
                 else Fraction(str(gop)) / rate if gop else Fraction(2))
        gop_frames = max(1, round(gop_s * rate))
        video_args = ["-c:v", "libx264", "-preset", X264_PRESET,
                      "-crf", str(QVBR_CRF.get((h264.get("QvbrSettings") or {}).get("QvbrQualityLevel", 7), 23)),
                      "-g", str(gop_frames), "-keyint_min", str(gop_frames),
                      "-force_key_frames", f"expr:gte(t,n_forced*{float(gop_s):g})",
                      "-r", f"{rate.numerator}/{rate.denominator}", "-fps_mode", "cfr"]
        if h264.get("MaxBitrate"):
            video_args += ["-maxrate", str(h264["MaxBitrate"]), "-bufsize", str(2 * h264["MaxBitrate"])]
        profile = {"HIGH": "high", "MAIN": "main", "BASELINE": "baseline"}.get(h264.get("CodecProfile", "HIGH"))
        if profile:
            video_args += ["-profile:v", profile]
        movflags = ["-movflags", "+faststart"] if ((output.get("ContainerSettings") or {}).get(
            "Mp4Settings") or {}).get("MoovPlacement", "PROGRESSIVE_DOWNLOAD") == "PROGRESSIVE_DOWNLOAD" else []
        self._ffmpeg([*args, "-filter_complex", ";".join(filters), *maps, *video_args, *audio,
                      *movflags, "-f", "mp4", str(out)], "encoding an H.264 output")
        result = media.probe(out)
        self.owner._phase(self.job["Id"], "UPLOADING", 90)
        key = f"{name}.{ext}"
        self._upload(out, bucket, key, "video/mp4")
        return ({"DurationInMs": result.duration_ms,
                 "VideoDetails": {"WidthInPx": result.width, "HeightInPx": result.height}},
                {"outputFilePaths": [mc.s3_uri(bucket, key)], "durationInMs": result.duration_ms,
                 "videoDetails": {"widthInPx": result.width, "heightInPx": result.height}})

    # -- plumbing ------------------------------------------------------------------------------
    def _ffmpeg(self, args: list[str], what: str) -> None:
        try:
            media.run_ffmpeg(["-v", "error", "-y", *args], what)
        except FfmpegError as exc:
            raise JobFailed(ERROR_OTHER, f"{what} failed: {media.clean_stderr(exc.detail, self.tmp)}",
                            detail=exc.detail) from None

    def _upload(self, file: Path, bucket: str, key: str, content_type: str) -> None:
        try:
            self.owner.s3.upload_file(str(file), bucket, key, ExtraArgs={"ContentType": content_type})
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise JobFailed(ERROR_OTHER, f"Unable to write to output file [s3://{bucket}/{key}]: [S3 {code}]") from None


def _rate(value: str | None) -> Fraction | None:
    try:
        rate = Fraction(value) if value else None
    except (ValueError, ZeroDivisionError):
        return None
    return rate if rate and rate > 0 else None


def _scale(video: Mapping[str, Any]) -> str:
    """``,scale=W:H`` for an output ``Width``/``Height`` (one of them keeps the aspect)."""
    width, height = video.get("Width"), video.get("Height")
    if not width and not height:
        return ""
    return f",scale={width or -2}:{height or -2}"


def _jpeg_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size
