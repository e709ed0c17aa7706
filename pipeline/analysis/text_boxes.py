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
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ...errors import AnalyzerError
from .engines import install_hint
from .images import as_rgb

#: The frame is scaled so its longer side is at most this many pixels for detection (see the
#: module docstring for the measurement).
MAX_SIDE_PX = 480


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

    def find(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
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
