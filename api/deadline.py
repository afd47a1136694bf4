"""Per-request deadlines and the gate in front of expensive computations.

:class:`api.middleware.DeadlineMiddleware` answers a public request that is not done by its
deadline with a 503 (JSON, ``Retry-After``) and sets :data:`DEADLINE` for the code that
serves it. Work running in a thread cannot be interrupted from outside, so the expensive
parts cooperate: a coverage analysis or site plan is computed only inside a
:class:`ComputeGate` slot (a few per process), and a request that has not had a slot by
its deadline gives up without starting (:class:`DeadlineExceededError`). A computation that has
started runs to its end and is cached, so the retry the 503 asks for finds it done: the CPU
an anonymous client can make a worker spend is bounded by the slots, and nothing is thrown
away half-done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from providers.errors import BusyError

DEADLINE: ContextVar[float | None] = ContextVar("jzmap_deadline", default=None)
"""``time.monotonic()`` by which the current request must be answered; ``None``: no bound."""


class DeadlineExceededError(BusyError, RuntimeError):
    """The current request's deadline passed before its work could start (503 ``busy``)."""


def remaining_s() -> float | None:
    """Seconds left before the current request's deadline (``None`` without one)."""
    deadline = DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


def lookup_deadline_s(margin_s: float = 1.0) -> float | None:
    """``time.monotonic()`` by which optional online lookups (the addresses of proposed
    sites) must stop, leaving ``margin_s`` to write the answer before the request's
    deadline; ``None`` without one."""
    deadline = DEADLINE.get()
    return None if deadline is None else deadline - margin_s


class ComputeGate:
    """At most ``slots`` expensive computations at once in this process.

    Calling the gate gives a context manager that holds a slot; it waits for one until the
    current request's deadline (forever outside a request) and raises
    :class:`DeadlineExceededError` if none came free.

    Examples
    --------
    >>> gate = ComputeGate(slots=1)
    >>> with gate():
    ...     "one computation at a time"
    'one computation at a time'
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self.slots = slots
        self._semaphore = threading.BoundedSemaphore(slots)

    @contextmanager
    def __call__(self) -> Iterator[None]:
        left = remaining_s()
        if left is None:
            self._semaphore.acquire()
        elif left <= 0 or not self._semaphore.acquire(timeout=left):
            raise DeadlineExceededError("no computation slot came free before the deadline")
        try:
            yield
        finally:
            self._semaphore.release()
