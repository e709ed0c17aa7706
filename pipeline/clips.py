"""Cut clips out of a video, frame-accurately, at close to stream-copy speed ("smart cut").

A clip ``[start_ms, end_ms)`` holds every source frame whose presentation time falls in that
span (like ffmpeg's ``trim``; times are ms from the video's start, the timeline of
:func:`reko.pipeline.media.sample_frames`' ``pts_ms``, with 0.5 ms of rounding slack): the first
output frame is at ``start_ms`` or less than a frame after it, the last is less than a frame
before ``end_ms``, and the duration is within a frame of ``end_ms - start_ms``. A clip that
starts at a sampled frame's ``pts_ms`` starts with exactly that frame. Three ways to cut:

``smart`` (default, H.264 in MP4/MOV)
    One ffprobe run reads the streams and the packet timestamps and keyframe flags near the
    two cut points only (``-read_intervals``; packet headers, no frames decoded beyond what
    stream probing needs). The partial GOP at the start (the cut frame up to the first keyframe K1) is
    re-encoded with libx264 using the source's profile, level, pixel format, size, SAR, colour
    description and time base (decoding starts at the keyframe before the cut: input seeking).
    The GOPs from K1 on are stream-copied straight out of the source (concat demuxer
    ``inpoint``/``outpoint``, which cuts the copied part on decoding timestamps), and so is the
    start of the last GOP: the longest prefix, in decoding order, that shows exactly the frames
    from its keyframe KL up to some frame X before the end (with B-frames such a prefix closes
    after every P-frame and its B-frames; its frames reference only each other). Only the
    frames after X (at most the B-frames of one group, usually 0-3) are re-encoded, decoded from
    KL. Both re-encodes run in one ffmpeg process; the parts are joined by the concat demuxer,
    whose ``auto_convert`` puts each part's own SPS/PPS in-band so the joined H.264 stream
    decodes cleanly. The re-encoded parts have no B-frames and their decoding timestamps are
    shifted (``setts``) by the source's reorder delay, so DTS stay monotonic across the joins.
    Audio is cut from the source in the same final pass (AAC copied, anything else re-encoded
    to AAC) on the same timeline. The method is the "smart rendering" of editors such as
    LosslessCut, Avidemux and VideoReDo: re-encode only what the stream's references force you
    to. Cost: three processes (probe, edges, join; each about a stream copy's start-up) plus
    decoding at most about two GOPs and encoding at most about one; measured, process by
    process, by ``benchmarks/clips.py``.
``copy``
    ``-ss/-t -c copy``: fastest, but starts at the keyframe before ``start_ms`` and is only as
    accurate as the keyframe spacing. Offered as the baseline.
``reencode``
    Decode and re-encode the whole range (libx264 + AAC). Always frame-accurate; the fallback
    when smart cut is impossible (other codecs including HEVC, no keyframe inside the range,
    open GOPs, interlaced video, containers other than MP4/MOV such as MKV or MPEG-TS, odd time
    bases, a decoding delay that changes) or when a smart-cut step fails.

Every output is MP4 with the ``moov`` atom first (``+faststart``), ready for browsers.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import FfmpegError, MediaError
from .media import clean_stderr, run_ffmpeg, run_ffprobe

#: libx264 settings of the re-encoded parts (smart cut's partial GOPs and full re-encodes).
X264_PRESET = "superfast"
X264_CRF = 18
#: libx264 settings of smart cut's re-encoded edges (at most a GOP at the start and 3 frames at
#: the end). Measured on the 720p benchmark head (48 frames): ultrafast/20 costs ~0.3 CPU-s less
#: than superfast/18 (about -37 % of the encode), is 1.3x its size and 47.9 dB PSNR against the
#: source frames (superfast/18: 49.6 dB) -- a cheaper encode for a seam no one can see.
EDGE_X264 = ("-preset", "ultrafast", "-crf", "20")
#: AAC bit rate when audio has to be re-encoded.
AAC_BITRATE = "160k"

_MODES = ("smart", "copy", "reencode")
#: Containers whose index lets the concat demuxer seek to a keyframe exactly.
_SMART_FORMATS = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2")
_X264_PROFILES = {"baseline": "baseline", "constrained baseline": "baseline", "main": "main",
                  "high": "high", "high 10": "high10", "high 4:2:2": "high422",
                  "high 4:4:4 predictive": "high444"}
_X264_PIX_FMTS = ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p",
                  "yuv420p10le", "yuv422p10le", "yuv444p10le", "nv12")
#: How far around a cut point ffprobe reads packets at first (seconds); widened when a GOP is longer.
_WINDOW_S = 5.0


@dataclass(frozen=True)
class ClipReport:
    """What :func:`cut_clip` made.

    ``mode_used``: ``smart``, ``copy`` or ``reencode`` (``reason`` says why smart cut fell back);
    ``duration_ms``: duration of the output video stream; ``first_frame_ms``/``last_frame_ms``:
    source presentation times (ms from the video's start) of the first and last output frames
    (for ``copy`` the first is the keyframe the copy starts at); ``seconds``: wall time;
    ``reencoded_frames``/``copied_frames``: how the output frames were made (smart cut).
    """

    mode_used: str
    duration_ms: int
    first_frame_ms: int
    last_frame_ms: int
    seconds: float
    reason: str = ""
    reencoded_frames: int = 0
    copied_frames: int = 0


@dataclass(frozen=True)
class _Packet:
    pts: int  # stream time-base ticks
    dts: int
    duration: int
    key: bool


@dataclass
class _Source:
    """ffprobe facts about the source needed to cut it (times in stream ticks unless named)."""

    path: Path
    format_name: str
    start_s: float  # container start time (s): the origin of requested times
    duration_s: float
    v_index: int
    v: dict  # ffprobe's video stream
    tb: Fraction  # video time base (s per tick)
    audio: dict | None
    packets: list[_Packet]  # video packets in decoding order, from the probed windows
    covered: list[tuple[int, int]]  # pts ranges (ticks) for which `packets` is complete


def cut_clip(src: Path, start_ms: int, end_ms: int, out: Path, mode: str = "smart") -> ClipReport:
    """Cut ``[start_ms, end_ms)`` of ``src`` (ms from the video start) into the MP4 ``out``.

    ``mode`` is ``smart`` (frame-accurate, re-encodes only the partial GOPs at both ends and
    stream-copies the rest; falls back to ``reencode`` when it cannot apply, see the module
    docstring), ``copy`` (keyframe-aligned stream copy, inaccurate) or ``reencode``
    (frame-accurate full re-encode). ``end_ms`` beyond the video is clamped to its duration.
    ``out`` is written atomically (a temporary file in the same folder, renamed at the end).

    Returns:
        ClipReport: the mode used, output duration and the source times of the first/last frame.

    Raises:
        MediaError: ``src`` is not a readable video, ``start_ms >= end_ms``, ``start_ms`` is
            negative or past the end, ``mode`` is unknown, or ``out``'s folder does not exist.
        FfmpegError: ffmpeg/ffprobe is missing or failed (its stderr tail is in the message).
    """
    began = time.perf_counter()
    src, out = Path(src), Path(out)
    if mode not in _MODES:
        raise MediaError(f"unknown clip mode {mode!r}; use one of {', '.join(_MODES)}")
    start_ms, end_ms = int(start_ms), int(end_ms)
    if start_ms < 0:
        raise MediaError(f"clip start {start_ms} ms is negative; times are ms from the video start")
    if start_ms >= end_ms:
        raise MediaError(f"clip start {start_ms} ms is not before its end {end_ms} ms")
    if not out.parent.is_dir():
        raise MediaError(f"cannot write {out}: folder {out.parent} does not exist; create it first")
    if out.suffix.lower() not in (".mp4", ".m4v"):
        raise MediaError(f"{out.name}: clips are MP4; name the output *.mp4")
    source = _probe_source(src, start_ms, end_ms)
    duration_ms = source.duration_s * 1000
    if start_ms >= duration_ms - 0.5:
        raise MediaError(f"clip start {start_ms} ms is at or past the end of {src.name} "
                         f"({duration_ms:.0f} ms)")
    end_ms = min(end_ms, int(math.floor(duration_ms)))
    if end_ms <= start_ms:
        raise MediaError(f"clip {start_ms}-{end_ms} ms is empty after clamping to the video "
                         f"duration ({duration_ms:.0f} ms)")

    with tempfile.TemporaryDirectory(prefix=".reko-clip-", dir=out.parent) as tmp:
        tmp_dir = Path(tmp).resolve()
        part = tmp_dir / "clip.mp4"
        if mode == "copy":
            report = _cut_copy(source, start_ms, end_ms, part)
        else:
            plan = _plan(source, start_ms, end_ms)
            reason = _smart_blocker(source, plan) if mode == "smart" else "re-encode requested"
            if reason is None:
                try:
                    report = _cut_smart(source, plan, part, tmp_dir)
                except FfmpegError as exc:  # e.g. a profile/pixel format this libx264 lacks
                    reason = f"smart cut failed, re-encoded instead: {exc}"
            if reason is not None:
                report = _cut_reencode(source, plan, part)
                report = ClipReport(**{**report.__dict__, "reason": reason})
        os.replace(part, out)
    return ClipReport(**{**report.__dict__, "seconds": round(time.perf_counter() - began, 3)})


def clip_name(video_id: str, start_ms: int, end_ms: int) -> str:
    """File name of a clip inside a zip: ``<video_id>_<start_ms>-<end_ms>.mp4``."""
    return f"{video_id}_{int(start_ms)}-{int(end_ms)}.mp4"


def cut_clips_zip(src_by_video: dict[str, Path], segments: Iterable[tuple[str, int, int]],
                  out_zip: Path, mode: str = "smart") -> list[ClipReport]:
    """Cut every ``(video_id, start_ms, end_ms)`` segment and write the clips into ``out_zip``.

    Clips are cut one at a time into a temporary folder next to ``out_zip``, added to the zip
    (stored, not deflated: MP4 does not compress) and deleted, so the disk holds at most one
    clip besides the zip. The zip is written to a temporary name and renamed when complete; on
    any error the partial zip and temporary clips are removed. Names are :func:`clip_name`.

    Returns:
        one ClipReport per segment, in order.

    Raises:
        MediaError: no segments, ``out_zip``'s folder is missing, or a segment names a video
            missing from ``src_by_video`` (checked before anything is cut); otherwise as
            :func:`cut_clip`. FfmpegError: as :func:`cut_clip`. Nothing is left behind.
    """
    out_zip = Path(out_zip)
    segments = list(segments)
    if not out_zip.parent.is_dir():
        raise MediaError(f"cannot write {out_zip}: folder {out_zip.parent} does not exist")
    if not segments:
        raise MediaError("no segments to cut; the search matched nothing")
    missing = sorted({vid for vid, _, _ in segments if vid not in src_by_video})
    if missing:
        raise MediaError(f"no source video for {', '.join(missing)}; ingest it or drop the segment")
    reports: list[ClipReport] = []
    with tempfile.TemporaryDirectory(prefix=".reko-clips-", dir=out_zip.parent) as tmp:
        partial = Path(tmp) / "clips.zip"
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for video_id, start_ms, end_ms in segments:
                clip = Path(tmp) / clip_name(video_id, start_ms, end_ms)
                reports.append(cut_clip(Path(src_by_video[video_id]), start_ms, end_ms, clip, mode))
                zf.write(clip, clip.name)
                clip.unlink()
        os.replace(partial, out_zip)
    return reports


# --------------------------------------------------------------------------------------------
# probing


def _probe_source(src: Path, start_ms: int, end_ms: int) -> _Source:
    """One ffprobe run: streams, format and the video packets near both cut points."""
    if not src.is_file():
        raise MediaError(f"{src.name}: no such file")
    if src.stat().st_size == 0:
        raise MediaError(f"{src.name}: the file is empty (0 bytes); upload the whole video")
    windows = _windows(start_ms / 1000, end_ms / 1000, 0.0)
    data = _ffprobe(src, windows)
    fmt = data.get("format", {})
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    if video is None:
        raise MediaError(f"{src.name}: contains no video stream (format {fmt.get('format_name')})")
    start_s = _float(fmt.get("start_time")) or 0.0
    duration_s = _float(fmt.get("duration")) or _float(video.get("duration"))
    if not duration_s or duration_s <= 0:
        raise MediaError(f"{src.name}: has no duration; the file is probably truncated")
    if abs(start_s) > 0.25:  # windows were placed assuming the video starts at 0: read again
        windows = _windows(start_ms / 1000, end_ms / 1000, start_s)
        data = _ffprobe(src, windows)
    tb = Fraction(video.get("time_base", "1/90000"))
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    source = _Source(path=src, format_name=fmt.get("format_name", "?"), start_s=start_s,
                     duration_s=duration_s, v_index=int(video["index"]), v=video, tb=tb,
                     audio=audio, packets=[], covered=[])
    source.packets = _video_packets(data, source.v_index)
    source.covered = _covered(source, windows)
    return source


def _windows(start_s: float, end_s: float, origin_s: float) -> list[tuple[float, float]]:
    """Absolute read intervals (s) around the two cut points, merged when they overlap."""
    a = (max(0.0, origin_s + start_s - 1.0), origin_s + start_s + _WINDOW_S)
    b = (max(0.0, origin_s + end_s - _WINDOW_S), origin_s + end_s + 1.5)
    return [(a[0], b[1])] if b[0] <= a[1] else [a, b]


def _ffprobe(src: Path, windows: Sequence[tuple[float, float]]) -> dict:
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


def _video_packets(data: dict, v_index: int) -> list[_Packet]:
    """Video packets in reading (decoding) order; a packet read twice (overlapping windows)
    is kept once, where it was first read."""
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
        packets.append(_Packet(int(pts), int(dts), int(p.get("duration") or 0), "K" in p.get("flags", "")))
    return packets


def _covered(source: _Source, windows: Sequence[tuple[float, float]]) -> list[tuple[int, int]]:
    """pts ranges (ticks) in which every frame was read: from each window's landing keyframe
    (ffprobe seeks to the keyframe at or before the window start) to one second before the
    window end (packets decoded late, B-frames, may still follow), or to the end of file."""
    ranges = []
    end_ticks = _ticks(source.start_s + source.duration_s, source.tb)
    keys = sorted(p.pts for p in source.packets if p.key)
    for a, b in windows:
        lo, hi = _ticks(a, source.tb), _ticks(b, source.tb)
        # The landing keyframe is the last one at or before the window start (it was read);
        # with none before it (the file's start), reading began at the first one.
        before = [k for k in keys if k <= lo]
        first = before[-1] if before else (keys[0] if keys else hi)
        last = hi - _ticks(1.0, source.tb) if hi < end_ticks else end_ticks + 1
        ranges.append((first, last))
    return ranges


# --------------------------------------------------------------------------------------------
# planning


@dataclass(frozen=True)
class _Plan:
    """The frames to cut, in source ticks.

    ``first``/``last``: pts of the first/last output frames; ``end``: pts just after the last
    frame; ``frame``: nominal frame duration; ``k1``: first clean keyframe at or after
    ``first``; ``kl``: last clean keyframe at or before ``last`` (``None`` when there is none);
    ``copy_to``: pts where the stream-copied part ``[k1, copy_to)`` ends (and the re-encoded
    tail ``[copy_to, end)`` begins; ``copy_to == end`` when nothing at the end is re-encoded);
    ``stop``: the first packet, in decoding order, not copied (``None``: copy to the end of
    file); ``seek``: pts of the keyframe at or before ``first``.
    """

    first: int
    last: int
    end: int
    frame: int
    k1: _Packet | None
    kl: _Packet | None
    copy_to: int
    stop: _Packet | None
    seek: int


def _plan(source: _Source, start_ms: int, end_ms: int) -> _Plan:
    tb, origin = source.tb, source.start_s
    tol = _ticks(0.0005, tb)  # requested times are whole ms: 0.5 ms either way is "at"
    start_t = _ticks(origin + start_ms / 1000, tb)
    end_t = _ticks(origin + end_ms / 1000, tb)
    by_pts = sorted(source.packets, key=lambda p: p.pts)
    if not by_pts:
        raise MediaError(f"{source.path.name}: no video frames near {start_ms}-{end_ms} ms; "
                         "the file is probably truncated")
    frame = _frame_ticks(source, by_pts)
    from_start = [p for p in by_pts if p.pts >= start_t - tol]
    if not from_start:
        raise MediaError(f"{source.path.name}: no video frame at or after {start_ms} ms")
    first = from_start[0]
    before_end = [p for p in by_pts if first.pts <= p.pts < end_t - tol]
    last = before_end[-1] if before_end else first
    end = last.pts + (last.duration or frame)
    keys = [p for p in by_pts if p.key and first.pts <= p.pts <= last.pts and _clean_key(source, p)]
    after = next((p for p in by_pts if p.pts > last.pts), None)
    eof_read = any(hi > _ticks(origin + source.duration_s, tb) for _, hi in source.covered)
    seeks = [p for p in by_pts if p.key and p.pts <= first.pts]
    kl = keys[-1] if keys else None
    copy_to, stop = end, None
    if kl is not None:
        copy_to, stop = _copy_until(source, by_pts, kl, last, end, keys[0].pts - keys[0].dts)
        if stop is None and not (after is None and eof_read):
            copy_to, stop = kl.pts, kl  # cannot tell where the copy would stop: re-encode from KL
    return _Plan(first.pts, last.pts, end, frame, keys[0] if keys else None, kl, copy_to, stop,
                 seeks[-1].pts if seeks else by_pts[0].pts)


def _copy_until(source: _Source, by_pts: list[_Packet], kl: _Packet, last: _Packet, end: int,
                delay: int) -> tuple[int, _Packet | None]:
    """How much of the last GOP (from the keyframe ``kl``) can be stream-copied: the longest
    prefix, in decoding order, that shows exactly the frames ``kl .. X`` with ``X <= last``
    (closed: its frames reference only each other, since references precede in decoding
    order; with B-frames one closes after every P-frame and its B-frames). Returns
    ``(copy_to, stop)``: the pts after ``X`` (where the re-encoded rest of the tail starts; ``end``
    when the prefix reaches ``last``) and the first packet not copied (``None`` at end of file).
    Only the few frames after ``X`` are then re-encoded instead of the whole partial GOP. The
    re-encoded rest starts with DTS = PTS − ``delay``, which must follow the copied DTS; when
    it would not, the copy stops at ``kl`` and the tail is re-encoded from there."""
    packets = source.packets
    order = [p.pts for p in by_pts]
    i0, k0 = packets.index(kl), order.index(kl.pts)
    best, top = i0, kl.pts
    for i in range(i0, len(packets)):
        p = packets[i]
        if p.pts < kl.pts or (i > i0 and p.dts <= packets[i - 1].dts):
            break  # not the same contiguous run of the stream
        top = max(top, p.pts)
        if top > last.pts:
            break
        if k0 + i - i0 < len(order) and order[k0 + i - i0] == top:
            best = i  # packets i0..i show exactly the frames kl..top
    x = max(p.pts for p in packets[i0:best + 1])
    nxt = packets[best + 1] if best + 1 < len(packets) else None
    if x == last.pts:
        return end, nxt
    copy_to = order[order.index(x) + 1]
    if nxt is None or packets[best].dts >= copy_to - delay:
        return kl.pts, kl
    return copy_to, nxt


def _frame_ticks(source: _Source, by_pts: list[_Packet]) -> int:
    rate = _fraction(source.v.get("avg_frame_rate")) or _fraction(source.v.get("r_frame_rate"))
    if rate:
        return max(1, round(1 / (rate * source.tb)))
    diffs = sorted(b.pts - a.pts for a, b in zip(by_pts, by_pts[1:]) if b.pts > a.pts)
    return diffs[len(diffs) // 2] if diffs else 1


def _clean_key(source: _Source, key: _Packet) -> bool:
    """A keyframe the stream can be cut at: every packet before it in decoding order is shown
    before it and every packet after it is shown at or after it (a closed GOP: no leading
    B-frames that reference the previous GOP), and its surroundings were probed."""
    if not any(lo <= key.pts <= hi for lo, hi in source.covered):
        return False
    packets = source.packets
    i = packets.index(key)
    window = _ticks(2.0, source.tb)
    for p in packets[i + 1:]:
        if p.dts - key.dts > window:
            break
        if p.pts < key.pts:
            return False
    for p in reversed(packets[:i]):
        if key.dts - p.dts > window:
            break
        if p.pts > key.pts:
            return False
    return True


def _smart_blocker(source: _Source, plan: _Plan) -> str | None:
    """Why smart cut cannot be used for ``plan`` (``None`` when it can)."""
    v = source.v
    if v.get("codec_name") != "h264":
        return f"smart cut needs H.264, the source is {v.get('codec_name')}"
    if not any(name in _SMART_FORMATS for name in source.format_name.split(",")):
        return f"smart cut needs MP4/MOV, the source is {source.format_name}"
    if (v.get("profile") or "").lower() not in _X264_PROFILES:
        return f"H.264 profile {v.get('profile')} cannot be matched by libx264"
    if v.get("pix_fmt") not in _X264_PIX_FMTS:
        return f"pixel format {v.get('pix_fmt')} cannot be matched by libx264"
    if v.get("field_order") not in (None, "progressive", "unknown"):
        return "interlaced video"
    if plan.k1 is None or plan.kl is None:
        return "no clean keyframe inside the range"
    ends = [plan.k1, plan.kl]
    if len({k.pts - k.dts for k in ends}) != 1 or plan.k1.pts < plan.k1.dts:
        return "the stream's decoding delay changes between the cut points"
    if source.tb.denominator > 1_000_000 or source.tb.numerator != 1:
        return f"odd time base {source.tb}"
    return None


# --------------------------------------------------------------------------------------------
# cutting


def _cut_smart(source: _Source, plan: _Plan, out: Path, tmp_dir: Path) -> ClipReport:
    """Head (re-encoded) + middle (copied from the source) + rest of the tail (re-encoded), joined."""
    k1, kl, tb = plan.k1, plan.kl, source.tb
    assert k1 is not None and kl is not None
    delay = k1.pts - k1.dts
    jobs = []
    if plan.first < k1.pts:
        jobs.append((tmp_dir / "head.mp4", plan.seek, plan.first, k1.pts))
    if plan.copy_to < plan.end:  # decoded from KL, only the frames after the copied part encoded
        jobs.append((tmp_dir / "tail.mp4", kl.pts, plan.copy_to, plan.end))
    if jobs:
        _encode_parts(source, jobs, delay, plan.frame)

    lines = ["ffconcat version 1.0"]
    if plan.first < k1.pts:
        lines += [f"file {_quote(tmp_dir / 'head.mp4')}",
                  f"duration {_us((k1.pts - plan.first) * tb)}"]
    if k1.pts < plan.copy_to:
        # inpoint: the demuxer seeks to the last keyframe at or before it, so round up (never
        # before K1). outpoint is compared with decoding timestamps: stop before the DTS of the
        # first packet not copied.
        middle = [f"file {_quote(source.path.resolve())}", f"inpoint {_us(k1.pts * tb, up=True)}"]
        if plan.stop is not None:
            middle.append(f"outpoint {_us((plan.stop.dts - Fraction(plan.frame, 4)) * tb)}")
        middle.append(f"duration {_us((plan.copy_to - k1.pts) * tb)}")
        if source.v_index != 0:
            # The concat demuxer matches streams by index: copy the video out on its own first.
            middle = [f"file {_quote(_copy_video_only(source, middle, tmp_dir))}", middle[-1]]
        lines += middle
    if plan.copy_to < plan.end:
        lines += [f"file {_quote(tmp_dir / 'tail.mp4')}",
                  f"duration {_us((plan.end - plan.copy_to) * tb)}"]
    concat = tmp_dir / "parts.ffconcat"
    concat.write_text("\n".join(lines) + "\n", encoding="utf-8")

    cmd = ["-hide_banner", "-v", "error",
           "-f", "concat", "-safe", "0", "-i", str(concat)]
    maps = ["-map", "0:v:0"]
    if source.audio is not None:
        cmd += _audio_input(source, plan)
        maps += ["-map", "1:a:0"] + _audio_codec(source)
    cmd += maps + ["-c:v", "copy", "-video_track_timescale", str(tb.denominator),
                   "-movflags", "+faststart", "-f", "mp4", "-y", str(out)]
    _run(cmd, f"joining the clip parts of {source.path.name}")
    total = round((plan.end - plan.first) / plan.frame)
    copied = round((plan.copy_to - k1.pts) / plan.frame)
    return ClipReport("smart", _ms((plan.end - plan.first) * tb), _rel_ms(source, plan.first),
                      _rel_ms(source, plan.last), 0.0, "", total - copied, copied)


def _copy_video_only(source: _Source, entry: list[str], tmp_dir: Path) -> Path:
    """Stream-copy the source's part described by the concat ``entry`` into a video-only MP4."""
    concat = tmp_dir / "middle.ffconcat"
    concat.write_text("ffconcat version 1.0\n" + "\n".join(entry) + "\n", encoding="utf-8")
    out = tmp_dir / "middle.mp4"
    _run(["-hide_banner", "-v", "error", "-f", "concat", "-safe", "0",
          "-i", str(concat), "-map", f"0:{source.v_index}", "-c", "copy",
          "-video_track_timescale", str(source.tb.denominator), "-f", "mp4", "-y", str(out)],
         f"copying the middle of {source.path.name}")
    return out


def _encode_parts(source: _Source, jobs: Sequence[tuple[Path, int, int, int]], delay: int,
                  frame: int) -> None:
    """Re-encode, in one ffmpeg run, each job ``(out, seek, first, end)``: the source frames
    with pts in ``[first, end)`` (ticks), decoded from the keyframe at ``seek`` (input seeking:
    nothing before it is read), into the MP4 ``out`` with the source's H.264 parameters, no
    B-frames, pts from 0 and DTS = PTS − ``delay``. One process for both edges saves a process
    start-up (about as much CPU as a whole stream copy); decoders and libx264 are threaded."""
    v, tb = source.v, source.tb
    cmd = ["-hide_banner", "-v", "error", "-copyts"]
    for _, seek, _, _ in jobs:
        cmd += ["-noaccurate_seek", *_seek_args(source, seek, frame), "-i", str(source.path)]
    pix_fmt = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p",
               "nv12": "yuv420p"}.get(v["pix_fmt"], v["pix_fmt"])
    sar = v.get("sample_aspect_ratio")
    level = v.get("level")
    for i, (out, _, first, end) in enumerate(jobs):
        vf = [f"trim=start_pts={first}:end_pts={end}", "setpts=PTS-STARTPTS"]
        if sar and sar not in ("0:1", "N/A"):
            vf.append(f"setsar={sar.replace(':', '/')}")
        cmd += ["-map", f"{i}:{source.v_index}", "-an", "-sn", "-dn", "-vf", ",".join(vf),
                "-fps_mode", "passthrough", "-enc_time_base:v", "-1", "-c:v", "libx264",
                *EDGE_X264, "-bf", "0", "-pix_fmt", pix_fmt,
                "-profile:v", _X264_PROFILES[v["profile"].lower()]]
        if level and int(level) >= 10:
            cmd += ["-level:v", f"{int(level) / 10:.1f}"]
        cmd += _color_args(v)
        cmd += ["-bsf:v", f"setts=dts=PTS-{delay}", "-video_track_timescale", str(tb.denominator),
                "-f", "mp4", "-y", str(out)]
    _run(cmd, f"re-encoding the partial GOPs of {source.path.name}")


