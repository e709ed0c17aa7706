"""``GET /api/search``: segments for text, person, label and video filters, paged."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from spectree import Response

from ..pipeline.index import SearchQuery
from ..pipeline.index.base import normalize_text, parse_terms
from .common import reko
from .request_models import SearchFilters, SearchParams
from .response_models import Error, SearchResult
from .spec import api

bp = Blueprint("search", __name__, url_prefix="/api")


def search_query(filters: SearchFilters) -> SearchQuery:
    """A SearchQuery from validated filters: ``person`` values (ids or names) resolved, empty
    values dropped; a moment query when ``within`` or a ``near_*`` value is given (see
    :meth:`reko.app.Reko.moment_query`). Raises QueryError for a person who matches nobody or a
    malformed moment query."""
    return reko().moment_query(filters.q, filters.person, filters.label, filters.video, filters.near_person,
                               filters.near_label, filters.near_text, filters.within or None)


def near_json(seg, query: SearchQuery, names: dict[str, str], numbers: dict[str, int]) -> list[dict[str, Any]]:
    """A moment segment's witnesses (:attr:`Segment.near`) for people: which signal (``kind``,
    ``label``), the frame, and how far it is from the nearest anchor frame of the segment
    (``gap_ms``, ``relation``)."""
    out = []
    for witness in seg.near:
        clause = query.near[witness["clause"]]
        if clause.person_ids:
            kind = "person"
            label = " or ".join(names.get(pid) or f"Person {numbers.get(pid, '?')}" for pid in clause.person_ids)
        elif clause.labels:
            kind, label = "label", " or ".join(clause.labels)
        else:
            kind, label = "text", clause.text
        gap, anchor = min(((max(0, witness["start_ms"] - d["end_ms"], d["start_ms"] - witness["end_ms"]), d)
                           for d in seg.frames), key=lambda item: (item[0], item[1]["frame_ms"]))
        relation = "together" if gap == 0 else "after" if witness["start_ms"] >= anchor["end_ms"] else "before"
        out.append({**witness, "kind": kind, "label": label, "gap_ms": gap, "relation": relation,
                    "frame_url": f"/api/frames/{seg.video_id}/{witness['frame_ms']}.jpg"})
    return out


def matched_lines(doc: dict[str, Any], terms: list[str]) -> list[dict[str, Any]]:
    """The text lines of a frame document that contain any query term (case-insensitive)."""
    lowered = [t.lower() for t in terms]
    return [line for line in doc.get("text_lines", [])
            if any(t in normalize_text(line["text"]).lower() for t in lowered)]


def segment_json(seg, terms: list[str], filenames: dict[str, str], labels: tuple[str, ...] = (),
                 query: SearchQuery | None = None, photo_similarity: float | None = None,
                 numbers: dict[str, int] | None = None) -> dict[str, Any]:
    """A segment as the API returns it: the CLI fields plus URLs, the filename, the boxes
    (ratios of the frame) to draw over the thumbnail (matched text lines, faces of persons,
    instances of the searched labels), why it matched (see :meth:`reko.app.Reko.site_explain`),
    its span before padding and the clip's file name."""
    app = reko()
    best = next((d for d in seg.frames if d["frame_ms"] == seg.frame_ms), seg.frames[0])
    lines = matched_lines(best, terms)
    boxes = [{"kind": "text", "text": line["text"], "box": line["box"]} for line in lines]
    boxes += [{"kind": "face", "person_id": f.get("person_id"), "box": f["box"]}
              for f in best.get("faces", []) if f.get("box") and f.get("person_id")]
    wanted = {label.lower() for label in labels}
    boxes += [{"kind": "label", "text": label["name"], "box": box}
              for label in best.get("labels", [])
              if wanted & {label["name"].lower(), *(p.lower() for p in label.get("parents", []))}
              for box in label.get("boxes", [])]
    query = query or SearchQuery(text=" ".join(terms), labels=labels)
    why = app.site_explain(seg, query, photo_similarity, numbers)
    extra = {}
    if seg.near and query.near:
        numbers = app.site_person_numbers() if numbers is None else numbers
        extra["near"] = near_json(seg, query, app.persons_store.names(), numbers)
    return {**seg.to_json(), **extra, "filename": filenames.get(seg.video_id, ""),
            "matched_lines": [line["text"] for line in lines], "boxes": boxes,
            "frame_url": f"/api/frames/{seg.video_id}/{seg.frame_ms}.jpg",
            "video_url": f"/api/videos/{seg.video_id}/media",
            "clip_url": f"/api/clips/{seg.video_id}.mp4?start_ms={seg.start_ms}&end_ms={seg.end_ms}",
            "match_start_ms": why.pop("match_start_ms"), "match_end_ms": why.pop("match_end_ms"),
            "why": why, "download_name": app.site_clip_name(seg.video_id, seg.start_ms, seg.end_ms)}


def search_page_json(response, page: int, per_page: int, photo_similarity: float | None = None) -> dict[str, Any]:
    """One page of a :class:`~reko.pipeline.search.SearchResponse` in the API's shape
    (``photo_similarity``: the person's similarity to the photo, for a search by photo)."""
    query = response.query
    app = reko()
    filenames = {r.video_id: r.filename for r in app.videos()}
    terms = parse_terms(query.text)
    page_segments = response.segments[(page - 1) * per_page: page * per_page]
    numbers = app.site_person_numbers() if query.person_ids or any(c.person_ids for c in query.near) else None
    return {"query": query.text, "total_frames": response.total_frames,
            "total_segments": len(response.segments), "page": page, "per_page": per_page,
            "segments": [segment_json(s, terms, filenames, query.labels, query, photo_similarity, numbers)
                         for s in page_segments],
            "facets": response.facets}


@bp.get("/search")
@api.validate(resp=Response(HTTP_200=SearchResult, HTTP_503=(Error, "the index is unreachable")),
              tags=["search"])
def search_endpoint(query: SearchParams):
    """Search segments.

    Frames matching every filter are merged into segments per video (best video first), then
    paged. With ``within`` or ``near_*``: moments where the signals are on screen within that
    time of each other (each segment lists the other signals' frames in ``near``). 400 for an
    empty search, a query over the length or word limits, an unknown person, a malformed
    ``within``, ``within`` with only one signal, or more than 4 near signals.
    """
    response = reko().search(search_query(query), include_unsafe=query.unsafe)
    return search_page_json(response, query.page, query.per_page)

