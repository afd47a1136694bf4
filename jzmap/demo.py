"""The demo city: real Guangzhou boundaries and street names, synthetic providers.

Reproducible from a seed. Companies are spread over the 11 districts in proportion to
their resident population (7th census) and placed uniformly inside their district's
polygon; every street/town gets one grassroots service station inside its district (the
demo has no street polygons, so a station's point is in the right district, not
necessarily in its street). Every generated provider carries
``extra["dataset"] = "demo-synthetic"`` and the API marks it ``synthetic``.

Rebuilding the city replaces it whole (:func:`clear_city`): the grade book and the
practitioners registry go with the providers, since their grades, blacklistings and
companies refer to providers of the city being replaced.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from geo.boundaries import load_districts, load_streets
from geo.crs import CRS, from_wgs84
from providers.credit_code import CREDIT_CODE_ALPHABET, credit_code_check_char
from providers.identity import company_id, station_id
from providers.model import Category, Grade, Kind, Precision, Provider
from providers.stores import Backend

T = TypeVar("T")

DEMO_DATASET = "demo-synthetic"
DEFAULT_COMPANIES = 531  # as many as Guangzhou's platform lists
DEFAULT_SEED = 2019

GRADE_SHARES = {Grade.A5: 0.08, Grade.A4: 0.20, Grade.A3: 0.35, Grade.A2: 0.22, Grade.A1: 0.15}
# Chance that a company offers each category (at least one is always kept).
COMPANY_CATEGORY_SHARES = {
    Category.HOUSEKEEPING: 0.75,
    Category.ELDERLY_CARE: 0.45,
    Category.MATERNAL_INFANT: 0.40,
    Category.NURSING: 0.30,
}
STATION_CATEGORY_SHARES = {
    Category.ELDERLY_CARE: 1.0,
    Category.HOUSEKEEPING: 0.8,
    Category.NURSING: 0.4,
    Category.MATERNAL_INFANT: 0.2,
}
# Where registry coordinates come from: AMap (GCJ-02) most often, then GPS, then Baidu.
SOURCE_CRS_SHARES = {CRS.GCJ02: 0.6, CRS.WGS84: 0.3, CRS.BD09: 0.1}
PRECISION_SHARES = {Precision.EXACT: 0.96, Precision.STREET: 0.03, Precision.DISTRICT: 0.01}

_BRAND_A = list("安康和顺福祥瑞嘉佳美优惠好家乐民信诚德仁泰华")
_BRAND_B = list("心宁邦馨悦居缘帮源达盛丰园惠宜")
_TRADE = ["家政服务", "家庭服务", "养老服务", "母婴护理", "护理服务", "保洁服务"]
_ROADS = ["中山", "解放", "人民", "环市", "东风", "黄埔", "广州大道", "工业", "新港", "江南"]
_HOURS = ["08:00-18:00", "周一至周六 09:00-18:00", "07:30-20:00", "24小时"]
_CHUNK = 50_000


@dataclass(frozen=True, slots=True)
class Cleared:
    """How many providers, graded subjects and practitioners :func:`clear_city` removed."""

    providers: int
    graded_subjects: int
    practitioners: int


def clear_city(backend: Backend) -> Cleared:
    """Empty the backend's store, grade book and practitioners registry (``jzmap demo``
    without ``--keep``).

    Three stores, three transactions: the grade book and the registry are emptied first,
    so that if one fails the providers are still there and the rebuild can simply be run
    again; a provider without grade-book entries is only a company not evaluated yet.
    """
    graded = backend.gradebook.delete_all()
    practitioners = backend.registry.delete_all()
    return Cleared(backend.store.delete_all(), graded, practitioners)


def generate_demo(
    reference_dir: Path, companies: int = DEFAULT_COMPANIES, seed: int = DEFAULT_SEED
) -> Iterator[list[Provider]]:
    """The demo providers in chunks (stations first), reproducible from ``seed``.

    Parameters
    ----------
    reference_dir
        ``data/guangzhou`` or a directory of the same shape.
    companies
        How many companies (stations are always one per street).
    seed
        Same seed, same city.

    Examples
    --------
    >>> from jzmap.settings import REFERENCE_DIR
    >>> sum(len(chunk) for chunk in generate_demo(REFERENCE_DIR, companies=10))
    187
    """
    rng = np.random.default_rng(seed)
    districts = load_districts(reference_dir)
    streets = load_streets(reference_dir)
    yield _stations(rng, districts, streets)
    per_district = rng.multinomial(
        companies, (districts["population"] / districts["population"].sum()).to_numpy()
    )
    done = 0
    while done < companies:
        size = min(_CHUNK, companies - done)
        # Split this chunk over districts in proportion to what each still needs.
        share = np.minimum(per_district, np.ceil(per_district * size / (companies - done)))
        share = _trim_to(share.astype(np.int64), size)
        per_district -= share
        yield _companies(rng, districts, streets, share, start=done)
        done += size


def _trim_to(counts: npt.NDArray[np.int64], total: int) -> npt.NDArray[np.int64]:
    counts = counts.copy()
    i = 0
    while counts.sum() > total:
        if counts[i % counts.size] > 0:
            counts[i % counts.size] -= 1
        i += 1
    return counts


def _points_in(
    rng: np.random.Generator, districts: gpd.GeoDataFrame, counts: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Uniform points inside each district, ``counts[i]`` of them in district ``i``."""
    sampled = districts.geometry.sample_points(size=counts, rng=rng)
    owner = np.repeat(np.arange(len(districts)), counts)
    parts = sampled[counts > 0].explode(index_parts=False)
    lon = parts.x.to_numpy()
    lat = parts.y.to_numpy()
    # sample_points returns points per geometry in coordinate order: shuffle within
    # districts so that consecutive providers are not sorted west to east.
    order = np.concatenate(
        [rng.permutation(np.nonzero(owner == d)[0]) for d in range(len(districts))]
    )
    return lon[order], lat[order], owner