def _cut_reencode(source: _Source, plan: _Plan, out: Path) -> ClipReport:
    v, tb = source.v, source.tb
    first_s = float(plan.first * tb)
    dur_s = float((plan.end - plan.first) * tb)
    vf = [f"trim=start_pts={plan.first}:end_pts={plan.end}", "setpts=PTS-STARTPTS"]
    cmd = ["-hide_banner", "-v", "error", "-copyts",
           "-noaccurate_seek", *_seek_args(source, plan.seek, plan.frame), "-i", str(source.path),
           "-map", f"0:{source.v_index}", "-vf", ",".join(vf), "-fps_mode", "passthrough",
           "-enc_time_base:v", "-1", "-c:v", "libx264", "-preset", X264_PRESET,
           "-crf", str(X264_CRF), "-pix_fmt", "yuv420p"]
    if tb.numerator == 1 and tb.denominator <= 1_000_000:
        cmd += ["-video_track_timescale", str(tb.denominator)]
    if source.audio is not None:
        cmd += ["-map", "0:a:0", "-af", f"atrim=start={first_s:.6f}:duration={dur_s:.6f},"
                "asetpts=PTS-STARTPTS", "-c:a", "aac", "-b:a", AAC_BITRATE]
    cmd += ["-movflags", "+faststart", "-f", "mp4", "-y", str(out)]
    _run(cmd, f"re-encoding {source.path.name}")
    frames = round((plan.end - plan.first) / plan.frame)
    return ClipReport("reencode", _ms((plan.end - plan.first) * tb), _rel_ms(source, plan.first),
                      _rel_ms(source, plan.last), 0.0, "", frames, 0)


