"""Problem reports: the store contract on both backends, the public and admin routes, the
provider page's form with scripts off, and ``jzmap reports``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from jzmap.settings import Settings
from providers.problem_reports import (
    MAX_REPORT_TEXT,
    ProblemReportStore,
    ReportKind,
    ReportQuery,
    ReportStatus,
    clean_report_text,
)
from providers.store import ProviderStore
from providers.stores import Backend
from providers.stores.problem_reports_embedded import EmbeddedProblemReports
from tests.helpers import company

TOKEN = "s3cret-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def reports(backend: Backend) -> ProblemReportStore:
    return backend.reports


# -- the contract, on both backends ----------------------------------------------------------


def test_added_reports_list_newest_first_with_their_fields(reports: ProblemReportStore) -> None:
    first = reports.add("co-1", ReportKind.WRONG_PHONE, "空号", T0)
    second = reports.add("co-2", ReportKind.MOVED, "", T0 + timedelta(hours=1))
    assert second.id > first.id
    page = reports.list(ReportQuery())
    assert page.total == 2 and [r.id for r in page.reports] == [second.id, first.id]
    got = reports.get(first.id)
    assert got == first
    assert (got.provider_id, got.kind, got.text, got.status) == (
        "co-1",
        ReportKind.WRONG_PHONE,
        "空号",
        ReportStatus.OPEN,
    )
    assert got.created_at == T0 and got.resolved_at is None and got.note == ""


def test_filters_and_pages_select_and_count(reports: ProblemReportStore) -> None:
    for n in range(7):
        kind = ReportKind.CLOSED if n % 2 else ReportKind.OTHER
        reports.add(f"co-{n % 3}", kind, f"第{n}条", T0 + timedelta(minutes=n))
    by_provider = reports.list(ReportQuery(provider_id="co-0"))
    assert by_provider.total == 3 and {r.text for r in by_provider.reports} == {
        "第0条",
        "第3条",
        "第6条",
    }
    closed = reports.list(ReportQuery(kind=ReportKind.CLOSED, limit=2, offset=1))
    assert closed.total == 3 and [r.text for r in closed.reports] == ["第3条", "第1条"]
    both = reports.list(ReportQuery(provider_id="co-1", kind=ReportKind.CLOSED))
    assert [r.text for r in both.reports] == ["第1条"]
    assert reports.list(ReportQuery(status=ReportStatus.RESOLVED)).total == 0


def test_resolve_marks_and_is_found_by_status(reports: ProblemReportStore) -> None:
    kept = reports.add("co-1", ReportKind.CLOSED, "", T0)
    other = reports.add("co-1", ReportKind.OTHER, "", T0)
    resolved = reports.resolve(kept.id, T0 + timedelta(days=1), "已核实，更新为停业")
    assert resolved is not None
    assert resolved.status is ReportStatus.RESOLVED
    assert resolved.resolved_at == T0 + timedelta(days=1)
    assert resolved.note == "已核实，更新为停业"
    assert [r.id for r in reports.list(ReportQuery(status=ReportStatus.OPEN)).reports] == [other.id]
    assert reports.resolve(10**9, T0, "") is None
    assert reports.delete_all() == 2


def test_the_embedded_reports_outlive_their_process(tmp_path: Path) -> None:
    first = EmbeddedProblemReports(tmp_path)
    added = first.add("co-1", ReportKind.MOVED, "搬到隔壁", T0)
    first.close()
    again = EmbeddedProblemReports(tmp_path)
    try:
        assert again.get(added.id) == added
    finally:
        again.close()


def test_text_is_cleaned_and_cut() -> None:
    assert clean_report_text("\u202e电话\r\n\t打不通\x00 ") == "电话 打不通"
    assert len(clean_report_text("a" * 5000)) == MAX_REPORT_TEXT


# -- HTTP ------------------------------------------------------------------------------------


def _client(backend: Backend, **settings: object) -> TestClient:
    return TestClient(
        create_app(Settings(admin_token=SecretStr(TOKEN), **settings), backend=backend)
    )


@pytest.fixture
def listed(store: ProviderStore) -> str:
    provider = company(1, 113.3245, 23.1064)
    store.upsert([provider])
    return provider.id


def test_a_report_is_stored_without_anything_about_its_sender(
    backend: Backend, listed: str
) -> None:
    with _client(backend) as client:
        r = client.post(
            f"/v1/providers/{listed}/reports",
            json={"kind": "wrong_phone", "text": "  拨打是空号\n" + "号" * 1000},
            headers={"User-Agent": "resident-phone/1.0"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["provider_id"] == listed and r.json()["status"] == "open"
        assert "text" not in r.json() and "id" not in r.json()
        listed_reports = client.get("/v1/admin/reports", headers=AUTH).json()
    (report,) = listed_reports["reports"]
    assert report["text"].startswith("拨打是空号 号") and len(report["text"]) == MAX_REPORT_TEXT
    stored = json.dumps(listed_reports, ensure_ascii=False)
    assert "testclient" not in stored and "resident-phone" not in stored


def test_unknown_provider_is_404_and_bad_kind_422(backend: Backend, listed: str) -> None:
    with _client(backend) as client:
        missing = client.post("/v1/providers/nobody/reports", json={"kind": "closed"})
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        bad = client.post(f"/v1/providers/{listed}/reports", json={"kind": "rude"})
        assert bad.status_code == 422
        extra = client.post(f"/v1/providers/{listed}/reports", json={"kind": "closed", "ip": 1})
        assert extra.status_code == 422
        # Bytes that are not even text (schemathesis found FastAPI's bare 400 here).
        for raw in (b"\x08\xff\x1a", b"{not json"):
            garbled = client.post(
                f"/v1/providers/{listed}/reports",
                content=raw,
                headers={"Content-Type": "application/json"},
            )
            assert garbled.status_code == 422, garbled.text
            assert garbled.json()["request_id"] and "body" in garbled.json()["message"]
    assert backend.reports.list(ReportQuery()).total == 0


def test_a_large_body_is_413_before_it_is_read(backend: Backend, listed: str) -> None:
    body = json.dumps({"kind": "other", "text": "x" * 5000}).encode()
    with _client(backend) as client:
        r = client.post(
            f"/v1/providers/{listed}/reports",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 413 and "4,096 bytes" in r.json()["message"]
        form = client.post(
            f"/p/{listed}/report",
            content=b"kind=other&text=" + b"x" * 5000,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code == 413
    assert backend.reports.list(ReportQuery()).total == 0


def test_reports_are_rate_limited_per_address(backend: Backend, listed: str) -> None:
    with _client(backend, reports_per_hour=2) as client:
        codes = [
            client.post(f"/v1/providers/{listed}/reports", json={"kind": "closed"}).status_code
            for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        r = client.post(f"/v1/providers/{listed}/reports", json={"kind": "closed"})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 60
        assert r.json()["error"] == "rate_limited"
        assert "JZMAP_REPORTS_PER_HOUR" in r.json()["message"]
        form = client.post(f"/p/{listed}/report", data={"kind": "closed"})
        assert form.status_code == 429 and "提交太频繁" in form.text
    assert backend.reports.list(ReportQuery()).total == 2


def test_a_browser_on_another_site_cannot_file_a_report(backend: Backend, listed: str) -> None:
    with _client(backend) as client:
        cross = client.post(
            f"/p/{listed}/report",
            data={"kind": "closed"},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
            follow_redirects=False,
        )
        assert cross.status_code == 403
        api = client.post(
            f"/v1/providers/{listed}/reports",
            json={"kind": "closed"},
            headers={"Origin": "https://evil.example"},
        )
        assert api.status_code == 403
        plain = client.post(
            f"/v1/providers/{listed}/reports",
            content=b'{"kind": "closed"}',
            headers={"Content-Type": "text/plain"},
        )
        assert plain.status_code == 415
        same = client.post(
            f"/p/{listed}/report",
            data={"kind": "closed", "text": "关门了"},
            headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
            follow_redirects=False,
        )
        assert same.status_code == 303
        assert same.headers["location"] == f"/p/{listed}?lang=zh&reported=true"
        page = client.get(same.headers["location"])
        assert "谢谢！已收到" in page.text
    (only,) = backend.reports.list(ReportQuery()).reports
    assert only.text == "关门了"


def test_admin_routes_need_the_token_and_filter_page_and_resolve(
    backend: Backend, listed: str
) -> None:
    for n in range(3):
        backend.reports.add(listed, ReportKind.MOVED, f"r{n}", T0 + timedelta(minutes=n))
    backend.reports.add("co-other", ReportKind.CLOSED, "", T0)
    with _client(backend) as client:
        assert client.get("/v1/admin/reports").status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert client.post("/v1/admin/reports/1/resolve", headers=wrong).status_code == 401
        page = client.get(
            "/v1/admin/reports",
            params={"provider_id": listed, "kind": "moved", "limit": 2, "offset": 1},
            headers=AUTH,
        ).json()
        assert page["total"] == 3 and [r["text"] for r in page["reports"]] == ["r1", "r0"]
        target = page["reports"][0]["id"]
        done = client.post(
            f"/v1/admin/reports/{target}/resolve", json={"note": "已核实"}, headers=AUTH
        )
        assert done.status_code == 200 and done.json()["status"] == "resolved"
        assert done.json()["note"] == "已核实"
        open_ = client.get("/v1/admin/reports", params={"status": "open"}, headers=AUTH).json()
        assert open_["total"] == 3 and target not in [r["id"] for r in open_["reports"]]
        missing = client.post("/v1/admin/reports/999999/resolve", json={}, headers=AUTH)
        assert missing.status_code == 404


def test_the_page_form_works_with_scripts_off(backend: Backend, listed: str) -> None:
    with _client(backend) as client:
        page = client.get(f"/p/{listed}?lang=en")
        assert 'method="post"' in page.text and f'action="/p/{listed}/report?lang=en"' in page.text
        assert "form-action 'self'" in page.headers["Content-Security-Policy"]
        sent = client.post(
            f"/p/{listed}/report?lang=en", data={"kind": "wrong_phone"}, follow_redirects=True
        )
        assert sent.status_code == 200 and "Thank you: received" in sent.text
        empty = client.post(f"/p/{listed}/report", data={"text": "没选"})
        assert empty.status_code == 422 and "提交失败" in empty.text
        unknown = client.post("/p/nobody/report", data={"kind": "closed"})
        assert unknown.status_code == 404
    (only,) = backend.reports.list(ReportQuery()).reports
    assert only.kind is ReportKind.WRONG_PHONE and only.text == ""


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_lists_and_resolves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    reports = EmbeddedProblemReports(data)
    first = reports.add("co-1", ReportKind.CLOSED, "关门了", T0)
    reports.add("co-2", ReportKind.MOVED, "", T0)
    reports.close()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JZMAP_DATABASE_URL")}
    env["JZMAP_DATA_DIR"] = str(data)
    jzmap = str(Path(sys.executable).with_name("jzmap"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [jzmap, "reports", *args], env=env, capture_output=True, text=True, timeout=300
        )

    listed = run("list", "--provider", "co-1")
    assert listed.returncode == 0, listed.stderr
    assert f"#{first.id}" in listed.stdout and "关门了" in listed.stdout
    assert "1 of 1 report(s)" in listed.stdout
    done = run("resolve", str(first.id), "--note", "已核实")
    assert done.returncode == 0 and "resolved" in done.stdout
    assert "0 of 0" in run("list", "--provider", "co-1").stdout
    assert "1 of 1" in run("list", "--provider", "co-1", "--status", "resolved").stdout
    missing = run("resolve", "99999")
    assert missing.returncode != 0 and "no report with id 99999" in missing.stderr
