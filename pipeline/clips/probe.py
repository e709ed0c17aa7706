"""Probe a source for cutting: one ffprobe run reads the streams, the format and the video
packets (timestamps and keyframe flags) near the two cut points only.

ffprobe's ``-read_intervals`` reads packet headers inside time windows around the cut points
(nothing is decoded beyond what stream probing needs), so probing a 2-hour video costs about
as much as probing a 10-second one. The result is a :class:`Source`: the facts the pure planner
(:mod:`.plan`) works on. Every ffprobe run goes through :func:`reko.pipeline.media.run_ffprobe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

from ...errors import FfmpegError, MediaError
from ..media import clean_stderr, run_ffprobe

#: How far around a cut point ffprobe reads packets at first (seconds); widened when a GOP is longer.
WINDOW_S = 5.0


@dataclass(frozen=True)
class Packet:
    """One video packet as ffprobe lists it: ``pts``/``dts`` (presentation/decoding time) and
    ``duration`` in stream time-base ticks (``duration`` 0 when unknown), ``key`` the keyframe flag."""

    pts: int
    dts: int
    duration: int
    key: bool


@dataclass
class Source:
    """ffprobe facts about the source needed to cut it (times in stream ticks unless named).

    ``start_s``/``duration_s``: container start time (the origin of requested times) and
    duration, seconds; ``v``/``audio``: ffprobe's video stream and first audio stream (``None``
    without audio) as dicts; ``tb``: the video time base (seconds per tick); ``packets``: video
    packets in decoding order, from the probed windows only; ``covered``: pts ranges (ticks,
    inclusive) for which ``packets`` is complete.
    """

    path: Path
    format_name: str
    start_s: float
    duration_s: float
    v_index: int
    v: dict
    tb: Fraction
    audio: dict | None
    packets: list[Packet]
    covered: list[tuple[int, int]]


def probe_source(src: Path, start_ms: int, end_ms: int) -> Source:
    """Streams, format and the video packets near both cut points of ``src`` (times in ms from
    the video start). One ffprobe run; a second one only when the container does not start
    near 0 (the windows are then placed again on the container's timeline).

    Raises:
        MediaError: ``src`` is missing, empty, not a readable video, has no video stream or no
            duration.
        FfmpegError: ffprobe is missing or was killed.
    """
    if not src.is_file():
        raise MediaError(f"{src.name}: no such file")
    if src.stat().st_size == 0:
        raise MediaError(f"{src.name}: the file is empty (0 bytes); upload the whole video")
    windows = read_windows(start_ms / 1000, end_ms / 1000, 0.0)
    data = probe_json(src, windows)
    fmt = data.get("format", {})
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    if video is None:
        raise MediaError(f"{src.name}: contains no video stream (format {fmt.get('format_name')})")
    start_s = as_float(fmt.get("start_time")) or 0.0
    duration_s = as_float(fmt.get("duration")) or as_float(video.get("duration"))
    if not duration_s or duration_s <= 0:
        raise MediaError(f"{src.name}: has no duration; the file is probably truncated")
    if abs(start_s) > 0.25:  # windows were placed assuming the video starts at 0: read again
        windows = read_windows(start_ms / 1000, end_ms / 1000, start_s)
        data = probe_json(src, windows)
    tb = Fraction(video.get("time_base", "1/90000"))
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    source = Source(path=src, format_name=fmt.get("format_name", "?"), start_s=start_s,
                    duration_s=duration_s, v_index=int(video["index"]), v=video, tb=tb,
                    audio=audio, packets=[], covered=[])
    source.packets = video_packets(data, source.v_index)
    source.covered = covered_ranges(source, windows)
    return source


def read_windows(start_s: float, end_s: float, origin_s: float) -> list[tuple[float, float]]:
    """Absolute read intervals (s) around the two cut points ``start_s``/``end_s`` (s from the
    video start; ``origin_s`` is the container start): from 1 s before the start to
    :data:`WINDOW_S` after it, and from :data:`WINDOW_S` before the end to 1.5 s after it,
    merged into one when they overlap."""
    a = (max(0.0, origin_s + start_s - 1.0), origin_s + start_s + WINDOW_S)
    b = (max(0.0, origin_s + end_s - WINDOW_S), origin_s + end_s + 1.5)
    return [(a[0], b[1])] if b[0] <= a[1] else [a, b]


def probe_json(src: Path, windows: Sequence[tuple[float, float]]) -> dict:
    """ffprobe's JSON for ``src``: format, streams and, when ``windows`` (absolute seconds) are
    given, the packets (stream index, pts, dts, duration, flags) read inside them.

    Raises:
        MediaError: ffprobe ran and rejected the file (not a readable video).
        FfmpegError: ffprobe is missing or was killed.
    """
    args = ["-show_format", "-show_streams"]
    if windows:
        args += ["-show_entries", "packet=stream_index,pts,dts,duration,flags", "-read_intervals",
                 ",".join(f"{a:.6f}%{b:.6f}" for a, b in windows)]
    try:
        return run_ffprobe([*args, str(src)], f"probing {src.name}")
    except FfmpegError as exc:
        if getattr(exc, "returncode", 0) <= 0:
            raise
        raise MediaError(f"{src.name}: not a readable video ({clean_stderr(exc.detail, src) or 'ffprobe failed'}); "
                         "check that the file is a complete video (mp4, mov, mkv, ...)") from None


def video_packets(data: dict, v_index: int) -> list[Packet]:
    """The packets of stream ``v_index`` in ffprobe's JSON ``data``, in reading (decoding)
    order; discarded packets (flag ``D``) and packets without timestamps are skipped, and a
    packet read twice (overlapping windows) is kept once, where it was first read."""
    packets, seen = [], set()
    for p in data.get("packets", []):
        if p.get("stream_index") != v_index or "D" in p.get("flags", ""):
            continue
        pts = p.get("pts", p.get("dts"))
        dts = p.get("dts", pts)
        if pts is None:
            continue
        if (pts, dts) in seen:
            continue
        seen.add((pts, dts))
        packets.append(Packet(int(pts), int(dts), int(p.get("duration") or 0), "K" in p.get("flags", "")))
    return packets


def covered_ranges(source: Source, windows: Sequence[tuple[float, float]]) -> list[tuple[int, int]]:
    """pts ranges (ticks) in which every frame was read: from each window's landing keyframe
    (ffprobe seeks to the keyframe at or before the window start) to one second before the
    window end (packets decoded late, B-frames, may still follow), or to the end of file."""
    ranges = []
    end_ticks = ticks(source.start_s + source.duration_s, source.tb)
    keys = sorted(p.pts for p in source.packets if p.key)
    for a, b in windows:
        lo, hi = ticks(a, source.tb), ticks(b, source.tb)
        # The landing keyframe is the last one at or before the window start (it was read);
        # with none before it (the file's start), reading began at the first one.
        before = [k for k in keys if k <= lo]
        first = before[-1] if before else (keys[0] if keys else hi)
        last = hi - ticks(1.0, source.tb) if hi < end_ticks else end_ticks + 1
        ranges.append((first, last))
    return ranges


def ticks(seconds: float, tb: Fraction) -> int:
    """``seconds`` in ticks of the time base ``tb`` (seconds per tick), rounded to the nearest."""
    return round(Fraction(seconds) / tb)


def as_float(value) -> float | None:
    """``value`` as a float, or ``None`` when it is missing or not a number (ffprobe's ``N/A``)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
