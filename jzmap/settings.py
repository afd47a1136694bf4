"""Settings, from the environment (prefix ``JZMAP_``) or a ``.env`` file, split by concern.

Each section is its own settings class that reads its own variables, so a service is
handed only the section it needs (the backend :class:`DatabaseSettings`, the coverage
service :class:`CoverageSettings`, …); :class:`Settings` composes them for the CLI and
the app factory. Every variable keeps the name docs/configuration.md's table gives
it (:meth:`Settings.environment_variables`).

``DATABASE_URL`` (no prefix, as every PostgreSQL tool spells it) selects the PostGIS
backend; without it the embedded backend keeps its files under ``JZMAP_DATA_DIR``.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, AwareDatetime, BaseModel, Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.crs import CRS
from geo.package_data import REFERENCE_DIR
from jzmap.paths import default_data_dir


def _config(prefix: str = "JZMAP_") -> SettingsConfigDict:
    # populate_by_name: a section may be built from its field names (tests, Settings'
    # flat names) as well as from the variables' names.
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", extra="ignore", populate_by_name=True
    )


class DatabaseSettings(BaseSettings):
    """Where and how the backend keeps its data: PostGIS at :attr:`url`, else SQLite
    files in :attr:`data_dir` (:func:`providers.stores.open_backend` takes this)."""

    model_config = _config("JZMAP_DB_")

    url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "JZMAP_DATABASE_URL"),
        description="postgresql://user@host:port/db selects the PostGIS store",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        validation_alias=AliasChoices("JZMAP_DATA_DIR"),
        description="where the embedded store keeps providers.sqlite (default: the user's "
        "data directory, ~/.local/share/jzmap on Linux)",
    )
    pool_size: int = Field(
        default=5,
        ge=1,
        le=100,
        description="PostGIS connections per process, one pool shared by the provider "
        "store, the grade book and the registry, reads and writes",
    )
    connect_timeout_s: int = Field(default=5, ge=1, le=120)
    statement_timeout_ms: int = Field(default=10_000, ge=100, le=600_000)
    write_timeout_s: int = Field(
        default=1_800, ge=1, le=86_400, description="longest a write (an import) may run"
    )
    read_urls: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_READ_URLS", "JZMAP_DATABASE_READ_URLS"),
        description="comma-separated postgresql:// URLs of read replicas (hot standbys of "
        "DATABASE_URL) that serve the public reads",
    )
    replica_max_lag_s: float = Field(
        default=5.0,
        ge=0,
        le=3_600,
        validation_alias=AliasChoices("JZMAP_REPLICA_MAX_LAG_S"),
        description="a read replica further behind the primary is skipped; also the "
        "longest a write waits for the replicas to replay it",
    )

    @property
    def write_timeout_ms(self) -> int:
        """:attr:`write_timeout_s` in milliseconds, as the backend takes it."""
        return self.write_timeout_s * 1000

    @property
    def read_url_list(self) -> tuple[str, ...]:
        """:attr:`read_urls` split at commas, blanks dropped.

        Examples
        --------
        >>> DatabaseSettings(read_urls=" postgresql://a/x, ,postgresql://b/x").read_url_list
        ('postgresql://a/x', 'postgresql://b/x')
        """
        return tuple(url.strip() for url in self.read_urls.split(",") if url.strip())

    @property
    def kind(self) -> Literal["embedded", "postgis"]:
        """The backend these settings select."""
        return "postgis" if self.url else "embedded"


class ServerSettings(BaseSettings):
    """How ``jzmap serve`` runs and how the site is reached."""

    model_config = _config()

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    proxy_headers: bool = Field(
        default=False,
        description="take the client address (and scheme) from X-Forwarded-For/-Proto, but "
        "only from the addresses in forwarded_allow_ips: set it behind a reverse proxy",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="comma-separated addresses or networks of the reverse proxies whose "
        "forwarded headers are trusted ('*': any, only when nothing else can reach the port)",
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="this site's address as residents reach it (https://map.example.cn): "
        "the base of the /embed snippet; unset, the page uses the address the browser sees",
    )
    embed_origins: str = Field(
        default="",
        description="comma-separated origins (https://app.example.cn) allowed to frame "
        "/widget and to call the API from a browser (CORS); empty: this site only",
    )
    search_threads: int = Field(
        default=3,
        ge=1,
        le=64,
        description="nearest-match searches one API process runs at once (a thread pool "
        "of their own; more only contend for Python's interpreter lock)",
    )

    embed_origins_refresh_s: float = Field(
        default=2.0,
        ge=0,
        le=300,
        description="longest a worker uses its copy of the embed origins stored with the "
        "data (jzmap embed-origins) before reading them again (0: on every request)",
    )
    embed_contact: str = Field(
        default="",
        max_length=200,
        description="whom an app's developer asks to be allowed to embed the widget (an "
        "e-mail address, a phone, a web page), shown on the page an unlisted site gets",
    )

    @property
    def public_base_url(self) -> str | None:
        """:attr:`public_url` without a trailing slash, or ``None``."""
        return self.public_url.rstrip("/") if self.public_url else None

    @property
    def embed_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.embed_origins.split(",") if o.strip()]


class AdminSettings(BaseSettings):
    """Who may call ``/v1/admin``."""

    model_config = _config("JZMAP_ADMIN_")

    token: SecretStr | None = Field(
        default=None, description="bearer token for /v1/admin; admin routes refuse all without it"
    )


class LimitsSettings(BaseSettings):
    """What one request or one client may cost: bodies, batches, time, rate."""

    model_config = _config()

    max_upload_mb: int = Field(default=50, ge=1, le=2_000, description="largest admin upload")
    max_json_body_kb: int = Field(
        default=4_096,
        ge=16,
        le=1_048_576,
        description="largest JSON body (admin batches) and largest body of any other request "
        "but an upload: refused with 413 from Content-Length or as soon as it streams past",
    )
    max_evaluations_per_batch: int = Field(
        default=1_000,
        ge=1,
        le=100_000,
        description="most evaluations one POST /v1/admin/evaluations may carry",
    )
    max_practitioners_per_batch: int = Field(
        default=5_000,
        ge=1,
        le=100_000,
        description="most practitioners one POST /v1/admin/practitioners may carry",
    )
    rate_limit_per_minute: int = Field(
        default=300,
        ge=0,
        le=1_000_000,
        description="sustained requests per minute per client address on /v1 and the map "
        "pages (0: no limit); each worker process counts on its own",
    )
    rate_limit_burst: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="tokens a client may spend at once (a request costs 1 to 20: see the "
        "rate limits in docs/limits-and-proxies.md)",
    )
    reports_per_hour: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description="problem reports (POST /v1/providers/{id}/reports and the provider "
        "page's form) a client address may send per hour, at most this many at once",
    )
    request_timeout_s: float = Field(
        default=10.0,
        ge=0.5,
        le=600.0,
        description="a public request not answered by then gets 503 with Retry-After "
        "(admin routes are not bound by it)",
    )


class GradesSettings(BaseSettings):
    """How imported official grades meet the evaluations (dynamic grades)."""

    model_config = _config("JZMAP_GRADES_")

    baseline_since: AwareDatetime = Field(
        default=datetime(2000, 1, 1, tzinfo=timezone(timedelta(hours=8))),
        description="when the imported official grades were assessed: a subject's baseline "
        "is fixed at its first evaluation with this time, and evaluations dated earlier are "
        "taken as already reflected in it (the default counts every evaluation)",
    )
    appeal_window_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="days within which a blacklisting or a grade drop of a letter or more "
        "is listed for operators to review (GET /v1/admin/notices) and may be appealed",
    )


class ImportSettings(BaseSettings):
    """What a provider import may do without an operator saying so."""

    model_config = _config()

    snapshot_max_deactivate: str = Field(
        default="5%",
        pattern=r"^\s*(\d{1,9}|\d{1,3}(\.\d+)?%)\s*$",
        description="most active providers of its source a snapshot may deactivate: a share "
        "(`5%`, at least 1) or a number; over it the snapshot writes nothing and fails, "
        "unless `--allow-deactivate N` (or `allow_deactivate`) covers it",
    )


class CitySettings(BaseSettings):
    """The city served: its boundary and streets, its name, how far beyond it a query may
    start."""

    model_config = _config()

    districts_layer: Path = Field(
        default=REFERENCE_DIR / "districts.geojson",
        description="city boundary: polygons with a `name` column (imports must fall inside)",
    )
    streets_layer: Path | None = Field(
        default=None,
        description="optional street (街道/镇) polygons, any file GDAL reads (GeoJSON, "
        "GeoPackage, Shapefile; any CRS): a name column (`name`), optionally `code` (9-digit) "
        "and `district`; used by geocoding, the coverage street tables and the map's street "
        "level",
    )
    communities_layer: Path | None = Field(
        default=None,
        description="optional community (社区) polygons, like the streets layer (`name`, "
        "optionally `code`, `district`): the map's community level",
    )
    city_name: str = Field(
        default="广州市 Guangzhou", description="the city's name, as messages quote it"
    )
    max_query_distance_km: float = Field(
        default=50.0,
        ge=0,
        le=20_000,
        description="nearest-match: a query point farther than this (geodesic km) from the "
        "city boundary is refused with 422; it bounds the work of any accepted query",
    )


class GeocodingSettings(BaseSettings):
    """The geocoder chain of imports."""

    model_config = _config()

    geocoders: str = Field(
        default="gazetteer,amap", description="geocoder chain, in order (amap only with a key)"
    )
    amap_key: SecretStr | None = None
    amap_url: str = "https://restapi.amap.com/v3/geocode/geo"
    amap_max_per_second: float = Field(default=20.0, gt=0, le=1_000)
    amap_timeout_s: float = Field(default=5.0, gt=0, le=60)
    amap_retries: int = Field(default=3, ge=0, le=10)
    geocode_cache: Path | None = Field(
        default=None, description="AMap answers cache; default <data_dir>/geocode-cache.sqlite"
    )
    amap_regeo_url: str = Field(
        default="https://restapi.amap.com/v3/geocode/regeo",
        description="AMap reverse geocoding: the addresses of proposed coverage sites",
    )


class MapSettings(BaseSettings):
    """The basemap and the map pages' layers."""

    model_config = _config()

    tiles_url: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="basemap tile URL template (Leaflet syntax); a path such as "
        "/static/blank-tile.png serves a blank local tile (no internet)",
    )
    tiles_crs: CRS = Field(
        default=CRS.WGS84,
        description="datum the basemap is drawn in: gcj02 for AMap/Tencent tiles, which "
        "shifts every marker, boundary and result to match; wgs84 for OpenStreetMap",
    )
    tiles_attribution: str = "© OpenStreetMap contributors"
    tiles_max_zoom: int = Field(default=19, ge=1, le=22)
    map_point_cap: int = Field(
        default=200, ge=10, le=2_000, description="most providers a map viewport gets one by one"
    )
    public_phones: Literal["full", "masked"] = Field(
        default="full",
        description="companies' and stations' registered business phones in public answers: "
        "full (with a tel: link to call) or masked (middle digits hidden) where a city's "
        "rules require; practitioners' phones are never public",
    )
    vector_tile_max_age_s: int = Field(
        default=60,
        ge=0,
        le=86_400,
        description="how long browsers and caches may reuse a vector tile (/tiles) without "
        "asking again (Cache-Control max-age); after that a 304 answers an unchanged tile",
    )


