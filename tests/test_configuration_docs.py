"""docs/configuration.md names every setting the code reads, and no page names one that does
not exist.

The variables are the settings' own list (:meth:`jzmap.settings.Settings.environment_variables`:
every section's fields with their prefixes and aliases), so a new setting is caught wherever
it is added.
"""

from __future__ import annotations

import re
from pathlib import Path

from jzmap.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
# Every page a reader may take a variable's name from.
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
# Environment variables the docs name that are not settings of the service: the test
# cluster's directory, exported by scripts/pg-throwaway for the scripts that stop it.
NOT_SETTINGS = {"JZMAP_PG_THROWAWAY_DIR"}
VARIABLE = re.compile(r"`(JZMAP_[A-Z0-9_]+|DATABASE_URL|DATABASE_READ_URLS)`")


def _settings() -> set[str]:
    names = set(Settings.environment_variables())
    # Guards the two tests below: an empty or prefix-less list would let them pass.
    assert {"DATABASE_URL", "JZMAP_DATA_DIR", "JZMAP_RATE_LIMIT_BURST"} <= names
    plain = {"DATABASE_URL", "DATABASE_READ_URLS"}  # as PostgreSQL tools spell them
    assert all(n in plain or n.startswith("JZMAP_") for n in names), names
    return names


def _documented(text: str) -> set[str]:
    found = set(VARIABLE.findall(text))
    found.discard("JZMAP_")  # "the `JZMAP_` prefix"
    return found


def test_every_setting_is_in_the_configuration_table() -> None:
    table = CONFIGURATION.read_text("utf-8")
    rows = "\n".join(line for line in table.splitlines() if line.startswith("| `"))
    missing = sorted(n for n in _settings() if f"`{n}`" not in rows)
    assert missing == [], f"add to the table in docs/configuration.md: {missing}"


def test_no_page_names_a_setting_that_does_not_exist() -> None:
    known = _settings() | NOT_SETTINGS
    unknown = {
        page.relative_to(ROOT).as_posix(): sorted(_documented(page.read_text("utf-8")) - known)
        for page in PAGES
    }
    assert {page: names for page, names in unknown.items() if names} == {}
