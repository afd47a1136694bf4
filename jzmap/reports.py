"""How ``jzmap`` shows an import: a progress bar for long files, a summary table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeRemainingColumn
from rich.table import Table

from ingest import IngestReport

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
        ("warnings", len(report.warnings)),
        ("precision", _counts(report.precision)),
        ("geocoder", _counts(report.geocoder)),
        ("by category", _counts(report.by_category)),
        ("by district", _counts(report.by_district)),
        ("encodings", ", ".join(f"{k}: {v}" for k, v in report.encodings.items()) or "-"),
    ):
        if report.dry_run and label.startswith("  "):
            continue
        table.add_row(label, str(value))
    console.print(table)
    if report.changed_nothing and report.rows_read:
        console.print("nothing changed: every stored row was already up to date")
    for reject in report.rejects[:20]:
        reasons = "; ".join(p.reason for p in reject.problems)
        _err.print(f"rejected {reject.file}:{reject.line}: {reasons}", markup=False)
    if len(report.rejects) > 20:
        _err.print(f"… and {len(report.rejects) - 20} more rejected rows (see --rejects)")
    for w in report.warnings[:10]:
        _err.print(f"warning {w.file}:{w.line} [{w.column}]: {w.message}", markup=False)


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=lambda kv: -kv[1])) or "-"
