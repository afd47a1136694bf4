"""Coverage gaps: where residents are far from a suitable provider, and where new stations
would help most (the domain core of the coverage analysis).

Pure functions over data frames, no web framework and no database (``REFERENCE_DIR`` is
``geo.package_data``'s Guangzhou reference data)::

    grid     = city_grid(load_districts(REFERENCE_DIR), resolution=8)       # H3 cells
    demand   = demand_from_census(grid, load_districts(REFERENCE_DIR))      # or a layer
    supply   = suitable_supply(providers, min_grade=Grade.A3)               # per category
    measures = coverage_measures(grid, demand, supply)                      # per cell
    table    = area_summary(measures, locate_supply(supply, districts))     # per district
    plan     = candidate_sites(measures, Category.ELDERLY_CARE, k=5, district="白云区")

Distances are geodesic metres on the WGS-84 ellipsoid from each cell's centre, as in the
nearest-match API; accessibility is E2SFCA computed by PySAL ``access``; candidate sites
are PySAL ``spopt``'s MCLP solved with HiGHS.
"""

from gaps.accessibility import Decay, decay_function, e2sfca
from gaps.demand import (
    CENSUS_EVEN_SOURCE,
    DEMAND_COLUMNS,
    demand_from_census,
    demand_from_polygons,
    demand_from_raster,
)
from gaps.distances import nearest_geodesic, pairs_within
from gaps.grid import DEFAULT_RESOLUTION, GRID_COLUMNS, cell_polygons, city_grid
from gaps.measures import DEFAULT_CATCHMENT_M, MEASURE_COLUMNS, cell_measures, coverage_measures
from gaps.sites import DEFAULT_MAX_CANDIDATES, SitePlan, candidate_sites, default_solver
from gaps.summary import area_summary, locate_supply, worst_cells
from gaps.supply import PROVIDER_COLUMNS, SUPPLY_COLUMNS, providers_frame, suitable_supply

__all__ = [
    "CENSUS_EVEN_SOURCE",
    "DEFAULT_CATCHMENT_M",
    "DEFAULT_MAX_CANDIDATES",
    "DEFAULT_RESOLUTION",
    "DEMAND_COLUMNS",
    "GRID_COLUMNS",
    "MEASURE_COLUMNS",
    "PROVIDER_COLUMNS",
    "SUPPLY_COLUMNS",
    "Decay",
    "SitePlan",
    "area_summary",
    "candidate_sites",
    "cell_measures",
    "cell_polygons",
    "city_grid",
    "coverage_measures",
    "decay_function",
    "default_solver",
    "demand_from_census",
    "demand_from_polygons",
    "demand_from_raster",
    "e2sfca",
    "locate_supply",
    "nearest_geodesic",
    "pairs_within",
    "providers_frame",
    "suitable_supply",
    "worst_cells",
]
