"""A local AWS Elemental MediaConvert over HTTP (REST-JSON), for the local stack.

It serves the three operations reko's handlers call, routed as botocore's MediaConvert model
routes them (``protocol: rest-json``, ``apiVersion: 2017-08-29``):

| operation | request | answer |
|---|---|---|
| ``CreateJob`` | ``POST /2017-08-29/jobs``, JSON body | 201 ``{"job": {...}}`` |
| ``GetJob`` | ``GET /2017-08-29/jobs/{id}`` | 200 ``{"job": {...}}`` |
| ``ListJobs`` | ``GET /2017-08-29/jobs?maxResults=&nextToken=&order=&queue=&status=`` | 200 ``{"jobs": [...], "nextToken"}`` |

Member names on the wire are the model's ``locationName``s (``settings``, ``outputGroups``,
``fileInput``, ``userMetadata`` …): bodies are decoded with botocore's REST-JSON parser and
answers encoded with its REST-JSON serializer on the operations' own shapes, so nothing is
spelt by hand. Errors are the model's: ``BadRequestException`` (400: a request botocore's
validator or the stand-in refuses), ``NotFoundException`` (404: no such job, or a route the
model does not have), with ``x-amzn-ErrorType`` and ``{"message": ...}``; an operation of the
model that this stand-in does not serve answers ``BadRequestException`` naming it.

The jobs themselves are :class:`~reko.pipeline.aws.local_mediaconvert.LocalMediaConvert`'s,
run in the background (SUBMITTED → PROGRESSING → COMPLETE/ERROR, as on AWS) with real ffmpeg,
reading inputs from and writing outputs to the stack's S3 (moto), and each state change is put
on the stack's EventBridge bus as the real "MediaConvert Job State Change" event (source
``aws.mediaconvert``; moto accepts the reserved source that real EventBridge keeps for AWS).
Signatures are not checked (see :mod:`.rekognition_server`).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, unquote

from .wire import WireError, parse_body, serialize_body, serve_wsgi

log = logging.getLogger(__name__)

SERVED = ("CreateJob", "GetJob", "ListJobs")  #: the operations this stand-in answers


def _route_regex(uri: str) -> re.Pattern[str]:
    """``/2017-08-29/jobs/{id}`` → a regex with a named group per label."""
    path = uri.split("?", 1)[0]
    parts = re.split(r"(\{[^}]+\})", path)
    regex = "".join(f"(?P<{p[1:-1].rstrip('+')}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


class MediaConvertEndpoint:
    """The WSGI application over a ``LocalMediaConvert`` (``client``: anything with boto3
    MediaConvert's ``create_job``/``get_job``/``list_jobs``)."""

    def __init__(self, client: Any):
        import botocore.session

        self.client = client
        self.model = botocore.session.get_session().get_service_model("mediaconvert")
        self.routes: list[tuple[str, re.Pattern[str], str]] = []
        for name in self.model.operation_names:
            http = self.model.operation_model(name).http
            self.routes.append((http["method"], _route_regex(http["requestUri"]), name))
        # literal routes first: /jobs must not be taken for /jobs/{id}
        self.routes.sort(key=lambda r: r[1].pattern.count("(?P<"))

    def match(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        """(operation, URI labels) of a request, or None when no route of the model matches."""
        for route_method, regex, name in self.routes:
            found = regex.match(path)
            if found and route_method == method:
                return name, {k: unquote(v) for k, v in found.groupdict().items()}
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request_id = str(uuid.uuid4())
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if method == "GET" and path in ("/", "/ping"):
            return self._answer(start_response, 200, b'{"service":"mediaconvert","engine":"reko local"}', request_id)
        try:
            matched = self.match(method, path)
            if matched is None:
                raise WireError("NotFoundException", f"no MediaConvert route {method} {path}", 404)
            operation, labels = matched
            if operation not in SERVED:
                raise WireError("BadRequestException", f"{operation} is not served by reko's local MediaConvert "
                                f"(it serves {', '.join(SERVED)})")
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            status, payload = self.handle(operation, labels, environ.get("QUERY_STRING", ""), body)
        except WireError as exc:
            status, payload = exc.status, serialize_error(exc)
            return self._answer(start_response, status, payload, request_id, error_type=exc.code)
        return self._answer(start_response, status, payload, request_id)

    @staticmethod
    def _answer(start_response: Callable, status: int, body: bytes, request_id: str,
                error_type: str | None = None) -> list[bytes]:
        from werkzeug.http import HTTP_STATUS_CODES

        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   ("x-amzn-RequestId", request_id)]
        if error_type:
            headers.append(("x-amzn-ErrorType", error_type))
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'Error')}", headers)
        return [body]

    def handle(self, operation: str, labels: dict[str, str], query: str, body: bytes) -> tuple[int, bytes]:
        """Run one served operation; returns (HTTP status, JSON body).

        Raises:
            WireError: ``BadRequestException`` or ``NotFoundException`` (the model's codes).
        """
        from botocore.exceptions import ClientError, ParamValidationError

        op = self.model.operation_model(operation)
        shape = op.input_shape
        try:
            params = parse_body(shape, body, "rest-json")
        except WireError as exc:
            raise WireError("BadRequestException", exc.message) from None
        params.update(self._located(shape, labels, query))
        try:
            result = getattr(self.client, _method(operation))(**params)
        except ParamValidationError as exc:
            raise WireError("BadRequestException", str(exc)) from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise WireError(error.get("Code", "BadRequestException"), error.get("Message", str(exc)),
                            exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)) from None
        return int(op.http.get("responseCode", 200)), serialize_body(op.output_shape, result, "rest-json")

    @staticmethod
    def _located(shape: Any, labels: dict[str, str], query: str) -> dict[str, Any]:
        """URI-label and query-string members of ``shape``, typed by their shapes."""
        values: dict[str, Any] = {}
        parsed = parse_qs(query, keep_blank_values=True)
        for name, member in shape.members.items():
            where, wire = member.serialization.get("location"), member.serialization.get("name", name)
            if where == "uri" and wire in labels:
                raw: str | None = labels[wire]
            elif where == "querystring" and wire in parsed:
                raw = parsed[wire][0]
            else:
                continue
            if member.type_name in ("integer", "long"):
                try:
                    values[name] = int(raw or "")
                except ValueError:
                    raise WireError("BadRequestException", f"{wire} must be an integer") from None
            else:
                values[name] = raw
        return values


