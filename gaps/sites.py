"""Candidate sites for new stations: maximal covering location (MCLP) among the gap cells.

The model is PySAL ``spopt``'s :class:`spopt.locate.MCLP` (Church & ReVelle): choose ``k``
sites so that the residents of the gap cells within the catchment of at least one of them
is as large as possible. Demand is the gap cells only (cells already covered cannot be
covered "newly"), sites are gap-cell centres, and coverage is geodesic metres from the
site to the cell centre, as everywhere else.

It is solved through PuLP with **HiGHS** (the ``highspy`` wheel from PyPI, which carries
the solver itself: nothing to download or compile), with a zero optimality gap, one
thread, and a time limit when one is given (the API always gives one:
``JZMAP_SOLVER_TIME_LIMIT_S``). A search stopped by the limit answers with the best plan it
found and says so: ``status`` is HiGHS's "Time limit reached" and ``optimality_gap`` the
relative gap between that plan and the best bound proven (0 for a proven optimum); if it
found no plan at all, the sites are the greedy ones (each adds the most residents given
those before it) and the gap is unknown (NaN). PuLP 3's bundled CBC also runs on this
machine; HiGHS is the default because it is an ordinary dependency rather than a binary
PuLP may stop bundling. Any PuLP solver can be passed instead.

``spopt`` builds its model from a dense cost matrix with one PuLP term per (demand,
site) pair, in Python, so the problem is bounded: the ``max_candidates`` gap cells that
alone would cover the most residents are kept (all of them when there are fewer), and only
the demand cells some kept site reaches enter the model. In the demo city (elderly care,
resolution 9) an urban district such as 白云区 has ~130 gap cells, all kept; rural 从化区
has ~15,000, and then the answer is the best among the 150 strongest (1-2 s to solve), an
approximation the summary reports through ``candidates_considered``.

**Existing providers' capacities.** Above, an existing provider covers every cell in its
catchment in full, however few its staff. Given how many residents one practitioner serves
(``residents_per_practitioner``, the API's ``JZMAP_RESIDENTS_PER_PRACTITIONER``), a provider
serves at most its practitioners × that, and the plan is the capacitated MCLP with the
existing providers as fixed open sites (:func:`solve_capacitated`, one sparse HiGHS model):
cells a provider with no staff figure reaches are served in full (as without capacities,
and the summary counts those providers), every other populated cell is demand, and sites
may go beside an under-staffed provider. The summary then gives the demand the existing
providers serve before (the LP with no new sites) and after, and each site what it newly
serves. Unset, or no provider with a staff figure, the answer is exactly the one above.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pulp
from scipy.sparse import coo_matrix

from gaps.distances import pairs_within
from gaps.measures import DEFAULT_CATCHMENT_M, PairsFn
from providers.model import Category

DEFAULT_MAX_CANDIDATES = 150

SITE_COLUMNS: tuple[str, ...] = (
    "rank",
    "cell",
    "lon",
    "lat",
    "district",
    "street",
    "residents_in_reach",
    "residents_added",
    "cells_added",
    "residents_served",
)


@dataclass(frozen=True)
class SitePlan:
    """Chosen sites and what they change.

    Attributes
    ----------
    sites
        One row per chosen site (:data:`SITE_COLUMNS`), in the order a greedy pass would
        add them: ``residents_in_reach`` counts the gap residents the site covers on its
        own; ``residents_added`` what it adds after the sites ranked before it (so these
        sum to the residents newly covered); ``cells_added`` likewise for gap cells;
        ``residents_served`` what it newly serves (with existing providers' capacities,
        also in cells they cover but cannot serve in full).
    summary
        One row: ``category``, ``district`` (``None`` for the whole grid), ``k``,
        ``sites``, ``solver``, ``status``, ``optimality_gap`` (relative, 0 when proven
        optimal, NaN when unknown), ``time_limit_s`` (NaN: none), ``candidates`` (gap cells),
        ``candidates_considered``, ``cells``, ``cells_covered_before``,
        ``cells_covered_after``, ``residents``, ``residents_covered_before``,
        ``residents_covered_after``, ``share_covered_before``, ``share_covered_after``
        and ``residents_newly_covered``; the capacity figures ``capacity_limited``,
        ``residents_per_practitioner`` (NaN: unset), ``existing_providers``,
        ``existing_unlimited`` (those serving everyone they reach: no staff figure, or
        all without capacities), ``residents_served_by_existing_before`` and ``_after``
        (both ``residents_covered_before`` without capacities) and
        ``residents_newly_served`` (the sites' ``residents_served``: without capacities
        their ``residents_added``).
    """

    sites: pd.DataFrame
    summary: pd.DataFrame


GREEDY_STATUS_SUFFIX = "; greedy sites"


def default_solver(time_limit_s: float | None = None) -> pulp.LpSolver:
    """HiGHS through ``highspy``: exact (zero gap) unless stopped by ``time_limit_s``,
    quiet, one thread."""
    return pulp.HiGHS(msg=False, gapRel=0.0, threads=1, timeLimit=time_limit_s)


def candidate_sites(
    measures: pd.DataFrame,
    category: Category,
    k: int,
    *,
    catchment_m: float = DEFAULT_CATCHMENT_M,
    district: str | None = None,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    solver: pulp.LpSolver | None = None,
    time_limit_s: float | None = None,
    pairs: PairsFn = pairs_within,
    excluded_cells: Collection[int] = (),
    existing: pd.DataFrame | None = None,
    residents_per_practitioner: float | None = None,
) -> SitePlan:
    """Pick ``k`` new station sites among the gap cells, maximising residents newly covered.

    Parameters
    ----------
    measures
        Per-cell measures with ``category``, ``cell``, ``lon``, ``lat``, ``district``,
        ``street``, ``residents``, ``covered`` and ``gap``, e.g. from
        :func:`gaps.measures.coverage_measures`.
    category
        The category to plan for.
    k
        How many sites (fewer when there are fewer gap cells).
    catchment_m
        The catchment a new site covers; use the one the measures were made with.
    district
        Plan for this district's cells only (demand and sites); ``None`` for all.
    max_candidates
        The most gap cells offered to the solver as sites (see the module notes).
    solver
        A PuLP solver; default :func:`default_solver` with ``time_limit_s``.
    time_limit_s
        The longest the default solver searches (``None``: until proven optimal); ignored
        when ``solver`` is given (set its own limit).
    pairs
        Which (cell, site) pairs are within ``catchment_m``: geodesic by default, walking
        over a street network with :func:`gaps.network.network_pairs_within` bound to it.
    excluded_cells
        Cells (H3 ids as integers) never proposed as sites (the office knows they cannot
        take one); their residents still count as demand.
    existing
        The existing providers of the measures (``lon``, ``lat``, ``practitioners``, e.g.
        :func:`gaps.supply.suitable_supply`'s rows of ``category``): with
        ``residents_per_practitioner`` each serves at most its practitioners × that many
        residents (one with no staff figure: everyone it reaches, as without it).
    residents_per_practitioner
        How many of the demand one practitioner serves. ``None`` (or no provider with
        staff on file): an existing provider serves every resident it reaches, and the
        plan is today's MCLP on the gap cells. Set: the capacitated MCLP with the existing
        providers as fixed open sites (:func:`solve_capacitated`); the candidates are every
        populated cell no unlimited provider reaches, the strongest first by the demand
        they reach that the existing providers leave unserved.

    Returns
    -------
    SitePlan
        The sites and the before/after summary.

    Examples
    --------
    Three gap cells on a line 800 m apart (the middle one reaches both others) and one
    covered cell: one site in the middle covers all 600 residents in gaps.

    >>> from pyproj import Geod
    >>> lon, lat, _ = Geod(ellps="WGS84").fwd([113.3] * 4, [23.1] * 4, [90] * 4,
    ...                                       [0, 800, 1600, 5000])
    >>> m = pd.DataFrame({"category": "nursing", "cell": [1, 2, 3, 4], "lon": lon, "lat": lat,
    ...     "district": "甲区", "street": None, "residents": [100.0, 200.0, 300.0, 400.0],
    ...     "covered": [False, False, False, True], "gap": [True, True, True, False]})
    >>> plan = candidate_sites(m, Category.NURSING, k=1)
    >>> plan.sites[["cell", "residents_added"]].to_dict("records")
    [{'cell': 2, 'residents_added': 600.0}]
    >>> plan.summary[["share_covered_before", "share_covered_after"]].to_dict("records")
    [{'share_covered_before': 0.4, 'share_covered_after': 1.0}]

    Capacities. A provider with 2 practitioners 300 m west of cell 1 (600 residents),
    whose gap neighbours 2 (900 m east, 50) and 3 (1,800 m, 30) it does not reach; far
    east, cells 4 and 5 (150 each) reach each other. Without capacities the provider
    covers all 600 and a site at 4 covers the most (300):

    >>> lon, lat, _ = Geod(ellps="WGS84").fwd([113.3] * 5, [23.1] * 5, [90] * 5,
    ...                                       [0, 900, 1800, 5000, 5800])
    >>> m = pd.DataFrame({"category": "nursing", "cell": [1, 2, 3, 4, 5], "lon": lon,
    ...     "lat": lat, "district": "甲区", "street": None,
    ...     "residents": [600.0, 50.0, 30.0, 150.0, 150.0],
    ...     "covered": [True, False, False, False, False], "gap": [False, True, True, True, True]})
    >>> p_lon, p_lat, _ = Geod(ellps="WGS84").fwd(113.3, 23.1, 270, 300)
    >>> staff = pd.DataFrame({"lon": [p_lon], "lat": [p_lat], "practitioners": [2]})
    >>> candidate_sites(m, Category.NURSING, k=1, existing=staff).sites["cell"].tolist()
    [4]

    At 100 residents a practitioner it serves 200 of the 600: a site at cell 2 serves the
    other 400 and its neighbours' 80, more than the 300 far east.

    >>> plan = candidate_sites(m, Category.NURSING, k=1, existing=staff,
    ...                        residents_per_practitioner=100)
    >>> plan.sites[["cell", "residents_added", "residents_served"]].to_dict("records")
    [{'cell': 2, 'residents_added': 80.0, 'residents_served': 480.0}]
    >>> plan.summary[["residents_served_by_existing_before",
    ...               "residents_served_by_existing_after"]].to_dict("records")
    [{'residents_served_by_existing_before': 200.0, 'residents_served_by_existing_after': 200.0}]
    """
    if k < 0:
        raise ValueError("k must be >= 0")
    if max_candidates < 1:
        raise ValueError("max_candidates must be >= 1")
    sub = measures.loc[measures["category"].astype(object) == category.value]
    if district is not None:
        sub = sub.loc[sub["district"].astype(object) == district]
    sub = sub.reset_index(drop=True)
    residents = sub["residents"].to_numpy(np.float64)
    covered = sub["covered"].to_numpy(bool)
    lon = sub["lon"].to_numpy(np.float64)
    lat = sub["lat"].to_numpy(np.float64)
    gap_pos = np.nonzero(sub["gap"].to_numpy(bool))[0]
    ex_capacity = existing_capacity(existing, residents_per_practitioner)
    excluded = np.fromiter(excluded_cells, np.int64)
    if solver is None:
        solver = default_solver(time_limit_s)
    else:
        time_limit_s = getattr(solver, "timeLimit", None)

    if np.isfinite(ex_capacity).any():
        assert existing is not None  # a capacity comes from an existing provider
        capped = _capacitated_sites(
            sub, existing, ex_capacity, k=k, catchment_m=catchment_m,
            max_candidates=max_candidates, solver=solver, pairs=pairs, excluded=excluded,
        )  # fmt: skip
        chosen_rows, sites, status, gap = capped.rows, capped.sites, capped.status, capped.gap
        candidates, considered = capped.candidates, capped.considered
        served = (capped.existing_before, capped.existing_after)
    else:
        # Who each gap cell (as a site) reaches among the gap cells (as demand).
        dem, site, _ = pairs(lon[gap_pos], lat[gap_pos], lon[gap_pos], lat[gap_pos], catchment_m)
        reach = np.bincount(site, weights=residents[gap_pos][dem], minlength=gap_pos.size)
        by_reach = np.lexsort((sub["cell"].to_numpy()[gap_pos], -reach))
        may_host = ~np.isin(sub["cell"].to_numpy()[gap_pos], excluded)
        by_reach = by_reach[may_host[by_reach]]
        kept = by_reach[:max_candidates]
        is_kept = np.zeros(gap_pos.size, dtype=bool)
        is_kept[kept] = True
        use = is_kept[site]
        dem, site = dem[use], site[use]
        solved = _solve(
            dem, site, residents[gap_pos], kept, k=k, catchment_m=catchment_m, solver=solver
        )
        chosen, status, gap = solved.chosen, solved.status, solved.gap
        if solved.found_nothing:
            chosen = kept[
                greedy_order(dem, site, residents[gap_pos], kept, k, stop_at_nothing=True).order
            ]
            status += GREEDY_STATUS_SUFFIX
        ranked = greedy_order(dem, site, residents[gap_pos], chosen)
        chosen_rows = gap_pos[chosen[ranked.order]]
        sites = _site_table(sub, chosen_rows, ranked, ranked.added)
        candidates, considered = int(may_host.sum()), int(kept.size)
        # Without a limit an existing provider serves every resident it reaches.
        served = (float(residents[covered].sum()),) * 2

    # After: every uncovered cell (populated or not) within reach of a new site.
    uncovered = np.nonzero(~covered)[0]
    reached = np.zeros(len(sub), dtype=bool)
    if chosen_rows.size and uncovered.size:
        u, _, _ = pairs(
            lon[uncovered], lat[uncovered], lon[chosen_rows], lat[chosen_rows], catchment_m
        )
        reached[uncovered[u]] = True
    after = covered | reached
    total = float(residents.sum())
    before_res = float(residents[covered].sum())
    after_res = float(residents[after].sum())
    summary = pd.DataFrame(
        [
            {
                "category": category.value,
                "district": district,
                "k": k,
                "sites": int(chosen_rows.size),
                "solver": type(solver).__name__,
                "status": status,
                "optimality_gap": gap,
                "time_limit_s": np.nan if time_limit_s is None else float(time_limit_s),
                "candidates": candidates,
                "candidates_considered": considered,
                "cells": len(sub),
                "cells_covered_before": int(covered.sum()),
                "cells_covered_after": int(after.sum()),
                "residents": total,
                "residents_covered_before": before_res,
                "residents_covered_after": after_res,
                "share_covered_before": before_res / total if total > 0 else np.nan,
                "share_covered_after": after_res / total if total > 0 else np.nan,
                "residents_newly_covered": after_res - before_res,
                **capacity_summary(existing, ex_capacity, residents_per_practitioner),
                "residents_served_by_existing_before": served[0],
                "residents_served_by_existing_after": served[1],
                "residents_newly_served": float(sites["residents_served"].sum()),
            }
        ]
    )
    return SitePlan(sites=sites, summary=summary)


def capacity_summary(
    existing: pd.DataFrame | None,
    capacity: npt.NDArray[np.float64],
    residents_per_practitioner: float | None,
) -> dict[str, object]:
    """The plan's capacity figures: whether existing providers' capacities limited it,
    the demand one practitioner serves, and the existing providers with and without a
    limit (those with no staff figure serve everyone they reach, as without the setting)."""
    limited = bool(np.isfinite(capacity).any())
    return {
        "capacity_limited": limited,
        "residents_per_practitioner": (
            np.nan if residents_per_practitioner is None else float(residents_per_practitioner)
        ),
        "existing_providers": 0 if existing is None else len(existing),
        "existing_unlimited": int((~np.isfinite(capacity)).sum()),
    }


@dataclass(frozen=True)
class _CapacitatedSites:
    rows: npt.NDArray[np.int64]  # positions in ``sub`` of the chosen sites, ranked
    sites: pd.DataFrame
    status: str
    gap: float
    candidates: int
    considered: int
    existing_before: float
    existing_after: float


def _capacitated_sites(
    sub: pd.DataFrame,
    existing: pd.DataFrame,
    ex_capacity: npt.NDArray[np.float64],
    *,
    k: int,
    catchment_m: float,
    max_candidates: int,
    solver: pulp.LpSolver,
    pairs: PairsFn,
    excluded: npt.NDArray[np.int64],
) -> _CapacitatedSites:
    """:func:`candidate_sites` when existing providers' capacities are known."""
    residents = sub["residents"].to_numpy(np.float64)
    lon = sub["lon"].to_numpy(np.float64)
    lat = sub["lat"].to_numpy(np.float64)
    gap = sub["gap"].to_numpy(bool)
    lim = limited_demand(
        lon, lat, residents, existing, ex_capacity, catchment_m=catchment_m, pairs=pairs
    )
    d_pos, ex_dem, ex_site = lim.cells, lim.ex_dem, lim.ex_site
    w = residents[d_pos]
    # The baseline: what the existing providers serve alone, and what they leave.
    before, x = _allocate(w, (ex_dem, ex_site, ex_capacity), None)
    unserved = w - np.bincount(ex_dem, weights=w[ex_dem] * x, minlength=w.size)
    # Candidate sites: every demand cell, the strongest first by the unserved demand they
    # reach (then all demand in reach, then cell id), at most max_candidates of them.
    dem, site, _ = pairs(lon[d_pos], lat[d_pos], lon[d_pos], lat[d_pos], catchment_m)
    reach_unserved = np.bincount(site, weights=np.maximum(unserved, 0.0)[dem], minlength=w.size)
    reach = np.bincount(site, weights=w[dem], minlength=w.size)
    by_reach = np.lexsort((sub["cell"].to_numpy()[d_pos], -reach, -reach_unserved))
    may_host = ~np.isin(sub["cell"].to_numpy()[d_pos], excluded)
    kept = by_reach[may_host[by_reach]][:max_candidates]
    is_kept = np.zeros(w.size, dtype=bool)
    is_kept[kept] = True
    use = is_kept[site]
    solved = solve_capacitated(
        w, cand_dem=dem[use], cand_site=site[use], cand_capacity=np.full(w.size, np.nan),
        ex_dem=ex_dem, ex_site=ex_site, ex_capacity=ex_capacity, k=k, solver=solver,
        baseline=before,
    )  # fmt: skip
    # Ranked as without capacities: by the gap residents each brings newly within reach.
    in_gap = gap[d_pos][dem]
    ranked = greedy_order(dem[in_gap], site[in_gap], w, solved.chosen)
    chosen = solved.chosen[ranked.order]
    rows = d_pos[chosen]
    return _CapacitatedSites(
        rows=rows,
        sites=_site_table(sub, rows, ranked, solved.served[chosen]),
        status=solved.status,
        gap=solved.gap,
        candidates=int(may_host.sum()),
        considered=int(kept.size),
        existing_before=solved.existing_before,
        existing_after=solved.existing_after,
    )


@dataclass(frozen=True)
class _Solved:
    chosen: npt.NDArray[np.int64]  # gap positions of the chosen sites
    status: str
    gap: float  # relative optimality gap; NaN when unknown
    found_nothing: bool = False  # stopped (time limit) before any plan was found


def _solve(
    dem: npt.NDArray[np.int64],
    site: npt.NDArray[np.int64],
    gap_residents: npt.NDArray[np.float64],
    kept: npt.NDArray[np.int64],
    *,
    k: int,
    catchment_m: float,
    solver: pulp.LpSolver,
) -> _Solved:
    """The chosen gap positions, the solver's status and the gap it proved."""
    clients = np.unique(dem)
    p = min(k, kept.size)
    if p == 0 or clients.size == 0:
        return _Solved(np.empty(0, dtype=np.int64), "nothing to solve", 0.0)
    client_row = np.full(gap_residents.size, -1, dtype=np.int64)
    client_row[clients] = np.arange(clients.size)
    site_col = np.full(gap_residents.size, -1, dtype=np.int64)
    site_col[kept] = np.arange(kept.size)
    # Imported here, not at the top: spopt pulls in libpysal, whose optional database
    # reader imports SQLAlchemy whenever it is installed, and importing the domain must
    # not load a database toolkit (tests/test_model.py). It also takes ~1 s to import.
    from spopt.locate import MCLP

    # spopt wants a dense matrix; "not within the catchment" is any cost above the radius.
    cost = np.full((clients.size, kept.size), np.inf)
    cost[client_row[dem], site_col[site]] = 0.0
    model = MCLP.from_cost_matrix(
        cost, gap_residents[clients], service_radius=catchment_m, p_facilities=p
    )
    # spopt's own solve() raises when a time limit stops the search before any plan, and
    # builds result tables with Python loops over the dense matrix: solve its problem.
    problem = model.problem
    problem.solve(solver)
    values = np.array([v.value() or 0.0 for v in model.fac_vars], dtype=np.float64)
    chosen = kept[values > 0.5]
    status, gap = _status(problem)
    found_nothing = problem.sol_status not in (
        pulp.LpSolutionOptimal,
        pulp.LpSolutionIntegerFeasible,
    )
    return _Solved(chosen, status, gap, found_nothing)


def greedy_order(
    dem: npt.NDArray[np.int64],
    site: npt.NDArray[np.int64],
    w: npt.NDArray[np.float64],
    pool: npt.NDArray[np.int64],
    k: int | None = None,
    *,
    stop_at_nothing: bool = False,
) -> GreedyOrder:
    """Order ``pool``'s sites greedily: each next adds the most demand not yet in reach.

    The one greedy step of both planners: it picks the sites of a plan stopped before any
    was found (``k`` of the candidates, ``stop_at_nothing``: none adding nothing) and ranks
    a plan's chosen sites so that each one's addition is well defined.

    Parameters
    ----------
    dem, site
        The (demand cell, site) pairs within reach: positions into ``w`` and site ids.
    w
        Demand per cell (e.g. residents).
    pool
        The site ids to order; ties go to the earlier in ``pool``.
    k
        The most sites to take (``None``: all of ``pool``).
    stop_at_nothing
        Stop before a site that would add no demand.

    Returns
    -------
    GreedyOrder
        Positions into ``pool`` in greedy order, with each site's demand in reach on its
        own, its addition after those before, and the cells it adds.

    Examples
    --------
    Sites 7 and 9 both reach cell 0; only 9 reaches cell 1:

    >>> o = greedy_order(np.array([0, 0, 1]), np.array([7, 9, 9]), np.array([5.0, 3.0]),
    ...                  np.array([7, 9]))
    >>> o.order.tolist(), o.in_reach.tolist(), o.added.tolist(), o.cells_added.tolist()
    ([1, 0], [8.0, 5.0], [8.0, 0.0], [2, 0])
    """
    pool = np.asarray(pool, dtype=np.int64)
    n = min(pool.size if k is None else k, pool.size)
    if n <= 0:
        return GreedyOrder(np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, np.int64))
    slot = np.full(int(max(pool.max(), site.max(initial=-1))) + 1, -1, dtype=np.int64)
    slot[pool] = np.arange(pool.size)
    mine = slot[site] >= 0
    cell, at_site = dem[mine], slot[site[mine]]
    # Sums in pair order (bincount), as the planners add up what sites serve.
    in_reach = np.bincount(at_site, weights=w[cell], minlength=pool.size).astype(np.float64)
    taken = np.zeros(w.size, dtype=bool)
    used = np.zeros(pool.size, dtype=bool)
    order: list[int] = []
    added: list[float] = []
    cells: list[int] = []
    for _ in range(n):
        new = ~taken[cell]
        gains = np.bincount(at_site[new], weights=w[cell[new]], minlength=pool.size).astype(
            np.float64
        )
        gains[used] = -np.inf
        best = int(np.argmax(gains))  # argmax: ties to the earlier in the pool
        if stop_at_nothing and gains[best] <= 0:
            break
        fresh = np.unique(cell[new & (at_site == best)])
        order.append(best)
        added.append(float(gains[best]))
        cells.append(int(fresh.size))
        taken[fresh] = True
        used[best] = True
    at = np.asarray(order, dtype=np.int64)
    return GreedyOrder(at, in_reach[at], np.asarray(added, np.float64), np.asarray(cells, np.int64))


