"""ASGI middleware: request ids, security headers, rate limits, the request guard and the
per-request deadline.

All are plain ASGI (no ``BaseHTTPMiddleware``): they add no task or thread per request, see
the response headers before they are sent, and — what the guard needs — can answer before
the body is read: an ASGI app reads the body only by calling ``receive``.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deadline import DEADLINE
from api.errors import REQUEST_ID, log, send_error
from api.security import admin_refusal, is_admin_path
from jzmap.settings import AdminSettings

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
)
_CLOSE = (b"connection", b"close")
# An X-Request-ID a client or proxy sends is kept when it is short and plain (a UUID,
# nginx's $request_id): it reaches log lines and error bodies, so nothing else may.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def route_path(scope: Scope) -> str:
    """The path routes match against: ``scope["path"]`` without the app's root path."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


def request_id_of(scope: Scope) -> str:
    """The request's ``X-Request-ID`` when it is 1-64 letters, digits or ``._:-``; else a
    new random one.

    Examples
    --------
    >>> request_id_of({"headers": [(b"x-request-id", b"edge-7f3a")]})
    'edge-7f3a'
    >>> len(request_id_of({"headers": [(b"x-request-id", b"<script>")]}))
    16
    """
    given = _header(scope, b"x-request-id")
    if given is not None and _REQUEST_ID.match(given):
        return given
    return secrets.token_hex(8)


