"""Backups of a whole backend, and their restore: one file that holds every table.

A backup is one uncompressed tar file whose first member is ``manifest.json`` (which
store made it, when, and its schema version), then the store's own copy of itself:

* embedded: each of the backend's SQLite files (``providers.sqlite``, ``grades.sqlite``,
  ``practitioners.sqlite``, ``embed-origins.sqlite``; :data:`EMBEDDED_FILES`), copied
  with SQLite's online backup API — a consistent copy of each file while the service
  keeps serving and writing;
* PostGIS: ``postgis.dump``, a ``pg_dump`` archive in its custom format of the whole
  database (every table: providers, their history, the grade book, the registry, the
  schema revision), taken in one snapshot.

A restore reads the manifest first and refuses before writing anything when the backup
cannot be restored here: a backup of the other kind of store, a backup of a newer schema
than this program knows, or a target that already holds data (unless told to replace
it). It then writes the copy, migrates it to this program's schema (a backup of an older
schema is upgraded, as ``jzmap db upgrade`` or an embedded file's upgrade steps would)
and raises the store's data version, so that a service that kept running rebuilds its
caches.

Why a PostGIS backup is not restored into the embedded store (nor the reverse): each
backup is the store's own exact copy (pages of SQLite files; a PostgreSQL archive that
only a PostgreSQL server reads back). Moving between the two stores is a conversion of
every table, not a restore; it is not offered, and a restore of the other kind says so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal

from providers.errors import JzmapError

FORMAT = "jzmap-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PG_DUMP_MEMBER = "postgis.dump"
_EMBEDDED_DIR = "embedded/"
_CHUNK = 1 << 20

StoreKind = Literal["embedded", "postgis"]

CROSS_STORE = (
    "a backup is the store's own exact copy (SQLite files for the embedded store, a "
    "PostgreSQL archive only a PostgreSQL server reads back), so a backup of one kind of "
    "store is not restored into the other: that would be a conversion of every table, "
    "which is not offered"
)


class BackupError(JzmapError):
    """A backup cannot be written, or a backup cannot be restored here (and nothing was
    changed)."""

    code = "invalid_request"


@dataclass(frozen=True)
class Manifest:
    """What a backup holds.

    Attributes
    ----------
    store
        ``embedded`` or ``postgis``.
    created_at
        When the backup was taken (UTC, ISO 8601).
    files
        Embedded: file name -> the schema version of its copy.
    schema_revision
        PostGIS: the Alembic revision of the database backed up.
    server_version
        PostGIS: the PostgreSQL server's version (``15.20``).
    """

    store: StoreKind
    created_at: str
    files: dict[str, int] = field(default_factory=dict)
    schema_revision: str | None = None
    server_version: str | None = None

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, **self.__dict__}
        return json.dumps(body, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            body = json.loads(data)
            if body.get("format") != FORMAT:
                raise ValueError("not a jzmap backup")
            if int(body["format_version"]) > FORMAT_VERSION:
                raise BackupError(
                    f"this backup is of format version {body['format_version']}, newer than "
                    f"this program reads ({FORMAT_VERSION}): restore it with a newer jzmap"
                )
            return cls(
                store=body["store"],
                created_at=str(body["created_at"]),
                files={str(k): int(v) for k, v in body.get("files", {}).items()},
                schema_revision=body.get("schema_revision"),
                server_version=body.get("server_version"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"not a jzmap backup (its manifest is unreadable: {exc})") from None


def embedded_files() -> dict[str, int]:
    """The embedded backend's SQLite files -> the schema version this program reads.

    A new file of the embedded backend is added here, so that backups include it.

    Examples
    --------
    >>> for name in sorted(embedded_files()):
    ...     print(name)
    embed-origins.sqlite
    grades.sqlite
    practitioners.sqlite
    problem-reports.sqlite
    providers.sqlite
    """
    from providers.stores import (
        embed_origins_embedded,
        embedded,
        gradebook_embedded,
        problem_reports_embedded,
        registry_embedded,
    )

    return {
        embedded.DB_FILENAME: embedded._SCHEMA_VERSION,
        embed_origins_embedded.DB_FILENAME: embed_origins_embedded._SCHEMA_VERSION,
        gradebook_embedded.DB_FILENAME: gradebook_embedded._SCHEMA_VERSION,
        registry_embedded.DB_FILENAME: registry_embedded._SCHEMA_VERSION,
        problem_reports_embedded.DB_FILENAME: problem_reports_embedded._SCHEMA_VERSION,
    }


EMBEDDED_FILES = tuple(embedded_files())
"""The files an embedded backup holds (and a restore writes)."""


def read_manifest(backup: Path) -> Manifest:
    """The manifest of the backup file ``backup``.

    Raises
    ------
    BackupError
        The file is not a jzmap backup (or is of a newer format).
    """
    try:
        with tarfile.open(backup, "r:") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            return Manifest.from_json(member.read())
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise BackupError(f"{backup.name} is not a jzmap backup ({exc})") from None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextmanager
def _written_atomically(out: Path) -> Iterator[Path]:
    """A temporary path beside ``out``, renamed to ``out`` when the block succeeds; an
    existing ``out`` is refused (a backup is never overwritten by mistake)."""
    if out.exists():
        raise BackupError(f"{out} exists: choose another name (a backup is never overwritten)")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        yield partial
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)


def _write_archive(out: Path, manifest: Manifest, members: Mapping[str, Path]) -> None:
    """The tar file: the manifest first (a restore reads it alone), then ``members``."""
    with tarfile.open(out, "w:", format=tarfile.PAX_FORMAT) as tar:
        data = manifest.to_json()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        info.mtime = int(datetime.now(UTC).timestamp())
        tar.addfile(info, _BytesReader(data))
        for name, path in members.items():
            tar.add(path, arcname=name, recursive=False)


class _BytesReader:
    """A readable of ``data`` (what :meth:`tarfile.TarFile.addfile` reads)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._at + size
        chunk = self._data[self._at : end]
        self._at += len(chunk)
        return chunk


