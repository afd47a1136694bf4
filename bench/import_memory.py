"""Peak memory of an import: a 50 MB registry CSV through ``jzmap ingest`` and through
``POST /v1/admin/imports`` (multipart), each in a process of its own.

Run with ``scripts/bench-import-memory [--mb 50]`` (not a test). Imports stream (issue 13):
a file is read, validated and written a batch of :data:`ingest.pipeline.BATCH_ROWS` rows at
a time, so the peak should stay a small multiple of one batch above what the process
holds anyway (Python, numpy, pandas, shapely, the city's boundary), whatever the file's
size. Each figure is the process's peak resident set size (``ru_maxrss`` of the ingest
process; ``VmHWM`` of the server), next to the same for a one-row file: the difference is
what the file cost.

The store is the embedded one, or PostGIS when ``DATABASE_URL`` is set (the script then
creates and drops a database of its own there).

This process stays small on purpose (standard library only; the file is made and the
database created by child processes): Linux carries a parent's resident size at ``fork``
into the child's ``ru_maxrss``, which would otherwise be measured instead of the import.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

TOKEN = "bench-import-memory"
JZMAP = str(Path(sys.executable).with_name("jzmap"))
_DATABASE = "jzmap_bench_import_memory"


def make_file(path: Path, megabytes: float) -> int:
    """A registry CSV of about ``megabytes`` MB (GBK, as bench.ingest writes); its rows."""
    from bench.ingest import make_csv

    sample = path.with_suffix(".sample.csv")
    make_csv(sample, 2_000)
    per_row = sample.stat().st_size / 2_000
    sample.unlink()
    rows = max(1, int(megabytes * 1e6 / per_row))
    make_csv(path, rows)
    return rows


def _child(*args: str) -> str:
    """Run this module in a child process (for the heavy work); its output."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.import_memory", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def _database(server_url: str, action: str) -> str:
    """Create (a fresh, migrated one) or drop the benchmark's database; its URL."""
    import sqlalchemy as sa

    from providers.stores.engine import make_engine, sqlalchemy_url, upgrade_schema

    admin = sa.create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{_DATABASE}" WITH (FORCE)'))
        if action == "create":
            c.execute(sa.text(f'CREATE DATABASE "{_DATABASE}"'))
    admin.dispose()
    url = sa.make_url(sqlalchemy_url(server_url)).set(database=_DATABASE)
    db_url = url.render_as_string(hide_password=False)
    if action == "create":
        engine = make_engine(db_url)
        upgrade_schema(engine)
        engine.dispose()
    return db_url


def _mb(kilobytes: int) -> float:
    return kilobytes / 1024


def cli_peak_kb(path: Path, env: dict[str, str]) -> int:
    """Peak RSS of ``jzmap ingest PATH`` (kB), the import checked to have succeeded."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [JZMAP, "ingest", str(path)], env=env, stdout=subprocess.DEVNULL, stderr=errors
        )
        _, status, usage = os.wait4(process.pid, 0)
        if status != 0:
            errors.seek(0)
            raise RuntimeError(f"jzmap ingest failed: {errors.read().decode(errors='replace')}")
    return int(usage.ru_maxrss)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def server(env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``jzmap serve`` (one process, no workers): its URL and pid."""
    port = _free_port()
    env = {**env, "JZMAP_ADMIN_TOKEN": TOKEN, "JZMAP_PORT": str(port), "JZMAP_WORKERS": "1"}
    process = subprocess.Popen(
        [JZMAP, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{url}/livez", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("jzmap serve did not start")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def http_import(url: str, path: Path) -> dict[str, object]:
    """The file posted as multipart, streamed from disk (the client holds a chunk)."""
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk
        yield tail

    request = urllib.request.Request(
        f"{url}/v1/admin/imports",
        data=body(),
        method="POST",
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + path.stat().st_size + len(tail)),
        },
    )
    with urllib.request.urlopen(request, timeout=3600) as response:
        report: dict[str, object] = json.load(response)
    return report


@contextlib.contextmanager
def store_env(folder: Path) -> Iterator[tuple[dict[str, str], str]]:
    """The environment selecting a fresh store, and its name."""
    env = {k: v for k, v in os.environ.items() if k != "JZMAP_DATABASE_URL"}
    env["JZMAP_DATA_DIR"] = str(folder / "data")
    env["JZMAP_MAX_UPLOAD_MB"] = "1024"
    server_url = env.get("DATABASE_URL")
    if not server_url:
        yield env, "embedded"
        return
    db_url = _child("--database", "create", server_url)
    try:
        yield {**env, "DATABASE_URL": db_url}, "PostGIS"
    finally:
        _child("--database", "drop", server_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=50.0, help="size of the CSV (MB)")
    parser.add_argument("--make", type=Path, help=argparse.SUPPRESS)  # child: write a file
    parser.add_argument("--database", nargs=2, help=argparse.SUPPRESS)  # child: create/drop
    args = parser.parse_args()
    if args.make:
        print(make_file(args.make, args.mb))
        return
    if args.database:
        print(_database(args.database[1], args.database[0]))
        return
    folder = Path(tempfile.mkdtemp(prefix="jzmap-bench-memory-"))
    big, fifth, small = folder / "registry.csv", folder / "fifth.csv", folder / "one.csv"
    rows = int(_child("--make", str(big), "--mb", str(args.mb)))
    _child("--make", str(fifth), "--mb", str(args.mb / 5))
    _child("--make", str(small), "--mb", "0")
    size_mb, fifth_mb = big.stat().st_size / 1e6, fifth.stat().st_size / 1e6
    print(f"{rows:,} rows, {size_mb:.1f} MB GBK CSV", file=sys.stderr)
    results: list[tuple[str, float, float]] = []
    with store_env(folder / "cli") as (env, name):
        base = cli_peak_kb(small, env)
        started = time.perf_counter()
        peak = cli_peak_kb(big, env)
        seconds = time.perf_counter() - started
        results.append((f"jzmap ingest ({name} store, {seconds:.0f} s)", _mb(base), _mb(peak)))
    with store_env(folder / "http") as (env, name), server(env) as (url, pid):
        # A server's first real import also pays one-off costs (modules imported lazily on
        # paths a one-row file never takes, allocator arenas); the fifth-size file first
        # separates those from what grows with the file: the next row's difference.
        http_import(url, small)
        before = _peak_kb(pid)
        http_import(url, fifth)
        after_fifth = _peak_kb(pid)
        results.append(
            (f"POST /v1/admin/imports, first: {fifth_mb:.0f} MB", _mb(before), _mb(after_fifth))
        )
        started = time.perf_counter()
        report = http_import(url, big)
        seconds = time.perf_counter() - started
        if report["rows_read"] != rows:
            raise RuntimeError(f"read {report['rows_read']} rows of {rows}")
        label = f"POST /v1/admin/imports, then the file ({name} store, {seconds:.0f} s)"
        results.append((label, _mb(after_fifth), _mb(_peak_kb(pid))))
    print(f"peak resident memory importing a {size_mb:.1f} MB CSV ({rows:,} rows)")
    print(f"{'path':<60} {'before':>10} {'peak':>10} {'difference':>11}")
    for label, one_mb, file_mb in results:
        print(f"{label:<60} {one_mb:>7.0f} MB {file_mb:>7.0f} MB {file_mb - one_mb:>8.0f} MB")


if __name__ == "__main__":
    main()
