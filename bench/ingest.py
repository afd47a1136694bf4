"""Import throughput: rows per second from a registry CSV into each store.

Run with ``scripts/bench-ingest [--rows 1000000]`` (not a test). The file is a GBK CSV
with Chinese headers and AMap (GCJ-02) coordinates, the common case, so every row goes
through header mapping, value parsing, credit-code checks, CRS conversion, the city
boundary test, H3 cells and the store's one-transaction upsert. The reference measured in
the same run is reading and parsing the same file with the csv module alone, the floor
any importer in Python stands on; the dry run is all of it but the store.

Issue 3 asks for 20,000 rows/s into PostGIS: 50 s for a million rows. Each store is timed
three ways: the file into an empty store (for PostGIS a bulk load: indexes built at the
end), the same file again (every row unchanged), and a second million new providers into
the full store (PostGIS merges them with every index maintained row by row).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from geo.boundaries import CityBoundary, load_districts
from geo.crs import wgs84_to_gcj02
from geo.geocoding import GeocoderChain
from ingest import Ingester, IngestOptions
from jzmap.settings import REFERENCE_DIR
from providers.credit_code import credit_code_check_char
from providers.stores.embedded import EmbeddedStore
from providers.stores.engine import make_engine, sqlalchemy_url, upgrade_schema
from providers.stores.pg_database import Database
from providers.stores.postgis import PostgisStore

HEADERS = ["企业名称", "机构类型", "统一社会信用代码", "信用等级", "服务类别", "详细地址", "所属区",
           "经度", "纬度", "坐标系", "联系电话", "从业人员数（人）", "持证人数"]  # fmt: skip


def make_csv(path: Path, rows: int, first: int = 0) -> None:
    """``rows`` registry rows whose credit codes are numbered from ``first``."""
    rng = np.random.default_rng(1)
    districts = load_districts(REFERENCE_DIR)
    haizhu = districts.loc[districts["name"] == "海珠区"].geometry.iloc[0]
    points = haizhu.buffer(-0.002).bounds
    lon = rng.uniform(points[0], points[2], rows)
    lat = rng.uniform(points[1], points[3], rows)
    inside = CityBoundary(districts).contains(lon, lat)
    lon, lat = lon[inside], lat[inside]
    glon, glat = wgs84_to_gcj02(lon, lat)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    grades = ["AAAAA", "4A", "3A", "AA", "A"]
    for n in range(first, first + rows):
        i = n % lon.size
        first17 = f"91440105{n:09d}"
        writer.writerow([
            f"海珠家政服务有限公司{n}", "企业", first17 + credit_code_check_char(first17),
            grades[n % 5], "保洁、月嫂" if n % 2 else "养老/陪护", f"海珠区某路{n}号", "海珠区",
            f"{glon[i]:.7f}", f"{glat[i]:.7f}", "高德", f"020-8{n % 10_000_000:07d}", "20", "5",
        ])  # fmt: skip
    path.write_bytes(out.getvalue().encode("gbk"))


def parse_only(path: Path) -> int:
    text = path.read_bytes().decode("gb18030")
    return sum(1 for _ in csv.reader(io.StringIO(text, newline=""))) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL")
    if not server:
        sys.exit("DATABASE_URL is not set; run through scripts/bench-ingest")
    folder = Path(tempfile.mkdtemp(prefix="jzmap-bench-ingest-"))
    path = folder / "registry.csv"
    make_csv(path, args.rows)
    print(f"{args.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB GBK CSV", file=sys.stderr)

    started = time.perf_counter()
    parse_only(path)
    floor = time.perf_counter() - started

    ingester = Ingester(CityBoundary(load_districts(REFERENCE_DIR)), GeocoderChain([]))
    admin = sa.create_engine(sqlalchemy_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text('DROP DATABASE IF EXISTS "jzmap_bench_ingest" WITH (FORCE)'))
        c.execute(sa.text('CREATE DATABASE "jzmap_bench_ingest"'))
    url = sa.make_url(sqlalchemy_url(server)).set(database="jzmap_bench_ingest")
    db_url = url.render_as_string(hide_password=False)
    engine = make_engine(db_url)
    upgrade_schema(engine)
    engine.dispose()

    results = [("csv module only (reference)", floor, args.rows)]
    started = time.perf_counter()
    checked = ingester.run([path], None, IngestOptions(dry_run=True))
    results.append(("validation only (dry run)", time.perf_counter() - started, checked.stored))
    # Into the empty table (a bulk load), the same file again (all unchanged), then as many
    # new providers into the full table (merged row by row, indexes maintained).
    more = folder / "more.csv"
    make_csv(more, args.rows, first=args.rows)
    db = Database.open(db_url)
    for label, store in (
        ("PostGIS store", PostgisStore(db)),
        ("embedded store", EmbeddedStore(folder / "embedded")),
    ):
        for what, file in (("", path), (", same file again", path), (", +new into full", more)):
            started = time.perf_counter()
            report = ingester.run([file], store, IngestOptions())
            results.append((label + what, time.perf_counter() - started, report.rows_read))
        store.close()
    db.close()
    print(f"{'path':<37} {'rows':>10} {'seconds':>9} {'rows/s':>10} {'vs reference':>13}")
    for label, seconds, rows in results:
        ratio = seconds / floor
        print(f"{label:<37} {rows:>10,} {seconds:>9.1f} {rows / seconds:>10,.0f} {ratio:>12.1f}x")
    with admin.connect() as c:
        c.execute(sa.text('DROP DATABASE IF EXISTS "jzmap_bench_ingest" WITH (FORCE)'))


if __name__ == "__main__":
    main()
