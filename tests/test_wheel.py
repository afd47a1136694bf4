"""The wheel is a working program: built from the checkout, installed into a fresh
virtualenv outside it, run from an empty directory — ``jzmap demo``, then ``jzmap serve``
answering a nearest-match query over HTTP, with the packaged reference data, static files
and migrations, and the store in the user's data directory (a temporary ``HOME`` here).

Offline: the wheel is built with the project's own hatchling (no build isolation) and
installed without its dependencies; those come from the project's virtualenv through a
``.pth`` line naming its site-packages. Such a line only adds that directory to
``sys.path`` — the ``.pth`` files inside it (the editable install's, which names the
checkout) are not processed — so the checkout stays out of reach, as the first test proves.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from providers.stores.engine import MIGRATIONS_DIR, sqlalchemy_url
from tests.browser import free_port, serve_process

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("geo", "ingest", "api", "maps", "providers", "jzmap", "gaps")


def test_no_dependency_or_standard_module_has_a_top_level_name_of_ours() -> None:
    """The seven flat names land in site-packages beside the dependencies' own: none of
    those (nor the standard library) may bring a package or module of the same name."""
    owners = importlib.metadata.packages_distributions()
    clashes = {
        name: others
        for name in PACKAGES
        if (others := sorted(set(owners.get(name, [])) - {"jzmap"}))
    }
    assert clashes == {}
    assert set(PACKAGES) & sys.stdlib_module_names == set()


@dataclass(frozen=True)
class Installed:
    """A virtualenv holding only the wheel, and how to run its programs."""

    venv: Path
    site_packages: Path
    home: Path
    workdir: Path  # empty: the commands run from here

    @property
    def env(self) -> dict[str, str]:
        """The caller's environment without anything that could lead back to the checkout
        or to another store: no JZMAP_* settings, no DATABASE_URL, no PYTHONPATH, and a
        ``HOME`` of its own so the user's data directory is a temporary one."""
        skip = {"DATABASE_URL", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "XDG_DATA_HOME"}
        env = {k: v for k, v in os.environ.items() if k not in skip and not k.startswith("JZMAP_")}
        env["HOME"] = str(self.home)
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env

    def run(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            args,
            cwd=self.workdir,
            env=self.env | extra_env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def python(self, code: str, **extra_env: str) -> str:
        return self.run(str(self.venv / "bin" / "python"), "-c", code, **extra_env).stdout


def _site_packages(python: Path | str) -> list[str]:
    """The site-packages directories of the virtualenv (or installation) of ``python``."""
    code = (
        "import json, sysconfig; p = sysconfig.get_paths(); "
        "print(json.dumps([p['purelib'], p['platlib']]))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return list(dict.fromkeys(json.loads(out.stdout)))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"),
            *("--no-build-isolation", "--no-index", "--wheel-dir", str(dist), str(ROOT)),
        ],
        check=True,
    )
    (wheel,) = dist.glob("jzmap-*.whl")

    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"),
            *("--no-deps", "--no-index", str(wheel)),
        ],
        check=True,
    )
    site_packages = Path(_site_packages(python)[0])
    # The dependencies: the project's virtualenv, as plain sys.path entries.
    (site_packages / "jzmap-test-dependencies.pth").write_text(
        "\n".join(_site_packages(sys.executable)) + "\n"
    )

    home, workdir = base / "home", base / "empty"
    home.mkdir()
    workdir.mkdir()
    return Installed(venv, site_packages, home, workdir)


