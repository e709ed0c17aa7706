"""Images into the local engines: the request's ``Image`` parameter and pixel arrays.

:func:`request_image` is the one way every local operation (DetectText, DetectFaces,
IndexFaces, DetectLabels, DetectModerationLabels, SearchFacesByImage, SearchUsersByImage)
reads ``Image={"Bytes": ...}``, so a bad image fails with the same Rekognition error
everywhere; :func:`as_rgb` is the one check engines apply to the arrays they are given;
:func:`fit_image` turns any JPEG/PNG into one every Rekognition image operation accepts (the
``rekognition`` analyzer applies it to every ``Image.Bytes`` it sends).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import AnalyzerError, MediaError
from .rekognition_errors import (
    ImageTooLargeException,
    InvalidImageFormatException,
    InvalidParameterException,
    InvalidS3ObjectException,
)

#: Longest ``Image.Bytes`` Rekognition accepts: 5 MiB (botocore's service model, shape
#: ``ImageBlob``: ``max`` 5242880; larger raises ImageTooLargeException on AWS too).
MAX_IMAGE_BYTES = 5 * 1024 * 1024

#: Smallest width and height Rekognition Image accepts: 80 px ("The minimum image dimensions is
#: 80 pixels for both height and width", Amazon Rekognition Developer Guide, Guidelines and
#: quotas, https://docs.aws.amazon.com/rekognition/latest/dg/limits.html, read 2026-11-30).
MIN_IMAGE_SIDE_PX = 80

#: Longest side :func:`fit_image` lets through: 1920 px. The same page documents 10,000 px per
#: side as the maximum for DetectLabels and DetectModerationLabels, none for DetectText,
#: IndexFaces or the searches, and says "a face must be no smaller than 40x40 pixels in an image
#: with 1920X1080 pixels. Images with dimensions higher than 1920X1080 pixels will need a larger
#: minimum face size proportionally" — so pixels beyond 1920 on the long side buy no smaller
#: faces, only bytes. It is also reko's default ``REKO_MAX_FRAME_SIDE_PX``.
MAX_IMAGE_SIDE_PX = 1920

#: JPEG qualities :func:`fit_image` tries, in order, before it scales an image down further.
FIT_JPEG_QUALITIES = (90, 80, 70, 60)


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


def fit_image(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES, max_side_px: int = MAX_IMAGE_SIDE_PX,
              min_side_px: int = MIN_IMAGE_SIDE_PX) -> bytes:
    """``data`` (JPEG or PNG bytes) as an image every Rekognition image operation accepts in
    ``Image={"Bytes": ...}``: at most ``max_bytes`` (5 MiB, :data:`MAX_IMAGE_BYTES`), longest
    side at most ``max_side_px`` (:data:`MAX_IMAGE_SIDE_PX`), both sides at least
    ``min_side_px`` (80 px, :data:`MIN_IMAGE_SIDE_PX`).

    An image already within the limits (JPEG or PNG, checked from its header, no decoding) is
    returned as it is, byte for byte. Any other is decoded, turned upright by its EXIF
    orientation (Rekognition applies it too), scaled (Lanczos) so the longest side is at most
    ``max_side_px`` — or up so the shortest side reaches ``min_side_px`` when that keeps the
    longest side within ``max_side_px``; an image too thin for both is padded with black on the
    right/bottom, which changes the frame that ``BoundingBox`` ratios refer to (only for aspect
    ratios beyond 24:1) — and re-encoded as RGB JPEG at the first of :data:`FIT_JPEG_QUALITIES`
    that fits ``max_bytes``, scaling down by 3/4 steps when none does.

    Returns JPEG bytes (or ``data`` unchanged).

    Raises:
        InvalidImageFormatException: ``data`` is empty or not an image Pillow can decode.
        ImageTooLargeException: Pillow refuses to decode it (a decompression bomb: more than
            twice ``PIL.Image.MAX_IMAGE_PIXELS``, ≈179 megapixels).
    """
    import io

    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise InvalidImageFormatException("Request has invalid image format: no bytes; send JPEG or PNG")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt, (width, height) = probe.format, probe.size
            oriented = probe.getexif().get(0x0112, 1) in (1, None)
        if (fmt in ("JPEG", "PNG") and len(data) <= max_bytes and oriented
                and min(width, height) >= min_side_px and max(width, height) <= max_side_px):
            return data
        with Image.open(io.BytesIO(data)) as opened:
            img = ImageOps.exif_transpose(opened).convert("RGB")
    except Image.DecompressionBombError:
        raise ImageTooLargeException("the image has too many pixels to decode; send a smaller photo") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidImageFormatException(
            "Request has invalid image format: not a readable JPEG or PNG") from None
    width, height = img.size
    scale = min(1.0, max_side_px / max(width, height))
    if min(width, height) * scale < min_side_px:
        scale = min(max_side_px / max(width, height), min_side_px / min(width, height))
    while True:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized = img if size == img.size else img.resize(size, Image.Resampling.LANCZOS)
        if min(size) < min_side_px:
            canvas = Image.new("RGB", (max(size[0], min_side_px), max(size[1], min_side_px)))
            canvas.paste(resized, (0, 0))
            resized = canvas
        for quality in FIT_JPEG_QUALITIES:
            out = io.BytesIO()
            resized.save(out, format="JPEG", quality=quality)
            if out.tell() <= max_bytes:
                return out.getvalue()
        if max(resized.size) <= min_side_px:
            raise ImageTooLargeException(f"cannot encode the image in {max_bytes} bytes")
        scale *= 0.75
