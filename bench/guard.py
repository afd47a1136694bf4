"""What hostile requests cost a served city: refusing unauthenticated and oversized bodies,
and the slowest public GETs an anonymous client can choose.

Run with ``make bench-guard`` (or ``scripts/bench-guard [--providers 531] [--workers 1]``);
not a test. A demo city of ``--providers`` companies (plus one station per street) is built
in a fresh embedded store (or, with ``--backend postgis``, in a database of its own on the
``DATABASE_URL`` server, dropped afterwards), and ``jzmap serve`` runs on it with the
shipped limits (body caps, deadline, computation slots, solver time limit) and the rate
limiter off, since every request here comes from one address. Then:

* **Bodies.** 100 MB (``--body-mb``) sent as an attacker would — the whole body written
  at once, no ``Expect: 100-continue`` — by a raw socket client that reads the answer
  while a second thread writes: JSON with no token to ``/v1/admin/evaluations``, a
  multipart upload with no token to ``/v1/admin/imports``, and JSON with the token (over
  the JSON cap: 413 from ``Content-Length``), and a chunked JSON body with the token (no
  length: 413 when it streams past the cap). For each: the time from the first byte sent
  to the status line, the status, how many body bytes the client managed to write before
  the server closed the connection, and the serving processes' peak resident memory
  during the refusal (``VmHWM``, reset through ``/proc/<pid>/clear_refs`` before each:
  needs root or the same user) next to their resident memory before it.
* **Public GETs.** Every public route with the parameters that cost the most (widest
  allowed map boxes at each zoom, coverage of every category at both resolutions and the
  largest district, site plans with k = 20, strict filters, the pages), each requested
  twice in a row: the first finds the caches cold, the second warm. The table lists
  status, time and size, slowest first.

Figures depend on the machine and on what else runs on it; compare runs on one machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.error import HTTPError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

PROJECT = Path(__file__).resolve().parents[1]
JZMAP = PROJECT / ".venv" / "bin" / "jzmap"
CATEGORIES = ("elderly_care", "housekeeping", "maternal_infant", "nursing")
LARGEST_DISTRICT = "从化区"  # the most H3 cells of the 11 districts
CITY_CENTRE = (113.2644, 23.1291)  # lon, lat
MAX_VIEWPORT_PX = 4_096  # api.routes.viewport.MAX_VIEWPORT_PX
START_GUARD_S = 600.0
HANG_GUARD_S = 300.0


@dataclass
class BodyRun:
    what: str
    status: int
    seconds: float
    bytes_written: int
    rss_before_mb: float
    peak_mb: float


@dataclass
class GetRun:
    path: str
    cache: str
    status: int
    seconds: float
    size_bytes: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pids(root: int) -> list[int]:
    """``root`` and its children (uvicorn's workers when there are several)."""
    try:
        children = Path(f"/proc/{root}/task/{root}/children").read_text().split()
    except OSError:
        children = []
    return [root, *(int(c) for c in children)]


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peaks(pids: list[int]) -> bool:
    """Reset each process's peak RSS (VmHWM) to its current RSS; False if not allowed."""
    try:
        for pid in pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total


def _wait_idle(pids: list[int], seconds: float = 60.0) -> None:
    """Until the server spends under 5 % of a core for half a second (start-up warm-up
    done), or ``seconds`` have passed."""
    tick = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        before = _cpu_ticks(pids)
        time.sleep(0.5)
        if (_cpu_ticks(pids) - before) / tick < 0.025:
            return


@contextmanager
def served(city_env: dict[str, str], workers: int, token: str) -> Iterator[tuple[str, int]]:
    """``jzmap serve`` on a free port in ``city_env``; yields its URL and process id."""
    port = free_port()
    env = {
        **city_env,
        "JZMAP_ADMIN_TOKEN": token,
        "JZMAP_RATE_LIMIT_PER_MINUTE": "0",
        "JZMAP_WORKERS": str(workers),
    }
    with tempfile.TemporaryFile(mode="w+") as log:
        server = subprocess.Popen(
            [str(JZMAP), "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        yield from _until_stopped(server, f"http://127.0.0.1:{port}", log)


def _until_stopped(
    server: subprocess.Popen[bytes], url: str, log: IO[str]
) -> Iterator[tuple[str, int]]:
    try:
        started = time.monotonic()
        while True:
            try:
                with urlopen(f"{url}/healthz", timeout=30):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() - started > START_GUARD_S:
                    log.seek(0)
                    raise RuntimeError(f"jzmap serve did not start:\n{log.read()}") from None
                time.sleep(0.2)
        yield url, server.pid
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _body_request(
    url: str,
    path: str,
    headers: dict[str, str],
    size: int,
    *,
    chunked: bool = False,
) -> tuple[int, float, int]:
    """Send headers and ``size`` body bytes from a writer thread while reading the answer:
    (status, seconds from the first byte sent to the status line, body bytes written)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(HANG_GUARD_S)
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    written = 0
    block = b"0" * (1 << 16)

    def write() -> None:
        nonlocal written
        with suppress(OSError):
            while written < size:
                data = block[: min(len(block), size - written)]
                if chunked:
                    sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                else:
                    sock.sendall(data)
                written += len(data)
            if chunked:
                sock.sendall(b"0\r\n\r\n")

    started = time.perf_counter()
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    answer = b""
    try:
        while b"\r\n" not in answer:
            part = sock.recv(65536)
            if not part:
                break
            answer += part
    except OSError:
        pass
    seconds = time.perf_counter() - started
    writer.join(HANG_GUARD_S)
    sock.close()
    match = re.match(rb"HTTP/1\.1 (\d+)", answer)
    return (int(match.group(1)) if match else 0), seconds, written


def body_runs(url: str, pid: int, token: str, body_mb: int) -> tuple[list[BodyRun], bool]:
    size = body_mb << 20
    json_type = {"Content-Type": "application/json"}
    multipart = {"Content-Type": "multipart/form-data; boundary=bench"}
    auth = {"Authorization": f"Bearer {token}"}
    cases = [
        ("JSON, no token, /v1/admin/evaluations", "/v1/admin/evaluations", json_type, False),
        ("multipart, no token, /v1/admin/imports", "/v1/admin/imports", multipart, False),
        ("JSON, token, over the cap (Content-Length)", "/v1/admin/evaluations",
         {**json_type, **auth}, False),
        ("JSON, token, chunked (no length)", "/v1/admin/evaluations", {**json_type, **auth}, True),
    ]  # fmt: skip
    runs = []
    peaks_reset = True
    for what, path, headers, chunked in cases:
        pids = _pids(pid)
        rss = sum(_status_kb(p, "VmRSS") for p in pids)
        peaks_reset &= _reset_peaks(pids)
        status, seconds, written = _body_request(url, path, headers, size, chunked=chunked)
        peak = sum(_status_kb(p, "VmHWM") for p in pids)
        runs.append(BodyRun(what, status, seconds, written, rss / 1024, peak / 1024))
    return runs, peaks_reset


def _box(zoom: int) -> str:
    """The widest box the API allows at ``zoom`` (4,096 px a side), on the city centre."""
    lon, lat = CITY_CENTRE
    z = min(zoom, 13)
    half_lon = MAX_VIEWPORT_PX / (256 * 2**z) * 360 / 2 * 0.999
    half_lat = half_lon * math.cos(math.radians(lat)) * 0.999
    return f"{lon - half_lon:.6f},{lat - half_lat:.6f},{lon + half_lon:.6f},{lat + half_lat:.6f}"


def _json_when_ready(url: str, attempts: int = 20) -> Any:
    """The JSON of a GET, waiting out 503s as a client should (``Retry-After``): a big
    city's read indexes may still be building when the first request arrives."""
    for _ in range(attempts - 1):
        try:
            with urlopen(url) as r:
                return json.load(r)
        except HTTPError as exc:
            if exc.code != 503:
                raise
            time.sleep(float(exc.headers.get("Retry-After", "1")))
    with urlopen(url) as r:
        return json.load(r)


def public_paths(url: str) -> list[str]:
    """The public GETs to time: every route, with its most expensive parameters."""
    near = {"lat": CITY_CENTRE[1], "lon": CITY_CENTRE[0]}
    paths = ["/healthz", "/livez", "/v1/categories", "/map", "/widget", "/embed", "/docs"]
    paths.append("/openapi.json")
    for query in (
        {**near, "limit": 100},
        {**near, "limit": 100, "kind": "station", "radius_m": 200_000},
        {**near, "limit": 100, "category": "nursing", "min_grade": "5A", "certified_only": "true"},
        {"lat": 23.93, "lon": 113.9, "limit": 100, "category": "maternal_infant",
         "min_grade": "5A", "include_approximate": "true"},
        {**near, "limit": 100, "sort": "distance", "f": "geojson"},
    ):  # fmt: skip
        paths.append(f"/v1/providers/nearest?{urlencode(query)}")
    company = _json_when_ready(
        f"{url}/v1/providers/nearest?{urlencode({**near, 'kind': 'company'})}"
    )["results"][0]["id"]
    paths += [f"/v1/providers/{company}", f"/v1/providers/{company}/grade-history"]
    paths.append("/v1/certificates/GZ0000000000")
    for zoom in (9, 11, 12, 13, 18):
        paths.append(f"/v1/map/layer?{urlencode({'bbox': _box(zoom), 'zoom': zoom})}")
        strict = {"bbox": _box(zoom), "zoom": zoom, "category": "nursing", "min_grade": "3A"}
        paths.append(f"/v1/map/layer?{urlencode(strict)}")
    district = quote(LARGEST_DISTRICT)
    for category in CATEGORIES:
        paths.append(f"/v1/coverage/cells?category={category}&res=8")
        paths.append(f"/v1/coverage/cells?category={category}&res=9&district={district}")
        paths.append(f"/v1/coverage/candidates?category={category}&res=8&k=20")
        paths.append(f"/v1/coverage/candidates?category={category}&res=9&k=20&district={district}")
    paths.append("/v1/coverage/candidates?category=nursing&res=9&k=20&min_grade=3A")  # 422
    paths.append(
        f"/v1/coverage/candidates?category=nursing&res=9&k=20&min_grade=3A&district={district}"
    )
    paths.append("/v1/coverage/districts?res=9&f=csv")
    paths.append("/v1/coverage/districts?res=8&min_grade=5A&certified_only=true")
    return paths


def _get(url: str) -> tuple[int, float, int]:
    started = time.perf_counter()
    try:
        with urlopen(Request(url), timeout=HANG_GUARD_S) as r:
            status, size = r.status, len(r.read())
    except HTTPError as e:
        status, size = e.code, len(e.read())
    return status, time.perf_counter() - started, size


def get_runs(url: str) -> list[GetRun]:
    runs = []
    for path in public_paths(url):
        for cache in ("cold", "warm"):
            status, seconds, size = _get(url + path)
            runs.append(GetRun(path, cache, status, seconds, size))
    return runs


@contextmanager
def city(backend: str, providers: int, keep: bool) -> Iterator[dict[str, str]]:
    """A demo city of ``providers`` companies; yields the environment that selects it
    (this process's, with the city's store in place of any DATABASE_URL)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JZMAP_DATABASE_URL")}
    folder = Path(tempfile.mkdtemp(prefix="jzmap-bench-guard-"))
    data_env = {"JZMAP_DATA_DIR": str(folder)}
    drop = None
    if backend == "postgis":
        import sqlalchemy as sa

        from providers.stores.engine import sqlalchemy_url

        server = os.environ.get("DATABASE_URL")
        if not server:
            raise SystemExit("--backend postgis needs DATABASE_URL (a server to create a db on)")
        name = f"jzmap_bench_guard_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(sqlalchemy_url(server), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.make_url(sqlalchemy_url(server)).set(database=name)
        data_env["DATABASE_URL"] = url.render_as_string(hide_password=False)

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    try:
        started = time.perf_counter()
        subprocess.run(
            [str(JZMAP), "demo", "--providers", str(providers)],
            env={**env, **data_env},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"demo city built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        yield {**env, **data_env}
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
            if drop is not None:
                drop()


def report(args: argparse.Namespace, bodies: list[BodyRun], peaks: bool, gets: list[GetRun]) -> str:
    lines = [
        f"bench.guard: {args.providers:,} demo companies (+ one station per street), "
        f"{args.backend} store, {args.workers} worker(s), shipped limits, rate limiter off; "
        f"{time.strftime('%Y-%m-%d %H:%M')}",
        "",
        f"Refusing a {args.body_mb} MB body (peak = serving processes' VmHWM during it"
        + ("" if peaks else "; NOT reset: clear_refs not writable, so a lifetime peak")
        + ")",
        f"{'request':<46} {'status':>6} {'ms':>9} {'written':>12} {'RSS MB':>8} {'peak MB':>8}",
    ]
    for b in bodies:
        lines.append(
            f"{b.what:<46} {b.status:>6} {b.seconds * 1000:>9.1f} {b.bytes_written:>12,} "
            f"{b.rss_before_mb:>8.1f} {b.peak_mb:>8.1f}"
        )
    lines += ["", "Public GETs, slowest first (cold: first request; warm: the same again)"]
    lines.append(f"{'s':>7} {'status':>6} {'bytes':>11} {'cache':<5} path")
    for g in sorted(gets, key=lambda g: -g.seconds):
        lines.append(f"{g.seconds:>7.3f} {g.status:>6} {g.size_bytes:>11,} {g.cache:<5} {g.path}")
    slowest = max(gets, key=lambda g: g.seconds)
    lines += [
        "",
        f"slowest public GET: {slowest.seconds:.3f} s ({slowest.status}, {slowest.cache}) "
        f"{slowest.path}",
        f"answered 503 (deadline or no computation slot in time): "
        f"{sum(g.status == 503 for g in gets)} of {len(gets)}",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--providers", type=int, default=531, help="demo companies")
    parser.add_argument("--backend", choices=("embedded", "postgis"), default="embedded")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--body-mb", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the city afterwards")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    token = secrets.token_urlsafe(24)
    with (
        city(args.backend, args.providers, args.keep) as city_env,
        served(city_env, args.workers, token) as (url, pid),
    ):
        _wait_idle(_pids(pid))
        bodies, peaks = body_runs(url, pid, token, args.body_mb)
        gets = get_runs(url)
    text = report(args, bodies, peaks, gets)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, "utf-8")


if __name__ == "__main__":
    main()
