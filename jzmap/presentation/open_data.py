"""Open-data files of the listed providers: GeoJSON, GeoPackage, GeoParquet, CSV.

One flat table in every format, of the public fields only
(:func:`jzmap.presentation.presenters.public_properties`, the one public rule): the
categories as one ``;``-separated text and one true/false column per category (so a
spreadsheet can filter on them), the point as WGS-84 longitude/latitude (GeoJSON,
GeoPackage and GeoParquet geometry; ``lon``/``lat`` columns in all four).

Written batch by batch as the store is read in keyset pages, so memory stays that of one
batch whatever the number of providers: GeoJSON and CSV as text (CSV in UTF-8 with a BOM,
so Excel reads the Chinese right), GeoPackage through GDAL (pyogrio, appending),
GeoParquet through pyarrow row groups with the GeoParquet ``geo`` metadata.

:class:`OpenDataFiles` keeps one file per format and data version for the API
(``/v1/exports/…``): built once in the background, then served as a file.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from jzmap.presentation.presenters import PublicView, public_properties
from providers.model import Category, Provider
from providers.store import Filters, ProviderStore

LAYER = "providers"
BATCH = 10_000

COLUMNS = [
    "id",
    "name",
    "kind",
    "categories",
    *(c.value for c in Category),
    "credit_grade",
    "address",
    "district",
    "street",
    "community",
    "phone",
    "opening_hours",
    "practitioners",
    "certified_practitioners",
    "geocode_precision",
    "approximate",
    "synthetic",
    "verified_at",
    "lon",
    "lat",
]
"""The columns of every format, in order (GeoJSON: the properties)."""


class OpenDataFormat(StrEnum):
    """The formats of the open-data files."""

    GEOJSON = "geojson"
    GPKG = "gpkg"
    PARQUET = "parquet"
    CSV = "csv"

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]

    @property
    def filename(self) -> str:
        return f"{LAYER}.{self.value}"


_GEO = json.dumps(
    {
        "version": "1.1.0",
        "primary_column": "geometry",
        # No "crs": GeoParquet then means OGC:CRS84, WGS-84 longitude/latitude.
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}},
    }
).encode()
"""GeoParquet's file metadata, in the schema (readers take it from there; the file's bbox
would only be known at the end, and is optional)."""


_MEDIA_TYPES = {
    OpenDataFormat.GEOJSON: "application/geo+json",
    OpenDataFormat.GPKG: "application/geopackage+sqlite3",
    OpenDataFormat.PARQUET: "application/vnd.apache.parquet",
    OpenDataFormat.CSV: "text/csv; charset=utf-8",
}


def listed_batches(store: ProviderStore, batch: int = BATCH) -> Iterator[list[Provider]]:
    """Every listed (active) provider, district-located ones too, in id order, in keyset
    pages of ``batch``: the store is never asked for all at once."""
    everyone = Filters(include_approximate=True)
    after: str | None = None
    while True:
        page = store.within(None, everyone, batch, after=after)
        if page:
            yield page
        if len(page) < batch:
            return
        after = page[-1].id


def rows(providers: Iterable[Provider], view: PublicView | None = None) -> pd.DataFrame:
    """The open-data table of ``providers`` (:data:`COLUMNS`), business phones by
    ``view``'s rule (``JZMAP_PUBLIC_PHONES``)."""
    records = []
    for p in providers:
        props = public_properties(p, view)
        categories = props["categories"]
        props["categories"] = ";".join(categories)
        props.update({c.value: c.value in categories for c in Category})
        props["lon"], props["lat"] = p.lon, p.lat
        records.append(props)
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    # Fixed types whatever the batch holds (a batch of stations only has no credit grade
    # at all, which pandas would otherwise make a float column of NaN).
    for name, kind in _TYPES.items():
        if kind == "string":
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
        else:
            frame[name] = frame[name].astype(_NUMPY_TYPES[kind])
    return frame


_TYPES = {
    name: "int64"
    if name in ("practitioners", "certified_practitioners")
    else "float64"
    if name in ("lon", "lat")
    else "bool"
    if name in ("approximate", "synthetic", *(c.value for c in Category))
    else "string"
    for name in COLUMNS
}
_NUMPY_TYPES: dict[str, type] = {"int64": np.int64, "float64": np.float64, "bool": np.bool_}


@functools.cache
def _schema() -> Any:
    """The GeoParquet file's Arrow schema (pyarrow is imported on first use: it takes a
    second, which every `jzmap serve` start would otherwise pay)."""
    import pyarrow as pa

    arrow = {
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "string": pa.string(),
    }
    return pa.schema(
        [pa.field(name, arrow[kind], nullable=kind == "string") for name, kind in _TYPES.items()]
        + [pa.field("geometry", pa.binary(), nullable=False)],
        metadata={"geo": _GEO},
    )


def write_open_data(
    batches: Iterable[list[Provider]],
    fmt: OpenDataFormat,
    out: Path,
    view: PublicView | None = None,
) -> int:
    """Write the providers of ``batches`` to ``out`` in ``fmt``, business phones by
    ``view``'s rule; returns how many.

    ``out`` is replaced only when the file is complete (written beside it, then renamed),
    so a reader never sees half a file.
    """
    out = Path(out)
    partial = out.with_name(f".{out.stem}.partial{out.suffix}")  # GDAL wants .gpkg last
    partial.unlink(missing_ok=True)
    try:
        count = _WRITERS[fmt](batches, partial, view or PublicView())
        Path(partial).replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return count


