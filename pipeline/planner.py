"""The analysis planner: which sampled frames are analysed, and by which analyses.

One module for both engines: the local ingest (frames from ffmpeg) and the AWS Lambdas (frames
from MediaConvert's frame capture) offer it the same sampled frames in time order and get the
same decisions, so a saving measured locally is the saving on AWS (and what ``reko estimate``
bills). It imports numpy and Pillow only (the ``JobStateFunction`` Lambda carries nothing else).

Decisions, frame by frame (RGB uint8 H×W×3 in, :class:`PlannedFrame` or None out):

1. **Documents.** A frame that is a near-duplicate of the last kept frame
   (:class:`reko.pipeline.dedup.DuplicateFilter`, the 128×72 grey fingerprint) is skipped: the
   kept frame stands for it (its span grows to the next kept frame). Every kept frame becomes
   one document.
2. **Shots.** A kept frame starts a shot when it is the first, or when at least
   :data:`CUT_FRACTION` of its fingerprint cells changed since the previous *sampled* frame
   (see the constant for the measurement against PySceneDetect).
3. **Per analysis.** Each analysis keeps the fingerprint of the frame it last ran on (its
   reference) and runs again only when needed; otherwise its result carries over from that
   frame and the document says so (``analysed_ms``):

   * ``text`` — on every kept frame: a frame is kept exactly when some region changed by more
     than a one-letter caption (``REKO_DEDUP_THRESHOLD_CELLS``), and at one sample per second
     no cheap signal tells a caption appearing over moving footage from the motion itself
     (measured: band-shaped changed regions of natural motion in bikes.mp4 are as large as a
     caption's, and so is their edge contrast). When at most :data:`TEXT_BAND_MAX_FRACTION`
     of the picture changed since text was last read, the plan also names the changed
     horizontal bands (``text_bands``): the local engine reads only those (DetectText
     ``RegionsOfInterest``) and the lines outside them carry over, each with its own
     ``analysed_ms``. With the local engine's **text finder** (rapidocr's detector at 480 px
     in the ingest process, :mod:`reko.pipeline.analysis.text_boxes`, ≈0.04 s), a frame of a
     moving shot (or whose changed bands cover more than :data:`TEXT_BANDS_MAX_HEIGHT` of
     the height) is read only in the bands where the finder sees text, nothing carried; a
     frame where it sees none is not read at all (``text_bands == ()``: no lines, analysed
     on this frame); and a frame showing the text of the frame read last, unchanged (the same
     boxes, the same binarised pixels: ``TextBoxDetector.same_text``, which tells a caption
     held over moving footage from one changed by a character), is not read either: that
     frame's lines carry over. In a still shot a changed band meeting text grows to hold that
     text whole (:func:`widen_bands`). Shot starts are always read whole.
   * ``labels``, ``moderation`` — once per shot, and again within a shot when at least
     :data:`REFRESH_FRACTION` of the cells changed since the frame they ran on and
     :data:`REFRESH_MIN_MS` have passed.
   * ``faces`` — with a face tracker (the local engine: :class:`FaceTracker` around BlazeFace),
     IndexFaces (landmarks + embedding) runs only when a detected face starts a new track (and
     on its first :data:`TRACK_EARLY_EMBEDS` frames), when a track's identity is older than
     :data:`TRACK_REEMBED_MS`, or at a shot start with faces on screen; on the other frames
     the detector's boxes of *this* frame are reported with the person of their track
     (``embedded_ms`` says which frame's embedding). Without a tracker (the Lambdas: no
     detector there), IndexFaces runs once per shot, on the labels' refresh rule, and in a
     still shot (at most :data:`STILL_FRACTION` of the cells changed since the previous
     sample) when a compact region of at least :data:`FACE_CHANGE_CELLS` cells changed since
     it ran (someone came in; a caption band is wider than :data:`FACE_MAX_ASPECT`) and
     :data:`FACE_REFRESH_MIN_MS` have passed; its result carries over.

What the Lambdas save vs what the local engine saves. Both: near-duplicates skipped, labels
and moderation once per shot (+ refresh), IndexFaces on the rule above — the decisions and the
calls ``reko estimate`` bills (measured on ``benchmarks/ingest.py``'s clip: 31 % of the naive
calls, DetectText alone 17 % since it runs on every kept frame). The local engine additionally
(a) tracks faces with BlazeFace on every kept frame (≈10–30 ms) and runs the embedding
(≈75 ms per face plus landmarks) only for new tracks, (b) reads text only in the changed bands
of a still shot (≈ 1/3 of a full frame's CPU) and, within moving shots, only where its text
finder sees text and the text is not the one read last (measured on the same clip: 33 of 53
kept frames read, 13 without text, 7 carrying the caption read a second earlier), (c) loads
its engines while sampling starts.

Carrying over needs the result of an earlier frame when a later one is documented: the local
ingest and the AWS batch consumer keep it in a :class:`CarryState` and store that state at
every commit point (index checkpoint / SQS batch), so a resumed ingest or the next batch
continues with exactly the results an uninterrupted run would have carried
(:func:`merge_carried`, shared by both). Person records get a row for every face shown in a
document (:func:`record_unindexed_faces`), so face counts and screen time cover carried and
tracked frames.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, Sequence

import numpy as np

from .dedup import DELTA_LEVELS, DuplicateFilter, fingerprint

#: Analyses the planner decides on (``REKO_FEATURES`` names).
ANALYSES = ("text", "faces", "labels", "moderation")

#: A kept frame starts a new shot when at least this fraction of its fingerprint cells changed
#: since the previous sampled frame. Measured on ``benchmarks/ingest.py``'s clip at 1 fps
#: (``benchmarks/shots.py`` prints it): the 7 joins between different clips change 0.78–0.86
#: of the cells; motion within a shot (street footage, bikes.mp4) at most 0.65. PySceneDetect's
#: ContentDetector on every frame (25 fps) also finds 8 cuts *inside* bikes.mp4 (street shots
#: 1–2 s long) that change 0.48–0.65 of the cells between samples, as much as motion does: at one
#: sample per second they cannot be told from motion, and the refresh rule below covers them.
CUT_FRACTION = 0.7

#: Within a shot, labels and moderation run again when at least this fraction of the cells
#: changed since the frame they last ran on (half the picture is new) …
REFRESH_FRACTION = 0.5
#: … and at least this long after it (ms). Measured on ``benchmarks/ingest.py``'s clip with
#: labels only (CenterNet, 79 samples; every kept frame labelled finds 17 label names with the
#: implied ones): 4000 ms → 13 DetectLabels calls, misses Traffic Light and Fire Hydrant;
#: 2000 ms → 16 calls, misses Fire Hydrant only (seen on a single street frame; 1000 ms and
#: a refresh at 35 % or 25 % of the cells did not find it either, at 17–23 calls).
REFRESH_MIN_MS = 2000

#: Without a face tracker, IndexFaces runs again in a still shot when a connected region of at
#: least this many fingerprint cells changed since it last ran: a 58 px face (the smallest
#: BlazeFace full range finds at 720p) covers ≈6×6 cells of 10×10 px …
FACE_CHANGE_CELLS = 36
#: … whose bounding box is at most this much wider than tall (a face, a person, a picture in
#: picture; a caption band of the benchmark clip is 8–30 times wider than tall) …
FACE_MAX_ASPECT = 2.0
#: … in a shot that is still: at most this fraction of the cells changed since the previous
#: sample (talking heads in carphone change 0.07–0.17, street footage 0.24–0.65) …
STILL_FRACTION = 0.2
#: … and at least this long after it last ran (ms).
FACE_REFRESH_MIN_MS = 2000

#: With a face tracker: a track's identity (embedding → person) is refreshed when older than
#: this (ms), so a long track that drifts onto another person is re-identified within 5 s.
TRACK_REEMBED_MS = 5000
#: … and a new track is embedded on its first :data:`TRACK_EARLY_EMBEDS` kept frames at least
#: :data:`TRACK_EARLY_MS` apart: a person gets several reference faces (the first one may be
#: blurred or turned away, and photo search compares with a person's best face). Measured on
#: carphone_pristine at 5 fps: with one embedding per 5 s, a blurred photo of the man from an
#: x264 CRF 28 re-encode matched nobody; with three in the first 2 s it matches at ≥ 95.
TRACK_EARLY_EMBEDS = 3
TRACK_EARLY_MS = 1000

#: A detection continues a track when its box overlaps the track's last box by at least this
#: IoU (one sample per second: a talking head moves little; SORT, Bewley et al. 2016, uses 0.3) …
TRACK_IOU = 0.3
#: … or, failing that, when its centre is within this many face widths of the track's last
#: centre and its size within 1.5× and its grey 16×16 appearance correlates at
#: :data:`TRACK_APPEARANCE` (a face that moved further than its own size in one second).
#: Both chosen, not tuned: a wrong match costs at most one person assignment until the next
#: re-embedding (:data:`TRACK_REEMBED_MS`), a missed match one extra IndexFaces call.
TRACK_MAX_SHIFT = 1.5
TRACK_APPEARANCE = 0.6

#: Local engine only: when at most this fraction of the cells changed since the frame text was
#: last read (and no cut), the text is re-read only in the horizontal bands holding the changed
#: cells (each widened by :data:`TEXT_BAND_MARGIN_CELLS`); lines outside them carry over from
#: that frame, each line saying so (its ``analysed_ms``). In a still shot a caption change is a
#: band ≈ 1/6 of the frame: detection there costs ≈ 1/6 of a full frame's.
TEXT_BAND_MAX_FRACTION = 0.25
#: Margin added above and below each changed band (cells of 10 px at 720p).
TEXT_BAND_MARGIN_CELLS = 2
#: Local engine with a text finder (:mod:`reko.pipeline.analysis.text_boxes`): when the frame
#: changed too much for bands (a moving shot), or the changed bands cover more than this
#: fraction of the height (a talking head moves in most rows), text is read only in the bands
#: where the finder sees text, and nothing carries over; finder bands covering more than this
#: fraction are read as the whole frame instead. Measured: on ``benchmarks/ingest.py``'s clip
#: the changed bands of the carphone and bigbuckbunny shots cover 0.8–1.0 of the height, the
#: finder's 0.15–0.2, a caption change in a still shot 0.15; on the caption test set, reading
#: the finder's bands finds the same captions as whole frames (52/54 and 22/22); but text
#: filling much of a small frame (bikes.mp4's TAXI sign, 52 of 272 px: a 0.34 band) is lost
#: by the detector in a band and found in the whole frame.
TEXT_BANDS_MAX_HEIGHT = 0.3

#: Result fields each analysis contributes to a document (what carries over).
CARRIED_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text_lines", "text"),
    "labels": ("detected_labels",),
    "moderation": ("moderation", "unsafe_confidence"),
    "faces": ("faces",),
}


def changed_mask(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Boolean mask of fingerprint cells whose grey level differs by more than
    :data:`reko.pipeline.dedup.DELTA_LEVELS` (shape of the fingerprints, 72×128)."""
    return np.abs(a.astype(np.int16) - b.astype(np.int16)) > DELTA_LEVELS


