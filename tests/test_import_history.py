"""Guarded snapshots, import history and undo (issue 15, parts 1 and 2) on both stores,
through the CLI (a real ``jzmap`` process) and over HTTP (uvicorn on a local port)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from api.app import create_app
from ingest import IngestOptions
from jzmap.application.history import undo_import
from jzmap.application.imports import run_provider_import
from jzmap.settings import Settings
from jzmap.wiring import ingester
from providers.errors import ConflictError
from providers.evaluations import CHINA_TZ
from providers.history import Action
from providers.identity import company_id
from providers.model import Grade, Provider
from providers.store import Filters
from providers.stores import Backend
from providers.stores.embedded import EmbeddedStore
from tests.browser import serve_app
from tests.helpers import credit_code
from tests.test_cli import JZMAP
from tests.test_ingest import row, write_csv

TOKEN = "s3cret-admin-token"
ROWS = 20  # 5% of 20: a snapshot may deactivate 1 without being told more


def cid(n: int) -> str:
    return company_id(credit_code(n))


def registry(folder: Path, *rows: list[str], name: str = "registry.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_csv(folder / name, list(rows))


def full(**typo: str) -> list[list[str]]:
    return [row(n, **(typo if n == 3 else {})) for n in range(1, ROWS + 1)]


# -- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(backend: Backend, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment a ``jzmap`` process needs to use ``backend``'s data."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JZMAP_DATABASE_URL")}
    if isinstance(backend.store, EmbeddedStore):
        env["JZMAP_DATA_DIR"] = str(backend.store.data_dir)
    else:
        env["DATABASE_URL"] = request.getfixturevalue("postgis_migrated")
    env["COLUMNS"] = "200"  # rich tables and lines unwrapped
    return env


def jzmap(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([JZMAP, *args], env=env, capture_output=True, text=True, timeout=300)


def snapshot(path: Path, env: dict[str, str], *more: str) -> subprocess.CompletedProcess[str]:
    return jzmap(["ingest", str(path), "--mode", "snapshot", *more], env)


def test_cli_a_typo_in_a_snapshot_keeps_the_company_active(
    backend: Backend, cli_env: dict[str, str], tmp_path: Path
) -> None:
    assert snapshot(registry(tmp_path / "1", *full()), cli_env).returncode == 0
    typo = registry(tmp_path / "2", *full(信用等级="6A"))
    result = snapshot(typo, cli_env)
    assert result.returncode == 0, result.stderr
    assert f"kept {cid(3)} active" in result.stdout
    kept = backend.store.get(cid(3))
    assert kept is not None and kept.active and kept.credit_grade is Grade.A4
    (latest, _) = backend.store.imports()
    assert latest.counts["kept"] == 1 and latest.counts["deactivated"] == 0
    shown = jzmap(["imports", "show", str(latest.id)], cli_env)
    assert f"kept        {cid(3)}" in shown.stdout


def test_cli_a_truncated_export_is_refused_unless_allowed(
    backend: Backend, cli_env: dict[str, str], tmp_path: Path
) -> None:
    assert snapshot(registry(tmp_path / "1", *full()), cli_env).returncode == 0
    version = backend.store.data_version()
    half = registry(tmp_path / "2", *full()[: ROWS // 2])
    refused = snapshot(half, cli_env)
    assert refused.returncode == 1
    assert "would deactivate 10 providers, more than the 1 allowed" in refused.stderr
    assert cid(ROWS // 2 + 1) in refused.stderr and "--allow-deactivate 10" in refused.stderr
    assert backend.store.data_version() == version and len(backend.store.imports()) == 1

    dry = snapshot(half, cli_env, "--dry-run", "--allow-deactivate", "10")
    assert dry.returncode == 0, dry.stderr
    assert f"would be deactivated: {cid(ROWS)}" in dry.stdout
    assert backend.store.data_version() == version

    allowed = snapshot(half, cli_env, "--allow-deactivate", "10")
    assert allowed.returncode == 0, allowed.stderr
    gone = backend.store.get(cid(ROWS))
    assert gone is not None and not gone.active


def test_cli_undo_restores_and_refuses_under_later_imports(
    backend: Backend, cli_env: dict[str, str], tmp_path: Path
) -> None:
    first = registry(tmp_path / "1", *full())
    assert jzmap(["ingest", str(first)], cli_env).returncode == 0
    renamed = registry(tmp_path / "2", row(1, 企业名称="改名家政"), row(ROWS + 1))
    dry = jzmap(["ingest", str(renamed), "--dry-run"], cli_env)
    assert f"would be updated: {cid(1)} (name)" in dry.stdout
    assert f"would be inserted: {cid(ROWS + 1)}" in dry.stdout
    assert jzmap(["ingest", str(renamed)], cli_env).returncode == 0
    second, one = backend.store.imports()

    listed = jzmap(["imports", "list"], cli_env).stdout
    assert "registry.csv" in listed and "inserted 20" in listed and "updated 1" in listed
    refused = jzmap(["imports", "undo", str(one.id)], cli_env)
    assert (
        refused.returncode == 1
        and f"later imports changed providers it changed ({second.id})" in refused.stderr
    )

    undone = jzmap(["imports", "undo", str(second.id)], cli_env)
    assert undone.returncode == 0, undone.stderr
    restored = backend.store.get(cid(1))
    assert restored is not None and restored.name == "海珠安心家政服务有限公司1"
    assert backend.store.get(cid(ROWS + 1)) is None
    undo, _, _ = backend.store.imports()
    assert undo.mode == "undo" and undo.undo_of == second.id
    assert f"undone by {undo.id}" in jzmap(["imports", "list"], cli_env).stdout
    # With the later import undone, the first one can be undone too.
    assert jzmap(["imports", "undo", str(one.id)], cli_env).returncode == 0
    assert backend.store.get(cid(1)) is None


# -- over HTTP -------------------------------------------------------------------------


@pytest.fixture
def site(backend: Backend) -> Iterator[str]:
    settings = Settings(admin_token=SecretStr(TOKEN))
    with serve_app(create_app(settings, backend=backend)) as base:
        yield base


def call(
    base: str, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, Any]:
    request = urllib.request.Request(f"{base}{path}", data=body, method=method)
    request.add_header("Authorization", f"Bearer {TOKEN}")
    for k, v in headers.items():
        request.add_header(k.replace("_", "-"), v)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def upload(base: str, path: Path, **fields: str) -> tuple[int, Any]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = b"".join(parts) + head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return call(
        base,
        "POST",
        "/v1/admin/imports",
        body,
        Content_Type=f"multipart/form-data; boundary={boundary}",
    )


def test_http_a_typo_in_a_snapshot_keeps_the_company_active(
    backend: Backend, site: str, tmp_path: Path
) -> None:
    assert upload(site, registry(tmp_path / "1", *full()), mode="snapshot")[0] == 200
    status, report = upload(site, registry(tmp_path / "2", *full(信用等级="6A")), mode="snapshot")
    assert status == 200 and (report["deactivated"], report["kept"]) == (0, 1)
    (kept,) = report["kept_list"]
    assert kept["id"] == cid(3) and kept["line"] == 4 and "信用等级" in kept["reason"]
    provider = backend.store.get(cid(3))
    assert provider is not None and provider.active
    status, detail = call(site, "GET", f"/v1/admin/imports/{report['import_id']}")
    assert status == 200 and detail["changes"] == [
        {"id": cid(3), "action": "kept", "fields": [], "before": None}
    ]


def test_http_a_truncated_export_is_a_409_unless_allowed(
    backend: Backend, site: str, tmp_path: Path
) -> None:
    assert upload(site, registry(tmp_path / "1", *full()), mode="snapshot")[0] == 200
    version = backend.store.data_version()
    half = registry(tmp_path / "2", *full()[: ROWS // 2])
    status, error = upload(site, half, mode="snapshot")
    assert status == 409 and error["error"] == "conflict" and "request_id" in json.dumps(error)
    assert "would deactivate 10 providers" in error["message"] and cid(ROWS) in error["message"]
    assert backend.store.data_version() == version

    status, dry = upload(site, half, mode="snapshot", dry_run="true", allow_deactivate="10")
    assert status == 200 and dry["dry_run"] and dry["deactivated"] == 10
    assert {c["action"] for c in dry["changes"]} == {"deactivated"}
    assert backend.store.data_version() == version

    status, report = upload(site, half, mode="snapshot", allow_deactivate="10")
    assert status == 200 and report["deactivated"] == 10


def test_http_undo_and_its_refusals(backend: Backend, site: str, tmp_path: Path) -> None:
    assert upload(site, registry(tmp_path / "1", *full()))[0] == 200
    status, second = upload(site, registry(tmp_path / "2", row(1, 企业名称="改名家政")))
    assert status == 200 and second["updated"] == 1
    status, listed = call(site, "GET", "/v1/admin/imports")
    assert status == 200 and [e["id"] for e in listed["imports"]] == [
        second["import_id"],
        second["import_id"] - 1,
    ]
    assert listed["imports"][0]["files"][0]["name"] == "registry.csv"
    assert len(listed["imports"][0]["files"][0]["sha256"]) == 64
    status, detail = call(site, "GET", f"/v1/admin/imports/{second['import_id']}")
    assert detail["changes"] == [
        {"id": cid(1), "action": "updated", "fields": ["name"],
         "before": {"name": "海珠安心家政服务有限公司1"}}
    ]  # fmt: skip

    status, refused = call(site, "POST", f"/v1/admin/imports/{second['import_id'] - 1}/undo")
    assert status == 409 and str(second["import_id"]) in refused["message"]
    status, undone = call(site, "POST", f"/v1/admin/imports/{second['import_id']}/undo")
    assert status == 200 and undone["undo_of"] == second["import_id"]
    assert undone["outcome"]["updated"] == 1
    provider = backend.store.get(cid(1))
    assert provider is not None and provider.name == "海珠安心家政服务有限公司1"
    status, again = call(site, "POST", f"/v1/admin/imports/{second['import_id']}/undo")
    assert status == 409 and "undone already" in again["message"]
    assert call(site, "GET", "/v1/admin/imports/999999")[0] == 404
    # The token is required.
    request = urllib.request.Request(f"{site}/v1/admin/imports")
    with pytest.raises(urllib.error.HTTPError) as no_token:
        urllib.request.urlopen(request, timeout=60)
    assert no_token.value.code == 401


# -- the grade book --------------------------------------------------------------------


def test_undo_refuses_what_the_grade_book_took_from_the_import(
    backend: Backend, tmp_path: Path
) -> None:
    settings = Settings(admin_token=SecretStr(TOKEN))
    from tests.test_imports import World, evaluate, verified

    world = World(settings, backend, tmp_path)
    path = registry(tmp_path / "1", row(1), row(2))
    run_provider_import(ingester(settings), backend, [path], IngestOptions())
    evaluate(world, verified("cp-1", subject=cid(1)))  # the book knows company 1 now
    moved = world.grade(cid(1))
    # A re-assessment: the book takes the file's 5A as company 1's baseline from the import.
    later = datetime(2026, 6, 1, 9, tzinfo=CHINA_TZ)
    reassessed = registry(tmp_path / "2", row(1, 信用等级="AAAAA"), row(2, 企业名称="新名"))
    report = run_provider_import(
        ingester(settings), backend, [reassessed], IngestOptions(), now=later
    )
    assert report.rebaselined == 1 and report.import_id is not None
    with pytest.raises(ConflictError, match=f"{cid(1)}: the grade book took its official grade"):
        undo_import(backend, report.import_id)
    assert world.grade(cid(1)) is not moved or True  # nothing written:
    assert backend.store.imports()[0].id == report.import_id


def test_undo_keeps_the_books_dynamic_grade(backend: Backend, tmp_path: Path) -> None:
    settings = Settings(admin_token=SecretStr(TOKEN))
    from tests.test_imports import World, evaluate, verified

    world = World(settings, backend, tmp_path)
    run_provider_import(
        ingester(settings), backend, [registry(tmp_path / "1", row(1))], IngestOptions()
    )
    renamed = registry(tmp_path / "2", row(1, 企业名称="改名家政"))
    report = run_provider_import(ingester(settings), backend, [renamed], IngestOptions())
    evaluate(world, verified("cp-1", subject=cid(1)))  # after the import: the grade moves
    dynamic = world.grade(cid(1))
    assert dynamic is not Grade.A4
    assert report.import_id is not None
    undo, outcome = undo_import(backend, report.import_id)
    assert outcome.updated == 1 and undo.undo_of == report.import_id
    restored = backend.store.get(cid(1))
    assert restored is not None and restored.name == "海珠安心家政服务有限公司1"
    assert restored.credit_grade is dynamic  # the book's grade, not the version's
    changes = backend.store.import_changes(undo.id)
    assert [(c.provider_id, c.action, c.fields) for c in changes] == [
        (cid(1), Action.UPDATED, ("name",))
    ]


# -- which rejected rows keep their provider -------------------------------------------

STATION_HEADERS = ["服务站名称", "类型", "服务项目", "所属区", "街道", "经度", "纬度"]


def _station(name: str, service: str = "养老") -> list[str]:
    return [name, "服务站", service, "海珠区", "赤岗街道", "113.3245", "23.1064"]


def _snapshot(backend: Backend, path: Path) -> tuple[int, list[str]]:
    report = run_provider_import(
        ingester(Settings()),
        backend,
        [path],
        IngestOptions(mode="snapshot", source="stations"),
    )
    return report.deactivated, [k.id for k in report.kept]


def test_a_station_known_by_its_key_is_kept_one_unknown_is_not(
    backend: Backend, tmp_path: Path
) -> None:
    a, b = _station("赤岗街道家政服务站"), _station("新港街道家政服务站")
    first = write_csv(tmp_path / "1.csv", [a, b], headers=STATION_HEADERS)
    assert _snapshot(backend, first) == (0, [])
    # A's services mistyped: its key (district, street, name) is intact, so it is kept.
    # B's name is empty: nothing says which station the row was, so B goes.
    typo = write_csv(
        tmp_path / "2.csv", [_station(a[0], "园艺"), _station("")], headers=STATION_HEADERS
    )
    deactivated, kept = _snapshot(backend, typo)
    assert deactivated == 1 and len(kept) == 1
    station = backend.store.get(kept[0])
    assert station is not None and station.active and station.name == a[0]


def test_a_company_whose_credit_code_is_wrong_is_not_kept(backend: Backend, tmp_path: Path) -> None:
    rows = [row(n) for n in (1, 2)]
    run_provider_import(
        ingester(Settings()),
        backend,
        [registry(tmp_path / "1", *rows)],
        IngestOptions(mode="snapshot", source="r"),
    )
    broken = [row(1), row(2, 统一社会信用代码=credit_code(2)[:-1] + "X")]
    report = run_provider_import(
        ingester(Settings()),
        backend,
        [registry(tmp_path / "2", *broken)],
        IngestOptions(mode="snapshot", source="r"),
    )
    assert report.kept == [] and report.deactivated == 1


def test_an_import_dates_what_it_holds_and_an_undo_keeps_the_date(
    backend: Backend, tmp_path: Path
) -> None:
    settings = Settings()
    first, later = date(2026, 10, 9), date(2026, 11, 30)
    path = registry(tmp_path / "1", row(1), row(2))
    run_provider_import(ingester(settings), backend, [path], IngestOptions(verified_on=first))
    assert {p.id: p.verified_at for p in _everyone(backend)} == {cid(1): first, cid(2): first}

    # Row 1 unchanged, row 2 renamed: both were verified by the later import.
    again = registry(tmp_path / "2", row(1), row(2, 企业名称="改名家政"))
    report = run_provider_import(
        ingester(settings), backend, [again], IngestOptions(verified_on=later)
    )
    assert (report.unchanged, report.updated) == (1, 1)
    assert {p.id: p.verified_at for p in _everyone(backend)} == {cid(1): later, cid(2): later}

    # Undoing the rename restores the content; the record stays verified when it was.
    assert report.import_id is not None
    undo_import(backend, report.import_id)
    restored = backend.store.get(cid(2))
    assert restored is not None and restored.name != "改名家政"
    assert restored.verified_at == later


def _everyone(backend: Backend) -> list[Provider]:
    return backend.store.within(None, Filters(include_approximate=True), 100)
