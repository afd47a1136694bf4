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
    # Reverse geocoding (/v3/geocode/regeo), whatever the location: behaviours used in turn
    # (the last repeats): ("ok", formatted_address), ("empty",), ("status0", info),
    # ("http", code), ("sleep", seconds) (then "ok" with "睡醒了").
    regeo: list[tuple[object, ...]] = field(default_factory=lambda: [("empty",)])
    regeo_requests: list[dict[str, str]] = field(default_factory=list)
    regeo_url: str = ""

    def answer(self, address: str) -> tuple[object, ...]:
        steps = self.script.get(address, [("none",)])
        return steps.pop(0) if len(steps) > 1 else steps[0]

    def regeo_answer(self) -> tuple[object, ...]:
        return self.regeo.pop(0) if len(self.regeo) > 1 else self.regeo[0]


def _regeo_payload(step: tuple[object, ...]) -> bytes:
    """AMap's regeo answer; empty fields are ``[]``, as AMap sends them."""
    if step[0] == "status0":
        return json.dumps({"status": "0", "info": step[1], "infocode": "10003"}).encode()
    address = str(step[1]) if step[0] == "ok" else []
    township: object = "示例街道" if step[0] == "ok" else []
    number: object = {"street": "示例路", "number": "8号"} if step[0] == "ok" else {}
    regeocode = {
        "formatted_address": address,
        "addressComponent": {"district": "海珠区", "township": township, "streetNumber": number},
    }
    return json.dumps({"status": "1", "info": "OK", "regeocode": regeocode}).encode()


@contextmanager
def fake_amap() -> Iterator[FakeAmap]:
    fake = FakeAmap()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            return

        def do_GET(self) -> None:
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            if urllib.parse.urlsplit(self.path).path.endswith("/regeo"):
                self._regeo(query)
                return
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

        def _regeo(self, query: dict[str, str]) -> None:
            fake.regeo_requests.append(query)
            step = fake.regeo_answer()
            if step[0] == "sleep":
                time.sleep(float(step[1]))  # type: ignore[arg-type]
                step = ("ok", "睡醒了")
            if step[0] == "http":
                self.send_response(int(step[1]))  # type: ignore[call-overload]
                self.end_headers()
                return
            payload = _regeo_payload(step)
            self.send_response(200)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v3/geocode/geo"
    fake.regeo_url = f"http://127.0.0.1:{server.server_address[1]}/v3/geocode/regeo"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
