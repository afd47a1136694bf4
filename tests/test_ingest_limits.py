"""Hostile cells and hostile files: an over-long cell, a NUL byte or a formula header cost
one row (or a clear refusal of the file), never a crash, never a 5-million-character name
in the store."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from geo.boundaries import CityBoundary, load_districts
from geo.geocoding import GazetteerGeocoder, GeocoderChain
from geo.package_data import REFERENCE_DIR
from ingest import Ingester, UnreadableFileError, write_rejects
from ingest.feeds import FeedKind
from ingest.limits import (
    ADDRESS_CHARS,
    COMMUNITY_CHARS,
    FREE_CELL_CHARS,
    NAME_CHARS,
    OPENING_HOURS_CHARS,
    PERSON_NAME_CHARS,
    PHONE_CHARS,
    STREET_CHARS,
    TEXT_CHARS,
)
from ingest.readers import MAX_JSON_DEPTH, json_depth
from jzmap.application.feeds import FeedOptions, run_feed
from providers.identity import company_id
from providers.store import ProviderStore
from tests.helpers import credit_code
from tests.test_ingest import HEADERS, row, run, write_csv

FIELDS = [
    ("企业名称", NAME_CHARS),
    ("详细地址", ADDRESS_CHARS),
    ("营业时间", OPENING_HOURS_CHARS),
    ("联系电话", PHONE_CHARS),
    ("街道", STREET_CHARS),
    ("社区", COMMUNITY_CHARS),
    ("备注", FREE_CELL_CHARS),  # a free column, kept in extra
]
WITH_COMMUNITY = [*HEADERS, "社区"]


@pytest.fixture(scope="module")
def ingester() -> Ingester:
    districts = load_districts(REFERENCE_DIR)
    return Ingester(CityBoundary(districts), GeocoderChain([GazetteerGeocoder(districts)]))


def _row(n: int, **cells: str) -> list[str]:
    return [*row(n, **{k: v for k, v in cells.items() if k != "社区"}), cells.get("社区", "")]


@pytest.mark.parametrize(("column", "limit"), FIELDS)
def test_each_text_field_has_a_limit_and_an_over_long_cell_rejects_its_row(
    tmp_path: Path, ingester: Ingester, store: ProviderStore, column: str, limit: int
) -> None:
    # Exactly at the limit is stored; one character over, the row is rejected with its
    # line, column and limit. The phone column must still parse at its limit: numbers.
    at_limit = (
        ("13812345678/" * limit)[:limit].rstrip("/") if column == "联系电话" else "家" * limit
    )
    rows = [_row(1, **{column: at_limit}), _row(2, **{column: "家" * (limit + 1)}), _row(3)]
    path = write_csv(tmp_path / "f.csv", rows, encoding="utf-8", headers=WITH_COMMUNITY)
    report = run(ingester, store, path)
    assert (report.stored, report.rejected) == (2, 1)
    (reject,) = report.rejects
    assert reject.line == 3
    assert [(p.column, p.reason) for p in reject.problems] == [
        (column, f"{column} has {limit + 1:,} characters; at most {limit:,} are allowed")
    ]
    assert reject.cells[column] == "家" * limit + "…", "the rejects file keeps the cell cut"
    assert store.get(company_id(credit_code(2))) is None
    assert store.get(company_id(credit_code(1))) is not None


def test_a_five_million_character_name_in_a_small_xlsx_is_one_reject(
    tmp_path: Path, ingester: Ingester, store: ProviderStore
) -> None:
    # openpyxl itself cuts a cell at Excel's 32,767 characters; a hand-made file does not.
    path = _xlsx_with(tmp_path, "", "家" * 5_242_880)
    assert path.stat().st_size < 100_000, "a small file"
    report = run(ingester, store, path)
    assert (report.stored, report.rejected) == (1, 1)
    (reject,) = report.rejects
    assert reject.line == 2 and reject.problems[0].column == "企业名称"
    assert "5,242,880 characters; at most 200" in reject.problems[0].reason
    assert len(reject.cells["企业名称"]) == NAME_CHARS + 1
    assert store.count() == 1


def test_a_cell_over_the_csv_modules_field_limit_rejects_its_row_not_the_file(
    tmp_path: Path, ingester: Ingester, store: ProviderStore
) -> None:
    huge = "A" * 200_000  # the csv module's own limit is 131,072 characters
    rows = [row(1, 备注=huge), row(2, 服务类别=huge), row(3)]
    path = write_csv(tmp_path / "f.csv", rows, encoding="utf-8")
    report = run(ingester, store, path)
    assert (report.stored, report.rejected) == (1, 2)
    assert [(r.line, r.problems[0].column) for r in report.rejects] == [
        (2, "备注"),
        (3, "服务类别"),
    ]


def test_a_nul_byte_rejects_its_row_and_in_the_header_refuses_the_file(
    tmp_path: Path, ingester: Ingester, store: ProviderStore
) -> None:
    rows = [row(1, 企业名称="海珠\x00家政"), row(2, 备注="\x00"), row(3)]
    path = write_csv(tmp_path / "nul.csv", rows, encoding="utf-8")
    report = run(ingester, store, path)
    assert (report.stored, report.rejected) == (1, 2)
    assert [(r.line, r.problems[0].column) for r in report.rejects] == [
        (2, "企业名称"),
        (3, "备注"),
    ]
    assert "NUL character" in report.rejects[0].problems[0].reason
    # UTF-16 text read as bytes: NULs in the header. The file is refused, and says why.
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("name,address\nA,B\n".encode("utf-16-le"))
    with pytest.raises(UnreadableFileError, match="UTF-16"):
        run(ingester, store, utf16)
    assert store.count() == 1


def test_the_rejects_files_header_cells_are_formula_safe_and_load_back(
    tmp_path: Path, ingester: Ingester, store: ProviderStore
) -> None:
    formula = '=HYPERLINK("http://evil.example","点击")'
    headers = [*HEADERS, formula, "@SUM(1)"]
    path = write_csv(
        tmp_path / "f.csv", [[*row(1, 信用等级="6A"), "x", "y"]], encoding="utf-8", headers=headers
    )
    report = run(ingester, store, path)
    rejects = tmp_path / "rejects.csv"
    write_rejects(report, rejects)
    with rejects.open(encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f))
    assert "'" + formula in header and "'@SUM(1)" in header
    assert not any(h.startswith(("=", "+", "-", "@")) for h in header)
    # Fixed and loaded back, the free columns keep their original names.
    text = rejects.read_text(encoding="utf-8-sig").replace("6A", "AA")
    rejects.write_text(text, encoding="utf-8-sig")
    again = run(ingester, store, rejects)
    assert (again.inserted, again.rejected) == (1, 0)
    stored = store.get(company_id(credit_code(1)))
    assert stored is not None and stored.extra[formula] == "x" and stored.extra["@SUM(1)"] == "y"


def _xlsx_with(tmp_path: Path, prologue: str, cell: str) -> Path:
    """A real workbook whose sheet XML is given a prologue and one cell's text."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADERS)
    sheet.append(row(1, 企业名称="PLACEHOLDER"))
    sheet.append(row(2))
    plain = tmp_path / "plain.xlsx"
    book.save(plain)
    out = tmp_path / "hostile.xlsx"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            text = src.read(info).decode()
            if info.filename == "xl/worksheets/sheet1.xml":
                head, declared, body = text.partition("?>")
                text = f"{head}?>{prologue}{body}" if declared else prologue + text
            dst.writestr(info, text.replace("PLACEHOLDER", cell).encode())
    return out


