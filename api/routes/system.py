"""Service routes: health, categories, and a small index at ``/``."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, Response

from api.dependencies import BackendDep, CoverageDep, SettingsDep
from api.errors import RETRY_AFTER_S, current_request_id, error_body, log
from api.metrics import CONTENT_TYPE_LATEST, scrape
from jzmap.presentation.schemas import CategoryOut, HealthOut, LiveOut, ReadyOut
from providers.model import Category
from providers.store import StoreUnavailableError
from providers.stores.health import readiness

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


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def readyz(backend: BackendDep, coverage: CoverageDep) -> ReadyOut | JSONResponse:
    """``ready`` when every part of the backend answers and is at this program's schema; 503
    otherwise (the causes are logged under the request id the answer carries). Cheap: one
    small read per part and the schema version, never a count.

    ``network`` says where the walking network is (``loading`` while the lifespan's thread
    reads or builds it); it does not make the service unready, as everything but walking is
    answered meanwhile (walking with a 503 and ``Retry-After``)."""
    network = coverage.network.state if coverage.network is not None else "off"
    checks = readiness(backend)
    failed = {name: why for name, why in checks.items() if why is not None}
    shown = {name: "failed" if name in failed else "ok" for name in checks}
    if not failed:
        return ReadyOut(status="ready", store=backend.kind, checks=shown, network=network)
    request_id = current_request_id()
    for name, why in failed.items():
        log.warning("request %s GET /readyz: %s not ready: %s", request_id, name, why)
    body = ReadyOut(
        status="unavailable",
        store=backend.kind,
        checks=shown,
        request_id=request_id,
        network=network,
    )
    return JSONResponse(
        status_code=503, content=body.model_dump(), headers={"Retry-After": str(RETRY_AFTER_S)}
    )


@router.get("/metrics", include_in_schema=False)
def metrics(
    settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> Response:
    """The service's metrics in Prometheus' text format, for a scraper that sends
    ``Authorization: Bearer <JZMAP_METRICS_TOKEN>`` (refused without the token, and when
    none is set: traffic and import figures are the operator's, not the public's)."""
    token = settings.operations.metrics_token
    expected = token.get_secret_value().encode() if token is not None else b""
    if not expected:
        return _refused(403, "metrics are disabled: set JZMAP_METRICS_TOKEN to enable /metrics")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        return _refused(401, "send the metrics token as 'Authorization: Bearer <token>'")
    return Response(scrape(), media_type=CONTENT_TYPE_LATEST)


def _refused(status: int, message: str) -> JSONResponse:
    kind = "forbidden" if status == 403 else "unauthorized"
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(status_code=status, content=error_body(kind, message), headers=headers)


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
