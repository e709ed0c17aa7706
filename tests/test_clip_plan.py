"""Table tests of the pure smart-cut planner (:mod:`reko.pipeline.clips.plan`) over synthetic
packet lists: no ffmpeg, no files.

Each row describes a stream by its frame types in display order (``I`` keyframe, ``P``, ``B``;
B-frames are decoded after the next I/P frame, so ``…PBBI`` makes the ``I`` an open-GOP
keyframe; ``K`` is a keyframe decoded like a B-frame, after the frame shown next), a
requested ``[start_ms, end_ms)`` and the expected plan in frame numbers. The packets
go through the same steps as probed ones: ffprobe-style packet entries, read only inside the
windows :func:`probe.read_windows` asks ffprobe for, parsed by :func:`probe.video_packets`,
with :func:`probe.covered_ranges`.
"""

from __future__ import annotations

import builtins
import subprocess
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import pytest

from reko.errors import MediaError
from reko.pipeline.clips import plan, probe

TB = Fraction(1, 12800)  #: the MP4 video time base ffmpeg writes at 25 fps
F = 512  #: one frame at 25 fps, in TB ticks (40 ms)
MP4 = "mov,mp4,m4a,3gp,3g2,mj2"

P10 = ("I" + "P" * 9) * 4  # 40 frames (1.6 s), closed GOPs of 10, keyframes at 0, 10, 20, 30
B10 = "IBBPBBPBBP" * 4  # the same with two B-frames per P-frame (reorder delay 1 frame)
OPEN10 = ("I" + "P" * 7 + "BB") * 4  # every keyframe after the first has 2 leading B-frames


def entries(display: str, frame: int = F, delays=None) -> list[dict]:
    """ffprobe-style packet entries (decoding order) for frames typed by ``display`` (``I``, ``P``,
    ``B``, ``K``: see the module docstring).

    pts = display index × ``frame``; dts = decoding index × ``frame`` − the reorder delay (the
    smallest that keeps dts ≤ pts, or ``delays(display_index)`` frames)."""
    order, pending = [], []
    for i, kind in enumerate(display):
        if kind in "BK":
            pending.append(i)
        else:
            order += [i, *pending]
            pending = []
    order += pending
    delay = max(0, max(dec - disp for dec, disp in enumerate(order)))
    out = []
    for dec, disp in enumerate(order):
        d = delays(disp) if delays else delay
        out.append({"stream_index": 0, "pts": disp * frame, "dts": (dec - d) * frame,
                    "duration": frame, "flags": "K__" if display[disp] in "IK" else "___"})
    return out


def ffprobe_read(packets: list[dict], windows, tb: Fraction) -> dict:
    """What ``ffprobe -read_intervals`` lists: per window, from the keyframe at or before its
    start (the first keyframe when there is none) on, until a packet's dts passes its end."""
    read = []
    for a, b in windows:
        lo, hi = probe.ticks(a, tb), probe.ticks(b, tb)
        keys = [i for i, p in enumerate(packets) if "K" in p["flags"]]
        landing = [i for i in keys if packets[i]["pts"] <= lo]
        for p in packets[(landing[-1] if landing else keys[0]):]:
            if p["dts"] > hi:
                break
            read.append(p)
    return {"packets": read}


def source(display: str, start_ms: int, end_ms: int, *, fps: str = "25/1", tb: Fraction = TB,
           frame: int = F, delays=None, covered=None, fmt: str = MP4, **stream) -> probe.Source:
    """A probed H.264 High 4:2:0 progressive MP4 source made of ``display``, as
    :func:`probe.probe_source` would return it for a cut ``[start_ms, end_ms)``."""
    packets = entries(display, frame, delays)
    windows = probe.read_windows(start_ms / 1000, end_ms / 1000, 0.0)
    v = {"index": 0, "codec_name": "h264", "profile": "High", "pix_fmt": "yuv420p",
         "field_order": "progressive", "avg_frame_rate": fps, "r_frame_rate": fps, **stream}
    src = probe.Source(path=Path("synthetic.mp4"), format_name=fmt, start_s=0.0,
                       duration_s=float(len(display) * frame * tb), v_index=0, v=v, tb=tb,
                       audio=None, packets=[], covered=[])
    src.packets = probe.video_packets(ffprobe_read(packets, windows, tb), 0)
    src.covered = covered if covered is not None else probe.covered_ranges(src, windows)
    return src


def in_frames(p: plan.Plan, frame: int = F) -> dict:
    """The plan in frame numbers (every tick value must fall on a frame)."""
    def n(ticks):
        if ticks is None:
            return None
        assert ticks % frame == 0, ticks
        return ticks // frame
    return {"first": n(p.first), "last": n(p.last), "end": n(p.end),
            "k1": n(p.k1.pts) if p.k1 else None, "kl": n(p.kl.pts) if p.kl else None,
            "copy_to": n(p.copy_to), "stop": n(p.stop.pts) if p.stop else None, "seek": n(p.seek),
            "reencoded": p.reencoded_frames, "copied": p.copied_frames}


