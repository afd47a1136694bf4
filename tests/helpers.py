"""Test helpers: provider builders, backends and the brute-force reference answer."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geo.geodesy import geodesic_distance_m
from providers.credit_code import credit_code_check_char
from providers.identity import company_id
from providers.model import Category, Grade, Kind, Provider
from providers.ranking import Match, score_candidate
from providers.scoring import ScoreSpec
from providers.store import Candidate, Filters
from providers.stores import Backend, open_backend
from providers.stores.postgis import PostgisStore

CANTON_TOWER = (113.3245, 23.1064)  # lon, lat, WGS-84


@dataclass(frozen=True)
class BackendConfig:
    """A :class:`~providers.stores.DatabaseConfig` with the defaults of
    :class:`~jzmap.settings.DatabaseSettings`, never the environment's."""

    url: str | None
    data_dir: Path = Path("/nonexistent")
    pool_size: int = 5
    connect_timeout_s: int = 5
    statement_timeout_ms: int = 10_000
    write_timeout_ms: int = 1_800_000
    read_url_list: tuple[str, ...] = ()
    replica_max_lag_s: float = 5.0


def embedded_backend_at(data_dir: Path) -> Backend:
    """An embedded backend in ``data_dir`` (module-scoped fixtures build their own)."""
    return open_backend(BackendConfig(None, data_dir))


def demo_city_backend_at(data_dir: Path) -> Backend:
    """An embedded backend in ``data_dir`` holding the demo city (what ``make demo`` builds)."""
    from geo.package_data import REFERENCE_DIR
    from jzmap.application.demo import generate_demo

    backend = embedded_backend_at(data_dir)
    try:
        for chunk in generate_demo(REFERENCE_DIR):
            backend.store.upsert(chunk)
    except BaseException:
        backend.close()
        raise
    return backend


def postgis_backend_at(
    url: str,
    *,
    pool_size: int = 5,
    connect_timeout_s: int = 5,
    statement_timeout_ms: int = 10_000,
    write_timeout_ms: int = 1_800_000,
) -> Backend:
    """A PostGIS backend on the database at ``url``."""
    config = BackendConfig(
        url,
        pool_size=pool_size,
        connect_timeout_s=connect_timeout_s,
        statement_timeout_ms=statement_timeout_ms,
        write_timeout_ms=write_timeout_ms,
    )
    return open_backend(config)


@contextmanager
def postgis_store_at(
    url: str, *, statement_timeout_ms: int = 10_000, write_timeout_ms: int = 1_800_000
) -> Iterator[PostgisStore]:
    """The store of :func:`postgis_backend_at`, its backend closed afterwards."""
    timeouts = {"statement_timeout_ms": statement_timeout_ms, "write_timeout_ms": write_timeout_ms}
    with postgis_backend_at(url, **timeouts) as backend:
        assert isinstance(backend.store, PostgisStore)
        yield backend.store


def credit_code(n: int) -> str:
    first17 = f"91440101{n:09d}"
    return first17 + credit_code_check_char(first17)


def company(
    n: int,
    lon: float,
    lat: float,
    *,
    grade: Grade = Grade.A3,
    categories: Iterable[Category] = (Category.HOUSEKEEPING,),
    **fields: Any,
) -> Provider:
    code = credit_code(n)
    defaults: dict[str, Any] = {
        "name": f"测试家政公司{n}",
        "practitioners": 10,
        "certified_practitioners": 5,
        "phone": "020-83334567",
        "district": "海珠区",
    }
    defaults.update(fields)
    return Provider(
        id=company_id(code),
        kind=Kind.COMPANY,
        categories=frozenset(categories),
        lon=lon,
        lat=lat,
        credit_code=code,
        credit_grade=grade,
        **defaults,
    )


def station(
    n: int,
    lon: float,
    lat: float,
    *,
    categories: Iterable[Category] = (Category.ELDERLY_CARE,),
    **fields: Any,
) -> Provider:
    defaults: dict[str, Any] = {
        "name": f"测试服务站{n}",
        "practitioners": 8,
        "certified_practitioners": 4,
    }
    defaults.update(fields)
    return Provider(
        id=f"st-test{n:06d}",
        kind=Kind.STATION,
        categories=frozenset(categories),
        lon=lon,
        lat=lat,
        **defaults,
    )


def brute_force_nearest(
    providers: Sequence[Provider], lon: float, lat: float, filters: Filters, k: int
) -> list[tuple[str, float]]:
    """(id, metres) of the k nearest by scoring every provider: the oracle."""
    admitted = [p for p in providers if filters.admits(p)]
    if not admitted:
        return []
    dist = geodesic_distance_m(
        lon, lat, np.array([p.lon for p in admitted]), np.array([p.lat for p in admitted])
    )
    pairs = [
        (p.id, float(d))
        for p, d in zip(admitted, dist.tolist(), strict=True)
        if filters.radius_m is None or d <= filters.radius_m
    ]
    return sorted(pairs, key=lambda pair: (pair[1], pair[0]))[:k]


def brute_force_best(
    providers: Sequence[Provider],
    lon: float,
    lat: float,
    filters: Filters,
    *,
    k: int,
    spec: ScoreSpec,
) -> list[Match]:
    """The k best by score, from scoring every provider that passes: the oracle."""
    admitted = [p for p in providers if filters.admits(p)]
    matches = []
    for p in admitted:
        d = float(geodesic_distance_m(lon, lat, p.lon, p.lat))
        if filters.radius_m is None or d <= filters.radius_m:
            matches.append(score_candidate(Candidate(p, d), spec.weights, spec.half_distance_m))
    matches.sort(key=lambda m: (-m.score, m.distance_m, m.provider.id))
    return matches[:k]


def wait_for_network(client: Any) -> str:
    """Poll ``/readyz`` of a started app (a ``TestClient`` inside its ``with``) until its
    walking network is no longer ``loading`` (the lifespan prepares it in a background
    thread), and return its state then. No clock: as long as the build takes."""
    while (state := str(client.get("/readyz").json()["network"])) == "loading":
        time.sleep(0.02)
    return state
