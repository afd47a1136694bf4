"""``jzmap``: build the demo city, import registry files, serve the API, migrate the database."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Hashable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from geo.package_data import REFERENCE_DIR
from jzmap.settings import DatabaseSettings, Settings
from providers.model import Provider

if TYPE_CHECKING:
    import pandas as pd

    from ingest import IngestReport
    from ingest.feeds import FeedKind
    from jzmap.application.coverage import CoverageQuery, CoverageService
    from jzmap.application.embedding import EmbedOrigins
    from maps.i18n import Lang
    from providers.evaluations import Appeal
    from providers.grading import GradeChange
    from providers.stores import Backend

app = typer.Typer(
    help="Jiazheng Map (家政地图): nearest domestic-service providers for Guangzhou.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(
    help="PostGIS database maintenance (needs DATABASE_URL).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
imports_app = typer.Typer(
    help="Provider import history: list imports, show what one changed, undo one.",
    no_args_is_help=True,
)
app.add_typer(imports_app, name="imports")
coverage_app = typer.Typer(
    help="覆盖缺口：居民离合适机构远的地方（--lang en: English）。Coverage gaps: where residents "
    "are far from a suitable provider.",
    no_args_is_help=True,
)
app.add_typer(coverage_app, name="coverage")
network_app = typer.Typer(
    help="步行路网（取自 OpenStreetMap 数据 JZMAP_STREET_NETWORK）。The walking network from the "
    "OpenStreetMap extract JZMAP_STREET_NETWORK.",
    no_args_is_help=True,
)
app.add_typer(network_app, name="network")


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _open_backend(settings: Settings) -> Backend:
    """The selected backend, or a one-line error and exit status 1 when it cannot open."""
    from providers.store import StoreUnavailableError
    from providers.stores import open_backend

    try:
        return open_backend(settings.database)
    except StoreUnavailableError as exc:
        raise _fail(str(exc)) from None


def _migrate(database: DatabaseSettings) -> str:
    """Migrate the PostGIS schema to the newest revision; the revision reached."""
    from providers.stores.pg_database import Database

    assert database.url
    # One connection, migrations may run as long as a write.
    db = Database.open(
        database.url,
        pool_size=1,
        connect_timeout_s=database.connect_timeout_s,
        write_timeout_ms=database.write_timeout_ms,
    )
    try:
        return db.upgrade()
    finally:
        db.close()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the PostGIS schema to the newest revision (safe to repeat)."""
    settings = Settings()
    if not settings.database.url:
        raise _fail("DATABASE_URL is not set; the embedded store needs no migration")
    revision = _migrate(settings.database)
    typer.echo(f"database schema at revision {revision}")


@app.command()
def demo(
    providers: Annotated[
        int, typer.Option("--providers", min=0, help="number of companies to generate")
    ] = 531,
    seed: Annotated[int, typer.Option(help="random seed; same seed, same city")] = 2019,
    keep: Annotated[
        bool, typer.Option("--keep", help="keep providers already stored instead of replacing")
    ] = False,
) -> None:
    """Build the demo city (real boundaries and street names, synthetic providers).

    Without ``--keep`` the grade book and the practitioners registry are emptied with the
    providers: their grades and certificates belonged to the city being replaced.
    """
    from jzmap.application.demo import clear_city, generate_demo

    settings = Settings()
    if settings.database.url:
        _migrate(settings.database)
    backend = _open_backend(settings)
    started = time.perf_counter()
    written = 0

    def generated() -> Iterator[Provider]:
        nonlocal written
        for chunk in generate_demo(REFERENCE_DIR, companies=providers, seed=seed):
            yield from chunk
            written += len(chunk)
            if providers > 50_000:
                typer.echo(f"  … {written:,} providers", err=True)

    with backend:
        if not keep:
            clear_city(backend)
        # One upsert, one transaction: into an emptied store that is a bulk load.
        backend.store.upsert(generated())
        total = backend.store.count()
    where = (
        "PostGIS"
        if settings.database.url
        else f"the embedded store at {settings.database.data_dir}"
    )
    typer.echo(
        f"demo city: {written:,} providers ({providers:,} companies + one station per street) "
        f"in {where}; {total:,} stored; {time.perf_counter() - started:.1f} s"
    )


@app.command()
def ingest(
    # Keyword-only, as Typer passes every option by name: no call can swap two of them.
    *,
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    kind: Annotated[
        str | None,
        typer.Option(
            help="company or station: kind of provider rows without a 类型 column; "
            "practitioners or evaluations: the file is a practitioners register or an "
            "evaluations log (CSV, XLSX)"
        ),
    ] = None,
    crs: Annotated[
        str | None, typer.Option(help="CRS of rows without a 坐标系 column: wgs84, gcj02, bd09")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="CSV encoding (default: UTF-8, else GB18030)")
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet name or number")] = None,
    mode: Annotated[
        str, typer.Option(help="append, or snapshot: also deactivate the source's missing rows")
    ] = "append",
    source: Annotated[
        str | None, typer.Option(help="dataset name (default: the file name without extension)")
    ] = None,
    rejects: Annotated[Path | None, typer.Option(help="write rejected rows (CSV) here")] = None,
    report: Annotated[Path | None, typer.Option(help="write the report (JSON) here")] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="store nothing: validate, and list what the import would change "
            "(inserted, updated fields, deactivated, kept)",
        ),
    ] = False,
    allow_deactivate: Annotated[
        int | None,
        typer.Option(
            "--allow-deactivate",
            min=0,
            help="a snapshot may deactivate up to N providers, beyond "
            "JZMAP_SNAPSHOT_MAX_DEACTIVATE",
        ),
    ] = None,
) -> None:
    """Import registry files (CSV, XLSX, GeoJSON): every row is stored or reported rejected.

    Exit status 0 when the files were processed, rejects or not; 1 when one could not be
    processed at all, or a snapshot would deactivate more providers than allowed (then
    nothing was written).
    """
    from geo.crs import CRS
    from ingest import IngestOptions, UnreadableFileError
    from ingest.feeds import FeedKind
    from jzmap.application.imports import run_provider_import
    from jzmap.application.reports import print_report, progress_bar
    from jzmap.wiring import ingester
    from providers.errors import ConflictError
    from providers.history import DeactivationGuard
    from providers.model import Kind
    from providers.store import StoreUnavailableError

    if kind is not None and kind.lower() in tuple(FeedKind):
        if crs is not None or mode != "append" or source is not None:
            raise _fail(f"--crs, --mode and --source apply to provider imports, not --kind {kind}")
        _ingest_feed(
            files,
            FeedKind(kind.lower()),
            encoding=encoding,
            sheet=sheet,
            rejects=rejects,
            report=report,
            dry_run=dry_run,
        )
        return
    if mode not in ("append", "snapshot"):
        raise _fail(f"--mode {mode!r}: use append or snapshot")
    try:
        options = IngestOptions(
            kind=None if kind is None else Kind(kind.lower()),
            crs=None if crs is None else CRS(crs.lower()),
            encoding=encoding,
            sheet=sheet,
            mode="snapshot" if mode == "snapshot" else "append",  # checked above
            source=source,
            dry_run=dry_run,
        )
    except ValueError as exc:
        raise _fail(
            f"{exc}; --kind takes company, station, practitioners or evaluations, "
            "--crs wgs84, gcj02 or bd09"
        ) from None
    settings = Settings()
    backend = _open_backend(settings)
    guard = DeactivationGuard.parse(
        settings.imports.snapshot_max_deactivate, allow=allow_deactivate or 0
    )
    try:
        with progress_bar() as on_progress:
            result = run_provider_import(
                ingester(settings, on_progress), backend, files, options, guard=guard
            )
    except (UnreadableFileError, StoreUnavailableError, ConflictError) as exc:
        raise _fail(str(exc)) from None
    finally:
        if backend is not None:
            backend.close()
    print_report(result)
    _write_outputs(result, rejects, report)


