"""The batch importer against the row-by-row oracle (tests/ingest_oracle.py), and its
whole-column helpers against the per-cell parsers they stand in for."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ingest.pipeline
from geo.boundaries import CityBoundary, load_districts
from geo.crs import CRS, wgs84_to_bd09, wgs84_to_gcj02
from geo.geocoding import GazetteerGeocoder, GeocoderChain
from geo.package_data import REFERENCE_DIR
from ingest import Ingester, IngestOptions, IngestReport
from ingest.values import (
    _CANONICAL_PHONE,
    canonical_phones,
    credit_codes_valid,
    parse_coordinate,
    parse_coordinates,
    parse_phone,
    split_phones,
)
from providers.credit_code import CREDIT_CODE_ALPHABET, credit_code_problem
from providers.model import Kind, Provider
from providers.store import ProviderStore
from providers.stores.embedded import EmbeddedStore
from tests.helpers import credit_code
from tests.ingest_oracle import oracle_import

TOWER = (113.3245, 23.1064)  # Canton Tower, WGS-84, in 海珠区
HEADERS = ["企业名称", "机构类型", "统一社会信用代码", "信用等级", "服务类别", "详细地址", "所属区",
           "街道", "经度", "纬度", "坐标系", "联系电话", "从业人员数（人）", "持证人数", "营业时间",
           "服务站编码", "备注", "Note"]  # fmt: skip


@pytest.fixture(scope="module")
def city() -> CityBoundary:
    return CityBoundary(load_districts(REFERENCE_DIR))


@pytest.fixture(scope="module")
def geocoders() -> GeocoderChain:
    return GeocoderChain([GazetteerGeocoder(load_districts(REFERENCE_DIR))])


def good_row(n: int) -> dict[str, str]:
    """A valid company row; n picks its point, CRS and a few cells."""
    lon, lat = TOWER[0] + (n % 40) * 0.002, TOWER[1] + (n % 7) * 0.003
    crs = ("高德", "百度", "WGS84")[n % 3]
    if crs == "高德":
        lon, lat = wgs84_to_gcj02(lon, lat)
    elif crs == "百度":
        lon, lat = wgs84_to_bd09(lon, lat)
    return {
        "企业名称": f"安心家政服务有限公司{n}",
        "机构类型": "企业",
        "统一社会信用代码": credit_code(n),
        "信用等级": ("AAAAA", "4A", "３Ａ", "AA", "A")[n % 5],
        "服务类别": ("保洁、月嫂", "养老/陪护", "护理", "育婴 催乳")[n % 4],
        "详细地址": f"海珠区阅江西路{n}号",
        "所属区": ("海珠区", "海珠", "", "越秀区")[n % 4],
        "街道": "赤岗街道",
        "经度": f"{lon:.7f}",
        "纬度": f"{lat:.7f}",
        "坐标系": crs,
        "联系电话": ("020-83334567", "13812345678", "020-8333 4567/13812345678")[n % 3],
        "从业人员数（人）": "20",
        "持证人数": "5",
        "营业时间": "08:00-18:00",
        "服务站编码": "",
        "备注": ("", "老客户", 'a "quoted"\\tab\tnote')[n % 3],
        "Note": "",
    }


MESSY = st.one_of(
    # NUL included: it rejects its row (ingest.limits), as does a cell over its limit.
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(["家" * 201, "1" * 101, "a" * 1_001, "名\x00称"]),
    st.sampled_from(
        [
            "", " ", "企业", "服务站", "company", "公司 ", "AAAAA", "5A", "6A", "级", "-", "ＡＡ",
            "养老、护理", "园艺", "保洁，，", "nan", "inf", "-inf", "1e400", "1_000", "113.33°",
            "１１３.３", "23.10", "113.33", "23.10,113.33", "高德", "百度", "GPS", "UTM", "bd09ll",
            "020-83334567", "１２", "-3", "፩", "²", "30", "0", "12人", "1,000", "١٣٨١٢٣٤٥٦٧٨",
            "13812345678、13912345678", "026-1234567", "+86 138-1234-5678", "400-123-4567",
            "914403001922038216", "914403001922038217", "91440300192203821", "海珠区", "天河区",
            "440105011", "=cmd|' /C calc'!A0", "\\N", "a\tb", "line\nbreak",
        ]
    ),
)  # fmt: skip


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([HEADERS, *([r[h] for h in HEADERS] for r in rows)])
    return path


def assert_same_import(
    report: IngestReport, store: ProviderStore, oracle: tuple[IngestReport, list[Provider]]
) -> None:
    expected, providers = oracle
    assert (report.rows_read, report.stored, report.rejected) == (
        expected.rows_read,
        expected.stored,
        expected.rejected,
    )
    assert report.rejects == expected.rejects
    assert report.warnings == expected.warnings
    for tally in ("precision", "geocoder", "by_category", "by_district"):
        # In the same order too: the JSON report lists them as counted.
        assert list(getattr(report, tally).items()) == list(getattr(expected, tally).items())
    assert store.count() == report.inserted == len(providers)
    for provider in providers:
        assert store.get(provider.id) == provider


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_messy_rows_import_as_the_oracle_says(
    tmp_path_factory: pytest.TempPathFactory,
    city: CityBoundary,
    geocoders: GeocoderChain,
    monkeypatch: pytest.MonkeyPatch,
    data: st.DataObject,
) -> None:
    folder = tmp_path_factory.mktemp("messy")
    rows = []
    for _ in range(data.draw(st.integers(1, 30), label="rows")):
        row = good_row(data.draw(st.integers(0, 12), label="template"))
        for header in data.draw(st.lists(st.sampled_from(HEADERS), max_size=4), label="spoil"):
            row[header] = data.draw(MESSY, label=header)
        rows.append(row)
    path = write(folder / "messy.csv", rows)
    options = IngestOptions(
        kind=data.draw(st.sampled_from([None, Kind.COMPANY, Kind.STATION]), label="kind"),
        crs=data.draw(st.sampled_from([None, CRS.GCJ02]), label="crs"),
    )
    # Small batches: duplicates and tallies must carry across batch boundaries.
    monkeypatch.setattr(ingest.pipeline, "BATCH_ROWS", data.draw(st.integers(1, 8)))
    store = EmbeddedStore(folder / "store")
    try:
        report = Ingester(city, geocoders).run([path], store, options)
        assert_same_import(report, store, oracle_import([path], city, geocoders, options))
    finally:
        store.close()


def test_a_realistic_file_lands_as_the_oracle_says_in_both_stores(
    tmp_path: Path, city: CityBoundary, geocoders: GeocoderChain, store: ProviderStore
) -> None:
    rows = [good_row(n) for n in range(300)]
    rows[7]["统一社会信用代码"] = rows[3]["统一社会信用代码"]  # a duplicate
    rows[11]["经度"], rows[11]["纬度"] = rows[11]["纬度"], rows[11]["经度"]  # swapped
    rows[12].update(经度="", 纬度="")  # geocoded (district)
    rows[13].update(信用等级="级")  # a company left ungraded: the model's word
    rows[14].update(联系电话="١٣٨١٢٣٤٥٦٧٨")  # non-ASCII digits: the model's word
    rows[15].update(机构类型="服务站", 信用等级="", 统一社会信用代码="", 服务站编码="440105011")
    rows[16].update(机构类型="服务站", 信用等级="", 统一社会信用代码="")  # keyed by name
    rows[17]["从业人员数（人）"] = "፩"
    path = write(tmp_path / "名录.csv", rows)
    report = Ingester(city, geocoders).run([path], store, IngestOptions())
    oracle = oracle_import([path], city, geocoders, IngestOptions())
    assert_same_import(report, store, oracle)
    assert report.rejected == 5  # the duplicate, the swapped pair, 级, the phone, ፩
    again = Ingester(city, geocoders).run([path], store, IngestOptions())
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, report.stored)


codes = st.one_of(
    st.integers(0, 10**9 - 1).map(credit_code),
    st.text(alphabet=CREDIT_CODE_ALPHABET + "IOSVZ９a\ud800", min_size=16, max_size=19),
    st.text(max_size=20),
)


@given(st.lists(codes, max_size=30))
def test_credit_codes_are_checked_as_credit_code_problem_says(values: list[str]) -> None:
    valid = credit_codes_valid(values).tolist()
    assert valid == [credit_code_problem(v) is None for v in values]


@given(st.from_regex(_CANONICAL_PHONE, fullmatch=True))
def test_canonical_phones_are_what_parse_phone_gives(phone: str) -> None:
    assert split_phones(phone) == [phone] and parse_phone(phone) == (phone, None)
    assert canonical_phones([phone]).tolist() == [True]


@given(st.lists(st.one_of(MESSY, st.floats().map(str)), max_size=30))
def test_coordinate_columns_parse_as_parse_coordinate_says(cells: list[str]) -> None:
    cells = [c.strip() for c in cells]
    values, problems = parse_coordinates(cells, "经度")
    for i, cell in enumerate(cells):
        value, problem = parse_coordinate(cell, "经度")
        assert problems.get(i) == problem
        assert (value is None and values[i] != values[i]) or values[i] == value


def test_lines_follow_line_breaks_inside_cells_and_blank_lines(
    tmp_path: Path, city: CityBoundary, geocoders: GeocoderChain
) -> None:
    rows = [good_row(1), good_row(2), good_row(3)]
    rows[0]["备注"] = "两行\n备注"  # line 2 runs on to line 3
    rows[2]["信用等级"] = "6A"
    path = write(tmp_path / "f.csv", rows)
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join([*text[:4], "\n", ",,\n", *text[4:]]), encoding="utf-8")
    report = Ingester(city, geocoders).run([path], None, IngestOptions(dry_run=True))
    assert report.rows_read == 3
    assert [(r.line, r.problems[0].column) for r in report.rejects] == [(7, "信用等级")]
