"""Registry import: read files, validate and locate rows, store the good ones, explain the
rest (see ``jzmap ingest``)."""

from ingest.pipeline import (
    Ingester,
    IngestOptions,
    IngestReport,
    RowWarning,
    write_rejects,
    write_report,
)
from ingest.readers import UnreadableFileError

__all__ = [
    "IngestOptions",
    "IngestReport",
    "Ingester",
    "RowWarning",
    "UnreadableFileError",
    "write_rejects",
    "write_report",
]
