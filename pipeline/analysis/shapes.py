"""Rekognition's service model from botocore: validate local engine responses against it.

botocore ships the Rekognition API model (``botocore/data/rekognition/*/service-2.json``); the
local engine must return exactly those shapes so a frame analysed locally and one analysed by
AWS produce the same documents.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def rekognition_model():
    """botocore's ``ServiceModel`` for Rekognition (loaded once, no client, no credentials)."""
    import botocore.session
    from botocore.model import ServiceModel

    loader = botocore.session.get_session().get_component("data_loader")
    return ServiceModel(loader.load_service_model("rekognition", "service-2"), "rekognition")


def validation_errors(operation: str, response: dict[str, Any], *, request: bool = False) -> str:
    """Errors of ``response`` against the output shape of ``operation`` (e.g. ``DetectText``),
    or of a request against its input shape when ``request`` is true; ``""`` when valid.

    Checks member names, types, required members and enum-free ranges as botocore's
    ``ParamValidator`` does; ``ResponseMetadata`` is ignored.
    """
    from botocore.validate import ParamValidator

    op = rekognition_model().operation_model(operation)
    shape = op.input_shape if request else op.output_shape
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    report = ParamValidator().validate(body, shape)
    return report.generate_report() if report.has_errors() else ""
