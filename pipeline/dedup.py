"""Near-duplicate frame skipping with a grey thumbnail fingerprint.

A frame is reduced to a 128×72 greyscale thumbnail by box averaging (each cell averages a
10×10 pixel block of a 720p frame, which removes codec noise). Two frames are near-duplicates
when at most ``threshold_cells`` cells differ by more than :data:`DELTA_LEVELS` grey levels.

Why not a 64-bit dHash/pHash: measured on a real photo encoded as a still shot with a caption
appearing (``benchmarks/ingest.py`` prints the same figures), a 32 px caption changed a tiled
dHash by 3 bits while codec noise alone changed it by 4 — a hash threshold that skips noise loses
captions. The fingerprint separates them cleanly: noise changes 0 cells, a one-letter 28 px
caption 34 cells, camera or subject motion hundreds.
"""

from __future__ import annotations

import numpy as np

THUMB_SIZE = (128, 72)  #: fingerprint size (width, height) in cells
DELTA_LEVELS = 24  #: a cell "changed" when its mean grey level moved by more than this (of 255)


def fingerprint(image: np.ndarray) -> np.ndarray:
    """128×72 int16 grey thumbnail of an RGB uint8 H×W×3 image (box-averaged)."""
    from PIL import Image

    grey = Image.fromarray(image).convert("L").resize(THUMB_SIZE, Image.Resampling.BOX)
    return np.asarray(grey, dtype=np.int16)


def changed_cells(a: np.ndarray, b: np.ndarray) -> int:
    """Number of fingerprint cells whose grey level differs by more than DELTA_LEVELS."""
    return int((np.abs(a - b) > DELTA_LEVELS).sum())


class DuplicateFilter:
    """Decides, frame by frame, whether a sampled frame must be analysed.

    ``threshold_cells`` < 0 disables skipping. The reference is the last *analysed* frame, not
    the previous sampled one, so slow drift cannot chain many frames into one.
    """

    def __init__(self, threshold_cells: int):
        self.threshold_cells = threshold_cells
        self._reference: np.ndarray | None = None

    def is_duplicate(self, image: np.ndarray, fingerprint_cells: np.ndarray | None = None) -> bool:
        """True when ``image`` (RGB uint8 H×W×3) is a near-duplicate of the last analysed frame;
        otherwise it becomes the new reference and False is returned. ``fingerprint_cells`` is
        the image's :func:`fingerprint` when the caller has it already (it is computed
        otherwise)."""
        if self.threshold_cells < 0:
            return False
        current = fingerprint(image) if fingerprint_cells is None else fingerprint_cells
        if self._reference is not None and changed_cells(current, self._reference) <= self.threshold_cells:
            return True
        self._reference = current
        return False