@pytest.mark.parametrize(
    ("prologue", "cell", "message"),
    [
        ('<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>', "&a;", "DTD"),
        ("<!DOCTYPE worksheet>", "名称", "DTD"),
        ("", "&undefined;", "not well-formed"),
        ('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', "&e;", "DTD"),
    ],
)
def test_xlsx_with_a_dtd_or_an_entity_is_refused(  # noqa: PLR0917 (pytest passes each by name)
    tmp_path: Path, ingester: Ingester, store: ProviderStore, prologue: str, cell: str, message: str
) -> None:
    path = _xlsx_with(tmp_path, prologue, cell)
    with pytest.raises(UnreadableFileError, match=message):
        run(ingester, store, path)
    assert store.count() == 0


def test_geojson_nested_too_deep_is_refused_and_depth_is_measured_without_recursion(
    tmp_path: Path, ingester: Ingester, store: ProviderStore
) -> None:
    assert json_depth('{"a": ["[[[{{", {"b": [1]}]}') == 4, "brackets in strings do not count"
    assert json_depth('"x"') == 0 and json_depth("[" * 100_000 + "]" * 100_000) == 100_000
    deep = tmp_path / "deep.geojson"
    deep.write_text(
        '{"type": "FeatureCollection", "features": ' + "[" * 100_000 + "]" * 100_000 + "}"
    )
    with pytest.raises(
        UnreadableFileError, match=f"100,001 levels deep \\(at most {MAX_JSON_DEPTH}\\)"
    ):
        run(ingester, store, deep)
    # A property nested a few levels is a cell like any other (its JSON text, limited).
    lon, lat = 113.3245, 23.1064
    feature: dict[str, Any] = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"name": "赤岗街道家政服务站", "kind": "station", "categories": "养老",
                       "station_code": "440105011", "note": {"a": ["家" * 2_000]}},
    }  # fmt: skip
    ok = tmp_path / "ok.geojson"
    ok.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    report = run(ingester, store, ok)
    assert report.rejected == 1 and report.rejects[0].problems[0].column == "note"
    lone = tmp_path / "lone.geojson"
    feature["properties"]["note"] = "\\ud800"
    lone.write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]}).replace(
            "\\\\ud800", "\\ud800"
        )
    )
    report = run(ingester, store, lone)
    assert report.rejected == 1 and "lone surrogate" in report.rejects[0].problems[0].reason


