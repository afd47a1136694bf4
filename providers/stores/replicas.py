"""Read replicas: PostgreSQL hot standbys (streaming replication) that serve public reads.

:class:`ReplicaSet` keeps, for every replica of ``DATABASE_READ_URLS``, whether it answers
and how far behind the primary it is, and picks one for each public read in turn (round
robin). A replica is skipped while it is down, while it lags more than
``JZMAP_REPLICA_MAX_LAG_S``, or while it has not yet replayed a write this process made
(read-your-writes); with none left, reads go to the primary.

How lag is measured: a health check (every :func:`check_interval_s`, on a thread of its
own) samples the primary's WAL position (``pg_current_wal_lsn()``) and each replica's
replayed position (``pg_last_wal_replay_lsn()``). A replica's lag is how long ago the
primary was already past where the replica is now: the age of the oldest sample beyond
its replayed position (0 when it has replayed every sample). Unlike the usual
``now() - pg_last_xact_replay_timestamp()`` this neither grows on a replica of an idle
primary nor stays at 0 on one cut off from its primary, and it needs no privileges.

Read-your-writes: after every write the primary's WAL position is this process's *floor*
(:meth:`ReplicaSet.settle`); the writer waits, at most ``JZMAP_REPLICA_MAX_LAG_S``, for
the replicas to replay it, and a replica that has not is skipped until it has. So the
admin who imported sees the import on the next read of the public API, and every other
API process sees it once its own check finds a replica behind by more than the bound
(:doc:`scale-out` in the documentation).

Which reads may go to a replica is the caller's choice: :func:`replica_reads` marks the
current context (the API marks public requests); everything else — writes, admin reads,
the CLI — reads the primary.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

_REPLICA_READS: ContextVar[bool] = ContextVar("jzmap_replica_reads", default=False)

# The position a replica has replayed; a primary listed as a replica (or a promoted
# replica) answers with its own WAL position.
_REPLAYED_SQL = (
    "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
    "ELSE pg_current_wal_lsn() END)::text"
)
# A commit that waits for its WAL to be flushed flushes all WAL before it too: after it,
# the primary's write position covers every transaction committed before, even those
# committed with synchronous_commit = off (whose WAL may still sit in memory).
_FLUSH_SQL = "SELECT pg_current_xact_id()"
_POSITION_SQL = "SELECT pg_current_wal_lsn()::text"
# Samples of the primary's position older than this are dropped: a replica behind all of
# the ones kept is reported this far behind, already far beyond any sensible bound.
_SAMPLES_KEPT_S = 300.0


@contextmanager
def replica_reads(allowed: bool = True) -> Iterator[None]:
    """Within this block (this context: a request, a thread), reads may go to a replica.

    Examples
    --------
    >>> replica_reads_allowed()
    False
    >>> with replica_reads():
    ...     replica_reads_allowed()
    True
    """
    token = _REPLICA_READS.set(allowed)
    try:
        yield
    finally:
        _REPLICA_READS.reset(token)


def replica_reads_allowed() -> bool:
    """Whether the current context's reads may go to a replica (:func:`replica_reads`)."""
    return _REPLICA_READS.get()


def parse_lsn(text: str | None) -> int:
    """A PostgreSQL WAL position (``pg_lsn`` as text, ``"X/Y"``) as an integer; ``None``
    (nothing replayed yet) as 0.

    Examples
    --------
    >>> parse_lsn("0/16B3748"), parse_lsn("1/0") == 1 << 32, parse_lsn(None)
    (23803720, True, 0)
    """
    if not text:
        return 0
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def server_name(url: str) -> str:
    """A replica's name in logs and metrics: host, port and database, never credentials.

    Examples
    --------
    >>> server_name("postgresql://jz:secret@db-2.internal:5433/jzmap")
    'db-2.internal:5433/jzmap'
    """
    parsed = sa.make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def check_interval_s(max_lag_s: float) -> float:
    """How often replicas are checked: every second, or often enough that a replica
    lagging past a tight bound is noticed within about half of it.

    Examples
    --------
    >>> check_interval_s(5.0), check_interval_s(0.5), check_interval_s(0.0)
    (1.0, 0.25, 0.05)
    """
    return min(1.0, max(0.05, max_lag_s / 2))


