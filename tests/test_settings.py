"""Settings split by concern: each section reads its own variables, under the names the
configuration page (docs/configuration.md) documents; the flat names still build a whole
Settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from jzmap.settings import (
    CoverageSettings,
    DatabaseSettings,
    LimitsSettings,
    MapSettings,
    Settings,
)


def test_every_section_reads_its_variables_by_their_documented_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    documented = {
        "DATABASE_URL": "postgresql://jz@db/jzmap",
        "JZMAP_DATA_DIR": str(tmp_path),
        "JZMAP_DB_POOL_SIZE": "7",
        "JZMAP_DB_WRITE_TIMEOUT_S": "60",
        "JZMAP_ADMIN_TOKEN": "t0ken",
        "JZMAP_GRADES_BASELINE_SINCE": "2024-01-01T00:00+08:00",
        "JZMAP_TILES_URL": "/static/blank-tile.png",
        "JZMAP_MAP_POINT_CAP": "50",
        "JZMAP_COVERAGE_CATCHMENT_M": "500",
        "JZMAP_POPULATION_LAYER": str(tmp_path / "people.tif"),
        "JZMAP_SOLVER_TIME_LIMIT_S": "1.5",
        "JZMAP_MAX_UPLOAD_MB": "5",
        "JZMAP_SEARCH_THREADS": "2",
        "JZMAP_CITY_NAME": "Testville",
        "JZMAP_AMAP_RETRIES": "1",
    }
    for name, value in documented.items():
        monkeypatch.setenv(name, value)
    s = Settings()
    assert (s.database.url, s.database.data_dir, s.database.pool_size) == (
        "postgresql://jz@db/jzmap",
        tmp_path,
        7,
    )
    assert s.database.write_timeout_ms == 60_000 and s.database.kind == "postgis"
    assert s.admin.token == SecretStr("t0ken")
    assert s.grades.baseline_since.year == 2024
    assert (s.map.tiles_url, s.map.map_point_cap) == ("/static/blank-tile.png", 50)
    assert (s.coverage.catchment_m, s.coverage.solver_time_limit_s) == (500.0, 1.5)
    assert s.coverage.population_layer == tmp_path / "people.tif"
    assert (s.limits.max_upload_mb, s.server.search_threads, s.city.city_name) == (
        5,
        2,
        "Testville",
    )
    assert s.geocoding.amap_retries == 1
    # A section alone reads the same variables: what a service is handed.
    assert DatabaseSettings().pool_size == 7 and CoverageSettings().catchment_m == 500.0
    assert set(documented) <= set(Settings.environment_variables())


def test_flat_names_override_the_environment_section_by_section(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JZMAP_DB_POOL_SIZE", "9")
    monkeypatch.setenv("JZMAP_TILES_ATTRIBUTION", "from the environment")
    s = Settings(database_url=None, db_pool_size=4, tiles_url="/x", coverage_cache_size=3)
    assert (s.database.url, s.database.pool_size, s.database.kind) == (None, 4, "embedded")
    assert (s.map.tiles_url, s.map.tiles_attribution) == ("/x", "from the environment")
    assert s.coverage.cache_size == 3
    whole = Settings(map=MapSettings(tiles_url="/y"), limits=LimitsSettings(max_upload_mb=2))
    assert (whole.map.tiles_url, whole.limits.max_upload_mb) == ("/y", 2)


def test_unknown_and_invalid_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="unknown setting 'tile_url'"):
        Settings(tile_url="/x")
    with pytest.raises(ValidationError, match="pool_size"):
        Settings(db_pool_size=0)
    with pytest.raises(ValidationError, match="given whole and by its settings"):
        Settings(map=MapSettings(), tiles_url="/x")


def test_each_variable_names_one_setting() -> None:
    variables = Settings.environment_variables()
    assert len(set(variables.values())) == len(variables)
    plain = {"DATABASE_URL", "DATABASE_READ_URLS"}  # as PostgreSQL tools spell them
    assert all(name in plain or name.startswith("JZMAP_") for name in variables)
    sections = {section for section, _ in variables.values()}
    assert sections == set(Settings.model_fields)
