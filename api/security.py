"""Bearer-token authentication for the admin routes."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException

from api.deps import SettingsDep


def require_admin(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """Let the request through only with ``Authorization: Bearer <JZMAP_ADMIN_TOKEN>``.

    With no token configured every admin request is refused: an open admin API must be a
    decision, never a default. Tokens are compared in constant time.
    """
    if settings.admin_token is None or not settings.admin_token.get_secret_value():
        raise HTTPException(403, "the admin API is disabled: set JZMAP_ADMIN_TOKEN to enable it")
    scheme, _, given = (authorization or "").partition(" ")
    expected = settings.admin_token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise HTTPException(
            401,
            "send the admin token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminDep = Annotated[None, Depends(require_admin)]