@dataclass(eq=False)
class Replica:
    """One replica: its engine (a pool of its own) and what the last check found."""

    name: str
    url: str
    engine: Engine
    up: bool = False
    """Answered its last check (``False`` until the first: reads go elsewhere meanwhile)."""
    replayed_lsn: int = 0
    lag_s: float = math.inf
    reason: str = "not checked yet"
    reads: int = 0
    """Reads this replica was picked for (tests, figures)."""

    def usable(self, floor_lsn: int | None, max_lag_s: float) -> bool:
        """Up, within the lag bound, and past every write this process made."""
        return (
            self.up
            and self.lag_s <= max_lag_s
            and floor_lsn is not None
            and self.replayed_lsn >= floor_lsn
        )


@dataclass(eq=False)
class ReplicaSet:
    """The replicas of one primary, their health and the round robin over them.

    Parameters
    ----------
    primary_url
        The primary's URL (``postgresql://…``): the health check samples its WAL position.
    replicas
        The replicas, each with its own engine (closed by :meth:`close`).
    max_lag_s
        ``JZMAP_REPLICA_MAX_LAG_S``: a replica further behind is skipped; also the
        longest a write waits for the replicas to replay it.
    connect_timeout_s
        Of the health check's own connections (one per server, outside the pools, so a
        busy pool never delays a check).
    """

    primary_url: str
    replicas: list[Replica]
    max_lag_s: float
    connect_timeout_s: int = 5
    floor_lsn: int = 0
    _samples: deque[tuple[float, int]] = field(default_factory=deque)
    _turn: int = 0
    _floor_pending: bool = False
    """A write's position could not be read: replicas are skipped (reads go to the
    primary) until a check reads the primary's position again."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _probe_lock: threading.Lock = field(default_factory=threading.Lock)
    _probes: dict[str, psycopg.Connection[Any]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        _OPEN_SETS.add(self)

    # -- picking ---------------------------------------------------------------------

    def pick(self) -> Replica | None:
        """The next usable replica in turn; ``None``: none is (read the primary)."""
        with self._lock:
            floor = None if self._floor_pending else self.floor_lsn
            usable = [r for r in self.replicas if r.usable(floor, self.max_lag_s)]
            if not usable:
                return None
            self._turn += 1
            chosen = usable[self._turn % len(usable)]
            chosen.reads += 1
            return chosen

    def mark_down(self, replica: Replica, reason: str) -> None:
        """Skip ``replica`` until a check finds it answering again; its pooled
        connections (dead, if the server went away) are dropped."""
        with self._lock:
            was_up, replica.up, replica.reason = replica.up, False, reason
        if was_up:
            log.warning("read replica %s skipped: %s", replica.name, reason)
        replica.engine.dispose()

    def lag_seconds(self) -> dict[str, float]:
        """Each replica's lag in seconds (``inf``: down or not checked yet)."""
        with self._lock:
            return {r.name: (r.lag_s if r.up else math.inf) for r in self.replicas}

    # -- health checks ---------------------------------------------------------------

    def start(self) -> None:
        """Check now and then every :func:`check_interval_s`, on a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="jzmap-replica-check", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        interval = check_interval_s(self.max_lag_s)
        while True:
            try:
                self.check()
            except Exception:  # a check must never end the checks
                log.exception("read replica check failed")
            if self._stop.wait(interval):
                return

    def check(self) -> None:
        """One round: sample the primary's WAL position, then ask every replica how far
        it has replayed; update who is up and how far behind."""
        with self._probe_lock:
            position = self._ask(self.primary_url, _POSITION_SQL)
            now = time.monotonic()
            if position is not None:
                lsn = parse_lsn(position)
                self._sample(now, lsn)
                with self._lock:
                    if self._floor_pending:
                        # A write whose position was not read: this one is past it.
                        self.floor_lsn, self._floor_pending = max(self.floor_lsn, lsn), False
            for replica in self.replicas:
                self._check_one(replica)

    def _check_one(self, replica: Replica) -> None:
        try:
            replayed = self._ask(replica.url, _REPLAYED_SQL, raising=True)
        except psycopg.Error as exc:
            self.mark_down(replica, _first_line(exc))
            return
        lsn = parse_lsn(replayed)
        lag = self._lag_s(lsn, time.monotonic())
        with self._lock:
            came_back = not replica.up
            replica.up, replica.replayed_lsn, replica.lag_s = True, lsn, lag
            replica.reason = "" if lag <= self.max_lag_s else f"{lag:.1f} s behind"
        if came_back:
            log.info("read replica %s answers (%.1f s behind)", replica.name, lag)

    def _sample(self, now: float, lsn: int) -> None:
        with self._lock:
            if not self._samples or lsn > self._samples[-1][1]:
                self._samples.append((now, lsn))
            while self._samples and now - self._samples[0][0] > _SAMPLES_KEPT_S:
                self._samples.popleft()

    def _lag_s(self, replayed: int, now: float) -> float:
        """The age of the oldest sample of the primary beyond ``replayed``, else 0."""
        with self._lock:
            for sampled_at, lsn in self._samples:
                if lsn > replayed:
                    return now - sampled_at
        return 0.0

    def _ask(self, url: str, sql: str, *, raising: bool = False) -> str | None:
        """One value from the server at ``url`` on the check's own connection to it
        (made again after a failure); ``None`` if it cannot answer, unless ``raising``."""
        try:
            row = self._probe(url).execute(sql).fetchone()
            return None if row is None else row[0]
        except psycopg.Error:
            self._drop_probe(url)
            if raising:
                raise
            return None

    def _probe(self, url: str) -> psycopg.Connection[Any]:
        """The check's own autocommit connection to ``url``, made on first use."""
        conn = self._probes.get(url)
        if conn is None or conn.closed or conn.broken:
            conn = psycopg.connect(
                url,
                autocommit=True,
                connect_timeout=self.connect_timeout_s,
                options=f"-c statement_timeout={self.connect_timeout_s * 1000}",
            )
            self._probes[url] = conn
        return conn

    def _drop_probe(self, url: str) -> None:
        conn = self._probes.pop(url, None)
        if conn is not None:
            conn.close()

    # -- read-your-writes --------------------------------------------------------------

    def settle(self) -> None:
        """After a write: make its WAL position this process's floor and wait (at most
        ``max_lag_s``) for the replicas that reads may go to to replay it.

        A replica still behind afterwards is skipped until a check finds it past the
        floor. Never raises: the write is committed whatever the replicas do.
        """
        with self._probe_lock:
            try:
                conn = self._probe(self.primary_url)
                with conn.transaction():
                    conn.execute("SET LOCAL synchronous_commit = on")
                    conn.execute(_FLUSH_SQL)
                row = conn.execute(_POSITION_SQL).fetchone()
            except psycopg.Error as exc:
                # Writes went through, so the primary answered a moment ago; without its
                # position, reads stay on the primary until the next check finds one.
                log.warning("primary's WAL position unknown after a write: %s", _first_line(exc))
                self._drop_probe(self.primary_url)
                with self._lock:
                    self._floor_pending = True
                return
            assert row is not None
            target = parse_lsn(row[0])
            with self._lock:
                # Only the replicas reads may go to now are waited for: one already down
                # or behind would make every write of an import wait the whole bound.
                floor = None if self._floor_pending else self.floor_lsn
                waiting = [r for r in self.replicas if r.usable(floor, self.max_lag_s)]
                self.floor_lsn = max(self.floor_lsn, target)
            self._sample(time.monotonic(), target)
            self._wait_for(target, waiting)

    def _wait_for(self, target: int, waiting: list[Replica]) -> None:
        """Poll the replicas ``waiting`` until each has replayed ``target`` or
        ``max_lag_s`` has passed."""
        deadline = time.monotonic() + self.max_lag_s
        pause = 0.005
        while waiting:
            for replica in list(waiting):
                self._check_one(replica)
                if not replica.up or replica.replayed_lsn >= target:
                    waiting.remove(replica)
            if not waiting or time.monotonic() >= deadline:
                break
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        for replica in waiting:
            log.warning(
                "read replica %s has not replayed the last write after %.1f s: skipped until "
                "it has",
                replica.name,
                self.max_lag_s,
            )

    def close(self) -> None:
        """Stop the checks, close their connections and the replicas' pools."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._probe_lock:
            for conn in self._probes.values():
                conn.close()
            self._probes.clear()
        for replica in self.replicas:
            replica.engine.dispose()
        _OPEN_SETS.discard(self)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_OPEN_SETS: weakref.WeakSet[ReplicaSet] = weakref.WeakSet()


def replica_lag_seconds() -> dict[str, float]:
    """Every open replica's lag in seconds, by name (``host:port/database``): what the
    ``/metrics`` endpoint exposes. ``inf`` for a replica that is down (or not checked
    yet); empty without read replicas.
    """
    lags: dict[str, float] = {}
    for replicas in list(_OPEN_SETS):
        lags.update(replicas.lag_seconds())
    return lags
