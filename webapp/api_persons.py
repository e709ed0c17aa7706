"""Persons: list, rename, merge, thumbnails, remove a wrong face, and search by a face photo."""

from __future__ import annotations

from flask import Blueprint
from spectree import Response

from ..pipeline.persons import Person
from .api_search import search_page_json
from .common import reko, send_media
from .request_models import AcceptName, FacePhoto, LabelParams, PageSize, PersonListParams, PersonMerge, PersonRename, StateChange
from .response_models import Error, FaceSearchResult, Labels, Merged, NameSuggestions, PersonDetail, PersonList, Removed
from .response_models import Person as PersonShape
from .spec import FileResponse, api

bp = Blueprint("persons", __name__, url_prefix="/api")


def person_json(person: Person | dict, numbers: dict[str, int] | None = None) -> dict:
    """A person with ``number``, ``display_name`` ("Person N" until named) and its thumbnail URL."""
    data = person if isinstance(person, dict) else reko().site_person_json(person, numbers)
    return {**data, "thumbnail_url": f"/api/persons/{data['person_id']}/thumbnail.jpg"}


@bp.get("/persons")
@api.validate(resp=Response(HTTP_200=PersonList), tags=["persons"])
def list_persons(query: PersonListParams):
    """List persons, most screen time first.

    With ``q``: only persons whose name (or "Person N") contains it, prefixes first (the
    search box's suggestions). With ``merge_suggestions=1``: also the pairs of persons whose
    faces look alike (similarity at least 75, below the threshold at which reko joins faces
    on its own), most similar first.
    """
    app = reko()
    persons = app.site_suggest(query.q, limit=50)["persons"] if query.q.strip() else app.site_persons()
    body: dict = {"persons": [person_json(p) for p in persons]}
    if query.merge_suggestions:
        body["merge_suggestions"] = app.site_merge_suggestions()
    if query.name_suggestions:
        body["name_suggestions"] = {pid: [suggestion_json(s) for s in found]
                                    for pid, found in app.name_suggestions().items()}
    return body


def suggestion_json(suggestion) -> dict:
    """A name suggestion (:class:`reko.pipeline.name_suggestions.NameSuggestion`) with the URL of
    each evidence frame's thumbnail."""
    data = suggestion.to_json()
    data["evidence"] = [{**e, "frame_url": f"/api/frames/{e['video_id']}/{e['frame_ms']}.jpg"}
                        for e in data["evidence"]]
    return data


@bp.get("/persons/<person_id>/name-suggestions")
@api.validate(resp=Response(HTTP_200=NameSuggestions, HTTP_404=Error), tags=["persons"])
def name_suggestions(person_id: str):
    """Names proposed for a person from name captions.

    News lower-thirds (``김철수 / 국회의원``, ``JOHN SMITH, Reporter``) shown while the person's
    face is on screen, best first, each with its evidence: the frames showing both, and how
    much screen time the name shares with the face. Never applied on its own: ``POST
    /api/persons/{person_id}/accept-name`` applies one. Empty for a named person.
    """
    app = reko()
    person = app.person(person_id)
    return {"person_id": person.person_id,
            "suggestions": [suggestion_json(s) for s in app.person_name_suggestions(person.person_id)]}


@bp.post("/persons/<person_id>/accept-name")
@api.validate(headers=StateChange, resp=Response(HTTP_200=PersonShape, HTTP_403=Error, HTTP_404=Error),
              tags=["persons"])
def accept_name(person_id: str, json: AcceptName):
    """Name a person after one of their suggested names.

    ``name`` must be one of ``GET /api/persons/{person_id}/name-suggestions`` (spacing and
    capitals do not matter; the suggestion's spelling is stored); empty takes the best. 400
    when it is not suggested (any other name: ``PATCH /api/persons/{person_id}``).
    """
    return person_json(reko().accept_name(person_id, json.name or None))


@bp.get("/persons/<person_id>")
@api.validate(resp=Response(HTTP_200=PersonDetail, HTTP_404=Error), tags=["persons"])
def get_person(person_id: str):
    """A person, their faces, the videos they appear in (with screen time) and the persons
    whose faces look like theirs (merge suggestions). Their moments: ``GET /api/search?person=``."""
    app = reko()
    person, videos, _ = app.site_person_page(person_id)
    similar = [{"person_id": s["other_id"] if s["person_id"] == person["person_id"] else s["person_id"],
                "similarity": s["similarity"]}
               for s in app.site_merge_suggestions() if person["person_id"] in (s["person_id"], s["other_id"])]
    return {**person_json(person), "faces": app.person_faces(person_id), "in_videos": videos,
            "similar": similar}


@bp.get("/persons/<person_id>/thumbnail.jpg")
@api.validate(resp=FileResponse("image/jpeg", HTTP_200=None, HTTP_302=(None, "on S3 storage: a presigned URL"),
                                HTTP_404=Error), tags=["persons"])
def person_thumbnail(person_id: str):
    """The person's best face crop."""
    return send_media(reko().person_media(person_id), "image/jpeg", 60)


@bp.patch("/persons/<person_id>")
@api.validate(headers=StateChange, resp=Response(HTTP_200=PersonShape, HTTP_403=Error, HTTP_404=Error),
              tags=["persons"])
def rename_person(person_id: str, json: PersonRename):
    """Rename a person (an empty name clears it); nothing is re-analysed."""
    return person_json(reko().rename_person(person_id, json.name))


@bp.post("/persons/<person_id>/merge")
@api.validate(headers=StateChange, resp=Response(HTTP_200=Merged, HTTP_403=Error, HTTP_404=Error),
              tags=["persons"])
def merge_person(person_id: str, json: PersonMerge):
    """Merge this person into another.

    The faces move to ``into``; the affected frame documents are rewritten.
    """
    person, changed = reko().merge_persons(person_id, json.into)
    return {"person": person_json(person), "frames_updated": changed}


@bp.post("/faces/<face_id>/remove")
@api.validate(headers=StateChange, resp=Response(HTTP_200=Removed, HTTP_403=Error, HTTP_404=Error),
              tags=["persons"])
def remove_face(face_id: str):
    """Take a wrongly matched face away from its person."""
    reko().remove_face(face_id)
    return {"removed": face_id}


@bp.post("/search/face")
@api.validate(form=FacePhoto, headers=StateChange, tags=["search"],
              resp=Response(HTTP_200=FaceSearchResult, HTTP_403=Error, HTTP_413=Error, HTTP_422=Error))
def search_by_face(query: PageSize, form: FacePhoto):
    """Find the person in a photo and return their segments.

    Shaped like ``GET /api/search`` (first page), plus ``person`` and ``similarity``. 400 when
    the photo has no face or matches nobody, 422 when it is not an image, 413 when it is too
    large.
    """
    found = reko().search_by_face(form.photo.read())
    body = search_page_json(found.response, 1, query.per_page, photo_similarity=found.similarity)
    return {**body, "person": person_json(found.person), "similarity": found.similarity}


@bp.get("/labels")
@api.validate(resp=Response(HTTP_200=Labels), tags=["search"])
def labels(query: LabelParams):
    """Label names with frame counts over the whole index (for the label filter); with ``q``
    only those whose name contains it, prefixes first (the search box's suggestions)."""
    app = reko()
    if query.q.strip():
        return {"labels": {lab["name"]: lab["frames"] for lab in app.site_suggest(query.q, limit=50)["labels"]}}
    return {"labels": app.labels()}
