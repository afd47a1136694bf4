"""The Guangzhou reference data in data/guangzhou/ is real, consistent, and reproducible.

Everything is read from the repository tree; the regeneration test additionally
runs scripts/extract_reference_data.py, which reads the pinned PyPI packages.
"""

from __future__ import annotations

import csv
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from shapely import union_all
from shapely.geometry import MultiPolygon, Point, Polygon, shape

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "guangzhou"
SCRIPT = ROOT / "scripts" / "extract_reference_data.py"

SHIPPED_FILES = ("districts.geojson", "streets.csv", "districts.csv", "SOURCES.md")

ADCODES = {
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

CANTON_TOWER = Point(113.3245, 23.1064)  # WGS-84 lon, lat
HAIZHU = "440105"

# 7th census (2020) resident population of Guangzhou, city total.
CITY_POPULATION_2020 = 18_676_605


def _districts() -> dict[str, tuple[str, Polygon | MultiPolygon]]:
    collection: dict[str, Any] = json.loads(
        (DATA / "districts.geojson").read_text(encoding="utf-8")
    )
    assert collection["type"] == "FeatureCollection"
    out: dict[str, tuple[str, Polygon | MultiPolygon]] = {}
    for feature in collection["features"]:
        props = feature["properties"]
        assert isinstance(props["adcode"], str)
        geometry = shape(feature["geometry"])
        assert isinstance(geometry, Polygon | MultiPolygon)
        assert props["adcode"] not in out, f"duplicate {props['adcode']}"
        out[props["adcode"]] = (props["name"], geometry)
    return out


def _csv_rows(name: str) -> list[dict[str, str]]:
    raw = (DATA / name).read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), f"{name} has a BOM"
    assert b"\r" not in raw, f"{name} has CR line endings"
    return list(csv.DictReader(raw.decode("utf-8").splitlines()))


def test_shipped_files_match_regeneration(tmp_path: Path) -> None:
    # Both packages are pinned dev dependencies; the script fails loudly without them.
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SHIPPED_FILES)
    for name in SHIPPED_FILES:
        assert (DATA / name).read_bytes() == (tmp_path / name).read_bytes(), (
            f"data/guangzhou/{name} differs from what the script produces; "
            f"re-run scripts/extract_reference_data.py and review the diff"
        )


def test_eleven_valid_districts() -> None:
    districts = _districts()
    assert {code: name for code, (name, _) in districts.items()} == ADCODES
    for code, (name, geometry) in districts.items():
        assert geometry.is_valid, f"{code} {name} is invalid"
        assert geometry.area > 0, f"{code} {name} is empty"


def test_districts_do_not_overlap() -> None:
    districts = _districts()
    for (a, (_, ga)), (b, (_, gb)) in itertools.combinations(districts.items(), 2):
        overlap = ga.intersection(gb).area
        assert overlap <= 1e-9 * min(ga.area, gb.area), f"{a} and {b} overlap by {overlap}"


def test_canton_tower_is_in_haizhu() -> None:
    districts = _districts()
    union = union_all([geometry for _, geometry in districts.values()])
    assert union.contains(CANTON_TOWER)
    containing = [code for code, (_, g) in districts.items() if g.contains(CANTON_TOWER)]
    assert containing == [HAIZHU]


def test_streets() -> None:
    rows = _csv_rows("streets.csv")
    assert len(rows) == 177
    assert list(rows[0]) == ["code", "name", "district_code", "district_name"]
    codes = [row["code"] for row in rows]
    assert codes == sorted(codes)
    assert len(set(codes)) == len(codes)
    for row in rows:
        assert len(row["code"]) == 9 and row["code"].isdigit(), row
        assert row["district_code"] in ADCODES, row
        assert row["code"][:6] == row["district_code"], row
        assert row["district_name"] == ADCODES[row["district_code"]], row
        assert row["name"].endswith(("街道", "镇")), row
    assert {row["district_code"] for row in rows} == set(ADCODES)


def test_population_table() -> None:
    rows = _csv_rows("districts.csv")
    assert list(rows[0]) == [
        "adcode",
        "name",
        "population",
        "population_source",
        "aged_60_plus",
        "aged_60_plus_source",
    ]
    assert {row["adcode"]: row["name"] for row in rows} == ADCODES
    assert len(rows) == len(ADCODES)
    total = sum(int(row["population"]) for row in rows)
    assert abs(total - CITY_POPULATION_2020) <= 0.001 * CITY_POPULATION_2020
    for row in rows:
        assert row["population_source"].startswith("7th census 2020"), row
        # The 60+ are the census bulletin's city-wide share (2,130,598 of 18,676,605), and
        # every row says so: no district figure is claimed.
        share = int(row["aged_60_plus"]) / int(row["population"])
        assert share == pytest.approx(2_130_598 / 18_676_605, abs=1e-6), row
        assert "not a district figure" in row["aged_60_plus_source"], row
