"""Embed origins: the web origins (``https://app.example.cn``) whose pages may frame the
widget and call the API from a browser, kept with the data so an operator adds one without
a restart.

Plain Python: what an origin is (:func:`normalize_origin`), a listed one
(:class:`EmbedOrigin`) and the contract every store of them implements
(:class:`EmbedOriginStore`). The origins configured in ``JZMAP_EMBED_ORIGINS`` are merged
with the stored ones above the stores (``jzmap.application.embedding``).

An origin is exactly what a browser sends in ``Origin`` and compares in CSP
``frame-ancestors``: ``scheme://host[:port]``, lower case, no path, no default port. No
wildcards: ``https://*.example.cn`` would let every subdomain (a user's page on a shared
host among them) frame the widget and read the API; each app lists its own origin.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from providers.errors import InvalidParameterError

MAX_ORIGIN_LENGTH = 253 + len("https://") + len(":65535")
MAX_NOTE_LENGTH = 200
MAX_STORED_ORIGINS = 1_000
"""At most this many stored origins: each is written into every widget's CSP header."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"^(?:{_LABEL}\.)*{_LABEL}$|^\d{{1,3}}(?:\.\d{{1,3}}){{3}}$|^\[[0-9a-f:.]+\]$")
_ORIGIN = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>\[[^\]/]*\]|[^:/?#@]*)"
    r"(?::(?P<port>\d{1,5}))?/?$"
)
_ALLOWED = "scheme://host[:port] with scheme http or https, e.g. https://app.example.cn"


@dataclass(frozen=True, slots=True)
class EmbedOrigin:
    """A stored embed origin.

    Attributes
    ----------
    origin
        Normalised (:func:`normalize_origin`).
    note
        Who asked for it, or why (free text for operators; never shown to residents).
    added_at
        When it was stored (timezone-aware).
    """

    origin: str
    note: str
    added_at: datetime


def normalize_origin(text: str) -> str:
    """``text`` as an origin: ``scheme://host[:port]`` in lower case, without a trailing
    slash or the scheme's default port.

    Raises
    ------
    InvalidParameterError
        Not an http(s) origin: a path, a query, credentials, a wildcard, a bad host or port.

    Examples
    --------
    >>> normalize_origin("HTTPS://App.Example.cn:443/")
    'https://app.example.cn'
    >>> normalize_origin("http://127.0.0.1:8081")
    'http://127.0.0.1:8081'
    >>> normalize_origin("https://*.example.cn")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    providers.errors.InvalidParameterError: origin: no wildcards: list each app's origin; ...
    """
    given = text.strip()

    def refuse(problem: str) -> InvalidParameterError:
        return InvalidParameterError.of("origin", problem, got=given[:100], allowed=_ALLOWED)

    if not given or len(given) > MAX_ORIGIN_LENGTH:
        raise refuse(f"an origin of 1 to {MAX_ORIGIN_LENGTH} characters")
    if "*" in given:
        raise refuse("no wildcards: list each app's origin")
    match = _ORIGIN.match(given.lower())
    if match is None:
        raise refuse("not an origin (no path, query, fragment or user name)")
    scheme, host, port = match["scheme"], match["host"], match["port"]
    if scheme not in _DEFAULT_PORTS:
        raise refuse(f"scheme {scheme!r} cannot frame a page")
    if not _HOST.match(host):
        raise refuse(f"host {host!r} is not a host name or address")
    if port is not None and not 0 < int(port) <= 65535:
        raise refuse(f"port {port} out of range")
    if port is None or int(port) == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{int(port)}"


def normalize_note(note: str | None) -> str:
    """``note`` stripped; refused when longer than :data:`MAX_NOTE_LENGTH`."""
    text = (note or "").strip()
    if len(text) > MAX_NOTE_LENGTH:
        raise InvalidParameterError.of(
            "note", "too long", got=len(text), allowed=f"at most {MAX_NOTE_LENGTH} characters"
        )
    return text


class EmbedOriginStore(Protocol):
    """Where the stored embed origins live (the embedded and the PostGIS backends).

    Every method takes and returns normalised origins (:func:`normalize_origin`);
    :meth:`list` is what every worker re-reads, so it is one small query.
    """

    def list(self) -> list[EmbedOrigin]:
        """Every stored origin, in origin order."""

    def add(self, origin: str, note: str = "") -> bool:
        """Store ``origin`` (its note replaced if already stored); ``True`` when it was new.

        Raises
        ------
        providers.errors.TooLargeError
            Already :data:`MAX_STORED_ORIGINS` stored and ``origin`` is not among them.
        """

    def remove(self, origin: str) -> bool:
        """Forget ``origin``; ``True`` when it was stored."""

    def delete_all(self) -> int:
        """Forget every origin (tests; a reset); how many were stored."""

    def close(self) -> None:
        """Release what the store holds of its own."""


def merged_origins(configured: Sequence[str], stored: Sequence[EmbedOrigin]) -> tuple[str, ...]:
    """The configured origins then the stored ones, each once, in that order.

    Examples
    --------
    >>> from datetime import timezone
    >>> t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> merged_origins(["https://a.cn"], [EmbedOrigin("https://a.cn", "", t),
    ...                                   EmbedOrigin("https://b.cn", "", t)])
    ('https://a.cn', 'https://b.cn')
    """
    return tuple(dict.fromkeys([*configured, *(o.origin for o in stored)]))
