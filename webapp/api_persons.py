"""Persons: list, rename, merge, thumbnails, remove a wrong face, and search by a face photo."""

from __future__ import annotations

import re

from flask import Blueprint, jsonify, request, send_file

from ..errors import NotFoundError, QueryError
from ..pipeline.index import SearchQuery
from ..pipeline.persons import update_documents
from ..pipeline.search import search
from .api_search import search_page_json
from .common import int_arg, services

bp = Blueprint("persons", __name__, url_prefix="/api")

PERSON_ID = re.compile(r"^[A-Za-z0-9_.\-:]{1,128}$")
MAX_PHOTO_BYTES = 15 * 1024 * 1024  #: face photos larger than this are refused (413)


def person_json(person) -> dict:
    """A person with its thumbnail URL."""
    return {**person.to_json(), "thumbnail_url": f"/api/persons/{person.person_id}/thumbnail.jpg"}


def _person_id(value: str) -> str:
    if not PERSON_ID.match(value):
        raise NotFoundError(f"no person {value[:60]!r}")
    return value


@bp.get("/persons")
def list_persons():
    """Every person, most screen time first."""
    return jsonify(persons=[person_json(p) for p in services().persons.list()])


@bp.get("/persons/<person_id>")
def get_person(person_id: str):
    """One person with their faces."""
    store = services().persons
    person = store.get(_person_id(person_id))
    return jsonify(**person_json(person), faces=store.faces_of(person_id))


@bp.get("/persons/<person_id>/thumbnail.jpg")
def person_thumbnail(person_id: str):
    """The person's best face crop."""
    path = services().persons.thumbnail_path(_person_id(person_id))
    if not path.is_file():
        raise NotFoundError(f"no thumbnail for {person_id}")
    return send_file(path, mimetype="image/jpeg", max_age=60)


@bp.patch("/persons/<person_id>")
def rename_person(person_id: str):
    """Rename: JSON ``{"name": "..."}`` (empty clears)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise QueryError('send JSON {"name": "..."}')
    store = services().persons
    store.rename(_person_id(person_id), body["name"])
    return jsonify(person_json(store.get(person_id)))


@bp.post("/persons/<person_id>/merge")
def merge_person(person_id: str):
    """Merge into another person: JSON ``{"into": "<person_id>"}``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("into"), str):
        raise QueryError('send JSON {"into": "<person_id>"}')
    svc = services()
    frames = svc.persons.merge(_person_id(person_id), _person_id(body["into"]))
    changed = update_documents(svc.index, frames, svc.persons)
    return jsonify(person=person_json(svc.persons.get(body["into"])), frames_updated=changed)


@bp.post("/faces/<face_id>/remove")
def remove_face(face_id: str):
    """Take a wrongly matched face away from its person."""
    svc = services()
    frame = svc.persons.remove_face(face_id[:64])
    update_documents(svc.index, [frame], svc.persons)
    return jsonify(removed=face_id)


@bp.post("/search/face")
def search_by_face():
    """Find the person in an uploaded photo (multipart field ``photo``) and return their
    segments, shaped like ``GET /api/search``, plus ``person`` and ``similarity``."""
    svc = services()
    photo = request.files.get("photo")
    if photo is None:
        raise QueryError("send the photo as multipart/form-data field 'photo'")
    data = photo.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise QueryError(f"the photo is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    person_id, similarity = svc.persons.search_by_image(data)
    response = search(svc.settings, svc.index, svc.catalog, SearchQuery(person_ids=(person_id,)))
    body = search_page_json(response, 1, int_arg("per_page", 20, 1, 100))
    return jsonify(**body, person=person_json(svc.persons.get(person_id)), similarity=similarity)


@bp.get("/labels")
def labels():
    """Label names with frame counts over the whole index (for the label filter)."""
    return jsonify(labels=services().index.facet_counts().get("label_names", {}))
