"""Registry import: read files, validate rows, store the good ones, explain the rest."""

from ingest.pipeline import IngestReport, ingest_files, write_rejects, write_report
from ingest.readers import UnreadableFileError

__all__ = ["IngestReport", "UnreadableFileError", "ingest_files", "write_rejects", "write_report"]
