"""Analysis engines behind one interface: boto3's Rekognition client.

``local`` is reko's offline, Rekognition-compatible engine (:mod:`.local`); ``rekognition`` is
boto3's client. Ingest only calls client methods (``detect_text`` …, listed by
:class:`.protocol.RekognitionClient`), so either is used unchanged. :data:`CLIENTS` maps each
name to its factory; nothing is imported or loaded until :func:`make_client` is called.
"""

from __future__ import annotations

from os import PathLike
from typing import Callable

from ...errors import AnalyzerError
from .protocol import RekognitionClient


def _local(data_dir: str | PathLike) -> RekognitionClient:
    from .local import LocalRekognition

    return LocalRekognition(data_dir)


def _rekognition(data_dir: str | PathLike) -> RekognitionClient:
    from .rekognition import make_rekognition_client

    return make_rekognition_client(data_dir)


#: Analyzer name (``REKO_ANALYZER``) → factory of its client, given reko's data directory
#: (where the local engine keeps face collections; boto3's client does not use it).
CLIENTS: dict[str, Callable[[str | PathLike], RekognitionClient]] = {
    "local": _local,
    "rekognition": _rekognition,
}


def make_client(name: str, data_dir: str | PathLike) -> RekognitionClient:
    """A Rekognition-shaped client by analyzer name (a key of :data:`CLIENTS`): ``local``
    (offline engine, state under ``data_dir``) or ``rekognition`` (boto3, AWS credentials
    and region from the environment).

    Raises:
        AnalyzerError: unknown name, or boto3 missing for ``rekognition``.
    """
    factory = CLIENTS.get(name)
    if factory is None:
        raise AnalyzerError(f"unknown analyzer {name!r}: use "
                            + " or ".join(repr(n) for n in CLIENTS))
    return factory(data_dir)