@dataclass(frozen=True)
class TrackedFace:
    """A face the local tracker found on a frame: ``track_id`` (per video, in order of
    appearance), ``box`` (Rekognition ``BoundingBox`` ratios of the frame, as measured on
    this frame), ``confidence`` 0–100 (the detector's), ``new`` (this frame starts its track)."""

    track_id: int
    box: dict[str, float]
    confidence: float
    new: bool


@dataclass
class PlannedFrame:
    """A kept frame: ``frame_ms`` (its presentation time), ``end_ms`` (the span it stands for
    ends here: the next kept frame's time, or the video's end), ``analyses`` (run on this
    frame), ``carried`` (analysis → ``frame_ms`` of the earlier frame whose result stands for
    this one), ``shot_start``, ``faces``: the tracker's faces on this frame (``None``
    without a tracker), and ``text_bands``: when text runs on part of the frame only (local
    engine, see :data:`TEXT_BAND_MAX_FRACTION`), the ``BoundingBox`` bands to read and
    ``text_source_ms``, the frame whose lines outside them carry over (``None``: read it all;
    with bands, they are the text finder's: nothing carries over). ``text_bands == ()``: the
    finder saw no text, so nothing is read and the frame has no lines."""

    frame_ms: int
    end_ms: int
    analyses: tuple[str, ...]
    carried: dict[str, int] = field(default_factory=dict)
    shot_start: bool = False
    faces: tuple[TrackedFace, ...] | None = None
    text_bands: tuple[dict[str, float], ...] | None = None
    text_source_ms: int | None = None

    @property
    def calls(self) -> tuple[str, ...]:
        """The :attr:`analyses` that call an analyser: all but ``text`` on a frame where the
        text finder saw none (``text_bands == ()``: its empty result needs no call)."""
        return tuple(a for a in self.analyses if not (a == "text" and self.text_bands == ()))

    @property
    def analysed_ms(self) -> dict[str, int]:
        """Analysis → the frame (ms) its result comes from: this frame for the analyses run
        here, the source frame for carried ones (the documents' ``analysed_ms``)."""
        out = {a: self.frame_ms for a in self.analyses}
        if self.faces is not None:  # the tracker's detector measured this frame's faces
            out["faces"] = self.frame_ms
        out.update(self.carried)
        return out