def expect(first, last, end, k1, kl, copy_to, stop, seek, reencoded, copied):
    """The expected plan, in frame numbers (see :func:`in_frames`)."""
    return dict(first=first, last=last, end=end, k1=k1, kl=kl, copy_to=copy_to, stop=stop,
                seek=seek, reencoded=reencoded, copied=copied)


@contextmanager
def no_io():
    """Inside, starting a process or touching a file fails: planning must do neither."""
    def refuse(*args, **kwargs):
        raise AssertionError("the planner did I/O")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(subprocess, "Popen", refuse)
        mp.setattr(builtins, "open", refuse)
        for name in ("stat", "exists", "is_file", "open", "resolve"):
            mp.setattr(Path, name, refuse)
        yield


LONG = ("I" + "P" * 124) * 6  # 30 s, a keyframe every 5 s (frames 0, 125, 250, ... 625)

ROWS = [
    # id, source kwargs, start_ms, end_ms, expected plan, smart-cut blocker (None: smart)
    ("cut points on keyframes: all copied", dict(display=P10), 400, 1200,
     expect(10, 29, 30, 10, 20, 30, 30, 10, 0, 20), None),
    ("mid-GOP start and end, no B-frames: head re-encoded, last GOP copied up to the end frame",
     dict(display=P10), 130, 1010, expect(4, 25, 26, 10, 20, 26, 26, 0, 6, 16), None),
    ("start at 0", dict(display=P10), 0, 520, expect(0, 12, 13, 0, 10, 13, 13, 0, 0, 13), None),
    ("end at the last frame: copied to the end of file (no stop packet)", dict(display=P10),
     900, 1600, expect(23, 39, 40, 30, 30, 40, None, 20, 7, 10), None),
    ("one keyframe inside: head re-encoded, the rest copied", dict(display=P10), 300, 700,
     expect(8, 17, 18, 10, 10, 18, 18, 0, 2, 8), None),
    ("no keyframe inside the range: re-encode", dict(display=P10), 450, 700,
     expect(12, 17, 18, None, None, 18, None, 10, 6, 0), "no clean keyframe inside the range"),
    ("single-keyframe source: re-encode fallback", dict(display="I" + "P" * 99), 1130, 3390,
     expect(29, 84, 85, None, None, 85, None, 0, 56, 0), "no clean keyframe inside the range"),
    ("B-frames, end inside the last GOP: copied up to the last closed P-group, its 2 B-frames "
     "after it re-encoded", dict(display=B10), 130, 1010,
     expect(4, 25, 26, 10, 20, 24, 26, 0, 8, 14), None),
    ("B-frames, end right after a closed P-group: nothing re-encoded at the end",
     dict(display=B10), 130, 960, expect(4, 23, 24, 10, 20, 24, 26, 0, 6, 14), None),
    ("B-frames, end at the last frame: copied to the end of file", dict(display=B10), 900, 1600,
     expect(23, 39, 40, 30, 30, 40, None, 20, 7, 10), None),
    ("open GOPs (leading B-frames) are no cut points: re-encode", dict(display=OPEN10), 130, 1010,
     expect(4, 25, 26, None, None, 26, None, 0, 22, 0), "no clean keyframe inside the range"),
    ("an open GOP is skipped, the next closed one is used",
     dict(display=OPEN10[:10] + ("I" + "P" * 9) * 3), 130, 1010,
     expect(4, 25, 26, 20, 20, 26, 26, 0, 16, 6), None),
    ("a keyframe decoded after a frame shown later is no cut point",
     dict(display=P10[:10] + "KP" + "P" * 8 + P10[20:]), 130, 1010,
     expect(4, 25, 26, 20, 20, 26, 26, 0, 16, 6), None),
    ("the decoding delay changes between the cut points: re-encode",
     dict(display=P10, delays=lambda i: 2 if i < 20 else 1), 130, 1010,
     expect(4, 25, 26, 10, 20, 26, 26, 0, 6, 16),
     "the stream's decoding delay changes between the cut points"),
    ("the re-encoded tail's DTS would not follow the copied ones: the last GOP is re-encoded "
     "from its keyframe", dict(display=B10, delays=lambda i: 3 if i < 20 else 1), 130, 1010,
     expect(4, 25, 26, 10, 20, 20, 20, 0, 12, 10),
     "the stream's decoding delay changes between the cut points"),
    ("29.97 fps: a start or end at a frame's rounded pts_ms is that frame (0.5 ms slack)",
     dict(display=P10, fps="30000/1001", tb=Fraction(1, 30000), frame=1001), 67, 434,
     expect(2, 12, 13, 10, 10, 13, 13, 0, 8, 3), None),
    ("long clip, two probe windows: a keyframe read in a window's last second is not trusted",
     dict(display=LONG), 5200, 25000, expect(130, 624, 625, 500, 500, 625, 625, 125, 370, 125), None),
    ("last frame read but not the end of file: the last GOP is re-encoded from its keyframe",
     dict(display=P10, covered=[(0, 38 * F)]), 900, 1600,
     expect(23, 39, 40, 30, 30, 30, 30, 20, 17, 0), None),
    ("no frame rate stated: the frame duration is the median pts step",
     dict(display=P10, fps="0/0"), 130, 1010, expect(4, 25, 26, 10, 20, 26, 26, 0, 6, 16), None),
]


