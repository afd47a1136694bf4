"""The backend: the provider store, the grade book and the practitioners registry, opened
together from one choice.

:func:`open_backend` is the one place that decides between PostGIS (a database URL is
set) and the embedded backend (SQLite files in a data directory). On PostGIS the three
parts share one :class:`~providers.stores.pg_database.Database` (one engine, one pool of
``pool_size`` connections, the same timeouts); embedded, they are three files in one
directory. A new persisted concept is one more part here, with its two implementations.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol

from providers.embedding import EmbedOriginStore
from providers.gradebook import GradeBook
from providers.problem_reports import ProblemReportStore
from providers.registry import PractitionerRegistry
from providers.store import ProviderStore

if TYPE_CHECKING:
    from providers.stores.pg_database import Database

BackendKind = Literal["embedded", "postgis"]


class DatabaseConfig(Protocol):
    """Where and how a backend keeps its data (``jzmap.settings.DatabaseSettings`` is one)."""

    @property
    def url(self) -> str | None:
        """``postgresql://…`` selects PostGIS; ``None`` the embedded backend."""

    @property
    def data_dir(self) -> Path:
        """The embedded backend's directory (``providers.sqlite`` and its siblings)."""

    @property
    def pool_size(self) -> int:
        """PostGIS connections per process, shared by every part."""

    @property
    def connect_timeout_s(self) -> int: ...

    @property
    def statement_timeout_ms(self) -> int:
        """PostGIS statement timeout of reads and small writes."""

    @property
    def write_timeout_ms(self) -> int:
        """PostGIS statement timeout of provider imports."""

    @property
    def read_url_list(self) -> tuple[str, ...]:
        """PostGIS read replicas (hot standbys of :attr:`url`) for public reads."""

    @property
    def replica_max_lag_s(self) -> float:
        """A replica further behind the primary is skipped."""


@dataclass(frozen=True, eq=False)
class Backend:
    """The persisted parts of the service, opened and closed together.

    Use it as a context manager, or call :meth:`close` once done with it; the parts must
    not be closed one by one.
    """

    kind: BackendKind
    store: ProviderStore
    gradebook: GradeBook
    registry: PractitionerRegistry
    embed_origins: EmbedOriginStore
    """The origins an operator allowed to embed the widget (beside the configured ones)."""
    reports: ProblemReportStore
    """Residents' reports that a listing looks wrong, for operators."""
    database: Database | None = None
    """PostGIS: the database (engine and pool) the parts share."""

    def close(self) -> None:
        """Close the parts, then the pool they share."""
        with ExitStack() as closing:
            # Callbacks run last-in first-out: the database after the parts.
            if self.database is not None:
                closing.callback(self.database.close)
            for part in (
                self.store,
                self.gradebook,
                self.registry,
                self.embed_origins,
                self.reports,
            ):
                closing.callback(part.close)

    def __enter__(self) -> Backend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_backend(config: DatabaseConfig) -> Backend:
    """The backend ``config`` selects: PostGIS when ``config.url`` is set, else embedded
    in ``config.data_dir``.

    PostGIS opens one engine (connections are made on first use) and checks that the
    schema is migrated, so a forgotten ``jzmap db upgrade`` fails at start-up with a
    message saying so, not at the first query.

    Raises
    ------
    providers.store.StoreUnavailableError
        A part cannot be opened (nothing stays open then).
    """
    if config.url:
        # Imported here: the embedded backend runs without SQLAlchemy, psycopg and Alembic.
        from providers.stores.embed_origins_postgis import PostgisEmbedOrigins
        from providers.stores.gradebook_postgis import PostgisGradeBook
        from providers.stores.pg_database import Database
        from providers.stores.postgis import PostgisStore
        from providers.stores.problem_reports_postgis import PostgisProblemReports
        from providers.stores.registry_postgis import PostgisRegistry

        db = Database.open(
            config.url,
            pool_size=config.pool_size,
            connect_timeout_s=config.connect_timeout_s,
            statement_timeout_ms=config.statement_timeout_ms,
            write_timeout_ms=config.write_timeout_ms,
            read_urls=config.read_url_list,
            replica_max_lag_s=config.replica_max_lag_s,
        )
        try:
            db.ensure_schema()
        except BaseException:
            db.close()
            raise
        return Backend(
            "postgis",
            PostgisStore(db),
            PostgisGradeBook(db),
            PostgisRegistry(db),
            PostgisEmbedOrigins(db),
            PostgisProblemReports(db),
            db,
        )

    from providers.stores.embed_origins_embedded import EmbeddedEmbedOrigins
    from providers.stores.embedded import EmbeddedStore
    from providers.stores.gradebook_embedded import EmbeddedGradeBook
    from providers.stores.problem_reports_embedded import EmbeddedProblemReports
    from providers.stores.registry_embedded import EmbeddedRegistry

    data_dir = Path(config.data_dir)
    with ExitStack() as opened:
        store = EmbeddedStore(data_dir)
        opened.callback(store.close)
        gradebook = EmbeddedGradeBook(data_dir)
        opened.callback(gradebook.close)
        registry = EmbeddedRegistry(data_dir)
        opened.callback(registry.close)
        embed_origins = EmbeddedEmbedOrigins(data_dir)
        opened.callback(embed_origins.close)
        reports = EmbeddedProblemReports(data_dir)
        opened.pop_all()  # all open: the backend closes them from now on
    return Backend("embedded", store, gradebook, registry, embed_origins, reports)
