"""POST /v1/admin/imports: the same import over HTTP, only with the admin token."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from jzmap.settings import Settings
from providers.store import ProviderStore
from providers.stores import Backend
from tests.test_ingest import HEADERS, row

TOKEN = "s3cret-admin-token"


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([HEADERS, *rows])
    return out.getvalue().encode("gbk")


@pytest.fixture
def backend(embedded_backend: Backend) -> Backend:
    return embedded_backend


def _client(backend: Backend, **settings: object) -> TestClient:
    return TestClient(create_app(Settings(**settings), backend=backend))


def test_admin_is_refused_when_no_token_is_configured(
    backend: Backend, store: ProviderStore
) -> None:
    with _client(backend) as client:
        r = client.post(
            "/v1/admin/imports",
            files={"file": ("a.csv", _csv([row(1)]))},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden" and "JZMAP_ADMIN_TOKEN" in r.json()["message"]
    assert store.count() == 0


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_missing_or_wrong_tokens_are_refused(
    backend: Backend, store: ProviderStore, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    with _client(backend, admin_token=SecretStr(TOKEN)) as client:
        r = client.post(
            "/v1/admin/imports", files={"file": ("a.csv", _csv([row(1)]))}, headers=headers
        )
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"] == "unauthorized"
    assert store.count() == 0


def test_import_over_http_reports_like_the_cli(backend: Backend, store: ProviderStore) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = _csv([row(1), row(2, 信用等级="6A")])
    with _client(backend, admin_token=SecretStr(TOKEN)) as client:
        r = client.post(
            "/v1/admin/imports",
            files={"file": ("海珠区.csv", body)},
            data={"mode": "snapshot"},
            headers=auth,
        )
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["rows_read"], report["inserted"], report["rejected"]) == (2, 1, 1)
        assert report["encodings"] == {"海珠区.csv": "gb18030"}
        assert report["rejects"][0]["line"] == 3
        assert "6A" in report["rejects"][0]["problems"][0]["reason"]
        nearest = client.get("/v1/providers/nearest?lat=23.1064&lon=113.3245&limit=1").json()
        assert nearest["results"][0]["name"] == "海珠安心家政服务有限公司1"
        again = client.post("/v1/admin/imports", files={"file": ("海珠区.csv", body)}, headers=auth)
        assert again.json()["unchanged"] == 1 and again.json()["inserted"] == 0


def test_upload_limits_and_types(backend: Backend, store: ProviderStore) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with _client(backend, admin_token=SecretStr(TOKEN), max_upload_mb=1) as client:
        big = client.post(
            "/v1/admin/imports",
            files={"file": ("big.csv", b"x" * (1 << 20 + 1) + b"y")},
            headers=auth,
        )
        assert big.status_code == 413 and big.json()["error"] == "too_large"
        exe = client.post("/v1/admin/imports", files={"file": ("a.exe", b"MZ")}, headers=auth)
        assert exe.status_code == 422 and ".csv, .xlsx or .geojson" in exe.json()["message"]
        broken = client.post(
            "/v1/admin/imports", files={"file": ("a.xlsx", b"not a zip")}, headers=auth
        )
        assert broken.status_code == 422 and "XLSX" in broken.json()["message"]
    assert store.count() == 0
