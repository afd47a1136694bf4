"""Files shipped inside the packages, found through :mod:`importlib.resources`.

The Guangzhou reference data (district and street boundaries, the census table and
``SOURCES.md``, their provenance) lives in the repository's top-level ``data/guangzhou/``;
the wheel carries a copy of that folder as ``geo/reference/guangzhou/`` (pyproject's hatch
``force-include``), so an installed program reads it from its own package while a
checkout (or an editable install) reads the folder where it is. Nothing here imports
geopandas: the service's hot modules import this one.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Final

PACKAGED_REFERENCE = ("reference", "guangzhou")
"""Where the wheel puts ``data/guangzhou`` inside the ``geo`` package."""


def package_path(package: str, *parts: str) -> Path:
    """A file or folder shipped inside ``package``, as a path on the file system.

    Parameters
    ----------
    package
        A regular package's dotted name, e.g. ``"maps"`` or ``"providers.stores"``.
    parts
        The path inside it, one part per argument; none for the package's own folder.

    Raises
    ------
    RuntimeError
        When the package is not plain files (imported from a zip archive): GDAL, Alembic
        and the static file server all need real paths.

    Examples
    --------
    >>> package_path("geo", "package_data.py").name
    'package_data.py'
    """
    resource = files(package).joinpath(*parts)
    if not isinstance(resource, Path):
        raise RuntimeError(
            f"{package} is not installed as plain files (found {resource!r}); "
            "install jzmap with pip, not as a zip archive"
        )
    return resource


def reference_dir() -> Path:
    """The folder of the Guangzhou reference data: the packaged copy, else the checkout's.

    Examples
    --------
    >>> sorted(p.name for p in reference_dir().iterdir())
    ['SOURCES.md', 'districts.csv', 'districts.geojson', 'streets.csv']
    """
    packaged = package_path("geo", *PACKAGED_REFERENCE)
    if packaged.is_dir():
        return packaged
    # A checkout: geo/ and data/ are siblings at the repository's root.
    checkout = package_path("geo").parent / "data" / "guangzhou"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"the Guangzhou reference data is neither in {packaged} (an installed wheel) "
        f"nor in {checkout} (a checkout): reinstall jzmap"
    )


REFERENCE_DIR: Final[Path] = reference_dir()
"""The Guangzhou reference data: ``districts.geojson``, ``districts.csv``, ``streets.csv``
and ``SOURCES.md`` (their sources and licences)."""
