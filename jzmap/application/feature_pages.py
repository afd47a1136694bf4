"""Pages of providers for feature services (OGC API – Features): keyset pages, bounded.

A page is the next ``limit`` active providers by id after a cursor (the last id of the
page before), inside a box and passing the store's filters: the store's
:meth:`~providers.store.ProviderStore.within` with ``after``. A further predicate (a CQL2
filter, compiled above this layer) is applied here, reading the store in chunks; how many
providers one page may read is bounded (:data:`MAX_SCANNED`), so a filter that keeps
almost nothing costs a bounded amount per request: the page then comes back short, with
a cursor to go on from. Counts of matches are cached per data version.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from providers.model import Provider
from providers.store import BBox, Filters, ProviderStore, TallyBy

MAX_SCANNED = 20_000
"""The most providers one filtered page reads from the store before it answers."""
_CHUNK = 2_000
_COUNTS_KEPT = 512


@dataclass(frozen=True, slots=True)
class ProviderPage:
    """One page: its providers and the cursor of the next page (``None``: no more)."""

    providers: list[Provider]
    next_after: str | None


def provider_page(
    store: ProviderStore,
    bbox: BBox | None,
    filters: Filters,
    limit: int,
    *,
    after: str | None = None,
    keep: Callable[[Provider], bool] | None = None,
) -> ProviderPage:
    """The page of at most ``limit`` providers after ``after`` (see the module's notes).

    Parameters
    ----------
    keep
        A further test each provider must pass (a compiled CQL2 filter); at most
        :data:`MAX_SCANNED` providers are read to fill the page.
    """
    if keep is None:
        rows = store.within(bbox, filters, limit + 1, after=after)
        more = len(rows) > limit
        rows = rows[:limit]
        return ProviderPage(rows, rows[-1].id if more and rows else None)
    kept: list[Provider] = []
    cursor, scanned = after, 0
    while scanned < MAX_SCANNED:
        want = min(max(_CHUNK, 2 * (limit - len(kept))), MAX_SCANNED - scanned)
        chunk = store.within(bbox, filters, want, after=cursor)
        for i, provider in enumerate(chunk):
            if keep(provider):
                kept.append(provider)
                if len(kept) == limit:
                    last_read = i == len(chunk) - 1 and len(chunk) < want
                    return ProviderPage(kept, None if last_read else provider.id)
        scanned += len(chunk)
        if len(chunk) < want:
            return ProviderPage(kept, None)  # the store has no more
        cursor = chunk[-1].id
    return ProviderPage(kept, cursor)


class MatchCounts:
    """How many active providers pass filters in a box, cached per data version (a count
    of a city-wide box at a million providers reads them all; every page of a walk
    through them reports the same number)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: OrderedDict[tuple[int, Filters, BBox | None], int] = OrderedDict()

    def count(self, store: ProviderStore, filters: Filters, bbox: BBox | None) -> int:
        key = (store.data_version(), filters, bbox)
        with self._lock:
            if key in self._counts:
                self._counts.move_to_end(key)
                return self._counts[key]
        n = sum(store.tally(filters, TallyBy.DISTRICT, bbox).values())
        with self._lock:
            self._counts[key] = n
            while len(self._counts) > _COUNTS_KEPT:
                self._counts.popitem(last=False)
        return n
