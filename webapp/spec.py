"""The one schema source of the JSON API: :data:`api`, a spectree instance over the pydantic
models of :mod:`.request_models` and :mod:`.response_models`.

A handler is declared once::

    @bp.get("/search")
    @api.validate(resp=Response(HTTP_200=SearchResult), tags=["search"])
    def search_endpoint(query: SearchParams): ...

and from that declaration spectree both validates the request (query parameters, JSON body,
multipart form, headers; the validated model arrives as the ``query``/``json``/``form``
argument) and writes the operation into the OpenAPI document served at ``/api/openapi.json``.
Only declared routes are documented (strict mode).

Invalid input is answered by :func:`reject_invalid` in the project's error shape
``{"error": "QueryError", "message": "per_page must be at most 100"}`` with status 400 (422,
``MediaError``, on the upload route, as for any unusable video). Responses are not re-validated
per request: their models document them, and the tests check real responses against the
document.
"""

from __future__ import annotations

from typing import Any, Callable

from flask import current_app, request
from pydantic import BaseModel, ValidationError
from spectree import Response, SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import InType, SecureType
from spectree.plugins.flask_plugin import FlaskPlugin
from spectree.utils import get_model_key

from .. import __version__
from ..app import Reko
from ..errors import MediaError, QueryError
from ..pipeline import ids
from . import request_models, response_models
from .security import TOKEN_COOKIE

#: Path parameters as the application layer checks them (:mod:`reko.pipeline.ids`; a malformed
#: id is answered 404, like an unknown one).
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "video_id": {"type": "string", "pattern": f"^{ids.VIDEO_ID.pattern}$",
                 "description": "16 hex digits: the start of the SHA-256 of the video's bytes"},
    "person_id": {"type": "string", "pattern": f"^{ids.USER_ID.pattern}$",
                  "description": "a person id, as listed by GET /api/persons"},
    "face_id": {"type": "string", "pattern": f"^{ids.FACE_ID.pattern}$",
                "description": "a face id (UUID), as listed by GET /api/persons/{person_id}"},
    "frame_ms": {"type": "integer", "format": "int64", "minimum": 0, "maximum": ids.MAX_FRAME_MS,
                 "description": "the frame's time in ms, as in a segment's frame_url"},
    "fmt": {"type": "string", "enum": list(Reko.timeline_formats()),
            "description": "edl (CMX 3600), fcpxml (Final Cut Pro X), xml (Final Cut Pro 7 XML: Premiere Pro, "
                           "DaVinci Resolve) or otio (OpenTimelineIO)"},
}

#: The problems of a pydantic error ``type`` in plain words (``{field}`` and the error's
#: context fill them in); other types use pydantic's own message, which names no internals.
PROBLEMS = {
    "missing": "{field} is missing",
    "int_parsing": "{field} must be a whole number",
    "greater_than_equal": "{field} must be at least {ge}",
    "greater_than": "{field} must be above {gt}",
    "less_than_equal": "{field} must be at most {le}",
    "bool_parsing": "{field} must be 1 or 0",
    "string_type": "{field} must be a string",
    "literal_error": "{field} must be {expected}",
    "model_type": "the body must be a JSON object",
}

WHERE = {"query": "query parameter", "json": "JSON field", "form": "form field", "headers": "header"}

#: Request models by name (spectree's key for them, see ``naming_strategy`` below).
_REQUEST_MODELS: dict[str, type[BaseModel]] = {
    name: value for name, value in vars(request_models).items()
    if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == request_models.__name__}


class RekoFlaskPlugin(FlaskPlugin):
    """spectree's Flask plugin with these changes:

    * a declared body is always validated: a JSON route sent a form (or a form route sent no
      form at all) is answered as if the body were empty, so handlers never get ``None``;
    * responses pass through as the handler made them (files and range requests included;
      spectree would otherwise read every response into memory to validate it);
    * path parameters carry the patterns of :data:`PATH_PARAMETERS`, and operation ids are the
      handlers' names.
    """

    def request_validation(self, request, query, json, form, headers, cookies):
        """Validate the request into ``request.context`` (raises pydantic's ValidationError)."""
        super().request_validation(request, query, json, form, headers, cookies)
        context = request.context
        if json is not None and context.json is None:
            request.context = context = context._replace(json=self.model_adapter.validate_obj(json, {}))
        if form is not None and context.form is None:
            request.context = context._replace(form=self.model_adapter.validate_obj(form, {}))

    def validate_response(self, resp, resp_model, skip_validation, force_resp_serialize):
        """The handler's return value as a Flask response, unchanged; no validation error."""
        return current_app.make_response(resp), None

    def get_func_operation_id(self, func, path, method):
        """The handler's name (e.g. ``search_endpoint``) as the operationId."""
        return func.__name__

    def parse_path(self, route, path_parameter_descriptions):
        """The OpenAPI path and its parameters, with the id patterns of :mod:`reko.pipeline.ids`."""
        path, parameters = super().parse_path(route, path_parameter_descriptions)
        for parameter in parameters:
            if parameter["name"] in PATH_PARAMETERS:
                schema = dict(PATH_PARAMETERS[parameter["name"]])
                description = schema.pop("description")
                parameter.update(schema=schema, description=parameter["description"] or description)
        return path, parameters


