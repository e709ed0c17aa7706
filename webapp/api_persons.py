"""Persons: list, rename, merge, thumbnails, remove a wrong face, and search by a face photo."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, send_file

from ..errors import QueryError
from ..pipeline.persons import Person
from .api_search import search_page_json
from .common import int_arg, reko

bp = Blueprint("persons", __name__, url_prefix="/api")


def person_json(person: Person) -> dict:
    """A person with its thumbnail URL."""
    return {**person.to_json(), "thumbnail_url": f"/api/persons/{person.person_id}/thumbnail.jpg"}


def _json_field(name: str, example: str) -> str:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get(name), str):
        raise QueryError(f'send JSON {{"{name}": "{example}"}}')
    return body[name]


@bp.get("/persons")
def list_persons():
    """Every person, most screen time first."""
    return jsonify(persons=[person_json(p) for p in reko().persons()])


@bp.get("/persons/<person_id>")
def get_person(person_id: str):
    """One person with their faces."""
    app = reko()
    return jsonify(**person_json(app.person(person_id)), faces=app.person_faces(person_id))


@bp.get("/persons/<person_id>/thumbnail.jpg")
def person_thumbnail(person_id: str):
    """The person's best face crop."""
    return send_file(reko().person_thumbnail(person_id), mimetype="image/jpeg", max_age=60)


@bp.patch("/persons/<person_id>")
def rename_person(person_id: str):
    """Rename: JSON ``{"name": "..."}`` (empty clears)."""
    return jsonify(person_json(reko().rename_person(person_id, _json_field("name", "..."))))


@bp.post("/persons/<person_id>/merge")
def merge_person(person_id: str):
    """Merge into another person: JSON ``{"into": "<person_id>"}``."""
    person, changed = reko().merge_persons(person_id, _json_field("into", "<person_id>"))
    return jsonify(person=person_json(person), frames_updated=changed)


@bp.post("/faces/<face_id>/remove")
def remove_face(face_id: str):
    """Take a wrongly matched face away from its person."""
    reko().remove_face(face_id)
    return jsonify(removed=face_id)


@bp.post("/search/face")
def search_by_face():
    """Find the person in an uploaded photo (multipart field ``photo``) and return their
    segments, shaped like ``GET /api/search``, plus ``person`` and ``similarity``."""
    photo = request.files.get("photo")
    if photo is None:
        raise QueryError("send the photo as multipart/form-data field 'photo'")
    found = reko().search_by_face(photo.read())
    body = search_page_json(found.response, 1, int_arg("per_page", 20, 1, 100))
    return jsonify(**body, person=person_json(found.person), similarity=found.similarity)


@bp.get("/labels")
def labels():
    """Label names with frame counts over the whole index (for the label filter)."""
    return jsonify(labels=reko().labels())
