"""Her sites as a service: the office's candidate rooms, minus its exclusions, planned on the
coverage analysis of a query (walking or crow-fly) with the demand column it names."""

from __future__ import annotations

import functools
import threading
from collections.abc import Collection
from pathlib import Path

import h3
import pandas as pd

from gaps.demand import demand_column
from gaps.network import nearest_way_name
from gaps.network_sites import CandidatePlan, drop_excluded, plan_candidate_sites
from geo.crs import CRS
from ingest.candidate_sites import read_candidate_sites
from jzmap.application.coverage import Analysis, CoverageQuery, CoverageService
from jzmap.settings import CoverageSettings
from providers.errors import ConflictError, InvalidParameterError


def demand_series(analysis: Analysis, column: str | None) -> tuple[pd.Series, str]:
    """Demand per cell from the grid's demand table: ``column`` when given, else the
    category's own column (e.g. residents aged 60+ for elderly care) when the population
    layer has one, else all residents."""
    table = analysis.grid.demand
    category = analysis.query.category.value
    chosen = column or (category if category in table.columns else "residents")
    numeric = [c for c in table.columns if c != "cell" and pd.api.types.is_numeric_dtype(table[c])]
    if chosen not in numeric:
        raise InvalidParameterError.of(
            "demand", f"no demand column {chosen!r}", got=chosen, allowed=", ".join(numeric)
        )
    values = pd.Series(table[chosen].to_numpy(float), index=table["cell"].to_numpy())
    # The label names the population counted (aged_60_plus, residents), as the gap-cell plan's
    # does, not the category's copy of it.
    label = demand_column(table, analysis.query.category) if chosen == category else chosen
    return values, label


def candidate_plan(
    service: CoverageService,
    query: CoverageQuery,
    candidates: pd.DataFrame,
    k: int,
    *,
    district: str | None = None,
    excluded: Collection[str] = (),
    demand_column: str | None = None,
) -> tuple[Analysis, CandidatePlan]:
    """Up to ``k`` of ``candidates`` (not ``excluded`` by id or H3 cell) bringing the most
    demand within the query's catchment (walking or crow-fly), existing providers fixed
    (and, with ``JZMAP_RESIDENTS_PER_PRACTITIONER``, limited by their staff)."""
    service.check_district(district)
    if k < 1:
        raise ValueError("k must be >= 1")
    analysis = service.analysis(query)
    _, pairs = service.distance_functions(query)
    demand, label = demand_series(analysis, demand_column)
    resolution = query.resolution
    kept = drop_excluded(
        candidates, excluded, lambda lon, lat: h3.latlng_to_cell(lat, lon, resolution)
    )
    street_of = None
    if query.mode == "walk" and service.network is not None:
        street_of = functools.partial(nearest_way_name, service.network.require())
    with service.gate():
        plan = plan_candidate_sites(
            analysis.measures,
            kept,
            query.category,
            k,
            catchment_m=analysis.catchment_m,
            pairs=pairs,
            district=district,
            demand=demand,
            demand_label=label,
            time_limit_s=service.settings.solver_time_limit_s,
            street_of=street_of,
            existing=analysis.supply,
            residents_per_practitioner=service.settings.residents_per_practitioner,
        )
    return analysis, plan


class NoCandidatesError(ConflictError):
    """Candidate rooms asked for where the operator configured none (409)."""

    def __init__(self) -> None:
        super().__init__(
            "no candidate sites: the operator sets JZMAP_CANDIDATE_SITES to the office's "
            "candidate rooms (CSV, XLSX or GeoJSON with name, lon, lat); "
            "/v1/coverage/candidates proposes gap cells instead"
        )


_candidates_cache: dict[tuple[Path, int, CRS], pd.DataFrame] = {}
_candidates_lock = threading.Lock()


def configured_candidates(settings: CoverageSettings) -> pd.DataFrame:
    """The rooms of ``JZMAP_CANDIDATE_SITES``, read again only when the file changes."""
    path = settings.candidate_sites
    if path is None:
        raise NoCandidatesError()
    key = (path, path.stat().st_mtime_ns, settings.candidate_sites_crs)
    with _candidates_lock:
        if key not in _candidates_cache:
            _candidates_cache.clear()
            _candidates_cache[key] = read_candidate_sites(path, settings.candidate_sites_crs)
        return _candidates_cache[key]