PRACTITIONER_HEADERS = ["编号", "姓名", "身份证号", "联系电话", "所属企业", "星级", "备注"]


def test_feed_files_hold_the_same_limits_and_never_quote_a_private_cell(tmp_path: Path) -> None:
    name = "张" * (PERSON_NAME_CHARS + 1)
    rows = [
        ["P001", name, "110101199003074514", "13812345678", "", "4", ""],
        ["P002", "李四", "11010119900307451\x00", "13812345679", "", "4", ""],
    ]
    path = tmp_path / "register.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([PRACTITIONER_HEADERS, *rows])
    report = run_feed([path], FeedOptions(FeedKind.PRACTITIONERS), providers=None)
    assert (report.rows_read, report.rejected) == (2, 2)
    got = {r.line: [(p.column, p.reason) for p in r.problems] for r in report.rejects}
    assert got[2] == [
        ("姓名", f"姓名 has {PERSON_NAME_CHARS + 1} characters; at most 100 are allowed")
    ]
    assert got[3][0][0] == "身份证号" and "NUL" in got[3][0][1]
    assert name not in json.dumps(report.to_dict(with_cells=True), ensure_ascii=False)

    evaluations = tmp_path / "log.csv"
    with evaluations.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(
            [
                ["编号", "类型", "对象编号", "时间", "星级", "内容"],
                ["E1", "评价", credit_code(1), "2026-03-01", "5", "好" * (TEXT_CHARS + 1)],
            ]
        )
    report = run_feed([evaluations], FeedOptions(FeedKind.EVALUATIONS), providers=None)
    assert report.rejected == 1
    assert report.rejects[0].problems[0].column == "内容"
    assert f"at most {TEXT_CHARS:,}" in report.rejects[0].problems[0].reason
