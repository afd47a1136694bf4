"""FastAPI dependencies: the backend and the settings live on the app, the backend opened
in its lifespan.

Dependencies that only read ``app.state`` are ``async``: FastAPI runs a plain ``def``
dependency on its thread pool, and each such hop cost more than the nearest-match search
itself (measured: three of them were most of a ``sort=distance`` request's time).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from jzmap.settings import Settings
from providers.gradebook import GradeBook
from providers.registry import PractitionerRegistry
from providers.store import ProviderStore
from providers.stores import Backend


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