FaceDetector = Callable[[np.ndarray], Sequence[tuple[Sequence[float], float]]]


class TextFinder(Protocol):
    """The local engine's text finder (:class:`reko.pipeline.analysis.text_boxes.TextBoxDetector`)."""

    def find(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        """RGB uint8 H×W×3 → text boxes ``(left, top, right, bottom)`` in pixels."""

    def same_text(self, before: np.ndarray, boxes_before: list[tuple[float, float, float, float]],
                  after: np.ndarray, boxes_after: list[tuple[float, float, float, float]]) -> bool:
        """True when the text in ``boxes_before`` on ``before`` is unchanged on ``after``."""


class FaceTracker:
    """IoU/appearance tracking of a fast detector's faces across kept frames (local engine only).

    ``detect`` maps an RGB uint8 H×W×3 frame to ``[(box_px (left, top, right, bottom),
    confidence 0–100)]`` (e.g. :meth:`reko.pipeline.analysis.faces.FaceEngine.find`). Greedy
    matching, best IoU first (SORT without the Kalman filter: at 1 sample/s a constant-velocity
    prediction is no better than the last box), then by centre distance + appearance.
    Deterministic: track ids count up from 0 per video.
    """

    def __init__(self, detect: FaceDetector, min_confidence: float = 0.0):
        self.detect = detect
        self.min_confidence = float(min_confidence)
        self._tracks: dict[int, dict[str, Any]] = {}  # id → {box_px, patch, embedded_ms}
        self._next_id = 0

    def reset(self) -> None:
        """End every track (a shot cut)."""
        self._tracks.clear()

    def update(self, image: np.ndarray, cut: bool) -> tuple[list[TrackedFace], list[dict[str, Any]]]:
        """Detect faces on a kept frame and match them to the tracks; tracks not seen on this
        frame end. Returns the frame's faces and their track records (same order)."""
        if cut:
            self.reset()
        height, width = image.shape[:2]
        grey = np.asarray(image, dtype=np.float32).mean(axis=2)
        found = [(tuple(float(v) for v in box), float(conf)) for box, conf in self.detect(image)
                 if conf >= self.min_confidence]
        pairs = []
        for i, (box, _) in enumerate(found):
            for tid, track in self._tracks.items():
                overlap = iou(box, track["box_px"])
                if overlap >= TRACK_IOU:
                    pairs.append((overlap, i, tid))
        pairs.sort(reverse=True)
        assigned: dict[int, int] = {}
        used: set[int] = set()
        for _, i, tid in pairs:
            if i not in assigned and tid not in used:
                assigned[i] = tid
                used.add(tid)
        patches = [_patch(grey, box) for box, _ in found]
        for i, (box, _) in enumerate(found):
            if i in assigned:
                continue
            best = None
            for tid, track in self._tracks.items():
                if tid in used or not _near(box, track["box_px"]):
                    continue
                score = _correlation(patches[i], track["patch"])
                if score >= TRACK_APPEARANCE and (best is None or score > best[0]):
                    best = (score, tid)
            if best is not None:
                assigned[i] = best[1]
                used.add(best[1])
        faces, records = [], []
        tracks: dict[int, dict[str, Any]] = {}
        for i, (box, conf) in enumerate(found):
            known = assigned.get(i)
            new = known is None
            if known is None:
                tid = self._next_id
                self._next_id += 1
                tracks[tid] = {"embedded_ms": None}
            else:
                tid = known
                tracks[tid] = self._tracks[tid]
            tracks[tid]["box_px"], tracks[tid]["patch"] = box, patches[i]
            faces.append(TrackedFace(tid, _ratios(box, width, height), round(conf, 2), new))
            records.append(tracks[tid])
        self._tracks = tracks
        return faces, records


class AnalysisPlanner:
    """Decides frame by frame, in time order. ``features`` are the configured analyses
    (``REKO_FEATURES``); ``dedup_threshold_cells`` is ``REKO_DEDUP_THRESHOLD_CELLS``;
    ``face_tracker`` (local engine only) turns on per-track face planning; ``every_frame``
    plans every analysis on every kept frame (the naive baseline of the benchmarks)."""

    def __init__(self, features: Iterable[str], dedup_threshold_cells: int,
                 face_tracker: FaceTracker | None = None, every_frame: bool = False,
                 text_finder: TextFinder | None = None):
        self.features = tuple(features)
        #: the rule before issue 14 (every kept frame gets every analysis, no tracker): the
        #: baseline ``benchmarks/ingest.py`` measures against
        self.every_frame = every_frame
        if every_frame:
            face_tracker = None
        self._dedup = DuplicateFilter(dedup_threshold_cells)
        self._tracker = face_tracker if "faces" in self.features else None
        self._text_finder = text_finder if "text" in self.features and not every_frame else None
        self._previous: np.ndarray | None = None  # fingerprint of the previous sampled frame
        # (frame_ms, image, finder boxes) of the moving-shot frame text was last read on, in
        # the finder's bands: what a later frame's text is compared with
        self._text_read: tuple[int, np.ndarray, list[tuple[float, float, float, float]]] | None = None
        self._refs: dict[str, tuple[int, np.ndarray]] = {}  # analysis → (frame_ms, fingerprint)
        self.sampled = 0  #: frames offered
        self.planned = 0  #: frames kept (documents)
        self.shots = 0  #: shots started
        self.runs = {a: 0 for a in self.features}  #: frames each analysis runs on
        self.text_found_none = 0  #: moving-shot frames where the text finder saw no text (not read)

    def offer(self, frame_ms: int, image: np.ndarray) -> PlannedFrame | None:
        """The plan for a sampled frame (RGB uint8 H×W×3) at ``frame_ms``, or None when it is
        skipped (the previous kept frame stands for it). A returned frame's ``end_ms`` is
        provisional until the next frame is planned or the video ends (see :func:`plan_spans`)."""
        self.sampled += 1
        current = fingerprint(image)
        previous, self._previous = self._previous, current
        if self._dedup.is_duplicate(image, current):
            return None
        self.planned += 1
        cells = current.size
        cut = previous is None or bool(changed_mask(current, previous).sum() >= CUT_FRACTION * cells)
        self.shots += int(cut)
        run: list[str] = []
        carried: dict[str, int] = {}
        faces = None
        if self._tracker is not None:
            faces, records = self._tracker.update(image, cut)
        text_bands, text_source = None, None
        text_ref = self._refs.get("text")
        text_read, self._text_read = self._text_read, None
        text_same = False
        if "text" in self.features and not cut and text_ref is not None and not self.every_frame:
            mask = changed_mask(current, text_ref[1])
            if mask.mean() <= TEXT_BAND_MAX_FRACTION:
                text_bands, text_source = bands(mask), text_ref[0]
            if self._text_finder is not None:
                boxes = self._text_finder.find(image)
                found = text_box_bands(boxes, *image.shape[:2])
                if text_bands is None or sum(b["Height"] for b in text_bands) > TEXT_BANDS_MAX_HEIGHT:
                    # motion in most rows: read only where the finder sees text, carry nothing …
                    text_bands, text_source = found, None
                    self.text_found_none += not found
                    if sum(b["Height"] for b in found) > TEXT_BANDS_MAX_HEIGHT:
                        text_bands = None  # text over much of the frame: read it whole
                    elif text_read is not None and text_read[0] == text_ref[0] and \
                            self._text_finder.same_text(text_read[1], text_read[2], image, boxes):
                        # … unless it is the text read last, unchanged: carried from there
                        text_same, text_bands, self._text_read = True, None, text_read
                    elif found:
                        self._text_read = (frame_ms, image, list(boxes))
                else:  # a still shot: a changed band meeting text grows to hold the text whole
                    text_bands = widen_bands(text_bands, found)
        for analysis in self.features:
            ref = self._refs.get(analysis)
            if analysis == "faces" and self._tracker is not None:
                due = any(r["embedded_ms"] is None or frame_ms - r["embedded_ms"] >= (
                    TRACK_EARLY_MS if r.get("embeds", 0) < TRACK_EARLY_EMBEDS else TRACK_REEMBED_MS)
                    for r in records)
                if due:
                    for r in records:
                        r["embedded_ms"] = frame_ms
                        r["embeds"] = r.get("embeds", 0) + 1
                    run.append(analysis)
                # no face, or all faces in known tracks: this frame's boxes, persons from tracks
                continue
            if analysis == "text" and text_same:
                assert ref is not None  # text_same compares with the frame text was read on
                carried[analysis] = ref[0]
            elif self.every_frame or cut or ref is None or self._due(analysis, frame_ms, current, ref,
                                                                     previous):
                run.append(analysis)
                self._refs[analysis] = (frame_ms, current)
            else:
                carried[analysis] = ref[0]
        plan = PlannedFrame(frame_ms=frame_ms, end_ms=frame_ms + 1, analyses=tuple(run),
                            carried=carried, shot_start=cut,
                            faces=tuple(faces) if faces is not None else None,
                            text_bands=text_bands, text_source_ms=text_source)
        for analysis in plan.calls:
            self.runs[analysis] = self.runs.get(analysis, 0) + 1
        return plan

    @staticmethod
    def _due(analysis: str, frame_ms: int, current: np.ndarray, ref: tuple[int, np.ndarray],
             previous: np.ndarray | None) -> bool:
        """Within a shot: is ``analysis`` due again on this kept frame? (rules in the module doc)"""
        if analysis == "text":
            return True
        mask = changed_mask(current, ref[1])
        changed = int(mask.sum())
        elapsed = frame_ms - ref[0]
        if changed >= REFRESH_FRACTION * current.size and elapsed >= REFRESH_MIN_MS:
            return True
        if analysis != "faces" or elapsed < FACE_REFRESH_MIN_MS or changed < FACE_CHANGE_CELLS:
            return False
        if previous is None or changed_mask(current, previous).mean() > STILL_FRACTION:
            return False
        return any(cells >= FACE_CHANGE_CELLS and width <= FACE_MAX_ASPECT * height
                   for cells, height, width in regions(mask))


def bands(mask: np.ndarray, margin: int = TEXT_BAND_MARGIN_CELLS) -> tuple[dict[str, float], ...]:
    """Full-width ``BoundingBox`` bands (ratios) covering the rows of a cell mask that hold a
    changed cell, each widened by ``margin`` rows; overlapping bands are merged."""
    rows = mask.shape[0]
    changed = np.flatnonzero(mask.any(axis=1))
    spans: list[list[int]] = []
    for row in (int(r) for r in changed):
        top, bottom = max(0, row - margin), min(rows, row + margin + 1)
        if spans and top <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], bottom)
        else:
            spans.append([top, bottom])
    return tuple({"Width": 1.0, "Height": (b - t) / rows, "Left": 0.0, "Top": t / rows}
                 for t, b in spans)


