"""The providers as vector tiles: the map layer's rule, tile by tile.

The same rule as :func:`providers.viewport.viewport_layer`, so a MapLibre map and the
site's own map show the same thing at the same zoom: below
:data:`~providers.viewport.DISTRICTS_BELOW_ZOOM` counts per district; from there the
providers one by one when the tile holds at most ``point_cap`` of them, else counts per
H3 cell at :func:`~providers.viewport.resolution_for_zoom`. A tile's counts are of the
providers inside it, placed at their mean position, so a provider is counted once
whichever tiles a map shows.
"""

from __future__ import annotations

import hashlib
from dataclasses import astuple, dataclass

from geo.tiles import Tile
from providers.store import Filters, ProviderStore, TallyBy, VectorTile
from providers.viewport import (
    DEFAULT_POINT_CAP,
    DISTRICTS_BELOW_ZOOM,
    ZOOM_BOUNDS,
    LayerMode,
    resolution_for_zoom,
)

TILE_ZOOMS = ZOOM_BOUNDS
"""The zooms tiles are served at (the map layer's)."""
_TALLY_BY_RESOLUTION = {7: TallyBy.H3_R7, 8: TallyBy.H3_R8, 9: TallyBy.H3_R9}


@dataclass(frozen=True)
class ProviderTile:
    """A served tile: what its features are, and the tile itself."""

    mode: LayerMode
    tile: VectorTile


def provider_tile(
    store: ProviderStore, tile: Tile, filters: Filters, point_cap: int = DEFAULT_POINT_CAP
) -> ProviderTile:
    """The providers' vector tile at ``tile`` under the map layer's rule.

    Parameters
    ----------
    store
        Any :class:`~providers.store.ProviderStore`.
    tile
        The tile's address; its zoom within :data:`TILE_ZOOMS` (a caller checks).
    filters
        Hard filters (``radius_m`` is ignored).
    point_cap
        The most providers a tile carries one by one.
    """
    if tile.z < DISTRICTS_BELOW_ZOOM:
        return ProviderTile(LayerMode.DISTRICTS, store.tile(tile, filters, by=TallyBy.DISTRICT))
    points = store.tile(tile, filters, limit=point_cap + 1)
    if points.features <= point_cap:
        return ProviderTile(LayerMode.POINTS, points)
    by = _TALLY_BY_RESOLUTION[resolution_for_zoom(tile.z)]
    return ProviderTile(LayerMode.CELLS, store.tile(tile, filters, by=by))


TILE_FORMAT_VERSION = 1
"""Bumped when what a tile holds changes for the same data (properties, the rule), so
that caches holding tiles of the old form do not get a 304 for them."""


def tile_etag(data_version: int, tile: Tile, filters: Filters, point_cap: int) -> str:
    """A strong ``ETag`` for the tile: it changes whenever the data, the address, the
    filters, the point cap or the tile format does.

    Examples
    --------
    >>> a = tile_etag(3, Tile(12, 3337, 1780), Filters(), 200)
    >>> a == tile_etag(3, Tile(12, 3337, 1780), Filters(), 200), a.startswith('"')
    (True, True)
    >>> a == tile_etag(4, Tile(12, 3337, 1780), Filters(), 200)
    False
    """
    key = repr((TILE_FORMAT_VERSION, data_version, astuple(tile), astuple(filters), point_cap))
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'