# --- embedded -----------------------------------------------------------------------------


def _schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0])


def _copy_sqlite(source: Path, target: Path) -> None:
    """Copy the database ``source`` into ``target`` with SQLite's online backup API.

    The copy is consistent (the backup restarts if another connection writes meanwhile;
    steps of many pages let writers in between) and readers of ``target`` see the old or
    the new content, never a mix.
    """
    with (
        closing(sqlite3.connect(source, timeout=30.0)) as src,
        closing(sqlite3.connect(target, timeout=30.0)) as dst,
    ):
        src.backup(dst, pages=4096)


def backup_embedded(data_dir: Path, out: Path) -> Manifest:
    """Write a backup of the embedded backend in ``data_dir`` to ``out``.

    Raises
    ------
    BackupError
        No embedded store in ``data_dir``, or ``out`` exists.
    """
    present = [name for name in EMBEDDED_FILES if (data_dir / name).is_file()]
    if not present:
        raise BackupError(f"no embedded store in {data_dir} (JZMAP_DATA_DIR): nothing to back up")
    with (
        _written_atomically(out) as partial,
        tempfile.TemporaryDirectory(prefix=".jzmap-backup-", dir=out.parent) as work,
    ):
        copies: dict[str, Path] = {}
        versions: dict[str, int] = {}
        for name in present:
            copy = Path(work) / name
            _copy_sqlite(data_dir / name, copy)
            with closing(sqlite3.connect(copy)) as conn:
                # One self-contained file (no -wal beside it), checked before it is kept.
                conn.execute("PRAGMA journal_mode=DELETE")
                problem = conn.execute("PRAGMA quick_check").fetchone()[0]
                if problem != "ok":
                    raise BackupError(f"{name} failed SQLite's quick_check: {problem}")
                versions[name] = _schema_version(conn)
            copies[_EMBEDDED_DIR + name] = copy
        manifest = Manifest("embedded", _now(), files=versions)
        _write_archive(partial, manifest, copies)
    return manifest


