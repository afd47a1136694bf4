"""Hostile registry files: every row is stored or rejected, the rejects file is inert in a
spreadsheet, and an import that fails leaves the store exactly as it was.

Files vary in encoding (UTF-8, UTF-8 with BOM, GBK, GB18030), carry huge cells (beyond the
csv module's field limit too), NUL bytes, control and invisible characters, spreadsheet
formulas (in header cells too), NaN/inf and out-of-range coordinates. A bad cell costs its
row, not the file: the run counts how many files got past the file-level checks and
asserts that most did, so row accounting and formula safety are what is exercised.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.boundaries import CityBoundary, load_districts
from geo.geocoding import GazetteerGeocoder, GeocoderChain
from geo.package_data import REFERENCE_DIR
from ingest import Ingester, IngestOptions, UnreadableFileError, write_rejects
from ingest.readers import FORMULA_START
from providers.model import Provider
from providers.store import BBox, Filters, ProviderStore
from providers.stores.embedded import EmbeddedStore
from tests.helpers import credit_code
from tests.test_ingest import HEADERS, row

HOSTILE = [
    "",
    " ",
    "=cmd|' /C calc'!A0",
    "+SUM(A1:A9)",
    "-2+3",
    "@SUM(1)",
    "\t=1+1",
    '=HYPERLINK("http://evil.example","点击")',
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e400",
    "-1e400",
    "9999",
    "0",
    "\u202e反转文字",  # right-to-left override
    "零\u200b宽",  # zero-width space
    "\x07\x08\x1b[31m",
    "\ufeff",
    "𠮷野家",  # outside the BMP; not in GBK
    "養老",  # traditional characters
    "\r",
    "a\nb",
    "'",
    '"',
    ",;，；",
    "\x00",
    "海珠\x00家政",
]
HOSTILE_HEADERS = ['=HYPERLINK("http://evil.example","点击")', "+1", "@SUM(1)", "-x", "备注\x07"]
# Share of generated files that must get past the file-level checks.
MIN_PROCESSED_SHARE = 0.8
ENCODINGS = ["utf-8", "utf-8-sig", "gbk", "gb18030"]


@pytest.fixture(scope="module")
def ingester() -> Ingester:
    districts = load_districts(REFERENCE_DIR)
    return Ingester(CityBoundary(districts), GeocoderChain([GazetteerGeocoder(districts)]))


def _cells(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["hostile", "text", "huge", "keep"]))
    if kind == "hostile":
        return draw(st.sampled_from(HOSTILE))
    if kind == "text":
        return draw(st.text(max_size=40))
    if kind == "huge":
        return draw(st.sampled_from(["家", "A", "=", "1"])) * draw(st.integers(10_000, 200_000))
    return ""


@st.composite
def hostile_rows(draw: st.DrawFn, n: int) -> list[list[str]]:
    """``n`` good rows with about half their cells replaced by hostile ones."""
    return [[_cells(draw) if draw(st.booleans()) else c for c in row(i)] for i in range(n)]


def _write(path: Path, rows: list[list[str]], encoding: str, headers: list[str] = HEADERS) -> Path:
    with path.open("w", encoding=encoding, errors="replace", newline="") as f:
        csv.writer(f).writerows([headers, *rows])
    return path


def _baseline(store: ProviderStore, ingester: Ingester, folder: Path) -> None:
    """Load a few good rows first, so "unchanged" has something to compare."""
    base = [
        row(i, 统一社会信用代码=credit_code(500 + i), 企业名称=f"基准家政{i}") for i in range(5)
    ]
    path = _write(folder / "base.csv", base, "gbk")
    report = ingester.run([path], store, IngestOptions())
    assert report.stored == 5


_CITY = BBox(112.9, 22.5, 114.1, 23.95)
_ALL = Filters(include_approximate=True)


def _state(store: ProviderStore) -> list[Provider]:
    """Every active provider, by id."""
    return store.within(_CITY, _ALL, 1_000_000)


def test_hostile_files_lose_no_row_and_neutralise_formulas(
    tmp_path_factory: pytest.TempPathFactory, ingester: Ingester
) -> None:
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data())
    def one_file(data: st.DataObject) -> None:
        outcomes["files"] += 1
        folder = tmp_path_factory.mktemp("hostile")
        store = EmbeddedStore(folder / "store")
        try:
            _baseline(store, ingester, folder)
            before = _state(store)
            rows = data.draw(hostile_rows(data.draw(st.integers(1, 30))))
            extra = data.draw(st.lists(st.sampled_from(HOSTILE_HEADERS), max_size=2, unique=True))
            rows = [[*r, *(["x"] * len(extra))] for r in rows]
            encoding = data.draw(st.sampled_from(ENCODINGS))
            path = _write(folder / "hostile.csv", rows, encoding, [*HEADERS, *extra])
            try:
                report = ingester.run([path], store, IngestOptions())
            except UnreadableFileError:
                outcomes["refused"] += 1
                assert _state(store) == before, "a refused file changed the store"
                return
            outcomes["processed"] += 1
            outcomes["rows"] += report.rows_read
            outcomes["rejected"] += report.rejected
            assert report.rows_read == report.stored + report.rejected
            assert report.rows_read == len(rows) - _blank_rows(rows)
            assert len(_state(store)) == len(before) + report.inserted
            # Nothing lost: each reject names its line (once), and a column and a reason.
            lines = [r.line for r in report.rejects]
            assert len(set(lines)) == len(lines) and all(line >= 2 for line in lines)
            for reject in report.rejects:
                assert reject.problems and all(p.column and p.reason for p in reject.problems)
            rejects = folder / "rejects.csv"
            write_rejects(report, rejects)
            with rejects.open(encoding="utf-8-sig", newline="") as f:
                header, *written = list(csv.reader(f))
            assert len(written) == report.rejected
            for value in [*header, *(cell for cells in written for cell in cells)]:
                assert not value.startswith(FORMULA_START), value[:40]
        finally:
            store.close()

    one_file()
    processed = outcomes["processed"] / outcomes["files"]
    print(f"\nhostile files: {dict(outcomes)}")
    assert processed >= MIN_PROCESSED_SHARE, outcomes
    assert outcomes["rejected"] > 0 and outcomes["rows"] > outcomes["rejected"], outcomes


def _blank_rows(rows: list[list[str]]) -> int:
    # A row of empty cells is a blank line, not a record (it is neither stored nor rejected).
    return sum(1 for r in rows if not any(c.strip() for c in r))


def test_ten_thousand_hostile_rows_are_all_accounted_for(
    tmp_path: Path, ingester: Ingester
) -> None:
    rng = random.Random(20261129)
    rows = []
    for i in range(12_000):
        # row(i) walks east with i; keep the points in the city, the ids distinct.
        cells = row(i % 50, 统一社会信用代码=credit_code(i), 企业名称=f"海珠家政{i}")
        for j in rng.sample(range(len(cells)), rng.randint(0, 3)):
            cells[j] = rng.choice(HOSTILE)
        rows.append(cells)
    path = _write(tmp_path / "big.csv", rows, "gb18030")
    store = EmbeddedStore(tmp_path / "store")
    try:
        report = ingester.run([path], store, IngestOptions())
        assert report.rows_read == 12_000 - _blank_rows(rows)
        assert report.rows_read == report.stored + report.rejected
        assert store.count() == report.inserted
        assert report.rejected > 1_000 and report.stored > 1_000
        again = ingester.run([path], store, IngestOptions())
        assert (again.inserted, again.updated) == (0, 0), "a re-run must change nothing"
    finally:
        store.close()
    print(f"\n12,000 hostile rows: {report.stored} stored, {report.rejected} rejected, 0 lost")


def test_an_import_refused_half_way_leaves_the_store_as_it_was(
    tmp_path: Path, ingester: Ingester
) -> None:
    store = EmbeddedStore(tmp_path / "store")
    try:
        _baseline(store, ingester, tmp_path)
        before = _state(store)
        good = _write(tmp_path / "good.csv", [row(i) for i in range(50)], "gbk")
        broken = tmp_path / "broken.csv"
        broken.write_bytes(b"\x00\x01\x02 not a table \xff\xfe")
        with pytest.raises(UnreadableFileError):
            ingester.run([good, broken], store, IngestOptions(mode="snapshot", source="base"))
        assert _state(store) == before
    finally:
        store.close()
