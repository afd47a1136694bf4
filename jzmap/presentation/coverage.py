"""Coverage analyses to public response bodies (the coverage side of
:mod:`jzmap.presentation.presenters`).

Shared by the API and the offline report (:mod:`maps.coverage_report`), so the report draws
exactly what ``/v1/coverage/cells`` and ``/v1/coverage/candidates`` answer.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import h3
import numpy as np
import pandas as pd
import shapely
from pydantic_core import to_json

from gaps import SitePlan
from gaps.demand import demand_column
from gaps.network import MODE_LABELS
from geo.crs import CRS
from jzmap.application.coverage import Analysis
from jzmap.presentation.presenters import coordinates_in
from jzmap.presentation.schemas import CandidateSiteOut, CoverageQueryOut, CoverageStreetOut
from jzmap.presentation.sources import demand_source_text

DISTANCE_MODELS = {
    "crow": "geodesic on the WGS-84 ellipsoid",
    "walk": "walking over the OpenStreetMap street network (edges geodesic on the WGS-84 "
    "ellipsoid, each point joining at its foot on the nearest way)",
}


def query_out(analysis: Analysis, district: str | None, crs: CRS | None) -> CoverageQueryOut:
    q = analysis.query
    return CoverageQueryOut(
        category=q.category,
        resolution=q.resolution,
        district=district,
        min_grade=q.min_grade,
        certified_only=q.certified_only,
        crs=crs,
        catchment_m=analysis.catchment_m,
        data_version=analysis.data_version,
        demand_source=analysis.grid.demand_source,
        demand_source_zh=demand_source_text(analysis.grid.demand_source, "zh"),
        demand=demand_column(analysis.grid.demand, q.category),
        distance_model=DISTANCE_MODELS[q.mode],
        mode=q.mode,
        mode_label=MODE_LABELS[q.mode],
        minutes=(
            None
            if analysis.speed_m_s is None
            else round(analysis.catchment_m / 60 / analysis.speed_m_s, 2)
        ),
        speed=q.speed,
        speed_m_s=analysis.speed_m_s,
        kind=None if q.kind is None else q.kind.value,
    )


def clean_row(row: Mapping[Hashable, Any]) -> dict[str, Any]:
    """NaN and infinities (no residents, no provider) as null, numpy scalars as Python."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not np.isfinite(value):
            value = None
        out[str(key)] = value
    return out


def _nullable(values: np.ndarray[Any, Any], decimals: int) -> list[float | None]:
    rounded = np.round(values.astype(np.float64), decimals)
    return [v if np.isfinite(v) else None for v in rounded.tolist()]


def cell_features(analysis: Analysis, district: str | None, crs: CRS) -> list[dict[str, Any]]:
    """The hexagons of ``district`` (all for ``None``) as GeoJSON features in ``crs``."""
    rows = analysis.cells_of(district)
    m = analysis.measures.loc[rows]
    hexagons = analysis.grid.cells.geometry.to_numpy()[rows]
    corners = shapely.get_coordinates(hexagons)
    lon, lat = coordinates_in(corners[:, 0], corners[:, 1], crs)  # one vectorised conversion
    points = np.column_stack([lon, lat]).tolist()
    ends = np.cumsum(shapely.get_num_coordinates(hexagons)).tolist()
    starts = [0, *ends[:-1]]
    ids = [h3.int_to_str(c) for c in m["cell"].tolist()]
    columns = {
        "district": _texts(m["district"]),
        "street": _texts(m["street"]),
        "residents": np.round(m["residents"].to_numpy(np.float64), 1).tolist(),
        "nearest_m": _nullable(m["nearest_m"].to_numpy(), 1),
        "nearest_id": _texts(m["nearest_id"]),
        "providers_within": m["providers_within"].tolist(),
        "accessibility": _nullable(m["accessibility"].to_numpy(), 8),
        "covered": m["covered"].tolist(),
        "gap": m["gap"].tolist(),
    }
    return [
        {
            "type": "Feature",
            "id": cell,
            "geometry": {"type": "Polygon", "coordinates": [points[a:b]]},
            "properties": {"cell": cell, **{name: values[i] for name, values in columns.items()}},
        }
        for i, (cell, a, b) in enumerate(zip(ids, starts, ends, strict=True))
    ]


def _texts(column: pd.Series) -> list[Any]:
    """A text column as a list with ``None`` where missing: pandas' string dtype holds a
    missing value as NaN, which the JSON encoder would write as ``NaN`` (not JSON) — a
    walk leaves cells with no reachable provider (``nearest_id`` missing).

    >>> _texts(pd.Series(["st-1", None], dtype="str"))
    ['st-1', None]
    """
    return column.astype(object).where(column.notna(), None).tolist()


def site_streets(plan: SitePlan, analysis: Analysis | None) -> Any:
    """The plan's sites with ``street_inferred`` from the analysis's cells (a site is a
    cell centre, so it has its cell's street)."""
    sites = plan.sites
    if analysis is None or "street_inferred" not in analysis.measures.columns:
        return sites.assign(street_inferred=False)
    by_cell = dict(
        zip(
            analysis.measures["cell"].tolist(),
            analysis.measures["street_inferred"].tolist(),
            strict=True,
        )
    )
    return sites.assign(street_inferred=[bool(by_cell.get(c, False)) for c in sites["cell"]])


def street_outs(table: Any) -> list[CoverageStreetOut]:
    """The per-street table (:func:`jzmap.application.coverage.streets_of`) as models."""
    return [CoverageStreetOut(**clean_row(row)) for row in table.to_dict("records")]


def json_bytes(body: dict[str, Any]) -> bytes:
    return bytes(to_json(body))  # pydantic's Rust encoder: ~5x the json module's speed here


def site_outs(plan: SitePlan, crs: CRS, analysis: Analysis | None = None) -> list[CandidateSiteOut]:
    sites = site_streets(plan, analysis)
    lon, lat = coordinates_in(
        sites["lon"].to_numpy(np.float64), sites["lat"].to_numpy(np.float64), crs
    )
    records = sites.to_dict("records")
    return [
        CandidateSiteOut(
            **{**clean_row(r), "cell": h3.int_to_str(int(r["cell"])), "lon": x, "lat": y}
        )
        for r, x, y in zip(records, lon, lat, strict=True)
    ]
