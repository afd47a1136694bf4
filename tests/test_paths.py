"""Where the program reads its shipped files and writes its own: the reference data through
``importlib.resources``, the store in the user's data directory (never the checkout or the
installation), and error messages that name neither."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from api.errors import redact_paths
from geo.package_data import REFERENCE_DIR, package_path, reference_dir
from jzmap.paths import default_data_dir, install_roots
from jzmap.settings import DatabaseSettings, Settings

ROOT = Path(__file__).resolve().parents[1]  # the checkout


def test_from_a_checkout_the_reference_data_is_read_where_it_is() -> None:
    # (tests/test_wheel.py checks the installed wheel's packaged copy)
    assert reference_dir() == REFERENCE_DIR == ROOT / "data" / "guangzhou"
    assert Settings().city.districts_layer == REFERENCE_DIR / "districts.geojson"


def test_package_path_is_a_file_system_path_inside_the_package() -> None:
    static = package_path("maps", "static", "jzmap.js")
    assert static == ROOT / "maps" / "static" / "jzmap.js"
    assert static.is_file()
    assert package_path("providers.stores", "migrations").is_dir()


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG base directories are Linux's")
def test_the_default_data_directory_is_the_users_not_the_checkouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JZMAP_DATA_DIR")  # conftest points it at the session's own folder
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "jzmap"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "jzmap"
    # The database section, where the setting lives, read without a stray .env file.
    database = DatabaseSettings(_env_file=None)
    assert database.data_dir == tmp_path / "xdg" / "jzmap"
    assert not database.data_dir.exists()  # created by the store that opens it, not here


def test_jzmap_data_dir_still_chooses_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JZMAP_DATA_DIR", str(tmp_path / "elsewhere"))
    assert Settings().database.data_dir == tmp_path / "elsewhere"


def test_the_suite_never_uses_the_users_data_directory() -> None:
    assert Settings().database.data_dir != default_data_dir()


def test_error_messages_do_not_name_where_the_program_is_installed() -> None:
    roots = install_roots()
    assert ROOT in roots and Path(sys.prefix) in roots
    for root in roots:
        message = f"cannot open {root / 'lib' / 'secret.sqlite'}: driver said no"
        assert redact_paths(message) == "cannot open secret.sqlite: driver said no"
