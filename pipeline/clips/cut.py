"""Run the cuts: ffmpeg for smart, copy and full re-encode cuts, and zips of clips.

Every ffmpeg process goes through :func:`reko.pipeline.media.run_ffmpeg` (argument lists,
``-nostdin``, stderr captured into :class:`FfmpegError`). What to cut comes from the pure
planner (:mod:`.plan`); the facts it plans on from one ffprobe run (:mod:`.probe`).

Smart cut (H.264 in MP4/MOV): the partial GOP at the start is re-encoded with libx264 using the
source's profile, level, pixel format, size, SAR, colour description and time base (decoding
starts at the keyframe before the cut: input seeking); the middle is stream-copied straight out
of the source (concat demuxer ``inpoint``/``outpoint``, which cuts the copied part on decoding
timestamps); only the frames after the copied start of the last GOP are re-encoded, decoded
from its keyframe. Both re-encodes run in one ffmpeg process; the parts are joined by the concat
demuxer, whose ``auto_convert`` puts each part's own SPS/PPS in-band so the joined H.264 stream
decodes cleanly. The re-encoded parts have no B-frames and their decoding timestamps are shifted
(``setts``) by the source's reorder delay, so DTS stay monotonic across the joins. Audio is cut
from the source in the same final pass (AAC copied, anything else re-encoded to AAC) on the same
timeline. Cost: three processes (probe, edges, join; each about a stream copy's start-up) plus
decoding at most about two GOPs and encoding at most about one; measured, process by process,
by ``benchmarks/clips.py``.

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
from typing import Any, Iterable, Sequence

from ...errors import FfmpegError, MediaError
from ..media import run_ffmpeg
from .plan import X264_PROFILES, Plan, plan_cut, smart_blocker
from .probe import Source, as_float, probe_json, probe_source

#: libx264 settings of full re-encodes (``reencode`` mode and smart cut's fallback).
X264_PRESET = "superfast"
X264_CRF = 18
#: libx264 settings of smart cut's re-encoded edges (at most a GOP at the start and 3 frames at
#: the end). Measured on the 720p benchmark head (48 frames): ultrafast/20 costs ~0.3 CPU-s less
#: than superfast/18 (about -37 % of the encode), is 1.3x its size and 47.9 dB PSNR against the
#: source frames (superfast/18: 49.6 dB) -- a cheaper encode for a seam no one can see.
#: Read at call time: ``benchmarks/clips.py`` swaps it on this module to compare settings.
EDGE_X264 = ("-preset", "ultrafast", "-crf", "20")
#: AAC bit rate when audio has to be re-encoded.
AAC_BITRATE = "160k"
#: Cut modes of :func:`cut_clip`.
MODES = ("smart", "copy", "reencode")


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


def cut_clip(src: Path, start_ms: int, end_ms: int, out: Path, mode: str = "smart") -> ClipReport:
    """Cut ``[start_ms, end_ms)`` of ``src`` (ms from the video start) into the MP4 ``out``.

    ``mode`` is ``smart`` (frame-accurate, re-encodes only the partial GOPs at both ends and
    stream-copies the rest; falls back to ``reencode`` when it cannot apply, see
    :func:`.plan.smart_blocker`, or when a smart-cut step fails), ``copy`` (keyframe-aligned
    stream copy, inaccurate) or ``reencode`` (frame-accurate full re-encode). ``end_ms`` beyond
    the video is clamped to its duration. ``out`` is written atomically (a temporary file in the
    same folder, renamed at the end).

    Returns:
        ClipReport: the mode used, output duration and the source times of the first/last frame.

    Raises:
        MediaError: ``src`` is not a readable video, ``start_ms >= end_ms``, ``start_ms`` is
            negative or past the end, ``mode`` is unknown, or ``out``'s folder does not exist.
        FfmpegError: ffmpeg/ffprobe is missing or failed (its stderr tail is in ``detail``).
    """
    began = time.perf_counter()
    src, out = Path(src), Path(out)
    if mode not in MODES:
        raise MediaError(f"unknown clip mode {mode!r}; use one of {', '.join(MODES)}")
    start_ms, end_ms = int(start_ms), int(end_ms)
    if start_ms < 0:
        raise MediaError(f"clip start {start_ms} ms is negative; times are ms from the video start")
    if start_ms >= end_ms:
        raise MediaError(f"clip start {start_ms} ms is not before its end {end_ms} ms")
    if not out.parent.is_dir():
        raise MediaError(f"cannot write {out}: folder {out.parent} does not exist; create it first")
    if out.suffix.lower() not in (".mp4", ".m4v"):
        raise MediaError(f"{out.name}: clips are MP4; name the output *.mp4")
    source = probe_source(src, start_ms, end_ms)
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
            plan = plan_cut(source, start_ms, end_ms)
            reason = smart_blocker(source, plan) if mode == "smart" else "re-encode requested"
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
# the three ways to cut


def _cut_smart(source: Source, plan: Plan, out: Path, tmp_dir: Path) -> ClipReport:
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
    run_ffmpeg(cmd, f"joining the clip parts of {source.path.name}")
    return ClipReport("smart", _ms((plan.end - plan.first) * tb), _rel_ms(source, plan.first),
                      _rel_ms(source, plan.last), 0.0, "", plan.reencoded_frames,
                      plan.copied_frames)


def _copy_video_only(source: Source, entry: list[str], tmp_dir: Path) -> Path:
    """Stream-copy the source's part described by the concat ``entry`` into a video-only MP4."""
    concat = tmp_dir / "middle.ffconcat"
    concat.write_text("ffconcat version 1.0\n" + "\n".join(entry) + "\n", encoding="utf-8")
    out = tmp_dir / "middle.mp4"
    run_ffmpeg(["-hide_banner", "-v", "error", "-f", "concat", "-safe", "0",
                "-i", str(concat), "-map", f"0:{source.v_index}", "-c", "copy",
                "-video_track_timescale", str(source.tb.denominator), "-f", "mp4", "-y", str(out)],
               f"copying the middle of {source.path.name}")
    return out


