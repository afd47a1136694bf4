"""Coverage gaps as a service: the :mod:`gaps` analysis built from a store and the settings,
cached so that the API answers repeat requests without recomputing.

Two caches, because the inputs change at different rates:

* the **grid and census demand** depend only on the boundary layers and the H3 resolution,
  never on providers: built once per (districts layer, streets layer, resolution) for the
  life of the process;
* the **analysis** (supply, per-cell measures, district table) and the **site plans**
  depend on the providers: kept per (``store.data_version()``, parameters) in small bounded
  LRUs. Every write that changes the store bumps its data version, so the next request
  reads a new version, misses, and recomputes; stale entries age out of the LRU.

Both are safe under the API's thread pool: concurrent requests for the same key wait for
one computation instead of starting their own (:class:`OnceCache`).

Proposed sites get an address after the plan is made (:func:`with_addresses`): AMap's
reverse geocoding, else the nearest named way of the walking network, each labelled.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import geopandas as gpd
import h3
import numpy as np
import numpy.typing as npt
import pandas as pd
import rasterio
import shapely

from gaps import (
    DEFAULT_RESOLUTION,
    SitePlan,
    area_summary,
    candidate_sites,
    city_grid,
    coverage_measures,
    demand_from_census,
    demand_from_polygons,
    demand_from_raster,
    locate_supply,
    providers_frame,
    suitable_supply,
)
from gaps.demand import AGE_COLUMNS, AGED_60_PLUS, RESIDENTS, footprint_weights, raster_weights
from gaps.distances import nearest_geodesic, pairs_within
from gaps.grid import RESOLUTIONS, locate_points
from gaps.measures import NearestFn, PairsFn
from gaps.network import (
    CROW_MODE,
    WALK_MODE,
    nearest_way_name,
    network_nearest,
    network_pairs_within,
)
from gaps.network_sites import CandidatePlan
from gaps.streets import (
    LIFE_CIRCLES_MIN,
    WALK_SPEEDS_M_S,
    assign_streets,
    crow_equivalent_m,
    read_streets_layer,
    street_points,
    street_table,
)
from gaps.summary import DEFAULT_QUANTILES, SUMMARY_COLUMNS
from geo.geocoding import GeocoderUnavailableError, ReverseGeocoder
from ingest.readers import FORMULA_START
from jzmap.application.network import (
    Mode,
    NetworkLoader,
    NoNetworkError,
    speed_m_s,
    walk_metres,
)
from jzmap.settings import CitySettings, CoverageSettings
from jzmap.wiring import districts_layer
from providers.errors import InvalidParameterError, ParameterProblem
from providers.model import Category, Grade, Kind, Provider
from providers.store import BBox, Filters, ProviderStore

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
P = TypeVar("P", SitePlan, CandidatePlan)

# Every active provider, wherever it is: one just across the city boundary still serves
# the cells along it.
_EVERYWHERE = BBox(-180.0, -90.0, 180.0, 90.0)
# Grids of a few boundary layers and both resolutions; each is ~2 MB (res 8) to ~15 MB.
_GRID_CACHE_SIZE = 4

# The longest walk a catchment may be: beyond half an hour a "life circle" means nothing
# and bounded Dijkstras start to cover the whole city.
MAX_MINUTES = 30.0
# A walk without minutes: GB 50180-2018's 10-minute life circle.
DEFAULT_WALK_MINUTES = 10.0

# The columns of the per-district table, in order: gaps.summary.area_summary's, with the
# default quantiles.
DISTRICT_COLUMNS: tuple[str, ...] = (
    "category",
    "district",
    *SUMMARY_COLUMNS,
    *(f"accessibility_q{round(q * 100):02d}" for q in DEFAULT_QUANTILES),
)


class UnknownDistrictError(InvalidParameterError, ValueError):
    """A district name the boundary layer does not have; ``known`` lists those it has.

    Examples
    --------
    >>> str(UnknownDistrictError("朝阳区", ["越秀区", "海珠区"]))
    "district: unknown district '朝阳区'; allowed: 越秀区, 海珠区"
    """

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = tuple(known)
        allowed = ", ".join(self.known)
        message = f"district: unknown district {name!r}; allowed: {allowed}"
        super().__init__(message, [ParameterProblem("district", message, allowed, name)])


class OnceCache(Generic[K, V]):
    """A bounded LRU whose values are computed once per key, even under concurrency.

    The first caller of a missing key computes it; callers arriving meanwhile wait for that
    result rather than computing it again. A computation that raises is not cached: its
    waiters get the exception and the next caller tries again.

    Examples
    --------
    >>> cache: OnceCache[str, int] = OnceCache(maxsize=1)
    >>> cache.get("a", lambda: 1), cache.get("a", lambda: 2), cache.get("b", lambda: 3)
    (1, 1, 3)
    >>> cache.get("a", lambda: 4), cache.computed, cache.hits  # "a" was evicted by "b"
    (4, 3, 1)
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self.computed = 0  # values computed (misses)
        self.hits = 0  # answers from a stored value or another caller's computation
        self._lock = threading.Lock()
        self._values: OrderedDict[K, V] = OrderedDict()
        self._pending: dict[K, Future[V]] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def get(self, key: K, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                self.hits += 1
                return self._values[key]
            running = self._pending.get(key)
            if running is None:
                mine: Future[V] = Future()
                self._pending[key] = mine
                self.computed += 1
            else:
                self.hits += 1
        if running is not None:
            return running.result()
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            mine.set_exception(exc)
            raise
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.maxsize:
                self._values.popitem(last=False)
            del self._pending[key]
        mine.set_result(value)
        return value


@dataclass(frozen=True)
class CoverageQuery:
    """What an analysis is made for: one category, at one resolution, with supply filters,
    and how reach is measured.

    ``mode`` is ``"crow"`` (geodesic metres) or ``"walk"`` (metres over the street
    network); ``minutes`` at the ``speed`` (adult or elderly, from the settings) sets the
    catchment, in either mode; without ``minutes`` a walk is 10 minutes (GB 50180's middle
    life circle) and crow-fly uses ``JZMAP_COVERAGE_CATCHMENT_M``.
    """

    category: Category
    resolution: int = DEFAULT_RESOLUTION
    min_grade: Grade | None = None
    certified_only: bool = False
    # The catchment in metres (a life circle's crow-fly equivalent); None: the setting's.
    catchment_m: float | None = None
    # Supply of one kind only (companies or stations); None: both.
    kind: Kind | None = None
    # The walking speed the life circles are measured at (a key of WALK_SPEEDS_M_S).
    speed: str = "adult"
    # crow: geodesic metres; walk: metres over the street network (JZMAP_STREET_NETWORK).
    mode: Mode = "crow"

    def __post_init__(self) -> None:
        if self.resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {self.resolution}")
        if self.mode not in (CROW_MODE, WALK_MODE):
            raise ValueError(f"mode must be 'crow' or 'walk', got {self.mode!r}")
        if self.catchment_m is not None and not 0 < self.catchment_m <= 20_000:
            raise ValueError(f"catchment_m must be in (0, 20000], got {self.catchment_m}")
        if self.speed not in WALK_SPEEDS_M_S:
            raise ValueError(f"speed must be one of {sorted(WALK_SPEEDS_M_S)}, got {self.speed}")


@dataclass(frozen=True)
class Grid:
    """The cells and their census demand: independent of providers, shared by analyses."""

    cells: gpd.GeoDataFrame
    demand: pd.DataFrame
    demand_source: str


@dataclass(frozen=True)
class ProviderSnapshot:
    """The store's active providers at one data version, as objects and as a table."""

    data_version: int
    by_id: Mapping[str, Provider]
    frame: pd.DataFrame


@dataclass(frozen=True)
class Analysis:
    """One category's coverage at one data version. Shared between requests: read only.

    ``measures`` has one row per cell of ``grid`` in the same order (so
    ``grid.cells.geometry`` draws it); ``supply`` holds the suitable providers with their
    district from the boundary polygons; ``districts`` the per-district table
    (:data:`DISTRICT_COLUMNS`).
    """

    query: CoverageQuery
    data_version: int
    catchment_m: float
    grid: Grid
    providers: ProviderSnapshot
    supply: pd.DataFrame
    measures: pd.DataFrame
    districts: pd.DataFrame
    speed_m_s: float | None = None  # the walking speed minutes were turned into metres with

    def cells_of(self, district: str | None) -> npt.NDArray[np.bool_]:
        """Which measure rows belong to ``district`` (every row for ``None``)."""
        if district is None:
            return np.ones(len(self.measures), dtype=bool)
        return np.asarray(self.measures["district"].to_numpy(dtype=object) == district, bool)


class CoverageService:
    """The coverage analysis of one store, with the city's boundary and the coverage
    settings' catchment, population and solver.

    One per store (the API keeps one on the app): the caches are keyed by the store's data
    version, which only means something for that store.
    """

    def __init__(
        self,
        store: ProviderStore,
        settings: CoverageSettings,
        city: CitySettings,
        gate: Callable[[], AbstractContextManager[object]] = nullcontext,
        network: NetworkLoader | None = None,
        *,
        reverse: ReverseGeocoder | None = None,
    ) -> None:
        """``gate`` is entered around every analysis and plan computed (not around answers
        from the caches): the API bounds how many run at once with it. ``network`` gives
        the walking network (``None``, or a loader with no extract: crow-fly only);
        ``reverse`` names the address at a proposed site (``None``: no online geocoder)."""
        self.store = store
        self.reverse = reverse
        self.settings = settings
        self.city = city
        self.gate = gate
        self.network = network
        self.catchment_m = float(settings.catchment_m)
        self._snapshots: OnceCache[int, ProviderSnapshot] = OnceCache(maxsize=2)
        # Public: their hit and computation counters show the caches at work (tests, ops).
        self.analysis_cache: OnceCache[tuple[int, CoverageQuery], Analysis] = OnceCache(
            settings.cache_size
        )
        self.plan_cache: OnceCache[
            tuple[int, CoverageQuery, int, str | None, frozenset[int]], SitePlan
        ] = OnceCache(settings.cache_size)
        self._street_points: OnceCache[int, pd.DataFrame] = OnceCache(maxsize=2)
        self._cell_streets: OnceCache[tuple[int, int], pd.DataFrame] = OnceCache(maxsize=4)

    @property
    def district_names(self) -> list[str]:
        """The districts of the boundary layer, in its order."""
        return [str(n) for n in districts_layer(self.city)["name"]]

    def check_district(self, district: str | None) -> None:
        """Raise :class:`UnknownDistrictError` unless ``district`` is ``None`` or known."""
        if district is not None and district not in self.district_names:
            raise UnknownDistrictError(district, self.district_names)

    @property
    def default_mode(self) -> Mode:
        """Walking when a street network is configured, crow-fly otherwise."""
        return WALK_MODE if self.network is not None and self.network.configured else CROW_MODE

    def catchment_for(self, query: CoverageQuery) -> tuple[float, float | None]:
        """The catchment of ``query`` in metres (walking or crow-fly), and the walking speed
        a life circle's minutes are turned into metres with (``None``: the metres setting,
        not minutes, was used). A walk with no catchment is 10 minutes at its speed."""
        speed = speed_m_s(self.settings, query.speed)
        if query.catchment_m is not None:
            return float(query.catchment_m), speed
        if query.mode == WALK_MODE:
            return walk_metres(DEFAULT_WALK_MINUTES, speed), speed
        return self.catchment_m, None

    def distance_functions(self, query: CoverageQuery) -> tuple[NearestFn, PairsFn]:
        """How ``query`` measures reach: geodesic, or walking over the network (which
        raises :class:`jzmap.application.network.NoNetworkError` when there is none)."""
        if query.mode == CROW_MODE:
            return nearest_geodesic, pairs_within
        if self.network is None:
            raise NoNetworkError()
        net = self.network.require()
        snap_m = float(self.settings.network_max_snap_m)
        return (
            functools.partial(network_nearest, net=net, max_snap_m=snap_m),
            functools.partial(network_pairs_within, net=net, max_snap_m=snap_m),
        )

    def grid(self, resolution: int) -> Grid:
        """The cells and demand of the city's boundary at ``resolution``."""
        return _grid(
            self.city,
            self.settings.population_layer,
            resolution,
            self.settings.population_weights,
        )

    def analysis(self, query: CoverageQuery) -> Analysis:
        """The analysis of ``query`` at the store's current data version (cached)."""
        return self.analyses([query])[0]

    def analyses(self, queries: Sequence[CoverageQuery]) -> list[Analysis]:
        """Several analyses (e.g. one per category), all at one data version (cached)."""
        version = self.store.data_version()
        return [
            self.analysis_cache.get(
                (version, q), self._gated(functools.partial(self._analyse, version, q))
            )
            for q in queries
        ]

    def plan(
        self,
        query: CoverageQuery,
        k: int,
        district: str | None = None,
        excluded_cells: Collection[int] = (),
    ) -> tuple[Analysis, SitePlan]:
        """``k`` candidate sites (MCLP) for ``query`` in ``district`` (``None``: the city),
        never in ``excluded_cells`` (H3 ids as integers at the query's resolution), with the
        analysis they were chosen from (cached)."""
        self.check_district(district)
        if k < 1:
            raise ValueError("k must be >= 1")
        analysis = self.analysis(query)
        excluded = frozenset(excluded_cells)
        key = (analysis.data_version, query, k, district, excluded)
        _, pairs = self.distance_functions(query)
        plan = self.plan_cache.get(
            key,
            self._gated(
                lambda: candidate_sites(
                    analysis.measures,
                    query.category,
                    k,
                    catchment_m=analysis.catchment_m,
                    district=district,
                    time_limit_s=self.settings.solver_time_limit_s,
                    pairs=pairs,
                    excluded_cells=excluded,
                    # Existing providers' staff limit what they cover, when the setting
                    # says how many one practitioner serves.
                    existing=analysis.supply,
                    residents_per_practitioner=self.settings.residents_per_practitioner,
                )
            ),
        )
        return analysis, plan

    def street_areas(self, bbox: BBox | None = None) -> gpd.GeoDataFrame:
        """The streets to draw a street level on: the operator's polygons when loaded, else
        one point per street named by the providers' addresses (their mean position, at
        the store's current data version); ``bbox``: those meeting it only."""
        layer = _streets(self.city)
        if layer is not None:
            areas = layer[["name", "district", "geometry"]]
        else:
            version = self.store.data_version()
            points = self._street_points.get(
                version,
                lambda: street_points(None, self._snapshot(version).frame),
            )
            areas = gpd.GeoDataFrame(
                {"name": points["street"], "district": points["district"]},
                geometry=gpd.points_from_xy(points["lon"], points["lat"]),
                crs="EPSG:4326",
            )
        return _meeting(areas, bbox)

    def community_areas(self, bbox: BBox | None = None) -> gpd.GeoDataFrame | None:
        """The operator's community polygons meeting ``bbox`` (``None`` without a layer)."""
        layer = communities_layer(self.city)
        return None if layer is None else _meeting(layer[["name", "district", "geometry"]], bbox)

    def _gated(self, compute: Callable[[], V]) -> Callable[[], V]:
        def run() -> V:
            with self.gate():
                return compute()

        return run

    def _snapshot(self, version: int) -> ProviderSnapshot:
        def fetch() -> ProviderSnapshot:
            everyone = Filters(include_approximate=True)  # suitable_supply applies the rest
            limit = self.store.count() + 1
            providers = self.store.within(_EVERYWHERE, everyone, limit)
            # A write between count() and within() may have added providers: ask again.
            while len(providers) >= limit:
                limit *= 2
                providers = self.store.within(_EVERYWHERE, everyone, limit)
            return ProviderSnapshot(
                data_version=version,
                by_id={p.id: p for p in providers},
                frame=providers_frame(providers),
            )

        return self._snapshots.get(version, fetch)

    def _analyse(self, version: int, query: CoverageQuery) -> Analysis:
        nearest, pairs = self.distance_functions(query)
        catchment_m, speed = self.catchment_for(query)
        grid = self.grid(query.resolution)
        snapshot = self._snapshot(version)
        supply = suitable_supply(
            snapshot.frame,
            [query.category],
            min_grade=query.min_grade,
            certified_only=query.certified_only,
            kind=query.kind,
        )
        # Providers counted in the district their point lies in, by the grid's own rule.
        supply = supply.assign(record_street=supply["street"])
        supply = locate_supply(supply, districts_layer(self.city), _streets(self.city))
        supply = _with_record_streets(supply)
        measures = coverage_measures(
            grid.cells, grid.demand, supply, [query.category], catchment_m=catchment_m,
            nearest=nearest, pairs=pairs,
        )  # fmt: skip
        # Streets depend on the grid and the providers' addresses, not on the query: once
        # per (data version, resolution), shared by every category and catchment.
        streets = self._cell_streets.get(
            (version, query.resolution),
            lambda: _cell_streets(grid, snapshot.frame, self.city),
        )
        measures = _with_streets(measures, grid, streets)
        districts = area_summary(measures, supply)
        return Analysis(
            query=query,
            data_version=version,
            catchment_m=catchment_m,
            speed_m_s=speed,
            grid=grid,
            providers=snapshot,
            supply=supply,
            measures=measures,
            districts=districts[list(DISTRICT_COLUMNS)],
        )


# The coarsest exclusion accepted, in resolutions above the plan's: a res-7 cell stands for
# its 49 res-9 cells; coarser ones would be thousands (a district is excluded by not
# planning for it).
EXCLUDE_LEVELS_UP = 2


def cells_to_exclude(cells: Sequence[str], resolution: int) -> frozenset[int]:
    """The cells of a plan at ``resolution`` that H3 ids ``cells`` exclude: a cell at that
    resolution itself, a coarser one (up to :data:`EXCLUDE_LEVELS_UP` levels) all the cells
    inside it.

    Raises
    ------
    providers.errors.InvalidParameterError
        A cell finer than the plan's, or too coarse: the message names it.

    Examples
    --------
    >>> import h3
    >>> nine = h3.latlng_to_cell(23.13, 113.32, 9)
    >>> len(cells_to_exclude([nine], 9)), len(cells_to_exclude([h3.cell_to_parent(nine, 8)], 9))
    (1, 7)
    >>> cells_to_exclude([nine], 8)
    Traceback (most recent call last):
    ...
    jzmap.application.coverage.UnknownCellsError: exclude: cell ... is at resolution 9; ...
    """
    out: set[int] = set()
    for cell in cells:
        level = h3.get_resolution(cell)
        if not resolution - EXCLUDE_LEVELS_UP <= level <= resolution:
            raise UnknownCellsError.of(
                "exclude",
                f"cell {cell} is at resolution {level}",
                got=cell,
                allowed=f"cells of resolution {resolution - EXCLUDE_LEVELS_UP} to "
                f"{resolution} (this plan's is {resolution})",
            )
        out.update(h3.str_to_int(c) for c in h3.cell_to_children(cell, resolution))
    return frozenset(out)


class UnknownCellsError(InvalidParameterError):
    """Excluded cells a plan cannot use (422)."""


# The most addresses one request looks up online: the API's largest k (a site each).
MAX_ADDRESS_LOOKUPS = 20
# "XX路附近" only when the named way is this near (geodesic metres): farther, "near"
# would mislead a planner walking there.
NEAR_WAY_M = 300.0
# Where a site's address came from.
ADDRESS_SOURCES = ("file", "amap", "nearest_way", "none")


def site_addresses(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    given: Sequence[object] | None = None,
    reverse: ReverseGeocoder | None = None,
    street_of: Callable[[npt.ArrayLike, npt.ArrayLike], list[str | None]] | None = None,
    deadline_s: float | None = None,
    max_lookups: int = MAX_ADDRESS_LOOKUPS,
) -> pd.DataFrame:
    """An address for each WGS-84 point, where it came from, and why it is not better.

    In order: the ``given`` address (a candidates file's; ``file``); else ``reverse``
    geocoding (``amap``), at most ``max_lookups`` of them and none after ``deadline_s``
    (``time.monotonic()``) or after the geocoder failed once (one dead geocoder costs one
    timeout, not one per site); else "<the nearest named way>附近" by ``street_of`` when
    the way is within :data:`NEAR_WAY_M` (``nearest_way``); else none (``none``).

    Returns
    -------
    pandas.DataFrame
        ``address`` (``None`` when none), ``address_source`` (:data:`ADDRESS_SOURCES`)
        and ``address_note``: why the online geocoder gave none (``None`` when it did, or
        the file did).

    Examples
    --------
    >>> site_addresses([113.3, 113.4], [23.1, 23.2], given=["天河路1号", None],
    ...     street_of=lambda lon, lat: ["黄埔大道"] * len(lon)).to_dict("records")
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'address': '天河路1号', 'address_source': 'file', 'address_note': None},
     {'address': '黄埔大道附近', 'address_source': 'nearest_way',
      'address_note': 'no online geocoder (JZMAP_AMAP_KEY unset)'}]
    """
    x = np.asarray(lon, dtype=np.float64).ravel()
    y = np.asarray(lat, dtype=np.float64).ravel()
    address: list[str | None] = [None] * x.size
    source = ["none"] * x.size
    note: list[str | None] = [None] * x.size
    for i, text in enumerate(given if given is not None else []):
        if isinstance(text, str) and text.strip():
            address[i], source[i] = text.strip(), "file"
    todo = [i for i in range(x.size) if address[i] is None]
    failed: str | None = (
        None if reverse is not None else "no online geocoder (JZMAP_AMAP_KEY unset)"
    )
    for asked, i in enumerate(todo):
        if failed is None and asked >= max_lookups:
            failed = f"not looked up: at most {max_lookups} lookups a request"
        if failed is None and deadline_s is not None and time.monotonic() >= deadline_s:
            failed = "not looked up: the request's time ran out"
        if failed is not None or reverse is None:
            note[i] = failed
            continue
        try:
            found = reverse.reverse(float(x[i]), float(y[i]), deadline_s=deadline_s)
        except GeocoderUnavailableError as exc:
            failed = note[i] = str(exc)
            continue
        if found is None:
            note[i] = "AMap has no address at this point"
        else:
            address[i], source[i] = found.address, "amap"
    rest = [i for i in range(x.size) if address[i] is None]
    if rest and street_of is not None:
        names = street_of(x[rest], y[rest])
        for i, name in zip(rest, names, strict=True):
            if name:
                address[i], source[i] = f"{name}附近", "nearest_way"
    return pd.DataFrame(
        {
            "address": pd.Series(address, dtype=object),
            "address_source": pd.Series(source, dtype=object),
            "address_note": pd.Series(note, dtype=object),
        }
    )


def with_addresses(service: CoverageService, plan: P, *, deadline_s: float | None = None) -> P:
    """``plan`` with ``address``, ``address_source`` and ``address_note`` on its sites
    (:func:`site_addresses`): rooms keep their file's address; gap-cell centres and rooms
    without one are looked up online (``service.reverse``), else named after the nearest
    way of the walking network when one is configured. Lookups never fail the plan."""
    sites = plan.sites
    street_of = None
    network = service.network
    if network is not None and network.configured:

        def street_of(lon: npt.ArrayLike, lat: npt.ArrayLike) -> list[str | None]:
            try:
                net = network.require()
            except (OSError, RuntimeError, ValueError):
                return [None] * np.asarray(lon).size  # the plan's answer, without names
            return nearest_way_name(net, lon, lat, max_m=NEAR_WAY_M)

    found = site_addresses(
        sites["lon"].to_numpy(np.float64),
        sites["lat"].to_numpy(np.float64),
        given=sites["address"].tolist() if "address" in sites.columns else None,
        reverse=service.reverse,
        street_of=street_of,
        deadline_s=deadline_s,
    )
    addressed = sites.assign(**{c: found[c].to_numpy(object) for c in found.columns})
    return dataclasses.replace(plan, sites=addressed)


def _meeting(areas: gpd.GeoDataFrame, bbox: BBox | None) -> gpd.GeoDataFrame:
    if bbox is None or not len(areas):
        return areas.reset_index(drop=True)
    box = shapely.box(bbox.west, bbox.south, bbox.east, bbox.north)
    hits = areas.sindex.query(box, predicate="intersects")
    return areas.iloc[np.sort(hits)].reset_index(drop=True)


def community_counts(
    store: ProviderStore, areas: gpd.GeoDataFrame, filters: Filters, limit: int = 200_000
) -> dict[str, int]:
    """Providers passing ``filters`` in each community polygon of ``areas`` (by the first
    polygon holding their point). Only the providers within the areas' bounds are read,
    at most ``limit``: more raise ``ValueError`` (zoom in)."""
    if not len(areas):
        return {}
    west, south, east, north = (float(v) for v in areas.total_bounds)
    providers = store.within(BBox(west, south, east, north), filters, limit + 1)
    if len(providers) > limit:
        raise ValueError(f"more than {limit:,} providers in view: zoom in")
    rows = locate_points(areas, [p.lon for p in providers], [p.lat for p in providers])
    names = areas["name"].astype(str).to_numpy()
    counts: dict[str, int] = {}
    for row in rows[rows >= 0].tolist():
        counts[names[row]] = counts.get(names[row], 0) + 1
    return counts


def life_circles_m(speed: str, catchment_m: float | None = None) -> dict[str, float]:
    """The GB 50180 life circles (5, 10, 15 minutes) as crow-fly metres at ``speed``, and
    the analysis's own catchment when it is none of them (``catchment`` then)."""
    circles = {
        f"{minutes}min": crow_equivalent_m(minutes, WALK_SPEEDS_M_S[speed])
        for minutes in LIFE_CIRCLES_MIN
    }
    if catchment_m is not None and catchment_m not in circles.values():
        circles["catchment"] = float(catchment_m)
    return circles


def streets_of(analysis: Analysis, district: str | None = None) -> pd.DataFrame:
    """The per-street table of one analysis (``district``: its streets only), with the
    life circles at the analysis's walking speed (:func:`gaps.streets.street_table`)."""
    rows = analysis.cells_of(district)
    supply = analysis.supply
    if district is not None:
        supply = supply.loc[supply["district"].astype(object) == district]
    return street_table(
        analysis.measures.loc[rows],
        supply,
        circles_m=life_circles_m(analysis.query.speed, analysis.catchment_m),
    )


def _with_record_streets(supply: pd.DataFrame) -> pd.DataFrame:
    """Providers outside every street polygon (or with no layer) keep the street their
    registry address names."""
    if "record_street" not in supply.columns:
        return supply
    out = supply.copy()
    record = out.pop("record_street").replace("", None)
    out["street"] = out["street"].where(out["street"].notna(), record).astype(object)
    return out


def _cell_streets(grid: Grid, providers: pd.DataFrame, city: CitySettings) -> pd.DataFrame:
    """Every cell's street (polygons, else inferred from the nearest provider whose
    address names its street, in the same district), in the grid's order."""
    cells = grid.cells
    known = providers.loc[providers["street"].fillna("").astype(str).str.len() > 0]
    return assign_streets(
        cells["lon"].to_numpy(np.float64),
        cells["lat"].to_numpy(np.float64),
        cells["district"].astype(object).to_numpy(),
        layer=_streets(city),
        known=known[["lon", "lat", "street", "district"]],
        gazetteer=_gazetteer(city.districts_layer),
    )


def _with_streets(measures: pd.DataFrame, grid: Grid, streets: pd.DataFrame) -> pd.DataFrame:
    """``measures`` (one category: one row per cell, in the grid's order) with every
    cell's ``street``, ``street_code``, ``street_inferred``, and the demand behind the
    street tables: ``all_residents`` and ``aged_60_plus``."""
    if len(measures) != len(streets):
        raise ValueError("measures must hold one category, one row per grid cell")
    out = measures.copy()
    for column in streets.columns:
        out[column] = streets[column].to_numpy()
    demand = grid.demand.set_index("cell")
    for column, name in ((RESIDENTS, "all_residents"), (AGED_60_PLUS, AGED_60_PLUS)):
        out[name] = demand[column].reindex(out["cell"].to_numpy()).to_numpy(np.float64)
    return out


@functools.cache
def _gazetteer(districts_path: Path) -> pd.DataFrame | None:
    """The official street list beside the districts layer (``streets.csv``), if any."""
    path = districts_path.with_name("streets.csv")
    return pd.read_csv(path, dtype=str) if path.exists() else None


def district_table(analyses: Sequence[Analysis]) -> pd.DataFrame:
    """The per-district tables of several analyses, stacked (:data:`DISTRICT_COLUMNS`)."""
    return pd.concat([a.districts for a in analyses], ignore_index=True)


def districts_csv(table: pd.DataFrame) -> str:
    """The per-district table as CSV text, with a byte-order mark so that Excel reads the
    Chinese names as UTF-8; text cells Excel would run as formulas are quoted."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.itertuples(index=False):
        writer.writerow([_csv_cell(v) for v in row])
    return out.getvalue()


def _csv_cell(value: object) -> object:
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_START) else value
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return ""
    return value


_grid_cache: OnceCache[tuple[Path, Path | None, Path | None, Path | None, int], Grid] = OnceCache(
    _GRID_CACHE_SIZE
)


def _grid(
    city: CitySettings, layer: Path | None, resolution: int, weights: Path | None = None
) -> Grid:
    """The grid of ``city`` at ``resolution``, its demand from the population ``layer``
    (``None``: the census, spread evenly, or by the ``weights`` layer when given)."""

    def build() -> Grid:
        districts = _with_population(districts_layer(city), city.districts_layer)
        cells = city_grid(districts, resolution, _streets(city))
        if layer is None:
            demand = demand_from_census(
                cells,
                districts,
                weights=None if weights is None else _cell_weights(cells, weights),
                weights_source=None if weights is None else f"weight layer {weights.name}",
            )
            return Grid(cells, demand, str(demand["demand_source"].iloc[0]))
        demand = _operator_demand(cells, layer)
        return Grid(cells, demand, str(demand["demand_source"].iloc[0]))

    key = (city.districts_layer, city.streets_layer, layer, weights, resolution)
    return _grid_cache.get(key, build)


def _cell_weights(cells: gpd.GeoDataFrame, path: Path) -> npt.NDArray[np.float64]:
    """Per-cell weights from a population raster (GeoTIFF) or building footprints."""
    if path.suffix.lower() in (".tif", ".tiff"):
        return raster_weights(cells, path)
    return footprint_weights(cells, gpd.read_file(path))


def _operator_demand(cells: gpd.GeoDataFrame, layer: Path) -> pd.DataFrame:
    """Residents per cell from the operator's population layer (raster or polygons)."""
    if layer.suffix.lower() in (".tif", ".tiff"):
        with rasterio.open(layer) as raster:
            bands = {"residents": 1} | ({"elderly_care": 2} if raster.count >= 2 else {})
        return demand_from_raster(cells, layer, bands, source=f"population raster {layer.name}")
    polygons = gpd.read_file(layer)
    if "residents" not in polygons.columns:
        raise ValueError(
            f"population layer {layer}: no `residents` column (columns: "
            f"{', '.join(map(str, polygons.columns))})"
        )
    columns = {"residents": "residents"} | {
        c.value: c.value for c in Category if c.value in polygons.columns
    }
    return demand_from_polygons(cells, polygons, columns, source=f"population layer {layer.name}")


def _streets(city: CitySettings) -> gpd.GeoDataFrame | None:
    return _read_streets(city.streets_layer) if city.streets_layer else None


_streets_cache: OnceCache[Path, gpd.GeoDataFrame] = OnceCache(4)


def _read_streets(path: Path) -> gpd.GeoDataFrame:
    return _streets_cache.get(path, lambda: read_streets_layer(path))


def streets_layer(city: CitySettings) -> gpd.GeoDataFrame | None:
    """The operator's street polygons (``name``, ``code``, ``district``), or ``None``."""
    return _streets(city)


def communities_layer(city: CitySettings) -> gpd.GeoDataFrame | None:
    """The operator's community (社区) polygons, or ``None``."""
    path = city.communities_layer
    if path is None:
        return None
    return _streets_cache.get(path, lambda: read_streets_layer(path, what="communities layer"))


def _with_population(layer: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """The district polygons of ``path`` with their census ``population`` (and ages).

    From the layer's own ``population`` property when it has one, else from a
    ``districts.csv`` beside it (``adcode`` or ``name``, ``population``, and the age columns
    of :data:`gaps.demand.AGE_COLUMNS` with their ``<column>_source`` where it has them), as
    shipped in ``data/guangzhou``.
    """
    if "population" in layer.columns:
        return layer
    table_path = path.with_name("districts.csv")
    if not table_path.exists():
        raise ValueError(
            f"coverage needs each district's population: give {path.name} a `population` "
            f"property or put a districts.csv (name or adcode, population) beside it"
        )
    table = pd.read_csv(table_path, dtype={"adcode": str, "name": str})
    key = "adcode" if "adcode" in layer.columns and "adcode" in table.columns else "name"
    # The age columns (e.g. aged_60_plus for elderly care) and what each figure is
    # (``<column>_source``) travel with the population: demand and its label read them.
    ages = [
        column
        for age in sorted({c for columns in AGE_COLUMNS.values() for c in columns})
        for column in (age, f"{age}_source")
        if column in table.columns
    ]
    merged = layer.merge(table[[key, "population", *ages]], on=key, how="left")
    return gpd.GeoDataFrame(merged, geometry="geometry", crs="EPSG:4326")
