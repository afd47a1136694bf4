"""The ``jzmap`` program, run as a user runs it: a real process, real files, real ports."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from geo.crs import CRS, gcj02_to_wgs84
from providers.identity import station_id
from providers.stores.embedded import EmbeddedStore
from tests.browser import free_port, serve_process

JZMAP = str(Path(sys.executable).with_name("jzmap"))


def run(
    args: list[str], env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([JZMAP, *args], env=env, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"jzmap {args} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JZMAP_DATABASE_URL")}
    env["JZMAP_DATA_DIR"] = str(tmp_path / "data")
    return env


def test_python_dash_m_is_the_same_program(embedded_env: dict[str, str]) -> None:
    as_module = subprocess.run(
        [sys.executable, "-m", "jzmap", "--help"],
        env=embedded_env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert as_module.stdout == run(["--help"], embedded_env).stdout
    assert "Usage: jzmap" in as_module.stdout


def test_demo_builds_the_city(embedded_env: dict[str, str]) -> None:
    out = run(["demo"], embedded_env).stdout
    assert "708 providers" in out and "708 stored" in out
    # Rebuilding replaces rather than piles up.
    out = run(["demo", "--providers", "600"], embedded_env).stdout
    assert "777 stored" in out


def test_db_upgrade_is_repeatable(postgis_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": postgis_url}
    for _ in range(2):
        assert "revision 0013" in run(["db", "upgrade"], env).stdout


def test_db_upgrade_without_database_says_why(embedded_env: dict[str, str]) -> None:
    result = run(["db", "upgrade"], embedded_env, check=False)
    assert result.returncode == 1
    assert "DATABASE_URL is not set" in result.stderr


def test_demo_into_postgis(postgis_migrated: str) -> None:
    env = {**os.environ, "DATABASE_URL": postgis_migrated}
    assert "708 stored" in run(["demo"], env).stdout


GOOD = "co-914403001922038216"
ROWS = [
    ["name", "kind", "credit_code", "credit_grade", "categories", "lon", "lat", "crs", "phone", "备注"],
    ["海珠安心家政有限公司", "company", "914403001922038216", "5A", "housekeeping;nursing", "113.33", "23.10", "", "020-83334567", "老客户"],
    ["", "company", "914403001922038217", "6A", "gardening", "113.33", "23.10", "", "", ""],
    [],
    ["赤岗街道家政服务站", "station", "", "", "elderly_care、housekeeping", "113.3354", "23.1037", "gcj02", "", ""],
    ["坏坐标服务站", "station", "", "", "elderly_care", "east", "", "", "", ""],
]  # fmt: skip


def test_ingest_stores_or_explains_every_row(embedded_env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "registry.csv"
    with source.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(ROWS)
    rejects, report = tmp_path / "rejects.csv", tmp_path / "report.json"
    args = ["ingest", str(source), "--rejects", str(rejects), "--report", str(report)]
    run(args, embedded_env)
    summary = json.loads(report.read_text())
    assert summary["rows_read"] == 4 == summary["stored"] + summary["rejected"]
    assert (summary["inserted"], summary["rejected"]) == (2, 2)

    assert rejects.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel needs the BOM
    bad = list(csv.DictReader(rejects.open(encoding="utf-8-sig")))
    assert [r["_line"] for r in bad] == ["3", "6"]
    assert "check character should be '6'" in bad[0]["_reasons"]
    assert "'6A' is not one of" in bad[0]["_reasons"] and "gardening" in bad[0]["_reasons"]
    assert "name is empty" in bad[0]["_reasons"]
    assert (
        "lon 'east' is not a number" in bad[1]["_reasons"]
        and "lat is missing" in bad[1]["_reasons"]
    )
    assert bad[1]["name"] == "坏坐标服务站"  # original cells kept for fixing and reloading

    store = EmbeddedStore(Path(embedded_env["JZMAP_DATA_DIR"]))
    # No district column: the district comes from the point and takes part in the id.
    st = store.get(station_id(district="海珠区", street="", name="赤岗街道家政服务站"))
    assert st is not None and st.source_crs is CRS.GCJ02
    assert (st.source_lon, st.source_lat) == (113.3354, 23.1037)
    assert (st.lon, st.lat) == pytest.approx(gcj02_to_wgs84(113.3354, 23.1037), abs=1e-9)
    company = store.get(GOOD)
    assert company is not None and company.extra == {"备注": "老客户"}
    store.close()

    rerun = run(args, embedded_env)
    assert "nothing changed" in rerun.stdout
    again = json.loads(report.read_text())
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 2)


def test_ingest_refuses_an_unreadable_file(embedded_env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "registry.txt"
    source.write_text("hello")
    result = run(["ingest", str(source)], embedded_env, check=False)
    assert result.returncode == 1
    assert "unsupported file type '.txt'" in result.stderr


def test_serve_answers_over_http(embedded_env: dict[str, str]) -> None:
    run(["demo"], embedded_env)
    port = free_port()
    command = [JZMAP, "serve", "--port", str(port)]
    with serve_process(command, embedded_env, port=port, ready_path="/healthz") as served:
        with urllib.request.urlopen(f"{served.url}/healthz", timeout=5) as r:
            health = json.load(r)
        assert health["status"] == "ok" and health["providers"] == 708
        query = "/v1/providers/nearest?lat=23.1064&lon=113.3245&category=nursing&limit=3"
        with urllib.request.urlopen(served.url + query, timeout=5) as r:
            assert len(json.load(r)["results"]) == 3
    output = served.output
    assert f"http://127.0.0.1:{port}/" in output


def test_a_store_that_cannot_open_is_one_clear_line(embedded_env: dict[str, str]) -> None:
    run(["demo", "--providers", "5"], embedded_env)
    db = Path(embedded_env["JZMAP_DATA_DIR"]) / "providers.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'")
    result = run(["demo"], embedded_env, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: the embedded store at ")
    assert "Traceback" not in result.stderr
