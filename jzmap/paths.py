"""Where the program keeps what it writes, and where it is installed.

What the program writes (the embedded store, the geocoding cache) goes to the user's data
directory as the platform defines it (``~/.local/share/jzmap`` on Linux, or under
``$XDG_DATA_HOME``), never into the installation or the source tree: a wheel's
site-packages may be read-only and is replaced on upgrade, and a checkout is not a place
for a city's data. ``JZMAP_DATA_DIR`` chooses another directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs

from geo.package_data import package_path

APP_NAME = "jzmap"


def default_data_dir() -> Path:
    """The user's data directory for jzmap (not created here).

    Read from the environment at each call (``HOME``, ``XDG_DATA_HOME``), so a process
    that changes them (a test) gets the directory they name.
    """
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def install_roots() -> list[Path]:
    """The directories the running program lives in: the folder holding its packages (a
    checkout's root, or site-packages) and the Python installation (``sys.prefix``, and
    the interpreter's own when that is a virtualenv)."""
    found = [package_path("jzmap").parent, Path(sys.prefix), Path(sys.base_prefix)]
    # Both spellings: a path through a symbolic link and the one it leads to.
    return list(dict.fromkeys([*found, *(p.resolve() for p in found)]))