def _ingest_feed(
    files: list[Path],
    kind: FeedKind,
    *,
    encoding: str | None,
    sheet: str | None,
    rejects: Path | None,
    report: Path | None,
    dry_run: bool,
) -> None:
    """``ingest --kind practitioners|evaluations``: see :mod:`jzmap.application.feeds`."""
    from ingest import UnreadableFileError
    from jzmap.application.feeds import FeedOptions, run_feed
    from jzmap.application.reports import print_feed_report, progress_bar
    from providers.store import StoreUnavailableError

    settings = Settings()
    options = FeedOptions(kind, encoding=encoding, sheet=sheet, dry_run=dry_run)
    backend = None if dry_run else _open_backend(settings)
    try:
        with progress_bar() as on_progress:
            result = run_feed(
                files,
                options,
                providers=None if backend is None else backend.store,
                registry=None if backend is None else backend.registry,
                # Evaluations are recorded in it; a register's new official stars
                # rebaseline the practitioners it holds.
                gradebook=None if backend is None else backend.gradebook,
                baseline_since=settings.grades.baseline_since,
                on_progress=on_progress,
            )
    except (UnreadableFileError, StoreUnavailableError) as exc:
        raise _fail(str(exc)) from None
    finally:
        if backend is not None:
            backend.close()
    print_feed_report(result)
    _write_outputs(result, rejects, report)


def _write_outputs(result: IngestReport, rejects: Path | None, report: Path | None) -> None:
    """``--rejects`` and ``--report`` of every kind of import."""
    from ingest import write_rejects, write_report

    if rejects is not None:
        write_rejects(result, rejects)
        typer.echo(f"rejected rows written to {rejects}", err=True)
    if report is not None:
        write_report(result, report)


@app.command("map")
def map_export(
    out: Annotated[Path, typer.Option("--out", help="the HTML file to write", dir_okay=False)],
    lang: Annotated[str, typer.Option(help="zh or en")] = "zh",
) -> None:
    """Write a self-contained offline map (counts per district and area) to one HTML file."""
    from jzmap.wiring import district_points, districts_layer
    from maps.export import export_static_map
    from maps.i18n import Lang

    try:
        language = Lang(lang.lower())
    except ValueError:
        raise _fail(f"--lang {lang!r}: use zh or en") from None
    settings = Settings()
    with _open_backend(settings) as backend:
        page = export_static_map(
            backend.store,
            districts_layer(settings.city),
            district_points(settings.city),
            lang=language,
            tiles_url=settings.map.tiles_url,
            tiles_attribution=settings.map.tiles_attribution,
            tiles_crs=settings.map.tiles_crs,
        )
    out.write_text(page, encoding="utf-8")
    typer.echo(f"map written to {out} ({len(page.encode()) / 1024:.0f} KiB)")


def _coverage_query(
    category: str, res: int | None, min_grade: str | None, certified_only: bool
) -> CoverageQuery:
    """The analysis the options ask for, or a one-line error and exit status 1."""
    from gaps.grid import RESOLUTIONS
    from jzmap.application.coverage import CoverageQuery
    from providers.model import Category, Grade

    try:
        chosen = Category(category)
    except ValueError:
        raise _fail(
            f"--category {category!r}: use one of {', '.join(c.value for c in Category)}"
        ) from None
    try:
        grade = None if min_grade is None else Grade(min_grade.upper())
    except ValueError:
        raise _fail(f"--min-grade {min_grade!r}: use one of {', '.join(Grade)}") from None
    resolution = res or Settings().coverage.resolution
    if resolution not in RESOLUTIONS:
        raise _fail(f"--res {resolution}: use 8 or 9")
    return CoverageQuery(chosen, resolution, grade, certified_only)


CategoryOption = Annotated[
    str, typer.Option(help="elderly_care, housekeeping, maternal_infant or nursing")
]
ResOption = Annotated[
    int | None, typer.Option("--res", help="H3 resolution, 8 or 9 (JZMAP_COVERAGE_RESOLUTION)")
]
MinGradeOption = Annotated[
    str | None, typer.Option(help="supply: companies graded at least this (5A … A)")
]
CertifiedOption = Annotated[
    bool, typer.Option("--certified-only", help="supply: only providers with 安心服务证 holders")
]
ModeOption = Annotated[
    str | None,
    typer.Option(
        "--mode",
        help="walk (street network) or crow (crow-fly); default walk when "
        "JZMAP_STREET_NETWORK is set",
    ),
]
MinutesOption = Annotated[
    float | None,
    typer.Option("--minutes", help="catchment in minutes of walking (life circles: 5, 10, 15)"),
]
SpeedOption = Annotated[str, typer.Option("--speed", help="walking pace: adult or elderly")]


def _coverage_service(settings: Settings, backend: Backend) -> CoverageService:
    """The coverage service of ``backend``, with the walking network when one is set."""
    from jzmap.application.coverage import CoverageService
    from jzmap.application.network import NetworkLoader
    from jzmap.wiring import reverse_geocoder

    network = NetworkLoader(settings.coverage, settings.city, settings.database.data_dir)
    return CoverageService(
        backend.store,
        settings.coverage,
        settings.city,
        network=network,
        reverse=reverse_geocoder(settings),
    )


