"""Bearer-token authentication for the admin routes; CORS for the embedding apps.

The check runs twice: in :class:`api.middleware.RequestGuard`, before one byte of the body
is read (so a client without the token cannot make the server read, parse or spool
anything), and as the routers' dependency, which documents it in the OpenAPI schema and
keeps a router safe if it is ever mounted without the guard.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, HTTPException
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from api.dependencies import SettingsDep
from jzmap.application.embedding import EmbedOrigins, configured_origins
from jzmap.presentation.schemas import ErrorOut
from jzmap.settings import AdminSettings

ADMIN_PREFIX = "/v1/admin"


@dataclass(frozen=True)
class Refusal:
    """Why an admin request is refused: the status, and a message saying what to do."""

    status: int
    message: str
    headers: tuple[tuple[str, str], ...] = ()


def is_admin_path(path: str) -> bool:
    """Whether ``path`` (the route path, without any root path) is an admin route's."""
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def admin_refusal(admin: AdminSettings, authorization: str | None) -> Refusal | None:
    """``None`` when ``authorization`` is ``Bearer <JZMAP_ADMIN_TOKEN>``, else the refusal.

    With no token configured every admin request is refused (403): an open admin API must be
    a decision, never a default. Tokens are compared in constant time.
    """
    if admin.token is None or not admin.token.get_secret_value():
        return Refusal(403, "the admin API is disabled: set JZMAP_ADMIN_TOKEN to enable it")
    scheme, _, given = (authorization or "").partition(" ")
    expected = admin.token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        return Refusal(
            401,
            "send the admin token as 'Authorization: Bearer <token>'",
            (("WWW-Authenticate", "Bearer"),),
        )
    return None


def require_admin(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """Let the request through only with ``Authorization: Bearer <JZMAP_ADMIN_TOKEN>``."""
    refusal = admin_refusal(settings.admin, authorization)
    if refusal is not None:
        raise HTTPException(refusal.status, refusal.message, headers=dict(refusal.headers))


AdminDep = Annotated[None, Depends(require_admin)]


def admin_router(path: str = "") -> APIRouter:
    """A router for operators' routes: under ``/v1/admin`` (and ``path`` below it), tagged
    ``admin``, every route behind the admin token (401 without it, 403 when none is
    configured). The one way to declare admin routes, so none can forget the token."""
    return APIRouter(
        prefix=f"/v1/admin{path}",
        tags=["admin"],
        dependencies=[Depends(require_admin)],
        responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
    )


class EmbedCORSMiddleware(CORSMiddleware):
    """CORS for the origins allowed to embed the widget, as they are now.

    Starlette's middleware with its origin check asked of the app's
    :class:`~jzmap.application.embedding.EmbedOrigins` (``JZMAP_EMBED_ORIGINS`` and the
    stored ones, re-read every ``JZMAP_EMBED_ORIGINS_REFRESH_S``): an origin an operator
    adds is let in without a restart. The re-read runs on a worker thread, never on the
    event loop. Before the app's lifespan has opened the backend, the configured origins
    alone apply.

    Parameters
    ----------
    origins
        Gives the app's ``EmbedOrigins`` (``None`` before the lifespan).
    configured
        ``JZMAP_EMBED_ORIGINS``.
    """

    def __init__(
        self,
        app: ASGIApp,
        origins: Callable[[], EmbedOrigins | None],
        configured: Sequence[str],
    ) -> None:
        super().__init__(
            app,
            allow_origins=(),
            allow_methods=["GET"],
            allow_headers=["Accept", "Content-Type"],
            max_age=600,
        )
        self.origins = origins
        self.configured = configured_origins(configured)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        embed = self.origins() if scope["type"] == "http" else None
        if embed is not None and embed.stale() and Headers(scope=scope).get("origin"):
            await anyio.to_thread.run_sync(embed.refresh)
        await super().__call__(scope, receive, send)

    def is_allowed_origin(self, origin: str) -> bool:
        embed = self.origins()
        return embed.allows(origin) if embed is not None else origin in self.configured
