"""Geocoding registry addresses that come without coordinates.

A chain the settings configure: an offline *gazetteer* built from boundary layers the
operator loads (districts ship with the demo; streets when a layer is given) and an
online adapter speaking the AMap (高德) Web Service geocoding JSON. The chain keeps the most
precise answer and stops at the first exact one, so the cheap offline lookup goes first.
Every result says which geocoder produced it and how precise it is.

The other way round, :class:`AmapReverseGeocoder` names the address at a point (AMap's
``/v3/geocode/regeo``) for proposed station sites, with the same key, timeouts, rate limit
and disk cache, and a deadline so that a slow AMap cannot hold up the request asking.
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

from geo.crs import gcj02_to_wgs84, wgs84_to_gcj02
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


class _AmapClient:
    """What both AMap Web Services share: the key, the endpoint, a rate limit, timeouts,
    retries with exponential backoff, an optional deadline, and a stop on a refused key or
    an exhausted daily quota (for good, or for ``stop_for_s``)."""

    def __init__(
        self,
        key: str,
        *,
        url: str,
        timeout_s: float,
        retries: int,
        backoff_s: float,
        max_per_second: float,
        stop_for_s: float | None = None,
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
        self._stop_for_s = stop_for_s
        self._stopped_until = 0.0

    def _check_stopped(self) -> None:
        if self._stopped is None:
            return
        if self._stop_for_s is not None and time.monotonic() >= self._stopped_until:
            self._stopped = None  # a new day's quota, a fixed key: ask again
            return
        raise GeocoderUnavailableError(self._stopped)

    def _request(self, params: dict[str, str], *, deadline_s: float | None = None) -> str:
        """The answer's text, once AMap said status 1; ``deadline_s`` (``time.monotonic()``)
        bounds every wait, timeout and backoff."""
        query = urllib.parse.urlencode({"key": self._key, **params, "output": "JSON"})
        last = "no attempt"
        for attempt in range(self._retries + 1):
            if attempt:
                self._sleep(self._backoff_s * 2 ** (attempt - 1), deadline_s, last)
            self._wait_turn(deadline_s, last)
            timeout_s = self._timeout_s
            if deadline_s is not None:
                timeout_s = min(timeout_s, _left_s(deadline_s, last))
            try:
                request = urllib.request.Request(f"{self._url}?{query}")  # noqa: S310
                with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
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
                self._stopped_until = time.monotonic() + (self._stop_for_s or 0.0)
                raise GeocoderUnavailableError(self._stopped)
            return body
        raise GeocoderUnavailableError(f"AMap geocoder unavailable: {last}")

    def _sleep(self, seconds: float, deadline_s: float | None, last: str) -> None:
        if deadline_s is not None and time.monotonic() + seconds >= deadline_s:
            raise GeocoderUnavailableError(f"AMap geocoder: out of time ({last})")
        time.sleep(seconds)

    def _wait_turn(self, deadline_s: float | None = None, last: str = "no attempt") -> None:
        with self._lock:
            now = time.monotonic()
            wait = self._next_at - now
            self._next_at = max(now, self._next_at) + self._interval_s
        if wait > 0:
            self._sleep(wait, deadline_s, last)

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


def _left_s(deadline_s: float, last: str) -> float:
    left = deadline_s - time.monotonic()
    if left <= 0:
        raise GeocoderUnavailableError(f"AMap geocoder: out of time ({last})")
    return left


class AmapGeocoder(_AmapClient):
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
        super().__init__(
            key, url=url, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
            max_per_second=max_per_second,
        )  # fmt: skip
        self._cache: sqlite3.Connection | None = None
        if cache_path is not None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            self._cache = sqlite3.connect(cache_path, check_same_thread=False)
            self._cache.execute(
                "CREATE TABLE IF NOT EXISTS amap (city TEXT, address TEXT, answer TEXT, "
                "PRIMARY KEY (city, address))"
            )

    def geocode(self, query: AddressQuery) -> GeocodeResult | None:
        self._check_stopped()
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
        body = self._request({"address": address, "city": city})
        self._remember(city, address, body)
        return body

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


@dataclass(frozen=True, slots=True)
class ReverseGeocodeResult:
    """The address at a point: AMap's ``formatted_address``, its 街道 (``township``) and
    nearest house number (``street`` and ``number``), and which geocoder said so."""

    address: str
    township: str | None
    street: str | None
    number: str | None
    geocoder: str


class ReverseGeocoder(Protocol):
    name: str

    def reverse(
        self, lon: float, lat: float, *, deadline_s: float | None = None
    ) -> ReverseGeocodeResult | None:
        """The address at the WGS-84 point, ``None`` when there is none (open water, fields),
        or GeocoderUnavailableError (also when ``deadline_s`` passes)."""
        ...


AMAP_REGEO_URL = "https://restapi.amap.com/v3/geocode/regeo"


class AmapReverseGeocoder(_AmapClient):
    """AMap Web Service reverse geocoding (``/v3/geocode/regeo``): the address at a point.

    Points are WGS-84 and sent in GCJ-02 (AMap's datum), to 6 decimals (~0.1 m), which is
    also the disk cache's key: a site proposed again (the same cell centre) costs nothing.
    Found and not-found answers are cached; failures are not. A refused key or a spent
    daily quota stops the geocoder for ``stop_for_s`` (it serves a long-running API, not
    one import run); ``deadline_s`` bounds each lookup so a slow AMap cannot hold up the
    request waiting for it.

    Parameters
    ----------
    key
        The AMap Web Service key (the forward geocoder's: one key serves both).
    url
        The endpoint (tests point it at a local fake server).
    cache_path
        SQLite file for the cache (table ``amap_regeo``; it may be the forward geocoder's
        file); ``None`` for no cache.
    """

    name = "amap"

    def __init__(
        self,
        key: str,
        *,
        url: str = AMAP_REGEO_URL,
        cache_path: Path | None = None,
        timeout_s: float = 5.0,
        retries: int = 1,
        backoff_s: float = 0.5,
        max_per_second: float = 20.0,
        stop_for_s: float = 600.0,
    ) -> None:
        super().__init__(
            key, url=url, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
            max_per_second=max_per_second, stop_for_s=stop_for_s,
        )  # fmt: skip
        self._cache: sqlite3.Connection | None = None
        if cache_path is not None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            self._cache = sqlite3.connect(cache_path, check_same_thread=False, timeout=1.0)
            with self._cache:
                self._cache.execute(
                    "CREATE TABLE IF NOT EXISTS amap_regeo (location TEXT PRIMARY KEY, answer TEXT)"
                )

    def reverse(
        self, lon: float, lat: float, *, deadline_s: float | None = None
    ) -> ReverseGeocodeResult | None:
        self._check_stopped()
        gcj_lon, gcj_lat = wgs84_to_gcj02(float(lon), float(lat))
        location = f"{gcj_lon:.6f},{gcj_lat:.6f}"
        body = self._cached(location)
        if body is None:
            body = self._request({"location": location}, deadline_s=deadline_s)
            self._remember(location, body)
        return self._parse(body)

    def _cached(self, location: str) -> str | None:
        if self._cache is None:
            return None
        try:
            with self._lock:
                row = self._cache.execute(
                    "SELECT answer FROM amap_regeo WHERE location = ?", (location,)
                ).fetchone()
        except sqlite3.Error:
            return None  # a locked or damaged cache is a miss, not a failed request
        return None if row is None else str(row[0])

    def _remember(self, location: str, body: str) -> None:
        if self._cache is None:
            return
        try:
            with self._lock, self._cache:
                self._cache.execute(
                    "INSERT OR REPLACE INTO amap_regeo VALUES (?, ?)", (location, body)
                )
        except sqlite3.Error:
            return  # the answer stands; only the next request asks again

    def _parse(self, body: str) -> ReverseGeocodeResult | None:
        """AMap's answer as a result. Empty fields come as ``[]``, not ``""``.

        >>> AmapReverseGeocoder("k")._parse('{"status": "1", "regeocode": {'
        ...     '"formatted_address": "广东省广州市天河区天河南街道天河路208号", '
        ...     '"addressComponent": {"township": "天河南街道", '
        ...     '"streetNumber": {"street": "天河路", "number": "208号"}}}}')
        ReverseGeocodeResult(address='广东省广州市天河区天河南街道天河路208号', \
township='天河南街道', street='天河路', number='208号', geocoder='amap')
        >>> AmapReverseGeocoder("k")._parse('{"status": "1", "regeocode": {'
        ...     '"formatted_address": [], "addressComponent": {"township": [], '
        ...     '"streetNumber": {"street": [], "number": []}}}}') is None
        True
        """
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            return None
        regeo = data.get("regeocode") if isinstance(data, dict) else None
        if not isinstance(regeo, dict):
            return None
        parts = regeo.get("addressComponent")
        parts = parts if isinstance(parts, dict) else {}
        number = parts.get("streetNumber")
        number = number if isinstance(number, dict) else {}
        township = _text(parts.get("township"))
        street, house = _text(number.get("street")), _text(number.get("number"))
        address = _text(regeo.get("formatted_address")) or "".join(
            p for p in (township, street, house) if p
        )
        if not address:
            return None
        return ReverseGeocodeResult(address, township, street, house, self.name)


def _text(value: object) -> str | None:
    """AMap's text field, ``None`` for its empty ``[]`` (or anything not text)."""
    return value.strip() or None if isinstance(value, str) else None


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
