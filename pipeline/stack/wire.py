"""The AWS wire protocols the local endpoints speak, read from botocore's service models.

Server side of two protocols, built on the client side botocore already has (so nothing about
member names, blobs or timestamps is guessed):

* **AWS JSON 1.1** (Rekognition): ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>``
  and ``Content-Type: application/x-amz-json-1.1``; members by their model names, blobs as
  base64 strings, timestamps as epoch seconds ("AWS JSON 1.1 protocol", Smithy
  ``aws.protocols#awsJson1_1``). Errors: the HTTP status and a body
  ``{"__type": "<Code>", "message": "..."}`` (botocore's ``BaseJSONParser._do_error_parse``
  reads ``__type`` and ``message``/``Message``).
* **REST-JSON** (MediaConvert): the operation is chosen by method and ``requestUri``; members
  travel as URI labels, query strings or JSON body members named by the model's
  ``locationName`` (camelCase for MediaConvert). Errors: the status of the error shape's
  ``httpStatusCode`` with ``x-amzn-ErrorType: <Code>`` and ``{"message": "..."}``
  (``RestJSONParser._inject_error_code``).

Request bodies are decoded with botocore's *response* parsers pointed at the operation's input
shape (they turn base64 into bytes and epoch numbers into datetimes exactly as the serializer
on the client encoded them); responses are encoded with botocore's JSON serializers pointed at
the output shape. :func:`check_types` and :func:`check_constraints` reject what the service
rejects before its own logic runs: a member of the wrong JSON type is a
``SerializationException``; a missing required member, a length, range, enum or pattern
violation is a ``ValidationException`` whose message follows the form AWS services answer
(``1 validation error detected: Value 'a b' at 'collectionId' failed to satisfy constraint:
Member must satisfy regular expression pattern: [a-zA-Z0-9_.\\-]+``; "Common Errors" of each
AWS API reference: ValidationException, HTTP 400). Unknown members are ignored, as AWS JSON
services ignore them.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from functools import lru_cache
from typing import Any, Callable, Iterable

#: ``Content-Type`` of AWS JSON 1.1 requests and responses.
JSON_11 = "application/x-amz-json-1.1"


class WireError(Exception):
    """An error answered in the protocol's error shape: ``code`` (the AWS error code, e.g.
    ``ValidationException``), HTTP ``status`` and ``message``."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


# -- decoding and encoding with botocore ------------------------------------------------------
def serve_wsgi(app: Any, *, host: str, port: int, threads: int, ident: str,
               on_ready: Callable[[int], None] | None = None, **options: Any) -> None:
    """Serve the WSGI ``app`` with waitress on ``host:port`` (``0``: a free port) until
    interrupted; ``on_ready(port)`` is called once it listens; ``options`` go to waitress
    (e.g. ``max_request_body_size``). Blocks.

    Raises:
        OSError: the port cannot be bound.
    """
    import waitress

    server = waitress.create_server(app, host=host, port=port, threads=threads, ident=ident, **options)
    if on_ready is not None:
        on_ready(server.effective_port)
    try:
        server.run()
    finally:
        server.close()


def parse_body(shape: Any, body: bytes, protocol: str) -> dict[str, Any]:
    """The members of ``shape`` (an input shape) in a JSON request ``body``, decoded the way
    botocore's client decodes a response of that shape (``protocol`` ``json`` or ``rest-json``:
    base64 blobs → bytes, epoch/ISO timestamps → datetimes, ``locationName``s → member names).
    ``ResponseMetadata`` is dropped.

    Raises:
        WireError: ``SerializationException`` (400) when the body is not a JSON object, or a
            member cannot be decoded (bad base64, a value of the wrong JSON type).
    """
    from botocore.parsers import create_parser

    raw = loads_object(body)
    check_types(shape, raw, protocol)
    try:
        parsed = create_parser(protocol).parse({"body": body or b"{}", "headers": {}, "status_code": 200}, shape)
    except Exception as exc:  # botocore's parser met a value it cannot decode
        raise WireError("SerializationException", f"cannot decode the request: {type(exc).__name__}: {exc}") from None
    parsed.pop("ResponseMetadata", None)
    return parsed


