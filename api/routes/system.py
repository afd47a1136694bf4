"""Service routes: health, categories, and a small index at ``/``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import SettingsDep, StoreDep
from api.schemas import CategoryOut, HealthOut, LiveOut
from providers.model import Category
from providers.store import StoreUnavailableError

router = APIRouter(tags=["system"])


@router.get("/healthz", response_model=HealthOut, responses={503: {"model": HealthOut}})
def healthz(store: StoreDep, settings: SettingsDep) -> HealthOut | JSONResponse:
    """``ok`` with the provider count, or 503 with the reason the store cannot answer."""
    backend = settings.backend
    try:
        store.check()
        return HealthOut(
            status="ok",
            store=backend,
            providers=store.count(),
            data_version=store.data_version(),
        )
    except StoreUnavailableError as exc:
        body = HealthOut(status="unavailable", store=backend, reason=str(exc))
        return JSONResponse(
            status_code=503, content=body.model_dump(), headers={"Retry-After": "5"}
        )


@router.get("/livez", response_model=LiveOut)
def livez() -> LiveOut:
    """The process answers (touches no store): a liveness probe, and the load benchmark's
    no-op reference."""
    return LiveOut()


@router.get("/v1/categories", response_model=list[CategoryOut], tags=["providers"])
def categories() -> list[CategoryOut]:
    """The four service categories, with Chinese and English labels."""
    return [CategoryOut(id=c, label_zh=c.label_zh, label_en=c.label_en) for c in Category]


@router.get("/", include_in_schema=False)
def index() -> dict[str, Any]:
    return {
        "service": "Jiazheng Map (家政地图)",
        "docs": "/docs",
        "openapi": "/openapi.json",
        "try": "/v1/providers/nearest?lat=23.1064&lon=113.3245&category=elderly_care",
    }