def _check_embedded_versions(manifest: Manifest) -> None:
    """Refuse a backup holding a file, or a file's schema, this program does not know."""
    known = embedded_files()
    for name, version in manifest.files.items():
        if name not in known:
            raise BackupError(
                f"the backup holds {name}, which this program does not know: it was made by "
                "a newer jzmap; restore it with that version"
            )
        if version > known[name]:
            raise BackupError(
                f"the backup's {name} has schema version {version}, newer than this program's "
                f"{known[name]}: restore it with the jzmap that made it (or a newer one)"
            )


def restore_embedded(backup: Path, data_dir: Path, *, replace: bool = False) -> Manifest:
    """Restore the embedded backup ``backup`` into ``data_dir``.

    Each file is written with SQLite's backup API into the live file, so a service still
    serving from ``data_dir`` sees the restored data, not a torn file; a file of the
    backend that the backup does not hold (made before that file existed) is emptied.
    The files are then opened as the backend opens them, which upgrades an older schema.

    Parameters
    ----------
    replace
        Overwrite a store that holds files already; without it such a store is refused.

    Raises
    ------
    BackupError
        The backup is not an embedded one, is of a newer schema, or ``data_dir`` holds a
        store and ``replace`` is false. Nothing is written then.
    """
    manifest = read_manifest(backup)
    if manifest.store != "embedded":
        raise BackupError(
            f"{backup.name} is a backup of a PostGIS database, and this is the embedded store "
            f"(no DATABASE_URL): {CROSS_STORE}. Set DATABASE_URL to a PostgreSQL database "
            "to restore it there"
        )
    _check_embedded_versions(manifest)
    existing = [name for name in EMBEDDED_FILES if (data_dir / name).exists()]
    if existing and not replace:
        raise BackupError(
            f"{data_dir} already holds a store ({', '.join(existing)}): restore with "
            "--replace to overwrite it, or set JZMAP_DATA_DIR to an empty directory"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    before = _embedded_data_version(data_dir)
    with tempfile.TemporaryDirectory(prefix=".jzmap-restore-", dir=data_dir) as work:
        with tarfile.open(backup, "r:") as tar:
            for name in manifest.files:
                _extract(tar, _EMBEDDED_DIR + name, Path(work) / name)
        for name in EMBEDDED_FILES:
            if name in manifest.files:
                _copy_sqlite(Path(work) / name, data_dir / name)
            else:
                _empty_sqlite(data_dir / name)
    _bump_embedded_data_version(data_dir, before)
    return manifest


def _extract(tar: tarfile.TarFile, member: str, target: Path) -> None:
    """Stream one member of ``tar`` into ``target`` (never a path the archive chooses)."""
    source = tar.extractfile(member)
    if source is None:
        raise BackupError(f"the backup lacks {member}: it is incomplete")
    with source, target.open("wb") as out:
        shutil.copyfileobj(source, out, _CHUNK)


def _empty_sqlite(path: Path) -> None:
    """Drop every table of ``path`` (the backend recreates them empty when it opens)."""
    if not path.exists():
        return
    with closing(sqlite3.connect(path, timeout=30.0, isolation_level=None)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        conn.execute("BEGIN IMMEDIATE")
        for table in tables:
            conn.execute(f'DROP TABLE IF EXISTS "{table}"')
        conn.execute("COMMIT")


def _embedded_data_version(data_dir: Path) -> int:
    from providers.stores.embedded import DB_FILENAME

    path = data_dir / DB_FILENAME
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(path, timeout=30.0)) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0]) if row else 0


def _bump_embedded_data_version(data_dir: Path, before: int) -> None:
    """Raise the restored store's data version above what it was before the restore, so a
    running service (which caches by data version) reads the restored data."""
    from providers.stores.embedded import DB_FILENAME

    path = data_dir / DB_FILENAME
    if not path.exists():
        return
    with closing(sqlite3.connect(path, timeout=30.0, isolation_level=None)) as conn:
        conn.execute(
            "UPDATE meta SET value = max(value, ?) + 1 WHERE key = 'data_version'", (before,)
        )


# --- PostGIS ------------------------------------------------------------------------------

_PG_ROOT = Path("/usr/lib/postgresql")
# One transaction, stopped at the first error: a restore that fails changes nothing.
_PSQL_ARGS = ("-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-")