def loads_object(body: bytes) -> dict[str, Any]:
    """``body`` as a JSON object (an empty body is ``{}``).

    Raises:
        WireError: ``SerializationException`` when it is not a JSON object.
    """
    if not body:
        return {}
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError("SerializationException", f"the request body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise WireError("SerializationException", "the request body must be a JSON object")
    return value


def serialize_body(shape: Any, value: dict[str, Any], protocol: str) -> bytes:
    """``value`` (an output of ``shape``, boto3's Python form) as the JSON body botocore's client
    parses: member names per ``locationName`` (rest-json), bytes as base64, datetimes as the
    shape's ``timestampFormat`` (epoch seconds by default). ``ResponseMetadata`` and ``None``
    values are left out.

    Raises:
        WireError: ``InternalServerError`` (500) when ``value`` has a member ``shape`` lacks.
    """
    from botocore.serialize import JSONSerializer, RestJSONSerializer

    serializer = RestJSONSerializer() if protocol == "rest-json" else JSONSerializer()
    body: dict[str, Any] = {}
    try:
        serializer._serialize(body, _without_none(value, shape), shape)
    except KeyError as exc:
        raise WireError("InternalServerError", f"the response has a member the model lacks: {exc}", 500) from None
    return json.dumps(body, separators=(",", ":"), default=_json_default).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.timestamp() if isinstance(value, dt.datetime) else str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _without_none(value: Any, shape: Any) -> Any:
    """``value`` without ``ResponseMetadata`` and ``None`` members (botocore's serializer
    writes ``null`` for them; AWS leaves absent members out)."""
    kind = getattr(shape, "type_name", None)
    if kind == "structure" and isinstance(value, dict):
        return {k: _without_none(v, shape.members[k]) if k in shape.members else v
                for k, v in value.items() if v is not None and k != "ResponseMetadata"}
    if kind == "list" and isinstance(value, list):
        return [_without_none(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _without_none(v, shape.value) for k, v in value.items()}
    return value


def error_body_json(code: str, message: str, *, logref: str | None = None) -> bytes:
    """The AWS JSON 1.1 error body: ``__type`` and ``message`` (read by botocore), plus the
    ``Code``/``Message``/``Logref`` members Rekognition itself sends (its Developer Guide,
    "Error handling", shows ``{"__type": ..., "Code": ..., "Logref": ..., "Message": ...}``)."""
    body: dict[str, Any] = {"__type": code, "message": message, "Code": code, "Message": message}
    if logref:
        body["Logref"] = logref
    return json.dumps(body).encode()


# -- checks -------------------------------------------------------------------------------------
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "character": (str,), "blob": (str,), "boolean": (bool,),
    "integer": (int,), "long": (int,), "short": (int,), "byte": (int,),
    "float": (int, float), "double": (int, float), "bigdecimal": (int, float, str),
    "biginteger": (int, str), "timestamp": (int, float, str),
    "structure": (dict,), "map": (dict,), "list": (list,),
}


def check_types(shape: Any, value: Any, protocol: str = "json", path: str = "") -> None:
    """Check the JSON types of a raw request body ``value`` (before decoding) against
    ``shape``: members are found by their wire names (``locationName`` for rest-json).

    Raises:
        WireError: ``SerializationException`` naming the first member of the wrong type.
    """
    if value is None:
        return
    kind = shape.type_name
    allowed = _JSON_TYPES.get(kind)
    if getattr(shape, "is_document_type", False):
        return
    if allowed and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
        raise WireError("SerializationException",
                        f"{_describe(value)} can not be converted to {_type_label(kind)}"
                        + (f" (at '{path}')" if path else ""))
    if kind == "structure":
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name) if protocol == "rest-json" else name
            if member.serialization.get("location"):
                continue  # URI, query string and header members are not in the body
            if wire in value:
                check_types(member, value[wire], protocol, _join(path, name))
    elif kind == "list":
        for i, item in enumerate(value):
            check_types(shape.member, item, protocol, f"{path}.{i + 1}.member")
    elif kind == "map":
        for key, item in value.items():
            check_types(shape.value, item, protocol, f"{path}.{key}")
    elif kind == "blob":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise WireError("SerializationException", f"'{path}' is not valid base64") from None


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN_VALUE"
    if isinstance(value, (int, float)):
        return "NUMBER_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, dict):
        return "START_OBJECT"
    return type(value).__name__