def _with_reach(
    query: CoverageQuery,
    service: CoverageService,
    mode: str | None,
    minutes: float | None,
    speed: str,
) -> CoverageQuery:
    """``query`` measuring reach as the options ask, or a one-line error and exit 1."""
    import dataclasses

    from jzmap.application.network import NoNetworkError

    chosen = mode or service.default_mode
    if chosen not in ("crow", "walk") or speed not in ("adult", "elderly"):
        raise _fail("--mode takes walk or crow, --speed adult or elderly")
    if chosen == "walk" and service.default_mode != "walk":
        raise _fail(NoNetworkError().message)
    try:
        from jzmap.application.network import speed_m_s, walk_metres

        catchment = (
            None if minutes is None else walk_metres(minutes, speed_m_s(service.settings, speed))
        )
        return dataclasses.replace(
            query,
            mode="walk" if chosen == "walk" else "crow",
            catchment_m=catchment if catchment is not None else query.catchment_m,
            speed=speed,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None


@coverage_app.command("report")
def coverage_report(
    *,
    district: Annotated[str, typer.Option(help="the district reported on, e.g. 白云区")],
    category: CategoryOption,
    out: Annotated[Path, typer.Option("--out", help="the HTML file to write", dir_okay=False)],
    res: ResOption = None,
    k: Annotated[int, typer.Option("--k", min=1, max=20, help="candidate station sites")] = 5,
    min_grade: MinGradeOption = None,
    certified_only: CertifiedOption = False,
    mode: ModeOption = None,
    minutes: MinutesOption = None,
    speed: SpeedOption = "adult",
    lang: LangOption = "zh",
) -> None:
    """写出区级离线覆盖报告（缺口地图、机构、建议站点与表格）。Write an offline HTML report
    for a district office: gaps map, providers, candidate sites and tables, in Chinese
    (default) or English (--lang en)."""
    from jzmap.application.coverage import UnknownDistrictError
    from jzmap.wiring import districts_layer
    from maps.coverage_exports import place_label
    from maps.coverage_report import render_coverage_report
    from maps.i18n import category_label

    chosen = _lang(lang)
    query = _coverage_query(category, res, min_grade, certified_only)
    settings = Settings()
    with _open_backend(settings) as backend:
        service = _coverage_service(settings, backend)
        query = _with_reach(query, service, mode, minutes, speed)
        try:
            analysis, plan = service.plan(query, k, district)
        except UnknownDistrictError as exc:
            raise _fail(str(exc)) from None
    page = render_coverage_report(
        analysis,
        plan,
        district,
        districts_layer(settings.city),
        tiles_url=settings.map.tiles_url,
        tiles_attribution=settings.map.tiles_attribution,
        tiles_crs=settings.map.tiles_crs,
        lang=chosen,
    )
    out.write_text(page, encoding="utf-8")
    summary = plan.summary.iloc[0]
    size = f"{len(page.encode()) / 1024:.0f} KiB"
    if chosen.value == "zh":
        typer.echo(
            f"{district}{query.category.label_zh}服务覆盖报告：居民覆盖率 "
            f"{summary['share_covered_before']:.1%} → {summary['share_covered_after']:.1%}"
            f"（新增 {summary['sites']} 个站点）；已写入 {out}（{size}）"
        )
        return
    typer.echo(
        f"coverage report for {place_label(district, chosen)}, "
        f"{category_label(query.category, chosen).lower()}: residents covered "
        f"{summary['share_covered_before']:.1%} -> {summary['share_covered_after']:.1%} with "
        f"{summary['sites']} new sites; written to {out} ({size})"
    )


LangOption = Annotated[
    str, typer.Option("--lang", help="zh（默认，中文）or en (English): headings, notes, messages")
]


def _lang(value: str) -> Lang:
    from maps.i18n import Lang

    try:
        return Lang(value)
    except ValueError:
        raise _fail(f"--lang {value!r}: use zh or en") from None


# The district table's headings: (column, zh, en, how the figure is shown).
_DISTRICT_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("category", "服务类别", "category", "text"),
    ("district", "区", "district", "text"),
    ("residents", "常住人口（估算）", "residents", "people"),
    ("share_residents_covered", "覆盖率", "covered", "share"),
    ("residents_in_gaps", "缺口内居民", "in gaps", "people"),
    ("providers", "合适机构", "providers", "int"),
    ("providers_per_10k", "每万人机构", "per 10k", "2"),
    ("practitioners_per_10k", "每万人从业人员", "staff/10k", "1"),
    ("accessibility_q50", "可达性中位数（每万人）", "access.", "access"),
)


def _official_order(table: pd.DataFrame, districts: Any) -> pd.DataFrame:
    """Rows in the official order of the districts (by administrative code), then by
    category; districts the layer has no code for keep their name order after them."""
    if "adcode" not in districts.columns:
        return table.sort_values(["district", "category"], kind="stable")
    code = dict(zip(districts["name"].astype(str), districts["adcode"].astype(str), strict=True))
    keyed = table.assign(_code=table["district"].map(lambda n: code.get(str(n), "~" + str(n))))
    return keyed.sort_values(["_code", "category"], kind="stable").drop(columns="_code")


@coverage_app.command("districts")
def coverage_districts(
    *,
    category: Annotated[str | None, typer.Option(help="one category (default: all four)")] = None,
    res: ResOption = None,
    min_grade: MinGradeOption = None,
    certified_only: CertifiedOption = False,
    csv_out: Annotated[
        Path | None,
        typer.Option(
            "--csv", help="also write the table here (UTF-8 with BOM, headings in --lang)"
        ),
    ] = None,
    mode: ModeOption = None,
    minutes: MinutesOption = None,
    speed: SpeedOption = "adult",
    lang: LangOption = "zh",
) -> None:
    """打印各区覆盖表（按区划代码排序）。Print the per-district coverage table (residents
    covered, gaps, supply per 10,000), districts in official order (by code)."""
    from jzmap.application.coverage import district_table
    from jzmap.wiring import districts_layer
    from maps.coverage_exports import demand_source_label
    from providers.model import Category

    chosen = _lang(lang)
    names = [category] if category else [c.value for c in Category]
    queries = [_coverage_query(n, res, min_grade, certified_only) for n in names]
    settings = Settings()
    with _open_backend(settings) as backend:
        service = _coverage_service(settings, backend)
        queries = [_with_reach(q, service, mode, minutes, speed) for q in queries]
        analyses = service.analyses(queries)
        table = _official_order(district_table(analyses), districts_layer(settings.city))
    _print_table(
        table,
        _DISTRICT_FIELDS,
        chosen,
        title=("各区服务覆盖（居民：{source}）" if chosen.value == "zh" else
               "coverage by district (residents: {source})").format(
            source=demand_source_label(analyses[0].grid.demand_source, chosen)
        ),
        caption=(
            "覆盖率：服务半径内有合适机构的居民占比；每万人：每万名居民的机构与从业人员；"
            "可达性：E2SFCA 中位数（每万名居民可及从业人员）"
            if chosen.value == "zh"
            else "covered: share of residents within the catchment of a suitable provider; "
            "per 10k: providers and practitioners per 10,000 residents; access.: median "
            "E2SFCA (practitioners in reach per 10,000 residents)"
        ),
    )  # fmt: skip
    if csv_out is not None:
        csv_out.write_text(_table_csv(table, _DISTRICT_FIELDS, chosen), encoding="utf-8")
        typer.echo(
            f"表格已写入 {csv_out}" if chosen.value == "zh" else f"table written to {csv_out}",
            err=True,
        )


