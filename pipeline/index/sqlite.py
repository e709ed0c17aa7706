"""The embedded index: SQLite with FTS5 full-text tables (the default backend).

Text is indexed twice:

* FTS5's ``trigram`` tokenizer (SQLite ≥ 3.34) matches any substring of three or more
  characters: Korean and other CJK text has no spaces between many words, so substring search is
  what finds "교통정보" inside "실시간교통정보";
* a second FTS5 table holds every pair of adjacent letters/digits as a token (CJK bigram
  indexing, as Lucene's CJKAnalyzer and OpenSearch's ``cjk`` analyzer do), so the two-character
  words that are everywhere in Korean (서울, 뉴스) are index look-ups too.

Only one-character terms fall back to ``LIKE``. Person and label filters and facets use indexed
side tables (``frame_persons``, ``frame_labels``) rather than scanning JSON. User text is only
ever a bound parameter, each term quoted as an FTS5 string (datasette's ``escape_fts``), so no
character acts as an operator.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ...errors import IndexBackendError, StorageError
from ..sqlite_util import connect
from .base import FrameHit, IndexBackend, SearchQuery, SearchResult, Span, normalize_text
from .moments import Windows, find_moments

SCHEMA_VERSION = 2  #: PRAGMA user_version; older files are migrated on open

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
    DELETE FROM frames_bigram WHERE rowid = old.id;
    DELETE FROM frame_persons WHERE frame_id = old.id;
    DELETE FROM frame_labels WHERE frame_id = old.id;
END;
CREATE TRIGGER IF NOT EXISTS frames_au AFTER UPDATE ON frames BEGIN
    INSERT INTO frames_fts(frames_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO frames_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE VIRTUAL TABLE IF NOT EXISTS frames_bigram USING fts5(grams, tokenize='unicode61 remove_diacritics 0');
CREATE TABLE IF NOT EXISTS frame_persons (
    person_id TEXT NOT NULL COLLATE NOCASE, frame_id INTEGER NOT NULL,
    PRIMARY KEY (person_id, frame_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS frame_persons_frame ON frame_persons (frame_id);
CREATE TABLE IF NOT EXISTS frame_labels (
    label TEXT NOT NULL COLLATE NOCASE, frame_id INTEGER NOT NULL,
    PRIMARY KEY (label, frame_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS frame_labels_frame ON frame_labels (frame_id);
-- moments (issue 15): frames of a video by time, and the longest span (range scans' bound)
CREATE INDEX IF NOT EXISTS frames_video_start ON frames (video_id, start_ms);
CREATE INDEX IF NOT EXISTS frames_span ON frames ((end_ms - start_ms));
"""

MIN_TRIGRAM_CHARS = 3  #: FTS5 trigram needs at least 3 characters per term
BIGRAM_CHARS = 2  #: two-character terms are looked up in the bigram table
FACET_SIZE = 50  #: facet values per field, most frequent first (same as the OpenSearch backend)
#: SearchResult.facets keys and the side tables (and columns) they are counted from
FACETS = (("label_names", "frame_labels", "label"), ("person_ids", "frame_persons", "person_id"))


def indexed_text(doc: Mapping[str, Any]) -> str:
    """The searchable text of a frame document: its lines, normalised, one per line."""
    lines = [line.get("text", "") for line in doc.get("text_lines", [])] or [doc.get("text", "")]
    return "\n".join(t for t in (normalize_text(line) for line in lines) if t)


