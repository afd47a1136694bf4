"""What each query parameter allows, in the words error messages quote back; the formats.

The bounds come from the domain (``providers.ranking``), so the API, its documentation
and its error messages cannot drift from what the ranking accepts. The parameter groups
themselves are dependencies (:mod:`api.dependencies`).
"""

from __future__ import annotations

from enum import StrEnum

import h3

from gaps.grid import RESOLUTIONS as COVERAGE_RESOLUTIONS
from geo.crs import CRS
from providers.errors import InvalidParameterError
from providers.model import Category, Grade, Kind
from providers.ranking import LIMIT_BOUNDS, RADIUS_BOUNDS_M, Sort
from providers.scoring import HALF_DISTANCE_BOUNDS_M, WEIGHT_BOUNDS

# How many candidate sites one request may ask for: each is a station to fund.
SITES_BOUNDS = (1, 20)
# The most ids or cells one request may exclude (a district's rooms, not a city's).
MAX_EXCLUDED = 200
# The longest one excluded item may be: an H3 id is 15 characters, a room id a few.
MAX_EXCLUDED_CHARS = 64


class Format(StrEnum):
    JSON = "json"
    GEOJSON = "geojson"


class TableFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


def _choices(enum: type[StrEnum]) -> str:
    return ", ".join(member.value for member in enum)


def _range(bounds: tuple[float, float], unit: str = "") -> str:
    low, high = bounds
    return f"{low:g} to {high:g}{unit}"


ALLOWED: dict[str, str] = {
    "lat": "a number from -90 to 90 (degrees)",
    "lon": "a number from -180 to 180 (degrees)",
    "category": _choices(Category),
    "min_grade": _choices(Grade),
    "kind": _choices(Kind),
    "sort": _choices(Sort),
    "crs": _choices(CRS),
    "out_crs": _choices(CRS),
    # One name, two routes: the message must be right for both.
    "f": f"{_choices(Format)} (/v1/providers/nearest); "
    f"{_choices(TableFormat)} (/v1/coverage/districts); json, html (/ogc)",
    "limit": f"an integer from {LIMIT_BOUNDS[0]} to {LIMIT_BOUNDS[1]} (/v1/providers/nearest); "
    "at least 1 (/ogc items: more than 10,000 is served as 10,000)",
    "radius_m": _range(RADIUS_BOUNDS_M, " metres"),
    "half_distance_m": _range(HALF_DISTANCE_BOUNDS_M, " metres"),
    "certified_only": "true or false",
    "bbox": "west,south,east,north: four numbers, west < east and south < north",
    "zoom": "an integer from 0 to 20",
    "include_approximate": "true or false",
    "open_now": "true or false",
    "open_at": "an ISO 8601 time, e.g. 2026-10-01T10:00 (Asia/Shanghai) or with an offset",
    "include_unknown_hours": "true or false",
    "res": f"H3 resolution {COVERAGE_RESOLUTIONS[0]} (~0.74 km² cells) or "
    f"{COVERAGE_RESOLUTIONS[1]} (~0.11 km²; cells of one district at a time)",
    "k": f"an integer from {SITES_BOUNDS[0]} to {SITES_BOUNDS[1]} (sites)",
    "district": "a district name of the boundary layer (JZMAP_DISTRICTS_LAYER)",
    "exclude": f"at most {MAX_EXCLUDED} comma-separated items of at most "
    f"{MAX_EXCLUDED_CHARS} characters: H3 cell ids (/v1/coverage/candidates), room ids or "
    "H3 cell ids (/v1/coverage/sites)",
    **{f"w_{name}": _range(bounds) for name, bounds in WEIGHT_BOUNDS.items()},
    # Vector tiles (/tiles/{z}/{x}/{y}.mvt): the Web-Mercator quad.
    "z": "an integer from 0 to 20 (zoom)",
    "x": "an integer from 0 to 2**z - 1 (tile column from the west)",
    "y": "an integer from 0 to 2**z - 1 (tile row from the north)",
}


def excluded_items(text: str | None, *, cells_only: bool = False) -> list[str]:
    """The ``exclude`` parameter (comma-separated) as a list: items stripped, empty ones
    dropped, each once in the order given; H3 cell ids lower-cased (H3 prints them so).

    Parameters
    ----------
    text
        The parameter as given (``None``: nothing excluded).
    cells_only
        Every item must be an H3 cell id (``/v1/coverage/candidates`` proposes cells and
        has no other ids).

    Raises
    ------
    providers.errors.InvalidParameterError
        More than :data:`MAX_EXCLUDED` items, one longer than :data:`MAX_EXCLUDED_CHARS`,
        or (``cells_only``) one that is not an H3 cell: the message names it.

    Examples
    --------
    >>> excluded_items(" r2, ,r9,r2 ")
    ['r2', 'r9']
    >>> excluded_items("8931AA4C967FFFF", cells_only=True)
    ['8931aa4c967ffff']
    >>> excluded_items("8931aa4c967ffff,天河", cells_only=True)
    Traceback (most recent call last):
    ...
    providers.errors.InvalidParameterError: exclude: '天河' is not an H3 cell id; ...
    """
    items = list(dict.fromkeys(e.strip() for e in (text or "").split(",") if e.strip()))
    if len(items) > MAX_EXCLUDED:
        raise InvalidParameterError.of(
            "exclude", f"{len(items)} items", got=len(items), allowed=ALLOWED["exclude"]
        )
    for item in items:
        if len(item) > MAX_EXCLUDED_CHARS:
            raise InvalidParameterError.of(
                "exclude", f"an item of {len(item)} characters", got=item[:MAX_EXCLUDED_CHARS],
                allowed=ALLOWED["exclude"],
            )  # fmt: skip
    if not cells_only:
        return items
    cells = [item.lower() for item in items]
    for item, cell in zip(items, cells, strict=True):
        if not h3.is_valid_cell(cell):
            raise InvalidParameterError.of(
                "exclude", f"{item!r} is not an H3 cell id", got=item,
                allowed="H3 cell ids (15 hexadecimal digits, as the sites' `cell`)",
            )  # fmt: skip
    return cells
