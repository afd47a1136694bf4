"""``/v1/exports``: the open-data files of the listed providers (GeoJSON, GeoPackage,
GeoParquet, CSV for Excel), the same as ``jzmap export --format …``.

A file is built once per data version in the background (:class:`OpenDataFiles`, under
``<JZMAP_DATA_DIR>/exports``) and then served from disk, so a million providers cost the
build once, not once per download; a request that arrives while its file is still being
built waits up to the request deadline, then gets 503 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse

from api.dependencies import PublicViewDep, SettingsDep, StoreDep
from api.errors import RETRY_AFTER_S
from jzmap.presentation.open_data import OpenDataFiles, OpenDataFormat
from jzmap.presentation.presenters import PublicView
from jzmap.presentation.schemas import ErrorOut
from jzmap.settings import Settings
from providers.errors import UnavailableError

router = APIRouter(prefix="/v1/exports", tags=["exports"])

# Leave the deadline (JZMAP_REQUEST_TIMEOUT_S) room to answer 503 itself.
_DEADLINE_MARGIN_S = 1.0


class ExportPreparingError(UnavailableError):
    """The file is still being built (503 with Retry-After)."""

    public_message = "the file is being prepared; retry in {retry_after_s} s"


def _files(request: Request, settings: Settings, view: PublicView) -> OpenDataFiles:
    files: OpenDataFiles | None = getattr(request.app.state, "open_data_files", None)
    if files is None:
        # The files outlive requests: of the view they carry only the phone rule.
        files = OpenDataFiles(settings.database.data_dir / "exports", view)
        request.app.state.open_data_files = files
    return files


@router.get(
    "/providers.{format}",
    summary="Open data: every listed provider's public fields as a file",
    description="GeoJSON, GeoPackage (`gpkg`), GeoParquet (`parquet`) or CSV (UTF-8 with "
    "BOM, for Excel); WGS-84 longitude/latitude. Built once per data version, then served "
    f"from disk; while it is built, 503 with Retry-After ({RETRY_AFTER_S} s).",
    responses={
        200: {
            "content": {fmt.media_type.split(";")[0]: {} for fmt in OpenDataFormat},
            "description": "the file, as an attachment",
        },
        503: {"model": ErrorOut},
    },
    response_class=FileResponse,
)
def providers_file(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    view: PublicViewDep,
    format: Annotated[OpenDataFormat, Path(description="geojson, gpkg, parquet or csv")],
) -> FileResponse:
    files = _files(request, settings, view)
    wait_s = max(0.0, settings.limits.request_timeout_s - _DEADLINE_MARGIN_S)
    path = files.ready(store, format, wait_s)
    if path is None:
        raise ExportPreparingError(f"{format.filename} is still being built")
    return FileResponse(
        path,
        media_type=format.media_type,
        filename=format.filename,
        headers={"Cache-Control": "public, max-age=300"},
    )
