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
"""

from __future__ import annotations

import csv
import functools
import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import rasterio

from gaps import (
    CENSUS_EVEN_SOURCE,
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
from gaps.distances import nearest_geodesic, pairs_within
from gaps.grid import RESOLUTIONS
from gaps.measures import NearestFn, PairsFn
from gaps.network import CROW_MODE, WALK_MODE, network_nearest, network_pairs_within
from gaps.summary import DEFAULT_QUANTILES, SUMMARY_COLUMNS
from ingest.readers import FORMULA_START
from jzmap.application.network import (
    Mode,
    NetworkLoader,
    NoNetworkError,
    Speed,
    speed_m_s,
    walk_metres,
)
from jzmap.settings import CitySettings, CoverageSettings
from jzmap.wiring import districts_layer
from providers.errors import InvalidParameterError, ParameterProblem
from providers.model import Category, Grade, Provider
from providers.store import BBox, Filters, ProviderStore

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

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
    mode: Mode = "crow"
    minutes: float | None = None
    speed: Speed = "adult"

    def __post_init__(self) -> None:
        if self.resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {self.resolution}")
        if self.mode not in (CROW_MODE, WALK_MODE):
            raise ValueError(f"mode must be 'crow' or 'walk', got {self.mode!r}")
        if self.minutes is not None and not 0 < self.minutes <= MAX_MINUTES:
            raise ValueError(f"minutes must be in (0, {MAX_MINUTES}], got {self.minutes}")


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
    ) -> None:
        """``gate`` is entered around every analysis and plan computed (not around answers
        from the caches): the API bounds how many run at once with it. ``network`` gives
        the walking network (``None``, or a loader with no extract: crow-fly only)."""
        self.store = store
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
        self.plan_cache: OnceCache[tuple[int, CoverageQuery, int, str | None], SitePlan] = (
            OnceCache(settings.cache_size)
        )

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
        its minutes were converted with (``None``: the metres setting was used)."""
        minutes = query.minutes
        if minutes is None and query.mode == WALK_MODE:
            minutes = DEFAULT_WALK_MINUTES
        if minutes is None:
            return self.catchment_m, None
        speed = speed_m_s(self.settings, query.speed)
        return walk_metres(minutes, speed), speed

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
        return _grid(self.city, self.settings.population_layer, resolution)

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
        self, query: CoverageQuery, k: int, district: str | None = None
    ) -> tuple[Analysis, SitePlan]:
        """``k`` candidate sites (MCLP) for ``query`` in ``district`` (``None``: the city),
        with the analysis they were chosen from (cached)."""
        self.check_district(district)
        if k < 1:
            raise ValueError("k must be >= 1")
        analysis = self.analysis(query)
        key = (analysis.data_version, query, k, district)
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
                )
            ),
        )
        return analysis, plan

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
        )
        # Providers counted in the district their point lies in, by the grid's own rule.
        supply = locate_supply(supply, districts_layer(self.city), _streets(self.city))
        measures = coverage_measures(
            grid.cells, grid.demand, supply, [query.category], catchment_m=catchment_m,
            nearest=nearest, pairs=pairs,
        )  # fmt: skip
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


_grid_cache: OnceCache[tuple[Path, Path | None, Path | None, int], Grid] = OnceCache(
    _GRID_CACHE_SIZE
)


def _grid(city: CitySettings, layer: Path | None, resolution: int) -> Grid:
    """The grid of ``city`` at ``resolution``, its demand from the population ``layer``
    (``None``: the census, spread evenly)."""

    def build() -> Grid:
        districts = _with_population(districts_layer(city), city.districts_layer)
        cells = city_grid(districts, resolution, _streets(city))
        if layer is None:
            return Grid(cells, demand_from_census(cells, districts), CENSUS_EVEN_SOURCE)
        demand = _operator_demand(cells, layer)
        return Grid(cells, demand, str(demand["demand_source"].iloc[0]))

    key = (city.districts_layer, city.streets_layer, layer, resolution)
    return _grid_cache.get(key, build)


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


_streets_cache: OnceCache[Path, gpd.GeoDataFrame] = OnceCache(2)


def _read_streets(path: Path) -> gpd.GeoDataFrame:
    return _streets_cache.get(path, lambda: gpd.read_file(path).to_crs("EPSG:4326"))


def _with_population(layer: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """The district polygons of ``path`` with their census ``population``.

    From the layer's own ``population`` property when it has one, else from a
    ``districts.csv`` beside it (``adcode`` or ``name``, and ``population``), as shipped in
    ``data/guangzhou``.
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
    merged = layer.merge(table[[key, "population"]], on=key, how="left")
    return gpd.GeoDataFrame(merged, geometry="geometry", crs="EPSG:4326")