def pg_tool(name: str, server_major: int, bin_dir: Path | None = None) -> Path:
    """The PostgreSQL client program ``name`` (pg_dump, pg_restore, psql) to use with a
    server of major version ``server_major``.

    ``bin_dir`` (``JZMAP_PG_BIN_DIR``) wins; else Debian's ``/usr/lib/postgresql/<major>/bin``
    of the server's major version, else the newest one above it (``pg_dump`` refuses a
    server newer than itself), else ``name`` on ``PATH``.

    Raises
    ------
    BackupError
        No such program is installed.
    """
    candidates: list[Path] = []
    if bin_dir is not None:
        candidates.append(bin_dir / name)
    else:
        majors = sorted((int(p.name) for p in _PG_ROOT.glob("*") if p.name.isdigit()), reverse=True)
        ordered = [m for m in majors if m == server_major] + [m for m in majors if m > server_major]
        candidates.extend(_PG_ROOT / str(m) / "bin" / name for m in ordered)
        on_path = shutil.which(name)
        if on_path:
            candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise BackupError(
        f"{name} for PostgreSQL {server_major} is not installed: install Debian's "
        f"postgresql-client-{server_major} (scripts/bootstrap does), or set JZMAP_PG_BIN_DIR "
        "to the directory holding it"
    )


@dataclass(frozen=True)
class PgTarget:
    """How the PostgreSQL client programs reach a database: a ``postgresql://`` URI
    without its password (the command line is visible to every user of the machine) and
    the environment that carries the password."""

    uri: str
    env: dict[str, str]

    @classmethod
    def of(cls, database_url: str) -> PgTarget:
        import sqlalchemy as sa

        from providers.stores.engine import sqlalchemy_url

        url = sa.make_url(sqlalchemy_url(database_url))
        env = dict(os.environ)
        if url.password is not None:
            env["PGPASSWORD"] = str(url.password)
        bare = url.set(drivername="postgresql", password=None)
        return cls(bare.render_as_string(hide_password=False), env)


def _run(args: list[str | Path], target: PgTarget, what: str) -> None:
    result = subprocess.run(  # noqa: S603 (a PostgreSQL client program, its path resolved)
        [str(a) for a in args], env=target.env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {_first_error(result.stderr)}")


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "error" in line or "FATAL" in line]
    return (errors or lines or ["no message"])[0]


def _server_facts(database_url: str) -> tuple[int, str, str | None]:
    """(major version, full version, Alembic revision or ``None``) of the database."""
    from providers.stores.engine import make_engine

    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            version = str(conn.exec_driver_sql("SHOW server_version").scalar_one()).split()[0]
            number = int(conn.exec_driver_sql("SHOW server_version_num").scalar_one())
            revision = None
            if conn.exec_driver_sql("SELECT to_regclass('alembic_version')").scalar() is not None:
                revision = conn.exec_driver_sql(
                    "SELECT version_num FROM alembic_version"
                ).scalar_one_or_none()
    except Exception as exc:
        from providers.stores.engine import unavailable

        raise unavailable(exc) from exc
    finally:
        engine.dispose()
    return number // 10_000, version, revision


def backup_postgis(database_url: str, out: Path, *, bin_dir: Path | None = None) -> Manifest:
    """Write a backup of the PostGIS database at ``database_url`` to ``out``: ``pg_dump``
    in its custom format (compressed, one consistent snapshot), no owners or grants (a
    restore makes the restoring role the owner).

    Raises
    ------
    BackupError
        The database is not a jzmap one, pg_dump fails or is missing, or ``out`` exists.
    """
    major, version, revision = _server_facts(database_url)
    if revision is None:
        raise BackupError("the database has no jzmap schema (run `jzmap db upgrade` first)")
    pg_dump = pg_tool("pg_dump", major, bin_dir)
    target = PgTarget.of(database_url)
    with (
        _written_atomically(out) as partial,
        tempfile.TemporaryDirectory(prefix=".jzmap-backup-", dir=out.parent) as work,
    ):
        dump = Path(work) / PG_DUMP_MEMBER
        _run(
            [pg_dump, "--format=custom", "--no-owner", "--no-privileges", "-f", dump, target.uri],
            target,
            "pg_dump",
        )
        manifest = Manifest("postgis", _now(), schema_revision=revision, server_version=version)
        _write_archive(partial, manifest, {PG_DUMP_MEMBER: dump})
    return manifest


