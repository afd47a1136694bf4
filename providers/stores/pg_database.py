"""The PostgreSQL side of the grade book and the practitioners registry: an engine, its
transactions and reads, and database failures turned into :class:`StoreUnavailableError`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from providers.store import StoreUnavailableError
from providers.stores.postgis import make_engine

_FAILURES = (sa.exc.OperationalError, sa.exc.InterfaceError, psycopg.OperationalError)


class Database:
    """An engine and what it holds (``what``, for error messages: "grade book")."""

    def __init__(self, engine: Engine, what: str) -> None:
        self.engine = engine
        self.what = what

    @classmethod
    def open(
        cls,
        database_url: str,
        what: str,
        *,
        pool_size: int,
        connect_timeout_s: int,
        statement_timeout_ms: int,
    ) -> Database:
        engine = make_engine(
            database_url,
            pool_size=pool_size,
            connect_timeout_s=connect_timeout_s,
            statement_timeout_ms=statement_timeout_ms,
        )
        return cls(engine, what)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except _FAILURES as exc:
            raise StoreUnavailableError(f"{self.what} unavailable: {failure_reason(exc)}") from exc

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except _FAILURES as exc:
            raise StoreUnavailableError(f"{self.what} unavailable: {failure_reason(exc)}") from exc

    def check(self, table: str) -> None:
        """Raise :class:`StoreUnavailableError` unless ``table`` can be read."""
        with self.connection() as conn:
            conn.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).all()

    def close(self) -> None:
        self.engine.dispose()


def failure_reason(exc: BaseException) -> str:
    """The first line of a database error, for a message a person reads."""
    text = str(getattr(exc, "orig", exc) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
