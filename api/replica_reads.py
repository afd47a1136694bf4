"""Public requests read from the PostgreSQL read replicas; admin requests from the primary.

With ``DATABASE_READ_URLS`` set, the backend's reads go to a replica only in a context
marked by :func:`providers.stores.replicas.replica_reads`: this middleware marks every
request but the admin API's and the coverage API's (:func:`reads_replicas`), so an
operator reviewing an import (or anything else behind the token) always reads the
primary, and residents' searches spread over the replicas. Writes go to the primary
whatever the context. Without replicas the mark changes nothing.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from api.middleware import route_path
from api.security import is_admin_path
from providers.stores.replicas import replica_reads

# Coverage analyses are cached by the data version they were read at, and one analysis
# makes several reads (the version, a count, every provider): two replicas replaying at
# different speeds could give it the version of one and the providers of the other, and
# the cache would keep that mix until the next import. So they read the primary, once per
# data version and process.
_PRIMARY_PREFIXES = ("/v1/coverage/",)


def reads_replicas(path: str) -> bool:
    """Whether a request for ``path`` (the route path) may read from a replica.

    Examples
    --------
    >>> reads_replicas("/v1/providers/nearest"), reads_replicas("/v1/map/layer")
    (True, True)
    >>> reads_replicas("/v1/admin/imports"), reads_replicas("/v1/coverage/districts")
    (False, False)
    """
    return not is_admin_path(path) and not path.startswith(_PRIMARY_PREFIXES)


class ReplicaReadsMiddleware:
    """Let the reads of public requests (:func:`reads_replicas`) go to a read replica.

    A context variable, set around the rest of the app: route code running on a worker
    thread gets a copy of the request's context, so it sees the mark too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not reads_replicas(route_path(scope)):
            await self.app(scope, receive, send)
            return
        with replica_reads():
            await self.app(scope, receive, send)
