"""SQLite-only behaviour: bigram tokens, and files written by an older reko are migrated."""

import json
import sqlite3

from reko.pipeline.index import SearchQuery, open_index
from reko.pipeline.index.sqlite import bigrams

OLD_SCHEMA = """
CREATE TABLE frames (id INTEGER PRIMARY KEY, video_id TEXT NOT NULL, frame_ms INTEGER NOT NULL,
    start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, text TEXT NOT NULL DEFAULT '',
    person_ids TEXT NOT NULL DEFAULT '[]', label_names TEXT NOT NULL DEFAULT '[]',
    doc TEXT NOT NULL, UNIQUE (video_id, frame_ms));
CREATE VIRTUAL TABLE frames_fts USING fts5(text, content='frames', content_rowid='id', tokenize='trigram');
CREATE TRIGGER frames_ai AFTER INSERT ON frames BEGIN
    INSERT INTO frames_fts(rowid, text) VALUES (new.id, new.text);
END;
"""


def test_bigrams_pair_adjacent_letters_and_digits_only():
    assert bigrams("서울 뉴스9") == "서울 뉴스 스9"
    assert bigrams("REF-2024") == "re ef 20 02 24"
    assert bigrams("a . b") == ""


def test_an_index_written_by_the_first_schema_is_migrated_on_open(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    doc = {"video_id": "v", "frame_ms": 0, "start_ms": 0, "end_ms": 1000, "text": "오늘 뉴스",
           "text_lines": [{"text": "오늘 뉴스"}], "person_ids": ["p9"], "label_names": ["Car"],
           "unsafe_confidence": 99.0}
    db.execute("INSERT INTO frames (video_id, frame_ms, start_ms, end_ms, text, person_ids, label_names, doc)"
               " VALUES ('v', 0, 0, 1000, '오늘 뉴스', ?, ?, ?)",
               (json.dumps(["p9"]), json.dumps(["Car"]), json.dumps(doc)))
    db.commit()
    db.close()
    index = open_index(f"sqlite:///{path}")
    assert index.search(SearchQuery("뉴스")).total_frames == 1
    assert index.search(SearchQuery(person_ids=("p9",), labels=("car",))).total_frames == 1
    assert index.search(SearchQuery("뉴스", max_unsafe_confidence=80)).total_frames == 0
    index.delete_video("v")
    assert index.facet_counts() == {"label_names": {}, "person_ids": {}}