@dataclass(frozen=True)
class GreedyOrder:
    """What :func:`greedy_order` answers: ``order`` (positions into its pool),
    ``in_reach``, ``added`` and ``cells_added`` per site in that order."""

    order: npt.NDArray[np.int64]
    in_reach: npt.NDArray[np.float64]
    added: npt.NDArray[np.float64]
    cells_added: npt.NDArray[np.int64]


def _site_table(
    sub: pd.DataFrame,
    rows: npt.NDArray[np.int64],
    ranked: GreedyOrder,
    served: npt.NDArray[np.float64],
) -> pd.DataFrame:
    """The chosen sites: ``rows`` of ``sub`` in ``ranked``'s order, ``served`` likewise."""
    picked = sub.iloc[rows]
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(rows) + 1, dtype=np.int64),
            "cell": picked["cell"].to_numpy(),
            "lon": picked["lon"].to_numpy(np.float64),
            "lat": picked["lat"].to_numpy(np.float64),
            "district": picked["district"].astype(object).to_numpy(),
            "street": picked["street"].astype(object).to_numpy(),
            "residents_in_reach": ranked.in_reach,
            "residents_added": ranked.added,
            "cells_added": ranked.cells_added,
            "residents_served": np.asarray(served, dtype=np.float64),
        }
    )