def reject_invalid(req, resp, error: ValidationError | None, instance, model_adapter) -> None:
    """spectree's ``before`` hook: turn a request validation error into a :class:`QueryError`
    (400), or a :class:`MediaError` (422) where the route declares that status, whose message
    names each wrong field and what it must be, plus an example body for JSON. No input value,
    path or internal name is repeated."""
    if error is None:
        return
    where, model = _failed_part(error)
    problems = [_problem(dict(item), where) for item in error.errors(include_url=False, include_input=False)]
    message = "; ".join(dict.fromkeys(problems))
    extra: Any = model.model_config.get("json_schema_extra") if model else None
    examples = (extra or {}).get("examples") if isinstance(extra, dict) else None
    if where == "json" and examples:
        message += f"; send JSON like {current_app.json.dumps(examples[0])}"
    elif where == "form" and model is not None:
        message += f"; send multipart/form-data with the field {', '.join(map(repr, model.model_fields))}"
    raise (MediaError if resp is not None and resp.status_code == 422 else QueryError)(message)


def _failed_part(error: ValidationError) -> tuple[str, type[BaseModel] | None]:
    """Which part of the request (query, json, form, headers) failed, and its model."""
    metadata = api.get_function_metadata(current_app.view_functions[request.endpoint or ""])
    for where in WHERE:
        if metadata is not None and getattr(metadata, where) == error.title:
            return where, _REQUEST_MODELS.get(error.title)
    return "", None


def _problem(item: dict[str, Any], where: str) -> str:
    path = ".".join(str(part) for part in item["loc"])
    field = f"{WHERE.get(where, 'field')} {path}" if path else "the request"
    template = PROBLEMS.get(item["type"])
    if template is None:
        message = item["msg"].removeprefix("Value error, ")
        return f"{field}: {message}"
    return template.format(field=field, **item.get("ctx", {}))


class FileResponse(Response):
    """A response declaration whose success (2xx) answers are a file of ``media_type`` (one, or
    a tuple when the file's type depends on the request; documented as binary content); other
    codes as in :class:`spectree.Response`."""

    def __init__(self, media_type: str | tuple[str, ...], *codes: str, **code_models: Any) -> None:
        super().__init__(*codes, **code_models)
        self.media_types = (media_type,) if isinstance(media_type, str) else tuple(media_type)

    def generate_spec(self, naming_strategy: Callable[[Any], str] = get_model_key) -> dict[str, Any]:
        """The OpenAPI ``responses`` object."""
        spec = super().generate_spec(naming_strategy)
        for code, item in spec.items():
            if code.startswith("2") and "content" not in item:
                item["content"] = {media_type: {"schema": {"type": "string", "format": "binary"}}
                                   for media_type in self.media_types}
        return spec


#: Declares, validates and documents every route of the JSON API.
api = SpecTree(
    "flask", backend=RekoFlaskPlugin, mode="strict",
    title="reko API", version=__version__,
    description="Search video by on-screen text, persons and labels; play and cut clips. Errors "
                "are JSON {error, message}. When REKO_AUTH_TOKEN is set, every request needs the "
                "token (Bearer header or the cookie POST /api/login sets).",
    validation_error_status=400, validation_error_model=response_models.Error,
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
    before=reject_invalid,  # type: ignore[arg-type]  # spectree passes the ValidationError it made
    security_schemes=[
        SecurityScheme(name="token", data=SecuritySchemeData(
            type=SecureType.HTTP, scheme="bearer", description="REKO_AUTH_TOKEN")),
        SecurityScheme(name="cookie", data=SecuritySchemeData(
            type=SecureType.API_KEY, field_in=InType.COOKIE, name=TOKEN_COOKIE,
            description="set by POST /api/login")),
    ],
    security=[{"token": []}, {"cookie": []}, {}],
)
