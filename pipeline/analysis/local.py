"""The local, offline engine: a drop-in for boto3's Rekognition client.

Method names, keyword parameters and response shapes follow the Rekognition API (validated
against botocore's service model in the tests, and checked against
:class:`.protocol.RekognitionClient`); each capability lives in its own mixin module, and its
engine loads on first use, once per process (:mod:`.engines`). Bad requests raise
Rekognition's modelled errors (:mod:`.rekognition_errors`), missing models
:class:`~reko.errors.AnalyzerError`.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from .local_faces import LocalFacesMixin
from .local_labels import LocalLabelsMixin
from .local_text import LocalTextMixin
from .rekognition_errors import EXCEPTIONS


class LocalRekognition(LocalTextMixin, LocalFacesMixin, LocalLabelsMixin):
    """``LocalRekognition(data_dir).detect_text(Image={'Bytes': ...})``, ``index_faces``,
    ``detect_labels``, ``detect_moderation_labels`` …

    ``data_dir`` is where persistent state (face collections) is kept. ``exceptions`` holds
    the Rekognition-named error classes, as boto3's ``client.exceptions`` does.
    """

    exceptions = EXCEPTIONS

    def __init__(self, data_dir: str | PathLike = "reko-data"):
        self._data_dir = Path(data_dir)
