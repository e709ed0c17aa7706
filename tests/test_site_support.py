"""Helpers for the site's real-browser tests (no tests here): start ``reko serve`` on a free port,
drive Debian's Chromium with Playwright, collect console errors, run axe-core, take screenshots.

axe-core comes from npm (``bash infra/install.sh --dev`` puts it in ``.cache/node-tools/``); it is
injected into the page from that file, never from a CDN, with the site's CSP left on.
"""

from __future__ import annotations

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

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE_JS = ROOT / ".cache" / "node-tools" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(os.environ["REKO_SCREENSHOTS"]) if os.environ.get("REKO_SCREENSHOTS") else None
DESKTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reko_command(*args: str) -> list[str]:
    """The ``reko`` console script of this environment (as the README runs it)."""
    script = Path(sys.executable).parent / "reko"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "reko.cli", *args]


def env_without_reko(**extra: str) -> dict[str, str]:
    """This process's environment without any REKO_* variable (defaults, as a new user has),
    plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REKO_")}
    env.update(extra)
    return env


def require_chromium() -> None:
    """Skip when Chromium is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed: apt-get install chromium")


def start_server(cwd: Path, env: dict[str, str], command: list[str] | None = None) -> tuple[subprocess.Popen, str]:
    """``reko serve`` on a free port in ``cwd``; returns (process, base URL) once /api/health answers.
    ``command`` replaces the ``reko`` console script (``serve --port N`` is appended to it)."""
    port = free_port()
    log = open(cwd / f"serve-{port}.log", "wb")
    proc = subprocess.Popen([*(command or reko_command()), "serve", "--port", str(port)], cwd=cwd, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/api/health", timeout=1)
            return proc, base
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    pytest.fail("reko serve did not start: " + (cwd / f"serve-{port}.log").read_text(errors="replace"))


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM, as a service manager stops it; its analysis workers must end too."""
    from test_ingest import alive, children

    workers = children(proc.pid)
    proc.terminate()
    proc.wait(timeout=60)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not [pid for pid in workers if alive(pid)], "reko serve left analysis workers running"


def get_json(base: str, path: str):
    """GET a JSON API path of the server at ``base``; the decoded body."""
    return json.loads(urllib.request.urlopen(base + path).read())


def launch(playwright):
    """Headless Debian Chromium (no browser download)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def new_page(browser, viewport=DESKTOP):
    """A page in a new context whose console errors and uncaught exceptions are collected in
    ``page.errors``, whose dialogs (``confirm()``, or an ``alert()`` that must never happen)
    are accepted and recorded in ``page.dialogs``, and whose file choosers are intercepted
    (``expect_file_chooser`` gets them)."""
    context = browser.new_context(accept_downloads=True, viewport=viewport)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(f"uncaught: {e}"))
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.accept()))
    # file choosers are intercepted from the start: expect_file_chooser() alone turns the
    # interception on while the key press that opens the chooser is already on its way, and a
    # chooser opened before it is on is lost (seen: Enter on "Choose a video", no event)
    page.on("filechooser", lambda chooser: None)
    return page


def axe_violations(page, impacts=("serious", "critical")) -> list[str]:
    """axe-core's violations of ``impacts`` on the current page (WCAG 2 A/AA and best practices)."""
    if not AXE_JS.exists():
        pytest.skip(f"axe-core is not installed ({AXE_JS}): bash infra/install.sh --dev")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # add_script_tag(path=...) inlines the file, which the site's CSP (script-src 'self')
        # rightly blocks; evaluating it through the DevTools protocol is not a page script
        page.evaluate(AXE_JS.read_text() + "\n;void 0")
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [f"{v['impact']} {v['id']}: {v['help']} at {v['nodes']}" for v in result if v["impact"] in impacts]


def horizontal_overflow(page) -> int:
    """How many px the page is wider than the viewport (0: no horizontal scroll)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def shot(page, name: str, folder: Path | None = None) -> None:
    """A full-page screenshot into ``REKO_SCREENSHOTS`` (or ``folder``), when either is set."""
    target = SHOTS or folder
    if target:
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / f"{name}.png"), full_page=True)


def tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching ``selector`` has the focus (keyboard only)."""
    for _ in range(limit):
        if page.evaluate("(sel) => document.activeElement && document.activeElement.matches(sel)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} cannot be reached with Tab")


def rect(page, selector: str) -> dict[str, float]:
    """The bounding client rect of the first element matching ``selector``."""
    return page.eval_on_selector(selector, "e => { const r = e.getBoundingClientRect();"
                                           " return {x: r.x, y: r.y, w: r.width, h: r.height}; }")
