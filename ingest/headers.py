"""Column headers of registry exports, matched to the fields the importer understands.

Exports come from many offices: Chinese or English headers, full-width characters, stray
spaces, units in brackets (``从业人员数（人）``). A header is normalised before matching, so
all of those find their field. Unknown columns are kept (in a provider's private ``extra``),
never dropped silently.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# Field -> the headers that mean it (compared after normalise_header).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("名称", "企业名称", "机构名称", "服务站名称", "name"),
    "kind": ("类型", "机构类型", "kind"),
    "credit_code": ("统一社会信用代码", "信用代码", "credit_code"),
    "station_code": ("服务站编码", "站点编码", "station_code"),
    "address": ("地址", "详细地址", "注册地址", "address"),
    "district": ("所属区", "区", "行政区", "district"),
    "street": ("街道", "镇街", "street"),
    "community": ("社区", "村居", "community"),
    "categories": ("服务类别", "服务类型", "服务项目", "categories"),
    "credit_grade": ("信用等级", "等级", "credit_grade"),
    "lon": ("经度", "lng", "lon", "longitude"),
    "lat": ("纬度", "lat", "latitude"),
    "crs": ("坐标系", "crs"),
    "phone": ("联系电话", "电话", "phone"),
    "practitioners": ("从业人员数", "practitioners"),
    "certified_practitioners": ("持证人数", "安心服务证人数", "certified_practitioners"),
    "opening_hours": ("营业时间", "服务时间", "opening_hours"),
}
# Columns our own rejects file adds; ignored when that file is loaded back after fixing.
REPORT_COLUMNS = ("_file", "_line", "_columns", "_reasons", "_warnings")

_BRACKETED = re.compile(r"[(\[{（【〔［｛].*?[)\]}）】〕］｝]")


def normalise_header(header: str) -> str:
    """Fold full-width forms, drop bracketed units and all white space, lower-case.

    Examples
    --------
    >>> normalise_header(" 从业人员数（人） ")
    '从业人员数'
    >>> normalise_header("Ｌｏｎｇｉｔｕｄｅ [deg]")
    'longitude'
    """
    text = unicodedata.normalize("NFKC", header)
    text = _BRACKETED.sub("", text)
    return "".join(text.split()).lower().strip("*＊:：")


def header_lookup(synonyms: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Normalised header -> field, for :func:`map_headers`."""
    return {normalise_header(h): f for f, headers in synonyms.items() for h in headers}


_LOOKUP = header_lookup(SYNONYMS)


class HeaderError(ValueError):
    """The header row cannot be used (a field twice, or a required column missing)."""


@dataclass(frozen=True)
class HeaderMap:
    """Where each understood field is, and which columns are kept as extras."""

    fields: dict[str, int]  # field -> column position
    extras: dict[str, int] = field(default_factory=dict)  # original header -> position


def map_headers(
    headers: list[str],
    *,
    synonyms: Mapping[str, Sequence[str]] = SYNONYMS,
    required: Sequence[str] = ("name",),
) -> HeaderMap:
    """Match a header row to fields.

    ``synonyms`` and ``required`` default to the provider registry's; the practitioner
    and evaluation imports (:mod:`ingest.feeds`) pass their own.

    Raises
    ------
    HeaderError
        When two columns mean the same field (which one to trust is the operator's call)
        or when a required column is missing.
    """
    lookup = _LOOKUP if synonyms is SYNONYMS else header_lookup(synonyms)
    fields: dict[str, int] = {}
    extras: dict[str, int] = {}
    for position, header in enumerate(headers):
        if header.strip() in REPORT_COLUMNS:
            continue
        key = lookup.get(normalise_header(header))
        if key is None:
            if header.strip():
                extras[header.strip()] = position
            continue
        if key in fields:
            first = headers[fields[key]]
            raise HeaderError(
                f"columns {first!r} and {header!r} both mean {key!r}; keep one of them"
            )
        fields[key] = position
    for wanted in required:
        if wanted not in fields:
            known = "、".join(synonyms[wanted])
            raise HeaderError(f"no {wanted} column: one of {known} is required")
    return HeaderMap(fields=fields, extras=extras)
