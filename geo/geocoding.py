"""Geocoding registry addresses that come without coordinates.

A chain the settings configure: an offline *gazetteer* built from boundary layers the
operator loads (districts ship with the demo; streets when a layer is given) and an
online adapter speaking the AMap (高德) Web Service geocoding JSON. The chain keeps the most
precise answer and stops at the first exact one, so the cheap offline lookup goes first.
Every result says which geocoder produced it and how precise it is.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import geopandas as gpd

from geo.crs import gcj02_to_wgs84
from geo.precision import Precision

_RANK = {Precision.EXACT: 3, Precision.STREET: 2, Precision.DISTRICT: 1}


@dataclass(frozen=True, slots=True)
class AddressQuery:
    address: str
    district: str = ""
    street: str = ""
    city: str = "广州市"


@dataclass(frozen=True, slots=True)
class GeocodeResult:
    """A WGS-84 point, how precise it is and which geocoder found it."""

    lon: float
    lat: float
    precision: Precision
    geocoder: str


class GeocoderUnavailableError(RuntimeError):
    """The geocoder cannot answer (network, quota, key); the message says which."""


class Geocoder(Protocol):
    name: str

    def geocode(self, query: AddressQuery) -> GeocodeResult | None:
        """A result, ``None`` when the address is not found, or GeocoderUnavailableError."""
        ...


class GazetteerGeocoder:
    """Offline: a street or district named in the record (its own column, or inside the
    address) is placed at that area's representative point, with that precision.

    Parameters
    ----------
    districts
        Polygons with a ``name`` column (WGS-84 or any CRS).
    streets
        Optional polygons with ``name`` and ``district`` columns.
    """

    name = "gazetteer"

    def __init__(
        self, districts: gpd.GeoDataFrame, streets: gpd.GeoDataFrame | None = None
    ) -> None:
        self._districts = _points_by_name(districts)
        self._streets: dict[tuple[str, str], tuple[float, float]] = {}
        if streets is not None:
            wgs = streets.to_crs("EPSG:4326")
            points = wgs.geometry.representative_point()
            for name, district, point in zip(wgs["name"], wgs["district"], points, strict=True):
                self._streets[(str(district), str(name))] = (point.x, point.y)

    def geocode(self, query: AddressQuery) -> GeocodeResult | None:
        district = query.district or next((d for d in self._districts if d in query.address), "")
        street = query.street or next(
            (s for (d, s) in self._streets if d == district and s in query.address), ""
        )
        if (district, street) in self._streets:
            lon, lat = self._streets[(district, street)]
            return GeocodeResult(lon, lat, Precision.STREET, self.name)
        if district in self._districts:
            lon, lat = self._districts[district]
            return GeocodeResult(lon, lat, Precision.DISTRICT, self.name)
        return None


def _points_by_name(layer: gpd.GeoDataFrame) -> dict[str, tuple[float, float]]:
    wgs = layer.to_crs("EPSG:4326")
    points = wgs.geometry.representative_point()
    return {str(n): (p.x, p.y) for n, p in zip(wgs["name"], points, strict=True)}


# AMap's "level" of a match, to our precision; coarser levels (city, province) are refused.
AMAP_LEVELS: dict[str, Precision] = {
    **dict.fromkeys(("门牌号", "兴趣点", "单元号", "楼栋", "道路交叉路口"), Precision.EXACT),
    **dict.fromkeys(("道路", "村庄", "乡镇", "街道", "开发区", "热点商圈"), Precision.STREET),
    "区县": Precision.DISTRICT,
}


class AmapGeocoder:
    """AMap Web Service geocoding (``/v3/geocode/geo``), with a disk cache, a rate limit,
    timeouts and retries with exponential backoff.

    AMap answers in GCJ-02; results are converted to WGS-84. Answers (found or not found)
    are cached on disk by (city, address) so re-running an import asks nothing twice.
    Transient failures (timeouts, HTTP 5xx, QPS limits) are retried; a refused key or an
    exhausted daily quota stops the geocoder for the rest of the run.

    Parameters
    ----------
    key
        The AMap Web Service key.
    url
        The endpoint (tests point it at a local fake server).
    cache_path
        SQLite file for the cache; ``None`` for no cache.
    """

    name = "amap"

    def __init__(
        self,
        key: str,
        *,
        url: str = "https://restapi.amap.com/v3/geocode/geo",
        cache_path: Path | None = None,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_per_second: float = 20.0,
    ) -> None:
        self._key = key
        self._url = url
        self._timeout_s = timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._interval_s = 1.0 / max_per_second if max_per_second > 0 else 0.0
        self._next_at = 0.0
        self._lock = threading.Lock()
        self._stopped: str | None = None
        self._cache: sqlite3.Connection | None = None
        if cache_path is not None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            self._cache = sqlite3.connect(cache_path, check_same_thread=False)
            self._cache.execute(
                "CREATE TABLE IF NOT EXISTS amap (city TEXT, address TEXT, answer TEXT, "
                "PRIMARY KEY (city, address))"
            )

    def geocode(self, query: AddressQuery) -> GeocodeResult | None:
        if self._stopped:
            raise GeocoderUnavailableError(self._stopped)
        text = query.address if query.district in query.address else query.district + query.address
        cached = self._cached(query.city, text)
        body = cached if cached is not None else self._ask(query.city, text)
        return self._parse(body)

    def _cached(self, city: str, address: str) -> str | None:
        if self._cache is None:
            return None
        with self._lock:
            row = self._cache.execute(
                "SELECT answer FROM amap WHERE city = ? AND address = ?", (city, address)
            ).fetchone()
        return None if row is None else str(row[0])

    def _ask(self, city: str, address: str) -> str:
        params = urllib.parse.urlencode(
            {"key": self._key, "address": address, "city": city, "output": "JSON"}
        )
        last = "no attempt"
        for attempt in range(self._retries + 1):
            if attempt:
                time.sleep(self._backoff_s * 2 ** (attempt - 1))
            self._wait_turn()
            try:
                request = urllib.request.Request(f"{self._url}?{params}")  # noqa: S310
                with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                    body: str = response.read().decode("utf-8", errors="replace")
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break
                continue
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last = f"no answer ({getattr(exc, 'reason', exc)})"
                continue
            verdict, why = self._verdict(body)
            if verdict == "retry":
                last = why
                continue
            if verdict == "stop":
                self._stopped = f"AMap refused the request: {_info(body)}; geocoding stopped"
                raise GeocoderUnavailableError(self._stopped)
            self._remember(city, address, body)
            return body
        raise GeocoderUnavailableError(f"AMap geocoder unavailable: {last}")

    def _wait_turn(self) -> None:
        with self._lock:
            now = time.monotonic()
            wait = self._next_at - now
            self._next_at = max(now, self._next_at) + self._interval_s
        if wait > 0:
            time.sleep(wait)

    @staticmethod
    def _verdict(body: str) -> tuple[str, str]:
        """("ok" | "retry" | "stop", why)."""
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            return "retry", "unreadable answer"  # garbled: treated like a dropped answer
        if not isinstance(data, dict) or "status" not in data:
            return "retry", "unreadable answer"
        if str(data.get("status")) == "1":
            return "ok", ""
        info = str(data.get("info", ""))
        # QPS limits pass; a bad key or the daily quota will not within this run.
        transient = ("LIMIT" in info and "DAILY" not in info) or "FREQUENT" in info
        return ("retry", f"AMap rate limit ({info})") if transient else ("stop", info)

    def _remember(self, city: str, address: str, body: str) -> None:
        if self._cache is None:
            return
        with self._lock, self._cache:
            self._cache.execute(
                "INSERT OR REPLACE INTO amap VALUES (?, ?, ?)", (city, address, body)
            )

    def _parse(self, body: str) -> GeocodeResult | None:
        data = json.loads(body)
        geocodes = data.get("geocodes") or [] if isinstance(data, dict) else []
        if not isinstance(geocodes, list) or not geocodes or not isinstance(geocodes[0], dict):
            return None
        best = geocodes[0]
        precision = AMAP_LEVELS.get(str(best.get("level", "")))
        try:
            lon_text, lat_text = str(best.get("location", "")).split(",")
            lon, lat = gcj02_to_wgs84(float(lon_text), float(lat_text))
        except ValueError:
            return None
        if precision is None:
            return None
        return GeocodeResult(lon, lat, precision, self.name)


def _info(body: str) -> str:
    try:
        data = json.loads(body)
        return f"{data.get('info')} (infocode {data.get('infocode')})"
    except (json.JSONDecodeError, AttributeError):
        return body[:80]


class GeocoderChain:
    """Ask geocoders in order; keep the most precise answer; stop at an exact one.

    A geocoder that is unavailable is reported back with the answer so the row's reason
    can say so when nothing else found the address.
    """

    def __init__(self, geocoders: Sequence[Geocoder]) -> None:
        self.geocoders = list(geocoders)

    def geocode(self, query: AddressQuery) -> tuple[GeocodeResult | None, list[str]]:
        best: GeocodeResult | None = None
        failures: list[str] = []
        for geocoder in self.geocoders:
            try:
                found = geocoder.geocode(query)
            except GeocoderUnavailableError as exc:
                failures.append(str(exc))
                continue
            if found is not None and (
                best is None or _RANK[found.precision] > _RANK[best.precision]
            ):
                best = found
            if best is not None and best.precision is Precision.EXACT:
                break
        return best, failures
