"""Who may embed the widget: the origins configured in ``JZMAP_EMBED_ORIGINS`` and those
an operator stored (``jzmap embed-origins``, ``/v1/admin/embed-origins``), merged.

Every worker process holds one :class:`EmbedOrigins`. Its :meth:`EmbedOrigins.origins` is
read for each widget page (CSP ``frame-ancestors``) and each cross-origin API request
(CORS), so it is a cached copy of the stored list, read again once it is older than
``refresh_s`` (``JZMAP_EMBED_ORIGINS_REFRESH_S``, 2 s by default). A change made through
this worker is seen by it at once (the write drops its copy); every other worker sees it
within ``refresh_s``, with no restart and no message between workers: one small read per
worker every ``refresh_s`` at most, whatever the traffic. (A version counter checked on
each request would make the change instant everywhere, but at the price of a database
round trip on every cross-origin request.)

If the stored list cannot be read (the database is down), the last list read is kept and
the configured origins always apply: a failing database must not lock out every app.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from providers.embedding import (
    EmbedOrigin,
    EmbedOriginStore,
    merged_origins,
    normalize_note,
    normalize_origin,
)
from providers.errors import InvalidParameterError, JzmapError

log = logging.getLogger("jzmap.embedding")


@dataclass(frozen=True)
class OriginChange:
    """What an add or a remove did."""

    origin: str
    changed: bool
    configured: bool
    """Also in ``JZMAP_EMBED_ORIGINS``: removing it from the store leaves it allowed."""


def configured_origins(listed: Sequence[str]) -> tuple[str, ...]:
    """The origins of ``JZMAP_EMBED_ORIGINS``, normalised; one that is not an origin is
    logged and left out (it could never match a browser's ``Origin`` anyway).

    Examples
    --------
    >>> configured_origins(["https://A.example.cn/", "not an origin"])
    ('https://a.example.cn',)
    """
    found: list[str] = []
    for text in listed:
        try:
            found.append(normalize_origin(text))
        except InvalidParameterError as exc:
            log.warning("JZMAP_EMBED_ORIGINS: %s", exc.message)
    return tuple(dict.fromkeys(found))


class EmbedOrigins:
    """The merged, cached list of origins allowed to embed the widget.

    Parameters
    ----------
    store
        The stored origins (the backend's).
    configured
        ``JZMAP_EMBED_ORIGINS`` (normalised here).
    refresh_s
        Longest a read copy of the stored list is used (0: read on every call).
    clock
        Monotonic seconds (tests give their own).
    """

    def __init__(
        self,
        store: EmbedOriginStore,
        configured: Sequence[str],
        refresh_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.configured = configured_origins(configured)
        self.refresh_s = refresh_s
        self.clock = clock
        self._lock = threading.Lock()
        self._origins = self.configured
        self._read_at: float | None = None

    def stale(self) -> bool:
        """Whether the next :meth:`origins` reads the store (callers on an event loop
        then call :meth:`refresh` on a thread first)."""
        return self._read_at is None or self.clock() - self._read_at >= self.refresh_s

    def refresh(self) -> tuple[str, ...]:
        """Read the stored origins now; the merged list."""
        try:
            stored = self.store.list()
        except JzmapError as exc:
            log.warning("embed origins not re-read, the last list stays: %s", exc.message)
            return self._origins
        with self._lock:
            self._origins = merged_origins(self.configured, stored)
            self._read_at = self.clock()
            return self._origins

    def origins(self) -> tuple[str, ...]:
        """Every allowed origin: the configured ones first, then the stored ones."""
        return self.refresh() if self.stale() else self._origins

    def allows(self, origin: str | None) -> bool:
        """Whether ``origin`` (as a browser sends it) may embed the widget."""
        return origin is not None and origin in self.origins()

    def stored(self) -> list[EmbedOrigin]:
        """The stored origins (not the configured ones)."""
        return self.store.list()

    def add(self, origin: str, note: str | None = None) -> OriginChange:
        """Store ``origin`` (validated and normalised; its note replaced if known).

        Raises
        ------
        providers.errors.InvalidParameterError
            Not an origin, or the note is too long.
        """
        normal = normalize_origin(origin)
        changed = self.store.add(normal, normalize_note(note))
        self._read_at = None
        return OriginChange(normal, changed, normal in self.configured)

    def remove(self, origin: str) -> OriginChange:
        """Forget a stored origin (validated and normalised as :meth:`add` does)."""
        normal = normalize_origin(origin)
        changed = self.store.remove(normal)
        self._read_at = None
        return OriginChange(normal, changed, normal in self.configured)
