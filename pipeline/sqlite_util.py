"""The one SQLite connection helper for reko's stores (catalog, persons, the embedded index, face
collections): same pragmas everywhere, and SQLite's faults turned into reko errors.

A full disk (``SQLITE_FULL``), a read-only or unopenable file become :class:`StorageError` with a
message that says what to do, instead of a traceback; SQL mistakes (``ProgrammingError``) are
bugs and stay as they are.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ..errors import StorageError

BUSY_TIMEOUT_S = 30.0  #: how long a writer waits for another process's write lock


def storage_error(exc: sqlite3.Error, what: str = "database") -> StorageError:
    """The :class:`StorageError` for a SQLite fault (disk full, unwritable, unopenable, corrupt)."""
    text = str(exc).lower()
    if "full" in text:
        message = ("the disk holding the data directory is full; free some space and run again "
                   "(nothing already done is lost)")
    elif "readonly" in text or "read-only" in text:
        message = f"the {what} is read-only; check the data directory's permissions"
    elif "unable to open" in text:
        message = f"the {what} cannot be opened; check that its directory exists and is writable"
    elif "malformed" in text or "not a database" in text:
        message = f"the {what} file is damaged; restore it from a backup or remove it"
    else:
        message = f"the {what} failed; check the disk and run again"
    return StorageError(message, detail=f"{type(exc).__name__}: {exc}")


class Connection(sqlite3.Connection):
    """A ``sqlite3.Connection`` whose operational faults raise :class:`StorageError`."""

    what = "database"

    def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # noqa: D102
        try:
            return super().execute(*args, **kwargs)
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
            if isinstance(exc, sqlite3.OperationalError) and _is_sql_mistake(exc):
                raise
            raise storage_error(exc, self.what) from None

    def executemany(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # noqa: D102
        try:
            return super().executemany(*args, **kwargs)
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
            if isinstance(exc, sqlite3.OperationalError) and _is_sql_mistake(exc):
                raise
            raise storage_error(exc, self.what) from None

    def executescript(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # noqa: D102
        try:
            return super().executescript(*args, **kwargs)
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
            raise storage_error(exc, self.what) from None

    def commit(self) -> None:  # noqa: D102
        try:
            super().commit()
        except sqlite3.DatabaseError as exc:
            raise storage_error(exc, self.what) from None

    def __exit__(self, *exc: Any) -> Any:
        try:
            return super().__exit__(*exc)
        except sqlite3.DatabaseError as error:
            raise storage_error(error, self.what) from None


def _is_sql_mistake(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return text.startswith(("no such table", "no such column", "near ", "fts5: syntax error"))


def connect(path: Path | str, schema: str = "", *, what: str = "database",
            uri: bool = False, isolation_level: str | None = "", named_rows: bool = False) -> Connection:
    """Open (creating its directory) a SQLite file shared between threads, with WAL journaling
    where ``schema`` asks for it, a busy timeout of :data:`BUSY_TIMEOUT_S` and ``schema``
    applied (``CREATE ... IF NOT EXISTS`` statements). ``named_rows`` returns ``sqlite3.Row``.

    Raises:
        StorageError: the file or its directory cannot be created or opened.
    """
    if not uri:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"the {what} cannot be created; check that the data directory is "
                               "writable", detail=str(exc)) from None
    try:
        db = sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT_S, uri=uri,
                             isolation_level=isolation_level, factory=Connection)
    except sqlite3.Error as exc:
        raise storage_error(exc, what) from None
    assert isinstance(db, Connection)
    db.what = what
    if named_rows:
        db.row_factory = sqlite3.Row
    if schema:
        db.executescript(schema)
    return db