def _cut_copy(source: _Source, start_ms: int, end_ms: int, out: Path) -> ClipReport:
    cmd = ["-hide_banner", "-v", "error",
           "-ss", f"{start_ms / 1000:.3f}", "-i", str(source.path), "-t", f"{(end_ms - start_ms) / 1000:.3f}",
           "-map", f"0:{source.v_index}"]
    if source.audio is not None:
        cmd += ["-map", "0:a:0"]
    cmd += ["-c", "copy", "-movflags", "+faststart", "-f", "mp4", "-y", str(out)]
    _run(cmd, f"copying {start_ms}-{end_ms} ms of {source.path.name}")
    plan = _plan(source, start_ms, end_ms)
    info = _ffprobe(out, [])
    video = next((s for s in info.get("streams", []) if s.get("codec_type") == "video"), {})
    duration_ms = int(round((_float(video.get("duration")) or 0.0) * 1000))
    return ClipReport("copy", duration_ms, _rel_ms(source, plan.seek), _rel_ms(source, plan.last),
                      0.0, "keyframe-aligned stream copy: starts at the keyframe before the "
                      "start (hidden by an edit list in players that honour it)")


def _audio_input(source: _Source, plan: _Plan) -> list[str]:
    """Input options that cut the source's audio to the clip's time span (accurate seek)."""
    first_s = float(plan.first * source.tb) - source.start_s
    dur_s = float((plan.end - plan.first) * source.tb)
    return ["-ss", f"{first_s:.6f}", "-t", f"{dur_s:.6f}", "-vn", "-sn", "-dn", "-i", str(source.path)]


