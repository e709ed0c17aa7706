"""Rekognition's service model from botocore: the local engine checks requests against it,
and tests validate its responses against it.

botocore ships the Rekognition API model (``botocore/data/rekognition/*/service-2.json``); the
local engine must accept the same requests (:func:`check_request`) and return exactly those
shapes, so a frame analysed locally and one analysed by AWS produce the same documents.
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


def check_request(operation: str, **params: Any) -> dict[str, Any]:
    """The request ``params`` of ``operation`` (e.g. ``DetectText``) without the ``None`` ones
    (boto3 sends no member for them), after checking them against botocore's input shape:
    member names, types, required members and ranges, as boto3 checks before sending.

    Raises:
        InvalidParameterException: a member is unknown, missing, of the wrong type or out of
            range (the message is botocore's report).
    """
    from .rekognition_errors import InvalidParameterException

    request = {k: v for k, v in params.items() if v is not None}
    errors = validation_errors(operation, request, request=True)
    if errors:
        raise InvalidParameterException(f"{operation}: {errors}")
    return request
