"""Every error is JSON with a message a person can act on; bad input is never a 500."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.params import ALLOWED
from providers.store import StoreUnavailableError

RETRY_AFTER_S = 5


def error_body(
    error: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"error": error, "message": message, "details": details or []}


def _detail(err: dict[str, Any]) -> dict[str, Any]:
    loc = [str(part) for part in err.get("loc", ()) if part not in ("query", "path", "body")]
    parameter = ".".join(loc) or "request"
    got = err.get("input")
    kind = err.get("type")
    if kind == "missing":
        message = f"{parameter} is required"
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


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
        422: "invalid_request",
    }.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "no such route; see /docs for the API"
    return JSONResponse(
        status_code=exc.status_code,
        content=error_body(kind, message),
        headers=getattr(exc, "headers", None),
    )


async def _store_unavailable(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        status_code=503,
        content=error_body("unavailable", f"the provider store cannot answer now: {exc}"),
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StoreUnavailableError, _store_unavailable)
