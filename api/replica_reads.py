"""Public requests read from the PostgreSQL read replicas; admin requests from the primary.

With ``DATABASE_READ_URLS`` set, the backend's reads go to a replica only in a context
marked by :func:`providers.stores.replicas.replica_reads`: this middleware marks every
request but the admin API's, so an operator reviewing an import (or anything else behind
the token) always reads the primary, and residents' searches spread over the replicas.
Writes go to the primary whatever the context. Without replicas the mark changes nothing.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from api.middleware import route_path
from api.security import is_admin_path
from providers.stores.replicas import replica_reads


class ReplicaReadsMiddleware:
    """Let the reads of every request but the admin API's go to a read replica.

    A context variable, set around the rest of the app: route code running on a worker
    thread gets a copy of the request's context, so it sees the mark too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_admin_path(route_path(scope)):
            await self.app(scope, receive, send)
            return
        with replica_reads():
            await self.app(scope, receive, send)
