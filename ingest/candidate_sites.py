"""The district office's candidate sites (community rooms, 社区用房) and exclusion list, from
the files a planner keeps: CSV, XLSX or GeoJSON.

Columns (English or Chinese headers, any order; extra columns are ignored):

======================  ===================  =============================================
column                  also                 meaning
======================  ===================  =============================================
``name`` (required)     名称, 场所名称        what the room is called
``lon``, ``lat``        经度, 纬度            its position (CSV/XLSX; GeoJSON: Point geometry)
``id``                  编号                  a stable id (default: the row number, from 1)
``address``             地址                  its address
``street``              街道                  its 街道 (else the nearest named way is given)
``capacity``            容量                  the most residents it can serve (blank: no limit)
======================  ===================  =============================================

Coordinates are WGS-84 unless the caller names GCJ-02 or BD-09 (AMap and Baidu pick-ups).
An exclusion list is plain text or CSV: one site id or H3 cell per line (a header line
``id`` or ``cell`` is skipped), ``#`` starts a comment.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import CRS, to_wgs84

_ALIASES = {
    "name": ("name", "名称", "场所名称"),
    "lon": ("lon", "lng", "longitude", "经度"),
    "lat": ("lat", "latitude", "纬度"),
    "id": ("id", "编号"),
    "address": ("address", "地址"),
    "street": ("street", "街道"),
    "capacity": ("capacity", "容量"),
}
# The most rows a candidates file may have: a district's rooms, not a city's buildings.
MAX_CANDIDATES = 5_000


class CandidateFileError(ValueError):
    """A candidates or exclusion file that cannot be used; the message says why."""


def read_candidate_sites(path: Path, crs: CRS = CRS.WGS84) -> pd.DataFrame:
    """The candidate sites of a CSV, XLSX or GeoJSON file, WGS-84.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``name``, ``lon``, ``lat``, ``address``, ``street``, ``capacity``.
    """
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        raw = gpd.read_file(path)
        if raw.crs is not None:
            raw = raw.to_crs("EPSG:4326")
        if not (raw.geometry.geom_type == "Point").all():
            raise CandidateFileError(f"{path.name}: every feature must be a Point")
        table = pd.DataFrame(raw.drop(columns="geometry"))
        table["lon"], table["lat"] = raw.geometry.x.to_numpy(), raw.geometry.y.to_numpy()
    elif suffix == ".xlsx":
        table = pd.read_excel(path, dtype=object)
    elif suffix == ".csv":
        table = pd.read_csv(path, dtype=object, encoding="utf-8-sig")
    else:
        raise CandidateFileError(f"{path.name}: use a .csv, .xlsx or .geojson file")
    return _normalised(table, path.name, crs)


def read_exclusions(path: Path) -> set[str]:
    """The site ids and H3 cells an exclusion list names (one per line)."""
    found: set[str] = set()
    for line in path.read_text("utf-8-sig").splitlines():
        value = line.split("#", 1)[0].split(",", 1)[0].strip()
        if value and value.lower() not in ("id", "cell"):
            found.add(value)
    return found


def _normalised(table: pd.DataFrame, name: str, crs: CRS) -> pd.DataFrame:
    columns = {str(c).strip().lower(): c for c in table.columns}
    picked: dict[str, pd.Series] = {}
    for field, aliases in _ALIASES.items():
        source = next((columns[a] for a in aliases if a in columns), None)
        if source is not None:
            picked[field] = table[source]
    for required in ("name", "lon", "lat"):
        if required not in picked:
            raise CandidateFileError(
                f"{name}: no {required!r} column (accepted: {', '.join(_ALIASES[required])})"
            )
    if len(table) > MAX_CANDIDATES:
        raise CandidateFileError(f"{name}: {len(table)} rows; at most {MAX_CANDIDATES}")
    lon = pd.to_numeric(picked["lon"], errors="coerce").to_numpy(np.float64)
    lat = pd.to_numeric(picked["lat"], errors="coerce").to_numpy(np.float64)
    bad = np.nonzero(~(np.isfinite(lon) & np.isfinite(lat)))[0]
    if bad.size:
        rows = ", ".join(str(r + 2) for r in bad[:5].tolist())
        raise CandidateFileError(f"{name}: rows {rows}: lon/lat are not numbers")
    if crs is not CRS.WGS84:
        lon, lat = to_wgs84(lon, lat, crs)
    n = len(table)

    def text(field: str) -> list[str | None]:
        if field not in picked:
            return [None] * n
        return [None if pd.isna(v) or not str(v).strip() else str(v).strip() for v in picked[field]]

    ids = text("id")
    return pd.DataFrame(
        {
            "id": pd.Series(
                [i if i is not None else str(r + 1) for r, i in enumerate(ids)], dtype=object
            ),
            "name": pd.Series(text("name"), dtype=object),
            "lon": np.asarray(lon, dtype=np.float64),
            "lat": np.asarray(lat, dtype=np.float64),
            "address": pd.Series(text("address"), dtype=object),
            "street": pd.Series(text("street"), dtype=object),
            "capacity": (
                pd.to_numeric(picked["capacity"], errors="coerce").to_numpy(np.float64)
                if "capacity" in picked
                else np.full(n, np.nan)
            ),
        }
    )
