"""``reko estimate``: frame decisions on real footage, calls and costs from the price table."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from reko.errors import SettingsError
from reko.pipeline.aws.prices import PRICES, REKOGNITION_GROUPS, Price, RegionPrices, region_prices
from reko.pipeline.estimate import (
    FEATURE_APIS,
    VideoFrames,
    billed_minutes,
    count_frames,
    estimate,
    estimate_videos,
    resolution_category,
)
from reko.settings import Settings

ALL = ("text", "faces", "labels", "moderation")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reko.cli", *args], capture_output=True, text=True,
                          env=env or dict(os.environ), timeout=300)


@pytest.fixture(scope="module")
def still_frames(still_video) -> VideoFrames:
    return count_frames(still_video, 1.0, 4)


def test_a_static_shot_keeps_fewer_frames_than_it_samples(still_frames):
    # 8 s of one photo with grain; captions appear at 3 s and 6 s: three distinct pictures
    assert still_frames.frames_sampled == 8
    assert still_frames.frames_kept < still_frames.frames_sampled
    assert 3 <= still_frames.frames_kept <= 4
    assert (still_frames.width, still_frames.height) == (1280, 720)
    assert still_frames.video_seconds == pytest.approx(8.0, abs=0.1)


def test_calls_are_what_the_planner_sends_and_naive_is_sampled_times_apis(still_frames):
    prices = region_prices("us-east-1")
    full = estimate([still_frames], ALL, prices, 1.0)
    kept, sampled = still_frames.frames_kept, still_frames.frames_sampled
    # one still shot: text on every kept frame (each is a caption change), labels and
    # moderation once for the shot, faces once plus when a face-sized region changed 2 s later
    assert still_frames.shots == 1
    assert full.rekognition_calls == {"DetectText": kept, "IndexFaces": still_frames.frames_for("faces"),
                                      "DetectLabels": 1, "DetectModerationLabels": 1}
    assert 1 <= full.rekognition_calls["IndexFaces"] <= kept
    assert full.naive_calls == {api: sampled for api in full.rekognition_calls}
    assert sum(full.rekognition_calls.values()) < sum(full.naive_calls.values()) / 3
    text_only = estimate([still_frames], ("text", "labels"), prices, 1.0)
    assert text_only.rekognition_calls == {"DetectText": kept, "DetectLabels": 1}
    assert text_only.naive_calls == {"DetectText": sampled, "DetectLabels": sampled}


def test_cost_arithmetic_follows_the_price_table(still_frames):
    prices = region_prices("us-east-1")
    result = estimate([still_frames, still_frames], ALL, prices, 1.0)
    expected = sum(n * prices.rekognition_group_usd[REKOGNITION_GROUPS[api]].usd
                   for api, n in result.rekognition_calls.items())
    assert result.rekognition_cost_usd == pytest.approx(expected)
    assert result.rekognition_calls["IndexFaces"] == 2 * still_frames.frames_for("faces")
    # first-tier prices of us-east-1: $0.001 per image in both groups
    calls = sum(still_frames.frames_for(f) for f in ALL)
    assert result.rekognition_cost_usd == pytest.approx(2 * calls * 0.001)
    assert result.naive_rekognition_cost_usd == pytest.approx(4 * 2 * still_frames.frames_sampled * 0.001)
    assert result.cost_usd == result.rekognition_cost_usd and result.mediaconvert_cost_usd is None
    hours = 2 * still_frames.video_seconds / 3600
    assert result.per_video_hour(result.cost_usd) == pytest.approx(result.cost_usd / hours)


def test_mediaconvert_minutes_and_a_recorded_price_are_billed_per_output_and_category():
    videos = [VideoFrames("a.mp4", 19.3, 1280, 720, 20, 18), VideoFrames("b.mp4", 4.0, 176, 144, 4, 1)]
    fake = Price(0.01, "minute", "test", "2026-11-30")
    prices = RegionPrices("test-1", PRICES["us-east-1"].rekognition_group_usd,
                          {"SD": fake, "HD": Price(0.02, "minute", "test", "2026-11-30")})
    result = estimate(videos, ("text",), prices, 1.0)
    # 19.3 s is billed as 20 s, 4 s as the 10 s minimum; once for the frame capture, once for the proxy
    assert result.mediaconvert_minutes == {"frame_capture": {"HD": 20 / 60, "SD": 10 / 60},
                                           "proxy": {"HD": 20 / 60, "SD": 10 / 60}}
    assert result.mediaconvert_total_minutes == pytest.approx(1.0)
    assert result.mediaconvert_cost_usd == pytest.approx(2 * (20 / 60 * 0.02 + 10 / 60 * 0.01))
    assert result.cost_usd == pytest.approx(result.rekognition_cost_usd + result.mediaconvert_cost_usd)
    # without a recorded price, minutes are still counted but never priced
    assert estimate(videos, ("text",), PRICES["us-east-1"], 1.0).mediaconvert_cost_usd is None


def test_billing_helpers():
    assert billed_minutes(19.3) == pytest.approx(20 / 60)
    assert billed_minutes(60.0) == pytest.approx(1.0)
    assert billed_minutes(3.0) == pytest.approx(10 / 60)
    assert [resolution_category(h) for h in (144, 719, 720, 1080, 1081, 2160)] == \
        ["SD", "SD", "HD", "HD", "UHD", "UHD"]
    assert set(FEATURE_APIS.values()) <= set(REKOGNITION_GROUPS)


def test_every_price_has_a_source_and_a_date():
    for prices in PRICES.values():
        for price in [*prices.rekognition_group_usd.values(), *prices.mediaconvert_usd_per_minute.values()]:
            assert price.usd > 0 and price.source.startswith("https://") and len(price.read) == 10


def test_a_region_without_prices_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError, match="REKO_AWS_REGION='mars-1'.*us-east-1"):
        region_prices("mars-1")
    settings = Settings.from_env({}, data_dir=tmp_path, aws_region="mars-1")
    with pytest.raises(SettingsError):
        estimate_videos([tmp_path / "nothing.mp4"], settings)


def test_without_dedup_every_sampled_frame_is_kept(still_video, tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path, dedup_threshold_cells=-1, features="text")
    result = estimate_videos([still_video], settings)
    assert result.frames_kept == result.frames_sampled == 8
    assert result.rekognition_calls == result.naive_calls == {"DetectText": 8}


def test_estimate_json_through_the_cli(demo_video, still_video, reko_env):
    proc = run_cli("estimate", str(demo_video), str(still_video), "--json", env=reko_env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in ("rekognition_calls", "naive_calls", "cost_usd", "naive_cost_usd", "mediaconvert_minutes",
                "frames_sampled", "frames_kept", "video_seconds", "cost_per_video_hour_usd"):
        assert key in out, key
    assert set(out["rekognition_calls"]) == set(out["naive_calls"]) == set(FEATURE_APIS.values())
    assert out["frames_kept"] < out["frames_sampled"]  # the still shot's near-duplicates
    # calls: what the planner sends per API, per video and in total
    for api in out["rekognition_calls"]:
        assert out["rekognition_calls"][api] == sum(v["calls"][api] for v in out["videos"])
        assert out["rekognition_calls"][api] <= out["frames_kept"]
    assert out["rekognition_calls"]["DetectText"] == out["frames_kept"]
    shots = sum(v["shots"] for v in out["videos"])
    assert shots >= 4  # bikes, carphone, bigbuckbunny; the still photo
    assert shots <= out["rekognition_calls"]["DetectLabels"] < out["frames_kept"]
    assert all(out["naive_calls"][api] == out["frames_sampled"] for api in out["naive_calls"])
    total = sum(out["rekognition_calls"].values())
    assert out["calls_vs_naive"] == pytest.approx(total / (4 * out["frames_sampled"]), abs=1e-4)
    assert out["cost_usd"] == pytest.approx(total * 0.001)
    assert out["naive_cost_usd"] == pytest.approx(4 * out["frames_sampled"] * 0.001)
    assert out["video_seconds"] == pytest.approx(19.3 + 8.0, abs=0.3)
    assert out["cost_per_video_hour_usd"] == pytest.approx(out["cost_usd"] * 3600 / out["video_seconds"], rel=1e-3)
    assert out["mediaconvert_minutes"] == pytest.approx(2 * (20 + 10) / 60, abs=0.02)
    assert out["mediaconvert_cost_usd"] is None and out["not_counted"]
    assert [v["name"] for v in out["videos"]] == [demo_video.name, still_video.name]


def test_estimate_cli_text_and_errors(still_video, reko_env, tmp_path):
    proc = run_cli("estimate", str(still_video), env=reko_env)
    assert proc.returncode == 0, proc.stderr
    assert "DetectText" in proc.stdout and "per video-hour" in proc.stdout
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    proc = run_cli("estimate", str(bad), env=reko_env)
    assert proc.returncode == 1 and "error: notes.mp4:" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("estimate", str(still_video), env={**reko_env, "REKO_AWS_REGION": "mars-1"})
    assert proc.returncode == 1 and "REKO_AWS_REGION" in proc.stderr
