"""An OpenStreetMap extract (``.osm.pbf`` or ``.osm`` XML) to the arrays of a walking network.

Read with pyosmium (``osmium`` on PyPI: the OpenStreetMap project's own libosmium, with
wheels for every platform we run on): one library reads PBF and XML alike, keeps node
locations in its own C++ index while the file streams by, and is maintained alongside the
format. pyrosm (PBF only, no wheel for recent Pythons) and osmnx (XML only through
``graph_from_xml``, builds a networkx graph object per node) were the alternatives.

Which ways are walkable is decided here, by their tags, in plain Python (:func:`walkable`):
the rule is the one the docs (``docs/coverage.md``) state.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import osmium

# Ways people walk along. Motorways and trunk roads (China's urban expressways, 快速路, are
# mostly `trunk`) are left out unless tagged with a sidewalk or foot access.
WALKABLE_HIGHWAYS = frozenset(
    {
        "pedestrian", "footway", "path", "steps", "living_street", "residential",
        "service", "unclassified", "tertiary", "tertiary_link", "secondary",
        "secondary_link", "primary", "primary_link", "track", "road", "corridor",
        "cycleway", "bridleway", "elevator",
    }
)  # fmt: skip
_FOOT_YES = frozenset({"yes", "designated", "permissive", "destination"})
_NO_ACCESS = frozenset({"no", "private"})
_SIDEWALK_YES = frozenset({"both", "left", "right", "yes", "separate"})


@dataclass(frozen=True)
class OsmWays:
    """The walkable ways of an extract as node and edge arrays.

    ``node_lon``/``node_lat`` are WGS-84 degrees; each edge joins two consecutive nodes of a
    way; ``edge_name`` indexes ``names`` (``-1``: the way has no ``name``).
    """

    node_lon: npt.NDArray[np.float64]
    node_lat: npt.NDArray[np.float64]
    edge_u: npt.NDArray[np.int64]
    edge_v: npt.NDArray[np.int64]
    edge_name: npt.NDArray[np.int64]
    names: tuple[str, ...]
    ways: int


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def walkable(tags: dict[str, str]) -> bool:
    """Whether a way with these tags can be walked.

    Examples
    --------
    >>> walkable({"highway": "footway"}), walkable({"highway": "motorway"})
    (True, False)
    >>> walkable({"highway": "residential", "foot": "no"})
    False
    >>> walkable({"highway": "trunk", "sidewalk": "both"})
    True
    >>> walkable({"highway": "service", "access": "private", "foot": "yes"})
    True
    """
    highway = tags.get("highway")
    if highway is None:
        return False
    foot = tags.get("foot")
    if foot in _NO_ACCESS or (tags.get("area") == "yes" and highway != "pedestrian"):
        return False
    if foot in _FOOT_YES:
        return True
    if tags.get("access") in _NO_ACCESS:
        return False
    if highway in ("trunk", "trunk_link"):
        return tags.get("sidewalk") in _SIDEWALK_YES
    return highway in WALKABLE_HIGHWAYS


def read_walkable_ways(path: Path) -> OsmWays:
    """The walkable ways of an ``.osm.pbf``/``.osm`` file (nodes of other ways left out).

    Parameters
    ----------
    path
        The extract; its format is chosen by the file name's ending, as osmium does.

    Returns
    -------
    OsmWays
        Every node on a walkable way (by OSM id, once), and one edge per consecutive pair.
    """
    node_pos: dict[int, int] = {}
    lon: list[float] = []
    lat: list[float] = []
    edge_u: list[int] = []
    edge_v: list[int] = []
    edge_name: list[int] = []
    name_pos: dict[str, int] = {}
    ways = 0
    processor = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    for way in processor:
        if not isinstance(way, osmium.osm.Way):
            continue
        tags = {t.k: t.v for t in way.tags}
        if not walkable(tags):
            continue
        refs: list[int] = []
        for n in way.nodes:
            if not n.location.valid():
                continue  # a node cut off by the extract's edge
            pos = node_pos.get(n.ref)
            if pos is None:
                pos = node_pos[n.ref] = len(lon)
                lon.append(n.lon)
                lat.append(n.lat)
            refs.append(pos)
        if len(refs) < 2:
            continue
        ways += 1
        name = tags.get("name")
        label = -1 if not name else name_pos.setdefault(name, len(name_pos))
        edge_u.extend(refs[:-1])
        edge_v.extend(refs[1:])
        edge_name.extend([label] * (len(refs) - 1))
    return OsmWays(
        node_lon=np.asarray(lon, dtype=np.float64),
        node_lat=np.asarray(lat, dtype=np.float64),
        edge_u=np.asarray(edge_u, dtype=np.int64),
        edge_v=np.asarray(edge_v, dtype=np.int64),
        edge_name=np.asarray(edge_name, dtype=np.int64),
        names=tuple(name_pos),
        ways=ways,
    )
