"""OCR accuracy and speed on Korean/English captions burned into real footage.

Compares, in one run on the same frames (``tests/ocr_testset.py``: the ``main`` split the
engine was tuned on, and the ``holdout`` split kept out of tuning):

* ``baseline-psm3``: plain rapidocr detection (``det_limit_type='max'``, rapidocr's own line
  crops) + tesseract ``kor+eng`` on every crop with tesseract's default page segmentation;
* ``baseline``: the same with single-line page segmentation (PSM 7), the stronger plain
  pipeline; the final/baseline ratios are against this one;
* ``OcrEngine``: reko's engine (``reko/pipeline/analysis/ocr.py``).

A caption counts as read when the lines centred on it (joined left to right) equal its text
after whitespace normalisation. Korean character accuracy is 1 − CER without whitespace.
Seconds per frame are measured on one thread (onnxruntime 1 thread, OMP_THREAD_LIMIT=1) on a
1280×720 frame with one caption, including detection: wall time, and this process's CPU time
(the steadier number when other work shares the cores).

With ``--profile`` (issue 14) it prints instead where the engine's time goes — detection, the
first reading of each line (tesseract + rapidocr fusion), the re-reads at other line heights —
and the accuracy and CPU time of variants that cut each part: fewer or no re-reads, smaller
detection input, and detection limited to the caption's band (what the analysis planner asks
for when only that region changed).

Run: ``.venv/bin/python benchmarks/ocr_accuracy.py [--cache DIR] [--quick] [--errors] [--profile]``.
The first run builds the test videos (≈1 min); later runs reuse them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import ocr_testset as ts  # noqa: E402

from reko.pipeline.analysis.ocr import OcrEngine, _find_tessdata  # noqa: E402


class _Line:
    def __init__(self, text, polygon):
        self.text, self.polygon = text, polygon


class BaselineOcr:
    """The brief's plain pipeline: rapidocr detection (``det_limit_type='max'``) and
    tesseract ``kor+eng`` on each rapidocr line crop, no preprocessing or fusion."""

    def __init__(self, psm: int):
        import tesserocr
        from rapidocr_onnxruntime import RapidOCR

        self.rapid = RapidOCR(det_limit_type="max", intra_op_num_threads=1,
                              inter_op_num_threads=1)
        self.api = tesserocr.PyTessBaseAPI(path=_find_tessdata(None, "kor+eng"), lang="kor+eng",
                                           psm=psm)

    def read(self, image: np.ndarray) -> list[_Line]:
        from PIL import Image

        bgr = np.ascontiguousarray(image[:, :, ::-1])
        boxes, _ = self.rapid.text_det(bgr)
        if boxes is None or len(boxes) == 0:
            return []
        boxes = self.rapid.sorted_boxes(boxes)
        lines = []
        for box, crop in zip(boxes, self.rapid.get_crop_img_list(bgr, boxes)):
            self.api.SetImage(Image.fromarray(np.ascontiguousarray(crop[:, :, ::-1])))
            text = ts.normalise(self.api.GetUTF8Text())
            if text:
                lines.append(_Line(text, box.tolist()))
        return lines


def run(name: str, engine, samples) -> dict:
    """Read every sample once (after one warm-up read); return scores and s/frame."""
    engine.read(samples[0].image)
    readings = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for sample in samples:
        readings.append(ts.caption_reading(sample, engine.read(sample.image)))
    seconds = (time.perf_counter() - start) / len(samples)
    cpu_seconds = (time.process_time() - cpu_start) / len(samples)
    result = {"name": name, "s_per_frame": seconds, "cpu_s_per_frame": cpu_seconds,
              "readings": readings}
    for kind in (ts.KOREAN, ts.ENGLISH, ts.CODE):
        result[kind] = ts.score([(r, s.text) for r, s in zip(readings, samples) if s.kind == kind])
    return result


def table(results: list[dict], samples, split: str) -> None:
    counts = {k: sum(s.kind == k for s in samples) for k in (ts.KOREAN, ts.ENGLISH, ts.CODE)}
    print(f"\n== split {split!r}: {len(samples)} frames ({counts[ts.KOREAN]} Korean, "
          f"{counts[ts.ENGLISH]} English, {counts[ts.CODE]} codes)")
    head = (f"{'engine':<15}{'ko line':>9}{'ko line*':>10}{'ko char':>9}{'en line':>9}"
            f"{'code line':>11}{'s/frame':>9}{'cpu s/fr':>10}")
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['name']:<15}{r[ts.KOREAN]['line']:>9.3f}{r[ts.KOREAN]['line_nospace']:>10.3f}"
              f"{r[ts.KOREAN]['char']:>9.3f}{r[ts.ENGLISH]['line']:>9.3f}{r[ts.CODE]['line']:>11.3f}"
              f"{r['s_per_frame']:>9.3f}{r['cpu_s_per_frame']:>10.3f}")
    base = next(r for r in results if r["name"] == "baseline")
    final = next(r for r in results if r["name"] == "OcrEngine")

    def ratio(a, b):
        return f"{a / b:.3f}" if b else "n/a"

    print(f"{'final/baseline':<15}{ratio(final[ts.KOREAN]['line'], base[ts.KOREAN]['line']):>9}"
          f"{ratio(final[ts.KOREAN]['line_nospace'], base[ts.KOREAN]['line_nospace']):>10}"
          f"{ratio(final[ts.KOREAN]['char'], base[ts.KOREAN]['char']):>9}"
          f"{ratio(final[ts.ENGLISH]['line'], base[ts.ENGLISH]['line']):>9}"
          f"{ratio(final[ts.CODE]['line'], base[ts.CODE]['line']):>11}"
          f"{ratio(final['s_per_frame'], base['s_per_frame']):>9}"
          f"{ratio(final['cpu_s_per_frame'], base['cpu_s_per_frame']):>10}")
    print("(ko line* = Korean line accuracy ignoring spaces; char = 1 - CER; s/frame = wall "
          "time, cpu s/fr = this process's CPU time, both per frame on one thread)")


#: Engine variants ``--profile`` compares (OcrEngine keyword arguments).
VARIANTS = {
    "reko (56/40 px re-reads)": {},
    "4 re-read heights": {"retry_scales": (0.875, 0.75, 0.625, 1.25)},
    "no re-read": {"retry_scales": ()},
    "detect at 800 px": {"det_max_side_px": 800},
    "detect at 640 px": {"det_max_side_px": 640},
}


def _band(sample) -> dict:
    """The full-width band the planner would hand DetectText when only this caption changed
    (its rows with drawtext's box, in 10 px cells, 2 cells of margin)."""
    _x0, y0, _x1, y1 = sample.box
    pad = sample.font_px // 4 + 2
    top = max(0, int((y0 - pad) // 10) - 2) * 10
    bottom = min(720, (int((y1 + pad) // 10) + 3) * 10)
    return {"Left": 0.0, "Width": 1.0, "Top": top / 720, "Height": (bottom - top) / 720}


def profile(cache: Path) -> None:
    """Stage timings of each variant (CPU s per frame) and its accuracy, per split."""
    from reko.pipeline.analysis.local_text import read_regions

    print(f"{'split':8s} {'variant':26s} {'ko':>6s} {'en':>6s} {'code':>6s} {'cpu s/fr':>9s} "
          f"{'detect':>7s} {'read':>6s} {'re-read':>8s} {'re-read lines':>14s}")
    for split in ts.SPLITS:
        samples = ts.build_testset(cache, split)
        rows = list(VARIANTS.items()) + [("reko, caption band only", {})]
        for name, options in rows:
            engine = OcrEngine(**options)
            engine.read(samples[0].image)
            for key in engine.stats:
                engine.stats[key] = 0
            band = name.endswith("band only")
            started = time.process_time()
            readings = [ts.caption_reading(s, read_regions(engine, s.image, [_band(s)]) if band
                                           else engine.read(s.image)) for s in samples]
            cpu = (time.process_time() - started) / len(samples)
            st = engine.stats
            score = {k: ts.score([(r, s.text) for r, s in zip(readings, samples) if s.kind == k])["line"]
                     for k in (ts.KOREAN, ts.ENGLISH, ts.CODE)}
            print(f"{split:8s} {name:26s} {score[ts.KOREAN]:6.3f} {score[ts.ENGLISH]:6.3f} "
                  f"{score[ts.CODE]:6.3f} {cpu:9.3f} {st['detect'] / len(samples):7.3f} "
                  f"{st['read'] / len(samples):6.3f} {st['retry'] / len(samples):8.3f} "
                  f"{st['retried'] / max(st['lines'], 1):14.2f}", flush=True)
            engine.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=ts.DEFAULT_CACHE_DIR,
                        help=f"where test videos are built and cached ({ts.DEFAULT_CACHE_DIR})")
    parser.add_argument("--quick", action="store_true", help="skip the PSM 3 baseline")
    parser.add_argument("--errors", action="store_true", help="print every misread caption")
    parser.add_argument("--profile", action="store_true", help="stage timings and variants")
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.cache)
        return 0

    import tesserocr

    engines = [("baseline", BaselineOcr(tesserocr.PSM.SINGLE_LINE))]
    if not args.quick:
        engines.insert(0, ("baseline-psm3", BaselineOcr(tesserocr.PSM.AUTO)))
    engines.append(("OcrEngine", OcrEngine()))
    for split in ts.SPLITS:
        samples = ts.build_testset(args.cache, split)
        results = [run(name, engine, samples) for name, engine in engines]
        table(results, samples, split)
        if args.errors:
            for r in results:
                for reading, s in zip(r["readings"], samples):
                    if ts.normalise(reading) != ts.normalise(s.text):
                        print(f"  {r['name']:<14} [{s.kind} {s.font_px}px {s.position} "
                              f"{s.video}@{s.frame_ms}ms] {s.text!r} -> {reading!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
