"""Shared fixtures: real media built once per session from the sources in the design brief."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from reko.pipeline import samples
from reko.settings import Settings


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    """A session directory for built media."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def demo_video(media_dir) -> Path:
    """bikes + carphone + bigbuckbunny at 1280×720 with samples.DEMO_CAPTIONS burned in."""
    return samples.build_demo(media_dir)


@pytest.fixture(scope="session")
def still_video(media_dir) -> Path:
    """A real photo (scikit-image's astronaut, from its wheel) held as an 8 s H.264 shot with
    film-grain noise, a Korean caption from 3 to 5 s and a one-letter caption from 6 to 8 s:
    the hardest case for near-duplicate skipping (static shot, small caption)."""
    out = media_dir / "still-captions.mp4"
    if not out.exists():
        photo = astronaut_png(media_dir)
        raw = media_dir / "still.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-loop", "1", "-i", str(photo),
                        "-t", "8", "-vf", "scale=1280:720,noise=alls=6:allf=t,format=yuv420p",
                        "-r", "25", "-c:v", "libx264", "-crf", "23", str(raw)], check=True)
        samples.build_video([raw], out, STILL_CAPTIONS)
    return out


STILL_CAPTIONS = (samples.Caption("속보", 3000, 5000, font_px=32),
                  samples.Caption("A", 6000, 8000, font_px=28))


def astronaut_png(dest: Path) -> Path:
    """scikit-image's astronaut.png, taken from the scikit-image wheel (pip download)."""
    out = dest / "astronaut.png"
    if out.exists():
        return out
    import zipfile

    wheel_dir = dest / "skimage-wheel"
    if not list(wheel_dir.glob("scikit_image-*.whl")):
        subprocess.run(["python", "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                        "scikit-image", "-d", str(wheel_dir)], check=True)
    wheel = next(wheel_dir.glob("scikit_image-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        out.write_bytes(zf.read("skimage/data/astronaut.png"))
    return out


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings with a fresh data dir, no padding (so segment bounds are the caption's)."""
    return Settings.from_env({}, data_dir=tmp_path / "data", segment_pad_ms=0)


@pytest.fixture
def reko_env(settings) -> dict[str, str]:
    """Environment for running the ``reko`` CLI against ``settings``' data dir."""
    env = dict(os.environ)
    env.update(REKO_DATA_DIR=str(settings.data_dir), REKO_SEGMENT_PAD_MS="0")
    return env


@pytest.fixture(scope="session")
def ingested_demo(tmp_path_factory, demo_video):
    """The demo video ingested once with the real local engine (read-only for tests).
    Returns (settings, IngestReport)."""
    from reko.app import Reko

    settings = Settings.from_env({}, data_dir=tmp_path_factory.mktemp("demo-data"), segment_pad_ms=0)
    with Reko(settings) as ingestor:
        report = ingestor.ingest(demo_video)
    return settings, report


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """In CI (``CI`` set) nothing may skip: a skip means .ci/run failed to install something
    (a package, Chromium, the OpenSearch server). The run fails, listing the reasons."""
    skipped = terminalreporter.stats.get("skipped", [])
    if os.environ.get("CI") and skipped:
        terminalreporter.section("skips are failures in CI")
        for report in skipped:
            terminalreporter.write_line(f"{report.nodeid}: {report.longrepr}")


def pytest_sessionfinish(session, exitstatus):
    """Turn CI skips into a failing exit status (see pytest_terminal_summary)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("CI") and reporter and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = 1


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium, one per test module (``test_site_support.launch``)."""
    from playwright.sync_api import sync_playwright
    from test_site_support import launch, require_chromium

    require_chromium()
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh desktop page of ``browser``: console errors in ``page.errors``, dialogs in
    ``page.dialogs`` (``test_site_support.new_page``)."""
    from test_site_support import new_page

    page = new_page(browser)
    yield page
    page.context.close()
