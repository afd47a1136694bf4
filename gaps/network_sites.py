"""Her own sites: choose among the district office's candidate rooms (社区用房) where new
stations would bring the most residents (e.g. aged 60+) within a walk, existing providers
kept fixed and each room's capacity respected.

A capacitated maximal covering location problem, solved by HiGHS as one sparse model (the same
model and time limit as :mod:`gaps.sites`). For gap cells ``i`` (not covered by any
existing provider: those stay fixed, so their residents cannot be covered "newly") with
demand ``w_i``, and candidate sites ``j`` with reach ``N_i`` (the candidates within the
catchment of cell ``i``, walking or crow-fly as the ``pairs`` function measures)::

    maximise    Σ_ij w_i x_ij
    subject to  Σ_j x_ij ≤ 1               each cell's demand is served once
                x_ij ≤ y_j,  j ∈ N_i        only by an open site in reach
                Σ_i w_i x_ij ≤ C_j y_j      within the site's capacity, where known
                Σ_j y_j ≤ k,  y binary, 0 ≤ x ≤ 1

Without capacities this is the classic MCLP. Two figures come out per site and for the
plan: the demand **newly within reach** (every gap cell in the catchment of a chosen site:
what the life circle covers) and the demand **served** (what the capacities let the sites
take on, ≤ the former).

With ``residents_per_practitioner`` the existing providers are in the model too, as open
sites (``y_j = 1``) that serve at most their practitioners × that
(:func:`gaps.sites.solve_capacitated`): a cell they cover is demand for what they cannot
serve, so a room beside an under-staffed provider may be worth opening, and a room's
**served** demand may exceed its demand newly within reach.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pulp

from gaps.distances import pairs_within
from gaps.measures import PairsFn
from gaps.sites import (
    GreedyOrder,
    capacity_summary,
    default_solver,
    existing_capacity,
    greedy_order,
    limited_demand,
    solve_capacitated,
    solve_mclp,
)
from providers.model import Category

# The columns a candidate-sites table has (``capacity``: residents it can serve; NaN when
# unknown, i.e. unbounded).
CANDIDATE_COLUMNS: tuple[str, ...] = ("id", "name", "lon", "lat", "address", "street", "capacity")
PLAN_SITE_COLUMNS: tuple[str, ...] = (
    "rank",
    "id",
    "name",
    "lon",
    "lat",
    "address",
    "street",
    "street_source",
    "capacity",
    "demand_in_reach",
    "demand_added",
    "demand_served",
    "cells_added",
)


@dataclass(frozen=True)
class CandidatePlan:
    """The chosen candidate sites (:data:`PLAN_SITE_COLUMNS`, greedy order: each site's
    ``demand_added`` is what it brings within reach after those ranked before it, so they
    sum to the plan's ``demand_newly_in_reach``) and a one-row ``summary``."""

    sites: pd.DataFrame
    summary: pd.DataFrame


def plan_candidate_sites(
    measures: pd.DataFrame,
    candidates: pd.DataFrame,
    category: Category,
    k: int,
    *,
    catchment_m: float,
    pairs: PairsFn = pairs_within,
    district: str | None = None,
    demand: pd.Series | None = None,
    demand_label: str = "residents",
    solver: pulp.LpSolver | None = None,
    time_limit_s: float | None = None,
    street_of: Callable[[npt.ArrayLike, npt.ArrayLike], list[str | None]] | None = None,
    existing: pd.DataFrame | None = None,
    residents_per_practitioner: float | None = None,
) -> CandidatePlan:
    """Choose up to ``k`` of ``candidates`` to bring the most demand within ``catchment_m``.

    Parameters
    ----------
    measures
        Per-cell measures (``category``, ``cell``, ``lon``, ``lat``, ``district``,
        ``residents``, ``covered``), as :func:`gaps.measures.coverage_measures` makes them
        with the same distance model as ``pairs``.
    candidates
        The sites to choose among (:data:`CANDIDATE_COLUMNS`; ``address``, ``street`` and
        ``capacity`` may be missing), already without excluded ones.
    category, k
        The category planned for and the most sites to open.
    catchment_m
        How far (metres walked or crow-fly, as ``pairs`` measures) a site reaches.
    pairs
        The (cell, site) pairs within reach: geodesic by default, walking with
        :func:`gaps.network.network_pairs_within` bound to a network.
    district
        Only this district's cells are demand (candidates anywhere may serve them).
    demand
        Demand per cell (indexed by ``cell``), e.g. residents aged 60+; default the
        measures' ``residents``. Only cells not covered count.
    demand_label
        What ``demand`` is, for the summary (e.g. a population column's name).
    solver, time_limit_s
        As :func:`gaps.sites.candidate_sites`.
    existing, residents_per_practitioner
        As :func:`gaps.sites.candidate_sites`: the existing providers' staff limit what
        they serve (the summary adds ``capacity_limited``, ``residents_per_practitioner``,
        ``existing_providers``, ``existing_unlimited``, ``demand_served_by_existing_before``
        and ``_after``; without capacities both are ``demand_covered_before``).
    street_of
        Names the street nearest to points (e.g. :func:`gaps.network.nearest_way_name`
        bound to a network): fills ``street`` where the candidates file has none.

    Examples
    --------
    Three gap cells in a row 800 m apart; a room beside the middle one reaches all three,
    but can serve only 450 residents; a room by the first reaches it alone:

    >>> from pyproj import Geod
    >>> lon, lat, _ = Geod(ellps="WGS84").fwd([113.3] * 3, [23.1] * 3, [90] * 3,
    ...                                       [0, 800, 1600])
    >>> m = pd.DataFrame({"category": "elderly_care", "cell": [1, 2, 3], "lon": lon,
    ...     "lat": lat, "district": "甲区", "residents": [100.0, 200.0, 300.0],
    ...     "covered": False})
    >>> rooms = pd.DataFrame({"id": ["a", "b"], "name": ["甲社区用房", "乙社区用房"],
    ...     "lon": [lon[1], lon[0]], "lat": [lat[1], lat[0]], "capacity": [450.0, np.nan]})
    >>> plan = plan_candidate_sites(m, rooms, Category.ELDERLY_CARE, 1, catchment_m=1000)
    >>> plan.sites[["id", "demand_in_reach", "demand_served"]].to_dict("records")
    [{'id': 'a', 'demand_in_reach': 600.0, 'demand_served': 450.0}]
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    sub = measures.loc[measures["category"].astype(object) == category.value]
    if district is not None:
        sub = sub.loc[sub["district"].astype(object) == district]
    sub = sub.reset_index(drop=True)
    if demand is None:
        weight = sub["residents"].to_numpy(np.float64)
    else:
        weight = demand.reindex(sub["cell"].to_numpy()).fillna(0.0).to_numpy(np.float64)
    covered = sub["covered"].to_numpy(bool)
    lon = sub["lon"].to_numpy(np.float64)
    lat = sub["lat"].to_numpy(np.float64)
    cand = _candidates(candidates)
    c_lon = cand["lon"].to_numpy(np.float64)
    c_lat = cand["lat"].to_numpy(np.float64)
    capacity = cand["capacity"].to_numpy(np.float64)
    ex_capacity = existing_capacity(existing, residents_per_practitioner)
    if solver is None:
        solver = default_solver(time_limit_s)
    else:
        time_limit_s = getattr(solver, "timeLimit", None)
    before = float(weight[covered].sum())
    if np.isfinite(ex_capacity).any():
        assert existing is not None  # a capacity comes from an existing provider
        lim = limited_demand(
            lon, lat, weight, existing, ex_capacity, catchment_m=catchment_m, pairs=pairs
        )
        cells = lim.cells
        w = weight[cells]
        dem, site, _ = pairs(lon[cells], lat[cells], c_lon, c_lat, catchment_m)
        solved = solve_capacitated(
            w, cand_dem=dem, cand_site=site, cand_capacity=capacity,
            ex_dem=lim.ex_dem, ex_site=lim.ex_site, ex_capacity=ex_capacity, k=k, solver=solver,
        )  # fmt: skip
        chosen, served, status, opt_gap = solved.chosen, solved.served, solved.status, solved.gap
        by_existing = (solved.existing_before, solved.existing_after)
        # Ranked by the gap demand each brings newly within reach, as without capacities.
        in_gap = ~covered[cells][dem]
        ranked = greedy_order(dem[in_gap], site[in_gap], w, chosen)
    else:
        gap = np.nonzero(~covered & (weight > 0))[0]
        dem, site, _ = pairs(lon[gap], lat[gap], c_lon, c_lat, catchment_m)
        w = weight[gap]
        chosen, served, status, opt_gap = _solve(
            dem, site, w, capacity=capacity, k=k, solver=solver
        )
        # Without a limit an existing provider serves every resident it reaches.
        by_existing = (before, before)
        ranked = greedy_order(dem, site, w, chosen)
    sites = _site_rows(cand, chosen[ranked.order], ranked, served, street_of=street_of)
    total = float(weight.sum())
    newly = float(sites["demand_added"].sum())
    summary = pd.DataFrame(
        [
            {
                "category": category.value,
                "district": district,
                "k": k,
                "sites": len(sites),
                "demand": demand_label,
                "catchment_m": float(catchment_m),
                "solver": type(solver).__name__,
                "status": status,
                "optimality_gap": opt_gap,
                "time_limit_s": np.nan if time_limit_s is None else float(time_limit_s),
                "candidates": len(cand),
                "demand_total": total,
                "demand_covered_before": before,
                "demand_newly_in_reach": newly,
                "demand_served": float(sites["demand_served"].sum()),
                "share_covered_before": before / total if total > 0 else np.nan,
                "share_covered_after": (before + newly) / total if total > 0 else np.nan,
                **capacity_summary(existing, ex_capacity, residents_per_practitioner),
                "demand_served_by_existing_before": by_existing[0],
                "demand_served_by_existing_after": by_existing[1],
            }
        ]
    )
    return CandidatePlan(sites=sites, summary=summary)


def drop_excluded(
    candidates: pd.DataFrame, excluded: Collection[str], cell_of: Callable[[float, float], str]
) -> pd.DataFrame:
    """``candidates`` without those whose ``id`` is listed or whose point lies in a listed
    cell (``cell_of`` names a point's cell, e.g. its H3 id at the analysis' resolution).

    >>> rooms = pd.DataFrame({"id": ["a", "b", "c"], "lon": [1.0, 2.0, 3.0], "lat": 0.0})
    >>> drop_excluded(rooms, {"a", "cell-3"}, lambda lon, lat: f"cell-{lon:.0f}")["id"].tolist()
    ['b']
    """
    if not excluded or candidates.empty:
        return candidates
    wanted = {str(e).strip() for e in excluded}
    ids = candidates["id"].astype(str).to_numpy()
    cells = [
        cell_of(x, y)
        for x, y in zip(candidates["lon"].tolist(), candidates["lat"].tolist(), strict=True)
    ]
    keep = [i not in wanted and c not in wanted for i, c in zip(ids, cells, strict=True)]
    return candidates.loc[keep].reset_index(drop=True)


def _candidates(table: pd.DataFrame) -> pd.DataFrame:
    out = table.reset_index(drop=True).copy()
    for column in CANDIDATE_COLUMNS:
        if column not in out.columns:
            out[column] = np.nan if column == "capacity" else None
    out["capacity"] = pd.to_numeric(out["capacity"], errors="coerce").astype(np.float64)
    return out[list(CANDIDATE_COLUMNS)]


def _solve(
    dem: npt.NDArray[np.int64],
    site: npt.NDArray[np.int64],
    w: npt.NDArray[np.float64],
    *,
    capacity: npt.NDArray[np.float64],
    k: int,
    solver: pulp.LpSolver,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], str, float]:
    """The chosen sites, the demand each serves, the solver's status and proven gap."""
    served = np.zeros(capacity.size, dtype=np.float64)
    if dem.size == 0:
        return np.empty(0, dtype=np.int64), served, "nothing to solve", 0.0
    chosen, status, gap, _, values = solve_mclp(w, dem, site, capacity, k=k, solver=solver)
    np.add.at(served, site, w[dem] * values)
    return chosen, served, status, gap


def _site_rows(
    cand: pd.DataFrame,
    order: npt.NDArray[np.int64],
    ranked: GreedyOrder,
    served: npt.NDArray[np.float64],
    *,
    street_of: Callable[[npt.ArrayLike, npt.ArrayLike], list[str | None]] | None,
) -> pd.DataFrame:
    """The chosen candidates ``order`` (ranked: :func:`gaps.sites.greedy_order`), with
    ``served`` per candidate id."""
    rows = cand.iloc[order].reset_index(drop=True)
    street = rows["street"].astype(object).to_numpy()
    missing = np.asarray(pd.isna(street), dtype=bool)
    source = np.array([None if gone else "file" for gone in missing.tolist()], dtype=object)
    if street_of is not None and missing.any():
        street = street.copy()
        street[missing] = street_of(rows["lon"][missing], rows["lat"][missing])
        source[missing & ~pd.isna(street)] = "nearest way (OpenStreetMap)"
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(order) + 1, dtype=np.int64),
            "id": rows["id"].astype(object).to_numpy(),
            "name": rows["name"].astype(object).to_numpy(),
            "lon": rows["lon"].to_numpy(np.float64),
            "lat": rows["lat"].to_numpy(np.float64),
            "address": rows["address"].astype(object).to_numpy(),
            "street": street,
            "street_source": source,
            "capacity": rows["capacity"].to_numpy(np.float64),
            "demand_in_reach": ranked.in_reach,
            "demand_added": ranked.added,
            "demand_served": served[order],
            "cells_added": ranked.cells_added,
        },
        columns=list(PLAN_SITE_COLUMNS),
    )
