"""Analysis engines behind one interface: boto3's Rekognition client.

``local`` is reko's offline, Rekognition-compatible engine (:mod:`.local`); ``rekognition`` is
boto3's client. Ingest only calls client methods (``detect_text`` …), so either is used unchanged.
"""

from __future__ import annotations

from typing import Any

from ...errors import AnalyzerError


def make_client(name: str, data_dir) -> Any:
    """A Rekognition-shaped client: ``local`` (offline engine) or ``rekognition`` (boto3).

    Raises:
        AnalyzerError: unknown name, or boto3 missing for ``rekognition``.
    """
    if name == "local":
        from .local import LocalRekognition

        return LocalRekognition(data_dir)
    if name == "rekognition":
        try:
            import boto3
        except ImportError:
            raise AnalyzerError("REKO_ANALYZER=rekognition needs boto3: pip install 'reko[aws]'") from None
        return boto3.client("rekognition")
    raise AnalyzerError(f"unknown analyzer {name!r}: use 'local' or 'rekognition'")