# What a restore leaves to the database: the PostGIS extension (and its comment) belongs to
# the database, created by whoever may create extensions, and spatial_ref_sys is its table.
_NOT_RESTORED = re.compile(
    r"^\d+; \d+ \d+ (EXTENSION |COMMENT - EXTENSION |TABLE DATA \S+ spatial_ref_sys )"
)

# Drops every relation of the public schema the PostGIS extension does not own: what a
# restore replaces (tables of a newer schema than the backup's included, as the migrations
# recreate them from the restored revision).
_DROP_APPLICATION_RELATIONS = """
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT c.relname, c.relkind FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE',
      CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                     WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, r.relname);
  END LOOP;
END $$;
"""

_APPLICATION_RELATIONS = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname
"""


def _application_tables(database_url: str) -> tuple[list[str], int]:
    """The target's tables (but PostGIS's own) and its data version (0: none)."""
    from providers.stores.engine import make_engine, unavailable

    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            tables = [str(r[0]) for r in conn.exec_driver_sql(_APPLICATION_RELATIONS)]
            version = 0
            if "jzmap_meta" in tables:
                found = conn.exec_driver_sql(
                    "SELECT value FROM jzmap_meta WHERE key = 'data_version'"
                ).scalar()
                version = int(found or 0)
    except Exception as exc:
        raise unavailable(exc) from exc
    finally:
        engine.dispose()
    return tables, version


def _check_revision(revision: str | None) -> None:
    """Refuse a backup whose schema revision this program's migrations do not reach."""
    from alembic.script import ScriptDirectory

    from providers.stores.engine import MIGRATIONS_DIR

    known = {rev.revision for rev in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}
    if revision not in known:
        raise BackupError(
            f"the backup's database schema is at revision {revision}, which this program "
            "does not know (it is newer): restore it with the jzmap that made it (or a "
            "newer one)"
        )


def restore_postgis(
    backup: Path,
    database_url: str,
    *,
    replace: bool = False,
    bin_dir: Path | None = None,
) -> Manifest:
    """Restore the PostGIS backup ``backup`` into the database at ``database_url``, then
    migrate it to this program's schema.

    The database's own tables are dropped and the backup's restored in one transaction
    (``pg_restore`` into ``psql --single-transaction``): a restore that fails changes
    nothing. The PostGIS extension is created when missing (it is the database's, not
    the backup's).

    Raises
    ------
    BackupError
        The backup is not a PostGIS one or is of a newer schema, the database holds jzmap
        tables and ``replace`` is false, or a client program fails. Nothing is changed.
    """
    manifest = read_manifest(backup)
    if manifest.store != "postgis":
        raise BackupError(
            f"{backup.name} is a backup of the embedded store, and DATABASE_URL selects "
            f"PostGIS: {CROSS_STORE}. Unset DATABASE_URL (and set JZMAP_DATA_DIR) to "
            "restore it into an embedded store"
        )
    _check_revision(manifest.schema_revision)
    tables, before = _application_tables(database_url)
    if tables and not replace:
        shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
        raise BackupError(
            f"the database already holds {len(tables)} tables ({shown}): restore with "
            "--replace to overwrite them, or point DATABASE_URL at an empty database"
        )
    major, _, _ = _server_facts(database_url)
    target = PgTarget.of(database_url)
    with tempfile.TemporaryDirectory(prefix="jzmap-restore-") as work:
        dump = Path(work) / PG_DUMP_MEMBER
        with tarfile.open(backup, "r:") as tar:
            _extract(tar, PG_DUMP_MEMBER, dump)
        _restore_dump(dump, target, major, bin_dir)
    _after_restore(database_url, before)
    return manifest


