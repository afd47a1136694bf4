"""The store layer: :func:`open_backend` opens the provider store, the grade book and the
practitioners registry together, embedded (SQLite files and an in-memory geodesic index)
or on PostGIS (one engine and pool for all three)."""

from __future__ import annotations

from providers.stores.backend import Backend, BackendKind, DatabaseConfig, open_backend

__all__ = ["Backend", "BackendKind", "DatabaseConfig", "open_backend"]
