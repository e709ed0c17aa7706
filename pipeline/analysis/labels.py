"""The object detector behind ``detect_labels``: CenterNet COCO-80 in a long-lived Node worker.

No COCO detector ships inside a PyPI or Debian package; the npm package ``@vladmandic/human``
3.3.6 ships one (``models/centernet.json`` + ``.bin``: MobileNetV3-CenterNet, 512×512 input,
COCO-80). It runs under Node ≥ 18 on TensorFlow.js's WASM backend (4.22.0, SIMD, one thread).
reko starts one worker per analysis process (``labels_node/worker.js``) and talks to it over
stdin/stdout: Python resizes frames to 512×512 RGB and sends them in batches; the worker answers
one JSON line per batch. A worker that dies is restarted once per request; a missing Node or
missing npm packages raise :class:`~reko.errors.AnalyzerError` naming the install command.

Install: ``bash infra/install-labels.sh`` (``npm ci`` into ``pipeline/analysis/labels_node``).
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import subprocess
import threading
import weakref
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Sequence

import numpy as np

from ...errors import AnalyzerError
from .engines import install_hint
from .geometry import nms
from .label_taxonomy import COCO80

#: Folder holding ``worker.js``, ``package.json``, ``package-lock.json`` (and ``node_modules``).
WORKER_DIR = Path(__file__).resolve().parent / "labels_node"
INSTALL_HINT = install_hint("labels")
MIN_NODE_MAJOR = 18
#: The model's input side in pixels (``tower_0/images`` is 1×512×512×3).
INPUT_PX = 512
#: Raw CenterNet scores below this are dropped in the worker (0–1).
MIN_SCORE = 0.05
#: Same-class boxes overlapping more than this (IoU) are merged.
NMS_IOU = 0.5
#: Boxes of *any* class overlapping more than this are one object: CenterNet often emits the
#: same box with several classes (a cat as dog 0.47 / bed 0.25 / cat 0.20); the best is kept.
SAME_BOX_IOU = 0.85
#: Raw CenterNet score → Rekognition-like confidence (0–100): piecewise-linear knots
#: (score, confidence). Measured on real photos (scikit-image, opencv-doc, bikes.mp4): true
#: objects score 0.3–0.75, confusions 0.15–0.27, so score 0.3 maps to 55 (DetectLabels' default
#: MinConfidence) and Human's own threshold 0.2 to 45. Monotone: ranking is unchanged.
CONFIDENCE_KNOTS = ((0.0, 0.0), (0.2, 45.0), (0.3, 55.0), (0.5, 80.0), (0.7, 95.0), (1.0, 100.0))
MODEL_VERSION = "centernet-mb3-coco80/human-3.3.6"


@dataclass(frozen=True)
class Detection:
    """One detected object.

    ``coco_class`` is a COCO-80 name (``"cell phone"``); ``score`` the model's raw score 0–1;
    ``box`` is ``(left, top, width, height)`` as ratios 0–1 of the image width/height.
    """

    coco_class: str
    score: float
    box: tuple[float, float, float, float]


def check_installed(worker_dir: Path = WORKER_DIR, node: str | None = None) -> str:
    """Path of a usable ``node`` binary, after checking the worker's npm packages are installed.

    Raises:
        AnalyzerError: Node is missing or older than 18, or ``npm ci`` was not run in
            ``worker_dir``; the message gives the install command.
    """
    node = node or shutil.which("node")
    if not node:
        raise AnalyzerError(f"labels need Node.js >= {MIN_NODE_MAJOR} on PATH; install it and the "
                            f"label model with: {INSTALL_HINT}")
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30,
                                 check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise AnalyzerError(f"labels: {node} --version failed ({exc}); {INSTALL_HINT}") from None
    match = re.match(r"v(\d+)", version)
    if not match or int(match.group(1)) < MIN_NODE_MAJOR:
        raise AnalyzerError(f"labels need Node.js >= {MIN_NODE_MAJOR}, found {version or '?'} at {node}")
    modules = Path(worker_dir) / "node_modules"
    needed = [modules / "@vladmandic" / "human" / "models" / "centernet.json",
              modules / "@vladmandic" / "human" / "models" / "centernet.bin",
              modules / "@tensorflow" / "tfjs-backend-wasm" / "package.json",
              modules / "@tensorflow" / "tfjs-converter" / "package.json"]
    missing = [str(p.relative_to(modules)) for p in needed if not p.is_file()]
    if missing:
        raise AnalyzerError(f"labels: the label model is not installed ({missing[0]} missing in "
                            f"{modules}); run: {INSTALL_HINT}")
    return node


class _Worker:
    """One running ``node worker.js`` process with reader threads for stdout and stderr."""

    def __init__(self, node: str, worker_dir: Path, startup_timeout_s: float):
        self.proc = subprocess.Popen([node, "worker.js"], cwd=worker_dir, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # all three are pipes (PIPE above), never None
        assert self.proc.stdin is not None and self.proc.stdout is not None and self.proc.stderr is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self._stdout: IO[bytes] = self.proc.stdout
        self._stderr: IO[bytes] = self.proc.stderr
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.stderr: deque[str] = deque(maxlen=20)
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        self._stderr_thread = threading.Thread(target=self._pump_stderr, daemon=True)
        self._stderr_thread.start()
        try:
            self.info = self.read(startup_timeout_s)
        except _WorkerDied as exc:
            raise AnalyzerError(f"labels: the Node worker failed to start ({exc}); {INSTALL_HINT}") from None
        if "error" in self.info or not self.info.get("ready"):
            self.kill()
            raise AnalyzerError(f"labels: the Node worker failed to start: "
                                f"{str(self.info.get('error', self.info))[:500]}; {INSTALL_HINT}")

    def _pump_stdout(self) -> None:
        for line in iter(self._stdout.readline, b""):
            self.lines.put(line)
        self.lines.put(None)

    def _pump_stderr(self) -> None:
        for line in iter(self._stderr.readline, b""):
            self.stderr.append(line.decode("utf-8", "replace").rstrip())

    def read(self, timeout_s: float) -> dict:
        try:
            line = self.lines.get(timeout=timeout_s)
        except queue.Empty:
            self.kill()
            raise _WorkerDied(f"no answer within {timeout_s:.0f} s") from None
        if line is None:
            self.proc.wait(timeout=5)
            self._stderr_thread.join(timeout=2)  # its last words
            raise _WorkerDied(f"exited with code {self.proc.returncode}: {' | '.join(self.stderr)[-500:]}")
        try:
            return json.loads(line)
        except ValueError:
            self.kill()
            raise _WorkerDied(f"unexpected output {line[:200]!r}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        try:
            self.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()


class _WorkerDied(Exception):
    pass


class LabelDetector:
    """COCO-80 object detection through the Node worker (one per instance, started by
    :meth:`load` or the first detection; :meth:`close` stops it, a later call starts another).

    ``detect(image)`` takes an RGB uint8 H×W×3 array and returns :class:`Detection` s (raw scores
    0–1, boxes as ratios). Not meant to be shared across processes; calls from several threads
    of one process are serialised.

    Raises (from any method): :class:`~reko.errors.AnalyzerError` when Node or the npm packages
    are missing, or the worker fails twice on the same batch.
    """

    def __init__(self, worker_dir: Path | str = WORKER_DIR, node: str | None = None, *,
                 startup_timeout_s: float = 120.0, frame_timeout_s: float = 30.0):
        self._worker_dir = Path(worker_dir)
        self._node = check_installed(self._worker_dir, node)
        self._startup_timeout_s = startup_timeout_s
        self._frame_timeout_s = frame_timeout_s
        self._worker: _Worker | None = None
        self._lock = threading.Lock()
        self._next_id = 0
        self.restarts = 0  #: how many times a dead worker was replaced
        self._finalizer = weakref.finalize(self, LabelDetector._shutdown, [None])

    @staticmethod
    def _shutdown(holder: list) -> None:
        if holder[0] is not None:
            holder[0].close()

    def _ensure_worker(self) -> _Worker:
        if self._worker is None or self._worker.proc.poll() is not None:
            if self._worker is not None:
                self.restarts += 1
            self._worker = _Worker(self._node, self._worker_dir, self._startup_timeout_s)
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, LabelDetector._shutdown, [self._worker])
        return self._worker

    def load(self) -> "LabelDetector":
        """Start the Node worker now (otherwise on the first :meth:`detect`); returns self.

        Raises:
            AnalyzerError: the worker failed to start (the message gives its last words).
        """
        with self._lock:
            self._ensure_worker()
        return self

    @property
    def model_version(self) -> str:
        """Name of the detector model (``LabelModelVersion`` reports Rekognition's instead)."""
        return MODEL_VERSION

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Objects in one RGB uint8 H×W×3 image, best first."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Objects in each image (RGB uint8 H×W×3), one list per image, best first.

        Frames are resized to 512×512 (the model's input; aspect ratio is not kept, as in
        Human) and sent in one request. Same-class boxes with IoU > 0.5 and other-class
        copies of one box (IoU > 0.85) are dropped. The reply must come within
        ``startup_timeout_s / 4 + frame_timeout_s`` per frame, else the worker is killed and the
        batch retried once on a new one.
        """
        if not images:
            return []
        payload = b"".join(_model_input(img) for img in images)
        with self._lock:
            for attempt in (1, 2):
                worker = self._ensure_worker()
                self._next_id += 1
                header = json.dumps({"id": self._next_id, "count": len(images), "size": INPUT_PX,
                                     "min_score": MIN_SCORE})
                try:
                    worker.stdin.write(header.encode() + b"\n" + payload)
                    worker.stdin.flush()
                    reply = worker.read(self._startup_timeout_s / 4 + self._frame_timeout_s * len(images))
                except (BrokenPipeError, OSError, _WorkerDied) as exc:
                    worker.kill()
                    if attempt == 2:
                        raise AnalyzerError(f"labels: the Node worker died twice on one batch ({exc})") from None
                    continue
                if reply.get("id") != self._next_id or "error" in reply:
                    worker.kill()
                    if attempt == 2:
                        raise AnalyzerError(f"labels: the Node worker failed: {reply.get('error', reply)}")
                    continue
                return [_postprocess(rows) for rows in reply["detections"]]
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the worker process (a later call starts a new one)."""
        with self._lock:
            if self._worker is not None:
                self._worker.close()
                self._worker = None


def confidence_from_score(score: float) -> float:
    """Rekognition-like ``Confidence`` (0–100) for a raw CenterNet score (0–1); see
    :data:`CONFIDENCE_KNOTS`."""
    xs, ys = zip(*CONFIDENCE_KNOTS)
    return float(np.interp(min(1.0, max(0.0, score)), xs, ys))


def _model_input(image: np.ndarray) -> bytes:
    from PIL import Image

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise AnalyzerError(f"labels: expected an RGB uint8 H×W×3 image, got {image.dtype} {image.shape}")
    pil = Image.fromarray(image)
    if pil.size != (INPUT_PX, INPUT_PX):
        pil = pil.resize((INPUT_PX, INPUT_PX), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(pil, dtype=np.uint8)).tobytes()


def _postprocess(rows: list[list[float]]) -> list[Detection]:
    """Worker rows ``[x1, y1, x2, y2, score, class]`` (ratios) → clipped detections, best first,
    without same-class duplicates (IoU > :data:`NMS_IOU`) or other-class copies of one box
    (IoU > :data:`SAME_BOX_IOU`); rows of an unknown class or an empty box are dropped."""
    valid: list[tuple[int, float, np.ndarray]] = []
    for x1, y1, x2, y2, score, cls in rows:
        cls = int(cls)
        if not 0 <= cls < len(COCO80):
            continue
        box = np.clip(np.array([x1, y1, x2, y2], dtype=float), 0.0, 1.0)
        if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
            continue
        valid.append((cls, float(score), box))
    if not valid:
        return []
    keep = nms(np.array([b for _, _, b in valid]), np.array([s for _, s, _ in valid]),
               SAME_BOX_IOU, classes=np.array([c for c, _, _ in valid]), class_iou_threshold=NMS_IOU)
    return [Detection(COCO80[c], s, (float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])))
            for c, s, b in (valid[i] for i in keep)]
