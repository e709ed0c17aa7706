"""A Rekognition-compatible HTTP endpoint for reko's local engine (AWS JSON 1.1).

Any Rekognition client reaches :class:`~reko.pipeline.analysis.local.LocalRekognition` by
changing only its endpoint::

    boto3.client("rekognition", endpoint_url="http://127.0.0.1:4597").detect_faces(
        Image={"Bytes": jpeg}, Attributes=["ALL"])

(or ``AWS_ENDPOINT_URL_REKOGNITION=http://127.0.0.1:4597`` in the environment, read by
boto3 ≥ 1.28). Served by ``reko serve-rekognition --port P`` and by ``reko stack up``.

The protocol is the one botocore's Rekognition model declares (``protocol: json``,
``jsonVersion: 1.1``, ``targetPrefix: RekognitionService``): ``POST /`` with
``X-Amz-Target: RekognitionService.<Operation>`` and a JSON body whose blobs are base64
(see :mod:`.wire`). A request goes through, in order:

1. the target: not ``RekognitionService.<an operation of the model>`` → ``UnknownOperationException``
   (400); an operation of the model the local engine does not implement →
   ``UnknownOperationException`` naming the ones it does;
2. decoding with botocore's own parser: not JSON, wrong JSON types, bad base64 →
   ``SerializationException`` (400);
3. the model's constraints (required, lengths, ranges, enums, patterns) →
   ``ValidationException`` (400) in AWS's wording — except the ``max`` length of ``ImageBlob``,
   which the engine answers with ``ImageTooLargeException`` as Rekognition does;
4. the engine: its Rekognition-named errors (:mod:`..analysis.rekognition_errors`) are answered
   with their code and Rekognition's status — 400 for every client error,
   500 for ``InternalServerError`` and ``ThrottlingException`` (Developer Guide, "Error
   handling": errors grouped by HTTP status); a missing local dependency (an
   :class:`~reko.errors.AnalyzerError`) is ``InternalServerError`` (500) with the install hint.

Errors carry ``{"__type", "message", "Code", "Message", "Logref"}`` so unmodified boto3 raises
the modelled exception (``client.exceptions.InvalidImageFormatException`` …). Responses are
the engine's dicts encoded with botocore's JSON serializer on the operation's output shape
(timestamps as epoch seconds), with ``x-amzn-RequestId``.

**Signatures are not checked.** A SigV4-signed request (what boto3 sends) is accepted with any
credentials, and so is an unsigned one: this endpoint is for one machine, bound to loopback by
default. Do not expose it.

One engine instance serves every thread; calls are serialised per engine family (text, faces
and collections, labels, moderation) because the OCR and face engines are not thread-safe, so
different families run in parallel and calls of one family queue.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable

from .wire import (
    JSON_11,
    WireError,
    check_constraints,
    error_body_json,
    parse_body,
    serialize_body,
    serve_wsgi,
    validation_message,
)

log = logging.getLogger(__name__)

TARGET_PREFIX = "RekognitionService"  #: the model's ``targetPrefix``
#: Blob shapes whose ``max`` is left to the engine (ImageTooLargeException instead of a
#: ValidationException: botocore's model gives ``ImageBlob`` max 5242880).
ENGINE_CHECKED_BLOBS = ("ImageBlob",)
#: Error codes Rekognition answers with HTTP 500 (Developer Guide, "Error handling"); every
#: other error code is a 400.
SERVER_ERROR_CODES = frozenset({"InternalServerError", "ThrottlingException"})
#: Operation → the engine family whose lock it takes (see the module doc).
FAMILIES = {"DetectText": "text", "DetectLabels": "labels", "DetectModerationLabels": "moderation"}


def _family(operation: str) -> str:
    return FAMILIES.get(operation, "faces")


class RekognitionEndpoint:
    """The WSGI application: ``RekognitionEndpoint(client)(environ, start_response)``.

    ``client``: an object with boto3 Rekognition's method names (default a
    :class:`~reko.pipeline.analysis.local.LocalRekognition` on ``data_dir``, where face
    collections persist). :attr:`operations` maps each served operation name (``DetectText``)
    to the client's method name (``detect_text``). ``requests`` counts answered requests per
    operation (for ``status``/benchmarks).
    """

    def __init__(self, client: Any = None, data_dir: str | Path = "reko-data"):
        from botocore import xform_name

        from ..analysis.shapes import rekognition_model

        if client is None:
            from ..analysis.local import LocalRekognition

            client = LocalRekognition(data_dir)
        self.client = client
        self.model = rekognition_model()
        self.operations = {op: xform_name(op) for op in self.model.operation_names
                           if callable(getattr(client, xform_name(op), None))}
        self._locks = {family: threading.Lock() for family in ("text", "faces", "labels", "moderation")}
        self.requests: dict[str, int] = {}

    # -- WSGI ------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request_id = str(uuid.uuid4())
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "GET" and environ.get("PATH_INFO", "/") in ("/", "/ping"):
            body = b'{"service":"rekognition","engine":"reko local"}'
            return self._answer(start_response, 200, body, request_id, "application/json")
        try:
            if method != "POST":
                raise WireError("UnknownOperationException", f"{method} is not an operation; send POST / "
                                "with X-Amz-Target", 404)
            operation = self._operation(environ.get("HTTP_X_AMZ_TARGET", ""))
            body = self._read(environ)
            status, payload = 200, self.handle(operation, body)
        except WireError as exc:
            status = exc.status
            payload = error_body_json(exc.code, exc.message, logref=request_id)
            log.info("%s %s: %s", environ.get("HTTP_X_AMZ_TARGET", "?"), exc.code, exc.message[:200])
        return self._answer(start_response, status, payload, request_id, JSON_11)

    @staticmethod
    def _answer(start_response: Callable, status: int, body: bytes, request_id: str,
                content_type: str) -> list[bytes]:
        from werkzeug.http import HTTP_STATUS_CODES

        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'Error')}", [
            ("Content-Type", content_type), ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", request_id)])
        return [body]

    @staticmethod
    def _read(environ: dict[str, Any]) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        return environ["wsgi.input"].read(length) if length > 0 else b""

    def _operation(self, target: str) -> str:
        prefix, _, operation = target.partition(".")
        if prefix != TARGET_PREFIX or operation not in self.model.operation_names:
            raise WireError("UnknownOperationException",
                            f"unknown operation {target or '(no X-Amz-Target header)'!r}; send "
                            f"X-Amz-Target: {TARGET_PREFIX}.<Operation>")
        if operation not in self.operations:
            raise WireError("UnknownOperationException",
                            f"{operation} is not implemented by reko's local engine; it implements "
                            f"{', '.join(sorted(self.operations))}")
        return operation

    # -- one request -----------------------------------------------------------------------------
    def handle(self, operation: str, body: bytes) -> bytes:
        """Run ``operation`` on a JSON 1.1 request ``body``; returns the response body.

        Raises:
            WireError: the request was refused (see the module doc for the codes).
        """
        shape = self.model.operation_model(operation).input_shape
        params = parse_body(shape, body, "json") if shape is not None else {}
        errors = check_constraints(shape, params, skip_max_blob_shapes=ENGINE_CHECKED_BLOBS) if shape else []
        if errors:
            raise WireError("ValidationException", validation_message(errors))
        started = time.perf_counter()
        with self._locks[_family(operation)]:
            result = self._call(operation, params)
        log.debug("%s in %.0f ms", operation, (time.perf_counter() - started) * 1000)
        self.requests[operation] = self.requests.get(operation, 0) + 1
        output = self.model.operation_model(operation).output_shape
        return serialize_body(output, result, "json") if output is not None else b"{}"

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        from ...errors import AnalyzerError
        from ..analysis.rekognition_errors import RekognitionError

        try:
            return getattr(self.client, self.operations[operation])(**params)
        except RekognitionError as exc:
            status = 500 if exc.code in SERVER_ERROR_CODES else 400
            raise WireError(exc.code, str(exc), status) from None
        except AnalyzerError as exc:
            raise WireError("InternalServerError", f"the local engine cannot run {operation}: {exc}", 500) from None
        except TypeError as exc:  # a modelled member the local method does not take
            raise WireError("InvalidParameterException",
                            f"{operation}: reko's local engine does not support this request: {exc}") from None

    def preload(self, families: Iterable[str]) -> None:
        """Load the engines of ``families`` (``text``, ``faces``, ``labels``, ``moderation``)
        now, so the first request does not pay for it; missing dependencies are logged."""
        from ..analysis.engines import ENGINES

        for family in families:
            try:
                ENGINES.get(family)
            except Exception as exc:  # noqa: BLE001 - a missing optional engine is reported per request
                log.warning("the %s engine is not available: %s", family, exc)


def serve(host: str = "127.0.0.1", port: int = 0, *, data_dir: str | Path = "reko-data",
          threads: int = 8, preload: Iterable[str] = (), on_ready: Callable[[int], None] | None = None) -> None:
    """Serve :class:`RekognitionEndpoint` with waitress on ``host:port`` (``0`` picks a free
    port) until interrupted; ``on_ready(port)`` is called once it listens. Blocks.

    Raises:
        OSError: the port cannot be bound.
    """
    endpoint = RekognitionEndpoint(data_dir=data_dir)
    endpoint.preload(preload)
    # images are at most 5 MiB, ~7 MiB as base64: allow 5x that for the JSON around them
    serve_wsgi(endpoint, host=host, port=port, threads=threads, ident="reko-rekognition", on_ready=on_ready,
               max_request_body_size=40 * 2**20)