def existing_capacity(
    existing: pd.DataFrame | None, residents_per_practitioner: float | None
) -> npt.NDArray[np.float64]:
    """What each existing provider can serve: its practitioners × the demand one serves;
    NaN (no limit) without a staff figure (0 practitioners on file) or without the figure
    per practitioner.

    >>> existing_capacity(pd.DataFrame({"practitioners": [2, 0]}), 100.0).tolist()
    [200.0, nan]
    >>> existing_capacity(pd.DataFrame({"practitioners": [2, 0]}), None).tolist()
    [nan, nan]
    """
    if existing is None:
        return np.empty(0, dtype=np.float64)
    staff = pd.to_numeric(existing["practitioners"], errors="coerce").to_numpy(np.float64)
    if residents_per_practitioner is None:
        return np.full(staff.size, np.nan)
    return np.where(staff > 0, staff * float(residents_per_practitioner), np.nan)


@dataclass(frozen=True)
class LimitedDemand:
    """The demand left for new sites when existing providers' staff limit what they serve
    (:func:`limited_demand`).

    ``cells``: positions (into the cells given) that are demand; ``ex_dem``, ``ex_site``:
    the pairs (position into ``cells``, existing provider) within reach, the providers
    with a limit only.
    """

    cells: npt.NDArray[np.int64]
    ex_dem: npt.NDArray[np.int64]
    ex_site: npt.NDArray[np.int64]


