"""Practitioner register files to :class:`~providers.practitioners.Practitioner` records.

Columns (headers matched after :func:`ingest.headers.normalise_header`: case, spaces,
full-width forms and bracketed units do not matter; unknown columns are ignored and
listed in the report):

============================  ===========================================================
field                         headers understood
============================  ===========================================================
id (required)                 编号, 人员编号, 从业人员编号, id, practitioner_id
name (required)               姓名, name
ID number (required)          身份证号, 身份证号码, 证件号码, 公民身份号码, id_number
phone                         联系电话, 手机, 手机号, 手机号码, 电话, phone
company                       所属企业, 所属企业统一社会信用代码, 企业信用代码,
                              企业统一社会信用代码, company, company_id — a credit code or
                              a company id ``co-…``; blank for a freelancer
stars                         星级, 信用星级, stars — 5, ５, 5星, 五星, ★★★★★ … 1; blank: none
each check *C*                *C*, *C*状态, ``<check>``, ``<check>_status`` — 通过/已通过/
                              合格/passed, 未通过/不合格/failed, 缺失/无/未提供/missing or blank
  its evidence date           *C*日期, ``<check>_on``, ``<check>_date``
  its expiry                  *C*有效期至, *C*有效期, *C*到期日, *C*到期日期,
                              ``<check>_expires_on`` — required when a 健康证 is passed
certificate code              证书编号, 安心服务证编号, 安心服务证号, certificate_code
certificate issued / revoked  发证日期, 证书发证日期, certificate_issued_on / 吊销日期,
                              证书吊销日期, certificate_revoked_on
blacklisting                  黑名单日期, 列入黑名单日期, blacklisted_on; 黑名单原因,
                              blacklist_reason; 黑名单依据, blacklist_cause (evaluation ids)
home                          住址, 家庭住址, 居住地址, home_address; 住址经度, home_lon and
                              住址纬度, home_lat (WGS-84)
============================  ===========================================================

The checks *C* are 实名认证 (``real_name``), 岗前培训考核 (``pre_job_training``),
无犯罪记录证明 (``no_criminal_record``), 健康证 (``health_certificate``) and 职业培训证书
(``vocational_certificate``): ``健康证``, ``健康证日期``, ``健康证有效期至`` say one check.
Dates are year first (:mod:`ingest.dates`); ID numbers and certificate codes are folded
(full-width forms, spaces, lower-case ``x``) before they are checked.

Privacy: a row is private. Reasons name the column, never a cell of the row, and
:func:`scrub` replaces any reason that would still contain one of the row's personal
values (a name typed into the certificate-code column, say) — console lines and the JSON
report carry reasons only.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ingest.dates import parse_date
from ingest.feeds import (
    FeedRows,
    ProgressCallback,
    Seen,
    cells_of,
    parse_company,
    parse_stars,
    row_reader,
)
from ingest.headers import HeaderMap
from ingest.limits import PRACTITIONER_CHARS, cell_problems, clean_rows, column_limits, shortened
from ingest.pipeline import Reject
from ingest.readers import Table
from ingest.readers import cells_of as record_cells
from ingest.records import Problem
from ingest.values import fold
from providers.practitioners import (
    Blacklisting,
    Check,
    CheckRecord,
    CheckStatus,
    InvalidPractitionerError,
    Practitioner,
)


def _check_synonyms() -> dict[str, tuple[str, ...]]:
    """Three columns per check: its status, the date of its evidence, its expiry."""
    words: dict[str, tuple[str, ...]] = {}
    for check in Check:
        zh, en = check.label_zh, check.value
        words[en] = (zh, f"{zh}状态", en, f"{en}_status")
        words[f"{en}_on"] = (f"{zh}日期", f"{en}_on", f"{en}_date")
        words[f"{en}_expires_on"] = (
            *(f"{zh}{end}" for end in ("有效期至", "有效期", "到期日", "到期日期")),
            f"{en}_expires_on",
        )
    return words


SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("编号", "人员编号", "从业人员编号", "id", "practitioner_id"),
    "name": ("姓名", "name"),
    "id_number": ("身份证号", "身份证号码", "证件号码", "公民身份号码", "id_number"),
    "phone": ("联系电话", "手机", "手机号", "手机号码", "电话", "phone"),
    "company": (
        "所属企业",
        "所属企业统一社会信用代码",
        "企业信用代码",
        "企业统一社会信用代码",
        "company",
        "company_id",
    ),
    "stars": ("星级", "信用星级", "stars"),
    **_check_synonyms(),
    "certificate_code": ("证书编号", "安心服务证编号", "安心服务证号", "certificate_code"),
    "certificate_issued_on": ("发证日期", "证书发证日期", "certificate_issued_on"),
    "certificate_revoked_on": ("吊销日期", "证书吊销日期", "certificate_revoked_on"),
    "blacklisted_on": ("黑名单日期", "列入黑名单日期", "blacklisted_on"),
    "blacklist_reason": ("黑名单原因", "blacklist_reason"),
    "blacklist_cause": ("黑名单依据", "blacklist_cause"),
    "home_address": ("住址", "家庭住址", "居住地址", "home_address"),
    "home_lon": ("住址经度", "home_lon"),
    "home_lat": ("住址纬度", "home_lat"),
}
REQUIRED = ("id", "name", "id_number")
PERSONAL_FIELDS = ("name", "id_number", "phone", "home_address")

CHECK_STATUS_WORDS: dict[str, CheckStatus] = {
    **dict.fromkeys(("通过", "已通过", "合格", "已认证", "有效", "passed", "pass"),
                    CheckStatus.PASSED),
    **dict.fromkeys(("未通过", "不通过", "不合格", "失败", "failed", "fail"), CheckStatus.FAILED),
    **dict.fromkeys(("缺失", "无", "未提供", "未认证", "missing", "none"), CheckStatus.MISSING),
}  # fmt: skip
_CAUSE_SPLIT = re.compile(r"[、,，;；\s]+")
_WITHHELD = "the value is not repeated here: it matches one of the row's personal fields"


@functools.lru_cache(maxsize=1024)
def parse_check_status(text: str) -> tuple[CheckStatus | None, str | None]:
    """A check's status; blank is missing.

    Examples
    --------
    >>> [parse_check_status(t)[0].value for t in ("已通过", "FAILED", " ", "无")]
    ['passed', 'failed', 'missing', 'missing']
    """
    key = "".join(fold(text).lower().split())
    if not key:
        return CheckStatus.MISSING, None
    status = CHECK_STATUS_WORDS.get(key)
    if status is None:
        return None, (
            "is not a check status: 通过/已通过/passed, 未通过/failed, 缺失/无/missing or blank"
        )
    return status, None


def fold_code(text: str) -> str:
    """An ID number or certificate code as typed: full-width forms, spaces and case folded."""
    return "".join(fold(text).split()).upper()


def _number(text: str) -> tuple[float | None, str | None]:
    key = fold(text)
    if not key:
        return None, None
    try:
        value = float(key)
    except ValueError:
        return None, "is not a number"
    return (value, None) if math.isfinite(value) else (None, "is not a finite number")


# Fields whose cells are parsed once per distinct cell of a batch, and their parsers.
_PARSED: dict[str, Callable[[str], tuple[object, str | None]]] = {
    **{c.value: parse_check_status for c in Check},
    **{f"{c.value}_on": parse_date for c in Check},
    **{f"{c.value}_expires_on": parse_date for c in Check},
    "company": parse_company,
    "stars": parse_stars,
    "certificate_issued_on": parse_date,
    "certificate_revoked_on": parse_date,
    "blacklisted_on": parse_date,
    "home_lon": _number,
    "home_lat": _number,
}
# Each check and its three fields (plain strings: an enum's .value costs a lookup a row).
_CHECK_FIELDS = tuple((c, c.value, f"{c.value}_on", f"{c.value}_expires_on") for c in Check)
_MISSING = CheckStatus.MISSING
# Rows parsed together: enough for the per-column work to pay, few enough to bound memory.
BATCH_ROWS = 5_000


def parse_practitioners(
    table: Table,
    header: HeaderMap,
    file: str,
    seen: Seen,
    on_rows: ProgressCallback | None = None,
) -> FeedRows[Practitioner]:
    """Each record as a practitioner, or rejected with every problem it has.

    ``seen`` holds the ids and certificate codes of the import's earlier rows (this file's
    and earlier files'): a row repeating one is rejected, naming the first (the first row
    counts, as in provider imports).

    A quarter of a million rows is a real register, so cells are parsed a column at a
    time over batches of rows, each distinct cell once (dates, statuses, stars and
    companies repeat down a column); what is left per row is building the record, which
    the domain validates.
    """
    rows: FeedRows[Practitioner] = FeedRows()
    labels = row_reader(table, header, SYNONYMS).labels
    limits = column_limits(len(table.headers), header, PRACTITIONER_CHARS)
    for start in range(0, len(table.records), BATCH_ROWS):
        records = table.records[start : start + BATCH_ROWS]
        # Over-long cells and cells no store can keep reject their rows before parsing
        # (the reasons name the column and the limit, never a value).
        unreadable = cell_problems(table.headers, limits, records)
        for i, problems in unreadable.items():
            cells = record_cells(table.headers, shortened(records[i], limits))
            rows.rejects.append(Reject(file, table.lines[start + i], tuple(problems), cells))
        keep = clean_rows(unreadable, len(records))
        batch = _Batch([records[i] for i in keep], header, labels)
        for k, i in enumerate(keep):
            index, line = start + i, table.lines[start + i]
            practitioner, problems = batch.practitioner(k)
            if practitioner is not None:
                problems = _repeats(practitioner, labels, seen, file, line)
            if practitioner is None or problems:
                rows.rejects.append(Reject(file, line, tuple(problems), cells_of(table, index)))
            else:
                rows.items.append(practitioner)
                rows.lines.append(line)
                rows.indexes.append(index)
        if on_rows is not None:
            on_rows(len(records))
    return rows


def _repeats(
    p: Practitioner, labels: Mapping[str, str], seen: Seen, file: str, line: int
) -> list[Problem]:
    """Why ``p`` repeats an earlier row of the import (empty when it does not); else it is
    remembered."""
    if first := seen.first(f"id {p.id}"):
        label = labels["id"]
        return [Problem(label, f"{label}: same practitioner as {first}; keep one of the rows")]
    code = p.certificate_code
    if code is not None and (first := seen.first(f"code {code}")):
        label = labels["certificate_code"]
        return [
            Problem(label, f"{label}: same certificate code as {first}; a code names one person")
        ]
    seen.add(f"id {p.id}", file, line)
    if code is not None:
        seen.add(f"code {code}", file, line)
    return []


class _Batch:
    """A batch of records, parsed column by column: each field's values by row, and the
    problems found so far by row (reasons name the column, never the cell)."""

    def __init__(
        self, records: list[list[str]], header: HeaderMap, labels: Mapping[str, str]
    ) -> None:
        self.size = n = len(records)
        self.labels = labels
        self.problems: dict[int, list[Problem]] = {}
        self.cells: dict[str, list[str]] = {
            name: [r[position] for r in records] for name, position in header.fields.items()
        }
        self.values: dict[str, list[Any]] = {}
        for name, parse in _PARSED.items():
            cells = self.cells.get(name)
            if cells is None:
                self.values[name] = [parse("")[0]] * n
                continue
            parsed = {cell: parse(cell) for cell in set(cells)}
            self.values[name] = [parsed[cell][0] for cell in cells]
            bad = {cell: problem for cell, (_, problem) in parsed.items() if problem}
            if bad:
                label = labels[name]
                for i, cell in enumerate(cells):
                    if cell in bad:
                        self.fail(i, label, f"{label} {bad[cell]}")
        self.text = {
            "id": list(map(str.strip, self.column("id"))),
            "name": list(map(str.strip, self.column("name"))),
            "id_number": list(map(fold_code, self.column("id_number"))),
            "phone": list(map(fold, self.column("phone"))),
            "certificate_code": list(map(fold_code, self.column("certificate_code"))),
            "home_address": list(map(str.strip, self.column("home_address"))),
            "blacklist_reason": list(map(str.strip, self.column("blacklist_reason"))),
            "blacklist_cause": self.column("blacklist_cause"),
        }

    def column(self, name: str) -> list[str]:
        return self.cells.get(name) or [""] * self.size

    def fail(self, i: int, column: str, reason: str) -> None:
        self.problems.setdefault(i, []).append(Problem(column, reason))

    def practitioner(self, i: int) -> tuple[Practitioner | None, list[Problem]]:
        """Row ``i`` as a practitioner, or ``None`` and every problem it has."""
        values, text, labels = self.values, self.text, self.labels
        problems = self.problems.get(i, [])
        checks = {
            check: CheckRecord(values[status][i] or _MISSING, values[on][i], values[expires][i])
            for check, status, on, expires in _CHECK_FIELDS
        }
        blacklisted_on, reason = values["blacklisted_on"][i], text["blacklist_reason"][i]
        cause = tuple(c for c in _CAUSE_SPLIT.split(fold(text["blacklist_cause"][i])) if c)
        blacklisting = None
        if blacklisted_on is not None:
            blacklisting = Blacklisting(blacklisted_on, reason, cause)
        elif (reason or cause) and not self.column("blacklisted_on")[i].strip():
            label = labels["blacklisted_on"]
            problems.append(Problem(label, f"a blacklisting needs its date ({label})"))
        id_ = text["id"][i]
        personal = {name: text[name][i] for name in PERSONAL_FIELDS}
        problems.extend(_personal_id_problems(labels["id"], id_, personal))
        try:
            practitioner = Practitioner(
                id=id_,
                company_id=values["company"][i],
                stars=values["stars"][i],
                certificate_code=text["certificate_code"][i] or None,
                certificate_issued_on=values["certificate_issued_on"][i],
                certificate_revoked_on=values["certificate_revoked_on"][i],
                blacklisting=blacklisting,
                home_lon=values["home_lon"][i],
                home_lat=values["home_lat"][i],
                name=personal["name"],
                id_number=personal["id_number"],
                phone=personal["phone"],
                home_address=personal["home_address"],
                real_name=checks[Check.REAL_NAME],
                pre_job_training=checks[Check.PRE_JOB_TRAINING],
                no_criminal_record=checks[Check.NO_CRIMINAL_RECORD],
                health_certificate=checks[Check.HEALTH_CERTIFICATE],
                vocational_certificate=checks[Check.VOCATIONAL_CERTIFICATE],
            )
        except InvalidPractitionerError as exc:
            failed = {p.column for p in problems}
            for message in str(exc).removeprefix(f"practitioner {id_!r}: ").split("; "):
                field_name = _field_of(message)
                column = labels[field_name] if field_name else "row"
                if column not in failed:  # else the cell's own problem explains it already
                    problems.append(Problem(column, message))
            practitioner = None
        if problems:
            return None, scrub(problems, [self.column(n)[i] for n in PERSONAL_FIELDS])
        return practitioner, []


def _personal_id_problems(label: str, id_: str, personal: Mapping[str, str]) -> Iterator[Problem]:
    """An id carrying a personal value (an ID number used as the id) would put it in
    every report and every reason that names the record."""
    folded = _folded(id_)
    for name, value in personal.items():
        value = _folded(value)
        if len(value) >= 2 and value in folded:
            yield Problem(label, f"{label} must not contain the practitioner's {name}")


def _folded(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


def scrub(problems: list[Problem], personal: Sequence[str]) -> list[Problem]:
    """``problems`` with every reason that contains one of the ``personal`` cells of the
    row (in any case, width or spacing) replaced by one that does not."""
    values = [
        v for cell in personal for v in {_folded(cell), _folded(fold_code(cell))} if len(v) >= 2
    ]
    if not values:
        return problems
    return [
        Problem(p.column, f"{p.column}: {_WITHHELD}")
        if any(v in _folded(p.reason) for v in values)
        else p
        for p in problems
    ]


def scrub_reason(reason: str, column: str, practitioner: Practitioner) -> str:
    """``reason`` (about ``practitioner``'s row, from the registry or the company check),
    or a replacement when it contains one of the practitioner's personal values."""
    folded = _folded(reason)
    for name in PERSONAL_FIELDS:
        value = _folded(str(getattr(practitioner, name)))
        if len(value) >= 2 and value in folded:
            return f"{column}: {_WITHHELD}"
    return reason


# Domain messages (providers.practitioners.practitioner_problems) to the field they are
# about, by how they start.
_CHECK_PREFIXES = {f"{c.label_zh} {c.value}:": c.value for c in Check}


def _field_of(message: str) -> str:
    for prefix, check in _CHECK_PREFIXES.items():
        if message.startswith(prefix):
            if "a missing check" in message:
                return check  # dates given for a check whose status is missing
            if "expir" in message:
                return f"{check}_expires_on"
            if "date of its evidence" in message:
                return f"{check}_on"
            return check
    for start, name in (
        ("id is empty", "id"),
        ("name is empty", "name"),
        ("ID number", "id_number"),
        ("phone", "phone"),
        ("company_id", "company"),
        ("stars", "stars"),
        ("certificate revoked", "certificate_revoked_on"),
        ("certificate issued", "certificate_issued_on"),
        ("certificate", "certificate_code"),
        ("a blacklisting", "blacklist_reason"),
        ("home_lon", "home_lon"),
        ("home_lat", "home_lat"),
        ("home", "home_address"),
    ):
        if message.startswith(start):
            return name
    return ""
