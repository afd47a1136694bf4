"""PostgreSQL plumbing shared by every PostGIS part: the engine, the schema migrations
(Alembic) and database failures as :class:`~providers.store.StoreUnavailableError`.

One engine (one pool) per process serves the provider store, the grade book and the
practitioners registry (:class:`providers.stores.pg_database.Database`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from providers.store import StoreUnavailableError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Failures that mean "the database cannot answer now" (down, restarting, unreachable, a
# connection killed), as opposed to a wrong statement, which is a bug and stays one.
FAILURES = (sa.exc.OperationalError, sa.exc.InterfaceError, psycopg.OperationalError)


def sqlalchemy_url(database_url: str) -> str:
    """``postgresql://…`` as users write it, with the psycopg 3 driver SQLAlchemy needs.

    Examples
    --------
    >>> sqlalchemy_url("postgres://jz@db:5432/jzmap")
    'postgresql+psycopg://jz@db:5432/jzmap'
    """
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    raise ValueError(f"DATABASE_URL must start with postgresql://, got {database_url[:20]!r}…")


def make_engine(
    database_url: str,
    *,
    pool_size: int = 5,
    connect_timeout_s: int = 5,
    statement_timeout_ms: int = 10_000,
) -> Engine:
    """An engine whose sessions run with JIT off, generic plans and a statement timeout.

    * JIT costs 0.5-0.8 s on the first plans of PostGIS queries and buys nothing on
      millisecond lookups.
    * Prepared nearest-match statements have one right plan whatever the parameters (walk
      the KNN index); PostgreSQL's default would re-plan them on every call because the
      optional filters make the generic plan *look* costlier (measured: +15% latency).
    * ``statement_timeout_ms`` is every session's default: the bound a request's read must
      not outlive. A write that may run longer raises it for its own transaction
      (:func:`set_local_timeout`).
    """
    options = (
        f"-c jit=off -c plan_cache_mode=force_generic_plan "
        f"-c statement_timeout={int(statement_timeout_ms)}"
    )
    return sa.create_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        # No overflow: SQLAlchemy closes an overflow connection as soon as it is returned,
        # so under load (more request threads than pooled connections) every request paid
        # for a new PostgreSQL backend — measured at 32 clients, most of the CPU went to
        # connecting. Requests beyond the pool wait for a connection instead.
        max_overflow=0,
        # No pre-ping: it costs a round trip per request; reads retry once instead.
        pool_pre_ping=False,
        connect_args={"connect_timeout": connect_timeout_s, "options": options},
    )


def set_local_timeout(conn: psycopg.Connection[Any], timeout_ms: int) -> None:
    """Give the transaction ``conn`` is in (or starts now) a statement timeout of its own;
    the session's default comes back when it ends, so a pooled connection never keeps a
    write's long timeout for the next request's read."""
    conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(int(timeout_ms)),))


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_schema(engine: Engine, revision: str = "head", *, timeout_ms: int | None = None) -> str:
    """Bring the database to ``revision`` (idempotent); returns the revision reached.

    ``timeout_ms``: the statement timeout of the migrations (an index build on a large
    table outlives a read's); by default the engine's.
    """
    with engine.begin() as conn:
        if timeout_ms is not None:
            driver = conn.connection.driver_connection
            assert isinstance(driver, psycopg.Connection)
            set_local_timeout(driver, timeout_ms)
        command.upgrade(_alembic_config(conn), revision)
        return current_revision(conn) or ""


def current_revision(conn: Connection) -> str | None:
    """The schema revision the database is at (``None``: never migrated)."""
    return MigrationContext.configure(conn).get_current_revision()


@functools.cache
def head_revision() -> str | None:
    """The newest revision this program's migrations reach (read once per process)."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def failure_reason(exc: BaseException) -> str:
    """The first line of a database error, for a message a person reads."""
    text = str(getattr(exc, "orig", exc) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def unavailable(exc: Exception) -> Exception:
    """Database failures as :class:`StoreUnavailableError`; anything else unchanged."""
    if isinstance(exc, FAILURES):
        return StoreUnavailableError(f"database unavailable: {failure_reason(exc)}")
    return exc
