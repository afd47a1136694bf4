"""``/v1/admin``: authenticated operator actions (registry imports).

``POST /v1/admin/imports`` takes provider registries (``kind`` company or station, or a
类型 column) and, with ``kind`` practitioners or evaluations, a practitioners register or
an evaluations log (:mod:`jzmap.application.feeds`): the same checks and report as ``jzmap ingest``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import File, Form, Query, UploadFile
from fastapi import Path as PathParam

from api.dependencies import BackendDep, SettingsDep
from api.metrics import count_import
from api.security import admin_router
from geo.crs import CRS
from ingest import IngestOptions, IngestReport
from ingest.feeds import ImportKind
from jzmap.application.feeds import FeedOptions, run_feed
from jzmap.application.history import list_imports, show_import, undo_import
from jzmap.application.imports import run_provider_import
from jzmap.presentation.history import detail_json, entry_json, undo_json
from jzmap.presentation.schemas import ErrorOut
from jzmap.wiring import ingester
from providers.errors import InvalidRequestError, TooLargeError
from providers.history import DeactivationGuard

router = admin_router()
_SUFFIXES = (".csv", ".xlsx", ".geojson", ".json")
_CHUNK = 1 << 20


@router.post(
    "/imports",
    summary="Import a registry, practitioners or evaluations file (as `jzmap ingest`)",
    description="`kind` company or station: provider rows (the kind of rows without a 类型 "
    "column); practitioners: a practitioners register; evaluations: an evaluations log "
    "(CSV or XLSX; `crs`, `mode` and `source` apply to provider imports only). The answer "
    "is the import report; for practitioners it never carries the rejected rows' cells.",
    responses={
        400: {"model": ErrorOut},
        409: {"model": ErrorOut, "description": "a snapshot would deactivate too many"},
        413: {"model": ErrorOut},
        422: {"model": ErrorOut},
    },
)
def create_import(
    backend: BackendDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV, XLSX or GeoJSON")],
    kind: Annotated[ImportKind | None, Form()] = None,
    crs: Annotated[CRS | None, Form()] = None,
    encoding: Annotated[str | None, Form(max_length=40)] = None,
    sheet: Annotated[str | None, Form(max_length=100)] = None,
    mode: Annotated[Literal["append", "snapshot"], Form()] = "append",
    source: Annotated[str | None, Form(max_length=200)] = None,
    dry_run: Annotated[bool, Form()] = False,
    allow_deactivate: Annotated[int | None, Form(ge=0, le=1_000_000_000)] = None,
) -> dict[str, Any]:
    name = Path(file.filename or "upload").name
    suffix = Path(name).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InvalidRequestError(f"file {name!r}: send a .csv, .xlsx or .geojson file")
    feed = None if kind is None else kind.feed
    if feed is not None and (
        crs is not None or mode != "append" or source is not None or allow_deactivate
    ):
        raise InvalidRequestError(f"crs, mode and source apply to provider imports, not {feed}")
    limit = settings.limits.max_upload_mb << 20
    with tempfile.TemporaryDirectory(prefix="jzmap-import-") as folder:
        path = Path(folder) / name
        size = 0
        with path.open("wb") as out:
            while chunk := file.file.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLargeError(
                        f"file larger than {settings.limits.max_upload_mb} MB (JZMAP_MAX_UPLOAD_MB)"
                    )
                out.write(chunk)
        # An unreadable file is the sender's to fix: UnreadableFileError is a 422 (api.errors).
        report: IngestReport
        if feed is None:
            options = IngestOptions(
                kind=None if kind is None else kind.provider_kind,
                crs=crs,
                encoding=encoding,
                sheet=sheet,
                mode=mode,
                source=source or Path(name).stem,
                dry_run=dry_run,
            )
            guard = DeactivationGuard.parse(
                settings.imports.snapshot_max_deactivate, allow=allow_deactivate or 0
            )
            report = run_provider_import(ingester(settings), backend, [path], options, guard=guard)
        else:
            report = run_feed(
                [path],
                FeedOptions(feed, encoding=encoding, sheet=sheet, dry_run=dry_run),
                providers=backend.store,
                registry=backend.registry,
                gradebook=backend.gradebook,
                baseline_since=settings.grades.baseline_since,
            )
    count_import("providers" if feed is None else str(feed), report)
    # A practitioners report leaves the rejected rows' cells out whatever is asked (they are
    # personal data): see ingest.feeds.FeedReport.
    body = report.to_dict(with_cells=True)
    body["files"] = [name]
    return body


@router.get(
    "/imports",
    summary="The recorded provider imports, newest first",
    description="Each with its files (name, SHA-256), mode, source, time, counts, and the "
    "undo that undid it (or the import it undoes).",
)
def get_imports(
    backend: BackendDep, limit: Annotated[int, Query(ge=1, le=1_000)] = 100
) -> dict[str, Any]:
    return {"imports": [entry_json(e) for e in list_imports(backend, limit)]}


@router.get(
    "/imports/{import_id}",
    summary="One recorded import and what it changed, provider by provider",
    description="`changes`: inserted, updated (which fields, their values before), "
    "deactivated, kept (a rejected snapshot row whose provider stayed active), deleted; "
    "a page of them by provider id (`offset`, `limit`).",
    responses={404: {"model": ErrorOut}},
)
def get_import(
    backend: BackendDep,
    import_id: Annotated[int, PathParam(ge=1)],
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> dict[str, Any]:
    return detail_json(show_import(backend, import_id, offset=offset, limit=limit), offset)


@router.post(
    "/imports/{import_id}/undo",
    summary="Undo a provider import (as `jzmap imports undo`)",
    description="Restores every provider the import touched to its version before it, as a "
    "new import of mode `undo`. 409, nothing written, when later imports changed the same "
    "providers (named), the import was undone already or is an undo, or the grade book "
    "contradicts it (a company blacklisted since).",
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
def post_undo(backend: BackendDep, import_id: Annotated[int, PathParam(ge=1)]) -> dict[str, Any]:
    return undo_json(*undo_import(backend, import_id))
