"""What a route can ask for, in one place: the app's objects and the query parameter groups.

Routes take these with ``Depends`` (or the ``...Dep`` aliases) and never import one another:
a dependency two routers share lives here.

Dependencies that only read ``app.state`` are ``async``: FastAPI runs a plain ``def``
dependency on its thread pool, and each such hop cost more than the nearest-match search
itself (measured: three of them were most of a ``sort=distance`` request's time). The
backend (store, grade book, registry) is opened once, in the app's lifespan, so handing out
its parts never blocks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from anyio import CapacityLimiter
from fastapi import Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gaps.grid import RESOLUTIONS
from gaps.streets import WalkSpeed, crow_equivalent_m
from geo.boundaries import ServedArea
from geo.places import PlaceFinder
from jzmap.application.appeals import GradeStores
from jzmap.application.coverage import CoverageQuery, CoverageService
from jzmap.application.embedding import EmbedOrigins
from jzmap.application.network import speed_m_s
from jzmap.presentation.presenters import PublicView
from jzmap.settings import Settings
from jzmap.wiring import served_area
from providers.errors import NotFoundError
from providers.gradebook import GradeBook
from providers.hours import CITY_TZ
from providers.model import Category, Grade, Kind, Provider
from providers.registry import PractitionerRegistry
from providers.store import Filters, ProviderStore
from providers.stores import Backend

# -- the app's objects, opened in its lifespan (api.app) -----------------------------------


async def get_backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


async def get_store(request: Request) -> ProviderStore:
    return (await get_backend(request)).store


async def get_gradebook(request: Request) -> GradeBook:
    return (await get_backend(request)).gradebook


async def get_registry(request: Request) -> PractitionerRegistry:
    return (await get_backend(request)).registry


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


BackendDep = Annotated[Backend, Depends(get_backend)]
StoreDep = Annotated[ProviderStore, Depends(get_store)]
GradeBookDep = Annotated[GradeBook, Depends(get_gradebook)]
RegistryDep = Annotated[PractitionerRegistry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_public_view(settings: SettingsDep) -> PublicView:
    """What public answers show beyond a provider itself: ``JZMAP_PUBLIC_PHONES``'s phone
    rule and the time (now) opening hours are judged at. One object, handed down to every
    presenter (OGC items, HSDS, open-data files), so no route threads the rule by hand."""
    return PublicView.of(settings.map.public_phones)


PublicViewDep = Annotated[PublicView, Depends(get_public_view)]


async def get_grade_stores(request: Request) -> GradeStores:
    """The grade book, provider store and registry an appeal reaches, from the backend."""
    return GradeStores.of(await get_backend(request))


GradeStoresDep = Annotated[GradeStores, Depends(get_grade_stores)]


async def get_coverage(request: Request) -> CoverageService:
    """The app's coverage service, made with its store in the lifespan."""
    service: CoverageService = request.app.state.coverage
    return service


CoverageDep = Annotated[CoverageService, Depends(get_coverage)]


async def get_places(request: Request) -> PlaceFinder:
    """The app's place suggestions (the search box), built in the lifespan."""
    finder: PlaceFinder = request.app.state.places
    return finder


PlacesDep = Annotated[PlaceFinder, Depends(get_places)]


async def get_embed_origins(request: Request) -> EmbedOrigins:
    """Who may embed the widget now (``JZMAP_EMBED_ORIGINS`` and the stored origins)."""
    origins: EmbedOrigins = request.app.state.embed_origins
    return origins


EmbedOriginsDep = Annotated[EmbedOrigins, Depends(get_embed_origins)]


async def get_search_limiter(request: Request) -> CapacityLimiter:
    """The threads nearest-match searches may use at once (``JZMAP_SEARCH_THREADS``).

    Searches are CPU-bound Python on the embedded store and short waits on PostgreSQL:
    more threads than that only contend for the interpreter lock. Measured at 32 clients
    on 10,000 providers, three threads served a quarter more requests than the 40 of the
    shared pool; and a pool of their own keeps slow routes (coverage) from starving them.
    """
    limiter: CapacityLimiter = request.app.state.search_limiter
    return limiter


SearchLimiterDep = Annotated[CapacityLimiter, Depends(get_search_limiter)]


async def get_served_area(settings: SettingsDep) -> ServedArea:
    """Where nearest-match query points may be: the city and ``JZMAP_MAX_QUERY_DISTANCE_KM``."""
    return served_area(settings.city)


ServedAreaDep = Annotated[ServedArea, Depends(get_served_area)]


def get_listed_provider(
    store: StoreDep, provider_id: Annotated[str, Path(min_length=1, max_length=100)]
) -> Provider:
    """The provider ``provider_id`` names, if listed (active); else a 404 saying where ids
    come from. A plain ``def``: the store is read on a worker thread."""
    provider = store.get(provider_id)
    if provider is None or not provider.active:
        raise NotFoundError(
            f"no provider with id {provider_id!r}; ids come from /v1/providers/nearest"
        )
    return provider


ProviderDep = Annotated[Provider, Depends(get_listed_provider)]

# -- query parameter groups ----------------------------------------------------------------