@coverage_app.command("streets")
def coverage_streets(
    *,
    district: Annotated[str, typer.Option(help="the district, by name (天河区) or code")],
    category: CategoryOption = "elderly_care",
    minutes: Annotated[
        int, typer.Option(help="life circle, minutes' walk (GB 50180: 5, 10, 15)", min=1, max=60)
    ] = 10,
    speed: Annotated[str, typer.Option(help="walking speed: elderly (0.8 m/s) or adult")] = (
        "elderly"
    ),
    kind: Annotated[str | None, typer.Option(help="supply: company or station only")] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=20, help="candidate station sites")] = 5,
    res: ResOption = None,
    min_grade: MinGradeOption = None,
    certified_only: CertifiedOption = False,
    xlsx: Annotated[
        Path | None, typer.Option("--xlsx", help="also write the workbook (Excel) here")
    ] = None,
    gpkg: Annotated[
        Path | None, typer.Option("--gpkg", help="also write the GeoPackage here")
    ] = None,
    lang: LangOption = "zh",
) -> None:
    """打印一个区的各街道覆盖表与建议站点，可写出 Excel 与 GeoPackage。Print the per-street
    table of one district (residents, 60+, life circles, gaps, supply) and the proposed
    sites; optionally write them as Excel and GeoPackage."""
    from dataclasses import replace

    from gaps.streets import WALK_SPEEDS_M_S, crow_equivalent_m
    from jzmap.application.coverage import (
        CoverageService,
        UnknownDistrictError,
        streets_layer,
        streets_of,
        with_addresses,
    )
    from jzmap.wiring import district_name, reverse_geocoder
    from maps.coverage_exports import (
        SITE_FIELDS,
        STREET_FIELDS,
        demand_source_label,
        place_label,
        site_table,
        workbench_geopackage,
        workbench_xlsx,
    )
    from maps.i18n import category_label
    from providers.errors import InvalidParameterError
    from providers.model import Kind

    chosen = _lang(lang)
    zh = chosen.value == "zh"
    if speed not in WALK_SPEEDS_M_S:
        raise _fail(f"--speed {speed!r}: use {' or '.join(WALK_SPEEDS_M_S)}")
    try:
        supply_kind = None if kind is None else Kind(kind)
    except ValueError:
        raise _fail(f"--kind {kind!r}: use company or station") from None
    query = replace(
        _coverage_query(category, res, min_grade, certified_only),
        catchment_m=crow_equivalent_m(minutes, WALK_SPEEDS_M_S[speed]),
        speed=speed,
        kind=supply_kind,
    )
    settings = Settings()
    try:
        name = district_name(settings.city, district)
    except InvalidParameterError as exc:
        raise _fail(str(exc)) from None
    with _open_backend(settings) as backend:
        service = CoverageService(
            backend.store, settings.coverage, settings.city, reverse=reverse_geocoder(settings)
        )
        try:
            analysis, plan = service.plan(query, k, name)
        except UnknownDistrictError as exc:
            raise _fail(str(exc)) from None
        plan = with_addresses(service, plan)
    table = streets_of(analysis, name)
    pace = {"elderly": "老人", "adult": "成人"}.get(speed, speed)
    circle = f"{minutes} 分钟（直线 {analysis.catchment_m:,.0f} 米，{pace}步速）"
    circle_en = f"{minutes} min (crow-fly {analysis.catchment_m:,.0f} m at {speed} pace)"
    source = demand_source_label(analysis.grid.demand_source, chosen)
    _print_table(
        table,
        STREET_FIELDS,
        chosen,
        title=f"{name} 各街道{query.category.label_zh}服务覆盖 · 生活圈 {circle}"
        if zh
        else f"{place_label(name, chosen)}: {category_label(query.category, chosen).lower()} "
        f"by street · life circle {circle_en}",
        caption=f"居民分布：{source}" if zh else f"residents: {source}",
    )  # fmt: skip
    _print_table(
        site_table(analysis, plan),
        SITE_FIELDS,
        chosen,
        title="建议新站点（最大覆盖选址 MCLP）" if zh else "proposed sites (MCLP)",
        caption="",
    )
    if xlsx is not None:
        xlsx.write_bytes(workbench_xlsx(analysis, plan, table, name, chosen))
        typer.echo(f"Excel 已写入 {xlsx}" if zh else f"Excel written to {xlsx}", err=True)
    if gpkg is not None:
        gpkg.write_bytes(
            workbench_geopackage(analysis, plan, table, name, streets_layer(settings.city))
        )
        typer.echo(f"GeoPackage 已写入 {gpkg}" if zh else f"GeoPackage written to {gpkg}", err=True)


def _shown(value: Any, how: str, lang: Any) -> str:
    from maps.coverage_exports import rounded

    if how in ("1", "2", "access"):
        if value is None or value != value:
            return "-"
        figure = float(value) * (10_000 if how == "access" else 1)
        return f"{figure:,.{2 if how != '1' else 1}f}"
    if how == "text" and value is not None and value == value:
        return str(value)  # the terminal runs no formulas: shown as it is
    figure = rounded(value, how, lang)
    if figure is None or figure == "":
        return "-"
    if how == "share":
        return f"{figure:.1%}"
    if how in ("people", "int"):
        return f"{figure:,}"
    return str(figure)


def _print_table(
    table: pd.DataFrame,
    fields: tuple[tuple[str, str, str, str], ...],
    lang: Any,
    *,
    title: str,
    caption: str,
) -> None:
    from rich.console import Console
    from rich.table import Table

    zh = lang.value == "zh"
    shown = Table(title=title, caption=caption or None)
    for key, head_zh, head_en, how in fields:
        shown.add_column(
            head_zh if zh else head_en,
            justify="left" if how in ("text", "bool") else "right",
            no_wrap=True,
        )
        del key
    for r in table.to_dict("records"):
        shown.add_row(*(_shown(r.get(key), how, lang) for key, _, _, how in fields))
    console = Console()
    # Piped into a file or another program: the whole table, not one cut to 80 columns.
    (console if console.is_terminal else Console(width=280)).print(shown)


