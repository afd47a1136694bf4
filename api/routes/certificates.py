"""``GET /v1/certificates/{code}``: the public 安心服务证 check.

What a household checks before letting a worker in: whether the code is valid today
(China time), with which company, and a masked name (张*华) — nothing else personal. A
revoked, expired or incomplete certificate gets the same answer shape as a valid one.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.deps import RegistryDep, StoreDep
from api.errors import error_body
from api.schemas import CertificateCompanyOut, CertificateOut, ErrorOut
from jzmap.practitioners import china_today
from providers.practitioners import CertificateStatus, public_certificate

router = APIRouter(prefix="/v1/certificates", tags=["certificates"])


@router.get(
    "/{code}",
    response_model=CertificateOut,
    responses={404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    summary="Check a 安心服务证 code: valid today, and with which company",
)
def get_certificate(
    store: StoreDep,
    registry: RegistryDep,
    code: Annotated[str, Path(min_length=1, max_length=64)],
) -> CertificateOut | JSONResponse:
    # Typed in by hand: full-width characters, lower case and stray spaces are folded.
    wanted = unicodedata.normalize("NFKC", code).strip().upper()
    practitioner = registry.by_certificate(wanted)
    answer = None if practitioner is None else public_certificate(practitioner, china_today())
    if answer is None:
        return JSONResponse(
            status_code=404,
            content=error_body(
                "not_found",
                f"no 安心服务证 with code {wanted!r}; check the code printed on the card",
            ),
        )
    company = None
    if answer.company_id is not None:
        provider = store.get(answer.company_id)
        listed = provider is not None and provider.active
        company = CertificateCompanyOut(
            id=answer.company_id, name=provider.name if listed and provider else None
        )
    return CertificateOut(
        code=answer.code,
        valid=answer.status is CertificateStatus.VALID,
        status=answer.status,
        checked_on=answer.on,
        company=company,
        masked_name=answer.masked_name,
    )
