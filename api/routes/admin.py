"""``/v1/admin``: authenticated operator actions (registry imports)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile

from api.deps import SettingsDep, StoreDep
from api.schemas import ErrorOut
from api.security import require_admin
from geo.crs import CRS
from ingest import IngestOptions, UnreadableFileError
from jzmap.services import ingester
from providers.model import Kind

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
    summary="Import a registry file (same options and report as `jzmap ingest`)",
    responses={400: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def create_import(
    store: StoreDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV, XLSX or GeoJSON")],
    kind: Annotated[Kind | None, Form()] = None,
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
        raise HTTPException(422, f"file {name!r}: send a .csv, .xlsx or .geojson file")
    limit = settings.max_upload_mb << 20
    with tempfile.TemporaryDirectory(prefix="jzmap-import-") as folder:
        path = Path(folder) / name
        size = 0
        with path.open("wb") as out:
            while chunk := file.file.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(
                        413, f"file larger than {settings.max_upload_mb} MB (JZMAP_MAX_UPLOAD_MB)"
                    )
                out.write(chunk)
        options = IngestOptions(
            kind=kind,
            crs=crs,
            encoding=encoding,
            sheet=sheet,
            mode=mode,
            source=source or Path(name).stem,
            dry_run=dry_run,
        )
        try:
            report = ingester(settings).run([path], store, options)
        except UnreadableFileError as exc:
            raise HTTPException(422, str(exc)) from None
    body = report.to_dict(with_cells=True)
    body["files"] = [name]
    return body
