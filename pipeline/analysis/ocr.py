"""Offline OCR for video frames: rapidocr text detection + tesseract ``kor+eng`` line reading,
fused word by word with rapidocr's own recogniser.

No single engine that installs offline reads Korean broadcast captions well:

* ``rapidocr-onnxruntime`` 1.4.4 ships PP-OCRv4 detection (DB, finds text lines in any script)
  and recognition (Chinese + Latin; it cannot read Hangul, but it is very strong on Latin
  letters, digits and codes such as ``REF-2024-KX7``);
* tesseract 5 (through ``tesserocr``) with Debian's ``kor``/``eng`` traineddata reads Hangul,
  but on a whole frame it misses most captions, and inside ``kor+eng`` it sometimes picks the
  English model for a short Hangul word (``나쁨`` → ``US``) or the Korean one for Latin
  (``KBS`` → ``(85``).

:class:`OcrEngine` therefore:

1. detects text boxes with rapidocr on the frame scaled to at most ``det_max_side_px``
   (960 px: on 1280×720 this finds every 28–64 px caption of the test set and costs ≈0.28 s
   of CPU instead of ≈0.56 s at full size; a lone 28 px glyph such as ``A`` is found only at
   full size — raise ``det_max_side_px`` to 1280 when that matters);
2. straightens nearly horizontal boxes (tilt under 6°: DB gives short words a spurious tilt)
   and merges boxes that split one line;
3. crops every line from the full-resolution frame, makes it dark text on white, stretches
   its contrast and scales it to ``line_height_px`` (64 px, the best of 40–80 px measured on
   the caption test set), then reads it with tesseract ``kor+eng`` in single-line mode
   (PSM 7; the default PSM 3 loses most caption crops); a reading under 85 confidence is
   repeated at 40 and 56 px (:data:`_RETRY_SCALES`), each reading is fused (step 4) and they
   vote (sum of confidences per distinct text);
   tesseract's syllable "words" are regrouped into space-separated words by its line text;
4. fuses word by word with rapidocr's recogniser run on each word's crop (on a whole line
   that is mostly Hangul it answers nothing): a Hangul word is tesseract's, except that its
   digits/Latin are taken from rapidocr when rapidocr reads them confidently (``2.650선`` →
   ``2,650선``); a word without Hangul is replaced by rapidocr's reading when that is
   confident Latin/digits (``(85`` → ``KBS``, ``INV-00452-7`` → ``INV-00452-Z``); a word
   without Hangul under which rapidocr sees no Latin (or that tesseract doubts) is re-read
   with tesseract ``kor`` alone (``US`` → Hangul, ``FAS`` → ``뉴스룸``), and dropped when
   neither engine is confident;
5. splits ``가.나`` (tesseract reads some Korean word gaps as ``.``) into two words;
6. drops junk: symbol-only words at a line's ends, symbol-only lines, low-confidence lines.

Single-threaded by design (reko runs one worker process per core): onnxruntime sessions get
one intra-op and one inter-op thread, and ``OMP_THREAD_LIMIT=1`` is set (if unset) before
tesseract loads. One engine holds two tesseract handles and three ONNX sessions (≈145 MB
resident after loading, ≈220 MB once it has read 720p frames); :meth:`OcrEngine.read` serialises
callers with a lock, so an engine may be shared
by threads but reads one frame at a time — give each worker process its own engine.
"""

from __future__ import annotations

import os
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import AnalyzerError
from .engines import install_hint
from .images import as_rgb

if TYPE_CHECKING:
    from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
    from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
    from tesserocr import PyTessBaseAPI

#: Where Debian/Ubuntu's ``tesseract-ocr-kor``/``-eng`` put the traineddata (tesseract 5).
DEFAULT_TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)

#: How to install what the OCR needs (Python packages and Debian's traineddata).
INSTALL_HINT = install_hint("text")
_TESSDATA_HINT = (f"install: {INSTALL_HINT}; or put kor.traineddata and eng.traineddata in a "
                  "directory and pass it as tessdata_dir or set TESSDATA_PREFIX to it")