def text_box_bands(boxes: Sequence[Sequence[float]], height: int, width: int) -> tuple[dict[str, float], ...]:
    """Full-width ``BoundingBox`` bands (ratios) around text boxes ``(left, top, right, bottom)``
    px of a ``height``×``width`` frame: each box's rows widened by a quarter of its height and
    :data:`TEXT_BAND_MARGIN_CELLS` cells (the finder reads a 480 px copy, the reader 960 px),
    overlapping bands merged; ``()`` without boxes. Full width: a line the finder saw in part
    is read whole."""
    cell = height / 72  # a fingerprint cell's height in pixels (72 rows, dedup.fingerprint)
    spans = []
    for _, top, _, bottom in boxes:
        pad = (bottom - top) / 4 + TEXT_BAND_MARGIN_CELLS * cell
        spans.append((max(0.0, top - pad) / height, min(float(height), bottom + pad) / height))
    return _full_width(spans)


def widen_bands(changed: Sequence[dict[str, float]], text: Sequence[dict[str, float]]) -> tuple[dict[str, float], ...]:
    """The full-width ``changed`` bands, each grown to cover the ``text`` bands it meets (and
    merged where they then overlap); ``text`` bands meeting no changed band are left out.
    Measured on ``benchmarks/ingest.py``'s clip: the changed band of a caption in the still
    shot starts inside the caption's box, and the recogniser misread its JPEG crop ('기상 틀보
    발령'); grown to the finder's band around the caption it reads '기상 특보 발령', as the
    whole frame does."""
    spans = []
    for band in changed:
        top, bottom = band["Top"], band["Top"] + band["Height"]
        for t in text:
            t_top, t_bottom = t["Top"], t["Top"] + t["Height"]
            if t_top <= bottom and t_bottom >= top:
                top, bottom = min(top, t_top), max(bottom, t_bottom)
        spans.append((top, bottom))
    return _full_width(spans)