def _audio_codec(source: _Source) -> list[str]:
    if source.audio and source.audio.get("codec_name") == "aac":
        return ["-c:a", "copy"]
    return ["-c:a", "aac", "-b:a", AAC_BITRATE]


def _seek_args(source: _Source, keyframe_pts: int, frame_ticks: int) -> list[str]:
    """``-ss`` placing the demuxer on the keyframe at ``keyframe_pts``: MP4/MOV seeking lands on
    the last keyframe whose pts is at or before the target, so aim a quarter frame after it
    (``-ss`` is relative to the container start)."""
    target = (keyframe_pts + Fraction(frame_ticks, 4)) * source.tb - Fraction(source.start_s)
    return ["-ss", _us(target)] if target > 0 else []


def _color_args(v: dict) -> list[str]:
    args = []
    for key, opt in (("color_primaries", "-color_primaries"), ("color_transfer", "-color_trc"),
                     ("color_space", "-colorspace"), ("color_range", "-color_range")):
        value = v.get(key)
        if value and value not in ("unknown", "reserved"):
            args += [opt, value]
    if v.get("pix_fmt", "").startswith("yuvj") and "-color_range" not in args:
        args += ["-color_range", "pc"]
    return args


# --------------------------------------------------------------------------------------------
# helpers


def _run(cmd: list[str], what: str) -> None:
    run_ffmpeg(cmd, what)


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def _us(seconds: Fraction, up: bool = False) -> str:
    """Seconds as the concat demuxer reads them, to the microsecond (rounded up if ``up``)."""
    micro = math.ceil(seconds * 1_000_000) if up else round(seconds * 1_000_000)
    return f"{micro // 1_000_000}.{micro % 1_000_000:06d}" if micro >= 0 else f"{micro / 1e6:.6f}"


def _ticks(seconds: float, tb: Fraction) -> int:
    return round(Fraction(seconds) / tb)


def _ms(seconds: Fraction) -> int:
    return int(round(seconds * 1000))


def _rel_ms(source: _Source, pts: int) -> int:
    return int(round((float(pts * source.tb) - source.start_s) * 1000))


def _fraction(value) -> Fraction | None:
    try:
        rate = Fraction(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None

