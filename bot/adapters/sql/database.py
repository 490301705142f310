"""SQLAlchemy engines from ``DATABASE_URL`` (SQLite file or memory, PostgreSQL via psycopg 3), and one
exception type for "the database is not there" whose message holds no URL (it may carry a password).
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from bot.ports import ServiceError

_SQLITE_BUSY_TIMEOUT_MS = 10_000
_PG_CONNECT_TIMEOUT_S = 5


def database_url(url: str) -> URL:
    """Parse the URL; plain ``postgresql://`` means psycopg 3 (SQLAlchemy would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _is_memory_sqlite(url: URL) -> bool:
    db = url.database or ""
    return db in ("", ":memory:") or (db.startswith("file:") and "mode=memory" in db)


@contextmanager
def _sqlite_setup_lock(database: str | None) -> Iterator[None]:
    """Serialise one-time set-up of a SQLite file across processes (a sidecar ``<file>.lock``).

    Switching a fresh file to WAL answers "database is locked" at once, without waiting for the busy
    timeout, when other processes are opening or switching it at the same moment (several gunicorn
    workers starting on a new file). Not re-entrant: hold it only around statements on the connection
    being set up, never while opening another one.
    """
    if database is None:  # a ``file:`` URI: no path to put the lock beside
        yield
        return
    with open(f"{database}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sqlite_on_connect(database: str | None) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        """Wait for other writers instead of failing, and let readers run beside one writer."""
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
            with _sqlite_setup_lock(database):
                if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    return on_connect


def make_engine(url: str, engine_options: dict[str, Any] | None) -> Engine:
    parsed = database_url(url)
    options: dict[str, Any] = dict(engine_options or {})
    connect_args: dict[str, Any] = dict(options.pop("connect_args", {}))
    options.setdefault("pool_pre_ping", True)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    memory = is_sqlite and _is_memory_sqlite(parsed)
    sqlite_path: str | None = None  # an on-disk file we can put the set-up lock beside
    if is_sqlite:
        connect_args.setdefault("check_same_thread", False)
        if memory:
            # one shared connection, or every thread would see its own empty database
            options.setdefault("poolclass", StaticPool)
        elif parsed.database and not parsed.database.startswith("file:"):
            path = Path(parsed.database).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            sqlite_path = str(path)
    elif parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args.setdefault("connect_timeout", _PG_CONNECT_TIMEOUT_S)
    engine = create_engine(parsed, connect_args=connect_args, **options)
    if is_sqlite and not memory:
        event.listen(engine, "connect", _sqlite_on_connect(sqlite_path))
    return engine


@contextmanager
def guarded(action: str) -> Iterator[None]:
    """One exception type for 'the database is not there', with no URL or SQL in its message."""
    try:
        yield
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError) as exc:
        raise ServiceError(f"work-order database unavailable ({action})") from exc
    except sa_exc.TimeoutError as exc:  # connection pool exhausted
        raise ServiceError(f"work-order database busy ({action})") from exc
