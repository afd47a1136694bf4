"""Service routes: health, categories, and a small index at ``/``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import BackendDep
from api.errors import RETRY_AFTER_S, current_request_id, log
from api.schemas import CategoryOut, HealthOut, LiveOut
from providers.model import Category
from providers.store import StoreUnavailableError

router = APIRouter(tags=["system"])


@router.get("/healthz", response_model=HealthOut, responses={503: {"model": HealthOut}})
def healthz(backend: BackendDep) -> HealthOut | JSONResponse:
    """``ok`` with the provider count, or 503 when the store cannot answer (the cause is
    logged under the request id the answer carries, never sent)."""
    store = backend.store
    try:
        store.check()
        return HealthOut(
            status="ok",
            store=backend.kind,
            providers=store.count(),
            data_version=store.data_version(),
        )
    except StoreUnavailableError as exc:
        # The cause names the store's file or host and the driver's words: for the log only.
        request_id = current_request_id()
        log.warning("request %s GET /healthz: store unavailable: %s", request_id, exc)
        body = HealthOut(
            status="unavailable",
            store=backend.kind,
            reason="the provider store cannot answer; the server log has the cause under "
            f"request id {request_id}",
            request_id=request_id,
        )
        return JSONResponse(
            status_code=503,
            content=body.model_dump(),
            headers={"Retry-After": str(RETRY_AFTER_S)},
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
