"""``POST /v1/admin/practitioners``: load practitioners into the private registry.

Items are validated one by one (as evaluations are); the rest is
:func:`jzmap.application.practitioners.load_practitioners`, given the app's grade book: an evaluated
practitioner whose official stars changed is rebaselined (``rebaselined`` lists their
ids). Nothing personal is ever echoed: reasons name fields, never their values, and an
item's id is left out of its rejection when it carries one of the item's personal values.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from api.batches import check_batch_size, sort_batch
from api.dependencies import GradeBookDep, RegistryDep, SettingsDep, StoreDep
from api.security import admin_router
from jzmap.application.practitioners import load_practitioners
from jzmap.presentation.schemas import (
    ErrorOut,
    PractitionerBatchIn,
    PractitionerIn,
    PractitionerLoadOut,
    RejectedItemOut,
)
from providers.practitioners import InvalidPractitionerError, Practitioner
from providers.registry import UpsertOutcome

router = admin_router()

_PERSONAL_FIELDS = ("name", "id_number", "phone", "home_address")


@router.post(
    "/practitioners",
    response_model=PractitionerLoadOut,
    responses={
        400: {"model": ErrorOut},
        413: {"model": ErrorOut},
        422: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },
    summary="Load practitioners into the private registry; companies' counts follow",
)
def post_practitioners(
    batch: PractitionerBatchIn,
    store: StoreDep,
    registry: RegistryDep,
    gradebook: GradeBookDep,
    settings: SettingsDep,
) -> PractitionerLoadOut:
    check_batch_size(
        batch.practitioners,
        settings.limits.max_practitioners_per_batch,
        "practitioners",
        "JZMAP_MAX_PRACTITIONERS_PER_BATCH",
    )
    items = sort_batch(batch.practitioners, _parse, _safe_id)
    parsed, positions, rejected = items.parsed, items.positions, items.rejected
    report = load_practitioners(registry, store, parsed, gradebook=gradebook)
    for result in report.items:
        if result.outcome is UpsertOutcome.REJECTED:
            index = positions[result.index]
            rejected.append(
                RejectedItemOut(
                    index=index,
                    id=_safe_id(batch.practitioners[index]),
                    reasons=list(result.reasons),
                )
            )
    return PractitionerLoadOut(
        received=len(batch.practitioners),
        accepted=report.ids(UpsertOutcome.INSERTED, UpsertOutcome.UPDATED),
        unchanged=report.ids(UpsertOutcome.UNCHANGED),
        rejected=sorted(rejected, key=lambda r: r.index),
        providers_updated=list(report.providers_updated),
        counted_on=report.counted_on,
        rebaselined=list(report.rebaselined),
    )


def _parse(item: Any) -> tuple[Practitioner | None, list[str]]:
    """The item as a domain practitioner, or the reasons it is not one (never values)."""
    try:
        model = PractitionerIn.model_validate(item)
    except ValidationError as exc:
        return None, [_reason(err) for err in exc.errors()]
    try:
        practitioner = model.to_domain()
    except InvalidPractitionerError as exc:
        prefix = f"practitioner {model.id!r}: "
        text = str(exc)
        return None, (text[len(prefix) :] if text.startswith(prefix) else text).split("; ")
    id_lower = model.id.casefold()
    for name in _PERSONAL_FIELDS:
        value = str(getattr(model, name)).strip().casefold()
        if len(value) >= 2 and value in id_lower:
            return None, [f"id: must not contain the practitioner's {name}"]
    return practitioner, []


def _reason(err: Any) -> str:
    # Pydantic's messages never quote the input; the location is named only when it is a
    # field of the schema (a stray key could itself be a personal value).
    loc = [str(p) for p in err.get("loc", ())]
    if not loc:
        return f"item: {err.get('msg', 'invalid value')}"
    if loc[0] not in PractitionerIn.model_fields:
        return "item: an unknown field (see the schema for the fields understood)"
    return f"{'.'.join(loc)}: {err.get('msg', 'invalid value')}"


def _safe_id(item: Any) -> str | None:
    """The item's id for the report, unless it is unreadable or carries a personal value."""
    if not isinstance(item, dict):
        return None
    value = item.get("id")
    if not isinstance(value, str) or not value or len(value) > 100:
        return None
    folded = value.casefold()
    for name in _PERSONAL_FIELDS:
        personal = item.get(name)
        if (
            isinstance(personal, str)
            and len(personal.strip()) >= 2
            and personal.strip().casefold() in folded
        ):
            return None
    return value
