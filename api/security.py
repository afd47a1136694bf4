"""Bearer-token authentication for the admin routes.

The check runs twice: in :class:`api.middleware.RequestGuard`, before one byte of the body
is read (so a client without the token cannot make the server read, parse or spool
anything), and as the routers' dependency, which documents it in the OpenAPI schema and
keeps a router safe if it is ever mounted without the guard.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException

from api.deps import SettingsDep
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
