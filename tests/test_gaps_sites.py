"""MCLP candidate sites: choices worked out by hand, and against brute force."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pulp
import pytest
from pyproj import Geod

from gaps.sites import SITE_COLUMNS, candidate_sites
from geo.geodesy import geodesic_distance_m
from providers.model import Category

# spopt builds its PuLP model with a constructor PuLP 3.3 deprecates (not ours to fix), and
# PuLP 4 drops its bundled CBC, which is why HiGHS is the default solver.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:PULP_CBC_CMD is deprecated:DeprecationWarning"),
]

GEOD = Geod(ellps="WGS84")
ORIGIN = (113.30, 23.10)


def _line(
    offsets_m: Sequence[float], residents: Sequence[float], covered: Sequence[bool] | None = None
) -> pd.DataFrame:
    """Cells on one east-west geodesic through ORIGIN, at signed offsets (east positive)."""
    n = len(offsets_m)
    az = [90.0 if x >= 0 else 270.0 for x in offsets_m]
    lon, lat, _ = GEOD.fwd([ORIGIN[0]] * n, [ORIGIN[1]] * n, az, [abs(x) for x in offsets_m])
    cov = covered or [False] * n
    res = np.asarray(residents, dtype=float)
    return pd.DataFrame(
        {
            "category": Category.ELDERLY_CARE.value,
            "cell": np.arange(1, n + 1),
            "lon": lon,
            "lat": lat,
            "district": "甲区",
            "street": None,
            "residents": res,
            "covered": cov,
            "gap": ~np.asarray(cov) & (res > 0),
        }
    )


# A2 — A1 — X — B1 — B2, 900 m apart; a site covers 1,000 m: each reaches its neighbours.
# X alone covers A1 + X + B1 = 40 + 50 + 40 = 130, more than any other single site (A1:
# 30 + 40 + 50 = 120), so a greedy planner starts with X and ends at 160 with two sites.
# Two sites can cover all 190 only as {A1 or A2} + {B1 or B2} with one of them next to X:
# X is in no optimal pair.
TOWN: dict[str, list[float]] = {
    "offsets": [-1800, -900, 0, 900, 1800],
    "residents": [30, 40, 50, 40, 30],
}
A2, A1, X, B1, B2 = 1, 2, 3, 4, 5


def test_one_site_goes_where_it_covers_most() -> None:
    plan = candidate_sites(_line(TOWN["offsets"], TOWN["residents"]), Category.ELDERLY_CARE, k=1)
    assert tuple(plan.sites.columns) == SITE_COLUMNS
    assert plan.sites["cell"].tolist() == [X]
    assert plan.sites["residents_added"].tolist() == [130.0]
    assert plan.sites["cells_added"].tolist() == [3]


def test_two_sites_beat_the_greedy_choice() -> None:
    plan = candidate_sites(_line(TOWN["offsets"], TOWN["residents"]), Category.ELDERLY_CARE, k=2)
    chosen = set(plan.sites["cell"])
    assert X not in chosen
    assert chosen in ({A1, B1}, {A1, B2}, {A2, B1})
    summary = plan.summary.iloc[0]
    assert summary["residents_newly_covered"] == 190.0
    assert summary["share_covered_after"] == 1.0
    assert summary["status"] == "Optimal"
    assert summary["solver"] == "HiGHS"
    # Each site's addition, in greedy order, sums to what the plan adds.
    assert plan.sites["residents_added"].sum() == 190.0
    assert plan.sites["rank"].tolist() == [1, 2]


def test_a_plan_proven_optimal_says_so_with_a_zero_gap() -> None:
    plan = candidate_sites(
        _line(TOWN["offsets"], TOWN["residents"]), Category.ELDERLY_CARE, k=2, time_limit_s=60
    )
    summary = plan.summary.iloc[0]
    assert summary["status"] == "Optimal" and summary["optimality_gap"] == 0.0
    assert summary["time_limit_s"] == 60.0
    unlimited = candidate_sites(_line(TOWN["offsets"], TOWN["residents"]), Category.NURSING, k=1)
    assert np.isnan(unlimited.summary.iloc[0]["time_limit_s"])


def test_a_search_stopped_before_any_plan_answers_with_the_greedy_sites() -> None:
    # A time limit no search can meet: HiGHS stops before its first plan. The answer is
    # then the greedy one, and says so: X first (130), then A1 (the first of four sites
    # adding 30), 160 in all where the optimum is 190. The gap is unknown.
    plan = candidate_sites(
        _line(TOWN["offsets"], TOWN["residents"]), Category.ELDERLY_CARE, k=2, time_limit_s=1e-9
    )
    summary = plan.summary.iloc[0]
    assert summary["status"] == "Time limit reached; greedy sites"
    assert np.isnan(summary["optimality_gap"]) and summary["time_limit_s"] == 1e-9
    assert plan.sites["cell"].tolist() == [X, A1]
    assert summary["residents_newly_covered"] == 160.0


@pytest.mark.parametrize("k", [2, 3])
def test_greedy_sites_are_within_their_guarantee_of_the_optimum(k: int) -> None:
    rng = np.random.default_rng(10 + k)
    n = 12
    lon, lat, _ = GEOD.fwd(
        [ORIGIN[0]] * n, [ORIGIN[1]] * n, rng.uniform(0, 360, n), rng.uniform(0, 2500, n)
    )
    cells = pd.DataFrame(
        {
            "category": "nursing",
            "cell": np.arange(n),
            "lon": lon,
            "lat": lat,
            "district": "甲区",
            "street": None,
            "residents": rng.integers(1, 100, n).astype(float),
            "covered": False,
            "gap": True,
        }
    )
    best = _brute_force(cells, k, 1000.0)
    plan = candidate_sites(cells, Category.NURSING, k=k, time_limit_s=1e-9)
    got = plan.summary.iloc[0]["residents_newly_covered"]
    assert plan.summary.iloc[0]["status"].startswith("Time limit reached")
    assert (1 - 1 / np.e) * best <= got <= best + 1e-9
    assert len(plan.sites) == k


def test_before_and_after_with_covered_cells_and_empty_ones() -> None:
    # Cells 1 and 2 are covered already (500 people). Gaps: cell 3 (200) and cell 4 (100),
    # 1,100 m apart so no site reaches both. Cell 5, 600 m from cell 3, is uncovered but
    # empty: no gap and no candidate, yet a site at cell 3 covers it too.
    cells = _line(
        [-3000, -2000, 0, 1100, 600], [300, 200, 200, 100, 0], [True, True, False, False, False]
    )
    plan = candidate_sites(cells, Category.ELDERLY_CARE, k=1)
    assert plan.sites["cell"].tolist() == [3]
    s = plan.summary.iloc[0]
    assert s["candidates"] == 2
    assert s["residents"] == 800.0
    assert s["residents_covered_before"] == 500.0
    assert s["residents_covered_after"] == 700.0
    assert s["residents_newly_covered"] == 200.0
    assert s["share_covered_before"] == pytest.approx(500 / 800)
    assert s["share_covered_after"] == pytest.approx(700 / 800)
    assert s["cells_covered_before"] == 2
    assert s["cells_covered_after"] == 4  # cells 1, 2, 3 and the empty cell 5


def test_ties_and_a_cell_reachable_only_from_itself() -> None:
    # Cells 2,000 m apart: each site covers only its own cell, so k sites take the k most
    # populated cells.
    cells = _line([0, 2000, 4000, 6000], [10, 40, 30, 20])
    plan = candidate_sites(cells, Category.ELDERLY_CARE, k=2)
    assert plan.sites["cell"].tolist() == [2, 3]
    assert plan.sites["residents_in_reach"].tolist() == [40.0, 30.0]


def test_k_larger_than_the_gaps_and_k_zero() -> None:
    cells = _line([0, 2000], [10, 40])
    plan = candidate_sites(cells, Category.ELDERLY_CARE, k=5)
    assert sorted(plan.sites["cell"]) == [1, 2]
    none = candidate_sites(cells, Category.ELDERLY_CARE, k=0)
    assert none.sites.empty
    assert none.summary.iloc[0]["residents_newly_covered"] == 0.0


def test_no_gaps_no_sites() -> None:
    cells = _line([0, 2000], [10, 40], [True, True])
    plan = candidate_sites(cells, Category.ELDERLY_CARE, k=3)
    assert plan.sites.empty
    assert plan.summary.iloc[0]["share_covered_after"] == 1.0


def test_district_restricts_demand_and_sites() -> None:
    cells = _line(TOWN["offsets"], TOWN["residents"]).assign(
        district=["甲区", "甲区", "乙区", "乙区", "乙区"]
    )
    plan = candidate_sites(cells, Category.ELDERLY_CARE, k=1, district="乙区")
    # In 乙区 alone: X covers X + B1 = 90, B1 covers X + B1 + B2 = 120.
    assert plan.sites["cell"].tolist() == [B1]
    assert plan.summary.iloc[0]["residents"] == 120.0
    assert plan.summary.iloc[0]["district"] == "乙区"


def _brute_force(cells: pd.DataFrame, k: int, radius: float) -> float:
    lon, lat = cells["lon"].to_numpy(), cells["lat"].to_numpy()
    reach = geodesic_distance_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :]) <= radius
    res = cells["residents"].to_numpy()
    return max(
        float(res[reach[:, list(combo)].any(axis=1)].sum())
        for combo in itertools.combinations(range(len(cells)), k)
    )


@pytest.mark.parametrize("k", [1, 2, 3])
def test_random_instances_reach_the_brute_force_optimum(k: int) -> None:
    rng = np.random.default_rng(k)
    n = 14
    lon, lat, _ = GEOD.fwd(
        [ORIGIN[0]] * n, [ORIGIN[1]] * n, rng.uniform(0, 360, n), rng.uniform(0, 2500, n)
    )
    cells = pd.DataFrame(
        {
            "category": "nursing",
            "cell": np.arange(n),
            "lon": lon,
            "lat": lat,
            "district": "甲区",
            "street": None,
            "residents": rng.integers(1, 100, n).astype(float),
            "covered": False,
            "gap": True,
        }
    )
    best = _brute_force(cells, k, 1000.0)
    plan = candidate_sites(cells, Category.NURSING, k=k)
    assert plan.summary.iloc[0]["residents_newly_covered"] == pytest.approx(best)
    # The bundled CBC of PuLP agrees (it runs here too).
    cbc = candidate_sites(cells, Category.NURSING, k=k, solver=pulp.PULP_CBC_CMD(msg=False))
    assert cbc.summary.iloc[0]["residents_newly_covered"] == pytest.approx(best)
    assert cbc.summary.iloc[0]["solver"] == "PULP_CBC_CMD"


def test_max_candidates_keeps_the_strongest_sites() -> None:
    plan = candidate_sites(
        _line(TOWN["offsets"], TOWN["residents"]), Category.ELDERLY_CARE, k=1, max_candidates=1
    )
    assert plan.summary.iloc[0]["candidates_considered"] == 1
    assert plan.sites["cell"].tolist() == [X]
    with pytest.raises(ValueError, match="max_candidates"):
        candidate_sites(_line([0], [1]), Category.ELDERLY_CARE, k=1, max_candidates=0)


# -- existing providers' capacities ----------------------------------------------------------

# A provider 300 m west of cell H (600 residents) reaches H alone. G (900 m east of H, 50)
# and E (1,800 m, 30) are gaps beside it; far east F1 and F2 (150 each, 800 m apart) reach
# each other. Without capacities H is covered and a site at F1 covers the most (300); with
# 2 practitioners × 100 residents the provider serves 200 of H's 600, and a site at G
# serves the other 400 and its own 80: 480.
BESIDE = {"offsets": [0, 900, 1800, 5000, 5800], "residents": [600, 50, 30, 150, 150]}
H, G, E, F1, F2 = 1, 2, 3, 4, 5


def _beside() -> tuple[pd.DataFrame, pd.DataFrame]:
    cells = _line(BESIDE["offsets"], BESIDE["residents"], [True, False, False, False, False])
    lon, lat, _ = GEOD.fwd(ORIGIN[0], ORIGIN[1], 270.0, 300.0)
    provider = pd.DataFrame(
        {"category": "elderly_care", "id": ["p"], "lon": [lon], "lat": [lat],
         "practitioners": [2]}
    )  # fmt: skip
    return cells, provider


def test_an_understaffed_provider_draws_the_site_beside_it() -> None:
    cells, provider = _beside()
    plan = candidate_sites(
        cells, Category.ELDERLY_CARE, k=1, existing=provider, residents_per_practitioner=100
    )
    assert plan.sites["cell"].tolist() == [G]
    # What it brings within reach (the gaps G and E) and what it serves (H's 400 too).
    assert plan.sites[["residents_added", "residents_served"]].iloc[0].tolist() == [80.0, 480.0]
    s = plan.summary.iloc[0]
    assert bool(s["capacity_limited"]) and s["residents_per_practitioner"] == 100.0
    assert (s["existing_providers"], s["existing_unlimited"]) == (1, 0)
    assert s["residents_served_by_existing_before"] == 200.0
    assert s["residents_served_by_existing_after"] == 200.0
    assert s["residents_newly_served"] == 480.0
    assert s["status"] == "Optimal" and s["optimality_gap"] == 0.0
    # Candidates: every populated cell the provider cannot serve in full, H included.
    assert (s["candidates"], s["candidates_considered"]) == (5, 5)
    # Coverage in reach is as before: H was covered, G and E are newly.
    assert s["residents_newly_covered"] == 80.0


def test_without_capacities_the_farther_cluster_wins() -> None:
    cells, provider = _beside()
    plain = candidate_sites(cells, Category.ELDERLY_CARE, k=1)
    assert plain.sites["cell"].tolist() == [F1]
    assert plain.sites["residents_served"].tolist() == [300.0]
    s = plain.summary.iloc[0]
    assert not s["capacity_limited"] and np.isnan(s["residents_per_practitioner"])
    assert s["residents_served_by_existing_before"] == s["residents_covered_before"] == 600.0
    # The setting unset, or a provider without a staff figure: the same answer exactly.
    unset = candidate_sites(cells, Category.ELDERLY_CARE, k=1, existing=provider)
    no_staff = candidate_sites(
        cells, Category.ELDERLY_CARE, k=1, existing=provider.assign(practitioners=0),
        residents_per_practitioner=100,
    )  # fmt: skip
    for other in (unset, no_staff):
        pd.testing.assert_frame_equal(other.sites, plain.sites)
        same = [c for c in plain.summary.columns if not c.startswith("existing")]
        same.remove("residents_per_practitioner")
        pd.testing.assert_frame_equal(other.summary[same], plain.summary[same])
    assert no_staff.summary.iloc[0][["existing_providers", "existing_unlimited"]].tolist() == [1, 1]
    assert unset.summary.iloc[0]["existing_unlimited"] == 1


def test_a_well_staffed_provider_changes_nothing() -> None:
    # 6 practitioners serve all 600: F1 again, and the provider serves what it covers.
    cells, provider = _beside()
    plan = candidate_sites(
        cells, Category.ELDERLY_CARE, k=1, existing=provider.assign(practitioners=6),
        residents_per_practitioner=100,
    )  # fmt: skip
    assert plan.sites["cell"].tolist() == [F1]
    s = plan.summary.iloc[0]
    assert (
        s["residents_served_by_existing_before"] == 600.0 and s["residents_newly_served"] == 300.0
    )


def test_two_sites_with_capacities() -> None:
    cells, provider = _beside()
    plan = candidate_sites(
        cells, Category.ELDERLY_CARE, k=2, existing=provider, residents_per_practitioner=100
    )
    assert sorted(plan.sites["cell"]) in ([G, F1], [G, F2])
    # Ranked by the gap residents each brings within reach: the far one (300) first.
    assert plan.sites["residents_added"].tolist() == [300.0, 80.0]
    assert plan.sites["residents_served"].tolist() == [300.0, 480.0]
    assert plan.summary.iloc[0]["residents_newly_served"] == 780.0


def test_a_capacitated_search_stopped_in_time_answers_greedy_sites() -> None:
    cells, provider = _beside()
    plan = candidate_sites(
        cells, Category.ELDERLY_CARE, k=1, existing=provider, residents_per_practitioner=100,
        time_limit_s=1e-9,
    )  # fmt: skip
    s = plan.summary.iloc[0]
    assert s["status"] == "Time limit reached; greedy sites" and s["time_limit_s"] == 1e-9
    assert np.isnan(s["optimality_gap"])
    # Greedy on all demand in reach: G reaches H, G and E (680).
    assert plan.sites["cell"].tolist() == [G] and plan.sites["residents_served"].tolist() == [480.0]