_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
#: Line heights also read, as factors of ``line_height_px``, when the first reading's
#: confidence is under 85 (tesseract's LSTM reads caption glyphs at 40–80 px line height on
#: the test set; 64 px was best alone): 56 and 40 px. Where the time goes (issue 14, measured
#: with ``benchmarks/ocr_accuracy.py --profile`` on the caption test set, one thread, CPU s per
#: 1280×720 frame): detection 0.26–0.30, first reading + fusion 0.07, re-reads 0.02 (9 % of
#: lines are re-read). Re-reading at 56/48/40/80 px and at 56/40 px only gave the same
#: accuracy on both splits (main: Korean 0.947, English 1.0, codes 1.0; holdout: all 1.0) at
#: half the re-read time; no re-read at all lost one code line of 6 (main 0.833), so two
#: heights stay.
_RETRY_SCALES = (0.875, 0.625)

#: White margin (px) around a prepared line crop; tesseract misreads glyphs touching the edge.
_BORDER_PX = 12

_LATIN_OK = re.compile(r"^[A-Za-z0-9\-+/.,:;'\"!?&%#()@$*=_\[\]]+$")


@dataclass
class OcrWord:
    """One whitespace-separated word of a line.

    ``confidence`` is 0–100; ``polygon`` is 4 (x, y) points in pixels of the input image,
    clockwise from top-left (approximate when the recogniser gives no exact word box).
    """

    text: str
    confidence: float
    polygon: list[tuple[float, float]]


@dataclass
class OcrLine:
    """One text line: ``text`` is whitespace-normalised (words joined by one space);
    ``confidence`` 0–100 is the character-weighted mean of the words'; ``polygon`` is 4 (x, y)
    points in pixels of the input image, clockwise from top-left; ``words`` are in reading
    order."""

    text: str
    confidence: float
    polygon: list[tuple[float, float]]
    words: list[OcrWord] = field(default_factory=list)


@dataclass
class _TessWord:
    text: str
    conf: float
    x0: float  # in crop pixels
    x1: float