class RequestContextMiddleware:
    """Gives each HTTP request an id (the request's own ``X-Request-ID`` when it is plain,
    :func:`request_id_of`; ``X-Request-ID`` on the response, ``request_id`` in
    error bodies, :data:`api.errors.REQUEST_ID` for the code serving it) and turns an
    unhandled exception into a 500 JSON body carrying the id, with the traceback logged
    under the same id (never sent)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request %s %s %s failed", request_id, scope["method"], scope["path"])
            if started:
                raise
            await send_error(
                send_with_id,
                500,
                "internal_error",
                "the server failed on this request and logged why; quote request id "
                f"{request_id} when you report it",
            )
        finally:
            REQUEST_ID.reset(token)


class SecurityHeadersMiddleware:
    """Adds ``X-Content-Type-Options`` and ``Referrer-Policy`` to every HTTP response
    that does not set them itself (the map pages add their own CSP)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One token bucket per client: ``burst`` tokens at once, refilled at ``per_minute``.

    A request spends ``cost`` tokens (expensive routes more than cheap ones; a cost above
    the burst is capped at the burst, so every route stays reachable). Keeps at most
    ``max_clients`` buckets, forgetting the least recently seen (a forgotten client starts
    again with a full bucket, which errs on the side of serving).

    Examples
    --------
    >>> now = [0.0]
    >>> buckets = TokenBuckets(per_minute=60, burst=2, clock=lambda: now[0])
    >>> [buckets.take("a") for _ in range(3)]
    [0.0, 0.0, 1.0]
    >>> now[0] = 1.0
    >>> buckets.take("a")
    0.0
    >>> now[0] = 3.0
    >>> buckets.take("a", cost=5), buckets.take("a")
    (0.0, 1.0)
    """

    def __init__(
        self,
        per_minute: float,
        burst: int,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be positive and burst at least 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, client: str, cost: float = 1.0) -> float:
        """Spend ``cost`` tokens of ``client``: 0 when allowed, else the seconds until
        enough are due."""
        cost = min(max(cost, 0.0), self.burst)
        now = self.clock()
        bucket = self._buckets.pop(client, None)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        self._buckets[client] = bucket
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate


class RateLimitMiddleware:
    """429 JSON with ``Retry-After`` for a client over its budget on limited paths.

    ``cost`` says how many tokens a request for a path spends (``None``: the path is not
    limited). The client is the connection's address; behind a reverse proxy run
    ``jzmap serve --proxy-headers --forwarded-allow-ips <proxy>`` so that address is the
    resident's, not the proxy's. Each worker process keeps its own buckets.
    """

    def __init__(
        self,
        app: ASGIApp,
        buckets: TokenBuckets,
        cost: Callable[[str], int | None],
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.cost = cost

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cost = self.cost(route_path(scope)) if scope["type"] == "http" else None
        if cost is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.buckets.take(client[0] if client else "unknown", cost)
        if wait == 0.0:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        await send_error(
            send,
            429,
            "rate_limited",
            f"too many requests from this address; retry in {retry_after} s",
            [(b"retry-after", str(retry_after).encode())],
        )


@dataclass(frozen=True)
class BodyPolicy:
    """What a route takes as a request body.

    Attributes
    ----------
    max_bytes
        The most body bytes read; more is refused with 413.
    limit_hint
        How the client can stay under it (names the setting), for the 413 message.
    media_types
        The ``Content-Type`` media types accepted on ``POST``/``PUT``/``PATCH``
        (``application/json`` admits ``application/*+json`` too); empty: any.
    """

    max_bytes: int
    limit_hint: str
    media_types: tuple[str, ...] = ()

    def admits(self, content_type: str | None) -> bool:
        if not self.media_types:
            return True
        media = (content_type or "").split(";", 1)[0].strip().lower()
        json_like = media.startswith("application/") and media.endswith("+json")
        return media in self.media_types or (json_like and "application/json" in self.media_types)


class BodyTooLargeError(StarletteHTTPException):
    """Raised from ``receive`` once a streamed body passes its cap (FastAPI lets an
    ``HTTPException`` raised while it reads the body through, so the error handler turns
    it into the 413 JSON answer)."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class RequestGuard:
    """Refuses what must not be read, before reading it.

    In this order, each on the request's headers alone: a ``/v1/admin`` request without the
    admin token (401, or 403 when none is configured); a body of the wrong media type for
    the route (415); a ``Content-Length`` over the route's cap (413). Then the body is
    counted as the app reads it, and a chunked (or lying) body is cut off with 413 as soon
    as it passes the cap. A refusal that leaves body bytes unread closes the connection
    (``Connection: close``), so the server never reads the rest.

    ``policy_for`` gives the :class:`BodyPolicy` of a (method, route path).
    """

    def __init__(
        self,
        app: ASGIApp,
        admin: AdminSettings,
        policy_for: Callable[[str, str], BodyPolicy],
    ) -> None:
        self.app = app
        self.admin = admin
        self.policy_for = policy_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        method: str = scope["method"]
        length_text = _header(scope, b"content-length")
        chunked = "chunked" in (_header(scope, b"transfer-encoding") or "").lower()
        try:
            declared = int(length_text) if length_text is not None else None
        except ValueError:
            declared = None  # the server refuses a malformed Content-Length before us
        unread = [_CLOSE] if chunked or (declared or 0) > 0 else []

        if is_admin_path(path):
            refusal = admin_refusal(self.admin, _header(scope, b"authorization"))
            if refusal is not None:
                kind = "unauthorized" if refusal.status == 401 else "forbidden"
                headers = [(k.lower().encode(), v.encode()) for k, v in refusal.headers]
                await send_error(send, refusal.status, kind, refusal.message, headers + unread)
                return
        policy = self.policy_for(method, path)
        content_type = _header(scope, b"content-type")
        if method in _WITH_BODY and not policy.admits(content_type):
            wanted = " or ".join(policy.media_types)
            got = repr(content_type[:100]) if content_type else "no Content-Type"
            await send_error(
                send,
                415,
                "unsupported_media_type",
                f"this route takes a {wanted} body: send it with 'Content-Type: {wanted}' "
                f"(got {got})",
                unread,
            )
            return
        if declared is not None and declared > policy.max_bytes:
            await send_error(send, 413, "too_large", self._too_large(policy, declared), [_CLOSE])
            return

        received = 0
        cut = False

        async def counted_receive() -> Message:
            nonlocal received, cut
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > policy.max_bytes:
                    cut = True
                    raise BodyTooLargeError(self._too_large(policy, None))
            return message

        started = False

        async def send_closing_if_cut(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if cut:
                    message = {**message, "headers": [*message.get("headers", ()), _CLOSE]}
            await send(message)

        try:
            await self.app(scope, counted_receive, send_closing_if_cut)
        except BodyTooLargeError as exc:
            # Only when the app let it through unanswered (FastAPI answers it itself).
            if started:
                raise
            await send_error(send, 413, "too_large", str(exc.detail), [_CLOSE])

    @staticmethod
    def _too_large(policy: BodyPolicy, declared: int | None) -> str:
        size = f" ({declared:,} bytes)" if declared is not None else ""
        return f"request body too large{size}: {policy.limit_hint}"


class DeadlineMiddleware:
    """503 JSON with ``Retry-After`` for a request not answered within ``timeout_s``.

    The app runs in a task of its own; when the deadline passes before its response has
    started, the client gets the 503 at once and whatever the app sends later is dropped.
    Code serving the request sees the deadline in :data:`api.deadline.DEADLINE`, so that
    expensive work does not start when the answer could no longer be sent (see
    :class:`api.deadline.ComputeGate`). A response that has started is let finish.
    """

    def __init__(
        self,
        app: ASGIApp,
        timeout_s: float,
        applies: Callable[[str], bool],
        retry_after_s: int,
    ) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.applies = applies
        self.retry_after_s = retry_after_s
        # Apps still working after their 503: referenced so they are not collected mid-way.
        self._late: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.applies(route_path(scope)):
            await self.app(scope, receive, send)
            return
        started = False
        late = False

        async def send_in_time(message: Message) -> None:
            nonlocal started
            if late:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        token = DEADLINE.set(time.monotonic() + self.timeout_s)
        try:
            # The task copies the context now: it sees the deadline and the request id.
            task = asyncio.ensure_future(self.app(scope, receive, send_in_time))
        finally:
            DEADLINE.reset(token)
        done, _ = await asyncio.wait({task}, timeout=self.timeout_s)
        if done or started:
            await task
            return
        late = True
        self._late.add(task)
        task.add_done_callback(self._finished)
        log.warning(
            "request %s %s %s: no answer within %g s, 503 sent",
            REQUEST_ID.get(),
            scope["method"],
            scope["path"],
            self.timeout_s,
        )
        await send_error(
            send,
            503,
            "timeout",
            f"no answer within {self.timeout_s:g} s (JZMAP_REQUEST_TIMEOUT_S): the server is "
            f"busy or the request is too large; retry in {self.retry_after_s} s, or narrow it",
            [(b"retry-after", str(self.retry_after_s).encode())],
        )

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._late.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a request answered 503 failed later", exc_info=task.exception())