def _categories(rng: np.random.Generator, shares: dict[Category, float]) -> frozenset[Category]:
    chosen = [c for c, p in shares.items() if rng.random() < p]
    return frozenset(chosen or [max(shares, key=lambda c: shares[c])])


def _pick(rng: np.random.Generator, shares: Mapping[T, float], n: int) -> list[T]:
    keys = list(shares)
    probs = np.array([shares[k] for k in keys])
    return [keys[i] for i in rng.choice(len(keys), size=n, p=probs / probs.sum())]


@dataclass(frozen=True)
class _Placement:
    """Points for ``n`` providers and how each came to be known."""

    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    owner: npt.NDArray[np.int64]  # district row of each point
    precision: list[Precision]
    crs: list[CRS]
    src_lon: npt.NDArray[np.float64]
    src_lat: npt.NDArray[np.float64]

    def provenance(self, i: int) -> dict[str, Any]:
        return {
            "lon": float(self.lon[i]),
            "lat": float(self.lat[i]),
            "source_crs": self.crs[i],
            "source_lon": float(self.src_lon[i]),
            "source_lat": float(self.src_lat[i]),
            "geocode_precision": self.precision[i],
            "source": "demo",
            "extra": {"dataset": DEMO_DATASET},
        }


def _place(
    rng: np.random.Generator, districts: gpd.GeoDataFrame, counts: npt.NDArray[np.int64]
) -> _Placement:
    lon, lat, owner = _points_in(rng, districts, counts)
    n = lon.size
    precision: list[Precision] = _pick(rng, PRECISION_SHARES, n)
    # A district-precision record sits at the district's stand-in point, as a geocoder
    # falling back to the district would put it.
    centres = districts.geometry.representative_point()
    for i in (i for i, p in enumerate(precision) if p is Precision.DISTRICT):
        centre = centres.iloc[owner[i]]
        lon[i], lat[i] = centre.x, centre.y
    crs: list[CRS] = _pick(rng, SOURCE_CRS_SHARES, n)
    src_lon, src_lat = lon.copy(), lat.copy()
    for system in (CRS.GCJ02, CRS.BD09):
        mask = np.array([c is system for c in crs], dtype=bool)
        if mask.any():
            src_lon[mask], src_lat[mask] = from_wgs84(lon[mask], lat[mask], system)
    return _Placement(lon, lat, owner, precision, crs, src_lon, src_lat)