class CoverageSettings(BaseSettings):
    """Coverage gaps: the catchment, the grid, the population and the solver."""

    model_config = _config("JZMAP_COVERAGE_")

    catchment_m: float = Field(
        default=1_000.0,
        ge=100,
        le=20_000,
        description="coverage gaps: a cell is covered when a suitable provider is this close",
    )
    resolution: int = Field(
        default=8, ge=8, le=9, description="coverage gaps: default H3 resolution (8 or 9)"
    )
    population_layer: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("JZMAP_POPULATION_LAYER"),
        description="coverage gaps: residents per place instead of the census default; a "
        "GeoTIFF (band 1: residents; band 2, if any: residents aged 60+ for elderly care) or "
        "polygons (GeoJSON, GeoPackage, Shapefile) with a `residents` column and optionally "
        "one per category (e.g. `elderly_care` for residents aged 60+)",
    )
    population_weights: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("JZMAP_POPULATION_WEIGHTS"),
        description="coverage gaps: where the census population lives within each district, "
        "when no population layer is given: building footprint polygons (area-weighted; a "
        "`floors` column multiplies) or a population GeoTIFF (band 1, pixel-centre rule); "
        "without it residents are spread evenly (均匀分配 / uniform) and every output says so",
    )
    cache_size: int = Field(
        default=12,
        ge=1,
        le=1_000,
        description="coverage analyses (and as many site plans) kept per process",
    )
    concurrency: int = Field(
        default=1,
        ge=1,
        le=16,
        description="coverage analyses and site plans one worker process computes at once "
        "(answers already cached never wait)",
    )
    solver_time_limit_s: float = Field(
        default=2.0,
        ge=0.1,
        le=600.0,
        validation_alias=AliasChoices("JZMAP_SOLVER_TIME_LIMIT_S"),
        description="longest the MCLP solver searches for a site plan; the plan then says "
        "the optimality gap it reached",
    )
    street_network: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("JZMAP_STREET_NETWORK"),
        description="coverage gaps: an OpenStreetMap extract (.osm.pbf or .osm) whose "
        "walkable ways give walking distances (`jzmap network build`); unset: crow-fly only",
    )
    network_cache_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("JZMAP_NETWORK_CACHE_DIR"),
        description="where the walking network built from JZMAP_STREET_NETWORK is cached, "
        "keyed by the extract's SHA-256 (default: <data_dir>/networks)",
    )
    network_max_snap_m: float = Field(
        default=300.0,
        ge=10,
        le=5_000,
        validation_alias=AliasChoices("JZMAP_NETWORK_MAX_SNAP_M"),
        description="walking: a cell centre or provider farther than this from every "
        "walkable way is off the network (unreachable on foot)",
    )
    candidate_sites: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("JZMAP_CANDIDATE_SITES"),
        description="coverage gaps: the district office's candidate rooms (CSV, XLSX or "
        "GeoJSON: name, lon, lat, optionally id, address, street, capacity) for "
        "/v1/coverage/sites",
    )
    candidate_sites_crs: CRS = Field(
        default=CRS.WGS84,
        validation_alias=AliasChoices("JZMAP_CANDIDATE_SITES_CRS"),
        description="the CRS of JZMAP_CANDIDATE_SITES' coordinates (wgs84, gcj02, bd09)",
    )
    walk_speed_adult_m_s: float = Field(
        default=1.2,
        gt=0.1,
        le=3.0,
        validation_alias=AliasChoices("JZMAP_WALK_SPEED_ADULT_M_S"),
        description="walking speed of an adult (speed=adult), metres per second",
    )
    walk_speed_elderly_m_s: float = Field(
        default=0.8,
        gt=0.1,
        le=3.0,
        validation_alias=AliasChoices("JZMAP_WALK_SPEED_ELDERLY_M_S"),
        description="walking speed of an older resident (speed=elderly), metres per second",
    )
    residents_per_practitioner: float | None = Field(
        default=None,
        gt=0,
        le=100_000,
        validation_alias=AliasChoices("JZMAP_RESIDENTS_PER_PRACTITIONER"),
        description="site plans: how many of the category's demand (e.g. residents aged 60+) "
        "one practitioner serves; set, an existing provider serves at most its practitioners "
        "× that within its catchment (one with no staff figure: everyone, and the plan says "
        "so) and the plans solve for capacity; unset: a provider covers everyone it reaches",
    )