def _write_csv(batches: Iterable[list[Provider]], out: Path, view: PublicView) -> int:
    count = 0
    # utf-8-sig writes the BOM once, at the start: Excel then reads the file as UTF-8.
    with out.open("w", encoding="utf-8-sig", newline="") as f:
        rows([]).to_csv(f, index=False, lineterminator="\r\n")
        for batch in batches:
            rows(batch, view).to_csv(f, index=False, header=False, lineterminator="\r\n")
            count += len(batch)
    return count


def _write_geojson(batches: Iterable[list[Provider]], out: Path, view: PublicView) -> int:
    count = 0
    with out.open("w", encoding="utf-8") as f:
        f.write('{"type":"FeatureCollection","name":"providers","features":[\n')
        for batch in batches:
            for record in rows(batch, view).to_dict("records"):
                feature = {
                    "type": "Feature",
                    "id": record["id"],
                    "geometry": {"type": "Point", "coordinates": [record["lon"], record["lat"]]},
                    "properties": {k: _plain(v) for k, v in record.items()},
                }
                f.write(("" if count == 0 else ",\n") + json.dumps(feature, ensure_ascii=False))
                count += 1
        f.write("\n]}\n")
    return count


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value  # JSON has no numpy


def _write_gpkg(batches: Iterable[list[Provider]], out: Path, view: PublicView) -> int:
    import geopandas as gpd
    import pyogrio

    count = 0
    for batch in batches:
        frame = rows(batch, view)
        geometry = gpd.points_from_xy(frame["lon"], frame["lat"], crs="EPSG:4326")
        layer = gpd.GeoDataFrame(frame, geometry=geometry)
        pyogrio.write_dataframe(layer, out, layer=LAYER, driver="GPKG", append=count > 0)
        count += len(batch)
    if count == 0:  # an empty layer still has its columns
        empty = gpd.GeoDataFrame(rows([]), geometry=gpd.GeoSeries([], crs="EPSG:4326"))
        pyogrio.write_dataframe(empty, out, layer=LAYER, driver="GPKG", geometry_type="Point")
    return count


def _arrow(frame: pd.DataFrame) -> Any:
    import pyarrow as pa

    schema = _schema()
    points = shapely.points(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    columns = [pa.array(frame[name].tolist(), schema.field(name).type) for name in COLUMNS]
    wkb = pa.array(list(shapely.to_wkb(points)), pa.binary())
    return pa.Table.from_arrays([*columns, wkb], schema=schema)


def _write_parquet(batches: Iterable[list[Provider]], out: Path, view: PublicView) -> int:
    count = 0
    import pyarrow.parquet as pq

    with pq.ParquetWriter(out, _schema(), compression="zstd") as writer:
        for batch in batches:
            writer.write_table(_arrow(rows(batch, view)))  # one row group per batch
            count += len(batch)
    return count


_WRITERS: dict[OpenDataFormat, Callable[[Iterable[list[Provider]], Path, PublicView], int]] = {
    OpenDataFormat.GEOJSON: _write_geojson,
    OpenDataFormat.GPKG: _write_gpkg,
    OpenDataFormat.PARQUET: _write_parquet,
    OpenDataFormat.CSV: _write_csv,
}


class OpenDataFiles:
    """The open-data files the API serves, one per format and data version, in ``folder``.

    A file is built the first time it is asked for at a data version, in a thread of its
    own (a million providers take longer than a request may), once however many ask;
    older versions' files are removed when a newer one is complete.
    """

    def __init__(self, folder: Path, view: PublicView | None = None) -> None:
        self.folder = Path(folder)
        self.view = view or PublicView()
        self._lock = threading.Lock()
        self._building: dict[Path, threading.Thread] = {}

    def path(self, fmt: OpenDataFormat, version: int) -> Path:
        return self.folder / f"{LAYER}-v{version}.{fmt.value}"

    def ready(self, store: ProviderStore, fmt: OpenDataFormat, wait_s: float) -> Path | None:
        """The file of ``fmt`` at the store's data version, or ``None`` when it is still
        being built after ``wait_s`` seconds."""
        target = self.path(fmt, store.data_version())
        if target.exists():
            return target
        with self._lock:
            thread = self._building.get(target)
            if thread is None:
                thread = threading.Thread(
                    target=self._build,
                    args=(store, fmt, target),
                    name=f"jzmap-export-{fmt.value}",
                    daemon=True,
                )
                self._building[target] = thread
                thread.start()
        thread.join(wait_s)
        return target if target.exists() else None

    def _build(self, store: ProviderStore, fmt: OpenDataFormat, target: Path) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_open_data(listed_batches(store), fmt, target, self.view)
            for old in self.folder.glob(f"{LAYER}-v*.{fmt.value}"):
                if old != target:
                    old.unlink(missing_ok=True)
        finally:
            with self._lock:
                self._building.pop(target, None)
