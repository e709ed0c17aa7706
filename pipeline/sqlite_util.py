"""The one SQLite connection helper for reko's stores (catalog, persons, the embedded index, face
collections): same pragmas everywhere, and SQLite's faults turned into reko errors.

A full disk (``SQLITE_FULL``), a read-only or unopenable file become :class:`StorageError` with a
message that says what to do, instead of a traceback; SQL mistakes (``ProgrammingError``) are
bugs and stay as they are.
"""

from __future__ import annotations

import sqlite3
import time
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


def _translated(call: Any, what: str, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except sqlite3.DatabaseError as exc:
        if _is_sql_mistake(exc):
            raise
        raise storage_error(exc, what) from None


def _what(connection: sqlite3.Connection) -> str:
    return getattr(connection, "what", "database")


class Cursor(sqlite3.Cursor):
    """A cursor whose operational faults (also while stepping through rows) raise
    :class:`StorageError`."""

    def execute(self, *args: Any, **kwargs: Any) -> "Cursor":  # noqa: D102
        return _translated(super().execute, _what(self.connection), *args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> "Cursor":  # noqa: D102
        return _translated(super().executemany, _what(self.connection), *args, **kwargs)

    def fetchone(self) -> Any:  # noqa: D102
        return _translated(super().fetchone, _what(self.connection))

    def fetchmany(self, *args: Any, **kwargs: Any) -> list[Any]:  # noqa: D102
        return _translated(super().fetchmany, _what(self.connection), *args, **kwargs)

    def fetchall(self) -> list[Any]:  # noqa: D102
        return _translated(super().fetchall, _what(self.connection))

    def __next__(self) -> Any:
        return _translated(super().__next__, _what(self.connection))


class Connection(sqlite3.Connection):
    """A ``sqlite3.Connection`` whose operational faults raise :class:`StorageError` (through
    :class:`Cursor`, which every statement runs on)."""

    what = "database"

    def cursor(self, factory: Any = Cursor) -> Any:  # noqa: D102
        return super().cursor(factory)

    def execute(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        return self.cursor().execute(*args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        return self.cursor().executemany(*args, **kwargs)

    def executescript(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        return _translated(super().executescript, self.what, *args, **kwargs)

    def commit(self) -> None:  # noqa: D102
        _translated(super().commit, self.what)

    def __exit__(self, *exc: Any) -> Any:
        return _translated(super().__exit__, self.what, *exc)


#: SQLite messages of faults outside reko's control (sqlite3.c's sqlite3ErrStr); anything else
#: (a missing table, a syntax error) is a bug and is raised as it is.
FAULT_MESSAGES = ("full", "readonly", "read-only", "unable to open", "disk i/o", "malformed",
                  "not a database", "locked", "out of memory")


def _is_sql_mistake(exc: sqlite3.Error) -> bool:
    if isinstance(exc, sqlite3.IntegrityError):  # a constraint the caller handles, not a fault
        return True
    text = str(exc).lower()
    return not any(fault in text for fault in FAULT_MESSAGES)


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
                             isolation_level=isolation_level, factory=Connection)  # type: ignore[arg-type]
    except sqlite3.Error as exc:
        raise storage_error(exc, what) from None
    assert isinstance(db, Connection)
    db.what = what
    if named_rows:
        db.row_factory = sqlite3.Row
    if schema:
        _apply_schema(db, schema, what)
    return db


def _apply_schema(db: sqlite3.Connection, schema: str, what: str) -> None:
    """Run ``schema`` (idempotent: ``PRAGMA`` and ``CREATE ... IF NOT EXISTS``), retrying for
    up to :data:`BUSY_TIMEOUT_S` while the file is locked by another connection.

    Why a retry and not only the busy timeout: SQLite does not call the busy handler when
    waiting could deadlock ("If SQLite determines that invoking the busy handler could result
    in a deadlock, it will go ahead and return SQLITE_BUSY", sqlite3_busy_handler's
    documentation) — two processes creating the same new database at once (rollback journal
    until ``journal_mode=WAL`` is set, both holding SHARED and asking for RESERVED) get
    ``database is locked`` at once. Seen in CI: two ``reko ingest`` of one file started
    together, the second failed with "the catalog failed".

    Raises:
        StorageError: any other fault, or still locked after the timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            sqlite3.Connection.executescript(db, schema)
            return
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc).lower() and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            if _is_sql_mistake(exc):
                raise
            raise storage_error(exc, what) from None
