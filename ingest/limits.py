"""How long each text cell of an imported file may be, and the row rejects for cells that
are longer or hold what no store can keep.

A registry export is typed by people and produced by other systems: a name pasted a
million times over, or a NUL byte from a broken export, must cost one row, never the whole
file, and must never reach the store (one 5-million-character name made every nearby
``/v1/providers/nearest`` answer weigh 15 MB). Every cell has a limit in characters: the
fields the importer understands have their own (below), every other understood field
(codes, numbers, dates, words) :data:`CODED_CELL_CHARS`, and every column it does not
understand (kept in a provider's ``extra``, or ignored by the feeds)
:data:`FREE_CELL_CHARS`.

The admin JSON batches (``jzmap.presentation.schemas``: practitioners, evaluations) use the
same numbers: a record is held to one limit however it arrives.

A rejected row keeps its cells for the rejects file, an over-long one cut to its limit
and ``…`` (so the file stays small, and loading it back unfixed rejects the row again).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import chain

import numpy as np

from ingest.headers import HeaderMap
from ingest.records import Problem
from providers.evaluations import MAX_TEXT_CHARS

# -- providers (registry rows) ------------------------------------------------------------
NAME_CHARS = 200  # 企业名称: the longest registered names are about 60 characters
ADDRESS_CHARS = 500
DISTRICT_CHARS = 50
STREET_CHARS = 100  # 街道/镇街
COMMUNITY_CHARS = 100  # 社区/村居
OPENING_HOURS_CHARS = 200
PHONE_CHARS = 100  # a cell may list several numbers; the first is kept
STATION_CODE_CHARS = 64
CATEGORIES_CHARS = 200  # several category words

# -- practitioners and evaluations (files and admin JSON) -----------------------------------
ID_CHARS = 100  # a practitioner's registry id, an evaluation's id, a subject's id
PERSON_NAME_CHARS = 100
ID_NUMBER_CHARS = 40  # 18 characters once folded; spaces and full-width forms allowed
PERSON_PHONE_CHARS = 40
CERTIFICATE_CODE_CHARS = 32
HOME_ADDRESS_CHARS = 500
TEXT_CHARS = MAX_TEXT_CHARS  # review and complaint text, visit notes, blacklisting reasons
CAUSE_IDS = 100  # evaluation ids behind one blacklisting

# -- every other cell ---------------------------------------------------------------------
CODED_CELL_CHARS = 100  # an understood field with no limit of its own: a code, number, date
FREE_CELL_CHARS = 1_000  # a column the importer does not understand
HEADER_CHARS = 200  # a header cell; longer, the file is refused (it is not a header row)

PROVIDER_CHARS: dict[str, int] = {
    "name": NAME_CHARS,
    "address": ADDRESS_CHARS,
    "district": DISTRICT_CHARS,
    "street": STREET_CHARS,
    "community": COMMUNITY_CHARS,
    "opening_hours": OPENING_HOURS_CHARS,
    "phone": PHONE_CHARS,
    "station_code": STATION_CODE_CHARS,
    "categories": CATEGORIES_CHARS,
}
PRACTITIONER_CHARS: dict[str, int] = {
    "id": ID_CHARS,
    "name": PERSON_NAME_CHARS,
    "id_number": ID_NUMBER_CHARS,
    "phone": PERSON_PHONE_CHARS,
    "company": ID_CHARS,
    "certificate_code": CERTIFICATE_CODE_CHARS,
    "home_address": HOME_ADDRESS_CHARS,
    "blacklist_reason": TEXT_CHARS,
    "blacklist_cause": TEXT_CHARS,
}
EVALUATION_CHARS: dict[str, int] = {
    "id": ID_CHARS,
    "subject": ID_CHARS,
    "text": TEXT_CHARS,
    "note": TEXT_CHARS,
}

# What no store can keep: NUL (PostgreSQL text refuses it) and lone surrogates (not
# encodable as UTF-8; only a GeoJSON string escape can make one).
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def column_limits(width: int, header: HeaderMap, limits: Mapping[str, int]) -> list[int]:
    """The limit of each of ``width`` columns, in characters."""
    by_position = [FREE_CELL_CHARS] * width
    for name, position in header.fields.items():
        by_position[position] = limits.get(name, CODED_CELL_CHARS)
    return by_position


def cell_problems(
    headers: Sequence[str], limits: Sequence[int], records: Sequence[list[str]]
) -> dict[int, list[Problem]]:
    """Rows (positions in ``records``) with a cell over its column's limit or holding
    what no store can keep, and why, one problem per such cell.

    ``records`` all have ``len(headers)`` cells. One array of the cells' lengths, compared
    with the limits at once; rows are looked at one by one only when they fail.
    """
    n, width = len(records), len(headers)
    if not n:
        return {}
    sizes = np.fromiter(map(len, chain.from_iterable(records)), np.int64, n * width)
    over = sizes.reshape(n, width) > np.asarray(limits, np.int64)
    long_rows = over.any(axis=1)
    strange = np.fromiter(map(bool, map(_UNSTORABLE.search, map("".join, records))), np.bool_, n)
    problems: dict[int, list[Problem]] = {}
    for i in np.flatnonzero(long_rows | strange).tolist():
        found: list[Problem] = []
        for j, cell in enumerate(records[i]):
            column = headers[j].strip() or f"column {j + 1}"
            if over[i, j]:
                found.append(
                    Problem(
                        column,
                        f"{column} has {len(cell):,} characters; at most {limits[j]:,} are allowed",
                    )
                )
            elif (bad := _UNSTORABLE.search(cell)) is not None:
                what = "a NUL character" if bad.group() == "\x00" else "a lone surrogate"
                reason = f"{column} holds {what} ({bad.group()!a}), which cannot be stored"
                found.append(Problem(column, reason))
        problems[i] = found
    return problems


def shortened(record: list[str], limits: Sequence[int]) -> list[str]:
    """``record`` with each cell over its limit cut to it, and ``…`` added."""
    return [
        c if len(c) <= limit else c[:limit] + "…" for c, limit in zip(record, limits, strict=True)
    ]


def clean_rows(problems: Mapping[int, object], n: int) -> list[int]:
    """The positions below ``n`` without an entry in ``problems``, in order."""
    return [i for i in range(n) if i not in problems] if problems else list(range(n))
