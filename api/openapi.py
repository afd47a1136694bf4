"""The OpenAPI document, completed: servers, contact and licence; every public operation
with a description and a real example; the error answers every public route can give
(422, 429, 503) with their bodies.

FastAPI builds the document from the routes; :func:`complete_openapi` adds what the routes
cannot say themselves, once, when the document is first asked for. The response examples
(``api/openapi_examples.json``) are answers of the demo city (``make demo``), trimmed to one
or two items; ``tests/test_openapi.py`` checks each against its response schema, so they
cannot drift from what the API answers.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from geo.package_data import package_path
from jzmap.settings import Settings

EXAMPLES_FILE = package_path("api", "openapi_examples.json")

# Operations whose route gives no description: what they do, for a reader of /docs.
DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("get", "/v1/providers/{provider_id}"): "One listed provider's public record (no personal "
    "data; a company's phone is its business line), coordinates in `crs`. Ids come from "
    "`/v1/providers/nearest` or `/v1/map/layer`.",
    ("get", "/v1/providers/{provider_id}/grade-history"): "A company's dynamic credit grade: "
    "its official baseline, its current score and every change with its causes. Stations "
    "are not graded (null fields, no changes).",
    ("get", "/v1/map/layer"): "What a map viewport shows (GeoJSON): counts per district "
    "when zoomed out, per H3 cell in between, providers one by one when zoomed in (at most "
    "`JZMAP_MAP_POINT_CAP`). `bbox` and the answer in `crs`.",
    ("get", "/v1/coverage/cells"): "Coverage gaps of one category as H3 cells (GeoJSON): "
    "residents, nearest suitable provider, providers within reach; `district` by name "
    "(天河区) or code (440106).",
    ("get", "/v1/coverage/districts"): "Per district: the share of residents with a "
    "suitable provider within the catchment, providers and practitioners per 10,000 "
    "residents (JSON, or CSV for Excel with `format=csv`).",
    ("get", "/v1/certificates/{code}"): "Check a 安心服务证 as a household would: valid, "
    "expired, incomplete or revoked, the company, and a masked name (nothing else personal).",
    ("get", "/healthz"): "Readiness: `ok` with the provider count, or 503 when the store "
    "cannot answer.",
    ("get", "/livez"): "Liveness: the process answers (the store is not asked).",
    ("get", "/v1/categories"): "The four service categories, with their Chinese and English names.",
}


def _error_example(error: str, message: str) -> dict[str, Any]:
    return {"error": error, "message": message, "details": [], "request_id": "5f0c2a9e1b7d4c3a"}


_PROBLEM = {
    "parameter": "lat",
    "message": "lat: Input should be less than or equal to 90; allowed: -90 to 90",
    "allowed": "-90 to 90",
    "got": "123",
}
ERROR_RESPONSES: dict[str, dict[str, Any]] = {
    "422": {
        "description": "A parameter the service cannot use: the body names each one, what is "
        "allowed and what was sent.",
        "example": {
            **_error_example("invalid_parameter", _PROBLEM["message"]),
            "details": [_PROBLEM],
        },
    },
    "429": {
        "description": "Too many requests from this address (`JZMAP_RATE_LIMIT_PER_MINUTE`, "
        "`JZMAP_RATE_LIMIT_BURST`); `Retry-After` says when to retry. An app whose users share "
        "one outgoing address asks the operator for a higher limit (docs: Embedding).",
        "example": _error_example(
            "rate_limited", "too many requests from this address; retry in 3 s"
        ),
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    },
    "503": {
        "description": "The server is busy or the store cannot answer now (no answer within "
        "`JZMAP_REQUEST_TIMEOUT_S`); `Retry-After` says when to retry.",
        "example": _error_example(
            "timeout",
            "no answer within 10 s (JZMAP_REQUEST_TIMEOUT_S): the server is busy or the "
            "request is too large; retry in 5 s, or narrow it",
        ),
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    },
}


def is_public(path: str) -> bool:
    """Whether ``path`` is a public operation (not an admin one)."""
    return not path.startswith("/v1/admin")


def _examples() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(EXAMPLES_FILE.read_text("utf-8"))
    return loaded


def _add_errors(operation: dict[str, Any], error_ref: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for status, spec in ERROR_RESPONSES.items():
        entry = responses.setdefault(status, {"description": spec["description"]})
        if entry.get("description") in (None, "", "Validation Error", "Unprocessable Content"):
            entry["description"] = spec["description"]
        content = entry.setdefault("content", {}).setdefault("application/json", {})
        content["schema"] = error_ref
        content.setdefault("example", spec["example"])
        if "headers" in spec:
            entry.setdefault("headers", spec["headers"])


def complete_openapi(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``schema`` (FastAPI's document) with servers, contact, licence, descriptions,
    examples and error answers (a new dictionary)."""
    done = copy.deepcopy(schema)
    public = settings.server.public_base_url
    done["servers"] = [
        {"url": public or "/", "description": "this service" + ("" if public else " (relative)")}
    ]
    contact = settings.server.embed_contact
    info = done.setdefault("info", {})
    info["contact"] = {"name": "Jiazheng Map operator"} | (
        {"email": contact} if "@" in contact and " " not in contact else {}
    )
    info["license"] = {"name": "MIT", "identifier": "MIT"}
    examples = _examples()
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for path, operations in done["paths"].items():
        if not is_public(path):
            continue
        for method, operation in operations.items():
            if not operation.get("description"):
                operation["description"] = DESCRIPTIONS.get(
                    (method, path), operation.get("summary", "")
                )
            ok = operation.get("responses", {}).get("200", {})
            json_answer = ok.get("content", {}).get("application/json")
            if json_answer is not None and path in examples:
                json_answer.setdefault("example", examples[path])
            if path.startswith("/v1/"):
                _add_errors(operation, error_ref)
    return done


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Serve the completed document at ``/openapi.json`` (built once, on first request)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_openapi(build(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
