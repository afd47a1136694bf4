"""A local stand-in for AMap's geocoding service: the only mock in the suite, because the
real one is on the internet. It answers over real HTTP, like AMap, per address."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeAmap:
    """Scripted answers: ``script[address]`` is a list of behaviours used in turn (the last
    repeats): ``("ok", "lon,lat", level)``, ``("none",)``, ``("status0", info)``,
    ``("http", code)``, ``("garbage",)``, ``("sleep", seconds)``."""

    script: dict[str, list[tuple[object, ...]]] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    def answer(self, address: str) -> tuple[object, ...]:
        steps = self.script.get(address, [("none",)])
        return steps.pop(0) if len(steps) > 1 else steps[0]


@contextmanager
def fake_amap() -> Iterator[FakeAmap]:
    fake = FakeAmap()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            return

        def do_GET(self) -> None:
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            fake.requests.append(query)
            step = fake.answer(query.get("address", ""))
            kind = step[0]
            if kind == "sleep":
                time.sleep(float(step[1]))  # type: ignore[arg-type]
                step = ("none",)
                kind = "none"
            if kind == "http":
                self.send_response(int(step[1]))  # type: ignore[call-overload]
                self.end_headers()
                return
            if kind == "garbage":
                payload = b"<html>502 Bad Gateway</html>"
            elif kind == "ok":
                payload = json.dumps(
                    {
                        "status": "1",
                        "info": "OK",
                        "infocode": "10000",
                        "count": "1",
                        "geocodes": [{"location": step[1], "level": step[2]}],
                    }
                ).encode()
            elif kind == "status0":
                payload = json.dumps({"status": "0", "info": step[1], "infocode": "10001"}).encode()
            else:
                payload = json.dumps(
                    {"status": "1", "info": "OK", "count": "0", "geocodes": []}
                ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v3/geocode/geo"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
