"""``/v1/admin/embed-origins``: which other sites may embed the widget, changed without a
restart (:mod:`jzmap.application.embedding`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from api.dependencies import EmbedOriginsDep
from api.security import admin_router
from jzmap.presentation.embedding import (
    EmbedOriginChangeOut,
    EmbedOriginIn,
    EmbedOriginsOut,
    StoredOriginOut,
)
from jzmap.presentation.schemas import ErrorOut
from providers.embedding import MAX_ORIGIN_LENGTH

router = admin_router("/embed-origins")


@router.get(
    "",
    response_model=EmbedOriginsOut,
    summary="List the origins allowed to embed the widget",
    description="The configured origins (`JZMAP_EMBED_ORIGINS`), the stored ones and both "
    "together, as the widget's CSP `frame-ancestors` and CORS apply them.",
)
def list_embed_origins(origins: EmbedOriginsDep) -> EmbedOriginsOut:
    stored = origins.stored()
    return EmbedOriginsOut(
        configured=list(origins.configured),
        stored=[StoredOriginOut.of(o) for o in stored],
        effective=list(origins.refresh()),
    )


@router.post(
    "",
    response_model=EmbedOriginChangeOut,
    status_code=201,
    responses={
        200: {"model": EmbedOriginChangeOut, "description": "already stored (note replaced)"},
        413: {"model": ErrorOut},
        422: {"model": ErrorOut},
    },
    summary="Allow an origin to embed the widget (no restart)",
    description="Stores `origin` (`scheme://host[:port]`: no path, no wildcard) with the "
    "data; this worker applies it at once, every other within "
    "`JZMAP_EMBED_ORIGINS_REFRESH_S`. 201 when new, 200 when it was stored already.",
)
def add_embed_origin(
    body: EmbedOriginIn, origins: EmbedOriginsDep, response: Response
) -> EmbedOriginChangeOut:
    change = origins.add(body.origin, body.note)
    if not change.changed:
        response.status_code = 200
    return EmbedOriginChangeOut(**vars(change))


@router.delete(
    "",
    response_model=EmbedOriginChangeOut,
    responses={422: {"model": ErrorOut}},
    summary="Stop allowing a stored origin to embed the widget",
    description="Forgets a stored origin (`changed` false when it was not stored). An "
    "origin also configured in `JZMAP_EMBED_ORIGINS` stays allowed (`configured` true).",
)
def remove_embed_origin(
    origins: EmbedOriginsDep,
    origin: Annotated[
        str,
        Query(max_length=MAX_ORIGIN_LENGTH, description="e.g. https://app.example.cn"),
    ],
) -> EmbedOriginChangeOut:
    return EmbedOriginChangeOut(**vars(origins.remove(origin)))
