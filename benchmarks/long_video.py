"""Long videos: peak memory of a full ingest is flat in video length (2, 10 and 20 minutes).

Builds 720p videos of 2, 10 and 20 minutes by looping ``benchmarks/ingest.py``'s clip (real
footage: bikes, carphone, bigbuckbunny and a still photo as an anchor shot, with Korean/English
captions burned in; ≈78 s) with ffmpeg's ``-stream_loop`` and stream copy (no re-encode, so the
content is exactly the benchmark clip's), then ingests each with the local engine (all analyses,
``--workers`` processes, a fresh data directory each) while a thread samples, every 0.5 s, the
resident memory (``/proc/<pid>/status`` VmRSS) of the ingest process and of its whole process
tree (analysis workers, the label worker, ffmpeg).

Prints, per length: wall time, × real time, frames sampled/kept, and the peak RSS of the ingest
process and of the tree. Memory is flat when the 20-minute peak is within a few tens of MB of
the 2-minute one (models and pools dominate; nothing per frame accumulates).

Usage: ``.venv/bin/python benchmarks/long_video.py [--minutes 2 10 20] [--workers 2] [--keep DIR]``
(Linux: reads /proc.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import build_clip  # noqa: E402

from reko.app import Reko  # noqa: E402
from reko.settings import Settings  # noqa: E402


def rss_kib(pid: int) -> int:
    """Resident memory of one process, KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc task children)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


class MemorySampler:
    """Samples the RSS of this process and of its process tree every ``interval_s``; keeps
    the peaks (KiB)."""

    def __init__(self, interval_s: float = 0.5):
        self.interval_s = interval_s
        self.peak_self = self.peak_tree = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            self.peak_self = max(self.peak_self, rss_kib(me))
            self.peak_tree = max(self.peak_tree, sum(rss_kib(p) for p in tree(me)))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def looped(clip: Path, minutes: float, out: Path) -> Path:
    """``clip`` looped to ``minutes`` (stream copy)."""
    if not out.exists():
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(clip),
                        "-t", str(minutes * 60), "-c", "copy", "-movflags", "+faststart", str(out)],
                       check=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[2, 10, 20])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--features", default="text,faces,labels,moderation")
    parser.add_argument("--keep", type=Path, help="keep built media and data here")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="reko-long-"))
    workdir.mkdir(parents=True, exist_ok=True)
    clip = build_clip(workdir)
    rows = []
    for minutes in args.minutes:
        video = looped(clip, minutes, workdir / f"long-{minutes:g}min.mp4")
        settings = Settings.from_env({}, data_dir=workdir / f"data-{minutes:g}-{time.time_ns()}",
                                     workers=args.workers, features=args.features,
                                     max_video_seconds=4 * 3600)
        with MemorySampler() as memory, Reko(settings) as app:
            started = time.perf_counter()
            report = app.ingest(video)
            wall = time.perf_counter() - started
        rows.append((minutes, wall, report, memory.peak_self, memory.peak_tree))
        print(f"{minutes:g} min done in {wall:.1f} s", flush=True)
    print(f"\n{'minutes':>7} {'wall s':>8} {'x real':>7} {'sampled':>8} {'kept':>6} "
          f"{'peak RSS ingest MB':>19} {'peak RSS tree MB':>17}")
    for minutes, wall, report, peak_self, peak_tree in rows:
        print(f"{minutes:7g} {wall:8.1f} {report.duration_ms / 1000 / wall:7.2f} "
              f"{report.frames_sampled:8d} {report.frames_analysed:6d} {peak_self / 1024:19.0f} "
              f"{peak_tree / 1024:17.0f}")
    first, last = rows[0], rows[-1]
    print(f"peak RSS growth from {first[0]:g} to {last[0]:g} min: ingest process "
          f"{(last[3] - first[3]) / 1024:+.0f} MB, process tree {(last[4] - first[4]) / 1024:+.0f} MB")


if __name__ == "__main__":
    main()
