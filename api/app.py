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
from api.routes import admin, pages, providers, system, viewport
from jzmap.services import open_store_from
from jzmap.settings import Settings
from providers.store import ProviderStore


def create_app(settings: Settings | None = None, store: ProviderStore | None = None) -> FastAPI:
    """Build the API.

    Parameters
    ----------
    settings
        Defaults to :class:`Settings` read from the environment.
    store
        An already open store; when ``None`` the lifespan opens (and closes) the one the
        settings select.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.store = open_store_from(settings) if store is None else store
        try:
            yield
        finally:
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
    if settings.embed_origin_list:
        # Host pages of other city apps may call the API from the browser; nobody else.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.embed_origin_list,
            allow_methods=["GET"],
            allow_headers=["Accept", "Content-Type"],
            max_age=600,
        )
    # Phones on mobile networks: pages, Leaflet and layers shrink 3-6x compressed.
    app.add_middleware(GZipMiddleware, minimum_size=1_000)
    app.mount("/static", pages.static_files, name="static")
    app.include_router(system.router)
    app.include_router(providers.router)
    app.include_router(viewport.router)
    app.include_router(pages.router)
    app.include_router(admin.router)
    return app
