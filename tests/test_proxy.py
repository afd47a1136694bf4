"""``jzmap serve`` behind a reverse proxy: with ``--proxy-headers`` the rate limit counts
each resident's address (from X-Forwarded-For, only when the proxy is trusted); without
it every resident shares the proxy's budget. A real ``jzmap serve`` over HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from tests.browser import free_port, serve_process

JZMAP = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "jzmap")


@contextmanager
def _serve(tmp_path: Path, *args: str, **env: str) -> Iterator[str]:
    port = free_port()
    environ = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JZMAP_DATABASE_URL")
    }
    environ.update(
        JZMAP_DATA_DIR=str(tmp_path / "data"),
        JZMAP_RATE_LIMIT_PER_MINUTE="1",
        JZMAP_RATE_LIMIT_BURST="2",
        **env,
    )
    with serve_process([JZMAP, "serve", "--port", str(port), *args], environ, port=port) as s:
        yield s.url


def _status(url: str, resident: str) -> int:
    request = Request(f"{url}/v1/categories", headers={"X-Forwarded-For": resident})
    try:
        with urlopen(request, timeout=30) as r:
            return int(r.status)
    except HTTPError as e:
        return e.code


def test_behind_a_trusted_proxy_each_resident_has_a_budget(tmp_path: Path) -> None:
    with _serve(tmp_path, "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1") as url:
        one = [_status(url, "203.0.113.10") for _ in range(3)]
        other = _status(url, "203.0.113.11")
    assert one == [200, 200, 429]
    assert other == 200


def test_the_settings_do_the_same_as_the_options(tmp_path: Path) -> None:
    with _serve(
        tmp_path, JZMAP_PROXY_HEADERS="true", JZMAP_FORWARDED_ALLOW_IPS="127.0.0.0/8"
    ) as url:
        assert [_status(url, "203.0.113.20") for _ in range(3)] == [200, 200, 429]
        assert _status(url, "203.0.113.21") == 200


@pytest.mark.parametrize(
    "args",
    [(), ("--proxy-headers", "--forwarded-allow-ips", "192.0.2.1")],
    ids=["off", "untrusted"],
)
def test_without_a_trusted_proxy_forwarded_addresses_are_ignored(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    # Anyone can send X-Forwarded-For: unless it comes from the proxy, it is not believed.
    with _serve(tmp_path, *args) as url:
        statuses = [_status(url, f"203.0.113.{n}") for n in (30, 31, 32)]
    assert statuses == [200, 200, 429]
