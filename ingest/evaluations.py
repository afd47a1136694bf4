"""Evaluation log files to :mod:`providers.evaluations` records: reviews, complaints and
order follow-up visits, one per row.

Columns (headers matched after :func:`ingest.headers.normalise_header`; unknown columns
are ignored and listed in the report):

=====================  ===================================================================
field                  headers understood — values
=====================  ===================================================================
id (required)          编号, 评价编号, 记录编号, id — unique across the whole feed
type (required)        类型, 评价类型, 记录类型, type — 评价/好评/中评/差评/review,
                       投诉/complaint, 回访/订单回访/visit
subject kind           对象类型, 评价对象类型, subject_kind — 企业/公司/company (also when
                       blank), 从业人员/家政员/家政服务人员/practitioner
subject (required)     对象编号, 评价对象编号, 对象, subject_id, subject — a company's credit
                       code or id ``co-…``; a practitioner's registry id
time (required)        时间, 日期, 评价时间, 投诉时间, 回访时间, at, filed_at — when a review
                       was given, a complaint filed, a visit made
stars (reviews)        星级, 评分, stars — 1 to 5 (5, ５, 5星, 五星, ★★★★★)
severity (complaints)  严重程度, 投诉等级, severity — 轻微/slight, 一般/minor,
                       较重/fairly_serious, 严重/serious, 特别严重/重大/grave
status (complaints)    状态, 处理状态, status — 已受理/处理中/filed (also when blank),
                       属实/查实/verified, 不属实/驳回/rejected
resolved (complaints)  处理时间, 办结时间, 核实时间, resolved_at — required once verified or
                       rejected
outcome (visits)       回访结果, outcome — 满意/satisfied, 一般/基本满意/neutral,
                       不满意/dissatisfied, 未接通/联系不上/unreachable
text                   内容, 评价内容, 投诉内容, text; 备注, note — both kept (joined by a
                       line break) as the review's or complaint's text, the visit's note
=====================  ===================================================================

Severity words follow :attr:`providers.evaluations.Severity.label_zh`, one level each (轻微,
一般, 较重, 严重, 特别严重): 较重, the middle of a three-level scale 一般/较重/严重, is
``fairly_serious`` and deducts without blacklisting. Any other word rejects the row, and
the reason names the accepted words.

**Times.** A time with a UTC offset (``2026-03-01T10:00+08:00``) is taken as written. A
time without one is China Standard Time (:data:`~providers.evaluations.CHINA_TZ`) —
Guangzhou's offices record local time — and a date alone is midnight China time, so
evaluations fall into the calendar month the engine counts them in. See
:mod:`ingest.dates` for the spellings read.

A cell in a column that does not apply to the row's type (stars on a complaint) is a
problem, not ignored: it usually means the type is wrong.

An id appears once in an import, except that a complaint's filed row may be followed by
its resolution (same id, verified or rejected, otherwise the same): both go to the grade
book, which records the resolution in place of the filed version.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from ingest.dates import parse_time
from ingest.feeds import (
    PROGRESS_ROWS,
    FeedRows,
    ProgressCallback,
    Row,
    Seen,
    cells_of,
    parse_company,
    parse_stars,
    row_reader,
)
from ingest.headers import HeaderMap
from ingest.limits import EVALUATION_CHARS, cell_problems, column_limits, shortened
from ingest.pipeline import Reject
from ingest.readers import Table
from ingest.readers import cells_of as record_cells
from ingest.records import Problem
from ingest.values import fold, shown
from providers.evaluations import (
    CHINA_TZ,
    Complaint,
    ComplaintStatus,
    Evaluation,
    FollowUpVisit,
    InvalidEvaluationError,
    Review,
    Severity,
    Subject,
    SubjectKind,
    VisitOutcome,
)
from providers.gradebook import is_resolution

T = TypeVar("T")

SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("编号", "评价编号", "记录编号", "id"),
    "type": ("类型", "评价类型", "记录类型", "type"),
    "subject_kind": ("对象类型", "评价对象类型", "subject_kind"),
    "subject": ("对象编号", "评价对象编号", "对象", "subject_id", "subject"),
    "at": ("时间", "日期", "评价时间", "投诉时间", "回访时间", "at", "filed_at"),
    "stars": ("星级", "评分", "stars"),
    "severity": ("严重程度", "投诉等级", "severity"),
    "status": ("状态", "处理状态", "status"),
    "resolved_at": ("处理时间", "办结时间", "核实时间", "resolved_at"),
    "outcome": ("回访结果", "outcome"),
    "text": ("内容", "评价内容", "投诉内容", "text"),
    "note": ("备注", "note"),
}
REQUIRED = ("id", "type", "subject", "at")

TYPE_WORDS: dict[str, str] = {
    **dict.fromkeys(("评价", "好评", "中评", "差评", "点评", "review"), "review"),
    **dict.fromkeys(("投诉", "complaint"), "complaint"),
    **dict.fromkeys(("回访", "订单回访", "visit"), "visit"),
}
SUBJECT_WORDS: dict[str, SubjectKind] = {
    **dict.fromkeys(("企业", "公司", "company"), SubjectKind.COMPANY),
    **dict.fromkeys(
        ("从业人员", "家政员", "家政服务人员", "practitioner"), SubjectKind.PRACTITIONER
    ),
}
SEVERITY_WORDS: dict[str, Severity] = {
    **dict.fromkeys(("轻微", "slight"), Severity.SLIGHT),
    **dict.fromkeys(("一般", "minor"), Severity.MINOR),
    **dict.fromkeys(("较重", "fairly_serious", "fairlyserious"), Severity.FAIRLY_SERIOUS),
    **dict.fromkeys(("严重", "serious"), Severity.SERIOUS),
    **dict.fromkeys(("特别严重", "重大", "grave"), Severity.GRAVE),
}
STATUS_WORDS: dict[str, ComplaintStatus] = {
    **dict.fromkeys(("已受理", "受理", "处理中", "待处理", "filed"), ComplaintStatus.FILED),
    **dict.fromkeys(("属实", "查实", "已查实", "情况属实", "verified"), ComplaintStatus.VERIFIED),
    **dict.fromkeys(("不属实", "驳回", "已驳回", "rejected"), ComplaintStatus.REJECTED),
}
OUTCOME_WORDS: dict[str, VisitOutcome] = {
    **dict.fromkeys(("满意", "非常满意", "satisfied"), VisitOutcome.SATISFIED),
    **dict.fromkeys(("一般", "基本满意", "neutral"), VisitOutcome.NEUTRAL),
    **dict.fromkeys(("不满意", "非常不满意", "dissatisfied"), VisitOutcome.DISSATISFIED),
    **dict.fromkeys(("未接通", "联系不上", "无法联系", "无人接听", "unreachable"),
                    VisitOutcome.UNREACHABLE),
}  # fmt: skip
# The columns that belong to one type only.
_ONLY_FOR = {
    "stars": "review",
    "severity": "complaint",
    "status": "complaint",
    "resolved_at": "complaint",
    "outcome": "visit",
}


def _words(table: dict[str, T]) -> Callable[[str], tuple[T | None, str | None]]:
    """A memoised parser of a cell holding one of ``table``'s words (case, width and
    spaces folded); blank is ``(None, None)``."""
    known = "、".join(table)

    @functools.lru_cache(maxsize=1024)
    def parse(text: str) -> tuple[T | None, str | None]:
        key = "".join(fold(text).lower().split())
        if not key:
            return None, None
        value = table.get(key)
        return (value, None) if value is not None else (None, f"is not one of {known}")

    return parse


parse_type = _words(TYPE_WORDS)
parse_subject_kind = _words(SUBJECT_WORDS)
parse_severity = _words(SEVERITY_WORDS)
parse_status = _words(STATUS_WORDS)
parse_outcome = _words(OUTCOME_WORDS)


def parse_evaluations(
    table: Table,
    header: HeaderMap,
    file: str,
    seen: Seen,
    on_rows: ProgressCallback | None = None,
) -> FeedRows[Evaluation]:
    """Each record as an evaluation, or rejected with every problem it has.

    ``seen`` holds the ids of the import's earlier rows: a row repeating one is rejected,
    naming the first, unless one of the two is the other's resolution.
    """
    rows: FeedRows[Evaluation] = FeedRows()
    row = row_reader(table, header, SYNONYMS)
    limits = column_limits(len(table.headers), header, EVALUATION_CHARS)
    # Over-long cells and cells no store can keep reject their rows before parsing.
    unreadable = cell_problems(table.headers, limits, table.records)
    for index, (line, record) in enumerate(zip(table.lines, table.records, strict=True)):
        if index in unreadable:
            cells = record_cells(table.headers, shortened(record, limits))
            rows.rejects.append(Reject(file, line, tuple(unreadable[index]), cells))
            if on_rows is not None and (index + 1) % PROGRESS_ROWS == 0:
                on_rows(PROGRESS_ROWS)
            continue
        row.record = record
        evaluation, problems = evaluation_of(row)
        if evaluation is not None:
            problems = _repeats(evaluation, row, seen, file, line)
        if evaluation is None or problems:
            rows.rejects.append(Reject(file, line, tuple(problems), cells_of(table, index)))
        else:
            rows.items.append(evaluation)
            rows.lines.append(line)
            rows.indexes.append(index)
        if on_rows is not None and (index + 1) % PROGRESS_ROWS == 0:
            on_rows(PROGRESS_ROWS)
    if on_rows is not None:
        on_rows(len(table.records) % PROGRESS_ROWS)
    return rows


def _repeats(e: Evaluation, row: Row, seen: Seen, file: str, line: int) -> list[Problem]:
    key = f"id {e.id}"
    first = seen.first(key)
    if first is None:
        seen.add(key, file, line, e)
        return []
    earlier = seen.values[key]
    assert isinstance(earlier, Review | Complaint | FollowUpVisit)
    if is_resolution(earlier, e) or is_resolution(e, earlier):
        return []
    label = row.label("id")
    return [
        Problem(
            label,
            f"{label}: same id as {first}; an id is one evaluation (only a complaint's "
            "resolution may follow its filed row)",
        )
    ]


class _Cells:
    """A row's cells parsed one field at a time, collecting every problem. Evaluation
    rows are not private, so reasons quote the cell (shortened when long)."""

    def __init__(self, row: Row) -> None:
        self.row = row
        self.problems: list[Problem] = []

    def fail(self, name: str, reason: str) -> None:
        label = self.row.label(name)
        self.problems.append(Problem(label, f"{label} {reason}"))

    def blank(self, name: str) -> bool:
        return not fold(self.row(name))

    def take(self, name: str, parse: Callable[[str], tuple[T | None, str | None]]) -> T | None:
        cell = self.row(name)
        value, problem = parse(cell)
        if problem is not None:
            self.fail(name, f"{shown(cell.strip())} {problem}")
        return value

    def required(
        self, name: str, parse: Callable[[str], tuple[T | None, str | None]], empty: str
    ) -> T | None:
        if self.blank(name):
            self.fail(name, f"is empty: {empty}")
            return None
        return self.take(name, parse)


def _parse_at(text: str) -> tuple[datetime | None, str | None]:
    return parse_time(text, CHINA_TZ)


def evaluation_of(row: Row) -> tuple[Evaluation | None, list[Problem]]:
    """The row as an evaluation, or ``None`` and every problem it has."""
    cells = _Cells(row)
    id_ = row("id").strip()
    if not id_:
        cells.fail("id", "is empty")
    kind = cells.required("type", parse_type, "评价 (review), 投诉 (complaint) or 回访 (visit)")
    subject = _subject(cells)
    at = cells.required("at", _parse_at, "when the review was given, complaint filed, visit made")
    for name, only in _ONLY_FOR.items():
        if kind is not None and kind != only and not cells.blank(name):
            cells.fail(name, f"applies to {only}s only; this row is a {kind}")
    text = "\n".join(t for t in (row("text").strip(), row("note").strip()) if t)
    stars = severity = status = resolved = outcome = None
    if kind == "review":
        stars = cells.required("stars", parse_stars, "a review has 1 to 5 stars")
    elif kind == "complaint":
        severity = cells.required("severity", parse_severity, "轻微, 一般, 较重, 严重 or 特别严重")
        status = cells.take("status", parse_status)
        resolved = cells.take("resolved_at", _parse_at)
    elif kind == "visit":
        outcome = cells.required("outcome", parse_outcome, "满意, 一般, 不满意 or 未接通")
    if cells.problems or subject is None or at is None:
        return None, cells.problems
    try:
        if stars is not None:
            return Review(id_, subject, at, int(stars), text), []
        if severity is not None:
            status = status or ComplaintStatus.FILED
            return Complaint(id_, subject, severity, at, status, resolved, text), []
        assert outcome is not None  # the row's type asked for the field it gives
        return FollowUpVisit(id_, subject, at, outcome, text), []
    except InvalidEvaluationError as exc:
        what = "follow-up visit" if kind == "visit" else kind
        for message in str(exc).removeprefix(f"{what} {id_!r}: ").split("; "):
            name = _field_of(message)
            cells.problems.append(Problem(row.label(name) if name else "row", message))
        return None, cells.problems


def _subject(cells: _Cells) -> Subject | None:
    """Whom the row is about: blank kind is a company, as in the admin API."""
    kind = cells.take("subject_kind", parse_subject_kind)
    if kind is None and not cells.blank("subject_kind"):
        return None  # a problem already
    kind = kind or SubjectKind.COMPANY
    if cells.blank("subject"):
        cells.fail("subject", f"is empty: the {kind}'s id")
        return None
    if kind is SubjectKind.PRACTITIONER:
        return Subject.practitioner(cells.row("subject").strip())
    provider_id = cells.take("subject", parse_company)
    return None if provider_id is None else Subject.company(provider_id)


def _field_of(message: str) -> str:
    """The field a domain message (:mod:`providers.evaluations`) is about."""
    if "resolved_at" in message:
        return "resolved_at"
    for start, name in (
        ("id", "id"),
        ("at ", "at"),
        ("filed_at", "at"),
        ("stars", "stars"),
        ("text", "text"),
        ("severity", "severity"),
        ("status", "status"),
        ("outcome", "outcome"),
        ("subject", "subject"),
    ):
        if message.startswith(start):
            return name
    return ""
