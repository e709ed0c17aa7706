"""``GET /api/openapi.json``: the OpenAPI 3.1 description of the JSON API, and ``/api/health``."""

from __future__ import annotations

from flask import Blueprint, jsonify

from .. import __version__
from .common import reko

bp = Blueprint("meta", __name__, url_prefix="/api")


def _param(name, where="query", schema=None, required=False, description=""):
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema or {"type": "string"}, "description": description}


_ERROR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_VIDEO_ID = _param("video_id", "path", {"type": "string", "pattern": "^[0-9a-f]{16}$"})
_SEARCH_PARAMS = [
    _param("q", description="text to find; words ANDed, \"quoted phrases\" whole"),
    _param("person", schema={"type": "array", "items": {"type": "string"}}, description="person id or name"),
    _param("label", schema={"type": "array", "items": {"type": "string"}}, description="label name, e.g. Car"),
    _param("video", schema={"type": "array", "items": {"type": "string"}}, description="video_id filter"),
]


_PERSON_ID = _param("person_id", "path", {"type": "string", "pattern": "^[A-Za-z0-9_.\\-:]{1,128}$"})
_XREKO = _param("X-Reko-Request", "header", {"const": "1"}, True)


def _json_body(properties: dict, required: list[str]) -> dict:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": properties, "required": required}}}}


def _ok(schema_ref: str | None = None, media: str = "application/json", description: str = "ok"):
    schema = {"$ref": f"#/components/schemas/{schema_ref}"} if schema_ref else {"type": "string", "format": "binary"}
    return {"description": description, "content": {media: {"schema": schema}}}


OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "reko API", "version": __version__,
             "description": "Search video by on-screen text, persons and labels; play and cut clips."},
    "paths": {
        "/api/search": {"get": {"summary": "Search segments", "parameters": _SEARCH_PARAMS + [
            _param("page", schema={"type": "integer", "minimum": 1}),
            _param("per_page", schema={"type": "integer", "minimum": 1, "maximum": 100})],
            "responses": {"200": _ok("SearchResult"), "400": _ERROR}}},
        "/api/videos": {
            "get": {"summary": "List videos", "responses": {"200": _ok("VideoList")}},
            "post": {"summary": "Upload a video (ingested in the background)",
                     "parameters": [_param("X-Reko-Request", "header", {"const": "1"}, True)],
                     "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                         "type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                         "required": ["file"]}}}},
                     "responses": {"200": _ok("Video", description="already ingested"),
                                   "202": _ok("Video", description="queued"),
                                   "403": _ERROR, "413": _ERROR, "422": _ERROR}}},
        "/api/videos/{video_id}": {
            "get": {"summary": "Video status and progress", "parameters": [_VIDEO_ID],
                    "responses": {"200": _ok("Video"), "404": _ERROR}},
            "delete": {"summary": "Delete a video", "parameters": [
                _VIDEO_ID, _param("X-Reko-Request", "header", {"const": "1"}, True)],
                "responses": {"200": {"description": "deleted"}, "403": _ERROR, "404": _ERROR}}},
        "/api/videos/{video_id}/media": {"get": {
            "summary": "The video file (supports Range requests)", "parameters": [_VIDEO_ID],
            "responses": {"200": _ok(media="video/mp4"), "206": _ok(media="video/mp4"), "404": _ERROR}}},
        "/api/videos/{video_id}/timeline": {"get": {
            "summary": "Text, persons and labels over time", "parameters": [_VIDEO_ID],
            "responses": {"200": _ok("Timeline"), "404": _ERROR}}},
        "/api/frames/{video_id}/{frame_ms}.jpg": {"get": {
            "summary": "Thumbnail of an analysed frame",
            "parameters": [_VIDEO_ID, _param("frame_ms", "path", {"type": "integer"})],
            "responses": {"200": _ok(media="image/jpeg"), "404": _ERROR}}},
        "/api/clips/{video_id}.mp4": {"get": {
            "summary": "A frame-accurate clip", "parameters": [
                _VIDEO_ID, _param("start_ms", schema={"type": "integer", "minimum": 0}, required=True),
                _param("end_ms", schema={"type": "integer", "minimum": 1}, required=True)],
            "responses": {"200": _ok(media="video/mp4"), "400": _ERROR, "404": _ERROR}}},
        "/api/clips.zip": {"get": {"summary": "Every segment of a search as MP4 clips in a zip",
                                   "parameters": _SEARCH_PARAMS,
                                   "responses": {"200": _ok(media="application/zip"), "400": _ERROR}}},
        "/api/persons": {"get": {"summary": "Persons, most screen time first",
                                 "responses": {"200": _ok("PersonList")}}},
        "/api/persons/{person_id}": {
            "get": {"summary": "A person and their faces", "parameters": [_PERSON_ID],
                    "responses": {"200": _ok("Person"), "404": _ERROR}},
            "patch": {"summary": "Rename a person", "parameters": [_PERSON_ID, _XREKO],
                      "requestBody": _json_body({"name": {"type": "string"}}, ["name"]),
                      "responses": {"200": _ok("Person"), "400": _ERROR, "404": _ERROR}}},
        "/api/persons/{person_id}/thumbnail.jpg": {"get": {
            "summary": "The person's best face", "parameters": [_PERSON_ID],
            "responses": {"200": _ok(media="image/jpeg"), "404": _ERROR}}},
        "/api/persons/{person_id}/merge": {"post": {
            "summary": "Merge this person into another", "parameters": [_PERSON_ID, _XREKO],
            "requestBody": _json_body({"into": {"type": "string"}}, ["into"]),
            "responses": {"200": {"description": "merged"}, "400": _ERROR, "404": _ERROR}}},
        "/api/faces/{face_id}/remove": {"post": {
            "summary": "Take a wrongly matched face away from its person",
            "parameters": [_param("face_id", "path"), _XREKO],
            "responses": {"200": {"description": "removed"}, "404": _ERROR}}},
        "/api/search/face": {"post": {
            "summary": "Find the person in a photo and return their segments", "parameters": [_XREKO],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "properties": {"photo": {"type": "string", "format": "binary"}},
                "required": ["photo"]}}}},
            "responses": {"200": _ok("SearchResult"), "400": _ERROR}}},
        "/api/labels": {"get": {"summary": "Label names with frame counts",
                                "responses": {"200": {"description": "labels"}}}},
        "/api/health": {"get": {"summary": "Liveness and index stats", "responses": {"200": _ok("Health")}}},
        "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        "/api/login": {"post": {
            "summary": "Exchange the access token (REKO_AUTH_TOKEN) for an HttpOnly cookie",
            "parameters": [_param("X-Reko-Request", "header", {"const": "1"}, True)],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "properties": {"token": {"type": "string"}}, "required": ["token"]}}}},
            "responses": {"200": {"description": "cookie set"}, "401": _ERROR}}},
    },
    "components": {"schemas": {
        "Error": {"type": "object", "required": ["error", "message"],
                  "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
        "Box": {"type": "object", "properties": {k: {"type": "number", "minimum": 0, "maximum": 1}
                                                 for k in ("Left", "Top", "Width", "Height")}},
        "Segment": {"type": "object", "required": ["video_id", "start_ms", "end_ms", "frame_ms", "text", "score"],
                    "properties": {
                        "video_id": {"type": "string"}, "filename": {"type": "string"},
                        "start_ms": {"type": "integer"}, "end_ms": {"type": "integer"},
                        "frame_ms": {"type": "integer"}, "text": {"type": "string"},
                        "score": {"type": "number"}, "hits": {"type": "integer"},
                        "person_ids": {"type": "array", "items": {"type": "string"}},
                        "matched_lines": {"type": "array", "items": {"type": "string"}},
                        "boxes": {"type": "array", "items": {"type": "object", "properties": {
                            "kind": {"enum": ["text", "face", "label"]}, "text": {"type": "string"},
                            "box": {"$ref": "#/components/schemas/Box"}}}},
                        "frame_url": {"type": "string"}, "video_url": {"type": "string"},
                        "clip_url": {"type": "string"}}},
        "SearchResult": {"type": "object", "properties": {
            "query": {"type": "string"}, "total_frames": {"type": "integer"},
            "total_segments": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
            "segments": {"type": "array", "items": {"$ref": "#/components/schemas/Segment"}},
            "facets": {"type": "object"}}},
        "Video": {"type": "object", "required": ["video_id", "status"], "properties": {
            "video_id": {"type": "string"}, "filename": {"type": "string"},
            "duration_ms": {"type": "integer"}, "status": {"enum": ["queued", "ingesting", "ready", "failed"]},
            "progress": {"type": "number"}, "error": {"type": "string"}}},
        "VideoList": {"type": "object", "properties": {
            "videos": {"type": "array", "items": {"$ref": "#/components/schemas/Video"}}}},
        "Timeline": {"type": "object", "properties": {
            "video_id": {"type": "string"}, "duration_ms": {"type": "integer"},
            "text": {"type": "array"}, "persons": {"type": "object"}, "labels": {"type": "object"}}},
        "Person": {"type": "object", "required": ["person_id", "name"], "properties": {
            "person_id": {"type": "string"}, "name": {"type": "string"},
            "face_count": {"type": "integer"}, "screen_time_ms": {"type": "integer"},
            "videos": {"type": "integer"}, "thumbnail_url": {"type": "string"}}},
        "PersonList": {"type": "object", "properties": {
            "persons": {"type": "array", "items": {"$ref": "#/components/schemas/Person"}}}},
        "Health": {"type": "object", "properties": {"ok": {"type": "boolean"}, "frames": {"type": "integer"},
                                                    "videos": {"type": "integer"}}},
    }},
}


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI document."""
    return jsonify(OPENAPI)


@bp.get("/health")
def health():
    """Liveness plus index statistics."""
    return jsonify(reko().health())
