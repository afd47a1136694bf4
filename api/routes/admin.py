"""``/v1/admin``: authenticated operator actions (registry imports).

``POST /v1/admin/imports`` takes provider registries (``kind`` company or station, or a
类型 column) and, with ``kind`` practitioners or evaluations, a practitioners register or
an evaluations log (:mod:`jzmap.application.feeds`): the same checks and report as ``jzmap ingest``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile

from api.dependencies import BackendDep, SettingsDep
from api.metrics import count_import
from api.security import require_admin
from geo.crs import CRS
from ingest import IngestOptions, IngestReport
from ingest.feeds import ImportKind
from jzmap.application.feeds import FeedOptions, run_feed
from jzmap.application.imports import run_provider_import
from jzmap.presentation.schemas import ErrorOut
from jzmap.wiring import ingester
from providers.errors import InvalidRequestError, TooLargeError

router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
)
_SUFFIXES = (".csv", ".xlsx", ".geojson", ".json")
_CHUNK = 1 << 20


@router.post(
    "/imports",
    summary="Import a registry, practitioners or evaluations file (as `jzmap ingest`)",
    description="`kind` company or station: provider rows (the kind of rows without a 类型 "
    "column); practitioners: a practitioners register; evaluations: an evaluations log "
    "(CSV or XLSX; `crs`, `mode` and `source` apply to provider imports only). The answer "
    "is the import report; for practitioners it never carries the rejected rows' cells.",
    responses={400: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut}},
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
) -> dict[str, Any]:
    name = Path(file.filename or "upload").name
    suffix = Path(name).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InvalidRequestError(f"file {name!r}: send a .csv, .xlsx or .geojson file")
    feed = None if kind is None else kind.feed
    if feed is not None and (crs is not None or mode != "append" or source is not None):
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
            report = run_provider_import(ingester(settings), backend, [path], options)
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