def limited_demand(
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    weight: npt.NDArray[np.float64],
    existing: pd.DataFrame,
    ex_capacity: npt.NDArray[np.float64],
    *,
    catchment_m: float,
    pairs: PairsFn,
) -> LimitedDemand:
    """Which cells are demand when existing providers serve at most ``ex_capacity``.

    A provider with no staff figure (NaN capacity) serves everyone it reaches, as without
    capacities: the cells it reaches are no demand. Every other populated cell is, gaps
    and under-served cells alike (how much of it the limited providers take is the
    solver's to find).

    >>> from gaps.distances import pairs_within
    >>> lim = limited_demand(
    ...     np.array([113.30, 113.31, 113.40]), np.array([23.1, 23.1, 23.1]),
    ...     np.array([100.0, 50.0, 0.0]),
    ...     pd.DataFrame({"lon": [113.30, 113.31], "lat": [23.1, 23.1]}),
    ...     np.array([np.nan, 20.0]), catchment_m=200.0, pairs=pairs_within)
    >>> lim.cells.tolist(), lim.ex_dem.tolist(), lim.ex_site.tolist()
    ([1], [0], [1])
    """
    e_dem, e_site, _ = pairs(
        lon, lat, existing["lon"].to_numpy(np.float64), existing["lat"].to_numpy(np.float64),
        catchment_m,
    )  # fmt: skip
    full = np.zeros(lon.size, dtype=bool)
    full[e_dem[~np.isfinite(ex_capacity[e_site])]] = True
    cells = np.nonzero(~full & (weight > 0))[0]
    d_of = np.full(lon.size, -1, dtype=np.int64)
    d_of[cells] = np.arange(cells.size)
    limited = d_of[e_dem] >= 0
    return LimitedDemand(cells, d_of[e_dem[limited]], e_site[limited])


