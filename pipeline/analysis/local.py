"""The local, offline engine: a drop-in for boto3's Rekognition client.

Method names, keyword parameters and response shapes follow the Rekognition API (validated
against botocore's service model in the tests); each capability lives in its own mixin module
and loads its models on first use, once per process.
"""

from __future__ import annotations

from pathlib import Path

from .local_faces import LocalFacesMixin
from .local_labels import LocalLabelsMixin
from .local_text import LocalTextMixin


class LocalRekognition(LocalTextMixin, LocalFacesMixin, LocalLabelsMixin):
    """``LocalRekognition(data_dir).detect_text(Image={'Bytes': ...})``, ``index_faces``,
    ``detect_labels``, ``detect_moderation_labels`` …

    ``data_dir`` is where persistent state (face collections) is kept.
    """

    def __init__(self, data_dir: str | Path = "reko-data"):
        self._data_dir = Path(data_dir)
