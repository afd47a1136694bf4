"""FastAPI dependencies: the store and settings live on the app, opened in its lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from jzmap.settings import Settings
from providers.store import ProviderStore


def get_store(request: Request) -> ProviderStore:
    store: ProviderStore = request.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[ProviderStore, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