def _method(operation: str) -> str:
    from botocore import xform_name

    return xform_name(operation)


def serialize_error(exc: WireError) -> bytes:
    """The REST-JSON error body: ``{"message": ...}`` (the error shapes' one member,
    ``locationName`` ``message``)."""
    import json

    return json.dumps({"message": exc.message}).encode()


def serve(host: str = "127.0.0.1", port: int = 0, *, s3: Any, events: Any | None = None,
          bus_name: str = "default", work_dir: str | None = None, region: str = "us-east-1",
          account_id: str = "123456789012", threads: int = 8,
          on_ready: Callable[[int], None] | None = None) -> None:
    """Serve a :class:`MediaConvertEndpoint` over a background ``LocalMediaConvert`` with
    waitress on ``host:port`` (``0``: a free port) until interrupted. ``s3``: the boto3 S3
    client jobs read and write through; ``events``: the boto3 EventBridge client job state
    changes are put with (on ``bus_name``); ``work_dir``: parent of the jobs' temp dirs.
    ``on_ready(port)`` is called once it listens. Blocks.
    """
    from ..aws.local_mediaconvert import LocalMediaConvert, eventbridge_sender

    client = LocalMediaConvert(s3, eventbridge_sender(events, bus_name) if events is not None else None,
                               background=True, region=region, account_id=account_id, work_dir=work_dir)
    serve_wsgi(MediaConvertEndpoint(client), host=host, port=port, threads=threads, ident="reko-mediaconvert",
               on_ready=on_ready)
