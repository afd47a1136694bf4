"""Residents' problem reports about a provider's listing: what a report is, how its text is
cleaned, and the contract every store of them implements (:class:`ProblemReportStore`).

A report says that a listing looks wrong (the phone, the provider closed or moved, or
something else, in a short free text) so that an operator checks it. It keeps only what the
resident typed and when: no address, no device, no account (a report is public and
anonymous). Operators list them and mark them resolved.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

MAX_REPORT_TEXT = 300
"""Characters of free text a report keeps; more is cut (a report is a pointer, not a case)."""
MAX_RESOLUTION_NOTE = 500
MAX_REPORTS_PAGE = 500


class ReportKind(StrEnum):
    """What looks wrong."""

    WRONG_PHONE = "wrong_phone"
    CLOSED = "closed"
    MOVED = "moved"
    OTHER = "other"


class ReportStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class ProblemReport:
    """A stored report.

    Attributes
    ----------
    id
        Given by the store, increasing.
    provider_id
        The listing it is about.
    kind
        What looks wrong.
    text
        What the resident typed, cleaned (:func:`clean_report_text`); may be empty.
    created_at, resolved_at
        Timezone-aware; ``resolved_at`` ``None`` while open.
    note
        The operator's note on resolving (never shown to residents).
    """

    id: int
    provider_id: str
    kind: ReportKind
    text: str
    created_at: datetime
    status: ReportStatus = ReportStatus.OPEN
    resolved_at: datetime | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """Which reports to list: each filter ``None`` for all; a page by ``offset``/``limit``,
    newest first."""

    provider_id: str | None = None
    kind: ReportKind | None = None
    status: ReportStatus | None = None
    offset: int = 0
    limit: int = 100


@dataclass(frozen=True, slots=True)
class ReportPage:
    """One page of reports and how many match in all."""

    reports: Sequence[ProblemReport]
    total: int


_CONTROL = re.compile(r"[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")


def clean_report_text(text: str | None, limit: int = MAX_REPORT_TEXT) -> str:
    """``text`` as stored: NFC, control and bidirectional-override characters dropped (they
    would reorder what an operator reads), runs of white space one space, cut to ``limit``
    characters.

    Examples
    --------
    >>> clean_report_text("  电话\\n打不通\\u202e ")
    '电话 打不通'
    >>> len(clean_report_text("号" * 1000))
    300
    >>> clean_report_text(None)
    ''
    """
    if not text:
        return ""
    cleaned = unicodedata.normalize("NFC", text)
    cleaned = _SPACES.sub(" ", _CONTROL.sub(" ", cleaned)).strip()
    return cleaned[:limit].rstrip()


class ProblemReportStore(Protocol):
    """Where problem reports live (the embedded and the PostGIS backends)."""

    def add(self, provider_id: str, kind: ReportKind, text: str, at: datetime) -> ProblemReport:
        """Store a new open report (``text`` already cleaned); the stored report."""

    def get(self, report_id: int) -> ProblemReport | None: ...

    def list(self, query: ReportQuery) -> ReportPage:
        """The reports ``query`` selects, newest first, and how many match."""

    def resolve(self, report_id: int, at: datetime, note: str) -> ProblemReport | None:
        """Mark a report resolved at ``at`` with ``note``; ``None`` when there is no such
        report. Resolving a resolved report replaces its time and note."""

    def delete_all(self) -> int:
        """Forget every report (tests; a reset); how many there were."""

    def close(self) -> None:
        """Release what the store holds of its own."""
