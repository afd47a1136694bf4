"""Real-browser test rig: the app served by uvicorn on a local port, host pages of other
"city apps" on other ports (other origins), and Debian's Chromium driven by Playwright.

Chromium is the one ``scripts/bootstrap`` installs, launched by its path with the flags a
container needs; Playwright's own browser downloads are never used (no internet here).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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
