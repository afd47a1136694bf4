"""Open-data files (`jzmap export --format …`, `/v1/exports/providers.{format}`), on both
stores, read back by GDAL (pyogrio) and pyarrow and compared with the store."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from jzmap.presentation.open_data import (
    COLUMNS,
    OpenDataFormat,
    listed_batches,
    write_open_data,
)
from jzmap.presentation.presenters import public_properties
from jzmap.settings import Settings
from providers.model import Category, Provider
from providers.store import Filters
from providers.stores import Backend
from tests.test_ogc import CITY

LISTED = sorted((p for p in CITY if p.active), key=lambda p: p.id)


def _expected_row(p: Provider) -> dict[str, Any]:
    props = public_properties(p)
    row = {**props, "categories": ";".join(props["categories"]), "lon": p.lon, "lat": p.lat}
    row.update({c.value: c.value in props["categories"] for c in Category})
    return {name: row[name] for name in COLUMNS}


def _read(path: Path, fmt: OpenDataFormat) -> pd.DataFrame:
    """The file as a table, read by an independent reader: GDAL for GeoJSON, GeoPackage
    and CSV, pyarrow (and geopandas for the GeoParquet metadata) for Parquet."""
    if fmt is OpenDataFormat.PARQUET:
        table = pq.read_table(path)
        geo = json.loads(table.schema.metadata[b"geo"])
        assert geo["primary_column"] == "geometry"
        assert geo["columns"]["geometry"]["encoding"] == "WKB"
        frame = gpd.read_parquet(path)  # checks the GeoParquet metadata too
        assert frame.crs is not None and frame.crs.equals("OGC:CRS84")  # WGS-84, lon first
        xy = [(g.x, g.y) for g in frame.geometry]
        assert xy == list(zip(frame["lon"], frame["lat"], strict=True))
        return pd.DataFrame(frame.drop(columns="geometry"))
    if fmt is OpenDataFormat.CSV:
        assert path.read_bytes().startswith(b"\xef\xbb\xbf"), "Excel needs the BOM"
        frame = pyogrio.read_dataframe(path, encoding="utf-8-sig")
        return pd.DataFrame(frame)
    frame = pyogrio.read_dataframe(path, layer="providers" if fmt is OpenDataFormat.GPKG else None)
    assert frame.crs.to_epsg() == 4326
    xy = [(g.x, g.y) for g in frame.geometry]
    assert xy == [(lon, lat) for lon, lat in zip(frame["lon"], frame["lat"], strict=True)]
    return pd.DataFrame(frame.drop(columns="geometry"))


def _normalised(value: Any, name: str) -> Any:
    """CSV holds text: compare its cells as the text the value would be."""
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, bool) or name in {c.value for c in Category} | {
        "approximate",
        "synthetic",
    }:
        return str(value).lower() in ("true", "1")
    if name in ("practitioners", "certified_practitioners"):
        return int(value)
    if name in ("lon", "lat"):
        return float(value)
    if name == "verified_at":
        # GDAL reads an ISO date held as text (GeoJSON has no date type) back as a date.
        return pd.Timestamp(value).date().isoformat() if value != "" else ""
    return str(value)


def assert_same_as_store(frame: pd.DataFrame, listed: list[Provider]) -> None:
    assert list(frame.columns) == COLUMNS
    got = [
        {str(name): _normalised(v, str(name)) for name, v in row.items()}
        for row in frame.to_dict("records")
    ]
    want = [{name: _normalised(v, name) for name, v in _expected_row(p).items()} for p in listed]
    assert got == want


@pytest.mark.parametrize("fmt", list(OpenDataFormat))
def test_each_file_reads_back_as_the_stores_listed_providers(
    backend: Backend, tmp_path: Path, fmt: OpenDataFormat
) -> None:
    backend.store.upsert(CITY)
    out = tmp_path / f"city.{fmt.value}"
    # Batches of 7: the file is written across many keyset pages.
    count = write_open_data(listed_batches(backend.store, batch=7), fmt, out)
    assert (
        count
        == len(LISTED)
        == len(backend.store.within(None, Filters(include_approximate=True), 10_000))
    )
    assert_same_as_store(_read(out, fmt), LISTED)
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize("fmt", list(OpenDataFormat))
def test_an_empty_store_gives_an_empty_file_with_its_columns(
    embedded_backend: Backend, tmp_path: Path, fmt: OpenDataFormat
) -> None:
    out = tmp_path / f"none.{fmt.value}"
    assert write_open_data(listed_batches(embedded_backend.store), fmt, out) == 0
    if fmt is OpenDataFormat.PARQUET:
        assert pq.read_table(out).num_rows == 0
    elif fmt is OpenDataFormat.GEOJSON:
        assert json.loads(out.read_text())["features"] == []
    else:
        assert len(pyogrio.read_dataframe(out)) == 0


@pytest.mark.parametrize("fmt", list(OpenDataFormat))
def test_the_download_is_the_same_file(
    backend: Backend, tmp_path: Path, fmt: OpenDataFormat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JZMAP_DATA_DIR", str(tmp_path / "data"))
    backend.store.upsert(CITY)
    with TestClient(create_app(Settings(), backend=backend)) as client:
        r = client.get(f"/v1/exports/providers.{fmt.value}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].split(";")[0] == fmt.media_type.split(";")[0]
        assert f'filename="providers.{fmt.value}"' in r.headers["content-disposition"]
        got = tmp_path / f"download.{fmt.value}"
        got.write_bytes(r.content)
        assert_same_as_store(_read(got, fmt), LISTED)
        # Built once per data version: a write makes the next download a new file.
        backend.store.upsert([dataclasses.replace(LISTED[1], name="改名公司")])
        again = client.get(f"/v1/exports/providers.{fmt.value}")
        assert again.status_code == 200 and again.content != r.content
        built = sorted(p.name for p in (tmp_path / "data" / "exports").iterdir())
        assert built == [f"providers-v{backend.store.data_version()}.{fmt.value}"]
    assert client.get("/v1/exports/providers.xlsx").status_code in (404, 422)


def test_jzmap_export_writes_the_file(
    embedded_backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from jzmap.cli import app

    embedded_backend.store.upsert(CITY)
    embedded_backend.close()
    monkeypatch.setenv("JZMAP_DATA_DIR", str(tmp_path / "embedded"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    out = tmp_path / "providers.csv"
    result = CliRunner().invoke(app, ["export", "--format", "csv", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{len(LISTED):,} providers written" in result.output
    assert_same_as_store(_read(out, OpenDataFormat.CSV), LISTED)
    bad = CliRunner().invoke(app, ["export", "--format", "xls", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "geojson, gpkg, parquet, csv" in bad.output
