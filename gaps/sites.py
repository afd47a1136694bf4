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
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pulp

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
        sum to the residents newly covered); ``cells_added`` likewise for gap cells.
    summary
        One row: ``category``, ``district`` (``None`` for the whole grid), ``k``,
        ``sites``, ``solver``, ``status``, ``optimality_gap`` (relative, 0 when proven
        optimal, NaN when unknown), ``time_limit_s`` (NaN: none), ``candidates`` (gap cells),
        ``candidates_considered``, ``cells``, ``cells_covered_before``,
        ``cells_covered_after``, ``residents``, ``residents_covered_before``,
        ``residents_covered_after``, ``share_covered_before``, ``share_covered_after``
        and ``residents_newly_covered``.
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

    # Who each gap cell (as a site) reaches among the gap cells (as demand).
    dem, site, _ = pairs(lon[gap_pos], lat[gap_pos], lon[gap_pos], lat[gap_pos], catchment_m)
    reach = np.bincount(site, weights=residents[gap_pos][dem], minlength=gap_pos.size)
    by_reach = np.lexsort((sub["cell"].to_numpy()[gap_pos], -reach))
    may_host = ~np.isin(sub["cell"].to_numpy()[gap_pos], np.fromiter(excluded_cells, np.int64))
    by_reach = by_reach[may_host[by_reach]]
    kept = by_reach[:max_candidates]
    is_kept = np.zeros(gap_pos.size, dtype=bool)
    is_kept[kept] = True
    use = is_kept[site]
    dem, site = dem[use], site[use]

    if solver is None:
        solver = default_solver(time_limit_s)
    else:
        time_limit_s = getattr(solver, "timeLimit", None)
    solved = _solve(
        dem, site, residents[gap_pos], kept, k=k, catchment_m=catchment_m, solver=solver
    )
    chosen, status, gap = solved.chosen, solved.status, solved.gap
    if solved.found_nothing:
        chosen = _greedy(dem, site, residents[gap_pos], kept, k)
        status += GREEDY_STATUS_SUFFIX
    sites = _site_table(sub, gap_pos, chosen, dem=dem, site=site, residents=residents)

    # After: every uncovered cell (populated or not) within reach of a new site.
    uncovered = np.nonzero(~covered)[0]
    reached = np.zeros(len(sub), dtype=bool)
    if chosen.size and uncovered.size:
        u, _, _ = pairs(
            lon[uncovered], lat[uncovered], lon[gap_pos[chosen]], lat[gap_pos[chosen]],
            catchment_m,
        )  # fmt: skip
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
                "sites": int(chosen.size),
                "solver": type(solver).__name__,
                "status": status,
                "optimality_gap": gap,
                "time_limit_s": np.nan if time_limit_s is None else float(time_limit_s),
                "candidates": int(may_host.sum()),
                "candidates_considered": int(kept.size),
                "cells": len(sub),
                "cells_covered_before": int(covered.sum()),
                "cells_covered_after": int(after.sum()),
                "residents": total,
                "residents_covered_before": before_res,
                "residents_covered_after": after_res,
                "share_covered_before": before_res / total if total > 0 else np.nan,
                "share_covered_after": after_res / total if total > 0 else np.nan,
                "residents_newly_covered": after_res - before_res,
            }
        ]
    )
    return SitePlan(sites=sites, summary=summary)


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
    status = pulp.LpStatus[problem.status]
    gap = 0.0 if problem.sol_status == pulp.LpSolutionOptimal else np.nan
    highs = getattr(problem, "solverModel", None)
    if highs is not None and hasattr(highs, "getModelStatus"):
        # PuLP calls a plan stopped by the time limit "Optimal": HiGHS says what happened.
        model_status = highs.getModelStatus()
        status = highs.modelStatusToString(model_status)
        if problem.sol_status != pulp.LpSolutionOptimal:
            gap = float(highs.getInfo().mip_gap)
    found_nothing = problem.sol_status not in (
        pulp.LpSolutionOptimal,
        pulp.LpSolutionIntegerFeasible,
    )
    return _Solved(chosen, status, gap if np.isfinite(gap) else np.nan, found_nothing)


def _greedy(
    dem: npt.NDArray[np.int64],
    site: npt.NDArray[np.int64],
    gap_residents: npt.NDArray[np.float64],
    kept: npt.NDArray[np.int64],
    k: int,
) -> npt.NDArray[np.int64]:
    """Up to ``k`` of the ``kept`` sites, each adding the most residents not yet covered
    (ties to the lower position): the classic greedy MCLP, within (1 - 1/e) of optimal."""
    taken = np.zeros(gap_residents.size, dtype=bool)
    chosen: list[int] = []
    for _ in range(min(k, kept.size)):
        new = ~taken[dem]
        gains = np.bincount(site[new], weights=gap_residents[dem[new]], minlength=taken.size)
        gains[chosen] = -1.0
        best = int(kept[np.argmax(gains[kept])])
        if gains[best] <= 0:
            break
        chosen.append(best)
        taken[dem[site == best]] = True
    return np.asarray(chosen, dtype=np.int64)


def _site_table(
    sub: pd.DataFrame,
    gap_pos: npt.NDArray[np.int64],
    chosen: npt.NDArray[np.int64],
    *,
    dem: npt.NDArray[np.int64],
    site: npt.NDArray[np.int64],
    residents: npt.NDArray[np.float64],
) -> pd.DataFrame:
    gap_res = residents[gap_pos]
    # reaches[a, b]: chosen site a covers gap cell b.
    reaches = np.zeros((chosen.size, gap_pos.size), dtype=bool)
    slot = np.full(gap_pos.size, -1, dtype=np.int64)
    slot[chosen] = np.arange(chosen.size)
    mine = slot[site] >= 0
    reaches[slot[site[mine]], dem[mine]] = True
    in_reach = reaches.astype(np.float64) @ gap_res

    # Greedy order over the chosen set, so each site's addition is well defined.
    order: list[int] = []
    added_res: list[float] = []
    added_cells: list[int] = []
    taken = np.zeros(gap_pos.size, dtype=bool)
    remaining = list(range(chosen.size))
    for _ in range(chosen.size):
        gains = (reaches[remaining] & ~taken).astype(np.float64) @ gap_res
        best = remaining[int(np.argmax(gains))]  # argmax: ties to the earlier (lower cell)
        new = reaches[best] & ~taken
        order.append(best)
        added_res.append(float(gap_res[new].sum()))
        added_cells.append(int(new.sum()))
        taken |= new
        remaining.remove(best)

    rows = gap_pos[chosen[order]] if chosen.size else np.empty(0, dtype=np.int64)
    picked = sub.iloc[rows]
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(rows) + 1, dtype=np.int64),
            "cell": picked["cell"].to_numpy(),
            "lon": picked["lon"].to_numpy(np.float64),
            "lat": picked["lat"].to_numpy(np.float64),
            "district": picked["district"].astype(object).to_numpy(),
            "street": picked["street"].astype(object).to_numpy(),
            "residents_in_reach": in_reach[order] if chosen.size else np.empty(0),
            "residents_added": np.asarray(added_res, dtype=np.float64),
            "cells_added": np.asarray(added_cells, dtype=np.int64),
        }
    )
