"""The PostgreSQL database every PostGIS part works in: one engine, one pool, its
transactions and reads, database failures turned into :class:`StoreUnavailableError`.

The provider store, the grade book and the practitioners registry of a backend share one
:class:`Database` (:func:`providers.stores.backend.open_backend`), so a worker process
holds at most ``pool_size`` connections whatever it does, and the pool size and the
timeouts reach every statement.

With read replicas (``DATABASE_READ_URLS``, :mod:`providers.stores.replicas`), each
replica has a pool of its own too; :meth:`Database.read` sends a read to a replica when
its context allows it (the API's public requests) and one is usable, and to the primary
otherwise or when the replica fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from providers.store import StoreUnavailableError
from providers.stores.engine import (
    FAILURES,
    current_revision,
    failure_reason,
    head_revision,
    make_engine,
    set_local_timeout,
    unavailable,
    upgrade_schema,
)
from providers.stores.replicas import Replica, ReplicaSet, replica_reads_allowed, server_name

T = TypeVar("T")
# Where a read goes: "route" decides (a replica if the context allows one and one is
# usable), ``None`` is the primary, a Replica that replica (the primary if it fails).
ReadOn = Replica | None | Literal["route"]


class _ServerDownError(StoreUnavailableError):
    """The server cannot be reached (refused, shut down, the connection died twice)."""


class Database:
    """An engine and the ways the PostGIS parts use it.

    Parameters
    ----------
    engine
        From :func:`providers.stores.engine.make_engine`: its statement timeout is the
        one of reads and short writes; disposed of on :meth:`close`.
    write_timeout_ms
        The statement timeout of long writes (:meth:`transaction` with ``long=True``,
        provider imports): an import streams for as long as its file takes.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        write_timeout_ms: int = 1_800_000,
        replicas: ReplicaSet | None = None,
    ) -> None:
        self.engine = engine
        self.write_timeout_ms = write_timeout_ms
        self.replicas = replicas
        """Read replicas (``DATABASE_READ_URLS``); ``None``: every read is the primary's."""

    @property
    def pool_size(self) -> int:
        """Connections the pool holds at most (it never overflows)."""
        size: int = self.engine.pool.size()  # type: ignore[attr-defined]
        return size

    @classmethod
    def open(
        cls,
        database_url: str,
        *,
        pool_size: int = 5,
        connect_timeout_s: int = 5,
        statement_timeout_ms: int = 10_000,
        write_timeout_ms: int = 1_800_000,
        read_urls: Sequence[str] = (),
        replica_max_lag_s: float = 5.0,
        check_replicas: bool = True,
    ) -> Database:
        """The database at ``database_url``; connections are made on first use.

        Reads (and the grade book's and registry's small batches) get the short
        ``statement_timeout_ms`` a request must not outlive; long writes get
        ``write_timeout_ms``.

        ``read_urls``: read replicas of it, each with a pool of ``pool_size`` and the
        same timeouts, skipped beyond ``replica_max_lag_s`` of lag; ``check_replicas``
        starts their health checks on a thread (tests may run them by hand instead).
        """
        timeouts = {
            "connect_timeout_s": connect_timeout_s,
            "statement_timeout_ms": statement_timeout_ms,
        }
        engine = make_engine(database_url, pool_size=pool_size, **timeouts)
        replicas = None
        if read_urls:
            replicas = ReplicaSet(
                database_url,
                [
                    Replica(
                        server_name(url), url, make_engine(url, pool_size=pool_size, **timeouts)
                    )
                    for url in read_urls
                ],
                max_lag_s=replica_max_lag_s,
                connect_timeout_s=connect_timeout_s,
            )
            if check_replicas:
                replicas.start()
        return cls(engine, write_timeout_ms=write_timeout_ms, replicas=replicas)

    @contextmanager
    def transaction(self, *, long: bool = False) -> Iterator[Connection]:
        """One transaction; ``long``: with the write timeout instead of the read one."""
        try:
            with self.engine.begin() as conn:
                if long:
                    set_local_timeout(self.driver(conn), self.write_timeout_ms)
                yield conn
        except (sa.exc.DBAPIError, psycopg.OperationalError) as exc:
            # COPY runs on the driver directly, so its failures arrive unwrapped.
            raise unavailable(exc) from exc
        self.settle_replicas()

    def settle_replicas(self) -> None:
        """After a write: wait (boundedly) for the read replicas to replay it, and skip
        those that have not (:meth:`ReplicaSet.settle
        <providers.stores.replicas.ReplicaSet.settle>`); nothing without replicas.
        Every write through :meth:`transaction` does; a write on a connection of its own
        (a bulk load) calls it when done."""
        if self.replicas is not None:
            self.replicas.settle()

    def route(self) -> Replica | None:
        """The replica the current read should go to (``None``: the primary): one in
        turn when the context allows replica reads (:func:`~providers.stores.replicas.
        replica_reads`) and one is usable."""
        if self.replicas is None or not replica_reads_allowed():
            return None
        return self.replicas.pick()

    def replica_lag_seconds(self) -> dict[str, float]:
        """Each read replica's lag in seconds (``inf``: down); empty without replicas."""
        return {} if self.replicas is None else self.replicas.lag_seconds()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection for reads (SQLAlchemy statements, in a transaction)."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except FAILURES as exc:
            raise unavailable(exc) from exc

    @staticmethod
    def driver(conn: Connection) -> psycopg.Connection[Any]:
        """The psycopg connection under a SQLAlchemy one (COPY and prepared reads)."""
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        return raw

    def read(self, work: Callable[[psycopg.Connection[Any]], T], *, on: ReadOn = "route") -> T:
        """Run ``work`` on a pooled driver connection in autocommit (no BEGIN/ROLLBACK
        round trips around a one-statement read); once more on a fresh connection if the
        pooled one turns out dead (the database restarted meanwhile).

        ``on``: where (:data:`ReadOn`; by default :meth:`route` decides). A read a replica
        cannot serve — the server is gone, or the statement was cancelled by a conflict
        with the replay of the primary's WAL — runs again on the primary; a replica that
        is gone is skipped from then on until a check finds it back. So a replica going
        away costs its in-flight reads a second round trip, never an error.

        Reads go straight to psycopg: SQLAlchemy's statement and result layers cost as
        much as a nearest-match query itself. The connection goes back to the pool out
        of autocommit, as the transactions of :meth:`transaction` expect it; one that
        cannot be put back so is discarded.
        """
        replica = self.route() if on == "route" else on
        if replica is None:
            return _read_on(self.engine, work)
        assert self.replicas is not None
        try:
            return _read_on(replica.engine, work)
        except _ServerDownError as exc:
            self.replicas.mark_down(replica, str(exc))
        except StoreUnavailableError as exc:
            if not isinstance(exc.__cause__, psycopg.errors.SerializationFailure):
                raise
        return _read_on(self.engine, work)

    def check(self, table: str) -> None:
        """Raise :class:`StoreUnavailableError` unless ``table`` can be read on the
        primary (replicas are optional: their health is :meth:`replica_lag_seconds`)."""
        self.read(lambda conn: conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall(), on=None)

    def ensure_schema(self) -> None:
        """Raise a clear error when the database is not at the newest schema."""
        with self.connection() as conn:
            current = current_revision(conn)
        head = head_revision()
        if current != head:
            raise StoreUnavailableError(
                f"database schema is at revision {current or 'none'}, the code needs {head}: "
                "run `jzmap db upgrade`"
            )

    def upgrade(self, revision: str = "head") -> str:
        """Migrate to ``revision`` (idempotent), with the write timeout; the revision
        reached."""
        return upgrade_schema(self.engine, revision, timeout_ms=self.write_timeout_ms)

    def close(self) -> None:
        """Close the pool's connections (connections checked out are closed on return),
        and the replicas' pools and checks."""
        if self.replicas is not None:
            self.replicas.close()
        self.engine.dispose()