@dataclass(frozen=True)
class Capacitated:
    """A plan with existing providers as fixed open sites of limited capacity.

    ``chosen`` candidate ids (ascending); ``served`` per candidate id: demand it newly
    serves (0 for those not chosen); ``existing_before`` and ``existing_after``: demand the
    existing providers serve without the candidates and with the chosen ones (they serve
    first: the chosen sites are credited only with what the existing cannot take).
    """

    chosen: npt.NDArray[np.int64]
    served: npt.NDArray[np.float64]
    existing_before: float
    existing_after: float
    status: str
    gap: float
    found_nothing: bool = False


def solve_capacitated(
    w: npt.NDArray[np.float64],
    *,
    cand_dem: npt.NDArray[np.int64],
    cand_site: npt.NDArray[np.int64],
    cand_capacity: npt.NDArray[np.float64],
    ex_dem: npt.NDArray[np.int64],
    ex_site: npt.NDArray[np.int64],
    ex_capacity: npt.NDArray[np.float64],
    k: int,
    solver: pulp.LpSolver,
    baseline: float | None = None,
) -> Capacitated:
    """The capacitated MCLP with existing providers open and fixed (``y = 1``)::

        maximise    Σ_ij w_i x_ij                  (i cells, j candidates and existing)
        subject to  Σ_j x_ij ≤ 1                    each cell's demand served once
                    x_ij ≤ y_j                      candidates: only when open
                    Σ_i w_i x_ij ≤ C_j y_j          within capacity, where known
                    Σ_j y_j ≤ k  (candidates),  y binary,  0 ≤ x ≤ 1

    then, the chosen candidates fixed, who serves whom: the most demand with the existing
    providers serving at least what they serve alone (the baseline: the LP with no
    candidates). ``solver`` and its time limit search the plan; the two LPs, polynomial and
    a fraction of a second for a district, are solved to the end by HiGHS, so that a plan
    stopped by the limit still says truly what its sites serve.

    Parameters
    ----------
    w
        Demand per cell.
    cand_dem, cand_site
        (cell position, candidate id) pairs within reach.
    cand_capacity
        Per candidate id: what it can serve (NaN: no limit).
    ex_dem, ex_site, ex_capacity
        Likewise for the existing providers (empty arrays: none; every pair's capacity
        should be finite: cells an unlimited provider reaches are fully served and should
        not be demand).
    k
        The most candidates to open.
    solver
        Carries the plan's time limit (:func:`default_solver`'s ``timeLimit``); the model
        goes to HiGHS as sparse arrays, not through PuLP.
    baseline
        What the existing providers serve alone, when already solved for.

    Examples
    --------
    A provider of capacity 200 reaches cell 0 (600 residents); candidate 0 reaches cell 0
    and cell 1 (50), candidate 1 reaches cell 2 (300) alone:

    >>> s = solve_capacitated(np.array([600.0, 50.0, 300.0]),
    ...     cand_dem=np.array([0, 1, 2]), cand_site=np.array([0, 0, 1]),
    ...     cand_capacity=np.array([np.nan, np.nan]), ex_dem=np.array([0]),
    ...     ex_site=np.array([0]), ex_capacity=np.array([200.0]), k=1,
    ...     solver=default_solver())
    >>> s.chosen.tolist(), s.served.tolist(), s.existing_before, s.existing_after
    ([0], [450.0, 0.0], 200.0, 200.0)
    """
    served = np.zeros(cand_capacity.size, dtype=np.float64)
    before = baseline
    if before is None:
        before = _allocate(w, (ex_dem, ex_site, ex_capacity), None)[0] if ex_dem.size else 0.0
    if cand_dem.size == 0 or k < 1:
        return Capacitated(np.empty(0, np.int64), served, before, before, "nothing to solve", 0.0)
    chosen, status, gap, found, _ = solve_mclp(
        w, cand_dem, cand_site, cand_capacity, k=k, solver=solver,
        existing=(ex_dem, ex_site, ex_capacity),
    )  # fmt: skip
    if not found:
        # Nothing found in time: the greedy sites.
        chosen = np.sort(_residual_greedy(w, cand_dem, cand_site, k))
        status += GREEDY_STATUS_SUFFIX
    open_ = np.isin(cand_site, chosen)
    fixed = (
        np.concatenate([ex_dem, cand_dem[open_]]),
        np.concatenate([ex_site, ex_capacity.size + cand_site[open_]]),
        np.concatenate([ex_capacity, cand_capacity]),
    )
    # Who serves whom: the most demand, with the existing providers serving at least what
    # they do alone. There is always such a plan (a flow's sources can keep theirs while
    # the total is the most: polymatroid), so the chosen sites are credited only with
    # demand the existing providers cannot take.
    _, x = _allocate(w, fixed, (ex_dem.size, before))
    m = ex_dem.size
    after = float(np.dot(w[ex_dem], x[:m]))
    np.add.at(served, cand_site[open_], w[cand_dem[open_]] * x[m:])
    return Capacitated(
        chosen, np.round(served, 6), round(before, 6), round(after, 6), status, gap, not found
    )