@pytest.mark.parametrize("kwargs,start_ms,end_ms,expected,blocker", [r[1:] for r in ROWS],
                         ids=[r[0] for r in ROWS])
def test_plan(kwargs, start_ms, end_ms, expected, blocker):
    kwargs = dict(kwargs)
    src = source(kwargs.pop("display"), start_ms, end_ms, **kwargs)
    with no_io():
        cut = plan.plan_cut(src, start_ms, end_ms)
        reason = plan.smart_blocker(src, cut)
    assert in_frames(cut, kwargs.get("frame", F)) == expected
    assert reason == blocker


def test_stop_packet_is_the_first_not_copied_in_decoding_order():
    """With B-frames the copy stops at the next P-frame (decoded before the B-frames shown
    earlier), and its DTS, where the concat demuxer's outpoint cuts, follows the copied ones."""
    src = source(B10, 130, 1010)
    cut = plan.plan_cut(src, 130, 1010)
    order = [p.pts // F for p in src.packets]
    copied = order[order.index(20):src.packets.index(cut.stop)]
    assert sorted(copied) == list(range(20, 24)) and cut.stop.pts // F == 26
    assert all(p.dts < cut.stop.dts for p in src.packets[:src.packets.index(cut.stop)])


BLOCKERS = [
    (dict(codec_name="hevc"), "smart cut needs H.264, the source is hevc"),
    (dict(fmt="matroska,webm"), "smart cut needs MP4/MOV, the source is matroska,webm"),
    (dict(profile="High 4:4:4 Intra"), "H.264 profile High 4:4:4 Intra cannot be matched by libx264"),
    (dict(pix_fmt="gray"), "pixel format gray cannot be matched by libx264"),
    (dict(field_order="tt"), "interlaced video"),
    (dict(tb=Fraction(1, 2_000_000), frame=80_000), "odd time base 1/2000000"),
    (dict(profile="Constrained Baseline", pix_fmt="yuvj420p", field_order="unknown"), None),
]


@pytest.mark.parametrize("overrides,reason", BLOCKERS, ids=[str(r) for r, _ in BLOCKERS])
def test_smart_blocker_by_stream(overrides, reason):
    src = source(P10, 130, 1010, **overrides)
    cut = plan.plan_cut(src, 130, 1010)
    assert cut.k1 is not None and cut.kl is not None  # only the stream itself blocks
    assert plan.smart_blocker(src, cut) == reason


def test_no_packets_or_none_after_the_start_is_a_truncated_file():
    src = source(P10, 130, 1010)
    src.packets = []
    with pytest.raises(MediaError, match="no video frames near 130-1010 ms"):
        plan.plan_cut(src, 130, 1010)
    src = source(P10, 130, 1010)
    with pytest.raises(MediaError, match="no video frame at or after 1700 ms"):
        plan.plan_cut(src, 1700, 1800)


def test_read_windows_merge_when_close_and_split_when_far():
    assert probe.read_windows(2.0, 4.0, 0.0) == [(1.0, 5.5)]
    assert probe.read_windows(2.0, 30.0, 0.0) == [(1.0, 7.0), (25.0, 31.5)]
    assert probe.read_windows(0.5, 30.0, 10.0) == [(9.5, 15.5), (35.0, 41.5)]


def test_packets_read_twice_are_kept_once_and_discarded_ones_dropped():
    data = {"packets": [
        {"stream_index": 0, "pts": 0, "dts": 0, "duration": 512, "flags": "K__"},
        {"stream_index": 1, "pts": 0, "dts": 0, "duration": 1024, "flags": "K__"},  # audio
        {"stream_index": 0, "pts": 512, "dts": 512, "flags": "__D"},  # discarded
        {"stream_index": 0, "dts": 1024, "flags": "___"},  # no pts: dts stands in
        {"stream_index": 0, "pts": 0, "dts": 0, "duration": 512, "flags": "K__"},  # read again
    ]}
    assert probe.video_packets(data, 0) == [probe.Packet(0, 0, 512, True),
                                            probe.Packet(1024, 1024, 0, False)]
