"""The service's Prometheus metrics, what ``/metrics`` answers, and one JSON log line per
request.

Labels are bounded: a request is counted under its route's template
(``/v1/providers/{provider_id}``, never the id), its method (one of the HTTP methods or
``other``) and its status; a path no route matches is ``unmatched``. Nothing of the query
string, no client address, no path parameter reaches a label or a log line: coordinates
are where a resident is, and ids would make every series unbounded.

With several uvicorn workers (``jzmap serve --workers N``) each worker is a process of its
own, and a scrape reaches whichever one accepts the connection. ``jzmap serve`` then sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start, every worker writes its values
there (prometheus-client's multiprocess mode), and ``/metrics`` answers the sum over all
of them, whichever worker serves the scrape.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from ingest import IngestReport
    from providers.gradebook import GradeBook
    from providers.registry import PractitionerRegistry
    from providers.store import ProviderStore
    from providers.stores import Backend

__all__ = ["CONTENT_TYPE_LATEST", "MetricsMiddleware", "count_import", "count_refusal", "scrape"]

access_log = logging.getLogger("jzmap.access")

# Seconds; from a cached nearest match (~1 ms) to a coverage analysis near the deadline.
_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "jzmap_http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "jzmap_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template, method and status",
    ["route", "method", "status"],
    buckets=_BUCKETS_S,
)
REFUSED = Counter(
    "jzmap_http_refused_total",
    "Requests answered with an error, by the error kind of the JSON body (rate_limited, "
    "too_large, unauthorized, forbidden, unsupported_media_type, timeout, busy, "
    "invalid_parameter, not_found, unavailable, internal_error, ...)",
    ["reason"],
)
IMPORTS = Counter(
    "jzmap_imports_total",
    "Imports over POST /v1/admin/imports that ran to their report, by kind and outcome "
    "(stored, dry_run)",
    ["kind", "outcome"],
)
IMPORT_ROWS = Counter(
    "jzmap_import_rows_total",
    "Rows of those imports, by kind and outcome (inserted, updated, unchanged, deactivated, "
    "rejected)",
    ["kind", "outcome"],
)
_ROW_OUTCOMES = ("inserted", "updated", "unchanged", "deactivated", "rejected")
_ERROR_KIND = re.compile(r"^[a-z_]{1,40}$")


def count_refusal(reason: str) -> None:
    """Count an error answer (``reason``: its body's ``error``, a short fixed word)."""
    REFUSED.labels(reason if _ERROR_KIND.match(reason) else "other").inc()


def count_import(kind: str, report: IngestReport) -> None:
    """Count an import that ran to its report, and its rows by outcome."""
    IMPORTS.labels(kind, "dry_run" if report.dry_run else "stored").inc()
    if report.dry_run:
        return
    for outcome in _ROW_OUTCOMES:
        rows = int(getattr(report, outcome, 0) or 0)
        if rows:
            IMPORT_ROWS.labels(kind, outcome).inc(rows)


def scrape() -> bytes:
    """The metrics in Prometheus' text format: of every worker in multiprocess mode, else
    of this process. The read replicas' lag is read at the scrape (the replica set keeps
    it up to date with its health checks)."""
    from providers.stores.metrics import observe_replica_lag
    from providers.stores.replicas import replica_lag_seconds

    for replica, lag_s in replica_lag_seconds().items():
        observe_replica_lag(replica, lag_s)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def route_templates(routes: Iterable[BaseRoute]) -> list[tuple[re.Pattern[str], str]]:
    """(pattern, template) of every route, included routers' routes too, in routing order."""
    found: list[tuple[re.Pattern[str], str]] = []
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's include_router
        if included is not None:
            found.extend(route_templates(included.routes))
            continue
        pattern = getattr(route, "path_regex", None)
        if isinstance(pattern, re.Pattern) and hasattr(route, "path"):
            found.append((pattern, str(route.path)))
    return found


def route_template(templates: list[tuple[re.Pattern[str], str]], scope: Scope) -> str:
    """The template of the route that serves (or would serve) ``scope``: the one routing
    chose, or — for a request refused before routing (rate limit, guard) — the first whose
    pattern matches its path; ``unmatched`` for none."""
    chosen = scope.get("route")
    if chosen is not None and hasattr(chosen, "path"):
        return str(chosen.path)
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):  # behind a proxy's path prefix: routes match without it
        path = path[len(root) :] or "/"
    return next((template for pattern, template in templates if pattern.match(path)), "unmatched")


class MetricsMiddleware:
    """Counts and times each HTTP request under its route template, and writes one log
    line for it (logger ``jzmap.access``: route, method, status, duration, request id).

    It runs inside the request-id middleware (the id is known) and outside the rate limit
    and the guard, so refused requests are counted and logged too.
    """

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.routes = routes
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_seen)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, duration_s: float) -> None:
        if self._templates is None:  # on the first request, when every route is in
            self._templates = route_templates(self.routes)
        route = route_template(self._templates, scope)
        method = scope["method"] if scope["method"] in _METHODS else "other"
        REQUESTS.labels(route, method, str(status)).inc()
        LATENCY.labels(route, method, str(status)).observe(duration_s)
        access_log.info(
            "%s %s %d %.1f ms",
            method,
            route,
            status,
            duration_s * 1000,
            extra=_fields(
                {
                    "request_id": scope.get("state", {}).get("request_id"),
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(duration_s * 1000, 3),
                }
            ),
        )


def _fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Extra log-record attributes, named so they cannot collide with logging's own."""
    return {f"jzmap_{k}": v for k, v in values.items()}


STORE_TIME = Histogram(
    "jzmap_store_query_duration_seconds",
    "Time of each call the API makes into the backend, by part (store, gradebook, registry) "
    "and operation (the method called: nearest, get, layer, record, ...)",
    ["part", "operation"],
    buckets=_BUCKETS_S,
)


class TimedPart:
    """A backend part (provider store, grade book, registry) whose method calls are timed
    into ``jzmap_store_query_duration_seconds``; everything else is the part's own.

    The operations are the part's methods, a fixed set: the label stays bounded. A method
    that returns an iterator is timed until it returns, not while it is walked.
    """

    def __init__(self, part: object, name: str) -> None:
        self.__wrapped__ = part
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self.__wrapped__, attribute)
        if attribute.startswith("_") or not callable(value):
            return value
        histogram = STORE_TIME.labels(self._name, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - started)

        return timed


def timed_backend(backend: Backend) -> Backend:
    """``backend`` with each part's calls timed (:class:`TimedPart`); the same database."""
    return dataclasses.replace(
        backend,
        store=cast("ProviderStore", TimedPart(backend.store, "store")),
        gradebook=cast("GradeBook", TimedPart(backend.gradebook, "gradebook")),
        registry=cast("PractitionerRegistry", TimedPart(backend.registry, "registry")),
    )