def _allocate(
    w: npt.NDArray[np.float64],
    pairs: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]],
    floor: tuple[int, float] | None,
) -> tuple[float, npt.NDArray[np.float64]]:
    """Open sites' service (an LP): the most demand they serve within their capacities,
    with ``floor = (m, least)``: the first ``m`` pairs serving at least ``least``. Answers
    the demand served and each pair's share of its cell. Solved to the end: polynomial,
    and a plan stopped by the limit must still say truly what its sites serve."""
    dem, site, capacity = pairs
    if dem.size == 0:
        return 0.0, np.zeros(0, dtype=np.float64)
    model = _MclpModel(w, dem, site, capacity, candidates=0)
    if floor is not None:
        model.add_row(np.arange(floor[0]), w[dem[: floor[0]]], lower=floor[1])
    values, _, _, found = model.solve(None)
    if floor is not None and not found:
        return _allocate(w, pairs, None)  # the floor missed by a tolerance
    values = values[: dem.size]
    return float(np.dot(w[dem], values)), values


class _MclpModel:
    """The (capacitated) MCLP as one sparse HiGHS model, built from arrays.

    Columns: one share ``x_n`` in [0, 1] per (cell, site) pair, then one binary ``y_j`` per
    candidate site that has a pair (sites ``< candidates`` are candidates; the others are
    open, fixed: existing providers). Rows: each cell served at most once; a candidate's
    pairs only when it is open; each site within its capacity where known (a candidate's
    only when open). Built with numpy and handed to HiGHS whole: PuLP's expression objects
    took seconds per district at city scale (a million terms), longer than the solve.
    """

    def __init__(
        self,
        w: npt.NDArray[np.float64],
        dem: npt.NDArray[np.int64],
        site: npt.NDArray[np.int64],
        capacity: npt.NDArray[np.float64],
        *,
        candidates: int,
    ) -> None:
        n = dem.size
        load = w[dem]
        self.used = np.unique(site[site < candidates])
        y_col = np.full(max(candidates, 1), -1, dtype=np.int64)
        y_col[self.used] = n + np.arange(self.used.size)
        self.columns = n + self.used.size
        self.cost = np.concatenate([load, np.zeros(self.used.size)])
        self.integer = np.concatenate([np.zeros(n, bool), np.ones(self.used.size, bool)])
        self._rows: list[npt.NDArray[np.int64]] = []
        self._cols: list[npt.NDArray[np.int64]] = []
        self._vals: list[npt.NDArray[np.float64]] = []
        self._lower: list[npt.NDArray[np.float64]] = []
        self._upper: list[npt.NDArray[np.float64]] = []
        self.rows = 0
        pair = np.arange(n, dtype=np.int64)
        # Each cell served at most once (a cell with one pair: its bound says it).
        _, cell_row, counts = np.unique(dem, return_inverse=True, return_counts=True)
        shared = counts[cell_row] > 1
        _, row_of = np.unique(cell_row[shared], return_inverse=True)
        self._block(row_of, pair[shared], np.ones(int(shared.sum())), -np.inf, 1.0)
        # x_n <= y_j: a candidate serves only when open.
        cand = site < candidates
        links = np.arange(int(cand.sum()), dtype=np.int64)
        self._block(
            np.concatenate([links, links]),
            np.concatenate([pair[cand], y_col[site[cand]]]),
            np.concatenate([np.ones(links.size), -np.ones(links.size)]),
            -np.inf,
            0.0,
        )
        # Within capacity where known: Σ w x <= C (existing), <= C y (candidates).
        limited = np.isfinite(capacity[site])
        sites, cap_row = np.unique(site[limited], return_inverse=True)
        is_cand = sites < candidates
        extra_rows = np.nonzero(is_cand)[0]
        self._block(
            np.concatenate([cap_row, extra_rows]),
            np.concatenate([pair[limited], y_col[sites[is_cand]]]),
            np.concatenate([load[limited], -capacity[sites[is_cand]]]),
            -np.inf,
            np.where(is_cand, 0.0, capacity[sites]),
        )

    def _block(
        self,
        rows: npt.NDArray[np.int64],
        cols: npt.NDArray[np.int64],
        vals: npt.NDArray[np.float64],
        lower: float | npt.NDArray[np.float64],
        upper: float | npt.NDArray[np.float64],
    ) -> None:
        count = int(rows.max()) + 1 if rows.size else 0
        self._rows.append(self.rows + rows)
        self._cols.append(np.asarray(cols, dtype=np.int64))
        self._vals.append(np.asarray(vals, dtype=np.float64))
        self._lower.append(np.broadcast_to(np.asarray(lower, np.float64), (count,)))
        self._upper.append(np.broadcast_to(np.asarray(upper, np.float64), (count,)))
        self.rows += count

    def add_row(
        self,
        cols: npt.NDArray[np.int64],
        vals: npt.NDArray[np.float64],
        *,
        lower: float = -np.inf,
        upper: float = np.inf,
    ) -> None:
        """One more row: ``lower <= Σ vals · x[cols] <= upper``."""
        self._block(np.zeros(cols.size, np.int64), cols, vals, lower, upper)
        if cols.size == 0:  # an empty row still counts (0 against its bounds)
            self._lower.append(np.array([lower]))
            self._upper.append(np.array([upper]))
            self.rows += 1

    def solve(self, time_limit_s: float | None) -> tuple[npt.NDArray[np.float64], str, float, bool]:
        """Maximise; answers the column values, HiGHS' status, the proven relative gap
        (0 when optimal, NaN when unknown) and whether a feasible plan was found."""
        import highspy  # the solver PuLP drives too; here given the arrays directly

        matrix = coo_matrix(
            (np.concatenate(self._vals), (np.concatenate(self._rows), np.concatenate(self._cols))),
            shape=(self.rows, self.columns),
        ).tocsc()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.columns, self.rows
        lp.col_cost_ = self.cost
        lp.col_lower_ = np.zeros(self.columns)
        lp.col_upper_ = np.ones(self.columns)
        lp.row_lower_ = np.concatenate(self._lower) if self.rows else np.zeros(0)
        lp.row_upper_ = np.concatenate(self._upper) if self.rows else np.zeros(0)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr
        lp.a_matrix_.index_ = matrix.indices
        lp.a_matrix_.value_ = matrix.data
        lp.sense_ = highspy.ObjSense.kMaximize
        if self.integer.any():
            lp.integrality_ = [
                highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                for i in self.integer.tolist()
            ]
        highs = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy: no annotations
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("threads", 1)
        highs.setOptionValue("mip_rel_gap", 0.0)
        if time_limit_s is not None:
            highs.setOptionValue("time_limit", float(time_limit_s))
        highs.passModel(lp)
        highs.run()
        status = highs.modelStatusToString(highs.getModelStatus())
        info = highs.getInfo()
        found = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
        values = (
            np.asarray(highs.getSolution().col_value, dtype=np.float64)
            if found
            else np.zeros(self.columns)
        )
        optimal = highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
        gap = 0.0 if optimal else float(info.mip_gap) if self.integer.any() else np.nan
        return values, status, gap if np.isfinite(gap) else np.nan, found