def _type_label(kind: str) -> str:
    return {"string": "String", "blob": "Blob", "boolean": "Boolean", "integer": "Integer",
            "long": "Long", "float": "Float", "double": "Double", "timestamp": "Date",
            "structure": "an object", "map": "a map", "list": "a list"}.get(kind, kind)


def _join(path: str, name: str) -> str:
    name = name[:1].lower() + name[1:]
    return f"{path}.{name}" if path else name


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:  # a Java-only construct: the service's own check decides
        return None


def check_constraints(shape: Any, value: Any, *, skip_max_blob_shapes: Iterable[str] = ()) -> list[str]:
    """The constraint violations of decoded request ``value`` against ``shape`` (botocore model
    traits ``required``, ``min``, ``max``, ``enum``, ``pattern``), each phrased as AWS phrases
    them (``Value '0' at 'maxLabels' failed to satisfy constraint: Member must have value greater
    than or equal to 1``); an empty list when valid. Blob shapes named in
    ``skip_max_blob_shapes`` are not checked for their ``max`` length (Rekognition answers an
    image over its limit with ``ImageTooLargeException``, not a validation error)."""
    errors: list[str] = []
    _constraints(shape, value, "", errors, frozenset(skip_max_blob_shapes))
    return errors


def validation_message(errors: list[str]) -> str:
    """``N validation error(s) detected: <error>; <error>`` (AWS's ValidationException text)."""
    n = len(errors)
    return f"{n} validation error{'s' if n != 1 else ''} detected: " + "; ".join(errors)


def _length(value: Any, meta: dict[str, Any], where: str, errors: list[str], *, check_max: bool) -> None:
    """Append the model's ``min``/``max`` length violations of ``value`` (a list, map, string
    or blob) at ``where`` to ``errors``; ``check_max`` False skips ``max``."""
    size = len(value)
    if "min" in meta and size < meta["min"]:
        errors.append(f"Value '{_value_text(value)}' at '{where}' failed to satisfy constraint: "
                      f"Member must have length greater than or equal to {meta['min']}")
    if check_max and "max" in meta and size > meta["max"]:
        errors.append(f"Value '{_value_text(value)}' at '{where}' failed to satisfy constraint: "
                      f"Member must have length less than or equal to {meta['max']}")


def _value_text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    text = str(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _constraints(shape: Any, value: Any, path: str, errors: list[str], skip: frozenset[str]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    where = path or "request"
    if kind == "structure" and isinstance(value, dict):
        for name in shape.required_members:
            if value.get(name) is None:
                errors.append(f"Value null at '{_join(path, name)}' failed to satisfy constraint: "
                              "Member must not be null")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _constraints(member, value[name], _join(path, name), errors, skip)
        return
    if kind in ("list", "map") and isinstance(value, (list, dict)):
        _length(value, meta, where, errors, check_max=True)
        if kind == "list":
            for i, item in enumerate(value):
                _constraints(shape.member, item, f"{where}.{i + 1}.member", errors, skip)
        elif isinstance(value, dict):
            for key, item in value.items():
                _constraints(shape.key, key, f"{where}.{key}.key", errors, skip)
                _constraints(shape.value, item, f"{where}.{key}.value", errors, skip)
        return
    if kind in ("string", "blob") and isinstance(value, (str, bytes, bytearray)):
        _length(value, meta, where, errors, check_max=not (kind == "blob" and shape.name in skip))
        if kind == "string":
            if shape.enum and value not in shape.enum:
                errors.append(f"Value '{_value_text(value)}' at '{where}' failed to satisfy constraint: "
                              f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
            regex = _regex(meta["pattern"]) if "pattern" in meta else None
            if regex is not None and isinstance(value, str) and not regex.fullmatch(value):
                errors.append(f"Value '{_value_text(value)}' at '{where}' failed to satisfy constraint: "
                              f"Member must satisfy regular expression pattern: {meta['pattern']}")
        return
    if kind in ("integer", "long", "float", "double", "short", "byte") and isinstance(value, (int, float)):
        if "min" in meta and value < meta["min"]:
            errors.append(f"Value '{value}' at '{where}' failed to satisfy constraint: "
                          f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            errors.append(f"Value '{value}' at '{where}' failed to satisfy constraint: "
                          f"Member must have value less than or equal to {meta['max']}")
