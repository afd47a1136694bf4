"""The FastAPI application factory.

The store is opened in the app's lifespan and handed to routes through ``Depends``; a
test (or another app) may pass its own store instead, which the app then leaves open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware

from api.errors import install_error_handlers
from api.middleware import RateLimitMiddleware, SecurityHeadersMiddleware, TokenBuckets
from api.routes import (
    admin,
    certificates,
    coverage,
    evaluations,
    grades,
    pages,
    practitioners,
    providers,
    system,
    viewport,
)
from jzmap.coverage import CoverageService
from jzmap.grades import GradeBookSlot
from jzmap.practitioners import RegistrySlot
from jzmap.services import open_store_from
from jzmap.settings import Settings
from providers.gradebook import GradeBook
from providers.registry import PractitionerRegistry
from providers.store import ProviderStore

_LIMITED_PREFIXES = ("/v1/", "/map", "/widget", "/embed")


def rate_limited_path(path: str) -> bool:
    """Public endpoints count against a client's budget; health checks and static files
    (cached by browsers) do not."""
    return path.startswith(_LIMITED_PREFIXES)


def create_app(
    settings: Settings | None = None,
    store: ProviderStore | None = None,
    gradebook: GradeBook | None = None,
    registry: PractitionerRegistry | None = None,
) -> FastAPI:
    """Build the API.

    Parameters
    ----------
    settings
        Defaults to :class:`Settings` read from the environment.
    store
        An already open store; when ``None`` the lifespan opens (and closes) the one the
        settings select.
    gradebook
        An already open grade book, left open; when ``None`` the app opens the one the
        settings select: at start-up when it opens its own store, else on first use.
    registry
        An already open practitioners registry, left open; else opened like the grade book.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.store = open_store_from(settings) if store is None else store
        # One coverage service per store: its caches are keyed by that store's data version.
        app.state.coverage = CoverageService(app.state.store, settings)
        app.state.gradebooks = GradeBookSlot(settings, gradebook)
        app.state.registries = RegistrySlot(settings, registry)
        try:
            if owned:
                app.state.gradebooks.get()
                app.state.registries.get()
            yield
        finally:
            app.state.registries.close()
            app.state.gradebooks.close()
            if owned:
                app.state.store.close()

    app = FastAPI(
        title="Jiazheng Map (家政地图) API",
        version="1",
        summary="Find the nearest suitable domestic-service provider in Guangzhou.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    # The last middleware added runs outermost.
    # Phones on mobile networks: pages, Leaflet and layers shrink 3-6x compressed.
    app.add_middleware(GZipMiddleware, minimum_size=1_000)
    if settings.rate_limit_per_minute:
        app.add_middleware(
            RateLimitMiddleware,
            buckets=TokenBuckets(settings.rate_limit_per_minute, settings.rate_limit_burst),
            limited=rate_limited_path,
        )
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.embed_origin_list:
        # Host pages of other city apps may call the API from the browser; nobody else.
        # Outermost, so refusals (a 429) carry CORS headers too and a host page can read them.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.embed_origin_list,
            allow_methods=["GET"],
            allow_headers=["Accept", "Content-Type"],
            max_age=600,
        )
    app.mount("/static", pages.static_files, name="static")
    app.include_router(system.router)
    # Before the providers router only for readability: the paths cannot collide, as
    # /v1/providers/{provider_id} is one path segment and this route has two.
    app.include_router(grades.router)
    app.include_router(providers.router)
    app.include_router(viewport.router)
    app.include_router(coverage.router)
    app.include_router(pages.router)
    app.include_router(admin.router)
    app.include_router(evaluations.router)
    app.include_router(practitioners.router)
    app.include_router(certificates.router)
    return app
