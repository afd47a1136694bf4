"""FastAPI dependencies: the store and settings live on the app, opened in its lifespan.

Dependencies that only read ``app.state`` are ``async``: FastAPI runs a plain ``def``
dependency on its thread pool, and each such hop cost more than the nearest-match search
itself (measured: three of them were most of a ``sort=distance`` request's time).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from jzmap.settings import Settings
from providers.store import ProviderStore


async def get_store(request: Request) -> ProviderStore:
    store: ProviderStore = request.app.state.store
    return store


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[ProviderStore, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