def bigrams(text: str) -> str:
    """Space-separated lowercase pairs of adjacent letters/digits of ``text`` (runs of other
    characters break pairs): ``"서울 뉴스9"`` → ``"서울 뉴스 스9"``."""
    grams: list[str] = []
    for word in "".join(ch if ch.isalnum() else " " for ch in text.lower()).split():
        grams.extend(word[i:i + 2] for i in range(len(word) - 1))
    return " ".join(grams)


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
            self._db = connect(self.path, SCHEMA, what="search index")
            self._migrate()
        except StorageError as exc:
            raise IndexBackendError(f"cannot open the SQLite index: {exc}", detail=exc.detail) from None
        self._lock = threading.Lock()

    def _migrate(self) -> None:
        """Bring a file written by an older reko to :data:`SCHEMA_VERSION` (adds the
        ``unsafe_confidence`` column, fills the bigram and side tables)."""
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:
            return
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(frames)")}
        with self._db:
            if "unsafe_confidence" not in columns:
                self._db.execute("ALTER TABLE frames ADD COLUMN unsafe_confidence REAL NOT NULL DEFAULT 0")
            rows = self._db.execute("SELECT id, text, person_ids, label_names, doc FROM frames").fetchall()
            for frame_id, text, persons, labels, doc in rows:
                self._write_side_tables(frame_id, text, json.loads(persons), json.loads(labels))
                self._db.execute("UPDATE frames SET unsafe_confidence = ? WHERE id = ?",
                                 (float(json.loads(doc).get("unsafe_confidence", 0.0)), frame_id))
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _write_side_tables(self, frame_id: int, text: str, persons: list[str], labels: list[str]) -> None:
        db = self._db
        db.execute("DELETE FROM frames_bigram WHERE rowid = ?", (frame_id,))
        db.execute("INSERT INTO frames_bigram (rowid, grams) VALUES (?, ?)", (frame_id, bigrams(text)))
        db.execute("DELETE FROM frame_persons WHERE frame_id = ?", (frame_id,))
        db.executemany("INSERT OR IGNORE INTO frame_persons (person_id, frame_id) VALUES (?, ?)",
                       [(p, frame_id) for p in persons])
        db.execute("DELETE FROM frame_labels WHERE frame_id = ?", (frame_id,))
        db.executemany("INSERT OR IGNORE INTO frame_labels (label, frame_id) VALUES (?, ?)",
                       [(label, frame_id) for label in labels])

    def index_frames(self, docs: Iterable[Mapping[str, Any]]) -> int:
        count = 0
        with self._lock, self._db:
            for d in docs:
                text = indexed_text(d)
                persons, labels = list(d.get("person_ids", [])), list(d.get("label_names", []))
                (frame_id,) = self._db.execute(
                    "INSERT INTO frames (video_id, frame_ms, start_ms, end_ms, text, person_ids,"
                    " label_names, unsafe_confidence, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (video_id, frame_ms) DO UPDATE SET start_ms=excluded.start_ms,"
                    " end_ms=excluded.end_ms, text=excluded.text, person_ids=excluded.person_ids,"
                    " label_names=excluded.label_names, unsafe_confidence=excluded.unsafe_confidence,"
                    " doc=excluded.doc RETURNING id",
                    (d["video_id"], int(d["frame_ms"]), int(d["start_ms"]), int(d["end_ms"]), text,
                     json.dumps(persons), json.dumps(labels), float(d.get("unsafe_confidence", 0.0)),
                     json.dumps(d, ensure_ascii=False))).fetchone()
                self._write_side_tables(frame_id, text, persons, labels)
                count += 1
        return count

    def _plan(self, query: SearchQuery, probe: bool = False) -> tuple[str, list[str], list[Any], str, str]:
        """How to find the frames of a plain (same-frame) ``query``: ``(source, where, params,
        score, order)`` for ``SELECT ... FROM {source} WHERE {' AND '.join(where)}``.

        Terms of ≥ 3 characters are an FTS5 trigram ``MATCH`` (scored by ``bm25``), two-character
        terms a bigram ``MATCH``, shorter ones ``LIKE``; the filters use the side tables. Every
        value is a bound parameter. With ``probe`` (frames already narrowed down, e.g. to a
        few time windows) every condition is a per-row look-up instead: the source is the
        ``frames`` table alone, unscored, and each text match and side table is checked by
        ``EXISTS`` on its key rather than by building the list of all its matches."""
        terms = query.terms()
        trigram_terms = [t for t in terms if len(t) >= MIN_TRIGRAM_CHARS]
        bigram_terms = [t for t in terms if len(t) == BIGRAM_CHARS and t.isalnum()]
        where: list[str] = []
        params: list[Any] = []
        if trigram_terms and not probe:
            source = "frames_fts JOIN frames ON frames.id = frames_fts.rowid"
            where.append("frames_fts MATCH ?")
            params.append(" AND ".join(fts_string(t) for t in trigram_terms))
            score, order = "-bm25(frames_fts)", "2 DESC, frames.video_id, frames.frame_ms"
        else:
            source, score, order = "frames", "1.0", "frames.video_id, frames.frame_ms"
            if trigram_terms:
                where.append("EXISTS (SELECT 1 FROM frames_fts WHERE frames_fts MATCH ? AND rowid = frames.id)")
                params.append(" AND ".join(fts_string(t) for t in trigram_terms))
        if bigram_terms:
            where.append("EXISTS (SELECT 1 FROM frames_bigram WHERE frames_bigram MATCH ? AND rowid = frames.id)"
                         if probe else "frames.id IN (SELECT rowid FROM frames_bigram WHERE frames_bigram MATCH ?)")
            params.append(" AND ".join(fts_string(t.lower()) for t in bigram_terms))
        for term in terms:
            if len(term) < MIN_TRIGRAM_CHARS and term not in bigram_terms:
                where.append("frames.text LIKE ? ESCAPE '\\'")
                params.append(like_pattern(term))
        if query.video_ids:
            where.append(f"frames.video_id IN ({','.join('?' * len(query.video_ids))})")
            params.extend(query.video_ids)
        if query.max_unsafe_confidence is not None:
            where.append("frames.unsafe_confidence < ?")
            params.append(float(query.max_unsafe_confidence))
        for table, column, values in (("frame_persons", "person_id", query.person_ids),
                                      ("frame_labels", "label", query.labels)):
            if values:
                marks = ",".join("?" * len(values))
                where.append(f"EXISTS (SELECT 1 FROM {table} WHERE {column} IN ({marks}) AND frame_id = frames.id)"
                             if probe else f"frames.id IN (SELECT frame_id FROM {table} WHERE {column} IN ({marks}))")
                params.extend(values)
        return source, where, params, score, order

    def search(self, query: SearchQuery) -> SearchResult:
        query.check()
        if query.near:
            return self._search_moments(query)
        source, where, params, score, order = self._plan(query)
        with self._lock:
            return self._result(source, " AND ".join(where) or "1", params, score, order, query.limit_frames)

    def _result(self, source: str, clause: str, params: list[Any], score: str, order: str,
                limit: int, total: int | None = None) -> SearchResult:
        """Hits (at most ``limit``), the exact total (counted unless given) and the facets of
        the frames matching ``clause``; the caller holds the lock."""
        if total is None:
            total = self._db.execute(f"SELECT count(*) FROM {source} WHERE {clause}", params).fetchone()[0]
        rows = self._db.execute(
            f"SELECT frames.doc, {score} FROM {source} WHERE {clause} ORDER BY {order} LIMIT ?",
            [*params, limit]).fetchall()
        facets = {key: self._facet(table, column, source, clause, params) for key, table, column in FACETS}
        return SearchResult(hits=[FrameHit(json.loads(doc), float(s)) for doc, s in rows],
                            total_frames=total, facets=facets)

    # -- moments (issue 15): the semantics are in base.py, the shared join in moments.py ----

    def _search_moments(self, query: SearchQuery) -> SearchResult:
        """A moment query: :func:`.moments.find_moments` over this file (capped counts, driver
        spans, then each other clause through an index range scan of ``frames (video_id,
        start_ms)`` per window, windows in a temporary table), then the qualifying anchors'
        documents scored and ordered as the anchor query orders them, with facets over them."""
        with self._lock:
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS moment_windows "
                             "(video_id TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL)")
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS moment_hits (frame_id INTEGER PRIMARY KEY)")
            source = _SqliteMoments(self)
            found = find_moments(query, source)
            self._db.execute("DELETE FROM temp.moment_hits")
            self._db.executemany("INSERT OR IGNORE INTO temp.moment_hits (frame_id) VALUES (?)",
                                 [(source.ids[key],) for key in found])
            src, where, params, score, order = self._plan(query.anchor())
            where.append("frames.id IN (SELECT frame_id FROM temp.moment_hits)")
            result = self._result(src, " AND ".join(where), params, score, order, query.limit_frames,
                                  total=len(found))
            self._db.execute("DELETE FROM temp.moment_hits")
        for hit in result.hits:
            hit.near = found[(hit.doc["video_id"], int(hit.doc["frame_ms"]))]
        return result

    def max_span_ms(self) -> int:
        """The longest ``end_ms - start_ms`` of any frame (0 when empty): from the expression
        index ``frames_span``, one look-up. The caller holds the lock."""
        return int(self._db.execute("SELECT max(end_ms - start_ms) FROM frames").fetchone()[0] or 0)

    def _facet(self, table: str, column: str, source: str, clause: str, params: list[Any]) -> dict[str, int]:
        """``{value: matching frames}`` of a side table over the frames matching ``clause``: top
        :data:`FACET_SIZE` by count, ties by value (exact spelling, as stored)."""
        rows = self._db.execute(
            f"SELECT {column}, count(*) FROM {table} WHERE frame_id IN"
            f" (SELECT frames.id FROM {source} WHERE {clause})"
            f" GROUP BY {column} ORDER BY 2 DESC, 1 LIMIT ?", [*params, FACET_SIZE]).fetchall()
        return {value: count for value, count in rows}

    def facet_counts(self) -> dict[str, dict[str, int]]:
        """Facets over the whole index (``label_names``, ``person_ids``: value → frames)."""
        with self._lock:
            return {key: dict(self._db.execute(
                f"SELECT {column}, count(*) FROM {table} GROUP BY {column} ORDER BY 2 DESC, 1 LIMIT ?",
                (FACET_SIZE,)).fetchall()) for key, table, column in FACETS}

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