class FilterParams(BaseModel):
    """The provider filters, one group for every route that filters providers.

    The nearest-match route validates it as part of its own model
    (``api.routes.providers.NearestParams`` extends it), the map layer takes it as a query
    model (``Annotated[FilterParams, Query()]``): one definition, so the two cannot drift.
    """

    model_config = ConfigDict(extra="ignore")

    category: Category | None = None
    min_grade: Grade | None = Field(
        None, description="companies graded at least this; stations stay"
    )
    kind: Kind | None = None
    certified_only: bool = Field(
        False, description="only providers with at least one 安心服务证 holder"
    )
    include_approximate: bool = Field(
        False, description="also providers located only to their district"
    )
    open_now: bool = Field(
        False, description="only providers whose opening hours say they are open now"
    )
    open_at: datetime | None = Field(
        None,
        description="only providers open at this ISO 8601 time (Asia/Shanghai when it has "
        "no offset); wins over open_now",
    )
    include_unknown_hours: bool = Field(
        False,
        description="with open_now or open_at: also providers whose hours are unknown "
        "(none given, not understood, or a date the holiday calendar does not know)",
    )

    @field_validator("open_at", mode="before")
    @classmethod
    def _iso_time_only(cls, value: object) -> object:
        """An ISO 8601 time only: pydantic would read ``1.0`` as a Unix timestamp (1970),
        which no resident means and the OpenAPI ``date-time`` format does not allow."""
        if isinstance(value, str):
            return datetime.fromisoformat(value)
        if value is None or isinstance(value, datetime):
            return value
        raise ValueError("an ISO 8601 time, e.g. 2026-10-01T10:00")

    def open_time(self) -> datetime | None:
        """The time the open filter asks about, as Asia/Shanghai local time (naive)."""
        if self.open_at is not None:
            at = self.open_at
            return at.astimezone(CITY_TZ).replace(tzinfo=None) if at.tzinfo else at
        if self.open_now:
            return datetime.now(CITY_TZ).replace(tzinfo=None, second=0, microsecond=0)
        return None

    def filters(self, radius_m: float | None = None) -> Filters:
        """The store's :class:`~providers.store.Filters`, within ``radius_m`` metres if given."""
        return Filters(
            category=self.category,
            min_grade=self.min_grade,
            kind=self.kind,
            certified_only=self.certified_only,
            radius_m=radius_m,
            include_approximate=self.include_approximate,
            open_at=self.open_time(),
            include_unknown_hours=self.include_unknown_hours,
        )


FiltersDep = Annotated[FilterParams, Query()]


@dataclass(frozen=True)
class SupplyParams:
    """Which providers count as supply in a coverage analysis."""

    res: int | None
    min_grade: Grade | None
    certified_only: bool
    minutes: int | None = None
    speed: WalkSpeed = WalkSpeed.ADULT
    kind: Kind | None = None
    mode: Literal["crow", "walk"] | None = None

    def query(self, service: CoverageService, category: Category) -> CoverageQuery:
        """The analysis to run for ``category`` (``res`` defaults to the service's setting;
        ``minutes`` a life circle measured crow-fly at ``speed``, else the catchment
        setting)."""
        resolution = self.res or service.settings.resolution
        # Paces from the settings (JZMAP_WALK_SPEED_*_M_S), for crow-fly and walking alike.
        catchment = (
            None
            if self.minutes is None
            else crow_equivalent_m(self.minutes, speed_m_s(service.settings, self.speed.value))
        )
        return CoverageQuery(
            category,
            resolution,
            self.min_grade,
            self.certified_only,
            catchment_m=catchment,
            kind=self.kind,
            speed=self.speed.value,
            mode=self.mode or service.default_mode,
        )


def _supply(
    *,
    res: Annotated[
        int | None,
        Query(
            ge=min(RESOLUTIONS),
            le=max(RESOLUTIONS),
            description="H3 resolution: 8 (~0.74 km² cells) or 9 (~0.11 km²); default "
            "JZMAP_COVERAGE_RESOLUTION",
        ),
    ] = None,
    min_grade: Annotated[
        Grade | None, Query(description="supply: companies graded at least this; stations stay")
    ] = None,
    certified_only: Annotated[
        bool, Query(description="supply: only providers with at least one 安心服务证 holder")
    ] = False,
    minutes: Annotated[
        int | None,
        Query(
            ge=5,
            le=15,
            multiple_of=5,
            description="life circle in minutes' walk, GB 50180's 5, 10 or 15 (a few "
            "presets keep the analyses a client can ask for few and cached), measured as "
            "the crow-fly distance walked at `speed`; default the catchment setting",
        ),
    ] = None,
    speed: Annotated[
        WalkSpeed, Query(description="walking speed: adult 1.2 m/s, elderly 0.8 m/s")
    ] = WalkSpeed.ADULT,
    kind: Annotated[
        Kind | None, Query(description="supply: companies or stations only; both if unset")
    ] = None,
    mode: Annotated[
        Literal["crow", "walk"] | None,
        Query(
            description="crow: crow-fly (geodesic) reach; walk: walking over the street "
            "network (409 when none is configured); default walk when JZMAP_STREET_NETWORK "
            "is set (10 minutes unless `minutes`), crow otherwise"
        ),
    ] = None,
) -> SupplyParams:
    return SupplyParams(res, min_grade, certified_only, minutes, speed, kind, mode)


SupplyDep = Annotated[SupplyParams, Depends(_supply)]

# -- one-pass validation of a whole query string ---------------------------------------------

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
