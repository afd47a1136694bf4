"""A raw HTTP/1.1 client on a plain socket, for what ordinary clients hide: sending headers
and no body (or part of one) and seeing whether, and when, the server answers and closes.

Socket timeouts here are hang guards (a test fails instead of waiting forever), never
bounds on how fast the server must be.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

HANG_GUARD_S = 60.0


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names; the last value of a repeated header
    body: bytes
    closed_by_server: bool | None  # closed after the response (None: not asked)

    def json(self) -> Any:
        return json.loads(self.body)


def open_request(
    base_url: str, method: str, path: str, headers: Mapping[str, str], body: bytes = b""
) -> socket.socket:
    """Connect, send the request line and ``headers`` (``Host`` too unless given) and
    ``body``, if any; no more."""
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80))
    sock.settimeout(HANG_GUARD_S)
    lines = [f"{method} {path} HTTP/1.1"]
    if not any(name.lower() == "host" for name in headers):
        lines.append(f"Host: {parts.netloc}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    return sock


def send_chunk(sock: socket.socket, data: bytes) -> None:
    """One chunk of a ``Transfer-Encoding: chunked`` body."""
    sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")


def read_response(sock: socket.socket, *, see_close: bool = False) -> RawResponse:
    """Read one response (its body by ``Content-Length``) and close the socket.

    With ``see_close``, first wait for the server to close the connection after the
    response (``closed_by_server`` is False if it sent more instead); only for responses
    that should close it, as a kept-alive connection would wait for the hang guard.
    """
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed before a response: {data!r}")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        body, extra = rest[:length], rest[length:]
        closed: bool | None = None
        if see_close:
            try:
                closed = not extra and sock.recv(1) == b""
            except ConnectionResetError:
                closed = not extra
        return RawResponse(status, headers, body, closed)
    finally:
        sock.close()
