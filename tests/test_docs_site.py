"""The documentation keeps up with the code, where ``mkdocs build --strict`` cannot see.

The build (run by ``make test``) fails on a broken link between pages or to an anchor.
These tests check the rest: the README stays a short front page whose links resolve; every
route the app serves is in docs/api.md; every repository file a page names exists; every
``make`` target is explained; every import contract is explained on the architecture page.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import tomllib
import unicodedata
from pathlib import Path

import pytest
from fastapi import APIRouter

import api.routes

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
# The Markdown files at the root that link into the repository (GitHub renders them).
ROOT_FILES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"]
README_MAX_LINES = 250

# Top-level folders a page may name a file or folder in.
REPOSITORY_DIRS = "api|bench|data|docs|gaps|geo|ingest|jzmap|maps|notebooks|providers|scripts|tests"
REPOSITORY_PATH = re.compile(rf"^(?:{REPOSITORY_DIRS})/[\w./-]*$")
# Named by the pages but not in a checkout: made by the benchmarks, ignored by git.
NOT_COMMITTED = {"bench/results/"}

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _prose(text: str) -> str:
    """The text outside fenced code blocks."""
    return FENCE.sub("", text)


def _slug(heading: str) -> str:
    """The anchor Python-Markdown's ``toc`` (MkDocs) gives a heading, for ASCII headings."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", _prose(page.read_text("utf-8")), re.MULTILINE)
    return {_slug(h) for h in headings}


def test_the_readme_is_a_short_front_page() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    # The quick start's two commands, and a way into every page of the site.
    assert "make demo" in readme and "make test" in readme
    linked = {target.split("#")[0] for target in LINK.findall(readme)}
    unlinked = [
        p.name
        for p in PAGES
        if f"docs/{p.name}" not in linked and p.name not in {"changelog.md", "contributing.md"}
    ]
    assert unlinked == [], f"link these pages from the README: {unlinked}"


@pytest.mark.parametrize("path", ROOT_FILES, ids=lambda p: p.name)
def test_relative_links_of_the_root_files_resolve(path: Path) -> None:
    broken = []
    for target in LINK.findall(_prose(path.read_text("utf-8"))):
        if re.match(r"^[a-z]+:", target):
            continue  # another site
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists() or (
            anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved)
        ):
            broken.append(target)
    assert broken == []


def test_the_link_check_finds_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n[fine](#a-page) [gone](missing.md) [lost](#nowhere)\n")
    found = [t for t in LINK.findall(page.read_text()) if t != "#a-page"]
    assert found == ["missing.md", "#nowhere"]
    assert _anchors(page) == {"a-page"}


def _served_paths() -> set[str]:
    """Every path the API's routers answer, ``{parameter}`` names folded to ``{}``."""
    paths = {"/openapi.json"}  # FastAPI's own
    for module in pkgutil.iter_modules(api.routes.__path__, prefix="api.routes."):
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, APIRouter):
                paths |= {route.path for route in value.routes if hasattr(route, "path")}
    return {re.sub(r"\{[^}]*\}", "{}", p) for p in paths}


def test_every_route_is_in_the_api_page() -> None:
    served = _served_paths()
    assert {"/v1/providers/nearest", "/v1/providers/{}", "/healthz"} <= served
    page = (DOCS / "api.md").read_text("utf-8")
    named = {re.sub(r"\{[^}]*\}", "{}", p) for p in re.findall(r"(/[\w{}/.-]*)", page)}
    assert sorted(served - named) == []


def _named_paths(text: str) -> set[str]:
    words = (span.split()[0] for span in CODE_SPAN.findall(text) if span.strip())
    return {w.rstrip(".,;:") for w in words if REPOSITORY_PATH.match(w)}


@pytest.mark.parametrize("path", [*PAGES, *ROOT_FILES], ids=lambda p: p.name)
def test_every_file_a_page_names_exists(path: Path) -> None:
    named = _named_paths(path.read_text("utf-8"))
    missing = sorted(p for p in named - NOT_COMMITTED if not (ROOT / p).exists())
    assert missing == []


def test_the_path_check_sees_paths_in_code_spans() -> None:
    text = "see `geo/crs.py`, `scripts/bench [--sizes N]`, `.venv/bin/jzmap` and `/v1/map`"
    assert _named_paths(text) == {"geo/crs.py", "scripts/bench"}


def test_every_make_target_is_explained() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    targets = re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE)
    assert "demo" in targets and "test" in targets
    development = (DOCS / "development.md").read_text("utf-8")
    getting_started = (DOCS / "getting-started.md").read_text("utf-8")
    missing = [t for t in targets if f"make {t}" not in development + getting_started]
    assert missing == []


def test_every_import_contract_is_explained_on_the_architecture_page() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    importlinter = config.get("tool", {}).get("importlinter")
    if importlinter is None:
        pytest.skip("no [tool.importlinter] in pyproject.toml")
    contracts = importlinter.get("contracts", [])
    assert contracts, "[tool.importlinter] without contracts"
    page = (DOCS / "architecture.md").read_text("utf-8")
    unexplained = [c["name"] for c in contracts if c["name"] not in page]
    assert unexplained == []