class _SqliteMoments:
    """:class:`.moments.MomentSource` over a :class:`SqliteIndex` (its lock held by the
    caller). Remembers the row id of every span it returned (``ids``), for the final filter."""

    def __init__(self, index: SqliteIndex):
        self.index = index
        self.db = index._db
        self.ids: dict[tuple[str, int], int] = {}
        self._max_span: int | None = None

    def clause_counts(self, clauses: Sequence[SearchQuery], cap: int) -> list[int]:
        counts = []
        for clause in clauses:
            source, where, params, _, _ = self.index._plan(clause)
            counts.append(self.db.execute(f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE "
                                          f"{' AND '.join(where) or '1'} LIMIT ?)", [*params, cap]).fetchone()[0])
        return counts

    def clause_spans(self, clause: SearchQuery, within: Windows | None) -> list[Span]:
        if within is None:
            source, where, params, _, _ = self.index._plan(clause)
            rows = self.db.execute(
                "SELECT frames.id, frames.video_id, frames.frame_ms, frames.start_ms, frames.end_ms"
                f" FROM {source} WHERE {' AND '.join(where) or '1'}", params).fetchall()
        else:
            if self._max_span is None:
                self._max_span = self.index.max_span_ms()
            self.db.execute("DELETE FROM temp.moment_windows")
            self.db.executemany("INSERT INTO temp.moment_windows (video_id, lo, hi) VALUES (?, ?, ?)",
                                [(v, lo, hi) for v, spans in within.items() for lo, hi in spans])
            _, where, params, _, _ = self.index._plan(clause, probe=True)
            # CROSS JOIN keeps the windows outside: one index range scan of frames per window
            rows = self.db.execute(
                "SELECT frames.id, frames.video_id, frames.frame_ms, frames.start_ms, frames.end_ms"
                " FROM temp.moment_windows AS w CROSS JOIN frames"
                " ON frames.video_id = w.video_id AND frames.start_ms BETWEEN w.lo - ? AND w.hi"
                f" WHERE frames.end_ms >= w.lo{''.join(' AND ' + c for c in where)}",
                [self._max_span, *params]).fetchall()
            self.db.execute("DELETE FROM temp.moment_windows")
        spans = []
        for frame_id, video_id, frame_ms, start_ms, end_ms in rows:
            self.ids[(video_id, frame_ms)] = frame_id
            spans.append(Span(video_id, int(frame_ms), int(start_ms), int(end_ms)))
        return spans