def _encode_parts(source: Source, jobs: Sequence[tuple[Path, int, int, int]], delay: int,
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
                "-profile:v", X264_PROFILES[v["profile"].lower()]]
        if level and int(level) >= 10:
            cmd += ["-level:v", f"{int(level) / 10:.1f}"]
        cmd += _color_args(v)
        cmd += ["-bsf:v", f"setts=dts=PTS-{delay}", "-video_track_timescale", str(tb.denominator),
                "-f", "mp4", "-y", str(out)]
    run_ffmpeg(cmd, f"re-encoding the partial GOPs of {source.path.name}")


def _cut_reencode(source: Source, plan: Plan, out: Path) -> ClipReport:
    """Decode from ``plan.seek`` and re-encode ``[plan.first, plan.end)`` (libx264 + AAC)."""
    tb = source.tb
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
    run_ffmpeg(cmd, f"re-encoding {source.path.name}")
    return ClipReport("reencode", _ms((plan.end - plan.first) * tb), _rel_ms(source, plan.first),
                      _rel_ms(source, plan.last), 0.0, "", plan.frames, 0)


def _cut_copy(source: Source, start_ms: int, end_ms: int, out: Path) -> ClipReport:
    """``-ss/-t -c copy``: starts at the keyframe before ``start_ms`` (the inaccurate baseline)."""
    cmd = ["-hide_banner", "-v", "error",
           "-ss", f"{start_ms / 1000:.3f}", "-i", str(source.path), "-t", f"{(end_ms - start_ms) / 1000:.3f}",
           "-map", f"0:{source.v_index}"]
    if source.audio is not None:
        cmd += ["-map", "0:a:0"]
    cmd += ["-c", "copy", "-movflags", "+faststart", "-f", "mp4", "-y", str(out)]
    run_ffmpeg(cmd, f"copying {start_ms}-{end_ms} ms of {source.path.name}")
    plan = plan_cut(source, start_ms, end_ms)
    info = probe_json(out, [])
    video: dict[str, Any] = next((s for s in info.get("streams", []) if s.get("codec_type") == "video"), {})
    duration_ms = int(round((as_float(video.get("duration")) or 0.0) * 1000))
    return ClipReport("copy", duration_ms, _rel_ms(source, plan.seek), _rel_ms(source, plan.last),
                      0.0, "keyframe-aligned stream copy: starts at the keyframe before the "
                      "start (hidden by an edit list in players that honour it)")


# --------------------------------------------------------------------------------------------
# ffmpeg arguments and time formats


def _audio_input(source: Source, plan: Plan) -> list[str]:
    """Input options that cut the source's audio to the clip's time span (accurate seek)."""
    first_s = float(plan.first * source.tb) - source.start_s
    dur_s = float((plan.end - plan.first) * source.tb)
    return ["-ss", f"{first_s:.6f}", "-t", f"{dur_s:.6f}", "-vn", "-sn", "-dn", "-i", str(source.path)]


def _audio_codec(source: Source) -> list[str]:
    """AAC is copied; any other audio codec is re-encoded to AAC at :data:`AAC_BITRATE`."""
    if source.audio and source.audio.get("codec_name") == "aac":
        return ["-c:a", "copy"]
    return ["-c:a", "aac", "-b:a", AAC_BITRATE]


def _seek_args(source: Source, keyframe_pts: int, frame_ticks: int) -> list[str]:
    """``-ss`` placing the demuxer on the keyframe at ``keyframe_pts``: MP4/MOV seeking lands on
    the last keyframe whose pts is at or before the target, so aim a quarter frame after it
    (``-ss`` is relative to the container start)."""
    target = (keyframe_pts + Fraction(frame_ticks, 4)) * source.tb - Fraction(source.start_s)
    return ["-ss", _us(target)] if target > 0 else []


def _color_args(v: dict) -> list[str]:
    """libx264 options repeating the source's colour description (full range for ``yuvj*``)."""
    args = []
    for key, opt in (("color_primaries", "-color_primaries"), ("color_transfer", "-color_trc"),
                     ("color_space", "-colorspace"), ("color_range", "-color_range")):
        value = v.get(key)
        if value and value not in ("unknown", "reserved"):
            args += [opt, value]
    if v.get("pix_fmt", "").startswith("yuvj") and "-color_range" not in args:
        args += ["-color_range", "pc"]
    return args


def _quote(path: Path) -> str:
    """``path`` single-quoted for an ffconcat ``file`` line."""
    return "'" + str(path).replace("'", "'\\''") + "'"


def _us(seconds: Fraction, up: bool = False) -> str:
    """Seconds as the concat demuxer reads them, to the microsecond (rounded up if ``up``)."""
    micro = math.ceil(seconds * 1_000_000) if up else round(seconds * 1_000_000)
    return f"{micro // 1_000_000}.{micro % 1_000_000:06d}" if micro >= 0 else f"{micro / 1e6:.6f}"


def _ms(seconds: Fraction) -> int:
    """``seconds`` in whole ms, rounded."""
    return int(round(seconds * 1000))


def _rel_ms(source: Source, pts: int) -> int:
    """Source pts (ticks) as ms from the video start (the container start time removed)."""
    return int(round((float(pts * source.tb) - source.start_s) * 1000))
