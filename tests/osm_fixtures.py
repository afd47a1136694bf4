"""Hand-built OpenStreetMap files for the walking-network tests.

Each place is drawn in metres east and north of an origin in Guangzhou (海珠区, inside the
city's districts layer) and written as OSM XML, coordinates to 1e-7° (~1 cm) as OSM
stores them. The answers the tests expect are worked out by hand from these metres: the
tests compare them with what the code measures on the ellipsoid, to a metre.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from pyproj import Geod

ORIGIN = (113.30, 23.10)  # lon, lat (WGS-84)
_GEOD = Geod(ellps="WGS84")


def lonlat(
    east_m: float, north_m: float, origin: tuple[float, float] = ORIGIN
) -> tuple[float, float]:
    """The point ``east_m`` east then ``north_m`` north of ``origin`` (geodesic)."""
    lon, lat, _ = _GEOD.fwd(origin[0], origin[1], 90.0, east_m)
    lon, lat, _ = _GEOD.fwd(lon, lat, 0.0, north_m)
    return float(lon), float(lat)


@dataclass
class OsmPlace:
    """Nodes by name at metre offsets, and ways through them with their tags."""

    nodes: dict[str, tuple[float, float]] = field(default_factory=dict)
    ways: list[tuple[list[str], dict[str, str]]] = field(default_factory=list)

    def node(self, name: str, east_m: float, north_m: float) -> None:
        self.nodes[name] = (east_m, north_m)

    def way(self, names: list[str], **tags: str) -> None:
        self.ways.append((names, tags))

    origin: tuple[float, float] = ORIGIN

    def at(self, name: str) -> tuple[float, float]:
        """A node's WGS-84 lon/lat."""
        return lonlat(*self.nodes[name], origin=self.origin)

    def write(self, path: Path) -> Path:
        ids = {name: i + 1 for i, name in enumerate(self.nodes)}
        lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
        for name, i in ids.items():
            lon, lat = self.at(name)
            lines.append(f'  <node id="{i}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
        for w, (names, tags) in enumerate(self.ways, start=1):
            lines.append(f'  <way id="{w}" version="1">')
            lines.extend(f'    <nd ref="{ids[n]}"/>' for n in names)
            lines.extend(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
            lines.append("  </way>")
        lines.append("</osm>")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def river_with_one_bridge() -> OsmPlace:
    """Two streets 700 m apart along the banks of a north-south river, joined by one
    footbridge 900 m north; an expressway (motorway) crosses at 0 m but cannot be walked.

    West bank: w0 (0, -1000) – w1 (0, 0) – w2 (0, 500) – w3 (0, 900).
    East bank: e0 (700, -1000) – e1 (700, 0) – e3 (700, 900).
    Bridge: w3 – e3 (700 m). Motorway: w1 – e1.

    From w1 to e1: crow-fly 700 m; walking 900 + 700 + 900 = 2,500 m.
    """
    place = OsmPlace()
    for name, east, north in [
        ("w0", 0, -1000), ("w1", 0, 0), ("w2", 0, 500), ("w3", 0, 900),
        ("e0", 700, -1000), ("e1", 700, 0), ("e3", 700, 900),
    ]:  # fmt: skip
        place.node(name, east, north)
    place.way(["w0", "w1", "w2", "w3"], highway="residential", name="西岸路")
    place.way(["e0", "e1", "e3"], highway="residential", name="东岸路")
    place.way(["w3", "e3"], highway="footway", bridge="yes", name="人行桥")
    place.way(["w1", "e1"], highway="motorway", bridge="yes", name="快速路")
    return place


def cul_de_sac() -> OsmPlace:
    """A dead-end lane whose end is 100 m from a street behind a wall.

    South street: s0 (0, 0) – s5 (500, 0) – s10 (1000, 0).
    Lane (cul-de-sac): s5 – c (500, 400), ending there.
    West street: s0 – n0 (0, 500). North street: n0 – n5 (500, 500) – n10 (1000, 500).
    A private service road n5 – c (access=private) does not count.

    From c to n5: crow-fly 100 m; walking 400 + 500 + 500 + 500 = 1,900 m.
    """
    place = OsmPlace()
    for name, east, north in [
        ("s0", 0, 0), ("s5", 500, 0), ("s10", 1000, 0), ("c", 500, 400),
        ("n0", 0, 500), ("n5", 500, 500), ("n10", 1000, 500),
    ]:  # fmt: skip
        place.node(name, east, north)
    place.way(["s0", "s5", "s10"], highway="residential", name="南街")
    place.way(["s5", "c"], highway="residential", name="死胡同")
    place.way(["s0", "n0"], highway="residential", name="西街")
    place.way(["n0", "n5", "n10"], highway="residential", name="北街")
    place.way(["n5", "c"], highway="service", access="private")
    return place


def island() -> OsmPlace:
    """A bank street and an island 250 m off it with a footpath loop and no bridge.

    Bank: b0 (0, -500) – b1 (0, 0) – b2 (0, 500).
    Island loop: i0 (250, -50) – i1 (350, -50) – i2 (350, 50) – i3 (250, 50) – i0.

    The island's centre (300, 0) is 300 m from b1 by crow-fly and 50 m from the path on
    each side (~71 m from its corners): on the network, but no walk reaches the bank.
    """
    place = OsmPlace()
    for name, east, north in [
        ("b0", 0, -500), ("b1", 0, 0), ("b2", 0, 500),
        ("i0", 250, -50), ("i1", 350, -50), ("i2", 350, 50), ("i3", 250, 50),
    ]:  # fmt: skip
        place.node(name, east, north)
    place.way(["b0", "b1", "b2"], highway="residential", name="江边路")
    place.way(["i0", "i1", "i2", "i3", "i0"], highway="footway", name="岛上步道")
    return place


def street_grid(origin: tuple[float, float], half_m: int = 1_000, step_m: int = 200) -> OsmPlace:
    """Residential streets every ``step_m`` in a square ``2 × half_m`` wide around
    ``origin``: a plain walkable neighbourhood for tests that need any network."""
    place = OsmPlace(origin=origin)
    ticks = range(-half_m, half_m + 1, step_m)
    for e in ticks:
        for n in ticks:
            place.node(f"{e},{n}", e, n)
    for t in ticks:
        place.way([f"{e},{t}" for e in ticks], highway="residential", name=f"东西{t}路")
        place.way([f"{t},{n}" for n in ticks], highway="residential", name=f"南北{t}路")
    return place


def rooms_csv(path: Path, origin: tuple[float, float]) -> Path:
    """Three candidate rooms around ``origin`` (a CSV of the candidate-sites format)."""
    rows = ["编号,名称,经度,纬度,地址,容量"]
    for i, (e, n) in enumerate([(-600, 400), (500, -500), (900, 900)], start=1):
        lon, lat = lonlat(e, n, origin)
        rows.append(f"room-{i},测试社区用房{i},{lon:.7f},{lat:.7f},测试路{i}号,{500 * i}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
