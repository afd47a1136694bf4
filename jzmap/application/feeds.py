"""File imports of the practitioners register and the evaluations feed, wired to the stores.

What ``jzmap ingest --kind practitioners|evaluations`` and ``POST /v1/admin/imports`` with
those kinds run. Every file is read and its headers checked first (:mod:`ingest.feeds`), so
a file that cannot be processed at all stops the import before anything is written. Rows
become domain records (:mod:`ingest.practitioners`, :mod:`ingest.evaluations`); those that
pass go to the very functions the JSON admin endpoints use —
:func:`jzmap.application.practitioners.load_practitioners` and
:func:`jzmap.application.grades.apply_evaluations` — and their per-item outcomes are mapped
back to file and line. Every row ends up stored (inserted, updated or unchanged) or rejected
with its column and reason.

*One call per import.* A practitioners load recounts every company it names once it has
stored the records; a file loaded in batches would recount a big company once per batch
(a register listed by district names most companies in every batch: quadratic in the
file). So the whole import is one registry upsert (one transaction: it lands whole or not
at all, like a provider import), one recount and, given the grade book, one read of the
evaluated practitioners' baselines: those whose official stars in the file differ are
rebaselined, the audit cause naming the file (``"official:<file>"``). Evaluations are
recorded one subject at a time (the grade book's transaction), and recording is
idempotent by id, so an import that fails half-way is simply run again.

*Dry run* reads and checks the files only: whether a company exists, or a certificate code
is held by someone else, is known only when storing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ingest.evaluations import REQUIRED as EVALUATION_COLUMNS
from ingest.evaluations import SYNONYMS as EVALUATION_SYNONYMS
from ingest.evaluations import parse_evaluations
from ingest.feeds import FeedKind, FeedReport, FeedRows, Seen, cells_of, read_feed, row_reader
from ingest.headers import HeaderMap
from ingest.pipeline import Reject
from ingest.practitioners import REQUIRED as PRACTITIONER_COLUMNS
from ingest.practitioners import SYNONYMS as PRACTITIONER_SYNONYMS
from ingest.practitioners import parse_practitioners, scrub_reason
from ingest.readers import Table
from ingest.records import Problem
from jzmap.application.grades import apply_evaluations
from jzmap.application.practitioners import load_practitioners
from providers.evaluations import Evaluation
from providers.gradebook import GradeBook, Outcome, evaluation_type, grade_text
from providers.practitioners import Practitioner
from providers.registry import PractitionerRegistry, UpsertOutcome
from providers.store import ProviderStore

_SPECS = {
    FeedKind.PRACTITIONERS: (PRACTITIONER_SYNONYMS, PRACTITIONER_COLUMNS),
    FeedKind.EVALUATIONS: (EVALUATION_SYNONYMS, EVALUATION_COLUMNS),
}


@dataclass(frozen=True)
class FeedOptions:
    kind: FeedKind
    encoding: str | None = None
    sheet: str | None = None
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class _Origin:
    """Where a parsed item came from, to explain what the store said about it."""

    file: str
    line: int
    table: Table
    index: int
    labels: dict[str, str]


def run_feed(
    paths: Sequence[Path],
    options: FeedOptions,
    *,
    providers: ProviderStore | None,
    registry: PractitionerRegistry | None = None,
    gradebook: GradeBook | None = None,
    baseline_since: datetime | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> FeedReport:
    """Import ``paths`` (or only check them: ``options.dry_run`` or no ``providers``).

    Practitioners need ``registry``; with ``gradebook`` too, evaluated practitioners whose
    official stars changed are rebaselined from ``now`` (default: now), the audit cause
    naming the file (``"official:<file>"``, see :mod:`jzmap.application.practitioners`), and the
    report's ``rebaselined`` counts them. Evaluations need ``gradebook`` and
    ``baseline_since`` (``JZMAP_GRADES_BASELINE_SINCE``), and ``registry`` for
    practitioner subjects (they must be registered; their stars are the baseline;
    blacklistings are written back).

    Raises
    ------
    UnreadableFileError
        When a file cannot be processed at all; nothing is written then.
    """
    synonyms, required = _SPECS[options.kind]
    report = FeedReport(files=[str(p) for p in paths], dry_run=options.dry_run, kind=options.kind)
    loaded: list[tuple[Path, Table, HeaderMap]] = []
    for path in paths:
        table, header = read_feed(
            path,
            options.kind,
            synonyms,
            required,
            encoding=options.encoding,
            sheet=options.sheet,
        )
        loaded.append((path, table, header))
        if table.encoding:
            report.encodings[path.name] = table.encoding
        if header.extras:
            report.ignored_columns[path.name] = list(header.extras)

    total = sum(len(table.records) for _, table, _ in loaded)
    done = 0

    def on_rows(rows: int) -> None:
        nonlocal done
        done += rows
        if on_progress is not None:
            on_progress(done, total)

    seen = Seen()
    items: list[Any] = []
    origins: list[_Origin] = []
    for path, table, header in loaded:
        parse = parse_practitioners if options.kind is FeedKind.PRACTITIONERS else parse_evaluations
        rows: FeedRows[Any] = parse(table, header, path.name, seen, on_rows)
        report.rows_read += len(table.records)
        report.rejects.extend(rows.rejects)
        labels = dict(row_reader(table, header, synonyms).labels)  # one per file, shared
        items.extend(rows.items)
        origins.extend(
            _Origin(path.name, line, table, index, labels)
            for line, index in zip(rows.lines, rows.indexes, strict=True)
        )
    if options.dry_run or providers is None:
        report.accepted = len(items)
    elif options.kind is FeedKind.PRACTITIONERS:
        if registry is None:
            raise ValueError("a practitioners import needs the registry")
        _store_practitioners(
            report,
            items,
            origins,
            registry=registry,
            providers=providers,
            gradebook=gradebook,
            now=now,
        )
    else:
        if gradebook is None or baseline_since is None:
            raise ValueError("an evaluations import needs the grade book and baseline_since")
        _store_evaluations(
            report,
            items,
            origins,
            gradebook=gradebook,
            providers=providers,
            baseline_since=baseline_since,
            registry=registry,
        )
    order = {str(p.name): n for n, p in enumerate(paths)}
    report.rejects.sort(key=lambda r: (order.get(r.file, 0), r.line))
    report.rejected = len(report.rejects)
    return report


def _store_practitioners(
    report: FeedReport,
    items: list[Practitioner],
    origins: list[_Origin],
    *,
    registry: PractitionerRegistry,
    providers: ProviderStore,
    gradebook: GradeBook | None,
    now: datetime | None,
) -> None:
    loaded = load_practitioners(
        registry,
        providers,
        items,
        gradebook=gradebook,
        now=now,
        sources=[origin.file for origin in origins],
    )
    for item, practitioner, origin in zip(loaded.items, items, origins, strict=True):
        if item.outcome is UpsertOutcome.REJECTED:
            problems = []
            for reason in item.reasons:
                column = _practitioner_column(reason, origin.labels)
                problems.append(Problem(column, scrub_reason(reason, column, practitioner)))
            report.rejects.append(_reject(origin, problems))
            continue
        report.accepted += 1
        if item.outcome is UpsertOutcome.INSERTED:
            report.inserted += 1
        elif item.outcome is UpsertOutcome.UPDATED:
            report.updated += 1
        else:
            report.unchanged += 1
    report.providers_updated = list(loaded.providers_updated)
    report.counted_on = loaded.counted_on
    report.rebaselined = len(loaded.rebaselined)


def _store_evaluations(
    report: FeedReport,
    items: list[Evaluation],
    origins: list[_Origin],
    *,
    gradebook: GradeBook,
    providers: ProviderStore,
    baseline_since: datetime,
    registry: PractitionerRegistry | None,
) -> None:
    applied = apply_evaluations(
        gradebook, providers, items, baseline_since=baseline_since, registry=registry
    )
    for item, evaluation, origin in zip(applied.items, items, origins, strict=True):
        if item.outcome is Outcome.REJECTED:
            problems = [Problem(_evaluation_column(r, origin.labels), r) for r in item.reasons]
            report.rejects.append(_reject(origin, problems))
            continue
        report.accepted += 1
        report.by_type[evaluation_type(evaluation)] += 1
        if item.outcome is Outcome.ACCEPTED:
            report.inserted += 1
        else:
            report.unchanged += 1
    report.grade_changes = [
        {
            "subject": {"kind": c.subject.kind.value, "id": c.subject.id},
            "at": c.at.isoformat(),
            "cause": list(c.cause),
            "grade_before": grade_text(c.grade_before),
            "grade_after": grade_text(c.grade_after),
            "score_before": c.score_before,
            "score_after": c.score_after,
            "blacklisted": c.blacklisted,
        }
        for c in applied.changes
    ]
    report.providers_updated = list(applied.providers_updated)
    report.blacklisted = list(applied.blacklisted)


def _reject(origin: _Origin, problems: list[Problem]) -> Reject:
    return Reject(origin.file, origin.line, tuple(problems), cells_of(origin.table, origin.index))


def _practitioner_column(reason: str, labels: dict[str, str]) -> str:
    """The column a reason from the registry or the company check is about."""
    if reason.startswith("company_id"):
        return labels["company"]
    if reason.startswith("certificate code"):
        return labels["certificate_code"]
    return labels["id"] if reason.startswith("id ") else "row"


def _evaluation_column(reason: str, labels: dict[str, str]) -> str:
    """The column a reason from the grade book or the subject check is about."""
    return labels["id"] if reason.startswith("id ") else labels["subject"]
