"""Timelines out (issue 15, item 3): a search's segments as an edit decision list for editing
software, written by OpenTimelineIO's adapters (not by hand).

Formats (:data:`FORMATS`):

* ``edl``: CMX 3600 EDL (adapter ``cmx_3600``, PyPI ``otio-cmx3600-adapter``). One video
  track of cuts; the reel is an 8-character ASCII name derived from the source file name
  (unique per source), the source file name in ``* FROM CLIP NAME:`` and its URL in
  ``* FROM CLIP:`` comments. A ``FCM: DROP FRAME`` / ``FCM: NON-DROP FRAME`` line (CMX 3600
  frame code mode) follows the title; drop-frame timecodes (``;`` before the frames) at 29.97
  and 59.94 fps.
* ``fcpxml``: Final Cut Pro X XML 1.8 (adapter ``fcpx_xml``, PyPI ``otio-fcpx-xml-adapter``).
  Times are rational seconds on the source's frame grid (``1001/30000s`` per frame at
  29.97). The adapter leaves ``frameDuration`` empty for NTSC rates (it looks the rate up by
  ``int(rate)``) and names the format after an ffprobe of the file; reko sets the
  ``<format>``'s ``frameDuration``, ``width`` and ``height`` from the catalog and drops the
  guessed name (FCPXML reference, "format": a custom format is defined by these attributes).
* ``xml``: Final Cut Pro 7 XML (xmeml 4, adapter ``fcp_xml``, PyPI ``otio-fcp-adapter``), which
  Premiere Pro and DaVinci Resolve import; NTSC rates as ``<timebase>30</timebase><ntsc>TRUE``.
* ``otio``: OpenTimelineIO's own JSON (``otio_json``, built in); each clip also carries
  ``metadata["reko"]`` (``video_id``, the segment's ``start_ms``/``end_ms``, ``frame_ms``,
  ``text``).

Frames: a segment ``[start_ms, end_ms)`` (ms from the first frame of the video, as reko
samples them) holds every frame whose presentation time falls in it with 0.5 ms of rounding
slack, the rule of the clip cutter (:mod:`reko.pipeline.clips.plan`): frame ``k`` is shown at
``k / rate`` s, so the clip is frames ``ceil((start_ms - 0.5) * rate / 1000)`` up to (not
including) ``ceil((end_ms - 0.5) * rate / 1000)``, at least one frame, within the video's
``round(duration_ms * rate / 1000)`` frames (:func:`frame_range`). Rates are exact fractions:
a catalog rate within 0.01 of 23.976/29.97/59.94 is ``24000/1001``/``30000/1001``/``60000/1001``
(:func:`standard_rate`). Source timecode starts at 00:00:00:00 (reko's files carry no
timecode track); the record side (the edit) starts at 00:00:00:00 too, clips back to back in
the order of the search's segments.

EDL, FCPXML and FCP 7 XML have one frame rate per timeline: segments from sources at
different rates are a :class:`QueryError` for them (export per video); ``otio`` keeps each
clip at its own rate.

OpenTimelineIO docs: https://opentimelineio.readthedocs.io (``opentime``, ``schema.Clip``,
adapters); CMX 3600: the "CMX 3600 EDL" specification (event lines ``NNN REEL V C SRC_IN
SRC_OUT REC_IN REC_OUT``, ``FCM`` lines); FCPXML: Apple's "FCPXML Reference" (``format``,
``asset``, ``clip``, rational time values).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence
from urllib.parse import quote
from xml.etree import ElementTree

from ..errors import FaultError, QueryError
from .segments import Segment

#: format name → (OpenTimelineIO adapter, file suffix, media type)
FORMATS: dict[str, tuple[str, str, str]] = {
    "edl": ("cmx_3600", ".edl", "text/plain; charset=utf-8"),
    "fcpxml": ("fcpx_xml", ".fcpxml", "application/xml"),
    "xml": ("fcp_xml", ".xml", "application/xml"),
    "otio": ("otio_json", ".otio", "application/json"),
}
#: the rates editors use, as exact fractions (NTSC rates are n*1000/1001)
STANDARD_RATES = (Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
                  Fraction(50), Fraction(60000, 1001), Fraction(60))
#: rates whose timecode is drop-frame (SMPTE 12M): 29.97 and 59.94
DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))
MAX_CLIPS = 5000  #: larger exports must be narrowed first
REEL_CHARS = 8  #: CMX 3600 reel names


@dataclass(frozen=True)
class SourceMedia:
    """One source video of a timeline: ``name`` (the original file name, shown to editors),
    ``url`` (where the file is: a ``file://`` URL, or the name when it is not local), ``fps``
    (frames per second as the catalog has it), ``duration_ms``, ``width``/``height`` (px)."""

    video_id: str
    name: str
    url: str
    fps: float
    duration_ms: int
    width: int = 0
    height: int = 0

    @property
    def rate(self) -> Fraction:
        """``fps`` as an exact frame rate (:func:`standard_rate`)."""
        return standard_rate(self.fps)


def standard_rate(fps: float) -> Fraction:
    """``fps`` as an exact fraction: the standard rate within 0.01 fps (29.97 →
    ``30000/1001``), else ``fps`` itself with a denominator of at most 1001.

    Raises:
        QueryError: ``fps`` is not a positive number.
    """
    if not fps or not math.isfinite(fps) or fps <= 0:
        raise QueryError(f"a source has no usable frame rate ({fps!r} fps)")
    for rate in STANDARD_RATES:
        if abs(float(rate) - fps) < 0.01:
            return rate
    return Fraction(fps).limit_denominator(1001)


def frame_range(start_ms: int, end_ms: int, rate: Fraction, duration_ms: int) -> tuple[int, int]:
    """The frames of the segment ``[start_ms, end_ms)`` at ``rate``: ``(first, end)``, ``end``
    exclusive (see the module docstring), at least one frame, within the video's frames."""
    total = max(1, round(Fraction(duration_ms) * rate / 1000))
    first = math.ceil((Fraction(start_ms) - Fraction(1, 2)) * rate / 1000)
    end = math.ceil((Fraction(end_ms) - Fraction(1, 2)) * rate / 1000)
    first = min(max(0, first), total - 1)
    end = min(max(end, first + 1), total)
    return first, end


def reel_names(sources: Sequence[SourceMedia]) -> dict[str, str]:
    """video_id → a CMX 3600 reel name: up to :data:`REEL_CHARS` ASCII letters/digits from
    the file name (accents stripped; ``R`` + the video id when nothing is left, e.g. a Hangul
    name), made unique by a numeric suffix."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for source in sources:
        stem = source.name.rsplit(".", 1)[0] if "." in source.name.strip(".") else source.name
        ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
        reel = re.sub(r"[^A-Za-z0-9]", "", ascii_stem).upper()[:REEL_CHARS] or f"R{source.video_id}".upper()[:REEL_CHARS]
        n = 1
        while reel in used:
            n += 1
            reel = reel[:REEL_CHARS - len(str(n))] + str(n)
        used.add(reel)
        out[source.video_id] = reel
    return out


def _otio() -> Any:
    try:
        import opentimelineio
    except ImportError as exc:
        raise FaultError("timeline export needs OpenTimelineIO: pip install 'reko[timeline]'",
                         detail=str(exc)) from None
    return opentimelineio


def build_timeline(segments: Sequence[Segment], sources: dict[str, SourceMedia], name: str) -> Any:
    """An ``opentimelineio.schema.Timeline`` named ``name`` with one video track: one clip per
    segment, in order, back to back, each at its source's rate (see the module docstring).

    Raises:
        QueryError: no segments, more than :data:`MAX_CLIPS`, or a segment of an unknown source.
        FaultError: OpenTimelineIO is not installed.
    """
    otio = _otio()
    RationalTime, TimeRange = otio.opentime.RationalTime, otio.opentime.TimeRange
    if not segments:
        raise QueryError("the search matched nothing: no timeline to export")
    if len(segments) > MAX_CLIPS:
        raise QueryError(f"{len(segments)} segments; narrow the search to at most {MAX_CLIPS} to export them")
    missing = sorted({s.video_id for s in segments} - set(sources))
    if missing:
        raise QueryError(f"no source video for {', '.join(missing)}")
    reels = reel_names([sources[v] for v in dict.fromkeys(s.video_id for s in segments)])
    timeline = otio.schema.Timeline(name=name)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for seg in segments:
        source = sources[seg.video_id]
        rate = float(source.rate)
        first, end = frame_range(seg.start_ms, seg.end_ms, source.rate, source.duration_ms)
        total = max(1, round(Fraction(source.duration_ms) * source.rate / 1000))
        reference = otio.schema.ExternalReference(
            target_url=source.url,
            available_range=TimeRange(RationalTime(0, rate), RationalTime(total, rate)))
        clip = otio.schema.Clip(name=source.name, media_reference=reference,
                                source_range=TimeRange(RationalTime(first, rate), RationalTime(end - first, rate)))
        clip.metadata["cmx_3600"] = {"reel": reels[seg.video_id]}
        clip.metadata["reko"] = {"video_id": seg.video_id, "start_ms": seg.start_ms, "end_ms": seg.end_ms,
                                 "frame_ms": seg.frame_ms, "text": seg.text}
        track.append(clip)
    return timeline


def export_timeline(segments: Sequence[Segment], sources: dict[str, SourceMedia], fmt: str,
                    name: str = "reko") -> bytes:
    """The segments as a timeline file of format ``fmt`` (:data:`FORMATS`), UTF-8 bytes.

    Raises:
        QueryError: unknown format, nothing to export, too many segments, or sources at
            different frame rates for a single-rate format (every format but ``otio``).
        FaultError: OpenTimelineIO or the format's adapter package is not installed.
    """
    if fmt not in FORMATS:
        raise QueryError(f"unknown timeline format {fmt!r}: use one of {', '.join(FORMATS)}")
    adapter, _, _ = FORMATS[fmt]
    rates = {sources[s.video_id].rate for s in segments if s.video_id in sources}
    if fmt != "otio" and len(rates) > 1:
        shown = ", ".join(f"{float(r):.3f}".rstrip("0").rstrip(".") for r in sorted(rates))
        raise QueryError(f"the segments come from videos at different frame rates ({shown} fps); an "
                         f"{fmt.upper()} timeline has one rate: export one video at a time (--video), or use otio")
    timeline = build_timeline(segments, sources, name)
    otio = _otio()
    if adapter not in otio.adapters.available_adapter_names():
        raise FaultError(f"the {fmt} export needs its OpenTimelineIO adapter ({adapter}): "
                         "pip install 'reko[timeline]'")
    text = otio.adapters.write_to_string(timeline, adapter)
    (rate,) = rates if len(rates) == 1 else (None,)
    if fmt == "edl" and rate is not None:
        text = _with_frame_code_mode(text, rate in DROP_FRAME_RATES)
    elif fmt == "fcpxml" and rate is not None:
        first = sources[segments[0].video_id]
        text = _fix_fcpxml_format(text, rate, first.width, first.height)
    return text.encode("utf-8")


def _with_frame_code_mode(edl: str, drop_frame: bool) -> str:
    """``edl`` with the CMX 3600 ``FCM:`` line after its ``TITLE:`` line (the adapter writes
    none; its timecodes already use ``;`` at drop-frame rates)."""
    fcm = "FCM: DROP FRAME" if drop_frame else "FCM: NON-DROP FRAME"
    lines = edl.split("\n")
    at = 1 if lines and lines[0].startswith("TITLE:") else 0
    return "\n".join([*lines[:at], fcm, *lines[at:]])


def _fix_fcpxml_format(xml: str, rate: Fraction, width: int, height: int) -> str:
    """The adapter's FCPXML with every ``<format>`` defined by ``frameDuration`` (one frame at
    ``rate``, as rational seconds), ``width`` and ``height``, without the guessed name."""
    root = ElementTree.fromstring(xml.encode("utf-8"))
    frame = 1 / rate
    duration = f"{frame.numerator}/{frame.denominator}s" if frame.denominator != 1 else f"{frame.numerator}s"
    for fmt in root.iter("format"):
        fmt.set("frameDuration", duration)
        fmt.attrib.pop("name", None)
        if width and height:
            fmt.set("width", str(width))
            fmt.set("height", str(height))
    body = ElementTree.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n' + body + "\n"


def file_url(path: str) -> str:
    """A ``file://`` URL for an absolute local ``path`` (percent-encoded, UTF-8)."""
    return "file://" + quote(path)


def suggested_filename(query_text: str, fmt: str) -> str:
    """A file name for an export: ``reko-<query words>.<suffix>`` (file-name safe)."""
    words = re.sub(r"[^\w-]+", "-", query_text, flags=re.UNICODE).strip("-")[:60]
    return f"reko-{words or 'search'}{FORMATS[fmt][1]}"
