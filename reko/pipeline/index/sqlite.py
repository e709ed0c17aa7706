"""The embedded index: SQLite with an FTS5 full-text table (the default backend).

Text is indexed with FTS5's ``trigram`` tokenizer (SQLite ≥ 3.34), which matches any substring
of three or more characters: Korean and other CJK text has no spaces between many words, so
substring search is what finds "교통" inside "실시간교통정보". Terms shorter than three
characters (very common in Korean: 서울, 뉴스) cannot use trigrams and fall back to ``LIKE``
over the same rows. User text is only ever a bound parameter, each term quoted as an FTS5
string (datasette's ``escape_fts`` approach), so no character acts as an operator.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable

from ...errors import IndexBackendError
from .base import FrameHit, IndexBackend, SearchQuery, SearchResult, normalize_text

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY,
    video_id TEXT NOT NULL,
    frame_ms INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    person_ids TEXT NOT NULL DEFAULT '[]',
    label_names TEXT NOT NULL DEFAULT '[]',
    doc TEXT NOT NULL,
    UNIQUE (video_id, frame_ms)
);
CREATE VIRTUAL TABLE IF NOT EXISTS frames_fts USING fts5(
    text, content='frames', content_rowid='id', tokenize='trigram');
CREATE TRIGGER IF NOT EXISTS frames_ai AFTER INSERT ON frames BEGIN
    INSERT INTO frames_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS frames_ad AFTER DELETE ON frames BEGIN
    INSERT INTO frames_fts(frames_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER IF NOT EXISTS frames_au AFTER UPDATE ON frames BEGIN
    INSERT INTO frames_fts(frames_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO frames_fts(rowid, text) VALUES (new.id, new.text);
END;
"""

MIN_TRIGRAM_CHARS = 3  #: FTS5 trigram needs at least 3 characters per term
FACET_SIZE = 50  #: facet values per field, most frequent first (same as the OpenSearch backend)
FACET_COLUMNS = ("label_names", "person_ids")  #: SearchResult.facets keys (JSON-array columns)


def indexed_text(doc: dict[str, Any]) -> str:
    """The searchable text of a frame document: its lines, normalised, one per line."""
    lines = [line.get("text", "") for line in doc.get("text_lines", [])] or [doc.get("text", "")]
    return "\n".join(t for t in (normalize_text(line) for line in lines) if t)


def fts_string(term: str) -> str:
    """``term`` as an FTS5 string literal: wrapped in double quotes, inner quotes doubled."""
    return '"' + term.replace('"', '""') + '"'


def like_pattern(term: str) -> str:
    r"""``%term%`` for ``LIKE ... ESCAPE '\'`` with ``%``, ``_`` and ``\`` escaped."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class SqliteIndex(IndexBackend):
    """Frame documents in one SQLite file (``path``), safe to share between threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise IndexBackendError(f"cannot open the SQLite index at {self.path}: {exc}") from None
        self._lock = threading.Lock()

    def index_frames(self, docs: Iterable[dict[str, Any]]) -> int:
        rows = [(d["video_id"], int(d["frame_ms"]), int(d["start_ms"]), int(d["end_ms"]),
                 indexed_text(d), json.dumps(d.get("person_ids", [])),
                 json.dumps(d.get("label_names", [])), json.dumps(d, ensure_ascii=False))
                for d in docs]
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO frames (video_id, frame_ms, start_ms, end_ms, text, person_ids,"
                " label_names, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (video_id, frame_ms) DO UPDATE SET start_ms=excluded.start_ms,"
                " end_ms=excluded.end_ms, text=excluded.text, person_ids=excluded.person_ids,"
                " label_names=excluded.label_names, doc=excluded.doc", rows)
        return len(rows)

    def search(self, query: SearchQuery) -> SearchResult:
        query.check()
        terms = query.terms()
        fts_terms = [t for t in terms if len(t) >= MIN_TRIGRAM_CHARS]
        where, params = [], []
        if fts_terms:
            source = "frames_fts JOIN frames ON frames.id = frames_fts.rowid"
            where.append("frames_fts MATCH ?")
            params.append(" AND ".join(fts_string(t) for t in fts_terms))
            score = "-bm25(frames_fts)"
        else:
            source, score = "frames", "1.0"
        for term in terms:
            if len(term) < MIN_TRIGRAM_CHARS:
                where.append("frames.text LIKE ? ESCAPE '\\'")
                params.append(like_pattern(term))
        for column, values in (("video_id", query.video_ids),):
            if values:
                where.append(f"frames.{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if query.max_unsafe_confidence is not None:
            where.append("coalesce(json_extract(frames.doc, '$.unsafe_confidence'), 0) < ?")
            params.append(float(query.max_unsafe_confidence))
        for column, values in (("person_ids", query.person_ids), ("label_names", query.labels)):
            if values:
                where.append(f"EXISTS (SELECT 1 FROM json_each(frames.{column}) WHERE lower(value)"
                             f" IN ({','.join('?' * len(values))}))")
                params.extend(v.lower() for v in values)
        clause = " AND ".join(where) or "1"
        with self._lock:
            total = self._db.execute(f"SELECT count(*) FROM {source} WHERE {clause}", params).fetchone()[0]
            rows = self._db.execute(
                f"SELECT frames.doc, {score} FROM {source} WHERE {clause}"
                f" ORDER BY 2 DESC, frames.video_id, frames.frame_ms LIMIT ?",
                [*params, query.limit_frames]).fetchall()
            facets = {column: self._facet(column, source, clause, params) for column in FACET_COLUMNS}
        return SearchResult(hits=[FrameHit(json.loads(doc), float(s)) for doc, s in rows],
                            total_frames=total, facets=facets)

    def _facet(self, column: str, source: str, clause: str, params: list[Any]) -> dict[str, int]:
        """``{value: matching frames}`` of the JSON-array ``column`` over the frames matching
        ``clause``: top :data:`FACET_SIZE` by count, ties by value (exact spelling, as stored)."""
        rows = self._db.execute(
            f"SELECT facet.value, count(DISTINCT frames.id) FROM {source},"
            f" json_each(frames.{column}) AS facet WHERE {clause}"
            f" GROUP BY facet.value ORDER BY 2 DESC, 1 LIMIT ?", [*params, FACET_SIZE]).fetchall()
        return {value: count for value, count in rows}

    def delete_video(self, video_id: str) -> int:
        with self._lock, self._db:
            return self._db.execute("DELETE FROM frames WHERE video_id = ?", (video_id,)).rowcount

    def frames(self, video_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT doc FROM frames WHERE video_id = ? ORDER BY frame_ms",
                                    (video_id,)).fetchall()
        return [json.loads(doc) for (doc,) in rows]

    def stats(self) -> dict[str, int]:
        with self._lock:
            frames, videos = self._db.execute(
                "SELECT count(*), count(DISTINCT video_id) FROM frames").fetchone()
        return {"frames": frames, "videos": videos}

    def close(self) -> None:
        with self._lock:
            self._db.close()
