"""Cell values of registry exports to typed values, each with a reason when it fails.

Every parser returns ``(value, problem)``: exactly one of them is not ``None`` (an empty
optional cell gives ``(None, None)``). Reasons are written for the operator who will fix
the cell. Parsers of values that repeat down a column (kinds, grades, categories, CRS
names, counts) are memoised: registries repeat them on nearly every row.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata

from geo.crs import CRS
from providers.model import Category, Grade, Kind

Parsed = tuple[object, str | None]

KIND_WORDS: dict[str, Kind] = {
    "企业": Kind.COMPANY,
    "公司": Kind.COMPANY,
    "company": Kind.COMPANY,
    "服务站": Kind.STATION,
    "基层服务站": Kind.STATION,
    "station": Kind.STATION,
}
CATEGORY_WORDS: dict[str, Category] = {
    **dict.fromkeys(("养老", "居家养老", "老人照护", "elderly_care"), Category.ELDERLY_CARE),
    **dict.fromkeys(("居家", "家务", "保洁", "家政", "housekeeping"), Category.HOUSEKEEPING),
    **dict.fromkeys(("母婴", "月嫂", "育婴", "催乳", "maternal_infant"), Category.MATERNAL_INFANT),
    **dict.fromkeys(("护理", "陪护", "医护", "病患陪护", "nursing"), Category.NURSING),
}
CRS_WORDS: dict[str, CRS] = {
    **dict.fromkeys(("wgs84", "gps", "epsg4326"), CRS.WGS84),
    **dict.fromkeys(("gcj02", "高德", "amap", "腾讯", "火星"), CRS.GCJ02),
    **dict.fromkeys(("bd09", "bd09ll", "百度", "baidu"), CRS.BD09),
}
_CATEGORY_SPLIT = re.compile(r"[、,，;；/\s]+")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$")
_HOTLINE = re.compile(r"^(400|800)\d{7}$")
_LOCAL = re.compile(r"^[2-9]\d{7}$")  # Guangzhou numbers dialled without 020
_PHONE_SPLIT = re.compile(r"[/、,，;；]+")


def fold(text: str) -> str:
    """NFKC (full-width digits, letters and punctuation to ASCII) and trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def _key(text: str) -> str:
    return "".join(fold(text).lower().replace("-", "").replace("_", "").split())


@functools.lru_cache(maxsize=4096)
def parse_kind(text: str) -> Parsed:
    if not fold(text):
        return None, None
    kind = KIND_WORDS.get(fold(text).lower())
    if kind is None:
        return None, f"类型 {text!r} is not one of: {'、'.join(KIND_WORDS)}"
    return kind, None


@functools.lru_cache(maxsize=4096)
def parse_categories(text: str) -> Parsed:
    """Several values split on 、 , ， ; ； / or spaces; synonyms mapped, unknowns refused.

    Examples
    --------
    >>> sorted(c.value for c in parse_categories("月嫂、保洁/陪护")[0])
    ['housekeeping', 'maternal_infant', 'nursing']
    """
    words = [w for w in _CATEGORY_SPLIT.split(fold(text)) if w]
    if not words:
        return None, "no service category: give at least one of 养老, 居家, 母婴, 护理"
    found: set[Category] = set()
    unknown = []
    for word in words:
        category = CATEGORY_WORDS.get(word.lower())
        if category is None:
            unknown.append(word)
        else:
            found.add(category)
    if unknown:
        return None, (
            f"unknown service categories {'、'.join(unknown)}; known: "
            f"{'、'.join(w for w in CATEGORY_WORDS if w.isascii() is False)}"
        )
    return frozenset(found), None


@functools.lru_cache(maxsize=4096)
def parse_grade(text: str) -> Parsed:
    """``5A``, ``AAAAA``, ``５Ａ`` … ``A``; blank is no grade.

    Examples
    --------
    >>> parse_grade("ＡＡＡＡ")[0].value, parse_grade("5a")[0].value, parse_grade("")
    ('4A', '5A', (None, None))
    """
    key = _key(text).upper().replace("级", "")
    if not key:
        return None, None
    if key and set(key) == {"A"} and len(key) <= 5:
        key = f"{len(key)}A" if len(key) > 1 else "A"
    if key == "1A":
        key = "A"
    try:
        return Grade(key), None
    except ValueError:
        return None, f"信用等级 {text!r} is not one of 5A, 4A, 3A, 2A, A (or AAAAA … A)"


@functools.lru_cache(maxsize=4096)
def parse_crs(text: str) -> Parsed:
    key = _key(text)
    if not key:
        return None, None
    crs = CRS_WORDS.get(key)
    if crs is None:
        return None, f"坐标系 {text!r} is not one of WGS84 (GPS), GCJ02 (高德), BD09 (百度)"
    return crs, None


def split_phones(text: str) -> list[str]:
    """The numbers of a cell holding several (``020-1234567/13812345678``)."""
    return [p for p in _PHONE_SPLIT.split(fold(text)) if p.strip()]


def parse_phone(text: str) -> Parsed:
    """The first phone number of the cell, normalised: digits, a dash after a landline's
    area code.

    Examples
    --------
    >>> parse_phone("（020）8333 4567"), parse_phone("+86 138-1234-5678")
    (('020-83334567', None), ('13812345678', None))
    >>> parse_phone("12345")[0] is None
    True
    """
    phones = split_phones(text)
    first = phones[0] if phones else ""  # callers report the others
    if not first:
        return "", None
    digits = re.sub(r"[\s\-()（）+]", "", first)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if _MOBILE.match(digits) or _HOTLINE.match(digits) or _LOCAL.match(digits):
        return digits, None
    if _LANDLINE.match(digits):
        area = 3 if digits[:3] in ("010", "020", "021", "022", "023", "024", "025", "027",
                                   "028", "029") else 4  # fmt: skip
        return f"{digits[:area]}-{digits[area:]}", None
    return None, f"电话 {text!r} is not a phone number (mobile, 0xx-xxxxxxxx or 400/800)"


@functools.lru_cache(maxsize=4096)
def parse_count(text: str, column: str) -> Parsed:
    key = fold(text).replace(",", "").removesuffix("人").strip()
    if not key:
        return 0, None
    if not key.isdigit():
        return None, f"{column} {text!r} is not a whole number"
    return int(key), None


def parse_coordinate(text: str, column: str) -> Parsed:
    key = fold(text).rstrip("°")
    if not key:
        return None, None
    try:
        value = float(key)
    except ValueError:
        return None, f"{column} {text!r} is not a number"
    if not math.isfinite(value):
        return None, f"{column} {text!r} is not a finite number"
    return value, None
