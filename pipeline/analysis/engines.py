"""One lifecycle for the local analysis engines: built by name on first use, once per process.

The four engines behind :class:`~.local.LocalRekognition` follow one contract (:class:`Engine`):

* constructing one loads nothing heavy (it may check that its packages are installed);
* ``load()`` loads the models (or starts the worker) now, idempotent, and returns the engine;
  its analysis methods call it themselves, so ``load()`` only moves the cost;
* ``close()`` frees models, sessions, handles and worker processes; a later use loads again;
* a missing package, model file or program raises :class:`~reko.errors.AnalyzerError` (a
  :class:`~reko.errors.FaultError`) whose message names the engine's install command
  (:func:`install_hint`), from the constructor or from ``load()``.

The engines, by name:

* ``text`` — :class:`.ocr.OcrEngine`, behind ``detect_text``;
* ``faces`` — :class:`.faces.FaceEngine`, behind ``detect_faces``, collections and users
  (BlazeFace detection from mediapipe, dlib landmarks and embeddings);
* ``labels`` — :class:`.labels.LabelDetector`, behind ``detect_labels``;
* ``moderation`` — :class:`.moderation.ModerationEngine`, behind ``detect_moderation_labels``.

:data:`ENGINES` holds one loaded engine per name (and constructor options) per process, shared
by every client of that process; a forked child builds its own (a Node worker's pipes and
ONNX/dlib/tesseract handles must not be shared across processes). Engine modules are imported
only when an engine is first asked for: nothing is loaded at import time.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ...errors import AnalyzerError


@runtime_checkable
class Engine(Protocol):
    """What every local engine offers besides its analysis method (see the module doc)."""

    def load(self) -> Any:
        """Load models now (idempotent); returns the engine. Raises AnalyzerError."""

    def close(self) -> None:
        """Free models, handles and processes; a later use loads them again."""


@dataclass(frozen=True)
class EngineSpec:
    """How to build one engine: ``factory`` is ``"<module of this package>:<class>"``,
    imported on first use; ``install_hint`` is the command that installs what it needs."""

    name: str
    factory: str
    install_hint: str


#: The local engines by name. Install hints: reko's pyproject extras and infra scripts; the
#: OCR needs Debian's tesseract traineddata too, the label worker Node.js and npm.
ENGINE_SPECS: dict[str, EngineSpec] = {spec.name: spec for spec in (
    EngineSpec("text", "ocr:OcrEngine",
               "pip install 'reko[local]' (rapidocr-onnxruntime==1.4.4, tesserocr) and "
               "apt-get install tesseract-ocr-kor tesseract-ocr-eng (Debian/Ubuntu)"),
    EngineSpec("faces", "faces:FaceEngine",
               "pip install dlib-bin face-recognition-models mediapipe==0.10.21 "
               "(or pip install 'reko[faces]'; optionally: pip install --no-deps "
               "face-recognition==1.3.0)"),
    EngineSpec("labels", "labels:LabelDetector",
               "bash infra/install-labels.sh (Node.js >= 18 and npm: apt-get install nodejs npm)"),
    EngineSpec("moderation", "moderation:ModerationEngine",
               "pip install --no-deps nudenet==3.4.2 (or bash infra/install-labels.sh)"),
)}


def install_hint(name: str) -> str:
    """The install command of engine ``name`` (``text``, ``faces``, ``labels``, ``moderation``)."""
    return ENGINE_SPECS[name].install_hint


class EngineRegistry:
    """Loaded engines keyed by name and constructor options, one set per process.

    Thread-safe: the first caller of a name builds and loads it while others wait; a build
    that fails is not remembered, so the next call tries again (after an install, say).
    """

    def __init__(self, specs: dict[str, EngineSpec] = ENGINE_SPECS):
        self._specs = specs
        self._engines: dict[tuple, Any] = {}
        self._pid = os.getpid()
        self._lock = threading.RLock()

    def _own_process(self) -> None:
        if self._pid != os.getpid():     # a forked child: its parent's engines are not its own
            self._engines = {}
            self._pid = os.getpid()

    def get(self, name: str, **options: Any) -> Any:
        """The loaded engine ``name`` built with ``options`` (constructor keywords, hashable).

        Raises:
            AnalyzerError: unknown name, or a dependency, model file or worker is missing or
                broken (the message says how to install it).
        """
        spec = self._specs.get(name)
        if spec is None:
            raise AnalyzerError(f"unknown analysis engine {name!r}: use one of {sorted(self._specs)}")
        key = (name, tuple(sorted(options.items())))
        with self._lock:
            self._own_process()
            engine = self._engines.get(key)
            if engine is None:
                engine = self._build(spec, options)
                self._engines[key] = engine
            return engine

    @staticmethod
    def _build(spec: EngineSpec, options: dict[str, Any]) -> Any:
        module_name, _, class_name = spec.factory.partition(":")
        try:
            cls = getattr(importlib.import_module(f"{__package__}.{module_name}"), class_name)
            engine = cls(**options)
            engine.load()
        except ImportError as exc:      # engines name their own; this is the safety net
            raise AnalyzerError(f"{spec.name} analysis needs {exc.name or exc}: "
                                f"{spec.install_hint}") from None
        return engine

    def loaded(self, name: str) -> list[Any]:
        """The engines ``name`` already loaded in this process (for benchmarks and tests)."""
        with self._lock:
            self._own_process()
            return [engine for (n, _), engine in self._engines.items() if n == name]

    def close(self, name: str | None = None) -> None:
        """Close and forget the engines ``name`` (all when None); the next :meth:`get` loads
        them again."""
        with self._lock:
            self._own_process()
            for key in [k for k in self._engines if name is None or k[0] == name]:
                self._engines.pop(key).close()


#: The process's engines, shared by every local client of the process.
ENGINES = EngineRegistry()
