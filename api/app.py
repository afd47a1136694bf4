"""The FastAPI application factory.

The backend (provider store, grade book, registry; on PostGIS one pool) is opened in the
app's lifespan and handed to routes through ``Depends``; a test (or another app) may pass
its own backend instead, which the app then leaves open.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from anyio import CapacityLimiter
from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from api.deadline import ComputeGate
from api.errors import RETRY_AFTER_S, install_error_handlers
from api.metrics import MetricsMiddleware, timed_backend
from api.middleware import (
    BodyPolicy,
    DeadlineMiddleware,
    RateLimitMiddleware,
    RequestContextMiddleware,
    RequestGuard,
    SecurityHeadersMiddleware,
    TokenBuckets,
)
from api.openapi import install_openapi
from api.problem_reports import REPORT_MAX_BODY_BYTES, REPORT_ROUTES
from api.replica_reads import ReplicaReadsMiddleware
from api.routes import (
    admin,
    appeals,
    catchment,
    certificates,
    coverage,
    embed_origins,
    evaluations,
    exports,
    grades,
    hsds,
    ogc,
    pages,
    places,
    practitioners,
    providers,
    reports,
    sites,
    system,
    tiles,
    viewport,
)
from api.security import EmbedCORSMiddleware, is_admin_path
from jzmap.application.coverage import CoverageService
from jzmap.application.embedding import EmbedOrigins
from jzmap.application.network import NetworkLoader
from jzmap.settings import LimitsSettings, Settings
from jzmap.wiring import place_finder, reverse_geocoder
from providers.store import ProviderStore
from providers.stores import Backend, open_backend

_LIMITED_PREFIXES: tuple[str, ...] = (
    "/v1/",
    "/map",
    "/widget",
    "/embed",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/ogc",
)
# Vector tiles and HSDS are public reads too (a map asks for a screenful of tiles at once:
# each tile costs 1).
_LIMITED_PREFIXES += ("/tiles/", "/hsds/")

# Rate-limit tokens a request spends, by path prefix (first match; else 1), roughly in
# proportion to the work it can cause: a site plan solves an MCLP, a coverage table or
# cell layer may need a city-wide analysis (both cached), a map layer tallies a viewport.
# Admin requests cost 1: they are authenticated (refused before their body otherwise),
# and an evaluations feed may post often.
ROUTE_COSTS: tuple[tuple[str, int], ...] = (
    ("/v1/coverage/candidates", 20),
    # A workbook holds a site plan, and builds a file.
    ("/v1/coverage/workbook", 20),
    ("/v1/coverage/", 10),
    ("/v1/map/layer", 3),
    # A page of up to 10,000 features; a download is a file, built once per data version.
    ("/ogc/collections/coverage-", 10),
    ("/ogc/collections/", 3),
    ("/v1/exports/", 3),
)
# Room for a multipart upload's boundaries and small form fields around the file itself,
# which the import route holds to JZMAP_MAX_UPLOAD_MB exactly.
MULTIPART_ENVELOPE_BYTES = 64 << 10


def rate_limited_path(path: str) -> bool:
    """Public endpoints count against a client's budget; health checks and static files
    (cached by browsers) do not."""
    return path.startswith(_LIMITED_PREFIXES)


def request_cost(path: str) -> int | None:
    """Tokens a request for ``path`` spends (:data:`ROUTE_COSTS`); ``None``: not limited.

    Examples
    --------
    >>> request_cost("/v1/coverage/candidates"), request_cost("/v1/providers/nearest")
    (20, 1)
    >>> request_cost("/healthz") is None
    True
    """
    if not rate_limited_path(path):
        return None
    return next((cost for prefix, cost in ROUTE_COSTS if path.startswith(prefix)), 1)


def _has_deadline(path: str) -> bool:
    """Public requests are bounded; admin imports legitimately run for minutes."""
    return not is_admin_path(path)


def _template_pattern(template: str) -> re.Pattern[str]:
    """The paths a route template matches: ``/v1/x/{id}`` any one segment for ``{id}``."""
    parts = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
    return re.compile(f"^{parts}$")


def body_policies(app: FastAPI, limits: LimitsSettings) -> Callable[[str, str], BodyPolicy]:
    """What each route takes as a body, read from the app's OpenAPI schema (so a new route
    is covered without a list to keep up): an operation whose request body is a form
    takes an upload (multipart, up to JZMAP_MAX_UPLOAD_MB), one whose body is JSON a JSON
    body (up to JZMAP_MAX_JSON_BODY_KB); any other request a body up to that small cap, of
    any type. The schema is read on the first request, when every route is in.

    Returns
    -------
    Callable
        (method, route path) to its :class:`~api.middleware.BodyPolicy`.
    """
    json_kb = limits.max_json_body_kb
    json_hint = f"at most {json_kb:,} KB (JZMAP_MAX_JSON_BODY_KB); send fewer items at once"
    json_body = BodyPolicy(json_kb << 10, json_hint, ("application/json",))
    upload = BodyPolicy(
        (limits.max_upload_mb << 20) + MULTIPART_ENVELOPE_BYTES,
        f"files of at most {limits.max_upload_mb} MB (JZMAP_MAX_UPLOAD_MB); split the file",
        ("multipart/form-data",),
    )
    other = BodyPolicy(json_kb << 10, json_hint)
    rules: list[tuple[str, re.Pattern[str], BodyPolicy]] = []
    read = False

    def read_rules() -> None:
        # A report is a kind and a few words: its own small cap, before the general rules.
        for method, template, media_type in REPORT_ROUTES:
            report = BodyPolicy(
                REPORT_MAX_BODY_BYTES,
                f"a report is at most {REPORT_MAX_BODY_BYTES:,} bytes; shorten the text",
                (media_type,),
            )
            rules.append((method, _template_pattern(template), report))
        for template, operations in app.openapi()["paths"].items():
            pattern = _template_pattern(template)
            for method, operation in operations.items():
                content = operation.get("requestBody", {}).get("content", {})
                if "multipart/form-data" in content:
                    rules.append((method.upper(), pattern, upload))
                elif "application/json" in content:
                    rules.append((method.upper(), pattern, json_body))

    def policy_for(method: str, path: str) -> BodyPolicy:
        nonlocal read
        if not read:
            read_rules()
            read = True
        for rule_method, pattern, policy in rules:
            if method == rule_method and pattern.match(path):
                return policy
        return other

    return policy_for


def _warm_up(store: ProviderStore) -> None:
    """Build the store's read indexes (at a million providers, seconds: longer than the
    request deadline) and import what the first site plan needs (spopt and its PySAL
    stack take ~4 s), so that no resident's request pays for either."""
    store.warm()
    import spopt.locate  # noqa: F401


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> FastAPI:
    """Build the API.

    Parameters
    ----------
    settings
        Defaults to :class:`Settings` read from the environment.
    backend
        An already open backend, left open; when ``None`` the lifespan opens (and closes)
        the one ``settings.database`` selects.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = backend is None
        app.state.search_limiter = CapacityLimiter(settings.server.search_threads)
        opened = open_backend(settings.database) if backend is None else backend
        # Every call into the backend is timed for /metrics (jzmap_store_query_duration_seconds).
        app.state.backend = timed_backend(opened)
        try:
            # One coverage service per store: its caches are keyed by that store's data
            # version.
            app.state.embed_origins = EmbedOrigins(
                app.state.backend.embed_origins,
                settings.server.embed_origin_list,
                settings.server.embed_origins_refresh_s,
            )
            # The search box's suggestions (issue 16): the gazetteer's names, AMap with a key.
            app.state.places = place_finder(settings)
            network = NetworkLoader(settings.coverage, settings.city, settings.database.data_dir)
            app.state.coverage = CoverageService(
                app.state.backend.store,
                settings.coverage,
                settings.city,
                gate=ComputeGate(settings.coverage.concurrency),
                network=network,
                # The addresses of proposed sites (issue 18): AMap's reverse geocoding.
                reverse=reverse_geocoder(settings),
            )
            # The walking network (JZMAP_STREET_NETWORK) is read from its cache, or built
            # and cached, beside the first requests: a build takes longer than the request
            # deadline. Walking requests answer 503 with Retry-After until it is ready.
            network.start()
            if owned:
                # A served app, not a test's: warm up beside the first requests, not before.
                threading.Thread(
                    target=_warm_up,
                    args=(app.state.backend.store,),
                    name="jzmap-warm-up",
                    daemon=True,
                ).start()
            yield
        finally:
            if owned:
                app.state.backend.close()

    app = FastAPI(
        title="Jiazheng Map (家政地图) API",
        version="1",
        summary="Find the nearest suitable domestic-service provider in Guangzhou.",
        lifespan=lifespan,
        # Served from this site's own files, under a CSP (api/routes/pages.py).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.mount("/static", pages.static_files, name="static")
    app.include_router(system.router)
    # Before the providers router only for readability: the paths cannot collide, as
    # /v1/providers/{provider_id} is one path segment and this route has two.
    app.include_router(grades.router)
    app.include_router(providers.router)
    app.include_router(viewport.router)
    app.include_router(coverage.router)
    app.include_router(catchment.router)
    app.include_router(sites.router)
    app.include_router(pages.router)
    app.include_router(admin.router)
    app.include_router(evaluations.router)
    app.include_router(practitioners.router)
    app.include_router(certificates.router)
    app.include_router(embed_origins.router)
    app.include_router(appeals.router)
    app.include_router(ogc.router)
    app.include_router(exports.router)
    app.include_router(tiles.router)
    app.include_router(places.router)
    app.include_router(hsds.router)
    app.include_router(reports.public_router)
    app.include_router(reports.router)
    # After every router: servers, contact, licence, descriptions, examples and error
    # answers (api/openapi.py).
    install_openapi(app, settings)

    # The last middleware added runs outermost: CORS, security headers, request id, metrics
    # and the request's log line, rate limit, guard, deadline, replica reads, gzip, then the
    # routes.
    # Phones on mobile networks: pages, Leaflet and layers shrink 3-6x compressed.
    app.add_middleware(GZipMiddleware, minimum_size=1_000)
    # Public requests read from the PostgreSQL read replicas, admin ones from the primary.
    app.add_middleware(ReplicaReadsMiddleware)
    limits = settings.limits
    app.add_middleware(
        DeadlineMiddleware,
        timeout_s=limits.request_timeout_s,
        applies=_has_deadline,
        retry_after_s=RETRY_AFTER_S,
    )
    # After the routers are in: the body policies are read from the routes.
    app.add_middleware(RequestGuard, admin=settings.admin, policy_for=body_policies(app, limits))
    if limits.rate_limit_per_minute:
        # Outside the guard: guessing the admin token costs tokens too.
        app.add_middleware(
            RateLimitMiddleware,
            buckets=TokenBuckets(limits.rate_limit_per_minute, limits.rate_limit_burst),
            cost=request_cost,
        )
    # Inside the request id, outside the rate limit and the guard: refusals are counted too.
    app.add_middleware(MetricsMiddleware, routes=app.router.routes)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    # Host pages of other city apps may call the API from the browser; nobody else. The
    # allowed origins are read as they are now (stored ones included: no restart).
    # Outermost, so refusals (a 429) carry CORS headers too and a host page can read them.
    app.add_middleware(
        EmbedCORSMiddleware,
        origins=lambda: getattr(app.state, "embed_origins", None),
        configured=settings.server.embed_origin_list,
    )
    return app
