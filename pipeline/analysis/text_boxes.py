"""Where text is on a frame, cheaply: rapidocr's text detector on a small copy of the frame.

The analysis planner (:mod:`reko.pipeline.planner`) asks this on the kept frames of moving shots
with the local engine, in the ingest process and in frame order, so it can send DetectText only
the bands that hold text (and nothing at all for a frame without text): reading a full 720p
frame costs ≈0.3 s of a worker, most of it detection at 960 px (``benchmarks/ocr_accuracy.py
--profile``); this detection at :data:`MAX_SIDE_PX` costs ≈0.04 s.

The detector is the one :class:`reko.pipeline.analysis.ocr.OcrEngine` reads with (rapidocr's
PP-OCRv4 DB detector, inside the ``rapidocr-onnxruntime`` wheel: nothing is downloaded), run
with one onnxruntime thread. Measured on the caption test set (``tests/ocr_testset.py``, 76
captions of 28–64 px glyphs on real footage, both splits): at 480 px it finds a box on every
caption (at 640 px too, at 0.07 s); the reading itself still runs at 960 px on the bands.
:meth:`TextBoxDetector.same_text` then tells the planner when a frame shows the very text of
the frame read last, so that reading carries over instead of being repeated.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ...errors import AnalyzerError
from ..planner import iou
from .engines import install_hint
from .images import as_rgb

#: The frame is scaled so its longer side is at most this many pixels for detection (see the
#: module docstring for the measurement).
MAX_SIDE_PX = 480

#: :meth:`TextBoxDetector.same_text`: boxes are the same text's when each box of one frame has
#: a box of the other with at least this IoU, and within each pair's union the two crops,
#: binarised (Otsu, each on its own), differ in at most :data:`SAME_TEXT_XOR` of the pixels
#: overall and :data:`SAME_TEXT_LOCAL_XOR` in any window as wide as the box is high (about one
#: glyph). Measured with captions on a ``black@0.55`` box over moving footage (the ingest
#: benchmark's clip at 1 fps, bikes.mp4 at 2 fps): the same caption a frame later differs in
#: 0.000–0.039 overall, 0.003–0.049 locally (bikes' fast motion behind the box); a changed
#: character differs more locally: REF-2024-KX7 → KX8 0.139, 행렬 → 형렬 (one vowel stroke) 0.084.
SAME_BOX_IOU = 0.9
SAME_TEXT_XOR = 0.02
SAME_TEXT_LOCAL_XOR = 0.06

Box = tuple[float, float, float, float]


class TextBoxDetector:
    """rapidocr's text detector at :data:`MAX_SIDE_PX`: :meth:`find` maps an RGB uint8 H×W×3
    frame to text boxes ``(left, top, right, bottom)`` in pixels of the frame. Loads on first
    use; calls are serialised (one onnxruntime session)."""

    def __init__(self, max_side_px: int = MAX_SIDE_PX):
        self.max_side_px = int(max_side_px)
        self._det: Any = None
        self._lock = threading.Lock()

    def load(self) -> "TextBoxDetector":
        """Create the onnxruntime session (idempotent).

        Raises:
            AnalyzerError: ``rapidocr-onnxruntime`` is not installed.
        """
        with self._lock:
            if self._det is None:
                try:
                    from rapidocr_onnxruntime import RapidOCR
                    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess
                except ImportError as exc:
                    raise AnalyzerError(f"text detection needs rapidocr-onnxruntime ({exc}); "
                                        f"{install_hint('text')}") from None
                class RgbPreProcess(DetPreProcess):  # type: ignore[misc]
                    """rapidocr's pre-process for an RGB frame: the model takes BGR, so the
                    channels are swapped after the resize (the same pixels as swapping the
                    whole frame first, without copying it), and normalised in float32."""

                    def __call__(self, img: np.ndarray) -> np.ndarray | None:
                        small = self.resize(img)
                        if small is None:
                            return None
                        scale = np.float32(self.scale / self.std[0])  # mean and std: 0.5 per channel
                        chw = (small[:, :, ::-1].astype(np.float32) * scale
                               - np.float32(self.mean[0] / self.std[0])).transpose(2, 0, 1)
                        return np.ascontiguousarray(chw)[None]

                det = RapidOCR(det_limit_type="max", intra_op_num_threads=1, inter_op_num_threads=1,
                               use_cls=False).text_det
                if len(set(det.mean)) != 1 or len(set(det.std)) != 1:
                    raise AnalyzerError("rapidocr's detector normalises channels differently; "
                                        "reko's text finder expects one mean and std")
                # rapidocr 1.4.4 in "max" mode picks its own limit by size: pin it (as ocr.py does)
                det.get_preprocess = lambda _max_wh: RgbPreProcess(self.max_side_px, "max", det.mean, det.std)
                self._det = det
        return self

    def find(self, image: np.ndarray) -> list[Box]:
        """Text boxes on ``image`` (RGB uint8 H×W×3): axis-aligned ``(left, top, right,
        bottom)`` in its pixels, in rapidocr's order; ``[]`` when it finds no text."""
        image = as_rgb(image, "text detection")
        self.load()
        with self._lock:
            boxes, _ = self._det(image)
        if boxes is None:
            return []
        out = []
        for box in np.asarray(boxes, dtype=np.float32):
            (x0, y0), (x1, y1) = box.min(axis=0), box.max(axis=0)
            out.append((float(x0), float(y0), float(x1), float(y1)))
        return out

    @staticmethod
    def same_text(before: np.ndarray, boxes_before: list[Box], after: np.ndarray,
                  boxes_after: list[Box]) -> bool:
        """True when the text :meth:`find` saw on frame ``before`` (RGB uint8 H×W×3, boxes
        in its pixels) is still there, unchanged, on ``after`` (same size): the same number of
        boxes, each matched in place and its pixels the same once binarised (thresholds and
        their measurement: :data:`SAME_TEXT_XOR`). Binarising keeps the glyphs and drops what
        moves behind a translucent caption box. False when either frame has no box."""
        import cv2

        if not boxes_before or len(boxes_before) != len(boxes_after) or before.shape != after.shape:
            return False
        height, width = after.shape[:2]
        unmatched = list(boxes_before)
        for box in boxes_after:
            match = max(unmatched, key=lambda b: iou(b, box))
            if iou(match, box) < SAME_BOX_IOU:
                return False
            unmatched.remove(match)
            x0, y0 = max(0, int(min(box[0], match[0]))), max(0, int(min(box[1], match[1])))
            x1 = min(width, int(np.ceil(max(box[2], match[2]))))
            y1 = min(height, int(np.ceil(max(box[3], match[3]))))
            if x1 <= x0 or y1 <= y0:
                return False
            ink = [cv2.threshold(cv2.cvtColor(np.ascontiguousarray(img[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY),
                                 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1] for img in (before, after)]
            columns = (ink[0] != ink[1]).mean(axis=0)
            glyph = min(len(columns), y1 - y0)
            local = np.convolve(columns, np.full(glyph, 1 / glyph), mode="valid").max()
            if columns.mean() > SAME_TEXT_XOR or local > SAME_TEXT_LOCAL_XOR:
                return False
        return True
