"""The smart-cut planner: which frames are re-encoded at the edges and which span is
stream-copied. Pure: it reads only the probed facts (:class:`.probe.Source`: stream metadata
and the video packets near the cut points) and runs no process and touches no file.

A clip ``[start_ms, end_ms)`` holds every frame whose presentation time falls in that span,
with 0.5 ms of rounding slack (requested times are whole ms). In source ticks the plan is:

* head ``[first, k1)``: the partial GOP at the start, up to the first *clean* keyframe K1 (a
  closed GOP: no frame after it in decoding order is shown before it), re-encoded, decoded
  from the keyframe at or before ``first`` (``seek``);
* middle ``[k1, copy_to)``: stream-copied from the source; it ends inside the last GOP (from
  the last clean keyframe KL) after the longest prefix, in decoding order, that shows exactly
  the frames from KL up to some frame X (with B-frames such a prefix closes after every
  P-frame and its B-frames: its frames reference only each other);
* tail ``[copy_to, end)``: the frames after X (at most the B-frames of one group), re-encoded,
  decoded from KL.

:func:`smart_blocker` says when smart cut cannot apply to a source (codec, container, profile,
pixel format, interlacing, no clean keyframe inside the range, a changing decoding delay, odd
time bases); the caller then re-encodes the whole range. The method is the "smart rendering"
of editors such as LosslessCut, Avidemux and VideoReDo: re-encode only what the stream's
references force you to.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...errors import MediaError
from .probe import Packet, Source, ticks

#: Containers whose index lets the concat demuxer seek to a keyframe exactly.
SMART_FORMATS = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2")
#: ffprobe's H.264 profile names (lower case) → libx264's ``-profile:v`` value.
X264_PROFILES = {"baseline": "baseline", "constrained baseline": "baseline", "main": "main",
                 "high": "high", "high 10": "high10", "high 4:2:2": "high422",
                 "high 4:4:4 predictive": "high444"}
#: Pixel formats libx264 can encode, so the re-encoded edges match the copied middle.
X264_PIX_FMTS = ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p",
                 "yuv420p10le", "yuv422p10le", "yuv444p10le", "nv12")
#: How far from a keyframe, in decoding time (s), packets are checked for a closed GOP.
CLEAN_KEY_WINDOW_S = 2.0


@dataclass(frozen=True)
class Plan:
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
    k1: Packet | None
    kl: Packet | None
    copy_to: int
    stop: Packet | None
    seek: int

    @property
    def frames(self) -> int:
        """Output frames: ``end - first`` in nominal frame durations."""
        return round((self.end - self.first) / self.frame)

    @property
    def copied_frames(self) -> int:
        """Frames of the stream-copied middle ``[k1, copy_to)`` (0 without a clean keyframe)."""
        return round((self.copy_to - self.k1.pts) / self.frame) if self.k1 is not None else 0

    @property
    def reencoded_frames(self) -> int:
        """Frames a smart cut re-encodes (head and tail): :attr:`frames` − :attr:`copied_frames`."""
        return self.frames - self.copied_frames


def plan_cut(source: Source, start_ms: int, end_ms: int) -> Plan:
    """Plan the cut ``[start_ms, end_ms)`` (ms from the video start, already clamped to the
    duration) of ``source`` from its probed packets (see the module docstring).

    Raises:
        MediaError: no video packet was read near the range, or none at or after ``start_ms``
            (a truncated file).
    """
    tb, origin = source.tb, source.start_s
    tol = ticks(0.0005, tb)  # requested times are whole ms: 0.5 ms either way is "at"
    start_t = ticks(origin + start_ms / 1000, tb)
    end_t = ticks(origin + end_ms / 1000, tb)
    by_pts = sorted(source.packets, key=lambda p: p.pts)
    if not by_pts:
        raise MediaError(f"{source.path.name}: no video frames near {start_ms}-{end_ms} ms; "
                         "the file is probably truncated")
    frame = frame_ticks(source, by_pts)
    from_start = [p for p in by_pts if p.pts >= start_t - tol]
    if not from_start:
        raise MediaError(f"{source.path.name}: no video frame at or after {start_ms} ms")
    first = from_start[0]
    before_end = [p for p in by_pts if first.pts <= p.pts < end_t - tol]
    last = before_end[-1] if before_end else first
    end = last.pts + (last.duration or frame)
    keys = [p for p in by_pts if p.key and first.pts <= p.pts <= last.pts and is_clean_key(source, p)]
    after = next((p for p in by_pts if p.pts > last.pts), None)
    eof_read = any(hi > ticks(origin + source.duration_s, tb) for _, hi in source.covered)
    seeks = [p for p in by_pts if p.key and p.pts <= first.pts]
    kl = keys[-1] if keys else None
    copy_to, stop = end, None
    if kl is not None:
        copy_to, stop = copy_until(source, by_pts, kl, last, end, keys[0].pts - keys[0].dts)
        if stop is None and not (after is None and eof_read):
            copy_to, stop = kl.pts, kl  # cannot tell where the copy would stop: re-encode from KL
    return Plan(first.pts, last.pts, end, frame, keys[0] if keys else None, kl, copy_to, stop,
                seeks[-1].pts if seeks else by_pts[0].pts)


def copy_until(source: Source, by_pts: list[Packet], kl: Packet, last: Packet, end: int,
               delay: int) -> tuple[int, Packet | None]:
    """How much of the last GOP (from the keyframe ``kl``) can be stream-copied: the longest
    prefix, in decoding order, that shows exactly the frames ``kl .. X`` with ``X <= last``
    (closed: its frames reference only each other, since references precede in decoding
    order; with B-frames one closes after every P-frame and its B-frames). Returns
    ``(copy_to, stop)``: the pts after ``X`` (where the re-encoded rest of the tail starts; ``end``
    when the prefix reaches ``last``) and the first packet not copied (``None`` at end of file).
    Only the few frames after ``X`` are then re-encoded instead of the whole partial GOP. The
    re-encoded rest starts with DTS = PTS − ``delay``, which must follow the copied DTS; when
    it would not, the copy stops at ``kl`` and the tail is re-encoded from there.

    ``by_pts`` is ``source.packets`` sorted by pts; ``end`` is the pts just after ``last``."""
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


def frame_ticks(source: Source, by_pts: list[Packet]) -> int:
    """Nominal frame duration (ticks, at least 1): from the stream's average (else real base)
    frame rate, or the median pts step of ``by_pts`` when the stream states no rate."""
    rate = as_fraction(source.v.get("avg_frame_rate")) or as_fraction(source.v.get("r_frame_rate"))
    if rate:
        return max(1, round(1 / (rate * source.tb)))
    diffs = sorted(b.pts - a.pts for a, b in zip(by_pts, by_pts[1:]) if b.pts > a.pts)
    return diffs[len(diffs) // 2] if diffs else 1


def is_clean_key(source: Source, key: Packet) -> bool:
    """A keyframe the stream can be cut at: every packet before it in decoding order is shown
    before it and every packet after it is shown at or after it (a closed GOP: no leading
    B-frames that reference the previous GOP), checked over :data:`CLEAN_KEY_WINDOW_S` of
    decoding time either side, and its surroundings were probed (its pts is in ``covered``)."""
    if not any(lo <= key.pts <= hi for lo, hi in source.covered):
        return False
    packets = source.packets
    i = packets.index(key)
    window = ticks(CLEAN_KEY_WINDOW_S, source.tb)
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


def smart_blocker(source: Source, plan: Plan) -> str | None:
    """Why smart cut cannot be used for ``plan`` (``None`` when it can): a sentence for
    :attr:`ClipReport.reason`."""
    v = source.v
    if v.get("codec_name") != "h264":
        return f"smart cut needs H.264, the source is {v.get('codec_name')}"
    if not any(name in SMART_FORMATS for name in source.format_name.split(",")):
        return f"smart cut needs MP4/MOV, the source is {source.format_name}"
    if (v.get("profile") or "").lower() not in X264_PROFILES:
        return f"H.264 profile {v.get('profile')} cannot be matched by libx264"
    if v.get("pix_fmt") not in X264_PIX_FMTS:
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


def as_fraction(value) -> Fraction | None:
    """A positive rate such as ffprobe's ``"25/1"`` as a Fraction; ``None`` when missing,
    malformed, zero (``"0/0"``) or negative."""
    try:
        rate = Fraction(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None
