"""Settings, from the environment (prefix ``JZMAP_``) or a ``.env`` file.

``DATABASE_URL`` (no prefix, as every PostgreSQL tool spells it) selects the PostGIS
store; without it the embedded store keeps its data under ``JZMAP_DATA_DIR``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = PROJECT_ROOT / "data" / "guangzhou"


class Settings(BaseSettings):
    """Every knob of the service, documented in the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="JZMAP_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "JZMAP_DATABASE_URL"),
        description="postgresql://user@host:port/db selects the PostGIS store",
    )
    data_dir: Path = Field(
        default=PROJECT_ROOT / "var" / "embedded",
        description="where the embedded store keeps providers.sqlite",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_connect_timeout_s: int = Field(default=5, ge=1, le=120)
    db_statement_timeout_ms: int = Field(default=10_000, ge=100, le=600_000)

    @property
    def backend(self) -> str:
        return "postgis" if self.database_url else "embedded"
