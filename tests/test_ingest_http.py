"""Hostile files and bodies over real HTTP (uvicorn on a local port): each is a JSON 4xx
or clean row rejects, never a plain-text 500, and nothing is stored from a refused file."""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from api.app import create_app
from ingest.limits import CAUSE_IDS, ID_CHARS, NAME_CHARS, PERSON_NAME_CHARS
from jzmap.settings import Settings
from providers.store import ProviderStore
from providers.stores import Backend
from tests.browser import serve_app
from tests.test_ingest import HEADERS, row
from tests.test_ingest_limits import _xlsx_with

TOKEN = "s3cret-admin-token"


@pytest.fixture
def site(embedded_backend: Backend) -> Iterator[tuple[str, ProviderStore]]:
    settings = Settings(admin_token=SecretStr(TOKEN))
    with serve_app(create_app(settings, backend=embedded_backend)) as base:
        yield base, embedded_backend.store


def _send(request: urllib.request.Request) -> tuple[int, str, Any]:
    request.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers["content-type"], json.load(response)
    except urllib.error.HTTPError as error:
        body = error.read()
        kind = error.headers["content-type"] or ""
        return error.code, kind, json.loads(body) if "json" in kind else body.decode()


def upload(base: str, name: str, content: bytes) -> tuple[int, str, Any]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{base}/v1/admin/imports",
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    return _send(request)


def post_json(base: str, path: str, payload: object) -> tuple[int, str, Any]:
    request = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    return _send(request)


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([HEADERS, *rows])
    return out.getvalue().encode("utf-8")


def test_bad_files_are_json_4xx_and_store_nothing(
    site: tuple[str, ProviderStore], tmp_path: Path
) -> None:
    base, store = site
    dtd = _xlsx_with(tmp_path, '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>', "&a;").read_bytes()
    undefined = _xlsx_with(tmp_path, "", "&undefined;").read_bytes()
    deep = b'{"type": "FeatureCollection", "features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    header_nul = "name,address\nA,B\n".encode("utf-16-le")
    for name, content, words in [
        ("dtd.xlsx", dtd, "DTD"),
        ("entity.xlsx", undefined, "not well-formed XML"),
        ("deep.geojson", deep, "levels deep"),
        ("utf16.csv", header_nul, "UTF-16"),
        ("zip.xlsx", b"PK\x03\x04 not really", "XLSX"),
    ]:
        status, kind, body = upload(base, name, content)
        assert status == 422 and kind.startswith("application/json"), (name, status, body)
        assert words in body["message"], body
    assert store.count() == 0


def test_over_long_cells_are_row_rejects_over_http(site: tuple[str, ProviderStore]) -> None:
    base, store = site
    rows = [row(1, 企业名称="家" * 5_242_880), row(2, 备注="A" * 200_000)]
    content = _csv([*rows, row(3, 企业名称="海\x00珠"), row(4)])
    status, _, report = upload(base, "big.csv", content)
    assert status == 200, report
    assert (report["rows_read"], report["stored"], report["rejected"]) == (4, 1, 3)
    problems = {r["line"]: r["problems"][0] for r in report["rejects"]}
    assert problems[2]["column"] == "企业名称"
    assert f"5,242,880 characters; at most {NAME_CHARS}" in problems[2]["reason"]
    assert problems[3]["column"] == "备注" and problems[4]["column"] == "企业名称"
    cells = {r["line"]: r["cells"] for r in report["rejects"]}
    assert len(cells[2]["企业名称"]) == NAME_CHARS + 1, "the answer stays small"
    assert store.count() == 1


def _practitioner(**fields: object) -> dict[str, object]:
    item: dict[str, object] = {
        "id": "P-001",
        "name": "王芳",
        "id_number": "110101199003074514",
        "phone": "13812345678",
    }
    item.update(fields)
    return item


def test_admin_json_batches_hold_the_import_limits(site: tuple[str, ProviderStore]) -> None:
    base, _ = site
    items = [
        _practitioner(id="P-1", name="王" * (PERSON_NAME_CHARS + 1)),
        _practitioner(id="P-2", home_address="\x00"),
        _practitioner(
            id="P-3",
            blacklisting={"on": "2026-01-01", "reason": "x", "cause": ["e"] * (CAUSE_IDS + 1)},
        ),
        _practitioner(
            id="P-4", blacklisting={"on": "2026-01-01", "reason": "x", "cause": ["e" * 101]}
        ),
        _practitioner(id="P" * (ID_CHARS + 1)),
    ]
    status, kind, body = post_json(base, "/v1/admin/practitioners", {"practitioners": items})
    assert status == 200 and kind.startswith("application/json"), body
    reasons = {r["index"]: " ".join(r["reasons"]) for r in body["rejected"]}
    assert sorted(reasons) == [0, 1, 2, 3, 4]
    assert reasons[0].startswith("name:") and str(PERSON_NAME_CHARS) in reasons[0]
    assert reasons[1].startswith("home_address:") and "NUL" in reasons[1]
    assert reasons[2].startswith("blacklisting.cause:")
    assert reasons[3].startswith("blacklisting.cause.0:")
    assert reasons[4].startswith("id:")
    assert "王王" not in json.dumps(body, ensure_ascii=False), "no personal value echoed"

    review = {
        "type": "review",
        "id": "E" * (ID_CHARS + 1),
        "subject": {"id": "co-914403001922038216"},
        "at": "2026-03-01T10:00+08:00",
        "stars": 5,
    }
    status, _, body = post_json(base, "/v1/admin/evaluations", {"evaluations": [review]})
    assert status == 200 and body["rejected"][0]["reasons"][0].startswith("id:"), body
