"""Query parameters shared by routes, with the allowed values errors quote back.

The bounds come from the domain (``providers.ranking``), so the API, its documentation
and its error messages cannot drift from what the ranking accepts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from gaps.grid import RESOLUTIONS as COVERAGE_RESOLUTIONS
from geo.crs import CRS
from providers.model import Category, Grade, Kind
from providers.ranking import LIMIT_BOUNDS, RADIUS_BOUNDS_M, Sort
from providers.scoring import HALF_DISTANCE_BOUNDS_M, WEIGHT_BOUNDS

# How many candidate sites one request may ask for: each is a station to fund.
SITES_BOUNDS = (1, 20)


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
    f"{_choices(TableFormat)} (/v1/coverage/districts)",
    "limit": f"an integer from {LIMIT_BOUNDS[0]} to {LIMIT_BOUNDS[1]}",
    "radius_m": _range(RADIUS_BOUNDS_M, " metres"),
    "half_distance_m": _range(HALF_DISTANCE_BOUNDS_M, " metres"),
    "certified_only": "true or false",
    "bbox": "west,south,east,north: four numbers, west < east and south < north",
    "zoom": "an integer from 0 to 20",
    "include_approximate": "true or false",
    "res": f"H3 resolution {COVERAGE_RESOLUTIONS[0]} (~0.74 km² cells) or "
    f"{COVERAGE_RESOLUTIONS[1]} (~0.11 km²; cells of one district at a time)",
    "k": f"an integer from {SITES_BOUNDS[0]} to {SITES_BOUNDS[1]} (sites)",
    "district": "a district name of the boundary layer (JZMAP_DISTRICTS_LAYER)",
    **{f"w_{name}": _range(bounds) for name, bounds in WEIGHT_BOUNDS.items()},
}


M = TypeVar("M", bound=BaseModel)


def query_model(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency that validates a route's query string as ``model``, in one pass.

    FastAPI re-inspects every declared query parameter's annotation on every request; for
    a route of eighteen parameters that cost more than the nearest-match search itself
    (measured with cProfile). Here pydantic validates the whole query string at once, and
    failures become the same ``RequestValidationError`` (locations ``("query", name)``)
    FastAPI would raise, so errors read exactly as before. The route documents the
    parameters with :func:`query_parameters` in ``openapi_extra``.
    """

    async def validated(request: Request) -> M:
        try:
            return model.model_validate(dict(request.query_params))
        except ValidationError as exc:
            errors = [{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]
            raise RequestValidationError(errors) from None

    return validated


def query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose query string :func:`query_model` validates: one
    OpenAPI query parameter per field, schemas inlined."""
    schema = model.model_json_schema()
    definitions = schema.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                # Keep what sits beside the reference (a field's default, its description).
                siblings = {key: inline(value) for key, value in node.items() if key != "$ref"}
                return {**inline(definitions[ref.removeprefix("#/$defs/")]), **siblings}
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    required = set(schema.get("required", []))
    parameters = []
    for name, field in schema["properties"].items():
        field = inline(field)
        description = field.pop("description", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": field,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return {"parameters": parameters}
