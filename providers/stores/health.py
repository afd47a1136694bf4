"""Readiness of a backend: every part answers, and its schema is the one this program
reads — cheaply (no count, no scan), for a load balancer's probe every few seconds."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from providers.store import StoreUnavailableError
from providers.stores.backend import Backend


def readiness(backend: Backend) -> dict[str, str | None]:
    """Each check (``providers``, ``gradebook``, ``registry``, ``schema``) -> ``None`` when
    it passes, else why not (names files or hosts: for the log, not for a response)."""
    checks: dict[str, Callable[[], None]] = {
        "providers": backend.store.check,
        "gradebook": backend.gradebook.check,
        "registry": backend.registry.check,
        "schema": lambda: check_schema(backend),
    }
    found: dict[str, str | None] = {}
    for name, check in checks.items():
        try:
            check()
            found[name] = None
        except StoreUnavailableError as exc:
            found[name] = str(exc)
    return found


def check_schema(backend: Backend) -> None:
    """Raise :class:`StoreUnavailableError` unless every part's schema is at this
    program's version: PostGIS at the head revision, each embedded file at its version
    (a file replaced under a running service, by hand or by an older program, is caught).
    """
    if backend.database is not None:
        backend.database.ensure_schema()
        return
    from providers.stores.backup import embedded_files

    data_dir = Path(getattr(backend.store, "path", "providers.sqlite")).parent
    for name, wanted in embedded_files().items():
        path = data_dir / name
        try:
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)) as conn:
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"{path}: {exc}") from exc
        if row is None or int(row[0]) != wanted:
            found = None if row is None else row[0]
            raise StoreUnavailableError(
                f"{path} has schema version {found}, this program reads {wanted}"
            )
