"""Cell values of registry exports to typed values, each with a reason when it fails.

Every parser returns ``(value, problem)``: exactly one of them is not ``None`` (an empty
optional cell gives ``(None, None)``). Reasons are written for the operator who will fix
the cell. Parsers of values that repeat down a column (kinds, grades, categories, CRS
names, counts) are memoised: registries repeat them on nearly every row.

The parsers define what a cell means. Columns of cells that are unique per row (credit
codes, phones, coordinates) also have a whole-column path below for the common case; it
hands every cell off that path to the parser itself, so the two cannot disagree.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Sequence
from itertools import compress

import numpy as np
import numpy.typing as npt

from geo.crs import CRS
from providers.credit_code import CREDIT_CODE_ALPHABET
from providers.model import Category, Grade, Kind

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

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


MAX_COUNT = 2**31 - 1
_SHOWN_CHARACTERS = 60


def shown(text: str) -> str:
    """A cell quoted in a reason: in full when short, else its start and its length (a
    reason must stay readable, and a rejects file loadable, whatever the cell holds).

    >>> shown("6A"), shown("家" * 100)[-20:]
    ("'6A'", "家…' (100 characters)")
    """
    if len(text) <= _SHOWN_CHARACTERS:
        return repr(text)
    return f"{text[:_SHOWN_CHARACTERS] + '…'!r} ({len(text)} characters)"


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
        return None, f"类型 {shown(text)} is not one of: {'、'.join(KIND_WORDS)}"
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
        return None, f"信用等级 {shown(text)} is not one of 5A, 4A, 3A, 2A, A (or AAAAA … A)"


@functools.lru_cache(maxsize=4096)
def parse_crs(text: str) -> Parsed:
    key = _key(text)
    if not key:
        return None, None
    crs = CRS_WORDS.get(key)
    if crs is None:
        return None, f"坐标系 {shown(text)} is not one of WGS84 (GPS), GCJ02 (高德), BD09 (百度)"
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
    return None, f"电话 {shown(text)} is not a phone number (mobile, 0xx-xxxxxxxx or 400/800)"


@functools.lru_cache(maxsize=4096)
def parse_count(text: str, column: str) -> Parsed:
    key = fold(text).replace(",", "").removesuffix("人").strip()
    if not key:
        return 0, None
    # isdecimal, not isdigit: int() refuses digits that are not decimal (say ፩), which
    # must be a reason, not a crash of the whole import.
    if not key.isdecimal():
        return None, f"{column} {shown(text)} is not a whole number"
    # The stores keep counts as 32-bit integers (and int() refuses over 4300 digits).
    if len(key) > 10 or int(key) > MAX_COUNT:
        return None, f"{column} {shown(text)} is more than {MAX_COUNT:,}"
    return int(key), None


def parse_coordinate(text: str, column: str) -> Parsed:
    key = fold(text).rstrip("°")
    if not key:
        return None, None
    try:
        value = float(key)
    except ValueError:
        return None, f"{column} {shown(text)} is not a number"
    if not math.isfinite(value):
        return None, f"{column} {shown(text)} is not a finite number"
    return value, None


# -- whole columns ---------------------------------------------------------------------


def lengths(texts: Sequence[str]) -> npt.NDArray[np.int64]:
    return np.fromiter(map(len, texts), np.int64, len(texts))


def ascii_mask(texts: Sequence[str]) -> BoolArray:
    """Which cells are ASCII: NFKC leaves those alone, so ``fold`` is only ``strip``."""
    return np.fromiter(map(str.isascii, texts), np.bool_, len(texts))


# Value of each character of the alphabet by code point; -1 for anything else (index 128
# stands for every non-ASCII character).
_CODE_VALUE = np.full(129, -1, dtype=np.int64)
_CODE_VALUE[[ord(ch) for ch in CREDIT_CODE_ALPHABET]] = np.arange(len(CREDIT_CODE_ALPHABET))
_CODE_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)


def credit_codes_valid(codes: Sequence[str]) -> BoolArray:
    """Whether each code passes GB 32100-2015, for a whole column at once: exactly when
    :func:`providers.credit_code.credit_code_problem` finds nothing wrong with it.

    The 18-character codes are laid out as an (n, 18) array of code points, mapped to
    their values and weighed in one array expression.
    """
    valid: BoolArray = lengths(codes) == 18
    if valid.any():
        # surrogatepass: a lone surrogate (possible from JSON escapes) is just another
        # character that is not allowed, not an encoding error.
        text = "".join(compress(codes, valid)).encode("utf-32-le", "surrogatepass")
        points = np.frombuffer(text, dtype=np.uint32).reshape(-1, 18)
        values = _CODE_VALUE[np.minimum(points, 128)]
        total = values[:, :17] @ _CODE_WEIGHTS
        ok = (values >= 0).all(axis=1) & (values[:, 17] == (31 - total % 31) % 31)
        valid[valid] = ok
    return valid


# Phone cells already in the form parse_phone gives, so that it would return them as
# they are: a mobile, a 400/800 line, an 8-digit local number, or a landline with its
# dash after the area code (3 digits for the area codes parse_phone knows, 4 for others
# starting 03-09). tests/test_ingest_batch.py holds parse_phone to that.
_CANONICAL_PHONE = re.compile(
    r"1[3-9][0-9]{9}|(?:400|800)[0-9]{7}|[2-9][0-9]{7}"
    r"|0(?:10|2[0-57-9])-[0-9]{7,8}|0[3-9][0-9]{2}-[0-9]{7,8}"
)


def canonical_phones(texts: Sequence[str]) -> BoolArray:
    """Which (stripped) phone cells need no parsing: one number, already normalised."""
    matches = map(_CANONICAL_PHONE.fullmatch, texts)
    return np.fromiter(map(bool, matches), np.bool_, len(texts))


def parse_coordinates(texts: Sequence[str], column: str) -> tuple[FloatArray, dict[int, str]]:
    """:func:`parse_coordinate` of each (stripped) cell of a column: the values (NaN where
    the parser gives ``None``) and the problems by row.

    ASCII cells are what ``float`` parses, as the parser would after folding them; the
    rest (full-width digits, a degree sign, words, non-finite numbers) go through the
    parser one by one.
    """
    values = np.full(len(texts), np.nan)
    problems: dict[int, str] = {}
    given = lengths(texts) > 0
    fast = given & ascii_mask(texts)
    slow = given & ~fast
    try:
        parsed = np.fromiter(map(float, compress(texts, fast)), np.float64, int(fast.sum()))
    except ValueError:
        slow = given
    else:
        finite = np.isfinite(parsed)
        rows = np.flatnonzero(fast)
        values[rows[finite]] = parsed[finite]
        slow[rows[~finite]] = True
    for i in np.flatnonzero(slow).tolist():
        value, problem = parse_coordinate(texts[i], column)
        if problem is not None:
            problems[i] = problem
        elif value is not None:
            values[i] = value
    return values, problems
