"""Real-browser test rig: the app served by uvicorn on a local port, host pages of other
"city apps" on other ports (other origins), and Debian's Chromium driven by Playwright.

Chromium is the one ``scripts/bootstrap`` installs, launched by its path with the flags a
container needs; Playwright's own browser downloads are never used (no internet here).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
import uvicorn
from fastapi import FastAPI

CHROMIUM = os.environ.get("JZMAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser"


def chromium_path() -> str:
    found = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found is None:
        raise RuntimeError(
            f"no Chromium at {CHROMIUM}: run scripts/bootstrap as root (it installs Debian's "
            "chromium package), or set JZMAP_CHROMIUM to a Chromium binary"
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# A server process not answering by then did not start: a guard against a hung start,
# not a bound on the code under test.
START_GUARD_S = 300.0


@dataclass
class ServedProcess:
    """A server subprocess: its base URL, the process, and (once stopped) its output."""

    url: str
    process: subprocess.Popen[str]
    output: str = ""


@contextmanager
def serve_process(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    port: int,
    cwd: Path | None = None,
    ready_path: str = "/livez",
) -> Iterator[ServedProcess]:
    """Run ``command`` (a ``jzmap serve`` listening on ``port``); yield once ``ready_path``
    answers. The test fails with the server's output if the process exits first or never
    answers; afterwards the process is stopped and its output kept in ``.output``."""
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = ServedProcess(f"http://127.0.0.1:{port}", process)
    try:
        started = time.monotonic()
        while True:
            try:
                with urlopen(served.url + ready_path, timeout=5):
                    break
            except OSError:  # refused, reset, or an HTTP error while it starts
                if process.poll() is not None or time.monotonic() - started > START_GUARD_S:
                    process.kill()
                    served.output = process.communicate(timeout=60)[0]
                    pytest.fail(f"the server did not start: {served.output}")
                time.sleep(0.1)
        yield served
    finally:
        if process.returncode is None:
            process.terminate()
            served.output = process.communicate(timeout=60)[0]


@contextmanager
def serve_app(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class HostSite:
    """A stand-in for another city app: serves whatever page the test puts at a path."""

    pages: dict[str, str] = field(default_factory=dict)
    origin: str = ""


@contextmanager
def serve_host() -> Iterator[HostSite]:
    site = HostSite()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = site.pages.get(self.path.split("?")[0])
            if body is None:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    site.origin = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        httpd.shutdown()
        httpd.server_close()


def host_page(widget_url: str, width: int = 375, height: int = 667) -> str:
    """A host page framing the widget and recording the messages it posts."""
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>host</title>
<style>html,body{{margin:0}} iframe{{border:0;display:block}}</style></head>
<body><iframe id="jz" src="{widget_url}" width="{width}" height="{height}"
 allow="geolocation" title="widget"></iframe>
<script>
window.received = [];
window.addEventListener("message", function (e) {{
  window.received.push({{origin: e.origin, data: e.data}});
}});
</script></body></html>"""
