"""Engine creation and start-up schema upgrades, for SQLite files and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError

from bot.store.tables import Base


class DatabaseUnusable(Exception):
    """The database could not be opened or upgraded at start: one line naming it, never its password."""


def connect(url: str) -> Engine:
    """Open the database and bring its schema up to date (new tables and new columns)."""
    engine = _engine(url)
    try:
        upgrade(engine)
    except (DBAPIError, OSError) as exc:
        engine.dispose()
        raise DatabaseUnusable(f"cannot use the database {_where(engine)}: {_reason(exc)}") from None
    return engine


def _where(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        return f"file {engine.url.database}"
    return engine.url.render_as_string(hide_password=True)


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    first = str(cause).strip().splitlines()
    return first[0] if first else type(cause).__name__


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        # An unreachable server is refused within seconds, not after the operating system gives up.
        engine = create_engine(
            url,
            pool_size=10,
            max_overflow=20,
            pool_pre_ping=True,
            pool_timeout=5,
            connect_args={"connect_timeout": 3},
        )
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the follower read while a listener writes; busy_timeout waits out short write locks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Any fixed 64-bit number; chainops takes no other advisory lock.
SCHEMA_LOCK = 0x6368_6169_6E6F_7073  # "chainops"


def upgrade(engine: Engine) -> None:
    """Create missing tables and add columns that a newer version of chainops introduced.

    On PostgreSQL, replicas starting together take turns: two concurrent CREATE TABLEs of one name
    collide in the catalog (UniqueViolation) instead of one of them seeing the table exists. The lock
    is held by this transaction, so it is released even if the upgrade fails halfway."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        Base.metadata.create_all(conn)
        inspector = inspect(conn)
        for table in Base.metadata.sorted_tables:
            existing = {c["name"]: c for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in existing:
                    _widen(conn, engine, table.name, column, existing[column.name])
                    continue
                ddl_type = column.type.compile(dialect=engine.dialect)
                default = getattr(column.default, "arg", None)
                clause = (
                    f" DEFAULT {_literal(default)}" if default is not None and not callable(default) else ""
                )
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {ddl_type}{clause}'))
        _move_locks_kept_by_name(conn)


def _move_locks_kept_by_name(conn: Connection) -> None:
    """Locks were once kept by chain name, in `environment_locks`; they move to `chain_locks` with the
    name standing in for the id (which the store matches too), so no lock is lost in the upgrade."""
    if not inspect(conn).has_table("environment_locks"):
        return
    conn.execute(
        text(
            "INSERT INTO chain_locks (chain_id, chain_name, env, locked_by, reason, locked_at) "
            "SELECT chain_name, chain_name, env, locked_by, reason, locked_at FROM environment_locks"
        )
    )
    conn.execute(text("DROP TABLE environment_locks"))


def _widen(conn: Connection, engine: Engine, table: str, column: Column[Any], found: Any) -> None:
    """A column that became longer (or unbounded) in a newer version; SQLite does not enforce lengths."""
    if engine.dialect.name != "postgresql":
        return
    had = getattr(found["type"], "length", None)
    wants = getattr(column.type, "length", None)
    if had is not None and (wants is None or wants > had):
        ddl_type = column.type.compile(dialect=engine.dialect)
        conn.execute(text(f'ALTER TABLE {table} ALTER COLUMN "{column.name}" TYPE {ddl_type}'))


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
