"""The FastAPI application factory.

The store is opened in the app's lifespan and handed to routes through ``Depends``; a
test (or another app) may pass its own store instead, which the app then leaves open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.routes import admin, providers, system
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
    app.include_router(system.router)
    app.include_router(providers.router)
    app.include_router(admin.router)
    return app