def test_the_installed_packages_come_from_the_wheel_not_the_checkout(
    installed: Installed,
) -> None:
    code = (
        "import importlib, json, sys\n"
        f"names = {PACKAGES!r}\n"
        "files = {n: importlib.import_module(n).__file__ for n in names}\n"
        "from geo.package_data import REFERENCE_DIR\n"
        "from maps.page import STATIC_DIR\n"
        "from providers.stores.engine import MIGRATIONS_DIR\n"
        "print(json.dumps({'files': files, 'path': sys.path, 'reference': str(REFERENCE_DIR),"
        " 'static': str(STATIC_DIR), 'migrations': str(MIGRATIONS_DIR)}))\n"
    )
    found = json.loads(installed.python(code))
    site = installed.site_packages
    for name, file in found["files"].items():
        assert Path(file).is_relative_to(site), f"{name} imported from {file}"
    assert str(ROOT) not in found["path"]  # ("" is there: the empty directory, for -c)

    reference = Path(found["reference"])
    assert reference == site / "geo" / "reference" / "guangzhou"
    assert sorted(p.name for p in reference.iterdir()) == sorted(
        p.name for p in (ROOT / "data" / "guangzhou").iterdir()
    )
    assert (reference / "SOURCES.md").read_bytes() == (
        ROOT / "data" / "guangzhou" / "SOURCES.md"
    ).read_bytes()
    assert Path(found["static"]) == site / "maps" / "static"
    assert (Path(found["static"]) / "vendor" / "leaflet" / "leaflet.js").is_file()
    assert Path(found["migrations"]) == site / "providers" / "stores" / "migrations"
    assert sorted(p.name for p in (Path(found["migrations"]) / "versions").glob("*.py")) == sorted(
        p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py")
    )


@pytest.fixture(scope="module")
def demo_city(installed: Installed) -> Path:
    """``jzmap demo`` from the empty directory; the data directory it filled."""
    out = installed.run("jzmap", "demo").stdout
    data_dir = Path(
        installed.python(
            "from jzmap.paths import default_data_dir; print(default_data_dir())"
        ).strip()
    )
    assert data_dir.is_relative_to(installed.home), data_dir
    assert str(data_dir) in out
    return data_dir


def test_demo_builds_the_city_in_the_users_data_directory(
    installed: Installed, demo_city: Path
) -> None:
    assert (demo_city / "providers.sqlite").is_file()
    assert list(installed.workdir.iterdir()) == []
    # Nothing was written into the installation.
    assert not list(installed.site_packages.rglob("*.sqlite"))


@contextmanager
def _serving(installed: Installed, **extra_env: str) -> Iterator[str]:
    """``jzmap serve`` on a free port from the empty directory; its base URL once it answers."""
    port = free_port()
    command = ["jzmap", "serve", "--port", str(port)]
    with serve_process(command, installed.env | extra_env, port=port, cwd=installed.workdir) as s:
        yield s.url


def _get(url: str) -> tuple[int, bytes]:
    with urlopen(url, timeout=60) as r:
        return int(r.status), r.read()


def test_serve_answers_a_nearest_query_from_the_demo_city(
    installed: Installed, demo_city: Path
) -> None:
    with _serving(installed) as url:
        status, body = _get(f"{url}/v1/providers/nearest?lat=23.13&lon=113.26")
        # The pages and their static files come from the installed package too.
        pages = {path: _get(url + path)[0] for path in ("/map", "/docs")}
        leaflet = _get(f"{url}/static/vendor/leaflet/leaflet.js")
    assert status == 200
    answer = json.loads(body)
    assert len(answer["results"]) == 10
    assert all(m["synthetic"] for m in answer["results"])
    assert pages == {"/map": 200, "/docs": 200}
    assert leaflet == (200, (ROOT / "maps/static/vendor/leaflet/leaflet.js").read_bytes())


@pytest.mark.postgis
def test_the_packaged_migrations_build_a_postgis_schema(installed: Installed) -> None:
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        pytest.fail("DATABASE_URL is not set: run the suite with `make test`")
    name = f"jzmap_wheel_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(sqlalchemy_url(server_url)).set(database=name)
    try:
        out = installed.run(
            "jzmap", "db", "upgrade", DATABASE_URL=url.render_as_string(hide_password=False)
        ).stdout
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        finally:
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert revision == head
    assert f"revision {head}" in out
