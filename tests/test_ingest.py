"""Registry imports: realistic files in, every row stored or explained, nothing lost."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.boundaries import CityBoundary, load_districts
from geo.crs import CRS, wgs84_to_bd09, wgs84_to_gcj02
from geo.geocoding import GazetteerGeocoder, GeocoderChain
from geo.geodesy import geodesic_distance_m
from geo.package_data import REFERENCE_DIR
from ingest import Ingester, IngestOptions, IngestReport, UnreadableFileError, write_rejects
from providers.identity import company_id
from providers.model import Category, Grade, Kind, Precision
from providers.store import Filters, ProviderStore
from providers.stores.embedded import EmbeddedStore
from tests.helpers import credit_code

TOWER = (113.3245, 23.1064)  # Canton Tower, WGS-84, in 海珠区
HEADERS = ["企业名称", "机构类型", "统一社会信用代码", "信用等级", "服务类别", "详细地址", "所属区",
           "街道", "经度", "纬度", "坐标系", "联系电话", "从业人员数（人）", "持证人数", "营业时间", "备注"]  # fmt: skip


@pytest.fixture(scope="module")
def ingester() -> Ingester:
    districts = load_districts(REFERENCE_DIR)
    return Ingester(CityBoundary(districts), GeocoderChain([GazetteerGeocoder(districts)]))


def row(n: int, **cells: str) -> list[str]:
    lon, lat = wgs84_to_gcj02(TOWER[0] + n * 0.001, TOWER[1])
    base = {
        "企业名称": f"海珠安心家政服务有限公司{n}",
        "机构类型": "企业",
        "统一社会信用代码": credit_code(n),
        "信用等级": "AAAA",
        "服务类别": "保洁、月嫂",
        "详细地址": f"海珠区阅江西路{n}号",
        "所属区": "海珠区",
        "街道": "赤岗街道",
        "经度": f"{lon:.7f}",
        "纬度": f"{lat:.7f}",
        "坐标系": "高德",
        "联系电话": "020-8333 4567",
        "从业人员数（人）": "20",
        "持证人数": "5",
        "营业时间": "08:00-18:00",
        "备注": "老客户",
    }
    base.update(cells)
    return [base[h] for h in HEADERS]


def write_csv(
    path: Path, rows: list[list[str]], encoding: str = "gbk", headers: list[str] = HEADERS
) -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows([headers, *rows])
    return path


def run(
    ingester: Ingester, store: ProviderStore | None, *paths: Path, **options: object
) -> IngestReport:
    report = ingester.run(list(paths), store, IngestOptions(**options))  # type: ignore[arg-type]
    assert report.rows_read == report.stored + report.rejected, "a row was lost"
    return report


def reasons(report: IngestReport) -> dict[int, str]:
    return {r.line: " | ".join(p.reason for p in r.problems) for r in report.rejects}


def test_gbk_csv_with_chinese_headers(
    tmp_path: Path, ingester: Ingester, store: ProviderStore
) -> None:
    path = write_csv(
        tmp_path / "海珠区企业.csv", [row(1), [""] * len(HEADERS), row(2, 信用等级="５Ａ")]
    )
    report = run(ingester, store, path)
    assert report.encodings == {"海珠区企业.csv": "gb18030"}
    assert (report.rows_read, report.inserted, report.rejected) == (2, 2, 0)
    p = store.get(company_id(credit_code(2)))
    assert p is not None
    assert p.kind is Kind.COMPANY and p.credit_grade is Grade.A5
    assert p.categories == {Category.HOUSEKEEPING, Category.MATERNAL_INFANT}
    assert (p.practitioners, p.certified_practitioners) == (20, 5)
    assert p.phone == "020-83334567" and p.extra == {"备注": "老客户"}
    assert p.source_crs is CRS.GCJ02 and p.geocode_precision is Precision.EXACT
    assert p.geocoder == "record" and p.source == "海珠区企业"
    # GCJ-02 in, WGS-84 stored: within 1 m of the truth (the cells carry 7 decimals).
    assert float(geodesic_distance_m(p.lon, p.lat, TOWER[0] + 0.002, TOWER[1])) < 1.0


def test_bd09_and_wgs84_and_utf8_bom(
    tmp_path: Path, ingester: Ingester, store: ProviderStore
) -> None:
    blon, blat = wgs84_to_bd09(*TOWER)
    rows = [
        row(1, 经度=f"{blon:.7f}", 纬度=f"{blat:.7f}", 坐标系="百度"),
        row(2, 经度=str(TOWER[0]), 纬度=str(TOWER[1]), 坐标系="GPS"),
    ]
    report = run(ingester, store, write_csv(tmp_path / "a.csv", rows, encoding="utf-8-sig"))
    assert report.encodings == {"a.csv": "utf-8-sig"} and report.rejected == 0
    for n in (1, 2):
        p = store.get(company_id(credit_code(n)))
        assert p is not None
        assert float(geodesic_distance_m(p.lon, p.lat, *TOWER)) < 1.0


def test_each_bad_row_says_why(tmp_path: Path, ingester: Ingester, store: ProviderStore) -> None:
    rows = [
        row(1),  # line 2: fine
        row(2, 统一社会信用代码=credit_code(2)[:-1] + "X", 服务类别="园艺、保洁"),  # line 3
        row(3, 经度=str(TOWER[1]), 纬度=str(TOWER[0]), 坐标系="WGS84"),  # line 4: swapped
        row(4, 经度="116.397", 纬度="39.909", 坐标系="WGS84"),  # line 5: Beijing
        row(5, 信用等级="6A", 联系电话="12345", 持证人数="30"),  # line 6
        row(1, 企业名称="重复的行"),  # line 7: same company as line 2
        row(7, 所属区="越秀区"),  # line 8: stored, with a warning
        row(8, 经度="", 纬度="", 详细地址="海珠区某街1号"),  # line 9: gazetteer
        row(9, 机构类型="", 统一社会信用代码=""),  # line 10
    ]
    report = run(ingester, store, write_csv(tmp_path / "f.csv", rows))
    why = reasons(report)
    assert sorted(why) == [3, 4, 5, 6, 7, 10]
    assert "check character" in why[3] and "园艺" in why[3]
    assert why[4] == "latitude and longitude look swapped"
    assert ("km outside the city" in why[5] and "1,8" in why[5]) or "km outside" in why[5]
    assert "6A" in why[6] and "12345" in why[6] and "30 certified holders" in why[6]
    assert "same provider as line 2 of f.csv" in why[7]
    assert "kind unknown" in why[10] and "credit code" not in why[10]
    warned = {(w.line, w.column) for w in report.warnings}
    assert (8, "district") in warned
    geocoded = store.get(company_id(credit_code(8)))
    assert geocoded is not None and geocoded.geocode_precision is Precision.DISTRICT
    assert geocoded.geocoder == "gazetteer" and geocoded.source_lon is None
    assert report.precision == {"exact": 2, "district": 1}


def test_outside_reports_the_distance(tmp_path: Path, ingester: Ingester) -> None:
    # 0.5 degree east of the city's eastern edge: tens of kilometres out.
    report = run(
        ingester,
        None,
        write_csv(tmp_path / "f.csv", [row(1, 经度="114.9", 纬度="23.3", 坐标系="WGS84")]),
        dry_run=True,
    )
    (why,) = reasons(report).values()
    assert 60 < _km_outside(why) < 120


def _km_outside(reason: str) -> float:
    return float(reason.split(" is ")[1].split(" km")[0].replace(",", ""))


def test_reimport_is_a_noop_and_a_changed_row_updates(
    tmp_path: Path, ingester: Ingester, store: ProviderStore
) -> None:
    path = write_csv(tmp_path / "f.csv", [row(1), row(2)])
    first = run(ingester, store, path)
    version = store.data_version()
    again = run(ingester, store, path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2) and again.changed_nothing
    assert store.data_version() == version
    write_csv(path, [row(1), row(2, 信用等级="AAAAA")])
    changed = run(ingester, store, path)
    assert (first.inserted, changed.updated, changed.unchanged) == (2, 1, 1)


def test_snapshot_deactivates_missing_rows(
    tmp_path: Path, ingester: Ingester, store: ProviderStore
) -> None:
    path = write_csv(tmp_path / "白云区.csv", [row(1), row(2), row(3)])
    run(ingester, store, path, mode="snapshot")
    write_csv(path, [row(1), row(3)])
    report = run(ingester, store, path, mode="snapshot")
    assert report.deactivated == 1
    gone = store.get(company_id(credit_code(2)))
    assert gone is not None and not gone.active
    ids = {c.provider.id for c in store.nearest(*TOWER, Filters(), 10)}
    assert company_id(credit_code(2)) not in ids and company_id(credit_code(1)) in ids


def test_dry_run_stores_nothing(tmp_path: Path, ingester: Ingester, store: ProviderStore) -> None:
    report = run(ingester, store, write_csv(tmp_path / "f.csv", [row(1)]), dry_run=True)
    assert report.stored == 1 and store.count() == 0


def test_xlsx_second_sheet_and_geojson(
    tmp_path: Path, ingester: Ingester, store: ProviderStore
) -> None:
    book = openpyxl.Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "说明"
    notes.append(["这一页是说明"])
    sheet = book.create_sheet("企业名录")
    sheet.append(HEADERS)
    sheet.append([int(c) if c.isdigit() else c for c in row(1)])
    sheet.append([])
    sheet.append(row(2, 信用等级="AAA"))
    xlsx = tmp_path / "名录.xlsx"
    book.save(xlsx)
    report = run(ingester, store, xlsx, sheet="企业名录")
    assert report.inserted == 2 and report.rejected == 0
    with pytest.raises(UnreadableFileError, match="no sheet '9'"):
        run(ingester, store, xlsx, sheet="9")

    lon, lat = TOWER
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
               "properties": {"name": "赤岗街道家政服务站", "kind": "station", "categories": "养老、陪护",
                              "station_code": "440105011", "phone": None}}  # fmt: skip
    geojson = tmp_path / "stations.geojson"
    geojson.write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8"
    )
    report = run(ingester, store, geojson)
    assert report.inserted == 1
    st = store.get("st-440105011")
    assert st is not None and st.kind is Kind.STATION and st.district == "海珠区"


def test_files_that_cannot_be_processed_change_nothing(
    tmp_path: Path, ingester: Ingester, store: ProviderStore
) -> None:
    good = write_csv(tmp_path / "good.csv", [row(1)])
    ambiguous = write_csv(tmp_path / "bad.csv", [[*row(2), "海珠区"]], headers=[*HEADERS, "区"])
    with pytest.raises(UnreadableFileError, match="both mean 'district'"):
        run(ingester, store, good, ambiguous)
    nameless = write_csv(tmp_path / "nameless.csv", [["1"]], headers=["编号"])
    with pytest.raises(UnreadableFileError, match="no name column"):
        run(ingester, store, nameless)
    binary = tmp_path / "garbage.csv"
    binary.write_bytes(b"\xff\xfe\x00\x00garbage")
    with pytest.raises(UnreadableFileError):
        run(ingester, store, binary)
    assert store.count() == 0


def test_rejects_file_is_excel_safe_and_loads_back_once_fixed(
    tmp_path: Path, ingester: Ingester, store: ProviderStore
) -> None:
    path = write_csv(tmp_path / "f.csv", [row(1, 信用等级="6A", 备注="=cmd|' /C calc'!A0")])
    report = run(ingester, store, path)
    rejects = tmp_path / "rejects.csv"
    write_rejects(report, rejects)
    raw = rejects.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    cells = next(csv.DictReader(rejects.open(encoding="utf-8-sig")))
    assert cells["备注"] == "'=cmd|' /C calc'!A0"  # inert in Excel
    assert cells["_line"] == "2" and cells["_columns"] == "信用等级"
    # The operator fixes the grade and loads the rejects file as it is.
    fixed = [{**c, "信用等级": "AA"} for c in csv.DictReader(rejects.open(encoding="utf-8-sig"))]
    with rejects.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fixed[0]))
        writer.writeheader()
        writer.writerows(fixed)
    again = run(ingester, store, rejects)
    assert (again.inserted, again.rejected) == (1, 0)
    p = store.get(company_id(credit_code(1)))
    assert p is not None and p.credit_grade is Grade.A2
    assert p.extra == {"备注": "=cmd|' /C calc'!A0"}  # the original text, not the quoted one
    assert p.source == "rejects"


def test_reimport_of_the_same_station_without_code_keeps_its_id(
    tmp_path: Path, ingester: Ingester, store: ProviderStore
) -> None:
    headers = ["服务站名称", "类型", "服务项目", "所属区", "街道", "经度", "纬度"]
    rows = [
        [
            "赤岗街道 家政服务站",
            "服务站",
            "养老",
            "海珠区",
            "赤岗街道",
            str(TOWER[0]),
            str(TOWER[1]),
        ]
    ]
    path = write_csv(tmp_path / "s.csv", rows, headers=headers)
    run(ingester, store, path)
    rows[0][0] = "赤岗街道家政服务站"  # the same station, spelt without the space
    report = run(ingester, store, write_csv(path, rows, headers=headers))
    assert report.unchanged + report.updated == 1 and store.count() == 1


cell_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "企业",
            "服务站",
            "AAAAA",
            "5A",
            "6A",
            "养老、护理",
            "园艺",
            "nan",
            "inf",
            "-inf",
            "1e400",
            "=cmd|' /C calc'!A0",
            "113.33",
            "23.10",
            "23.10,113.33",
            "高德",
            "百度",
            "GPS",
            "UTM",
            "020-83334567",
            "１２",
            "-3",
            "\x00",
            "\r\n",
        ]
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_messy_rows_are_all_accounted_for(
    tmp_path_factory: pytest.TempPathFactory, ingester: Ingester, data: st.DataObject
) -> None:
    folder = tmp_path_factory.mktemp("messy")
    rows = []
    for n in range(data.draw(st.integers(1, 25))):
        good = row(n)
        rows.append([data.draw(cell_values) if data.draw(st.booleans()) else c for c in good])
    path = folder / "messy.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([HEADERS, *rows])
    store = EmbeddedStore(folder / "store")
    try:
        # A NUL byte costs its row (ingest.limits), never the file: no refusal here.
        report = run(ingester, store, path)
    finally:
        count = store.count()
        store.close()
    assert report.rows_read == report.stored + report.rejected
    assert count == report.inserted
    write_rejects(report, folder / "rejects.csv")
    with (folder / "rejects.csv").open(encoding="utf-8-sig", newline="") as f:
        written = list(csv.DictReader(f))
    assert len(written) == report.rejected
    assert all(not v.startswith(("=", "+", "@")) for r in written for v in r.values())


def test_encoding_can_be_named(tmp_path: Path, ingester: Ingester) -> None:
    path = write_csv(tmp_path / "f.csv", [row(1)], encoding="gbk")
    with pytest.raises(UnreadableFileError, match="not utf-8 text"):
        run(ingester, None, path, encoding="utf-8", dry_run=True)
    assert run(ingester, None, path, encoding="gbk", dry_run=True).stored == 1
    with pytest.raises(UnreadableFileError, match="unknown encoding 'klingon'"):
        run(ingester, None, path, encoding="klingon", dry_run=True)
