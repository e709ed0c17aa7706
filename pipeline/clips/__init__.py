"""Cut clips out of a video, frame-accurately, at close to stream-copy speed ("smart cut").

A clip ``[start_ms, end_ms)`` holds every source frame whose presentation time falls in that
span (like ffmpeg's ``trim``; times are ms from the video's start, the timeline of
:func:`reko.pipeline.media.sample_frames`' ``pts_ms``, with 0.5 ms of rounding slack): the first
output frame is at ``start_ms`` or less than a frame after it, the last is less than a frame
before ``end_ms``, and the duration is within a frame of ``end_ms - start_ms``. A clip that
starts at a sampled frame's ``pts_ms`` starts with exactly that frame. Three ways to cut:

``smart`` (default, H.264 in MP4/MOV)
    Re-encode only the partial GOP at the start and the few frames at the end that the stream's
    references force, stream-copy the rest, and join the parts (see :mod:`.plan` for what is
    re-encoded and why, :mod:`.cut` for how).
``copy``
    ``-ss/-t -c copy``: fastest, but starts at the keyframe before ``start_ms`` and is only as
    accurate as the keyframe spacing. Offered as the baseline.
``reencode``
    Decode and re-encode the whole range (libx264 + AAC). Always frame-accurate; the fallback
    when smart cut is impossible (other codecs including HEVC, no keyframe inside the range,
    open GOPs, interlaced video, containers other than MP4/MOV such as MKV or MPEG-TS, odd time
    bases, a decoding delay that changes) or when a smart-cut step fails.

Modules: :mod:`.probe` (one ffprobe run: streams and the packets near the cut points),
:mod:`.plan` (the pure planner: which frames are re-encoded and which are copied),
:mod:`.cut` (the ffmpeg runs and zips). Every ffmpeg/ffprobe process goes through
:func:`reko.pipeline.media.run_ffmpeg`.
"""

from __future__ import annotations

from .cut import MODES, ClipReport, clip_name, cut_clip, cut_clips_zip

__all__ = ["ClipReport", "MODES", "clip_name", "cut_clip", "cut_clips_zip"]