def _read_on(engine: Engine, work: Callable[[psycopg.Connection[Any]], T]) -> T:
    """:meth:`Database.read` on one server's pool; :class:`_ServerDownError` when it cannot
    be reached."""
    for attempt in (1, 2):
        try:
            pooled = engine.raw_connection()
        except (sa.exc.DBAPIError, psycopg.OperationalError) as exc:
            # raw_connection() hands over the driver's own error when the pool cannot
            # connect (server down, shutting down, refusing): not wrapped by SQLAlchemy.
            raise _ServerDownError(f"database unavailable: {failure_reason(exc)}") from exc
        conn = pooled.driver_connection
        assert isinstance(conn, psycopg.Connection)
        try:
            conn.autocommit = True
            return work(conn)
        except psycopg.OperationalError as exc:
            broken = conn.broken or conn.closed
            pooled.invalidate(exc)
            if broken and attempt == 1:
                continue
            failure = _ServerDownError if broken else StoreUnavailableError
            raise failure(f"database unavailable: {failure_reason(exc)}") from exc
        finally:
            _back_to_transactions(pooled, conn)
            pooled.close()
    raise AssertionError("unreachable")


def _back_to_transactions(pooled: Any, conn: psycopg.Connection[Any]) -> None:
    """Take a read's connection out of autocommit before it goes back to the pool."""
    if conn.closed or not conn.autocommit:
        return
    try:
        conn.autocommit = False
    except psycopg.Error as exc:
        # Left mid-statement (a read that failed half-way): not fit for the pool.
        pooled.invalidate(exc)