class OperationsSettings(BaseSettings):
    """What an operator runs the service with: backups, metrics and logs."""

    model_config = _config()

    pg_bin_dir: Path | None = Field(
        default=None,
        description="where pg_dump, pg_restore and psql are for `jzmap backup`/`restore` on "
        "PostGIS (default: Debian's /usr/lib/postgresql/<server major>/bin, else PATH)",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="bearer token a Prometheus scraper sends for /metrics; /metrics is "
        "refused without it (a scraper's credential, not the admin token)",
    )
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="`jzmap serve`'s log lines: json (one object a line, one per request) or text",
    )


def _variable(section: type[BaseSettings], field: str, info: FieldInfo) -> str:
    """The environment variable of a section's field."""
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        assert isinstance(first, str)
        return first
    return f"{section.model_config.get('env_prefix', '')}{field}".upper()


class Settings(BaseModel):
    """Every knob of the service, by concern; each section reads its own variables.

    ``Settings()`` reads the environment. A section may be given whole
    (``Settings(map=MapSettings(tiles_url=…))``) or a setting by its flat name, the
    variable's name without ``JZMAP_`` in lower case (``Settings(tiles_url=…,
    database_url=None)``): the rest of its section still comes from the environment.
    """

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    grades: GradesSettings = Field(default_factory=GradesSettings)
    city: CitySettings = Field(default_factory=CitySettings)
    geocoding: GeocodingSettings = Field(default_factory=GeocodingSettings)
    map: MapSettings = Field(default_factory=MapSettings)
    coverage: CoverageSettings = Field(default_factory=CoverageSettings)
    imports: ImportSettings = Field(default_factory=ImportSettings)
    operations: OperationsSettings = Field(default_factory=OperationsSettings)

    @classmethod
    def environment_variables(cls) -> dict[str, tuple[str, str]]:
        """Every environment variable the settings read -> (section, field).

        Examples
        --------
        >>> Settings.environment_variables()["JZMAP_DB_POOL_SIZE"]
        ('database', 'pool_size')
        >>> Settings.environment_variables()["DATABASE_URL"]
        ('database', 'url')
        """
        found: dict[str, tuple[str, str]] = {}
        for section, info in cls.model_fields.items():
            kind = info.annotation
            assert isinstance(kind, type) and issubclass(kind, BaseSettings)
            for field, field_info in kind.model_fields.items():
                found[_variable(kind, field, field_info)] = (section, field)
        return found

    @model_validator(mode="before")
    @classmethod
    def _sections_from_flat_names(cls, data: Any) -> Any:
        """Route flat names (``tiles_url``) to their sections, each section then built
        from them and the environment."""
        if not isinstance(data, dict):
            return data
        flat = _flat_names()
        sections: dict[str, dict[str, Any]] = {}
        rest: dict[str, Any] = {}
        for key, value in data.items():
            if key in cls.model_fields:
                rest[key] = value
            elif key in flat:
                section, field = flat[key]
                sections.setdefault(section, {})[field] = value
            else:
                raise ValueError(f"unknown setting {key!r}")
        for section, values in sections.items():
            if section in rest:
                raise ValueError(f"{section!r} given whole and by its settings {sorted(values)}")
            kind = cls.model_fields[section].annotation
            assert isinstance(kind, type) and issubclass(kind, BaseSettings)
            rest[section] = kind(**values)
        return rest


@functools.cache
def _flat_names() -> dict[str, tuple[str, str]]:
    """Flat name (the variable's, lower case, without ``JZMAP_``) -> (section, field)."""
    return {
        variable.lower().removeprefix("jzmap_"): where
        for variable, where in Settings.environment_variables().items()
    }