def solve_mclp(
    w: npt.NDArray[np.float64],
    dem: npt.NDArray[np.int64],
    site: npt.NDArray[np.int64],
    capacity: npt.NDArray[np.float64],
    *,
    k: int,
    solver: pulp.LpSolver,
    existing: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]
    | None = None,
) -> tuple[npt.NDArray[np.int64], str, float, bool, npt.NDArray[np.float64]]:
    """The capacitated MCLP (candidates ``site``, optionally existing providers fixed
    open): the chosen candidates, the status, the proven gap, whether a plan was found,
    and each pair's share (candidates' pairs first). ``solver`` gives the time limit
    (:func:`default_solver`'s ``timeLimit``)."""
    all_dem, all_site, all_capacity = dem, site, capacity
    if existing is not None and existing[0].size:
        ex_dem, ex_site, ex_capacity = existing
        # Existing providers: ids after the candidates', no y (open, fixed).
        all_dem = np.concatenate([dem, ex_dem])
        all_site = np.concatenate([site, capacity.size + ex_site])
        all_capacity = np.concatenate([capacity, ex_capacity])
    model = _MclpModel(w, all_dem, all_site, all_capacity, candidates=capacity.size)
    y = np.arange(all_dem.size, model.columns)
    model.add_row(y, np.ones(y.size), upper=float(k))
    values, status, gap, found = model.solve(getattr(solver, "timeLimit", None))
    chosen = model.used[values[all_dem.size :] > 0.5]
    return chosen, status, gap, found, values[: all_dem.size]


def _status(problem: pulp.LpProblem) -> tuple[str, float]:
    """The solver's status and the relative gap it proved (NaN: unknown)."""
    status = pulp.LpStatus[problem.status]
    gap = 0.0 if problem.sol_status == pulp.LpSolutionOptimal else np.nan
    highs = getattr(problem, "solverModel", None)
    if highs is not None and hasattr(highs, "getModelStatus"):
        # PuLP calls a plan stopped by the time limit "Optimal": HiGHS says what happened.
        status = highs.modelStatusToString(highs.getModelStatus())
        if problem.sol_status != pulp.LpSolutionOptimal:
            gap = float(highs.getInfo().mip_gap)
    return status, gap if np.isfinite(gap) else np.nan


def _residual_greedy(
    w: npt.NDArray[np.float64],
    dem: npt.NDArray[np.int64],
    site: npt.NDArray[np.int64],
    k: int,
) -> npt.NDArray[np.int64]:
    """Up to ``k`` candidates, each adding the most demand in reach (the classic greedy
    MCLP, blind to capacities: only a search stopped before any plan needs it)."""
    pool = np.unique(site)
    return pool[greedy_order(dem, site, w, pool, k, stop_at_nothing=True).order]
