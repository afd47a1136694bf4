"""How ``jzmap`` shows an import: a progress bar for long files, a summary table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeRemainingColumn
from rich.table import Table

from ingest import IngestReport
from ingest.feeds import FeedKind, FeedReport
from jzmap.application.history import ImportDetail
from providers.history import ImportEntry

# Below this many rows an import is over before a bar would be worth drawing.
PROGRESS_FROM_ROWS = 5_000
_err = Console(stderr=True)


@contextmanager
def progress_bar() -> Iterator[Callable[[int, int], None]]:
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=_err,
        transient=True,
    )
    task: list[TaskID] = []

    def update(done: int, total: int) -> None:
        if total < PROGRESS_FROM_ROWS:
            return
        if not task:
            progress.start()
            task.append(progress.add_task("importing rows", total=total))
        progress.update(task[0], completed=done)

    try:
        yield update
    finally:
        if task:
            progress.stop()


def print_report(report: IngestReport) -> None:
    console = Console()
    table = Table(
        title="dry run: nothing stored" if report.dry_run else "import", show_header=False
    )
    for label, value in (
        ("rows read", report.rows_read),
        ("stored" if not report.dry_run else "would store", report.stored),
        ("  inserted", report.inserted),
        ("  updated", report.updated),
        ("  unchanged", report.unchanged),
        ("deactivated", report.deactivated),
        ("rejected", report.rejected),
        ("  kept active", len(report.kept)),
        # What the grade book and the practitioners registry kept (see jzmap.application.imports).
        ("dynamic grades kept", report.grades_kept),
        ("derived counts kept", report.counts_derived),
        ("new official grades", report.rebaselined),
        ("warnings", len(report.warnings)),
        ("precision", _counts(report.precision)),
        ("geocoder", _counts(report.geocoder)),
        ("by category", _counts(report.by_category)),
        ("by district", _counts(report.by_district)),
        ("encodings", ", ".join(f"{k}: {v}" for k, v in report.encodings.items()) or "-"),
    ):
        if report.dry_run and not report.compared and label.startswith("  "):
            continue
        table.add_row(label, str(value))
    console.print(table)
    if report.changed_nothing and report.rows_read:
        console.print("nothing changed: every stored row was already up to date")
    if report.import_id is not None:
        console.print(
            f"recorded as import {report.import_id} "
            f"(`jzmap imports show {report.import_id}`, `jzmap imports undo {report.import_id}`)"
        )
    _print_rows(report)
    _print_kept_and_changes(report)


def _print_kept_and_changes(report: IngestReport, shown: int = 50) -> None:
    """The providers kept active despite a rejected row, and a dry run's diff."""
    console = Console()
    for k in report.kept[:shown]:
        console.print(
            f"kept {k.id} active (its last good version): {k.file}:{k.line} was rejected: "
            f"{k.reason}",
            markup=False,
        )
    if len(report.kept) > shown:
        console.print(f"… and {len(report.kept) - shown} more kept (see --report)")
    if not report.compared:
        return
    for change in report.changes[:shown]:
        fields = change.get("fields") or []
        names = ", ".join(str(f) for f in fields) if isinstance(fields, list) else ""
        detail = f" ({names})" if change["action"] == "updated" else ""
        console.print(f"would be {change['action']}: {change['id']}{detail}", markup=False)
    if len(report.changes) > shown:
        console.print(f"… and {len(report.changes) - shown} more changes (see --report)")


