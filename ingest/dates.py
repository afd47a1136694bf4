"""Dates and times in registry files, read year first and nothing else.

Chinese office exports write dates year first — ``2025-01-06``, ``2025/1/6``,
``2025.1.6``, ``2025年1月6日``, ``20250106`` — and spreadsheets hand over real date cells
(which :mod:`ingest.readers` turns into ISO text). General-purpose parsers
(``dateutil``, ``pandas.to_datetime``) would also take ``1/6/2025`` and decide between
6 January and 1 June by a flag: a wrong guess in a health certificate's expiry is a
certificate shown valid for five extra months, so a cell that is not year-first is refused
with a reason instead. The standard library's :meth:`datetime.fromisoformat` does the
parsing; the patterns below only rewrite the Chinese and slashed spellings into ISO form.

Parsers return ``(value, problem)`` like :mod:`ingest.values`, but the problem never
repeats the cell: a practitioner's row is private, and a misplaced column could put a name
into a date column. Callers that may quote the cell (evaluations) add it themselves.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, time, tzinfo

from ingest.values import fold

# Years outside this range are typos (0205 for 2025), not dates anyone records.
FIRST_YEAR, LAST_YEAR = 1900, 2199
_SPELLED = re.compile(
    r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})(?:\s*[日号])?"
    r"(?:(?:\s+|T|(?<=[日号]))\s*(?P<H>\d{1,2})\s*[:时]\s*(?P<M>\d{1,2})\s*分?"
    r"(?:(?::|(?<=分))\s*(?P<S>\d{1,2}(?:\.\d{1,6})?)\s*秒?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?"
)
DATE_FORMATS = "year first: 2025-01-06, 2025/1/6, 2025.1.6, 2025年1月6日 or 20250106"
TIME_FORMATS = (
    "a date as 2025-01-06, 2025/1/6 or 2025年1月6日, optionally with a time (10:30, "
    "10:30:15) and a UTC offset (+08:00)"
)


def _iso(text: str) -> str | None:
    """``text`` in ISO 8601 form when it is a year-first spelling, else ``None``."""
    found = _SPELLED.fullmatch(text)
    if found is None:
        return None
    y, m, d, hour, minute, second, zone = found.group("y", "m", "d", "H", "M", "S", "tz")
    iso = f"{y}-{int(m):02d}-{int(d):02d}"
    if hour is not None:
        iso += f"T{int(hour):02d}:{int(minute):02d}"
        if second is not None:
            whole, _, fraction = second.partition(".")
            iso += f":{int(whole):02d}" + (f".{fraction}" if fraction else "")
    if zone:
        iso += zone
    return iso


def _read(text: str) -> tuple[datetime | None, str | None]:
    """The cell as a (possibly naive) datetime and whether it had a time, or a problem."""
    key = fold(text)
    for candidate in (key, _iso(key)):
        if candidate is None:
            continue
        try:
            value = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            return None, f"year {value.year} is outside {FIRST_YEAR}-{LAST_YEAR} (a typo?)"
        return value, None
    if _SPELLED.fullmatch(key) is not None:
        return None, "is not a real date or time (check the month, day and hour)"
    return None, None


@functools.lru_cache(maxsize=65_536)
def parse_date(text: str) -> tuple[date | None, str | None]:
    """A calendar date; blank is ``(None, None)``. A spreadsheet date cell
    (``2025-01-06T00:00:00``) is a date; another time of day is refused.

    Examples
    --------
    >>> [parse_date(t)[0].isoformat() for t in ("2025/1/6", "２０２５年1月6日", "20250106")]
    ['2025-01-06', '2025-01-06', '2025-01-06']
    >>> parse_date("2025-02-30")
    (None, 'is not a real date or time (check the month, day and hour)')
    >>> parse_date("6/1/2025")[1].startswith("is not a date")
    True
    """
    if not fold(text):
        return None, None
    value, problem = _read(text)
    if problem is not None:
        return None, problem
    if value is None:
        return None, f"is not a date; write it {DATE_FORMATS}"
    if value.timetz() != time(0) or value.tzinfo is not None:
        return None, "has a time of day or a time zone; give the date alone"
    return value.date(), None


@functools.lru_cache(maxsize=65_536)
def parse_time(text: str, zone: tzinfo) -> tuple[datetime | None, str | None]:
    """A moment: ``zone`` is attached to a time written without a UTC offset, and a date
    alone is midnight in ``zone``. Blank is ``(None, None)``.

    Examples
    --------
    >>> from providers.evaluations import CHINA_TZ
    >>> parse_time("2026/3/1 9:30", CHINA_TZ)[0].isoformat()
    '2026-03-01T09:30:00+08:00'
    >>> parse_time("2026-03-01", CHINA_TZ)[0].isoformat()
    '2026-03-01T00:00:00+08:00'
    >>> parse_time("2026-03-01T01:30:00Z", CHINA_TZ)[0].isoformat()
    '2026-03-01T01:30:00+00:00'
    """
    if not fold(text):
        return None, None
    value, problem = _read(text)
    if problem is not None:
        return None, problem
    if value is None:
        return None, f"is not a date or time; write {TIME_FORMATS}"
    return (value if value.tzinfo is not None else value.replace(tzinfo=zone)), None
