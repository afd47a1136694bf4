"""Map page weight and time to first data at 1k and 1M providers (not a test).

Run with ``make bench-map`` (``scripts/bench-map [--providers 1000 1000000]``). Each city
is built in an embedded store, served by uvicorn, and ``/map`` and ``/widget`` are opened
in headless Chromium (Debian's) at a phone's size; every response body until the first
layer is drawn is counted: HTML, scripts, styles, tiles (a blank local tile) and the
first data. The reference is the smallest city, measured in the same run; the ratio
column is weight / reference weight (the acceptance bound is < 1.2).

A zoomed-in viewport of the densest district is measured too: there the answer is
bounded by the point cap (or turns into H3 counts), not by the data.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from api.app import create_app
from jzmap.demo import generate_demo
from jzmap.settings import REFERENCE_DIR, Settings
from providers.store import Filters, TallyBy
from providers.stores import open_backend
from tests.browser import CHROMIUM_ARGS, chromium_path, serve_app

PAGES = {
    "/map (city)": "/map",
    "/widget (city)": "/widget",
    "/map (Tianhe, z15)": "/map?lat=23.1291&lon=113.3245&zoom=15",
}


def measure(browser: Browser, url: str) -> tuple[int, float]:
    """Bytes of every response until the first layer is drawn, and the time it took."""
    context = browser.new_context(viewport={"width": 375, "height": 667})
    page = context.new_page()
    sizes: list[int] = []
    page.on("requestfinished", lambda r: sizes.append(r.sizes()["responseBodySize"]))
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("body[data-layer-state=ready]", state="attached", timeout=60_000)
    elapsed = time.perf_counter() - started
    page.wait_for_load_state("networkidle")
    context.close()
    return sum(sizes), elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, nargs="+", default=[1_000, 1_000_000])
    args = parser.parse_args()
    rows: list[tuple[int, str, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        for companies in args.providers:
            settings = Settings(
                database_url=None,
                data_dir=Path(tmp) / f"city-{companies}",
                tiles_url="/static/blank-tile.png",
            )
            backend = open_backend(settings.database)
            store = backend.store
            print(f"building a city of {companies:,} companies …", file=sys.stderr)
            for chunk in generate_demo(REFERENCE_DIR, companies=companies):
                store.upsert(chunk)
            # The embedded store builds its in-memory snapshot on the first read (a minute
            # at 1M providers): build it before anything is timed.
            store.tally(Filters(), TallyBy.DISTRICT)
            with serve_app(create_app(settings, backend=backend)) as base:
                measure(browser, f"{base}/map")  # warm the page path too
                for name, path in PAGES.items():
                    size, seconds = measure(browser, base + path)
                    rows.append((store.count(), name, size, seconds))
            backend.close()
        browser.close()
    reference = {name: size for n, name, size, _ in rows if n == rows[0][0]}
    print(f"\n{'providers':>10}  {'page':<20} {'KiB':>8} {'ratio':>6} {'first data s':>13}")
    for n, name, size, seconds in rows:
        ratio = size / reference[name]
        print(f"{n:>10,}  {name:<20} {size / 1024:>8.1f} {ratio:>6.3f} {seconds:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
