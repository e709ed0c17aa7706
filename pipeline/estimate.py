"""Cost before processing: what ingesting videos on AWS would call and cost (``reko estimate``).

The frame decisions are made for real, locally: each video is probed and sampled at
``REKO_SAMPLE_FPS`` by :func:`reko.pipeline.media.sample_frames` and offered to the analysis
planner (:class:`reko.pipeline.planner.AnalysisPlanner`, at ``REKO_DEDUP_THRESHOLD_CELLS``,
without the local face tracker) — exactly what the AWS ``on_job_state`` Lambda does with the
MediaConvert captures, so the calls counted here are the calls the Lambdas would make. From those
counts the estimate is pure arithmetic (:func:`estimate`):

* Rekognition calls per API: for each configured ``REKO_FEATURES`` analysis, one call of its
  image API (:data:`FEATURE_APIS`: DetectText, IndexFaces, DetectLabels,
  DetectModerationLabels) per kept frame the planner sends to it (the other kept frames carry
  the result of an earlier frame over), beside the naive plan that sends every sampled frame to
  every API;
* their cost at the region's published first-tier prices (:mod:`reko.pipeline.aws.prices`);
* MediaConvert output minutes of the ingest job (frame capture + MP4 proxy, each the video's
  duration, billed per second with a 10 s minimum), by resolution category. MediaConvert's
  per-minute prices are not in the price table (no citable source), so they are reported as
  minutes and left out of the cost.

Only the image APIs are counted. Calls per *face* (SearchUsers, then CreateUser and/or
AssociateFaces for each indexed face) depend on how many faces the frames hold, which only the
analysis knows, and are listed in ``not_counted`` with the other costs left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from .aws.prices import MEDIACONVERT_MIN_BILLED_S, RegionPrices, region_prices

#: ``REKO_FEATURES`` analysis → the Rekognition image API analyse_frame calls once per kept frame.
FEATURE_APIS: Mapping[str, str] = {"text": "DetectText", "faces": "IndexFaces",
                                   "labels": "DetectLabels", "moderation": "DetectModerationLabels"}

#: MediaConvert outputs of reko's ingest job (``reko.pipeline.aws.mediaconvert.ingest_job``).
MEDIACONVERT_OUTPUTS = ("frame_capture", "proxy")

#: What the estimate does not include, said in every result.
NOT_COUNTED = (
    ("per-face calls: SearchUsers for every indexed face, then CreateUser and/or AssociateFaces "
     "(faces are only known after IndexFaces)"),
    "MediaConvert per-minute prices (minutes are counted; no citable price is recorded)",
    "Rekognition face metadata storage, S3, Lambda, SQS, DynamoDB, OpenSearch and data transfer",
    "volume tiers beyond the first 1 million images per month and group (first-tier prices)",
)

Progress = Callable[[str, int, int], None]  #: (video name, frames sampled so far, frames expected)


@dataclass(frozen=True)
class VideoFrames:
    """The frame decisions for one video: ``video_seconds`` (duration, s), ``width``×``height``
    (display pixels of the source, which MediaConvert's outputs keep), ``frames_sampled`` at
    the sampling rate, ``frames_kept`` after near-duplicate skipping (one document each),
    ``frames_per_analysis`` the kept frames the planner sends to each analysis, ``shots`` the
    shots it found."""

    name: str
    video_seconds: float
    width: int
    height: int
    frames_sampled: int
    frames_kept: int
    #: analysis → frames the planner sends to it (None: every kept frame gets every analysis)
    frames_per_analysis: Mapping[str, int] | None = None
    shots: int = 0

    def frames_for(self, analysis: str) -> int:
        """Frames planned for one analysis (``text``, ``faces``, …)."""
        if self.frames_per_analysis is None:
            return self.frames_kept
        return self.frames_per_analysis.get(analysis, 0)


def count_frames(path: str | Path, sample_fps: float, dedup_threshold_cells: int,
                 max_frame_side_px: int = 1920, progress: Progress | None = None,
                 features: Sequence[str] = tuple(FEATURE_APIS)) -> VideoFrames:
    """Probe and sample ``path`` as ingest does and let the analysis planner
    (:mod:`reko.pipeline.planner`, the one the local ingest and the Lambdas use) decide which
    frames get which analysis; count them.

    Raises:
        MediaError: not a readable, complete video.
        FfmpegError: ffmpeg/ffprobe missing or killed.
    """
    from .media import probe, sample_frames
    from .planner import AnalysisPlanner

    path = Path(path)
    info = probe(path)
    expected = max(1, math.ceil(info.duration_ms / 1000 * sample_fps))
    planner = AnalysisPlanner(features, dedup_threshold_cells)
    per_analysis = {f: 0 for f in features}
    sampled = kept = 0
    for frame in sample_frames(info, sample_fps, max_frame_side_px):
        sampled += 1
        plan = planner.offer(frame.pts_ms, frame.image)
        if plan is not None:
            kept += 1
            for analysis in plan.analyses:
                per_analysis[analysis] = per_analysis.get(analysis, 0) + 1
        if progress is not None:
            progress(path.name, sampled, expected)
    return VideoFrames(name=path.name, video_seconds=info.duration_ms / 1000, width=info.width,
                       height=info.height, frames_sampled=sampled, frames_kept=kept,
                       frames_per_analysis=per_analysis, shots=planner.shots)


def resolution_category(height_px: int) -> str:
    """MediaConvert's resolution category of an output ``height_px`` lines high: ``SD``
    (below 720), ``HD`` (720–1080), ``UHD`` (above)."""
    return "SD" if height_px < 720 else "HD" if height_px <= 1080 else "UHD"


def billed_minutes(seconds: float) -> float:
    """MediaConvert output minutes billed for an output of ``seconds``: whole seconds rounded
    up, at least 10 s (see :mod:`reko.pipeline.aws.prices`)."""
    return max(math.ceil(seconds - 1e-9), MEDIACONVERT_MIN_BILLED_S) / 60


@dataclass(frozen=True)
class Estimate:
    """Calls and costs for a set of videos (every money value in USD, ``*_calls`` per API name).

    ``cost_usd`` is what is priced: the Rekognition image calls, plus MediaConvert when its
    price is recorded (``mediaconvert_cost_usd`` is None otherwise). ``naive_*`` is the same
    for the naive plan (every sampled frame to every API). Per-hour figures divide by the total
    video duration.
    """

    region: str
    sample_fps: float
    features: tuple[str, ...]
    videos: tuple[VideoFrames, ...]
    rekognition_calls: dict[str, int]
    naive_calls: dict[str, int]
    rekognition_cost_usd: float
    naive_rekognition_cost_usd: float
    mediaconvert_minutes: dict[str, dict[str, float]]
    mediaconvert_cost_usd: float | None
    prices: RegionPrices = field(repr=False)

    @property
    def video_seconds(self) -> float:
        """Total duration of the videos, s."""
        return sum(v.video_seconds for v in self.videos)

    @property
    def frames_sampled(self) -> int:
        """Frames sampled in all videos."""
        return sum(v.frames_sampled for v in self.videos)

    @property
    def frames_kept(self) -> int:
        """Frames left after near-duplicate skipping."""
        return sum(v.frames_kept for v in self.videos)

    @property
    def mediaconvert_total_minutes(self) -> float:
        """Billed MediaConvert output minutes, all outputs and categories."""
        return sum(m for by_category in self.mediaconvert_minutes.values() for m in by_category.values())

    @property
    def cost_usd(self) -> float:
        """Priced cost: Rekognition (+ MediaConvert when priced)."""
        return self.rekognition_cost_usd + (self.mediaconvert_cost_usd or 0.0)

    @property
    def naive_cost_usd(self) -> float:
        """Priced cost of the naive plan (MediaConvert is the same in both plans)."""
        return self.naive_rekognition_cost_usd + (self.mediaconvert_cost_usd or 0.0)

    def per_video_hour(self, usd: float) -> float:
        """``usd`` for these videos scaled to one hour of video (0 for no duration)."""
        return usd * 3600 / self.video_seconds if self.video_seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """The ``reko estimate --json`` object (money rounded to 1e-6 USD, minutes to 1e-4)."""
        def usd(value: float | None) -> float | None:
            return None if value is None else round(value, 6)

        return {
            "region": self.region,
            "sample_fps": self.sample_fps,
            "features": list(self.features),
            "video_seconds": round(self.video_seconds, 3),
            "frames_sampled": self.frames_sampled,
            "frames_kept": self.frames_kept,
            "rekognition_calls": dict(self.rekognition_calls),
            "naive_calls": dict(self.naive_calls),
            "rekognition_cost_usd": usd(self.rekognition_cost_usd),
            "naive_rekognition_cost_usd": usd(self.naive_rekognition_cost_usd),
            "mediaconvert_minutes": round(self.mediaconvert_total_minutes, 4),
            "mediaconvert_minutes_by_output": {
                output: {category: round(m, 4) for category, m in by_category.items()}
                for output, by_category in self.mediaconvert_minutes.items()},
            "mediaconvert_cost_usd": usd(self.mediaconvert_cost_usd),
            "cost_usd": usd(self.cost_usd),
            "naive_cost_usd": usd(self.naive_cost_usd),
            "cost_per_video_hour_usd": usd(self.per_video_hour(self.cost_usd)),
            "naive_cost_per_video_hour_usd": usd(self.per_video_hour(self.naive_cost_usd)),
            "calls_vs_naive": round(sum(self.rekognition_calls.values())
                                    / max(sum(self.naive_calls.values()), 1), 4),
            "videos": [{"name": v.name, "video_seconds": round(v.video_seconds, 3), "width": v.width,
                        "height": v.height, "frames_sampled": v.frames_sampled,
                        "frames_kept": v.frames_kept, "shots": v.shots,
                        "calls": {FEATURE_APIS[f]: v.frames_for(f) for f in self.features}}
                       for v in self.videos],
            "counted": ("Rekognition image APIs: one call per kept frame the analysis planner "
                        "sends to each API (other kept frames carry an earlier frame's result)"),
            "not_counted": list(NOT_COUNTED),
            "prices": self.prices.to_json(),
        }


def estimate(videos: Iterable[VideoFrames], features: Sequence[str], prices: RegionPrices,
             sample_fps: float) -> Estimate:
    """The estimate for frame decisions already made (pure: no I/O).

    ``features`` are ``REKO_FEATURES`` names (``text``, ``faces``, ``labels``, ``moderation``);
    each adds its API of :data:`FEATURE_APIS`. Calls: the frames the planner sent to each
    analysis; naive: sampled frames × APIs; cost: calls × the API's first-tier price; MediaConvert: every video's duration
    billed once per output of :data:`MEDIACONVERT_OUTPUTS`, by resolution category, priced only
    when ``prices`` has a price for every category used.

    Raises:
        KeyError: an unknown feature name.
    """
    videos = tuple(videos)
    wanted = list(dict.fromkeys(features))
    sampled = sum(v.frames_sampled for v in videos)
    calls = {FEATURE_APIS[f]: sum(v.frames_for(f) for v in videos) for f in wanted}
    naive = {FEATURE_APIS[f]: sampled for f in wanted}
    minutes: dict[str, dict[str, float]] = {output: {} for output in MEDIACONVERT_OUTPUTS}
    for video in videos:
        category = resolution_category(video.height)
        for output in MEDIACONVERT_OUTPUTS:
            minutes[output][category] = minutes[output].get(category, 0.0) + billed_minutes(video.video_seconds)
    mc_prices = prices.mediaconvert_usd_per_minute
    used = {c for by_category in minutes.values() for c in by_category}
    mediaconvert_cost = (sum(m * mc_prices[c].usd for by_category in minutes.values()
                             for c, m in by_category.items())
                         if used and used <= set(mc_prices) else None)
    return Estimate(
        region=prices.region, sample_fps=sample_fps, features=tuple(dict.fromkeys(features)),
        videos=videos, rekognition_calls=calls, naive_calls=naive,
        rekognition_cost_usd=sum(n * prices.rekognition_usd_per_call(api) for api, n in calls.items()),
        naive_rekognition_cost_usd=sum(n * prices.rekognition_usd_per_call(api) for api, n in naive.items()),
        mediaconvert_minutes=minutes, mediaconvert_cost_usd=mediaconvert_cost, prices=prices)


def estimate_videos(paths: Iterable[str | Path], settings: Any, progress: Progress | None = None) -> Estimate:
    """``reko estimate``: count the frames of every video in ``paths`` with ``settings``'
    sampling (``sample_fps``, ``max_frame_side_px``) and near-duplicate threshold, then
    :func:`estimate` for ``settings.feature_list`` at the prices of ``settings.aws_region``.

    Raises:
        SettingsError: no prices recorded for ``REKO_AWS_REGION`` (checked before any video is read).
        MediaError: a file is not a readable, complete video (the message names it).
        FfmpegError: ffmpeg/ffprobe missing or killed.
    """
    from ..errors import MediaError

    prices = region_prices(settings.aws_region)
    videos = []
    for path in paths:
        try:
            videos.append(count_frames(path, settings.sample_fps, settings.dedup_threshold_cells,
                                       settings.max_frame_side_px, progress, settings.feature_list))
        except MediaError as exc:
            raise MediaError(f"{Path(path).name}: {exc}", detail=exc.detail) from None
    return estimate(videos, settings.feature_list, prices, settings.sample_fps)


__all__ = ["FEATURE_APIS", "NOT_COUNTED", "Estimate", "VideoFrames",
           "billed_minutes", "count_frames", "estimate", "estimate_videos", "resolution_category"]
