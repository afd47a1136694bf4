"""The README's configuration table names every setting the code reads, and no other."""

from __future__ import annotations

import re
from pathlib import Path

from jzmap.settings import Settings

ROOT = Path(__file__).resolve().parents[1]  # the checkout


def _configuration_section() -> str:
    readme = (ROOT / "README.md").read_text("utf-8")
    start = readme.index("## Configuration\n")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def test_every_setting_is_in_the_readme_table() -> None:
    table = _configuration_section()
    missing = [name for name in Settings.environment_variables() if f"`{name}`" not in table]
    assert missing == [], f"add to the README's configuration table: {missing}"


def test_the_readme_table_names_no_setting_that_does_not_exist() -> None:
    known = set(Settings.environment_variables())
    documented = set(re.findall(r"`(JZMAP_[A-Z0-9_]+|DATABASE_URL)`", _configuration_section()))
    documented.discard("JZMAP_")  # "the `JZMAP_` prefix"
    assert documented - known == set()
