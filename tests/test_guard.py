"""The request guard, over a real server: admin tokens checked before the body, body caps
from Content-Length and from the streamed body, 415 for wrong media types.

The proof that a body was not read is that it was never sent: the client sends headers
only (or part of a chunked body) and gets its answer, and the server closes the connection
instead of waiting for the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.client import HTTPConnection
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from api.app import MULTIPART_ENVELOPE_BYTES, create_app
from jzmap.settings import Settings
from providers.stores import Backend
from tests.browser import serve_app
from tests.helpers import CANTON_TOWER, company, embedded_backend_at, station
from tests.rawhttp import open_request, read_response, send_chunk

TOKEN = "guard-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON_KB = 16
UPLOAD_MB = 1
HUNDRED_MB = 100 << 20
JSON_ROUTES = ("/v1/admin/evaluations", "/v1/admin/practitioners")
IMPORTS = "/v1/admin/imports"
MULTIPART = "multipart/form-data; boundary=jzmapboundary"
LON, LAT = CANTON_TOWER


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with embedded_backend_at(tmp_path_factory.mktemp("guard")) as backend:
        backend.store.upsert([company(1, LON, LAT), station(2, LON + 0.001, LAT)])
        yield backend


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "admin_token": SecretStr(TOKEN),
        "max_json_body_kb": JSON_KB,
        "max_upload_mb": UPLOAD_MB,
        "rate_limit_per_minute": 0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def base(small: Backend) -> Iterator[str]:
    with serve_app(create_app(_settings(), backend=small)) as url:
        yield url


@pytest.mark.parametrize(
    ("path", "content_type"),
    [*((p, "application/json") for p in JSON_ROUTES), (IMPORTS, MULTIPART)],
)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer "])
def test_a_missing_or_wrong_token_is_refused_before_one_byte_of_the_body(
    base: str, path: str, content_type: str, authorization: str | None
) -> None:
    headers = {"Content-Type": content_type, "Content-Length": str(HUNDRED_MB)}
    if authorization is not None:
        headers["Authorization"] = authorization
    # Headers announcing 100 MB, and not one byte of body: the answer comes all the same.
    response = read_response(open_request(base, "POST", path, headers), see_close=True)
    assert response.status == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["error"] == "unauthorized" and "Authorization: Bearer" in body["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    # It will not read the rest either: the connection is closed.
    assert response.headers["connection"] == "close" and response.closed_by_server


def test_admin_routes_are_refused_before_the_body_when_no_token_is_configured(
    small: Backend,
) -> None:
    app = create_app(_settings(admin_token=None), backend=small)
    with serve_app(app) as url:
        headers = {**AUTH, "Content-Type": MULTIPART, "Content-Length": str(HUNDRED_MB)}
        response = read_response(open_request(url, "POST", IMPORTS, headers), see_close=True)
    assert response.status == 403 and response.closed_by_server
    assert "JZMAP_ADMIN_TOKEN" in response.json()["message"]


def test_unknown_admin_paths_need_the_token_too(base: str) -> None:
    response = read_response(open_request(base, "GET", "/v1/admin/nothing-here", {}))
    assert response.status == 401
    with_token = read_response(open_request(base, "GET", "/v1/admin/nothing-here", AUTH))
    assert with_token.status == 404


@pytest.mark.parametrize(
    ("path", "content_type", "cap_bytes"),
    [
        *((p, "application/json", JSON_KB << 10) for p in JSON_ROUTES),
        (IMPORTS, MULTIPART, (UPLOAD_MB << 20) + MULTIPART_ENVELOPE_BYTES),
        ("/v1/providers/nearest", "application/json", JSON_KB << 10),
    ],
)
def test_a_content_length_over_the_cap_is_refused_at_once(
    base: str, path: str, content_type: str, cap_bytes: int
) -> None:
    headers = {**AUTH, "Content-Type": content_type, "Content-Length": str(cap_bytes + 1)}
    response = read_response(open_request(base, "POST", path, headers), see_close=True)
    assert response.status == 413 and response.closed_by_server
    body = response.json()
    assert body["error"] == "too_large" and f"{cap_bytes + 1:,} bytes" in body["message"]
    assert ("JZMAP_MAX_UPLOAD_MB" if path == IMPORTS else "JZMAP_MAX_JSON_BODY_KB") in (
        body["message"]
    )
    assert body["request_id"]


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_a_streamed_json_body_is_cut_off_as_it_passes_the_cap(base: str, path: str) -> None:
    headers = {**AUTH, "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    sock = open_request(base, "POST", path, headers)
    send_chunk(sock, b'{"evaluations": [')
    for _ in range(JSON_KB // 4 + 1):
        send_chunk(sock, b" " * 4096)  # past the cap by one chunk, and never finished
    response = read_response(sock, see_close=True)
    assert response.status == 413 and response.closed_by_server
    assert "JZMAP_MAX_JSON_BODY_KB" in response.json()["message"]


def test_a_streamed_upload_is_cut_off_as_it_passes_the_cap(base: str) -> None:
    headers = {**AUTH, "Content-Type": MULTIPART, "Transfer-Encoding": "chunked"}
    sock = open_request(base, "POST", IMPORTS, headers)
    send_chunk(
        sock,
        b"--jzmapboundary\r\n"
        b'Content-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n",
    )
    cap = (UPLOAD_MB << 20) + MULTIPART_ENVELOPE_BYTES
    line = "名称,地址\r\n".encode() * 4096
    for _ in range(cap // len(line) + 2):
        send_chunk(sock, line)  # the closing boundary never comes
    response = read_response(sock, see_close=True)
    assert response.status == 413 and response.closed_by_server
    assert "JZMAP_MAX_UPLOAD_MB" in response.json()["message"]


def _post(base: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    parts = urlsplit(base)
    conn = HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/xml", "multipart/form-data; boundary=x"]
)
def test_json_admin_routes_answer_415_json_for_other_media_types(
    base: str, path: str, content_type: str | None
) -> None:
    headers = {**AUTH} if content_type is None else {**AUTH, "Content-Type": content_type}
    status, body = _post(base, path, b'{"evaluations": []}', headers)
    assert status == 415
    assert body["error"] == "unsupported_media_type"
    assert "application/json" in body["message"] and body["request_id"]


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
def test_json_admin_routes_take_json(base: str, content_type: str) -> None:
    status, body = _post(
        base,
        "/v1/admin/evaluations",
        b'{"evaluations": []}',
        {**AUTH, "Content-Type": content_type},
    )
    assert status == 200 and body["received"] == 0


def test_the_import_route_answers_415_for_a_json_body(base: str) -> None:
    status, body = _post(base, IMPORTS, b"{}", {**AUTH, "Content-Type": "application/json"})
    assert status == 415 and "multipart/form-data" in body["message"]


def test_a_file_under_the_upload_cap_still_goes_through(base: str, small: Backend) -> None:
    # The guard's envelope leaves room for the form around a file of the full size; the
    # route itself holds the file to JZMAP_MAX_UPLOAD_MB exactly.
    boundary = "jzmapboundary"
    data = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="a.exe"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + b"MZ" * ((UPLOAD_MB << 20) // 2)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, body = _post(base, IMPORTS, data, {**AUTH, "Content-Type": MULTIPART})
    # Past the guard, refused by the route for its type: the whole file was read.
    assert status == 422 and ".csv, .xlsx or .geojson" in body["message"]
