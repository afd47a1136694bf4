"""Every error is JSON with a message a person can act on; bad input is never a 500.

Errors say what happened, never where: file paths, driver messages and tracebacks go to the
log (logger ``jzmap.api``) with the request's id, and the response carries that id
(``request_id`` in the body, ``X-Request-ID`` in the headers) so that an operator can find
the log lines a resident's report is about.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from api.metrics import count_refusal
from api.params import ALLOWED
from jzmap.paths import install_roots
from providers.errors import JzmapError

RETRY_AFTER_S = 5

log = logging.getLogger("jzmap.api")

REQUEST_ID: ContextVar[str | None] = ContextVar("jzmap_request_id", default=None)
"""The id of the request being handled; set by :class:`api.middleware.RequestContextMiddleware`
(context variables reach the threads sync routes run in)."""

# Directories whose paths must not reach a response. A message that names a file keeps
# only its name: "/tmp/jzmap-import-x1/海珠区.xlsx: …" becomes "海珠区.xlsx: …".
_PATH_ROOTS = sorted(
    {
        "/tmp",  # noqa: S108 (a prefix to hide, not a file to use)
        "/var",
        "/home",
        "/root",
        "/usr",
        "/etc",
        "/opt",
        "/srv",
        "/mnt",
        "/run",
        "/proc",
        "/work",
        "/data",
        tempfile.gettempdir(),
        # where the program runs from: a checkout, or a virtualenv's site-packages
        *("/" + root.parts[1] for root in install_roots() if len(root.parts) > 1),
    }
    - {"/"},
    key=len,
    reverse=True,
)
_PATH = re.compile(
    r"(?<![\w/.])(?:" + "|".join(re.escape(r) for r in _PATH_ROOTS) + r")(?:/[^\s'\"()<>,;]*)?"
)


def current_request_id() -> str | None:
    """The id of the request being handled, if any."""
    return REQUEST_ID.get()


def redact_paths(text: str) -> str:
    """``text`` with every absolute file path cut to its last part.

    Examples
    --------
    >>> redact_paths("cannot open /tmp/jzmap-import-x1/海珠区.xlsx: bad zip")
    'cannot open 海珠区.xlsx: bad zip'
    >>> redact_paths("see /docs and /v1/providers/nearest")
    'see /docs and /v1/providers/nearest'
    """

    def last_part(match: re.Match[str]) -> str:
        name = match.group(0).rstrip("/").rsplit("/", 1)[-1]
        return name or "(a path)"

    return _PATH.sub(last_part, text)


def error_body(
    error: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The JSON body of every error: a kind, a message for a person, per-parameter details
    and the request's id (quote it when reporting a problem)."""
    count_refusal(error)  # every error answer is built here: /metrics counts it by kind
    clean = [
        {**d, "message": redact_paths(d["message"])} if isinstance(d.get("message"), str) else d
        for d in details or []
    ]
    return {
        "error": error,
        "message": redact_paths(message),
        "details": clean,
        "request_id": current_request_id(),
    }


async def send_error(
    send: Send,
    status: int,
    error: str,
    message: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Answer with an error from ASGI middleware (where no ``Response`` class is at hand)."""
    body = json.dumps(error_body(error, message), ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_GOT_CHARS = 200


def _shown(value: Any) -> Any:
    """A rejected input as the error quotes it: JSON-ready, and long text cut short (an
    error must not echo a megabyte back, twice)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value if len(value) <= _GOT_CHARS else value[:_GOT_CHARS] + "…"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return _shown(repr(value))
    return value if len(text) <= _GOT_CHARS else text[:_GOT_CHARS] + "…"


def _detail(err: dict[str, Any]) -> dict[str, Any]:
    loc = [str(part) for part in err.get("loc", ()) if part not in ("query", "path", "body")]
    parameter = ".".join(loc) or "request"
    got = _shown(err.get("input"))
    kind = err.get("type")
    if kind == "missing":
        message = f"{parameter} is required"
    elif kind == "json_invalid":
        # loc is ("body", <character offset>): the offset is no parameter.
        parameter = "body"
        at = err.get("loc", ("body", 0))[-1]
        message = f"body: not valid JSON (at character {at}); send a JSON object in UTF-8"
    elif kind == "enum":
        message = f"{parameter} is not one of the allowed values (got {got!r})"
    else:
        # pydantic's own wording, e.g. "Input should be less than or equal to 90".
        reason = str(err.get("msg", "invalid value"))
        message = f"{parameter}: {reason[:1].lower()}{reason[1:]} (got {got!r})"
    allowed = ALLOWED.get(parameter)
    if allowed:
        message += f"; allowed: {allowed}"
    return {"parameter": parameter, "message": message, "allowed": allowed, "got": got}


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [_detail(dict(err)) for err in exc.errors()]
    return JSONResponse(
        status_code=422,
        content=error_body("invalid_parameter", "; ".join(d["message"] for d in details), details),
    )


HTTP_ERROR_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


_UNREADABLE_BODY = "There was an error parsing the body"


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = HTTP_ERROR_KINDS.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "no such route; see /docs for the API"
    if exc.status_code == 400 and message == _UNREADABLE_BODY:
        # FastAPI's words when a body is not even text (bytes that are not UTF-8): the same
        # 422 as a body that is text but not JSON, said so that a person can act on it.
        return JSONResponse(
            status_code=422,
            content=error_body(
                "invalid_request", "body: not readable; send a JSON object in UTF-8"
            ),
        )
    return JSONResponse(
        status_code=exc.status_code,
        content=error_body(kind, message),
        headers=getattr(exc, "headers", None),
    )


async def _jzmap_error(request: Request, exc: Exception) -> JSONResponse:
    """Every :class:`~providers.errors.JzmapError`: its status (:data:`~providers.errors.STATUS`),
    its code as the body's ``error``, its message and details; a 503 asks to retry."""
    assert isinstance(exc, JzmapError)
    message = exc.message
    if exc.public_message is not None:
        # The message names internals (a store's file or database host, a driver's words):
        # the log keeps it under the request's id, the client gets what to do.
        log.warning(
            "request %s %s %s: %s: %s",
            current_request_id(),
            request.method,
            request.url.path,
            type(exc).__name__,
            exc,
        )
        message = exc.public_message.format(retry_after_s=RETRY_AFTER_S)
    return JSONResponse(
        status_code=exc.status,
        content=error_body(exc.code, message, [asdict(d) for d in exc.details]),
        headers={"Retry-After": str(RETRY_AFTER_S)} if exc.status == 503 else None,
    )


def install_error_handlers(app: FastAPI) -> None:
    """The app's one set of error handlers: invalid parameters (FastAPI's validation), HTTP
    errors (unknown routes, methods, authentication, bodies refused while read) and the
    service's own errors (:class:`~providers.errors.JzmapError`, whatever layer raised them).
    Anything else is a 500 carrying only the request's id
    (:class:`api.middleware.RequestContextMiddleware`)."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(JzmapError, _jzmap_error)