def _stations(
    rng: np.random.Generator, districts: gpd.GeoDataFrame, streets: pd.DataFrame
) -> list[Provider]:
    district_pos = {code: i for i, code in enumerate(districts["adcode"])}
    street_rows = streets.sort_values("code").reset_index(drop=True)
    counts = np.bincount(
        [district_pos[c] for c in street_rows["district_code"]], minlength=len(districts)
    ).astype(np.int64)
    placed = _place(rng, districts, counts)
    # _points_in returns points grouped by district in district order; line streets up.
    by_district = street_rows.assign(_d=[district_pos[c] for c in street_rows["district_code"]])
    street_order = by_district.sort_values(["_d", "code"], kind="stable").reset_index(drop=True)
    out = []
    for i, street in enumerate(street_order.to_dict("records")):
        practitioners = int(rng.integers(5, 41))
        out.append(
            Provider(
                id=station_id(station_code=street["code"]),
                kind=Kind.STATION,
                name=f"{street['name']}家政服务站",
                categories=_categories(rng, STATION_CATEGORY_SHARES),
                address=f"{street['district_name']}{street['name']}社区服务中心",
                district=street["district_name"],
                street=street["name"],
                phone=f"020-3{rng.integers(0, 10_000_000):07d}",
                opening_hours="周一至周六 09:00-17:30",
                practitioners=practitioners,
                certified_practitioners=int(rng.integers(practitioners // 2, practitioners + 1)),
                **placed.provenance(i),
            )
        )
    return out


def _companies(
    rng: np.random.Generator,
    districts: gpd.GeoDataFrame,
    streets: pd.DataFrame,
    counts: npt.NDArray[np.int64],
    start: int,
) -> list[Provider]:
    placed = _place(rng, districts, counts)
    owner = placed.owner
    n = owner.size
    streets_of = {code: group["name"].tolist() for code, group in streets.groupby("district_code")}
    grades = _pick(rng, GRADE_SHARES, n)
    practitioners = np.clip(rng.lognormal(np.log(30), 0.9, n).astype(int), 3, 3000)
    certified_share = np.where(rng.random(n) < 0.1, 0.0, rng.beta(2, 3, n))
    out = []
    for i in range(n):
        district = districts.iloc[owner[i]]
        number = start + i
        out.append(
            Provider(
                id=company_id(code := _credit_code(str(district["adcode"]), number)),
                kind=Kind.COMPANY,
                name=_company_name(rng, str(district["name"]), number),
                categories=_categories(rng, COMPANY_CATEGORY_SHARES),
                credit_code=code,
                credit_grade=grades[i],
                address=(f"{district['name']}{rng.choice(_ROADS)}路{int(rng.integers(1, 900))}号"),
                district=str(district["name"]),
                street=str(rng.choice(streets_of[district["adcode"]])),
                phone=f"020-8{rng.integers(0, 10_000_000):07d}",
                opening_hours=str(rng.choice(_HOURS)),
                practitioners=int(practitioners[i]),
                certified_practitioners=round(float(practitioners[i] * certified_share[i])),
                **placed.provenance(i),
            )
        )
    return out


def _credit_code(adcode: str, number: int) -> str:
    """A well-formed code, unique per ``number``: 9 (market regulator), 1 (enterprise), the
    district's code, then ``number`` scrambled by an invertible affine map (the multiplier
    is coprime with 31**9), so no two companies share a code at any scale."""
    value = (number * 7_368_787_411 + 104_729) % 31**9
    body = ""
    for _ in range(9):
        value, digit = divmod(value, 31)
        body = CREDIT_CODE_ALPHABET[digit] + body
    first17 = f"91{adcode}{body}"
    return first17 + credit_code_check_char(first17)


def _company_name(rng: np.random.Generator, district: str, number: int) -> str:
    brand = str(rng.choice(_BRAND_A)) + str(rng.choice(_BRAND_B))
    # The ordinal keeps names unique at any scale without looking up earlier ones.
    return f"广州{district[:-1]}{brand}{rng.choice(_TRADE)}有限公司（{number + 1:04d}）"
