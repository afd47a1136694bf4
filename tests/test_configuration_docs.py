"""docs/configuration.md names every setting the code reads, and no page names one that does
not exist.

The variables are read off the settings classes themselves (their fields, prefixes and
aliases), so the check holds whether the settings are one class or one per concern.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices, BaseModel
from pydantic_settings import BaseSettings

from jzmap.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
# Every page a reader may take a variable's name from.
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
# Environment variables the docs name that are not settings of the service: the test
# cluster's directory, exported by scripts/pg-throwaway for the scripts that stop it.
NOT_SETTINGS = {"JZMAP_PG_THROWAWAY_DIR"}
VARIABLE = re.compile(r"`(JZMAP_[A-Z0-9_]+|DATABASE_URL)`")


def _environment_names(model: type[BaseModel], prefix: str = "") -> set[str]:
    """The environment variables that fill ``model``'s fields, nested settings included."""
    if issubclass(model, BaseSettings):
        prefix = str(model.model_config.get("env_prefix", prefix))
    names: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _environment_names(annotation, prefix)
            continue
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            # The first choice is the documented spelling (DATABASE_URL, not JZMAP_…).
            first = alias.choices[0]
            assert isinstance(first, str), f"{model.__name__}.{name}: a path alias"
            names.add(first.upper())
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def _documented(text: str) -> set[str]:
    found = set(VARIABLE.findall(text))
    found.discard("JZMAP_")  # "the `JZMAP_` prefix"
    return found


def test_the_settings_are_read_from_the_environment_names_we_expect() -> None:
    # Guards the walk above: if it returned nothing, or lost the prefix, the two tests
    # below would check nothing.
    names = _environment_names(Settings)
    assert {"DATABASE_URL", "JZMAP_DATA_DIR", "JZMAP_RATE_LIMIT_BURST"} <= names
    assert len(names) > 30
    assert all(n == "DATABASE_URL" or n.startswith("JZMAP_") for n in names), names


def test_every_setting_is_in_the_configuration_table() -> None:
    table = CONFIGURATION.read_text("utf-8")
    rows = "\n".join(line for line in table.splitlines() if line.startswith("| `"))
    missing = sorted(n for n in _environment_names(Settings) if f"`{n}`" not in rows)
    assert missing == [], f"add to the table in docs/configuration.md: {missing}"


def test_no_page_names_a_setting_that_does_not_exist() -> None:
    known = _environment_names(Settings) | NOT_SETTINGS
    unknown = {
        page.relative_to(ROOT).as_posix(): sorted(_documented(page.read_text("utf-8")) - known)
        for page in PAGES
    }
    assert {page: names for page, names in unknown.items() if names} == {}
