"""What a map viewport shows: counts per district, counts per H3 cell, or the providers.

The page weight of a map must not grow with the number of providers, so a viewport never
gets more than a bounded answer: at city zoom the per-district counts (one entry per
district, whatever the data), closer in the counts per H3 cell of the box (the finer the
zoom, the finer the cells; the box holds a bounded number of them), and the providers
themselves only when the box holds at most ``point_cap`` of them.

Examples
--------
>>> resolution_for_zoom(12), resolution_for_zoom(16)
(8, 9)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from providers.model import Provider
from providers.store import BBox, Filters, ProviderStore, TallyBy

DISTRICTS_BELOW_ZOOM = 11
"""Below this zoom the whole city is in view: one count per district."""
DEFAULT_POINT_CAP = 200
ZOOM_BOUNDS = (0, 20)

# Web-Mercator zoom to H3 resolution, so a hexagon stays 25 to 60 px across: r7 (~2.4 km
# across) at z11, r8 (~0.9 km) at z12, r9 (~0.35 km) from z13 on.
_RESOLUTION_BY_ZOOM = {11: 7, 12: 8}
_TALLY_BY_RESOLUTION = {7: TallyBy.H3_R7, 8: TallyBy.H3_R8, 9: TallyBy.H3_R9}


class LayerMode(StrEnum):
    DISTRICTS = "districts"
    STREETS = "streets"
    COMMUNITIES = "communities"
    CELLS = "cells"
    POINTS = "points"


class Level(StrEnum):
    """A level a map asks for by name, between district counts and H3 cells (the seed
    platform's city → district → street (街道) → community (社区))."""

    STREET = "street"
    COMMUNITY = "community"


def resolution_for_zoom(zoom: int) -> int:
    """The H3 resolution whose cells suit a map at ``zoom``."""
    return _RESOLUTION_BY_ZOOM.get(zoom, 7 if zoom < 11 else 9)


@dataclass(frozen=True)
class Layer:
    """A viewport's answer; only the part its ``mode`` names is filled in.

    ``total`` is how many providers pass the filters in the box (in the city, for
    districts), whatever the mode.
    """

    mode: LayerMode
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    resolution: int | None = None
    providers: list[Provider] = field(default_factory=list)


def viewport_layer(
    store: ProviderStore,
    bbox: BBox,
    zoom: int,
    filters: Filters,
    point_cap: int = DEFAULT_POINT_CAP,
    *,
    level: Level | None = None,
) -> Layer:
    """The bounded answer for a map showing ``bbox`` at ``zoom``.

    Parameters
    ----------
    store
        Any :class:`~providers.store.ProviderStore`.
    bbox
        The viewport, WGS-84.
    zoom
        The Web-Mercator zoom level of the map.
    filters
        Hard filters (``radius_m`` is ignored).
    point_cap
        The most providers a viewport is sent one by one.
    level
        ``Level.STREET``: the counts per street of the whole city (keys: street names, as
        the providers' addresses name them; "" for none), whatever the zoom. Communities
        need polygons, which the domain does not hold: the application counts those.

    Returns
    -------
    Layer
        Districts (keys: district names) below :data:`DISTRICTS_BELOW_ZOOM`; else the
        providers when the box holds at most ``point_cap``; else H3 cell counts (keys: H3
        cells as hex strings) at :func:`resolution_for_zoom`.
    """
    if level is Level.STREET:
        counts = store.tally(filters, TallyBy.STREET)
        return Layer(LayerMode.STREETS, sum(counts.values()), counts=counts)
    if level is not None:
        raise ValueError(f"level {level.value!r} is not counted by the store")
    if zoom < DISTRICTS_BELOW_ZOOM:
        counts = store.tally(filters, TallyBy.DISTRICT)
        return Layer(LayerMode.DISTRICTS, sum(counts.values()), counts=counts)
    # One more than the cap tells whether the box holds more than it.
    providers = store.within(bbox, filters, point_cap + 1)
    if len(providers) <= point_cap:
        return Layer(LayerMode.POINTS, len(providers), providers=providers)
    resolution = resolution_for_zoom(zoom)
    counts = store.tally(filters, _TALLY_BY_RESOLUTION[resolution], bbox)
    return Layer(LayerMode.CELLS, sum(counts.values()), counts=counts, resolution=resolution)
