"""Moments across signals (issue 15, item 1) from the front ends: ``Reko.moment_query`` (how
user input becomes a moment query) and ``reko search --within / --near-*`` on the real demo
video (bikes 0–10 s, the carphone man 10–14 s, captions at samples.DEMO_CAPTIONS' times).
The backend semantics are checked by tests/test_search_contract.py on both backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from reko.errors import QueryError
from reko.pipeline.index.base import NearClause, SearchQuery
from reko.settings import Settings


def reko(env, *args):
    return subprocess.run([sys.executable, "-m", "reko.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture
def app(tmp_path):
    from reko.app import Reko

    with Reko(Settings.from_env({}, data_dir=tmp_path / "data")) as app:
        yield app


def test_plain_input_stays_a_same_frame_query(app):
    assert app.moment_query("국회", labels=["Car"]) == SearchQuery("국회", labels=("Car",))


def test_within_splits_every_signal_around_the_text(app):
    query = app.moment_query("국회", labels=["Car", "Dog"], within="5s")
    assert (query.text, query.labels, query.within_ms) == ("국회", (), 5000)
    assert query.near == (NearClause(labels=("Car",)), NearClause(labels=("Dog",)))


def test_without_text_the_first_signal_is_the_anchor_and_near_means_together(app):
    query = app.moment_query(labels=["Car"], near_labels=["Dog"], near_texts=["속보"])
    assert (query.text, query.labels, query.within_ms) == ("", ("Car",), 0)
    assert query.near == (NearClause(labels=("Dog",)), NearClause(text="속보"))
    assert app.moment_query("속보", near_labels=["Car"], within=2.5).within_ms == 2500


@pytest.mark.parametrize("kwargs, message", [
    ({"text": "국회", "within": "5s"}, "within needs"),
    ({"text": "국회", "labels": ["Car"], "within": "soon"}, "duration such as 5s"),
    ({"text": "국회", "labels": ["Car"], "within": "11m"}, "between 0 and 600"),
    ({"text": "국회", "near_labels": ["a", "b", "c", "d", "e"]}, "at most 4"),
    ({"near_labels": ["Car"]}, "something for the other signals"),
    ({"text": "국회", "near_persons": ["nobody"]}, "no person"),
])
def test_bad_moment_input_is_a_clear_error(app, kwargs, message):
    with pytest.raises(QueryError, match=message):
        app.moment_query(**kwargs)


@pytest.fixture
def demo(ingested_demo):
    """(env for the CLI, the demo's video id, the carphone man's person id)."""
    from reko.app import Reko

    settings, report = ingested_demo
    with Reko(settings) as app:
        counts = {}
        for person in app.persons():
            faces = [f for f in app.person_faces(person.person_id) if 10_000 <= f["frame_ms"] < 14_500]
            counts[person.person_id] = len(faces)
    person_id = max(counts, key=counts.get)
    assert counts[person_id] >= 2, counts
    env = {**os.environ, "REKO_DATA_DIR": str(settings.data_dir), "REKO_SEGMENT_PAD_MS": "0"}
    return env, report.video_id, person_id


def test_cli_person_within_seconds_of_a_caption(demo):
    env, video_id, man = demo
    # "실시간 교통 정보 안내" is on screen 7.5–9.7 s; the carphone man from 10 s: never in one frame
    same_frame = json.loads(reko(env, "search", "교통", "--person", man, "--json").stdout)
    assert same_frame["segments"] == []
    near = reko(env, "search", "교통", "--person", man, "--within", "3s", "--json")
    assert near.returncode == 0, near.stderr
    data = json.loads(near.stdout)
    (seg,) = data["segments"]
    assert seg["video_id"] == video_id and seg["start_ms"] <= 8000 and seg["end_ms"] >= 10_000
    assert seg["near"] and all(n["clause"] == 0 and n["start_ms"] >= 9_000 for n in seg["near"])
    # the first caption (0.3–2.8 s) is 7 s and more from him
    assert json.loads(reko(env, "search", "자전거", "--person", man, "--within", "5s", "--json").stdout)["segments"] == []
    far = json.loads(reko(env, "search", "자전거", "--person", man, "--within", "10s", "--json").stdout)
    assert [s["video_id"] for s in far["segments"]] == [video_id]


def test_cli_moment_text_output_and_errors(demo):
    env, _, man = demo
    out = reko(env, "search", "교통", "--near-person", man, "--within", "3s")
    assert out.returncode == 0 and "within 3 s of person" in out.stdout and "near: person" in out.stdout
    bad = reko(env, "search", "교통", "--within", "5s")
    assert bad.returncode == 1 and "within needs" in bad.stderr and "Traceback" not in bad.stderr
    worse = reko(env, "search", "교통", "--near-label", "Car", "--within", "five")
    assert worse.returncode == 1 and "duration" in worse.stderr