def print_feed_report(report: FeedReport) -> None:
    """A practitioner or evaluation import: the provider report's counts, and what the
    feed changed besides. Rejected rows are shown by line and reasons only (which never
    quote a practitioner's personal values)."""
    console = Console()
    what = "practitioners" if report.kind is FeedKind.PRACTITIONERS else "evaluations"
    table = Table(
        title=f"dry run ({what}): nothing stored" if report.dry_run else f"import ({what})",
        show_header=False,
    )
    rows: list[tuple[str, object]] = [
        ("rows read", report.rows_read),
        ("stored" if not report.dry_run else "would store", report.stored),
        ("  inserted" if report.kind is FeedKind.PRACTITIONERS else "  recorded", report.inserted),
        ("  updated", report.updated),
        ("  unchanged", report.unchanged),
        ("rejected", report.rejected),
    ]
    if report.kind is FeedKind.EVALUATIONS:
        rows += [
            ("by type", _counts(report.by_type)),
            ("grade changes", len(report.grade_changes)),
            ("blacklisted", ", ".join(report.blacklisted) or "-"),
        ]
    elif report.counted_on is not None:
        rows.append(("counted on", report.counted_on.isoformat()))
        rows.append(("new official ratings", report.rebaselined))
    rows += [
        ("providers updated", len(report.providers_updated)),
        ("encodings", ", ".join(f"{k}: {v}" for k, v in report.encodings.items()) or "-"),
    ]
    for label, value in rows:
        if report.dry_run and (label.startswith("  ") or label == "providers updated"):
            continue
        table.add_row(label, str(value))
    console.print(table)
    for file, columns in report.ignored_columns.items():
        _err.print(f"{file}: columns ignored (not understood): {', '.join(columns)}", markup=False)
    if report.changed_nothing and report.rows_read:
        console.print("nothing changed: every stored row was already up to date")
    _print_rows(report)


def _print_rows(report: IngestReport) -> None:
    for reject in report.rejects[:20]:
        reasons = "; ".join(p.reason for p in reject.problems)
        _err.print(f"rejected {reject.file}:{reject.line}: {reasons}", markup=False)
    if len(report.rejects) > 20:
        _err.print(f"… and {len(report.rejects) - 20} more rejected rows (see --rejects)")
    for w in report.warnings[:10]:
        _err.print(f"warning {w.file}:{w.line} [{w.column}]: {w.message}", markup=False)


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=lambda kv: -kv[1])) or "-"


def print_imports(entries: list[ImportEntry]) -> None:
    """``jzmap imports list``: one line per import, newest first."""
    table = Table("id", "time", "mode", "source", "files", "changes", "undo")
    for e in entries:
        c = e.counts
        changes = ", ".join(
            f"{k} {c[k]}"
            for k in ("inserted", "updated", "deactivated", "deleted", "kept", "rejected")
            if c.get(k)
        )
        undo = (
            f"undoes {e.undo_of}"
            if e.undo_of is not None
            else (f"undone by {e.undone_by}" if e.undone_by is not None else "")
        )
        files = ", ".join(f"{f.name} ({f.sha256[:12]})" for f in e.files)
        at = e.at.isoformat(timespec="seconds")
        table.add_row(str(e.id), at, e.mode, e.source or "", files, changes or "-", undo)
    Console().print(table)
    if not entries:
        Console().print("no imports recorded yet")


def print_import_detail(detail: ImportDetail) -> None:
    """``jzmap imports show``: the import, then what it did to each provider."""
    console = Console()
    e = detail.entry
    console.print(f"import {e.id}: {e.mode} of {e.source or '-'} at {e.at.isoformat()}")
    for f in e.files:
        console.print(f"  file {f.name} sha256 {f.sha256}", markup=False)
    console.print("  counts " + ", ".join(f"{k} {v}" for k, v in sorted(e.counts.items())))
    if e.undo_of is not None:
        console.print(f"  undoes import {e.undo_of}")
    if e.undone_by is not None:
        console.print(f"  undone by import {e.undone_by}")
    for change in detail.changes:
        line = f"{change.action.value:<12}{change.provider_id}"
        if change.fields and change.before is not None:
            was = ", ".join(f"{f} was {getattr(change.before, f, '?')!r}" for f in change.fields)
            line += f"  {was}"
        console.print(line, markup=False)
    if detail.total > len(detail.changes):
        console.print(f"({len(detail.changes)} of {detail.total} changes: use --offset/--limit)")
