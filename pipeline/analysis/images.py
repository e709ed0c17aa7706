"""Images into the local engines: the request's ``Image`` parameter and pixel arrays.

:func:`request_image` is the one way every local operation (DetectText, DetectFaces,
IndexFaces, DetectLabels, DetectModerationLabels, SearchFacesByImage, SearchUsersByImage)
reads ``Image={"Bytes": ...}``, so a bad image fails with the same Rekognition error
everywhere; :func:`as_rgb` is the one check engines apply to the arrays they are given.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import AnalyzerError, MediaError
from .rekognition_errors import (ImageTooLargeException, InvalidImageFormatException,
                                 InvalidParameterException, InvalidS3ObjectException)

#: Longest ``Image.Bytes`` Rekognition accepts: 5 MiB (botocore's service model, shape
#: ``ImageBlob``: ``max`` 5242880; larger raises ImageTooLargeException on AWS too).
MAX_IMAGE_BYTES = 5 * 1024 * 1024


def request_image(operation: str, *, Image: Any, **params: Any) -> np.ndarray:
    """Check a request of image operation ``operation`` (e.g. ``DetectText``) and decode its
    ``Image={"Bytes": <JPEG or PNG bytes>}`` into RGB uint8 H×W×3.

    The image is checked first (so a request without usable bytes fails the same way on every
    operation), then the whole request against botocore's input shape
    (:func:`.shapes.check_request`), then the bytes are decoded.

    Raises:
        InvalidS3ObjectException: ``Image.S3Object`` instead of ``Bytes`` (the local engine
            reads no S3 object; use the ``rekognition`` analyzer for those).
        InvalidParameterException: ``Image`` is not a dict with non-empty ``Bytes``, or another
            parameter does not match the operation's input shape.
        ImageTooLargeException: ``Bytes`` is longer than :data:`MAX_IMAGE_BYTES`.
        InvalidImageFormatException: ``Bytes`` is not an image Pillow can decode.
    """
    from ..media import decode_image
    from .shapes import check_request

    data = Image.get("Bytes") if isinstance(Image, dict) else None
    if data is None and isinstance(Image, dict) and "S3Object" in Image:
        raise InvalidS3ObjectException(
            "the local engine reads Image={'Bytes': <JPEG or PNG bytes>}; Image.S3Object "
            "needs the AWS Rekognition client (REKO analysis engine 'rekognition')")
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise InvalidParameterException(
            "Image must be {'Bytes': <JPEG or PNG bytes>} with at least one byte")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLargeException(
            f"Image.Bytes is {len(data)} bytes, over Rekognition's limit of {MAX_IMAGE_BYTES} "
            "bytes; send a smaller JPEG")
    check_request(operation, Image=Image, **params)
    try:
        return decode_image(bytes(data))
    except MediaError as exc:
        raise InvalidImageFormatException(
            f"Request has invalid image format: {exc}; send JPEG or PNG bytes") from None


def as_rgb(image: Any, purpose: str = "analysis") -> np.ndarray:
    """``image`` as a C-contiguous RGB uint8 H×W×3 array: grey H×W and H×W×1 are repeated
    into three channels, RGBA H×W×4 loses its alpha; RGB is returned as it is (contiguous).

    Raises:
        AnalyzerError: not a uint8 array of one of those shapes (``purpose`` names the caller
            in the message, e.g. ``"OCR"``).
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise AnalyzerError(f"{purpose} needs an RGB uint8 H×W×3 image, got {arr.dtype} {arr.shape}")
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    elif arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)