def _full_width(spans: Iterable[tuple[float, float]]) -> tuple[dict[str, float], ...]:
    """Full-width ``BoundingBox`` bands for row spans ``(top, bottom)`` (ratios of the height),
    sorted, merged where they overlap or touch."""
    merged: list[list[float]] = []
    for top, bottom in sorted(spans):
        if merged and top <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], bottom)
        else:
            merged.append([top, bottom])
    return tuple({"Width": 1.0, "Height": b - t, "Left": 0.0, "Top": t} for t, b in merged)


def regions(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """Connected regions (4-neighbour) of a boolean cell mask: (cells, height, width) of each,
    height/width of its bounding box in cells. Pure numpy + Python (runs in the Lambdas)."""
    seen = np.zeros_like(mask, dtype=bool)
    out = []
    rows, cols = mask.shape
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        stack, seen[y0, x0] = [(y0, x0)], True
        cells, top, bottom, left, right = 0, y0, y0, x0, x0
        while stack:
            y, x = stack.pop()
            cells += 1
            top, bottom, left, right = min(top, y), max(bottom, y), min(left, x), max(right, x)
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < rows and 0 <= nx < cols and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        out.append((cells, int(bottom - top + 1), int(right - left + 1)))
    return out


def plan_spans(planned: list[PlannedFrame], duration_ms: int) -> list[PlannedFrame]:
    """Close the spans of frames planned in time order: each ends where the next begins, the
    last at the video's end (or 1 ms after itself when the duration is shorter). Returns
    ``planned`` (modified in place)."""
    for current, following in zip(planned, planned[1:]):
        current.end_ms = following.frame_ms
    if planned:
        planned[-1].end_ms = max(duration_ms, planned[-1].frame_ms + 1)
    return planned


# -- carrying results over ----------------------------------------------------------------------

@dataclass
class CarryState:
    """The latest result of each analysis (analysis → (``frame_ms`` it was measured on, its
    :data:`CARRIED_FIELDS`)) and, with the local tracker, each face track's identity (track id
    → ``face_id``, ``person_id``, ``embedded_ms``). Kept by whoever builds documents in frame
    order; stored at commit points (:meth:`to_json`) so a resume or the next AWS batch carries
    exactly what an uninterrupted run would."""

    results: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    tracks: dict[int, dict[str, Any]] = field(default_factory=dict)

    def remember(self, frame_ms: int, analyses: Iterable[str], fields: dict[str, Any]) -> None:
        """Record the fields of the analyses that ran on ``frame_ms`` (those ``fields`` holds)."""
        for analysis in analyses:
            names = CARRIED_FIELDS.get(analysis, ())
            if names and all(n in fields for n in names):
                self.results[analysis] = (frame_ms, {n: fields[n] for n in names})

    def carried(self, analysis: str, source_ms: int) -> dict[str, Any] | None:
        """The fields of ``analysis`` measured on ``source_ms`` (a copy), or None when this
        state does not hold that result (a failed earlier batch, a missing feature)."""
        held = self.results.get(analysis)
        if held is None or held[0] != source_ms:
            return None
        return json.loads(json.dumps(held[1]))

    def to_json(self) -> bytes:
        """UTF-8 JSON of the state."""
        return json.dumps({"results": {a: [ms, f] for a, (ms, f) in self.results.items()},
                           "tracks": {str(t): v for t, v in self.tracks.items()}},
                          ensure_ascii=False, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "CarryState":
        """The state :meth:`to_json` wrote. Raises ValueError for anything else."""
        try:
            raw = json.loads(data)
            return cls(results={a: (int(ms), dict(f)) for a, (ms, f) in raw["results"].items()},
                       tracks={int(t): dict(v) for t, v in raw.get("tracks", {}).items()})
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a carry state ({type(exc).__name__})") from None


def carry_key(video_id: str, point: str) -> str:
    """Storage key of the carry state stored at a commit point (``point``: the checkpoint ms
    locally, ``b<batch>`` on AWS), under the video's ``frames/`` prefix (deleted with it)."""
    return f"frames/{video_id}/carry-{point}.json"


def unindexed_face_id(video_id: str, frame_ms: int, index: int) -> str:
    """The ``face_id`` of tracked face ``index`` of a frame where it was detected but not
    indexed (local tracker): a UUID (Rekognition's FaceId format) derived from the frame, so a
    resumed ingest writes the same ids. It names this occurrence in the person records (face
    count, screen time, remove-face, merge); it is not in the face collection, so it never
    attracts other faces. (A face *carried over* keeps the id of the face it is: see
    :func:`record_unindexed_faces`.)"""
    return str(uuid.uuid5(_FACE_NAMESPACE, f"{video_id}:{frame_ms}:{index}"))


_FACE_NAMESPACE = uuid.UUID("5b1b6a8e-7d4e-4c1f-9a51-3f0c2d6e9b70")  # reko's, fixed


def record_unindexed_faces(persons: Any, video_id: str, frame_ms: int, span_ms: int,
                           faces: list[dict[str, Any]]) -> None:
    """Person records for a document's faces that were not indexed on this frame
    (``embedded_ms`` ≠ ``frame_ms``), so persons' face counts and screen time cover every frame:

    * a face *carried over* from an earlier frame (AWS planner) is that frame's face: its row's
      ``span_ms`` grows to the end of this frame's span (idempotent: it only grows);
    * a face the local tracker *measured* on this frame (a new id, :func:`unindexed_face_id`)
      gets its own row, with its track's person, not ``good``, not associated with any user.

    ``persons`` is a :class:`reko.pipeline.persons.PersonStore` (its ``records``)."""
    from dataclasses import replace

    from .person_records import FaceRow

    for face in faces:
        if face.get("embedded_ms") == frame_ms or not face.get("face_id"):
            continue
        row = persons.records.face(face["face_id"])
        if row is not None and row.frame_ms != frame_ms:  # carried over: the source face's row
            end_ms = frame_ms + span_ms
            if row.frame_ms + row.span_ms < end_ms:
                persons.records.put_face(replace(row, span_ms=end_ms - row.frame_ms))
            continue
        persons.records.put_face(FaceRow(
            face_id=face["face_id"], person_id=face.get("person_id"), video_id=video_id,
            frame_ms=frame_ms, span_ms=span_ms, box=dict(face["box"]),
            confidence=float(face["confidence"]), good=False, associated=False))


def tracked_faces(plan: PlannedFrame, state: CarryState) -> list[dict[str, Any]]:
    """Document ``faces`` of a frame whose faces were not embedded (local tracker): the
    detector's boxes measured on this frame, each with its track's identity (``face_id``,
    ``person_id`` from the frame the track was embedded on, ``embedded_ms``); ``good`` is
    False (the face shaped no person). Faces of tracks without an identity get
    ``person_id`` None."""
    out = []
    for face in plan.faces or ():
        ident = state.tracks.get(face.track_id, {})
        out.append({"face_id": ident.get("face_id") or "", "person_id": ident.get("person_id"),
                    "confidence": face.confidence, "box": dict(face.box), "good": False,
                    "embedded_ms": ident.get("embedded_ms")})
    return out


def link_tracks(plan: PlannedFrame, faces: list[dict[str, Any]], state: CarryState) -> None:
    """After IndexFaces ran on a tracked frame: give each track the identity of the indexed
    face its box overlaps most (IoU ≥ :data:`TRACK_IOU`), and mark ``embedded_ms`` on those
    faces."""
    for face in faces:
        face.setdefault("embedded_ms", plan.frame_ms)
    for tracked in plan.faces or ():
        best = max(faces, key=lambda f: _box_iou(f["box"], tracked.box), default=None)
        if best is not None and _box_iou(best["box"], tracked.box) >= TRACK_IOU:
            state.tracks[tracked.track_id] = {"face_id": best["face_id"],
                                              "person_id": best["person_id"],
                                              "embedded_ms": plan.frame_ms}
        else:
            state.tracks.setdefault(tracked.track_id, {"face_id": "", "person_id": None,
                                                       "embedded_ms": plan.frame_ms})
    live = {f.track_id for f in plan.faces or ()}
    for tid in [t for t in state.tracks if t not in live]:
        del state.tracks[tid]


def merge_carried(plan: PlannedFrame, fields: dict[str, Any], carry: CarryState,
                  features: list[str] | tuple[str, ...],
                  video_id: str = "") -> tuple[dict[str, Any], list[str], dict[str, int]]:
    """The fields of one planned frame: what its analyses returned (``fields``, from
    :func:`~reko.pipeline.analyze.analyse_frame`) plus the results carried over from earlier
    frames (from ``carry``) and, with the local tracker, this frame's tracked faces. Returns
    (fields, the analyses that ran here, ``analysed_ms``). Shared by the local ingest and the
    AWS batch consumer; a carried result that ``carry`` does not hold is left out (nothing is
    invented)."""
    fields = dict(fields)
    ran = [a for a in plan.analyses if a in features
           and (("face_records" in fields) if a == "faces" else
                all(n in fields for n in CARRIED_FIELDS.get(a, ())))]
    analysed_ms = {a: plan.frame_ms for a in ran}
    for analysis, source_ms in plan.carried.items():
        if analysis not in features:
            continue
        held = carry.carried(analysis, source_ms)
        if held is not None:
            fields.update(held)
            analysed_ms[analysis] = source_ms
    if "text" in ran and plan.text_bands is not None and plan.text_source_ms is not None:
        held = carry.carried("text", plan.text_source_ms)
        if held is not None:  # lines outside the bands read now: unchanged, carried over
            kept = [{**line, "analysed_ms": line.get("analysed_ms", plan.text_source_ms)}
                    for line in held["text_lines"]
                    if all(_overlap(line["box"], band) < 0.5 for band in plan.text_bands)]
            lines = sorted(kept + list(fields.get("text_lines", [])),
                           key=lambda ln: (round(ln["box"]["Top"], 2), ln["box"]["Left"]))
            fields["text_lines"] = lines
            fields["text"] = "\n".join(line["text"] for line in lines)
    if plan.faces is not None and "faces" in features:
        analysed_ms["faces"] = plan.frame_ms  # the tracker's detector measured this frame
        if "faces" not in ran:
            fields["faces"] = [{**face, "face_id": unindexed_face_id(video_id, plan.frame_ms, i)}
                               for i, face in enumerate(tracked_faces(plan, carry))]
            live = {face.track_id for face in plan.faces}
            for track_id in [t for t in carry.tracks if t not in live]:
                del carry.tracks[track_id]  # ended tracks
    return fields, ran, analysed_ms


# -- geometry helpers ---------------------------------------------------------------------------

def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(left, top, right, bottom)`` boxes (any one unit)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _overlap(box: dict[str, float], region: dict[str, float]) -> float:
    """Fraction of ``box``'s area inside ``region`` (BoundingBox ratios)."""
    left, top = max(box["Left"], region["Left"]), max(box["Top"], region["Top"])
    right = min(box["Left"] + box["Width"], region["Left"] + region["Width"])
    bottom = min(box["Top"] + box["Height"], region["Top"] + region["Height"])
    area = box["Width"] * box["Height"]
    return max(0.0, right - left) * max(0.0, bottom - top) / area if area > 0 else 0.0


def _box_iou(a: dict[str, float], b: dict[str, float]) -> float:
    def ltrb(box):
        return (box["Left"], box["Top"], box["Left"] + box["Width"], box["Top"] + box["Height"])
    return iou(ltrb(a), ltrb(b))


def _near(a: Sequence[float], b: Sequence[float]) -> bool:
    wa, wb = a[2] - a[0], b[2] - b[0]
    if min(wa, wb) <= 0 or max(wa, wb) > 1.5 * min(wa, wb):
        return False
    dx = (a[0] + a[2]) / 2 - (b[0] + b[2]) / 2
    dy = (a[1] + a[3]) / 2 - (b[1] + b[3]) / 2
    return (dx * dx + dy * dy) ** 0.5 <= TRACK_MAX_SHIFT * max(wa, wb)


def _patch(grey: np.ndarray, box: Sequence[float], side: int = 16) -> np.ndarray:
    """Zero-mean, unit-norm side×side grey patch of a box (nearest-neighbour sampling)."""
    h, w = grey.shape
    x0, y0 = int(max(0, box[0])), int(max(0, box[1]))
    x1, y1 = int(min(w, max(x0 + 1, box[2]))), int(min(h, max(y0 + 1, box[3])))
    ys = np.linspace(y0, y1 - 1, side).astype(int)
    xs = np.linspace(x0, x1 - 1, side).astype(int)
    patch = grey[np.ix_(ys, xs)].astype(np.float32)
    patch -= patch.mean()
    norm = float(np.linalg.norm(patch))
    return patch / norm if norm > 0 else patch


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum())


def _ratios(box: Sequence[float], width: int, height: int) -> dict[str, float]:
    left, top = max(0.0, box[0] / width), max(0.0, box[1] / height)
    right, bottom = min(1.0, box[2] / width), min(1.0, box[3] / height)
    return {"Width": round(right - left, 5), "Height": round(bottom - top, 5),
            "Left": round(left, 5), "Top": round(top, 5)}
