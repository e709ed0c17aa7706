"""The errors of the local Rekognition engine, named and shaped as Rekognition's.

Every local operation that refuses a request raises one of these classes. Each carries boto3's
``response`` shape, so ``e.response["Error"]["Code"]`` is the AWS error code (the class name)
whether the client is ``LocalRekognition`` or ``boto3.client("rekognition")``; the classes are
also reachable as ``client.exceptions.<Name>`` (:data:`EXCEPTIONS`), as with boto3. The codes
and the operations that may raise them are those of botocore's Rekognition service model
(``operation_model(...).error_shapes``).

They are reko errors too (:class:`~reko.errors.InputError`: the request is wrong, retrying it
fails the same way), with the HTTP status reko's web API answers: 404 for a missing resource,
413 for an image over the size limit, 409 for a conflict, 400 otherwise. A missing model or
dependency is not a request error: engines raise :class:`~reko.errors.AnalyzerError` for it.
"""

from __future__ import annotations

import types
from typing import Any

from ...errors import InputError, MediaError, NotFoundError, TooLargeError


class RekognitionError(InputError):
    """Base of the Rekognition-named errors; ``code`` is the AWS error code and ``response``
    mimics ``botocore.exceptions.ClientError.response`` so ``e.response["Error"]["Code"]``
    works as with boto3."""

    http_status = 400

    @property
    def code(self) -> str:
        """The AWS error code (the class name)."""
        return type(self).__name__

    @property
    def response(self) -> dict[str, Any]:
        """``{"Error": {"Code", "Message"}, "ResponseMetadata": {"HTTPStatusCode"}}``."""
        return {"Error": {"Code": self.code, "Message": str(self)},
                "ResponseMetadata": {"HTTPStatusCode": self.http_status}}


class ResourceNotFoundException(NotFoundError, RekognitionError):
    """The collection or user does not exist (HTTP 404 in reko's web API)."""

    http_status = 404


class InvalidParameterException(RekognitionError):
    """A parameter is malformed or out of range, or the image has no usable face (HTTP 400)."""

    http_status = 400


class InvalidPaginationTokenException(InvalidParameterException):
    """``NextToken`` was not produced by this collection's listing (HTTP 400)."""


class InvalidS3ObjectException(InvalidParameterException, MediaError):
    """``Image.S3Object`` was given: AWS answers this code when it cannot read the object, and
    the local engine can read none (it takes ``Image={"Bytes": ...}`` only). It is also an
    :class:`InvalidParameterException` (the request names an image the engine cannot use) and a
    :class:`~reko.errors.MediaError` (no image could be read), HTTP 400."""

    http_status = 400


class InvalidImageFormatException(MediaError, RekognitionError):
    """``Image.Bytes`` is not a JPEG/PNG the engine can decode (HTTP 400)."""

    http_status = 400


class ImageTooLargeException(TooLargeError, RekognitionError):
    """``Image.Bytes`` is longer than Rekognition's limit
    (:data:`~.images.MAX_IMAGE_BYTES`, 5 MiB; HTTP 413 in reko's web API)."""

    http_status = 413


class ResourceAlreadyExistsException(RekognitionError):
    """``create_collection`` with a CollectionId that already exists (HTTP 409)."""

    http_status = 409


class ConflictException(RekognitionError):
    """``create_user`` with a UserId that already exists (HTTP 409)."""

    http_status = 409


#: The Rekognition-named error classes, as ``client.exceptions`` exposes them in boto3
#: (``ClientError``, boto3's base of them all, is :class:`RekognitionError`).
EXCEPTIONS = types.SimpleNamespace(ClientError=RekognitionError, **{cls.__name__: cls for cls in (
    ResourceNotFoundException, InvalidParameterException, InvalidPaginationTokenException,
    InvalidS3ObjectException, InvalidImageFormatException, ImageTooLargeException,
    ResourceAlreadyExistsException, ConflictException)})
