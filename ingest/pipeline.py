"""Load registry files into a store: every row ends up stored or in the rejects report."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from geo.crs import CRS
from ingest.readers import SourceRow, read_rows
from ingest.records import Problem, row_to_provider
from providers.model import Provider
from providers.store import ProviderStore, UpsertCounts


@dataclass(frozen=True, slots=True)
class Reject:
    file: str
    line: int
    problems: tuple[Problem, ...]
    cells: dict[str, str]


@dataclass(slots=True)
class IngestReport:
    """What an import did; ``rows_read == stored + rejected`` always holds."""

    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    dry_run: bool = False
    rejects: list[Reject] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def summary(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("rejects")
        data["stored"] = self.stored
        return data


def ingest_files(
    paths: Sequence[Path],
    store: ProviderStore,
    *,
    default_crs: CRS | None = None,
    dry_run: bool = False,
) -> IngestReport:
    """Validate every row of ``paths`` and upsert the valid ones in one transaction.

    Parameters
    ----------
    paths
        CSV or GeoJSON files with the canonical English headers (see the README).
    store
        Where valid rows go; untouched when ``dry_run``.
    default_crs
        CRS of rows that have no ``crs`` column value (default WGS-84).

    Returns
    -------
    IngestReport
        Counts and every rejected row with its line and reasons.
    """
    report = IngestReport(files=[str(p) for p in paths], dry_run=dry_run)
    accepted: list[Provider] = []
    for path in paths:
        for row in read_rows(path):
            report.rows_read += 1
            result = row_to_provider(row.cells, default_crs)
            if isinstance(result, Provider):
                accepted.append(result)
            else:
                report.rejects.append(_reject(path, row, result))
    report.rejected = len(report.rejects)
    if dry_run:
        report.inserted = len(accepted)  # would be stored; a dry run cannot tell new from old
        return report
    counts: UpsertCounts = store.upsert(accepted)
    report.inserted, report.updated, report.unchanged = (
        counts.inserted,
        counts.updated,
        counts.unchanged,
    )
    return report


def _reject(path: Path, row: SourceRow, problems: list[Problem]) -> Reject:
    return Reject(file=path.name, line=row.line, problems=tuple(problems), cells=row.cells)


def write_rejects(report: IngestReport, path: Path) -> None:
    """Rejected rows as CSV (UTF-8 with BOM, so Excel opens it): the original cells first,
    then the file, line, columns and reasons."""
    columns: list[str] = []
    for reject in report.rejects:
        columns.extend(c for c in reject.cells if c not in columns)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([*columns, "_file", "_line", "_columns", "_reasons"])
        for reject in report.rejects:
            writer.writerow(
                [
                    *(reject.cells.get(c, "") for c in columns),
                    reject.file,
                    reject.line,
                    " | ".join(p.column for p in reject.problems),
                    " | ".join(p.reason for p in reject.problems),
                ]
            )


def write_report(report: IngestReport, path: Path) -> None:
    path.write_text(json.dumps(report.summary(), ensure_ascii=False, indent=2), encoding="utf-8")