def _table_csv(
    table: pd.DataFrame, fields: tuple[tuple[str, str, str, str], ...], lang: Any
) -> str:
    """The table as CSV for Excel: BOM, headings in ``lang``, figures rounded, formulas
    quoted."""
    import csv
    import io

    from maps.coverage_exports import rounded

    zh = lang.value == "zh"
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([zh_ if zh else en for _, zh_, en, _ in fields])
    for r in table.to_dict("records"):
        row = []
        for key, _, _, how in fields:
            if how in ("1", "2", "access"):
                value = r.get(key)
                row.append(
                    ""
                    if value is None or value != value
                    else round(float(value) * (10_000 if how == "access" else 1), 2)
                )
            else:
                figure = rounded(r.get(key), how, lang)
                row.append("" if figure is None else figure)
        writer.writerow(row)
    return out.getvalue()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to bind (JZMAP_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (JZMAP_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes (JZMAP_WORKERS)")] = None,
    proxy_headers: Annotated[
        bool | None,
        typer.Option(
            "--proxy-headers/--no-proxy-headers",
            help="behind a reverse proxy: take the client's address from X-Forwarded-For "
            "(and the scheme from X-Forwarded-Proto), only when the connection comes from "
            "--forwarded-allow-ips (JZMAP_PROXY_HEADERS, default off)",
            show_default=False,
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="comma-separated addresses or networks of the trusted proxies "
            "(JZMAP_FORWARDED_ALLOW_IPS, default 127.0.0.1)",
        ),
    ] = None,
) -> None:
    """Serve the API with uvicorn."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    settings = Settings()
    server = settings.server
    host = host or server.host
    port = port or server.port
    trust_proxy = server.proxy_headers if proxy_headers is None else proxy_headers
    trusted = forwarded_allow_ips or server.forwarded_allow_ips
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    typer.echo(f"Jiazheng Map serving {settings.database.kind} store at http://{shown}:{port}/")
    typer.echo(
        f"  try http://{shown}:{port}/v1/providers/nearest?lat=23.1064&lon=113.3245&category=elderly_care"
    )
    if trust_proxy:
        typer.echo(f"  client addresses from X-Forwarded-For when sent by {trusted}")
    log_config = _log_config(settings.operations.log_format, LOGGING_CONFIG)
    worker_count = workers or server.workers
    metrics_dir = _metrics_dir(worker_count)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=worker_count,
        log_level="info",
        log_config=log_config,
        # The app writes one line per request itself (logger jzmap.access), without the
        # client's address or the query string (coordinates) that uvicorn's line carries.
        access_log=False,
        proxy_headers=trust_proxy,
        forwarded_allow_ips=trusted,
    )
    if metrics_dir is not None:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _log_config(log_format: str, base: dict[str, Any]) -> dict[str, Any]:
    """uvicorn's logging configuration, with the app's loggers (``jzmap``: errors with
    their request ids, ``jzmap.access``: one line per request) through its handler, and
    every line one JSON object when ``log_format`` is ``json``."""
    config: dict[str, Any] = {
        **base,
        "loggers": {
            **base["loggers"],
            "jzmap": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }
    if log_format == "json":
        # Named, not imported: the CLI and the API are side by side in the layers.
        json_formatter = {"()": "api.logs.JsonFormatter"}
        config["formatters"] = dict.fromkeys(
            base.get("formatters", {"default": {}}), json_formatter
        )
    return config


def _metrics_dir(workers: int) -> Path | None:
    """With several workers, the directory where each writes its metrics (prometheus-client's
    multiprocess mode, so that any worker's /metrics answers for all): the operator's
    ``PROMETHEUS_MULTIPROC_DIR``, emptied of the last run's files, else a new temporary
    one (returned, to be removed afterwards). One worker keeps its metrics in memory."""
    if workers < 2:
        return None
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return None
    made = Path(tempfile.mkdtemp(prefix="jzmap-metrics-"))
    # Set before uvicorn starts the workers: they inherit it, and prometheus-client reads it
    # when the app's metrics are created.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(made)
    return made


@app.command()
def backup(
    out: Annotated[Path, typer.Argument(help="the backup file to write (.tar); never overwritten")],
) -> None:
    """Back up the whole store (providers, their history, grade book, registry, schema
    version) to one file, while the service keeps serving.

    Embedded: a consistent copy of each SQLite file (SQLite's online backup API). PostGIS:
    a pg_dump archive of the database (custom format), with the client programs of the
    server's PostgreSQL version (JZMAP_PG_BIN_DIR to choose others).
    """
    from providers.store import StoreUnavailableError
    from providers.stores.backup import BackupError, backup_embedded, backup_postgis, describe

    settings = Settings()
    started = time.perf_counter()
    try:
        if settings.database.url:
            manifest = backup_postgis(
                settings.database.url, out, bin_dir=settings.operations.pg_bin_dir
            )
        else:
            manifest = backup_embedded(settings.database.data_dir, out)
    except (BackupError, StoreUnavailableError) as exc:
        raise _fail(str(exc)) from None
    size_mb = out.stat().st_size / 1e6
    typer.echo(
        f"backed up the {describe(manifest)} to {out} ({size_mb:,.1f} MB, "
        f"{time.perf_counter() - started:.1f} s)"
    )


@app.command()
def restore(
    backup_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="a jzmap backup")
    ],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="overwrite the data the store holds now (else refused)"),
    ] = False,
) -> None:
    """Restore a backup of `jzmap backup` into the store the settings select, then migrate
    it to this program's schema (a backup of a newer schema is refused, nothing changed).

    Stop `jzmap serve` first, or expect it to serve the restored data from its next request
    on. A PostGIS backup restores into PostGIS, an embedded one into the embedded store:
    each is that store's own exact copy, not a conversion.
    """
    from providers.store import StoreUnavailableError
    from providers.stores.backup import BackupError, describe, restore_embedded, restore_postgis

    settings = Settings()
    started = time.perf_counter()
    try:
        if settings.database.url:
            manifest = restore_postgis(
                backup_file,
                settings.database.url,
                replace=replace,
                bin_dir=settings.operations.pg_bin_dir,
            )
        else:
            manifest = restore_embedded(backup_file, settings.database.data_dir, replace=replace)
        # Opened as the service opens it: an older embedded schema is upgraded here, and a
        # store that cannot open says why now rather than at the next start.
        _open_backend(settings).close()
    except (BackupError, StoreUnavailableError) as exc:
        raise _fail(str(exc)) from None
    where = (
        "PostGIS"
        if settings.database.url
        else f"the embedded store at {settings.database.data_dir}"
    )
    typer.echo(
        f"restored the {describe(manifest)} into {where}, migrated to this program's schema "
        f"({time.perf_counter() - started:.1f} s)"
    )


embed_app = typer.Typer(
    help="Which other sites may embed the widget (stored with the data; no restart).",
    no_args_is_help=True,
)
app.add_typer(embed_app, name="embed-origins")


def _embed_origins(backend: Backend) -> EmbedOrigins:
    from jzmap.application.embedding import EmbedOrigins

    server = Settings().server
    return EmbedOrigins(backend.embed_origins, server.embed_origin_list, 0)


@embed_app.command("list")
def embed_origins_list() -> None:
    """The stored origins (with their notes), then the configured ones."""
    with _open_backend(Settings()) as backend:
        origins = _embed_origins(backend)
        for stored in origins.stored():
            note = f"  {stored.note}" if stored.note else ""
            typer.echo(f"{stored.origin}  added {stored.added_at:%Y-%m-%d %H:%M}{note}")
        for configured in origins.configured:
            typer.echo(f"{configured}  (JZMAP_EMBED_ORIGINS)")


@embed_app.command("add")
def embed_origins_add(
    origin: Annotated[
        str, typer.Argument(help="scheme://host[:port], e.g. https://app.example.cn")
    ],
    note: Annotated[str | None, typer.Option(help="who asked for it, for operators")] = None,
) -> None:
    """Allow ORIGIN to frame the widget and call the API from a browser."""
    from providers.errors import JzmapError

    with _open_backend(Settings()) as backend:
        try:
            change = _embed_origins(backend).add(origin, note)
        except JzmapError as exc:
            raise _fail(exc.message) from None
    typer.echo(f"{'added' if change.changed else 'already allowed'}: {change.origin}")


@embed_app.command("remove")
def embed_origins_remove(
    origin: Annotated[str, typer.Argument(help="a stored origin")],
) -> None:
    """Stop allowing a stored ORIGIN (one in JZMAP_EMBED_ORIGINS stays allowed)."""
    from providers.errors import JzmapError

    with _open_backend(Settings()) as backend:
        try:
            change = _embed_origins(backend).remove(origin)
        except JzmapError as exc:
            raise _fail(exc.message) from None
    if not change.changed:
        raise _fail(f"{change.origin} is not stored; `jzmap embed-origins list` shows them")
    still = " (still allowed: it is in JZMAP_EMBED_ORIGINS)" if change.configured else ""
    typer.echo(f"removed: {change.origin}{still}")


reports_app = typer.Typer(
    help="Residents' reports that a listing looks wrong (from the provider page and the API).",
    no_args_is_help=True,
)
app.add_typer(reports_app, name="reports")


@reports_app.command("list")
def reports_list(
    provider: Annotated[
        str | None, typer.Option(help="only reports about this provider id")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="wrong_phone, closed, moved or other")] = None,
    status: Annotated[str | None, typer.Option(help="open or resolved")] = "open",
    offset: Annotated[int, typer.Option(min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
) -> None:
    """The reports, newest first (open ones unless --status says otherwise; --status all)."""
    from jzmap.application.problem_reports import list_reports
    from providers.problem_reports import ReportKind, ReportQuery, ReportStatus

    try:
        query = ReportQuery(
            provider,
            None if kind is None else ReportKind(kind),
            None if status in (None, "all") else ReportStatus(status),
            offset,
            limit,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    with _open_backend(Settings()) as backend:
        page = list_reports(backend.reports, query)
    for r in page.reports:
        resolved = "" if r.resolved_at is None else f"  resolved {r.resolved_at:%Y-%m-%d %H:%M}"
        note = f"  note: {r.note}" if r.note else ""
        typer.echo(
            f"#{r.id}  {r.created_at:%Y-%m-%d %H:%M}  {r.provider_id}  {r.kind.value}  "
            f"{r.status.value}{resolved}  {r.text}{note}".rstrip()
        )
    typer.echo(f"{len(page.reports)} of {page.total} report(s)")


@reports_app.command("resolve")
def reports_resolve(
    report_id: Annotated[int, typer.Argument(min=1, help="the report's id (#N in the list)")],
    note: Annotated[str | None, typer.Option(help="what was checked or changed")] = None,
) -> None:
    """Mark report REPORT_ID resolved."""
    from jzmap.application.problem_reports import resolve_report
    from providers.errors import JzmapError

    with _open_backend(Settings()) as backend:
        try:
            report = resolve_report(backend.reports, report_id, note)
        except JzmapError as exc:
            raise _fail(exc.message) from None
    typer.echo(f"resolved #{report.id} ({report.provider_id}, {report.kind.value})")


@imports_app.command("list")
def imports_list(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="newest N imports")] = 50,
) -> None:
    """The recorded provider imports, newest first."""
    from jzmap.application.history import list_imports
    from jzmap.application.reports import print_imports

    with _open_backend(Settings()) as backend:
        print_imports(list_imports(backend, limit))


@imports_app.command("show")
def imports_show(
    import_id: Annotated[int, typer.Argument(help="the import's id (see `jzmap imports list`)")],
    limit: Annotated[int, typer.Option(min=1, help="show the first N changes")] = 200,
    offset: Annotated[int, typer.Option(min=0, help="skip the first N changes")] = 0,
) -> None:
    """What one import changed, provider by provider: inserted, updated (which fields,
    from what), deactivated, kept, deleted."""
    from jzmap.application.history import show_import
    from jzmap.application.reports import print_import_detail
    from providers.errors import NotFoundError

    with _open_backend(Settings()) as backend:
        try:
            detail = show_import(backend, import_id, offset=offset, limit=limit)
        except NotFoundError as exc:
            raise _fail(str(exc)) from None
    print_import_detail(detail)


@imports_app.command("undo")
def imports_undo(
    import_id: Annotated[int, typer.Argument(help="the import's id (see `jzmap imports list`)")],
) -> None:
    """Restore every provider an import touched to its version before it (itself an
    import in the list). Exit status 1, nothing written, when later imports built on it
    or the grade book contradicts it (the message says which)."""
    from jzmap.application.history import undo_import
    from providers.errors import ConflictError, NotFoundError
    from providers.store import StoreUnavailableError

    with _open_backend(Settings()) as backend:
        try:
            undo, outcome = undo_import(backend, import_id)
        except (ConflictError, NotFoundError, StoreUnavailableError) as exc:
            raise _fail(str(exc)) from None
    typer.echo(
        f"import {import_id} undone by import {undo.id}: {outcome.updated} restored, "
        f"{outcome.inserted} re-inserted, {outcome.deleted} removed, "
        f"{outcome.unchanged} already as before"
    )


# -- appeals and the re-grading migration (issue 19) -------------------------------------

appeals_app = typer.Typer(help="Appeals (申诉) against verified complaints and blacklistings.")
app.add_typer(appeals_app, name="appeals")
grades_app = typer.Typer(help="Dynamic grades: the re-grading migration.")
app.add_typer(grades_app, name="grades")


def _when(text: str | None) -> datetime:
    """An ISO time (a time without an offset is China Standard Time), or now."""
    from providers.evaluations import CHINA_TZ

    if not text:
        return datetime.now(CHINA_TZ)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"{text!r} is not an ISO time (2026-05-09T10:00+08:00)") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=CHINA_TZ)


def _print_appeal(appeal: Appeal, changes: Iterable[GradeChange] = ()) -> None:
    from providers.gradebook import grade_text

    typer.echo(
        f"{appeal.id}: {appeal.scope} appeal of {appeal.complaint_id} "
        f"({appeal.subject.kind} {appeal.subject.id}), filed {appeal.filed_at.isoformat()}: "
        f"{appeal.status}"
    )
    if appeal.decided_at is not None:
        typer.echo(
            f"  decided {appeal.decided_at.isoformat()} by {appeal.decided_by}: {appeal.decision}"
        )
    for c in changes:
        typer.echo(
            f"  grade {grade_text(c.grade_before)} -> {grade_text(c.grade_after)}, "
            f"score {c.score_before} -> {c.score_after} ({', '.join(c.cause)})"
        )


@appeals_app.command("file")
def appeals_file(
    appeal_id: Annotated[str, typer.Argument(help="the appeal's id (unique among evaluations)")],
    complaint: Annotated[str, typer.Option(help="id of the verified complaint appealed")],
    scope: Annotated[str, typer.Option(help="complaint or blacklisting")] = "complaint",
    grounds: Annotated[str, typer.Option(help="why (kept for operators)")] = "",
    at: Annotated[str | None, typer.Option(help="when filed (ISO; default now)")] = None,
) -> None:
    """File an appeal against a verified complaint (its deductions) or its blacklisting."""
    from jzmap.application.appeals import GradeStores, file_appeal
    from providers.errors import JzmapError
    from providers.evaluations import AppealScope

    settings = Settings()
    with _open_backend(settings) as backend:
        try:
            result = file_appeal(
                GradeStores.of(backend),
                appeal_id=appeal_id,
                complaint_id=complaint,
                filed_at=_when(at),
                scope=AppealScope(scope),
                grounds=grounds,
                baseline_since=settings.grades.baseline_since,
            )
        except (JzmapError, ValueError) as exc:
            raise _fail(str(exc)) from None
    _print_appeal(result.appeal, result.report.changes)


@appeals_app.command("decide")
def appeals_decide(
    appeal_id: Annotated[str, typer.Argument(help="the filed appeal's id")],
    status: Annotated[str, typer.Option(help="upheld or dismissed")],
    by: Annotated[str, typer.Option(help="who decides (operator account)")],
    reason: Annotated[str, typer.Option(help="why")],
    at: Annotated[str | None, typer.Option(help="when decided (ISO; default now)")] = None,
) -> None:
    """Uphold or dismiss a filed appeal (final); an upheld one reverses through the engine."""
    from jzmap.application.appeals import GradeStores, decide_appeal
    from providers.errors import JzmapError
    from providers.evaluations import AppealStatus

    if status not in ("upheld", "dismissed"):
        raise _fail(f"status must be upheld or dismissed, got {status!r}")
    settings = Settings()
    with _open_backend(settings) as backend:
        try:
            result = decide_appeal(
                GradeStores.of(backend),
                appeal_id,
                status=AppealStatus(status),
                at=_when(at),
                by=by,
                decision=reason,
                baseline_since=settings.grades.baseline_since,
            )
        except JzmapError as exc:
            raise _fail(str(exc)) from None
    _print_appeal(result.appeal, result.report.changes)


@appeals_app.command("show")
def appeals_show(appeal_id: Annotated[str, typer.Argument(help="the appeal's id")]) -> None:
    """Show an appeal: what it contests, who decided, when and why."""
    from jzmap.application.appeals import find_appeal
    from providers.errors import JzmapError

    with _open_backend(Settings()) as backend:
        try:
            appeal = find_appeal(backend.gradebook, appeal_id)
        except JzmapError as exc:
            raise _fail(str(exc)) from None
    _print_appeal(appeal)


@grades_app.command("regrade")
def grades_regrade(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="evaluation logs to re-read complaints' severities from"),
    ] = None,
) -> None:
    """Re-read stored complaints under the five-level severity scale and re-run the grade
    engine for every subject; every grade that changes gets an audit record."""
    from jzmap.application.regrade import regrade
    from providers.errors import JzmapError
    from providers.evaluations import CHINA_TZ

    settings = Settings()
    with _open_backend(settings) as backend:
        try:
            report = regrade(
                backend.gradebook,
                backend.store,
                backend.registry,
                files=files or [],
                at=datetime.now(CHINA_TZ),
            )
        except (JzmapError, OSError) as exc:
            raise _fail(str(exc)) from None
    for reject in report.rejects:
        typer.echo(
            f"{reject.file}:{reject.line}: {'; '.join(p.reason for p in reject.problems)}", err=True
        )
    typer.echo(
        f"{report.complaints_read} complaints re-read; {len(report.changes)} grades changed; "
        f"{len(report.providers_updated)} providers updated; "
        f"{len(report.lifted)} blacklistings lifted"
    )


def _export_hsds(out: Path, *, validate: bool, tabular: bool) -> None:
    from jzmap.presentation.hsds import export_hsds, listed_providers
    from jzmap.presentation.hsds_tabular import write_tabular
    from jzmap.presentation.presenters import PublicView

    settings = Settings()
    view = PublicView.of(settings.map.public_phones)
    city = settings.city.city_name
    with _open_backend(settings) as backend:
        try:
            counts = export_hsds(backend.store, out, city, validate=validate, view=view)
            tables = (
                write_tabular(listed_providers(backend.store, 2**62), out, city, view)
                if tabular
                else {}
            )
        except ValueError as exc:
            raise _fail(str(exc)) from None
    for filename, n in counts.items():
        typer.echo(f"{out / filename}: {n:,} objects")
    for table, n in tables.items():
        typer.echo(f"{out / table}.csv: {n:,} rows")
    if tabular:
        typer.echo(f"{out / 'datapackage.json'}: the tabular data package")


@app.command("export")
def export_open_data(
    target: Annotated[
        str,
        typer.Argument(
            help="the file to write; or `hsds` followed by a directory (HSDS 3.x JSON objects)",
            metavar="OUT | hsds DIR",
        ),
    ],
    directory: Annotated[
        Path | None, typer.Argument(help="with `hsds`: the directory", show_default=False)
    ] = None,
    format: Annotated[
        str,
        typer.Option("--format", help="geojson, gpkg, parquet, csv (UTF-8 with BOM) or hsds"),
    ] = "geojson",
    validate: Annotated[
        bool,
        typer.Option(
            "--validate/--no-validate",
            help="hsds: check every object against the official HSDS schemas (strict) first",
        ),
    ] = False,
    tabular: Annotated[
        bool,
        typer.Option(
            "--tabular/--no-tabular",
            help="hsds: also write HSDS's tabular form (a CSV file per table and datapackage.json)",
        ),
    ] = False,
) -> None:
    """Write every listed provider's public fields as an open-data file
    (`jzmap export --format csv OUT`), or as HSDS 3.x objects (`jzmap export hsds DIR`:
    organizations.json, services.json, service_at_locations.json; with --tabular also a
    CSV file per HSDS table and datapackage.json). For the offline HTML map see
    `jzmap map --out`."""
    from jzmap.presentation.open_data import OpenDataFormat, listed_batches, write_open_data

    if target == "hsds" and directory is not None:
        _export_hsds(directory, validate=validate, tabular=tabular)
        return
    if directory is not None:
        raise _fail(f"one file to write, got {target!r} and {str(directory)!r}")
    out = Path(target)
    if format.lower() == "hsds":
        _export_hsds(out, validate=validate, tabular=tabular)
        return
    try:
        fmt = OpenDataFormat(format.lower())
    except ValueError:
        choices = ", ".join([*(f.value for f in OpenDataFormat), "hsds"])
        raise _fail(f"--format {format!r}: use one of {choices}") from None
    from jzmap.presentation.presenters import PublicView

    settings = Settings()
    with _open_backend(settings) as backend:
        view = PublicView.of(settings.map.public_phones)
        count = write_open_data(listed_batches(backend.store), fmt, out, view)
    typer.echo(f"{count:,} providers written to {out} ({fmt.value})")


@network_app.command("build")
def network_build(
    force: Annotated[
        bool, typer.Option("--force", help="rebuild even when the cache is up to date")
    ] = False,
    lang: LangOption = "zh",
) -> None:
    """读取 JZMAP_STREET_NETWORK，保留市内可步行道路并缓存路网。Read JZMAP_STREET_NETWORK,
    keep its walkable ways inside the city, cache the graph."""
    from jzmap.application.network import build_network, cache_dir

    zh = _lang(lang).value == "zh"
    settings = Settings()
    source = settings.coverage.street_network
    if source is None:
        raise _fail(
            "请将 JZMAP_STREET_NETWORK 设为 OpenStreetMap 数据文件（.osm.pbf 或 .osm）"
            if zh
            else "set JZMAP_STREET_NETWORK to an OpenStreetMap extract (.osm.pbf or .osm)"
        )
    if not source.is_file():
        raise _fail(f"JZMAP_STREET_NETWORK: {'没有文件' if zh else 'no file'} {source}")
    directory = cache_dir(settings.coverage, settings.database.data_dir)
    started = time.perf_counter()
    try:
        net, info = build_network(source, settings.city, directory, force=force)
    except RuntimeError as exc:  # osmium: an unreadable or truncated file
        raise _fail(f"{source.name}: {exc}") from None
    took = time.perf_counter() - started
    km = net.edge_m.sum() / 1000
    if zh:
        ways = "" if info.ways_read is None else f"（读取 {info.ways_read:,} 条可步行道路）"
        typer.echo(
            f"步行路网{'已构建' if info.built else '已有缓存'}：{net.nodes:,} 个节点、"
            f"{net.edges:,} 条边{ways}，市内道路共 {km:,.1f} 公里；{info.path}（{took:.1f} 秒）"
        )
        return
    what = "built" if info.built else "already cached"
    ways = "" if info.ways_read is None else f" from {info.ways_read:,} walkable ways"
    typer.echo(
        f"walking network {what}: {net.nodes:,} nodes, {net.edges:,} edges{ways} inside the "
        f"city ({km:,.1f} km of way); {info.path} ({took:.1f} s)"
    )


@coverage_app.command("sites")
def coverage_sites(
    *,
    district: Annotated[str, typer.Option(help="the district planned for, e.g. 天河区")],
    category: CategoryOption,
    candidates: Annotated[
        Path,
        typer.Option(help="candidate rooms: CSV, XLSX or GeoJSON (name, lon, lat, …)", exists=True),
    ],
    exclude: Annotated[
        Path | None, typer.Option(help="ids or H3 cells to leave out, one per line", exists=True)
    ] = None,
    candidates_crs: Annotated[
        str, typer.Option("--candidates-crs", help="wgs84, gcj02 or bd09")
    ] = "wgs84",
    k: Annotated[int, typer.Option("--k", min=1, max=20, help="sites to open")] = 3,
    demand: Annotated[
        str | None,
        typer.Option(
            help="demand column of the population layer (default: the category's, "
            "e.g. elderly_care for 60+, else residents)"
        ),
    ] = None,
    res: ResOption = None,
    mode: ModeOption = None,
    minutes: MinutesOption = None,
    speed: SpeedOption = "adult",
    csv_out: Annotated[
        Path | None,
        typer.Option(
            "--csv", help="also write the sites here (UTF-8 with BOM, headings in --lang)"
        ),
    ] = None,
    lang: LangOption = "zh",
) -> None:
    """在本区候选用房中选址，使新站点覆盖最多居民。Choose among the office's own candidate
    rooms where new stations bring the most residents within the life circle (existing
    providers fixed, capacities respected)."""
    from geo.crs import CRS
    from ingest.candidate_sites import CandidateFileError, read_candidate_sites, read_exclusions
    from jzmap.application.coverage import UnknownDistrictError, with_addresses
    from jzmap.application.sites import candidate_plan
    from jzmap.wiring import district_name
    from maps.coverage_exports import CANDIDATE_SITE_FIELDS
    from providers.errors import InvalidParameterError

    chosen = _lang(lang)
    query = _coverage_query(category, res, None, False)
    settings = Settings()
    try:
        rooms = read_candidate_sites(candidates, CRS(candidates_crs))
        excluded = read_exclusions(exclude) if exclude else set()
        district = district_name(settings.city, district)
    except (CandidateFileError, ValueError, InvalidParameterError) as exc:
        raise _fail(str(exc)) from None
    with _open_backend(settings) as backend:
        service = _coverage_service(settings, backend)
        query = _with_reach(query, service, mode, minutes, speed)
        try:
            analysis, plan = candidate_plan(
                service, query, rooms, k, district=district, excluded=excluded,
                demand_column=demand,
            )  # fmt: skip
        except (UnknownDistrictError, InvalidParameterError) as exc:
            raise _fail(str(exc)) from None
        plan = with_addresses(service, plan)
    _print_sites(plan.sites, plan.summary.iloc[0].to_dict(), analysis.query.mode, chosen)
    if csv_out is not None:
        csv_out.write_text(_table_csv(plan.sites, CANDIDATE_SITE_FIELDS, chosen), encoding="utf-8")
        typer.echo(
            f"站点已写入 {csv_out}" if chosen.value == "zh" else f"sites written to {csv_out}",
            err=True,
        )


def _print_sites(
    sites: pd.DataFrame, summary: Mapping[Hashable, Any], mode: str, lang: Lang
) -> None:
    from maps.coverage_exports import mode_label, place_label
    from maps.i18n import category_label
    from providers.model import Category

    category = category_label(Category(summary["category"]), lang)
    reach = mode_label(mode, lang)
    if lang.value == "zh":
        typer.echo(
            f"{summary['district']} {category}：{summary['candidates']} 个候选中选出 "
            f"{summary['sites']} 个；{reach} {summary['catchment_m']:,.0f} 米；需求 "
            f"`{summary['demand']}` 新增可及 {summary['demand_newly_in_reach']:,.0f}"
            f"（容量内服务 {summary['demand_served']:,.0f}）；覆盖率 "
            f"{summary['share_covered_before']:.1%} → {summary['share_covered_after']:.1%}；"
            f"求解状态 {summary['status']}"
        )
    else:
        typer.echo(
            f"{place_label(str(summary['district']), lang)} {category.lower()}: "
            f"{summary['sites']} of {summary['candidates']} candidates; {reach}, "
            f"{summary['catchment_m']:,.0f} m; demand `{summary['demand']}` newly within reach "
            f"{summary['demand_newly_in_reach']:,.0f} (served within capacity "
            f"{summary['demand_served']:,.0f}); covered {summary['share_covered_before']:.1%} "
            f"-> {summary['share_covered_after']:.1%}; solver {summary['status']}"
        )
    if summary.get("capacity_limited"):
        # Existing providers' staff limit what they serve (JZMAP_RESIDENTS_PER_PRACTITIONER):
        # the planner must see that the rooms are credited only with what they cannot take.
        per, before = (
            summary["residents_per_practitioner"],
            summary["demand_served_by_existing_before"],
        )
        after, free = summary["demand_served_by_existing_after"], summary["existing_unlimited"]
        typer.echo(
            f"现有机构按每名从业人员服务 {per:,.0f} 人计：服务 {before:,.0f} → {after:,.0f}"
            f"（{free} 家无人员数，不设上限）"
            if lang.value == "zh"
            else f"existing providers at {per:,.0f} per practitioner: serve {before:,.0f} -> "
            f"{after:,.0f} ({free} without a staff figure, unlimited)"
        )
    for r in sites.to_dict("records"):
        street = r["street"] or "—"
        said = (
            f"新增可及 +{r['demand_added']:,.0f}，容量内服务 {r['demand_served']:,.0f}"
            if lang.value == "zh"
            else f"+{r['demand_added']:,.0f} within reach, serves {r['demand_served']:,.0f}"
        )
        colon = "：" if lang.value == "zh" else ": "
        typer.echo(
            f"{r['rank']}. {r['name']} ({r['id']}) {street} {r['address'] or ''}{colon}{said}"
        )
