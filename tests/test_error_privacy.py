"""Public errors say what happened, not where: over a real server, a broken store file, a
failing route and bad input answer JSON with a request id, and the paths and driver
messages go to the log under that id, never to the client."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from api.app import create_app
from jzmap.settings import Settings
from providers.stores import Backend
from providers.stores.embedded import EmbeddedStore
from tests.browser import serve_app
from tests.helpers import CANTON_TOWER, company

LON, LAT = CANTON_TOWER


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    try:
        with urlopen(Request(url, headers=headers or {}), timeout=60) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, json.load(r)
    except HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, json.loads(e.read())


@pytest.fixture
def filled(embedded_backend: Backend) -> Backend:
    embedded_backend.store.upsert([company(i, LON + i * 1e-3, LAT) for i in range(50)])
    return embedded_backend


@pytest.fixture
def store(filled: Backend) -> EmbeddedStore:
    assert isinstance(filled.store, EmbeddedStore)
    return filled.store


def _corrupt(store: EmbeddedStore) -> Path:
    """Overwrite every page of the store's file but the first: 'disk image is malformed'."""
    path = store.data_dir / "providers.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(4096)
        f.write(b"\xff" * (size - 4096))
    return path


def test_a_broken_store_file_is_a_503_that_names_neither_file_nor_driver(
    filled: Backend, store: EmbeddedStore, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(rate_limit_per_minute=0)
    with serve_app(create_app(settings, backend=filled)) as base:
        path = _corrupt(store)
        with caplog.at_level(logging.WARNING, logger="jzmap.api"):
            status, headers, body = _get(f"{base}/healthz")
    assert status == 503 and headers["retry-after"] == "5"
    assert body["status"] == "unavailable"
    text = json.dumps(body, ensure_ascii=False)
    assert str(path) not in text and str(store.data_dir) not in text
    assert "malformed" not in text and "sqlite" not in text.lower()
    request_id = headers["x-request-id"]
    assert body["request_id"] == request_id and request_id in body["reason"]
    # The operator finds the cause under the same id.
    logged = [r.getMessage() for r in caplog.records if request_id in r.getMessage()]
    assert logged and "malformed" in logged[0] and str(path) in logged[0]


def test_an_unhandled_failure_is_a_500_json_with_the_id_and_the_traceback_only_logged(
    filled: Backend, store: EmbeddedStore, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(rate_limit_per_minute=0)
    app = create_app(settings, backend=filled)

    def fails() -> None:
        raise RuntimeError(f"cannot read {store.data_dir}/secret.bin: driver said no")

    # A route of this test's own: the app's routes are not meant to fail.
    app.add_api_route("/v1/fails", fails)
    with serve_app(app) as base, caplog.at_level(logging.ERROR, logger="jzmap.api"):
        status, headers, body = _get(f"{base}/v1/fails")
    assert status == 500
    assert body["error"] == "internal_error"
    assert body["request_id"] == headers["x-request-id"] in body["message"]
    text = json.dumps(body)
    assert "secret.bin" not in text and "driver" not in text and "Traceback" not in text
    failures = [r for r in caplog.records if headers["x-request-id"] in r.getMessage()]
    assert failures and failures[0].exc_info is not None
    assert "secret.bin" in str(failures[0].exc_info[1])


@pytest.mark.parametrize(
    "path",
    [
        "/v1/providers/nearest?lat=91&lon=113",
        "/v1/nothing",
        "/v1/map/layer?bbox=1,2,3&zoom=12",
        "/v1/coverage/cells?category=nursing&res=9",
        "/v1/admin/imports",
    ],
)
def test_every_error_answer_carries_the_request_id(filled: Backend, path: str) -> None:
    settings = Settings(rate_limit_per_minute=0)
    with serve_app(create_app(settings, backend=filled)) as base:
        status, headers, body = _get(base + path)
    assert 400 <= status < 500
    assert set(body) >= {"error", "message", "details", "request_id"}
    assert body["request_id"] == headers["x-request-id"] and len(body["request_id"]) == 16


def test_every_answer_has_its_own_request_id(filled: Backend) -> None:
    settings = Settings(rate_limit_per_minute=0)
    with serve_app(create_app(settings, backend=filled)) as base:
        ids = {_get(f"{base}/livez")[1]["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_an_error_quotes_a_long_bad_value_cut_short(filled: Backend) -> None:
    settings = Settings(rate_limit_per_minute=0)
    with serve_app(create_app(settings, backend=filled)) as base:
        status, _, body = _get(f"{base}/v1/providers/nearest?lat={LAT}&lon={LON}&kind={'x' * 6000}")
    assert status == 422
    assert len(json.dumps(body, ensure_ascii=False)) < 2_000
    assert body["details"][0]["got"].endswith("…")