class OcrEngine:
    """Reads text lines from RGB frames offline (see the module docstring for the method).

    Constructing checks the Python packages and the traineddata; :meth:`load` (or the first
    :meth:`read`) opens the tesseract handles and ONNX sessions, :meth:`close` frees them.

    Args:
        tessdata_dir: directory holding ``kor.traineddata`` and ``eng.traineddata``; ``None``
            tries ``TESSDATA_PREFIX`` and then :data:`DEFAULT_TESSDATA_DIRS`.
        languages: tesseract languages for line reading (``kor+eng``); the Hangul re-read
            uses the first one.
        det_max_side_px: the frame is scaled down so its longest side is at most this many
            pixels for text detection (960; boxes are mapped back to full resolution).
        line_height_px: height in pixels each line crop is scaled to before tesseract (64).
        min_confidence: lines whose confidence (0–100) is below this are dropped (50; real
            caption lines score 80–97, textures read as text 20–45 on the test footage).

    Raises:
        AnalyzerError: rapidocr-onnxruntime or tesserocr is not installed, or the traineddata
            of a language is missing (the message says what to install).
    """

    def __init__(self, tessdata_dir: str | None = None, languages: str = "kor+eng", *,
                 det_max_side_px: int = 960, line_height_px: int = 64,
                 min_confidence: float = 50.0,
                 retry_scales: tuple[float, ...] | None = None):
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        try:
            import cv2  # noqa: F401  (rapidocr needs it too)
            import rapidocr_onnxruntime  # noqa: F401  (used by load)
            import tesserocr
        except ImportError as exc:
            raise AnalyzerError(f"the local OCR engine needs {exc.name}: {INSTALL_HINT}") from None

        self.languages = languages
        self.det_max_side_px = int(det_max_side_px)
        self.line_height_px = int(line_height_px)
        self.min_confidence = float(min_confidence)
        self.retry_scales = tuple(_RETRY_SCALES if retry_scales is None else retry_scales)
        #: Seconds spent per stage since construction (``detect``: rapidocr detection;
        #: ``read``: the first tesseract reading + fusion of every line; ``retry``: re-reads at
        #: the other line heights) and counts (``frames``, ``lines``, ``retried``):
        #: what ``benchmarks/ocr_accuracy.py --profile`` prints.
        self.stats: dict[str, float] = {"detect": 0.0, "read": 0.0, "retry": 0.0,
                                        "frames": 0, "lines": 0, "retried": 0}
        self.tessdata_dir = _find_tessdata(tessdata_dir, languages)
        self._tesserocr = tesserocr
        self._lock = threading.RLock()
        # opened by load() / _open(), freed by close()
        self._tess_line: PyTessBaseAPI | None = None
        self._tess_hangul: PyTessBaseAPI | None = None
        self._det: TextDetector | None = None
        self._rec: TextRecognizer | None = None
        self._rec_chars: list[str] = []

    # ------------------------------------------------------------------ lifecycle

    def load(self) -> "OcrEngine":
        """Open the tesseract handles and the ONNX sessions now (otherwise on the first
        :meth:`read`); returns self.

        Raises:
            AnalyzerError: tesseract cannot load a language's traineddata.
        """
        with self._lock:
            if self._tess_line is None:
                self._open()
        return self

    def _open(self) -> None:
        from rapidocr_onnxruntime import RapidOCR
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

        tesserocr = self._tesserocr

        def tess_api(lang: str, psm) -> PyTessBaseAPI:
            try:
                api = tesserocr.PyTessBaseAPI(path=self.tessdata_dir, lang=lang, psm=psm,
                                              oem=tesserocr.OEM.LSTM_ONLY)
            except RuntimeError as exc:
                raise AnalyzerError(f"tesseract could not load {lang!r} from "
                                    f"{self.tessdata_dir}: {exc}; {_TESSDATA_HINT}") from None
            return api

        apis = []
        try:
            for lang in (self.languages, self.languages.split("+")[0]):  # lines; Hangul re-read
                apis.append(tess_api(lang, tesserocr.PSM.SINGLE_LINE))
            # One thread per session: reko runs one process per core (see the module docstring).
            rapid = RapidOCR(det_limit_type="max", intra_op_num_threads=1,
                             inter_op_num_threads=1, use_cls=False)
        except BaseException:
            for api in apis:
                api.End()
            raise
        tess_line, tess_hangul = apis
        det = rapid.text_det
        # In "max" mode rapidocr 1.4.4 ignores limit_side_len and picks 960/1500/2000 by size;
        # pin the limit so detection cost does not depend on the frame size.
        det.get_preprocess = lambda _max_wh: DetPreProcess(self.det_max_side_px, "max",
                                                           det.mean, det.std)
        rec = rapid.text_rec
        self._det, self._rec = det, rec
        self._rec_chars = rec.postprocess_op.character
        self._tess_line, self._tess_hangul = tess_line, tess_hangul

    def close(self) -> None:
        """Free the tesseract handles and ONNX sessions (a later :meth:`read` opens them
        again)."""
        with self._lock:
            for api in (self._tess_line, self._tess_hangul):
                if api is not None:
                    api.End()
            self._tess_line = self._tess_hangul = None
            self._det = self._rec = None

    # ------------------------------------------------------------------ public API

    def read(self, image: np.ndarray) -> list[OcrLine]:
        """Read the text lines of ``image`` (RGB uint8 H×W×3; grey H×W and RGBA are accepted).

        Returns lines in reading order (top to bottom, then left to right), each with its
        words; polygons are in pixels of ``image``. An image without text gives ``[]``.

        Raises:
            AnalyzerError: ``image`` is not a 2-D/3-D uint8 array, or the engine cannot load.
        """
        image = as_rgb(image, "OCR")
        with self._lock:
            self.load()
            started = time.perf_counter()
            boxes = self._detect(image)
            self.stats["detect"] += time.perf_counter() - started
            self.stats["frames"] += 1
            lines = []
            for box in boxes:
                line = self._read_line(image, box)
                if line is not None:
                    lines.append(line)
        return _reading_order(lines)

    # ------------------------------------------------------------------ detection

    def _detect(self, image: np.ndarray) -> list[np.ndarray]:
        """Text boxes (4×2 float32, clockwise from top-left, full-resolution pixels)."""
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        if min(bgr.shape[:2]) < 16:
            return []
        assert self._det is not None  # read() loads the engine first
        boxes, _ = self._det(bgr)
        if boxes is None or len(boxes) == 0:
            return []
        out = []
        for box in boxes:
            box = np.asarray(box, np.float32)
            dx, dy = box[1] - box[0]
            tilt = abs(np.degrees(np.arctan2(dy, dx)))
            if tilt < 6.0:  # nearly horizontal: use the axis-aligned rectangle around it
                x0, y0 = box.min(0)
                x1, y1 = box.max(0)
                box = np.asarray([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
            out.append(box)
        return _merge_boxes(out)

    # ------------------------------------------------------------------ recognition

    def _read_line(self, image: np.ndarray, box: np.ndarray) -> OcrLine | None:
        started = time.perf_counter()
        crop, to_image = _crop(image, box)
        if crop.shape[0] < 6 or crop.shape[1] < 6:
            return None
        self.stats["lines"] += 1
        gray, scale = _prepare(crop, self.line_height_px)
        words = self._tesseract_words(self._tess_line, gray, scale)
        fused = self._fuse(words, crop, gray, scale)
        retry_started = time.perf_counter()
        self.stats["read"] += retry_started - started
        if _mean_conf(words) < 85 and self.retry_scales:
            self.stats["retried"] += 1
            # Short or hard lines flip between readings with the scale (measured on "속보" at
            # 32 px: 97 at 40 and 56 px, garbage at 48 and 64 px; "고속도로 정체 구간" loses
            # its spaces at 40 px only). Read at every height, fuse each reading, and vote:
            # each distinct fused text scores the sum of its confidences.
            readings = [fused]
            for factor in self.retry_scales:
                alt_gray, alt_scale = _prepare(crop, int(round(self.line_height_px * factor)))
                alt = self._tesseract_words(self._tess_line, alt_gray, alt_scale)
                readings.append(self._fuse(alt, crop, alt_gray, alt_scale))
            votes: dict[str, float] = {}
            for reading in readings:
                key = " ".join(w.text for w in reading)
                votes[key] = votes.get(key, 0.0) + _mean_conf(reading)
            winner = max(votes, key=votes.__getitem__)
            fused = max((r for r in readings if " ".join(w.text for w in r) == winner),
                        key=_mean_conf)
            self.stats["retry"] += time.perf_counter() - retry_started
        fused = _drop_junk(_split_hangul_periods(fused))
        if not fused:
            return None
        total = sum(len(w.text) for w in fused)
        conf = sum(w.conf * len(w.text) for w in fused) / total
        if conf < self.min_confidence:
            return None
        height = crop.shape[0]
        ocr_words = [OcrWord(w.text, round(_clip_conf(w.conf), 2),
                             _to_polygon(to_image, w.x0, 0, w.x1, height)) for w in fused]
        return OcrLine(" ".join(w.text for w in fused), round(_clip_conf(conf), 2),
                       [(float(p[0]), float(p[1])) for p in box], ocr_words)

    def _tesseract_words(self, api, gray: np.ndarray, scale: float,
                         border: int = _BORDER_PX) -> list[_TessWord]:
        """Words tesseract reads in ``gray`` (prepared crop), boxes in crop pixels."""
        tess = self._tesserocr
        padded = np.pad(gray, border, constant_values=255)
        h, w = padded.shape
        api.SetImageBytes(padded.tobytes(), w, h, 1, w)
        api.SetSourceResolution(300)
        api.Recognize()
        line_text = unicodedata.normalize("NFC", api.GetUTF8Text() or "")
        level = tess.RIL.WORD
        it = api.GetIterator()
        if it is None:
            return []
        # Tesseract's kor model reports every syllable as a "word"; the line text keeps the
        # real spaces (preserve_interword_spaces), so pieces are regrouped by the gaps in it.
        words: list[_TessWord] = []
        pos, joined = 0, False
        for r in tess.iterate_level(it, level):
            try:
                text = r.GetUTF8Text(level)
                bbox = r.BoundingBox(level)
            except RuntimeError:  # tesserocr raises "No text returned" for empty elements
                continue
            if not text or not text.strip() or bbox is None:
                continue
            text = unicodedata.normalize("NFC", text.strip())
            found = line_text.find(text, pos)
            joined = bool(words) and found >= 0 and line_text[pos:found] == ""
            if found >= 0:
                pos = found + len(text)
            x0, _y0, x1, _y1 = bbox
            piece = _TessWord(text, float(r.Confidence(level)),
                              max(0.0, (x0 - border) / scale), (x1 - border) / scale)
            if joined:
                last = words[-1]
                n0, n1 = len(last.text), len(piece.text)
                words[-1] = _TessWord(last.text + piece.text,
                                      (last.conf * n0 + piece.conf * n1) / (n0 + n1),
                                      min(last.x0, piece.x0), max(last.x1, piece.x1))
            else:
                words.append(piece)
        return words

    def _rapid_read(self, crop: np.ndarray) -> tuple[str, float]:
        """rapidocr's reading of an RGB ``crop``: (text, mean character probability × 100).

        PP-OCRv4 answers nothing at all for a line that is mostly Hangul, so callers pass the
        crop of a single word."""
        import cv2

        assert self._rec is not None  # read() loads the engine first
        _c, rec_h, rec_w = self._rec.rec_image_shape
        h, w = crop.shape[:2]
        new_w = max(1, int(np.ceil(rec_h * w / h)))
        resized = cv2.resize(np.ascontiguousarray(crop[:, :, ::-1]), (new_w, rec_h))
        width = max(rec_w, new_w)
        batch = np.zeros((1, 3, rec_h, width), np.float32)
        batch[0, :, :, :new_w] = (resized.astype(np.float32).transpose(2, 0, 1) / 255 - 0.5) / 0.5
        preds = self._rec.session(batch)[0][0]  # CTC columns × classes
        idx, prob = preds.argmax(1), preds.max(1)
        keep = (idx != 0) & np.concatenate([[True], idx[1:] != idx[:-1]])
        text = "".join(self._rec_chars[i] for i in idx[keep] if i < len(self._rec_chars))
        return text.strip(), 100.0 * float(prob[keep].mean()) if keep.any() else 0.0

    def _fuse(self, words: list[_TessWord], crop: np.ndarray, gray: np.ndarray,
              scale: float) -> list[_TessWord]:
        """Word-by-word vote between tesseract and rapidocr (rules in the module docstring)."""
        if not words:
            # tesseract read nothing: keep a confident, purely Latin rapidocr reading.
            text, conf = self._rapid_read(crop)
            if text and _LATIN_OK.match(text.replace(" ", "")) and conf >= 90:
                return [_TessWord(t, conf, 0.0, float(crop.shape[1])) for t in text.split()]
            return []
        out = []
        h = crop.shape[0]
        margin = 0.2 * h
        for wd in words:
            hangul = _HANGUL.search(wd.text) is not None
            others = sum(not _HANGUL.match(ch) for ch in wd.text)
            if hangul and others < 2:
                out.append(wd)
                continue
            x0 = max(0, int(wd.x0 - margin))
            x1 = min(crop.shape[1], int(np.ceil(wd.x1 + margin)))
            r_text, r_conf = self._rapid_read(crop[:, x0:x1]) if x1 - x0 >= 4 else ("", 0.0)
            r_text = r_text.replace(" ", "")
            latin = bool(r_text) and r_conf >= 90 and _LATIN_OK.match(r_text) is not None
            if hangul:
                # Hangul with digits/Latin ("2,650선", "D-30"): rapidocr reads only the
                # non-Hangul part, and reads it better ("2.650" → "2,650").
                out.append(_splice(wd, r_text) if latin else wd)
                continue
            blank = not latin and r_conf < 60  # rapidocr sees no Latin here
            if blank or (wd.conf < 90 and (not latin or len(r_text) < len(wd.text))):
                # Maybe Hangul read with the English model: ask the Korean model alone. Where
                # rapidocr reads the Latin/digit part confidently, keep its characters there.
                kor = self._reread_hangul(wd, gray, scale, min_conf=40 if blank else 50)
                if kor is not None and (wd.conf < 90 or kor.conf >= wd.conf - 5):
                    out.append(_splice(kor, r_text) if latin else kor)
                    continue
                if wd.conf < 60 and r_conf < 60:
                    continue  # neither engine is sure there is a word here: texture, not text
            if latin and r_conf >= wd.conf - 5:
                out.append(_TessWord(r_text, max(r_conf, wd.conf) if r_text == wd.text else r_conf,
                                     wd.x0, wd.x1))
            else:
                out.append(wd)
        return out

    def _reread_hangul(self, wd: _TessWord, gray: np.ndarray, scale: float,
                       min_conf: float = 50) -> _TessWord | None:
        """Re-read one word's region with the Korean model alone; keep it if it is Hangul
        read with at least ``min_conf`` (0–100)."""
        pad = int(0.15 * gray.shape[0])
        x0 = max(0, int(wd.x0 * scale) - pad)
        x1 = min(gray.shape[1], int(np.ceil(wd.x1 * scale)) + pad)
        if x1 - x0 < 4:
            return None
        words = self._tesseract_words(self._tess_hangul, np.ascontiguousarray(gray[:, x0:x1]), scale)
        text = "".join(w.text for w in words)
        if not words or not _HANGUL.search(text):
            return None
        conf = _mean_conf(words)
        if conf < min_conf:
            return None
        return _TessWord(text, conf, wd.x0, wd.x1)


# ---------------------------------------------------------------------- helpers


def _find_tessdata(tessdata_dir: str | None, languages: str) -> str:
    langs = [lang for lang in languages.split("+") if lang]
    if tessdata_dir is not None:
        candidates = [tessdata_dir]
    else:
        env = os.environ.get("TESSDATA_PREFIX")
        candidates = ([env, os.path.join(env, "tessdata")] if env else []) + list(DEFAULT_TESSDATA_DIRS)
    for cand in candidates:
        if cand and all((Path(cand) / f"{lang}.traineddata").is_file() for lang in langs):
            return str(Path(cand))
    where = tessdata_dir if tessdata_dir is not None else ", ".join(c for c in candidates if c)
    missing = "+".join(langs)
    raise AnalyzerError(f"tesseract traineddata for {missing} not found in {where}; {_TESSDATA_HINT}")


def _merge_boxes(boxes: list[np.ndarray]) -> list[np.ndarray]:
    """Merge axis-aligned boxes that continue one line: vertical overlap ≥ 60% of the smaller
    height, heights within 1.6×, horizontal gap ≤ 1.0× the taller height (a word gap in a
    caption is ≈0.3 em; separate captions on one row are much further apart)."""
    rects: list[list[float]] = []
    others: list[np.ndarray] = []
    for box in boxes:
        if box[0][1] == box[1][1] and box[0][0] == box[3][0]:
            rects.append([float(box[0][0]), float(box[0][1]), float(box[2][0]), float(box[2][1])])
        else:
            others.append(box)
    changed = True
    while changed:
        changed = False
        rects.sort(key=lambda r: r[0])
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                ha, hb = a[3] - a[1], b[3] - b[1]
                overlap = min(a[3], b[3]) - max(a[1], b[1])
                gap = b[0] - a[2]
                if (overlap >= 0.6 * min(ha, hb) and max(ha, hb) <= 1.6 * min(ha, hb)
                        and gap <= 1.0 * max(ha, hb)):
                    rects[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del rects[j]
                    changed = True
                    break
            if changed:
                break
    merged = [np.asarray([[r[0], r[1]], [r[2], r[1]], [r[2], r[3]], [r[0], r[3]]], dtype=np.float32)
              for r in rects]
    return merged + others


def _crop(image: np.ndarray, box: np.ndarray):
    """Rectified crop of ``box`` and the 3×3 transform from crop to image pixels."""
    import cv2

    box = np.asarray(box, np.float32)
    w = int(round(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[3] - box[2]))))
    h = int(round(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2]))))
    w, h = max(w, 1), max(h, 1)
    dst = np.asarray([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    to_crop = cv2.getPerspectiveTransform(box, dst)
    crop = cv2.warpPerspective(image, to_crop, (w, h), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)
    return crop, np.linalg.inv(to_crop)


def _prepare(crop: np.ndarray, target_h: int) -> tuple[np.ndarray, float]:
    """Grey, dark-on-light, contrast-stretched crop scaled to ``target_h`` px; and the scale."""
    import cv2

    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    scale = target_h / gray.shape[0]
    if abs(scale - 1) > 0.02:
        gray = cv2.resize(gray, None, fx=scale, fy=scale,
                          interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    # Polarity: Otsu splits ink from background; the class that owns the crop's border is the
    # background. Light text on a dark caption box is inverted to dark on light.
    _t, bw = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    edge = np.concatenate([bw[0], bw[-1], bw[:, 0], bw[:, -1]])
    if edge.mean() < 128:
        gray = 255 - gray
    lo, hi = float(np.percentile(gray, 2)), float(np.percentile(gray, 98))
    gray = np.clip((gray.astype(np.float32) - lo) * (255.0 / max(hi - lo, 1.0)), 0, 255)
    return np.ascontiguousarray(gray.astype(np.uint8)), scale


def _clip_conf(conf: float) -> float:
    return min(100.0, max(0.0, float(conf)))


def _mean_conf(words: list[_TessWord]) -> float:
    if not words:
        return 0.0
    total = sum(len(w.text) for w in words)
    return sum(w.conf * len(w.text) for w in words) / max(total, 1)


def _splice(kor: _TessWord, latin: str) -> _TessWord:
    """``kor``'s Hangul with ``latin``'s characters in place of its other characters, when
    both have the same number of them (``2.650선`` + ``2,650`` → ``2,650선``)."""
    others = [i for i, ch in enumerate(kor.text) if not _HANGUL.match(ch)]
    if len(others) != len(latin):
        return kor
    chars = list(kor.text)
    for i, ch in zip(others, latin):
        chars[i] = ch
    return _TessWord("".join(chars), kor.conf, kor.x0, kor.x1)


_HANGUL_PERIOD = re.compile(r"(?<=[\uac00-\ud7a3])[.,](?=[\uac00-\ud7a3])")


def _split_hangul_periods(words: list[_TessWord]) -> list[_TessWord]:
    """Split ``예방접종.시작`` into two words: tesseract sometimes reads a word gap in Korean
    as ``.``/``,``; Korean captions do not put those between two syllables without a space.
    The word box is divided in proportion to the characters."""
    out = []
    for wd in words:
        parts = _HANGUL_PERIOD.split(wd.text)
        if len(parts) == 1:
            out.append(wd)
            continue
        per_char = (wd.x1 - wd.x0) / max(len(wd.text), 1)
        x = wd.x0
        for part in parts:
            out.append(_TessWord(part, wd.conf, x, x + per_char * len(part)))
            x += per_char * (len(part) + 1)
    return out


def _is_symbols(text: str) -> bool:
    return not any(ch.isalnum() for ch in text)


def _drop_junk(words: list[_TessWord]) -> list[_TessWord]:
    """Drop symbol-only words at the ends of a line (box edges read as ``|``, ``.``) and
    return ``[]`` when nothing but symbols remains."""
    while words and _is_symbols(words[0].text) and words[0].conf < 80:
        words = words[1:]
    while words and _is_symbols(words[-1].text) and words[-1].conf < 80:
        words = words[:-1]
    if all(_is_symbols(w.text) for w in words):
        return []
    return words


def _to_polygon(to_image: np.ndarray, x0: float, y0: float, x1: float, y1: float):
    import cv2

    pts = np.asarray([[[x0, y0]], [[x1, y0]], [[x1, y1]], [[x0, y1]]], dtype=np.float32)
    mapped = cv2.perspectiveTransform(pts, to_image)[:, 0, :]
    return [(float(x), float(y)) for x, y in mapped]


def _reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Top to bottom; lines whose vertical centres are within half a line height of each
    other form one row and are ordered left to right."""
    def bounds(line):
        ys = [p[1] for p in line.polygon]
        xs = [p[0] for p in line.polygon]
        return min(ys), max(ys), min(xs)

    items = sorted(lines, key=lambda ln: bounds(ln)[0])
    rows: list[list[OcrLine]] = []
    for line in items:
        top, bottom, _ = bounds(line)
        centre, height = (top + bottom) / 2, bottom - top
        if rows:
            rt, rb, _ = bounds(rows[-1][0])
            if abs(centre - (rt + rb) / 2) <= 0.5 * max(height, rb - rt):
                rows[-1].append(line)
                continue
        rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda ln: bounds(ln)[2])]
