"""Stable provider ids: the same real-world provider always gets the same id.

Ids make upserts idempotent: a company is its unified social credit code; a station is
its station code when the source has one, else its district, street and normalised name.
"""

from __future__ import annotations

import hashlib
import unicodedata


def company_id(credit_code: str) -> str:
    """``co-`` and the credit code, upper-cased."""
    return f"co-{credit_code.strip().upper()}"


def station_id(
    *, station_code: str | None = None, district: str = "", street: str = "", name: str = ""
) -> str:
    """``st-`` and the station code, or a digest of (district, street, normalised name).

    Examples
    --------
    >>> station_id(station_code="440103001")
    'st-440103001'
    >>> station_id(district="荔湾区", street="沙面街道", name=" 沙面街道 家政服务站 ") == \\
    ...     station_id(district="荔湾区", street="沙面街道", name="沙面街道家政服务站")
    True
    """
    if station_code and station_code.strip():
        return f"st-{station_code.strip()}"
    key = "|".join(normalise_name(part) for part in (district, street, name))
    return "st-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def normalise_name(text: str) -> str:
    """Fold full-width forms (NFKC), drop all white space, lower-case Latin letters."""
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()