def _restore_dump(dump: Path, target: PgTarget, major: int, bin_dir: Path | None) -> None:
    """``pg_restore`` the archive as SQL into ``psql`` in one transaction, after the drop
    of the database's own tables."""
    pg_restore = pg_tool("pg_restore", major, bin_dir)
    psql = pg_tool("psql", major, bin_dir)
    listing = subprocess.run(  # noqa: S603
        [str(pg_restore), "--list", str(dump)],
        env=target.env,
        capture_output=True,
        text=True,
        check=False,
    )
    if listing.returncode != 0:
        raise BackupError(f"pg_restore cannot read the backup: {_first_error(listing.stderr)}")
    kept = "".join(
        line + "\n" for line in listing.stdout.splitlines() if not _NOT_RESTORED.match(line)
    )
    toc = dump.with_suffix(".list")
    toc.write_text(kept, encoding="utf-8")
    prelude = (
        "SET client_min_messages = warning;\n"
        "CREATE EXTENSION IF NOT EXISTS postgis;\n" + _DROP_APPLICATION_RELATIONS
    )
    script = [pg_restore, "--no-owner", "--no-privileges", "--use-list", toc, "-f", "-", dump]
    with subprocess.Popen(  # noqa: S603
        [str(a) for a in script], env=target.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as producer:
        assert producer.stdout is not None and producer.stderr is not None
        feeder = _Feeder(prelude.encode(), producer.stdout)
        try:
            consumer = subprocess.run(  # noqa: S603
                [str(psql), *_PSQL_ARGS, "-d", target.uri],
                env=target.env,
                stdin=feeder.read_end,
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            feeder.finish()
        # psql gone, the feeder stopped: pg_restore cannot block on its output any more.
        producer.stdout.close()
        produced_errors = producer.stderr.read().decode(errors="replace")
        producer.wait()
    if consumer.returncode != 0:
        raise BackupError(f"the restore was rolled back: {_first_error(consumer.stderr)}")
    if producer.returncode != 0:
        raise BackupError(f"pg_restore failed: {_first_error(produced_errors)}")


class _Feeder:
    """A pipe that yields ``head`` then everything ``tail`` yields, for another process
    to read (written by a thread, so neither process waits on the other's full pipe)."""

    def __init__(self, head: bytes, tail: IO[bytes]) -> None:
        import threading

        self.read_end, self._write_end = os.pipe()
        self._head = head
        self._tail = tail
        self._thread = threading.Thread(target=self._feed, name="jzmap-restore", daemon=True)
        self._thread.start()

    def _feed(self) -> None:
        with os.fdopen(self._write_end, "wb") as out:
            try:
                out.write(self._head)
                while chunk := self._tail.read(_CHUNK):
                    out.write(chunk)
            except (BrokenPipeError, ValueError, OSError):
                pass  # the reader stopped at an error: its message says why

    def finish(self) -> None:
        """After the reader exits: close this end (a write then fails at once) and wait."""
        os.close(self.read_end)
        self._thread.join()


def _after_restore(database_url: str, before: int) -> None:
    """Migrate the restored schema to this program's head, then raise the data version
    above the one the database had before the restore (a running service re-reads)."""
    from providers.stores.pg_database import Database

    db = Database.open(database_url, pool_size=1)
    try:
        db.upgrade()
        with db.transaction() as conn:
            conn.exec_driver_sql(
                "UPDATE jzmap_meta SET value = greatest(value, %(before)s) + 1 "
                "WHERE key = 'data_version'",
                {"before": before},
            )
    finally:
        db.close()


def describe(manifest: Manifest) -> str:
    """One line on what a backup holds, for the command line.

    Examples
    --------
    >>> describe(Manifest("postgis", "2026-12-03T10:00:00+00:00", schema_revision="0006"))
    'PostGIS database at schema revision 0006, taken 2026-12-03T10:00:00+00:00'
    """
    if manifest.store == "postgis":
        return (
            f"PostGIS database at schema revision {manifest.schema_revision}, "
            f"taken {manifest.created_at}"
        )
    files = ", ".join(f"{name} (schema {v})" for name, v in sorted(manifest.files.items()))
    return f"embedded store: {files}, taken {manifest.created_at}"
