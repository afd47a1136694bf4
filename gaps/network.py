"""Walking distances over a pedestrian street network: snapping, many-to-many routing,
nearest provider and walking isochrones.

The network is plain arrays (:class:`WalkNetwork`): nodes in WGS-84 degrees and undirected
edges whose lengths are geodesic metres on the WGS-84 ellipsoid. Routing is
:func:`scipy.sparse.csgraph.dijkstra` in C, from many sources at once and bounded by its
``limit``, never one Python Dijkstra per cell.

A point (cell centre, provider's door) joins the network at the nearest point of the nearest
*way* (edge), its foot, not at the nearest node: a door beside the middle of a 50 m edge
walks the few metres to the street, not 25 m more to a corner, and joins the street it is
beside (:func:`snap`). The walk from the door to its foot (geodesic metres) is part of every
walk it starts or ends; a point whose foot is farther than ``max_snap_m`` is off the
network: unreachable, however close it is by crow-fly.

The foot splits its edge virtually, the graph is not rebuilt for it: a point joins through
two links, to the edge's two end nodes, each the snap plus the metres along the edge to that
end (one link when the foot is on a node). Sources are joined through one virtual node each
carrying those links; a multi-source Dijkstra from those virtual nodes with ``min_only``
then gives every node its nearest source *including* that source's walk to the street, in
one pass over the graph, and a point reads its answer at its edge's two ends. Two points on
the same edge may also walk straight along it between their feet: that pair is measured
directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import CRS, Transformer
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from geo.geodesy import geodesic_distance_m

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

CROW_MODE: Final = "crow"
WALK_MODE: Final = "walk"
# What every answer says its distances are, in both languages of the service.
MODE_LABELS = {CROW_MODE: "直线距离 / crow-fly", WALK_MODE: "步行距离 / walking"}

# The default largest snap: a cell centre or a door farther than this from any walkable way
# is treated as off the network (a lake, a hill without paths, a closed compound).
DEFAULT_MAX_SNAP_M = 300.0
# GB 50180-2018's 5-, 10- and 15-minute life circles.
LIFE_CIRCLE_MINUTES: tuple[int, ...] = (5, 10, 15)
# The longest edge kept whole when a network is built from an extract (see densify).
DEFAULT_MAX_EDGE_M = 50.0
# Half the width of the band drawn along every reached way in an isochrone polygon.
DEFAULT_ISOCHRONE_BUFFER_M = 40.0
# Scipy's sparse graphs read a stored 0 as "no edge": a zero-length link (a door exactly
# on a node) gets this many metres instead, far below any figure reported.
_MIN_EDGE_M = 1e-6
# Sources per batch of a bounded many-to-many Dijkstra: each source's row is a dense array
# over all nodes, so a batch holds ~batch x nodes x 8 bytes (64 MB at 300k nodes).
_SOURCES_PER_BATCH = 32
# The snapping index samples every edge at least this often (piece midpoints): any point of
# a way is within half of it of a sample, which is what proves a nearest way exact
# (:meth:`_WayIndex.nearest`). 25 m: at most two samples per edge of a densified network.
_SAMPLE_M = 25.0
# Samples fetched per point before that proof; enough that it nearly always passes at once.
_SNAP_FETCH = 8
# A foot closer than this to an end of its edge joins the network at that node (one link):
# a millimetre, far below any figure reported, and above _MIN_EDGE_M so that a link of two
# is never stored lengthened.
_AT_NODE_M = 1e-3


@dataclass(frozen=True, eq=False)
class WalkNetwork:
    """A pedestrian network: nodes and undirected edges with geodesic lengths.

    Attributes
    ----------
    node_lon, node_lat
        Node positions, WGS-84 degrees.
    edge_u, edge_v
        Edge end nodes (positions into the node arrays); each edge is walkable both ways.
    edge_m
        Edge lengths, geodesic metres on the WGS-84 ellipsoid.
    edge_name
        Per edge, a position into ``names`` (the way's ``name`` tag), ``-1`` when unnamed.
    names
        The distinct way names.
    source_sha256
        The SHA-256 of the OpenStreetMap file the network was read from ("" if built).
    """

    node_lon: FloatArray
    node_lat: FloatArray
    edge_u: IntArray
    edge_v: IntArray
    edge_m: FloatArray
    edge_name: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    names: tuple[str, ...] = ()
    source_sha256: str = ""

    @property
    def nodes(self) -> int:
        return int(self.node_lon.size)

    @property
    def edges(self) -> int:
        return int(self.edge_u.size)

    @cached_property
    def graph(self) -> csr_matrix:
        """The symmetric adjacency matrix, metres (parallel edges: the shortest)."""
        return _adjacency(self.edge_u, self.edge_v, self.edge_m, self.nodes, self.nodes)

    @cached_property
    def ways(self) -> _WayIndex:
        """The spatial index :func:`snap` finds the nearest way with: built on first use,
        then kept with the network (~0.15 s and a few tens of MB at 300k nodes)."""
        return _WayIndex(self, np.arange(self.edges, dtype=np.int64))

    @cached_property
    def named_ways(self) -> _WayIndex:
        """The same index over the named edges only (:func:`nearest_way_name`)."""
        named = self.edge_name >= 0 if self.edge_name.size else np.zeros(self.edges, bool)
        return _WayIndex(self, np.nonzero(named)[0].astype(np.int64))


def network_from_arrays(
    node_lon: npt.ArrayLike,
    node_lat: npt.ArrayLike,
    edge_u: npt.ArrayLike,
    edge_v: npt.ArrayLike,
    *,
    edge_name: npt.ArrayLike | None = None,
    names: tuple[str, ...] = (),
    source_sha256: str = "",
) -> WalkNetwork:
    """A :class:`WalkNetwork` from node positions and edge ends, measuring every edge.

    Self-loops are dropped; edge lengths are geodesic metres between their end nodes (a
    way's shape is kept by keeping its intermediate nodes as nodes).

    Examples
    --------
    Two nodes 0.001° of longitude apart at 23.1°N (102.4 m):

    >>> net = network_from_arrays([113.300, 113.301], [23.1, 23.1], [0], [1])
    >>> net.nodes, net.edges, round(float(net.edge_m[0]), 1)
    (2, 1, 102.4)
    """
    lon = np.asarray(node_lon, dtype=np.float64).ravel()
    lat = np.asarray(node_lat, dtype=np.float64).ravel()
    u = np.asarray(edge_u, dtype=np.int64).ravel()
    v = np.asarray(edge_v, dtype=np.int64).ravel()
    name = (
        np.full(u.size, -1, dtype=np.int64)
        if edge_name is None
        else np.asarray(edge_name, dtype=np.int64).ravel()
    )
    if not (u.size == v.size == name.size):
        raise ValueError("edge arrays differ in length")
    if u.size and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= lon.size):
        raise ValueError("an edge names a node that does not exist")
    keep = u != v
    u, v, name = u[keep], v[keep], name[keep]
    metres = (
        geodesic_distance_m(lon[u], lat[u], lon[v], lat[v])
        if u.size
        else np.empty(0, dtype=np.float64)
    )
    return WalkNetwork(
        lon, lat, u, v, np.asarray(metres, np.float64), name, tuple(names), source_sha256
    )


def densify(net: WalkNetwork, max_edge_m: float = DEFAULT_MAX_EDGE_M) -> WalkNetwork:
    """``net`` with every edge longer than ``max_edge_m`` split into equal pieces.

    Points join the network on its ways (:func:`snap`), so this is not what keeps a door
    halfway along a long way from an end any more; short pieces keep each straight line in
    degrees within a millimetre of the geodesic, the snapping index at one or two samples
    an edge, and the cached networks as they were. New nodes lie on the straight line
    between the ends in degrees; lengths are measured again, piece by piece.

    Examples
    --------
    >>> net = network_from_arrays([113.300, 113.301], [23.1, 23.1], [0], [1])
    >>> fine = densify(net, 40.0)
    >>> fine.nodes, fine.edges, round(float(fine.edge_m.sum()), 1)
    (4, 3, 102.4)
    """
    pieces = np.maximum(np.ceil(net.edge_m / max_edge_m - 1e-9), 1).astype(np.int64)
    if (pieces == 1).all():
        return net
    split = np.nonzero(pieces > 1)[0]
    inner = pieces[split] - 1  # new nodes per split edge
    owner = np.repeat(split, inner)
    step = np.concatenate([np.arange(1, n + 1) for n in inner.tolist()])
    t = step / np.repeat(pieces[split], inner)
    u, v = net.edge_u[owner], net.edge_v[owner]
    new_lon = net.node_lon[u] + (net.node_lon[v] - net.node_lon[u]) * t
    new_lat = net.node_lat[u] + (net.node_lat[v] - net.node_lat[u]) * t
    new_ids = net.nodes + np.arange(owner.size, dtype=np.int64)
    # Per split edge, its chain of nodes: u, the new ones in order, v.
    starts = np.concatenate([[0], np.cumsum(inner)[:-1]])
    chain_u: list[IntArray] = []
    chain_v: list[IntArray] = []
    for e, first, n in zip(split.tolist(), starts.tolist(), inner.tolist(), strict=True):
        chain = np.concatenate([[net.edge_u[e]], new_ids[first : first + n], [net.edge_v[e]]])
        chain_u.append(chain[:-1])
        chain_v.append(chain[1:])
    whole = pieces == 1
    names = net.edge_name if net.edge_name.size else np.full(net.edges, -1, dtype=np.int64)
    return network_from_arrays(
        np.concatenate([net.node_lon, new_lon]),
        np.concatenate([net.node_lat, new_lat]),
        np.concatenate([net.edge_u[whole], *chain_u]),
        np.concatenate([net.edge_v[whole], *chain_v]),
        edge_name=np.concatenate([names[whole], np.repeat(names[split], pieces[split])]),
        names=net.names,
        source_sha256=net.source_sha256,
    )


def clip_network(net: WalkNetwork, keep_node: npt.ArrayLike) -> WalkNetwork:
    """The part of ``net`` whose edges have both ends among the kept nodes, renumbered,
    without nodes no edge touches.

    Examples
    --------
    >>> net = network_from_arrays([113.300, 113.301, 113.302], [23.1] * 3, [0, 1], [1, 2])
    >>> clip_network(net, [True, True, False]).edges
    1
    """
    keep = np.asarray(keep_node, dtype=bool).ravel()
    if keep.size != net.nodes:
        raise ValueError("keep_node must have one flag per node")
    edge_keep = keep[net.edge_u] & keep[net.edge_v]
    u, v = net.edge_u[edge_keep], net.edge_v[edge_keep]
    used = np.zeros(net.nodes, dtype=bool)
    used[u] = True
    used[v] = True
    new_pos = np.cumsum(used) - 1
    return WalkNetwork(
        net.node_lon[used],
        net.node_lat[used],
        new_pos[u].astype(np.int64),
        new_pos[v].astype(np.int64),
        net.edge_m[edge_keep],
        net.edge_name[edge_keep] if net.edge_name.size else net.edge_name,
        net.names,
        net.source_sha256,
    )


@dataclass(frozen=True)
class Snapped:
    """Where points join the network: each one's foot on its nearest way.

    Per point (``-1``, ``inf`` and NaN for a point off the network):

    Attributes
    ----------
    edge
        The nearest edge (a position into the network's edge arrays).
    u, v
        That edge's end nodes.
    to_u_m, to_v_m
        Metres along the edge from the foot to ``u`` and to ``v`` (they sum to the edge's
        geodesic length; ``0`` for the end a foot on a node is at).
    metres
        Geodesic metres from the point to its foot (WGS-84): the walk to the street.
    foot_lon, foot_lat
        The foot, WGS-84 degrees.
    """

    edge: IntArray
    u: IntArray
    v: IntArray
    to_u_m: FloatArray
    to_v_m: FloatArray
    metres: FloatArray
    foot_lon: FloatArray
    foot_lat: FloatArray

    @property
    def on(self) -> npt.NDArray[np.bool_]:
        """Which points are on the network (within ``max_snap_m`` of a way)."""
        return np.asarray(self.edge >= 0, dtype=bool)

    @property
    def nearest_node(self) -> IntArray:
        """The nearer end of each point's edge (``-1`` off the network)."""
        return np.where(self.to_u_m <= self.to_v_m, self.u, self.v).astype(np.int64)

    def links(
        self, rows: IntArray, node_map: IntArray | None = None
    ) -> tuple[IntArray, IntArray, FloatArray]:
        """The virtual links joining ``rows`` (points on the network) to the graph.

        Two per point, to its edge's ends, each the snap plus the metres along the edge to
        that end; one when the foot is on a node (the other end is reached along the edge
        itself). With ``node_map`` (old node → position in a part of the network, ``-1``
        outside it) the links are to that part, and links to nodes outside it are left out.

        Returns
        -------
        (row, node, metres)
            Per link: a position into ``rows``, the node and the link's metres.
        """
        to_u, to_v = self.to_u_m[rows], self.to_v_m[rows]
        u, v = self.u[rows], self.v[rows]
        if node_map is not None:
            u, v = node_map[u], node_map[v]
        use_u = ((to_u == 0) | (to_v > 0)) & (u >= 0)
        use_v = (to_u > 0) & (v >= 0)
        which = np.arange(rows.size, dtype=np.int64)
        row = np.concatenate([which[use_u], which[use_v]])
        node = np.concatenate([u[use_u], v[use_v]]).astype(np.int64)
        metres = np.concatenate(
            [self.metres[rows][use_u] + to_u[use_u], self.metres[rows][use_v] + to_v[use_v]]
        )
        return row, node, metres

    def link_excess(self, rows: IntArray) -> FloatArray:
        """What each point's shortest link was lengthened by when stored (a zero-length
        link, a point exactly on a node, is stored as :data:`_MIN_EDGE_M`), to take back off
        the distances found. Two links are never lengthened (each is at least
        :data:`_AT_NODE_M`)."""
        shortest = self.metres[rows] + np.minimum(self.to_u_m[rows], self.to_v_m[rows])
        return _link_excess(shortest)


def snap(net: WalkNetwork, lon: npt.ArrayLike, lat: npt.ArrayLike, max_snap_m: float) -> Snapped:
    """Each point's foot on its nearest way (edge), and its geodesic distance to it.

    The nearest edge and the foot (the perpendicular foot, or the nearer end when that falls
    off the segment) are found in an azimuthal equidistant plane centred on the network
    (metres; its scale is within 1e-5 of true 50 km from the centre), through the network's
    index (:attr:`WalkNetwork.ways`, built once); the distance reported is geodesic on the
    WGS-84 ellipsoid from the point to that foot, and the metres along the edge are shares
    of the edge's geodesic length. A foot within a millimetre of a node is that node.

    Returns
    -------
    Snapped
        ``-1`` / ``inf`` for points whose foot is farther than ``max_snap_m`` (off the
        network), and for every point when the network has no edges.

    Examples
    --------
    A way 102.4 m long; a door 20 m north of a point 20.5 m along it, and one 2 km away:

    >>> net = network_from_arrays([113.300, 113.301], [23.1, 23.1], [0], [1])
    >>> at = snap(net, [113.3002, 113.32], [23.10018, 23.1], max_snap_m=300)
    >>> at.edge.tolist(), at.metres.round(1).tolist()
    ([0, -1], [19.9, inf])
    >>> at.to_u_m.round(1).tolist(), at.to_v_m.round(1).tolist()
    ([20.5, inf], [82.0, inf])
    """
    q_lon = np.asarray(lon, dtype=np.float64).ravel()
    q_lat = np.asarray(lat, dtype=np.float64).ravel()
    n = q_lon.size
    edge = np.full(n, -1, dtype=np.int64)
    to_u = np.full(n, np.inf, dtype=np.float64)
    to_v = np.full(n, np.inf, dtype=np.float64)
    metres = np.full(n, np.inf, dtype=np.float64)
    foot_lon = np.full(n, np.nan, dtype=np.float64)
    foot_lat = np.full(n, np.nan, dtype=np.float64)
    if n and net.edges:
        rows, found, share, f_lon, f_lat = net.ways.nearest(q_lon, q_lat, max_snap_m)
        length = net.edge_m[found]
        along = share * length
        # A foot on (within a millimetre of) an end is that node, at its exact position.
        at_u = along < _AT_NODE_M
        at_v = ~at_u & (length - along < _AT_NODE_M)
        along = np.where(at_u, 0.0, np.where(at_v, length, along))
        u, v = net.edge_u[found], net.edge_v[found]
        f_lon = np.where(at_u, net.node_lon[u], np.where(at_v, net.node_lon[v], f_lon))
        f_lat = np.where(at_u, net.node_lat[u], np.where(at_v, net.node_lat[v], f_lat))
        m = np.asarray(geodesic_distance_m(q_lon[rows], q_lat[rows], f_lon, f_lat), np.float64)
        keep = m <= max_snap_m
        rows = rows[keep]
        edge[rows] = found[keep]
        to_u[rows] = along[keep]
        to_v[rows] = (length - along)[keep]
        metres[rows] = m[keep]
        foot_lon[rows] = f_lon[keep]
        foot_lat[rows] = f_lat[keep]
    on = edge >= 0
    u_all = np.where(on, net.edge_u[np.maximum(edge, 0)] if net.edges else -1, -1)
    v_all = np.where(on, net.edge_v[np.maximum(edge, 0)] if net.edges else -1, -1)
    return Snapped(
        edge,
        u_all.astype(np.int64),
        v_all.astype(np.int64),
        to_u,
        to_v,
        metres,
        foot_lon,
        foot_lat,
    )


class _WayIndex:
    """The nearest point on a set of edges, for many points at once.

    The edges are drawn as straight segments in an azimuthal equidistant plane centred on
    the network (metres) and sampled at the midpoints of pieces at most :data:`_SAMPLE_M`
    long, in a k-d tree. A point fetches its :data:`_SNAP_FETCH` nearest samples, projects
    itself exactly onto their edges and keeps the nearest; that is proven when the last
    sample fetched is at least half a piece farther than the best edge (every edge nearer
    than the best has a sample within half a piece of its foot, so it was fetched). The rare
    points that fail score every edge with a sample within that distance.
    """

    def __init__(self, net: WalkNetwork, edges: IntArray) -> None:
        self.edges = edges
        lon0 = float((net.node_lon.min() + net.node_lon.max()) / 2) if net.nodes else 0.0
        lat0 = float((net.node_lat.min() + net.node_lat.max()) / 2) if net.nodes else 0.0
        self.to_plane = _aeqd(lon0, lat0)
        x, y = self.to_plane.transform(net.node_lon, net.node_lat)
        u, v = net.edge_u[edges], net.edge_v[edges]
        self.ax, self.ay = np.asarray(x)[u], np.asarray(y)[u]
        self.dx, self.dy = np.asarray(x)[v] - self.ax, np.asarray(y)[v] - self.ay
        length = np.hypot(self.dx, self.dy)
        pieces = np.maximum(np.ceil(length / _SAMPLE_M), 1).astype(np.int64)
        self.half_piece_m = float((length / pieces).max() / 2) if edges.size else 0.0
        # Per sample, its edge (a position into ``edges``) and its share along it.
        self.owner = np.repeat(np.arange(edges.size, dtype=np.int64), pieces)
        first = np.repeat(np.cumsum(pieces) - pieces, pieces)
        share = (np.arange(self.owner.size) - first + 0.5) / pieces[self.owner]
        self.tree = cKDTree(
            np.column_stack(
                [
                    self.ax[self.owner] + self.dx[self.owner] * share,
                    self.ay[self.owner] + self.dy[self.owner] * share,
                ]
            )
        )

    def nearest(
        self, lon: FloatArray, lat: FloatArray, max_m: float = np.inf
    ) -> tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
        """The points with an edge within about ``max_m`` (plane metres, padded by 1 % and a
        metre: the caller holds the geodesic figure to ``max_m`` exactly), their nearest
        edge (a network edge position), the foot's share along it from ``u``, and the foot
        in WGS-84 degrees."""
        none = np.empty(0, dtype=np.int64)
        if self.edges.size == 0 or lon.size == 0:
            empty = np.empty(0, dtype=np.float64)
            return none, none.copy(), empty, empty.copy(), empty.copy()
        qx, qy = (np.asarray(c, dtype=np.float64) for c in self.to_plane.transform(lon, lat))
        bound = max_m * 1.01 + 1.0 + self.half_piece_m if np.isfinite(max_m) else np.inf
        k = min(_SNAP_FETCH, self.owner.size)
        gap, sample = self.tree.query(np.column_stack([qx, qy]), k=k, distance_upper_bound=bound)
        gap = np.asarray(gap, dtype=np.float64).reshape(lon.size, k)
        sample = np.asarray(sample, dtype=np.int64).reshape(lon.size, k)
        found = sample < self.owner.size  # the tree's "none within the bound" is n
        rows = np.nonzero(found[:, 0])[0]
        cand = np.where(found[rows], self.owner[np.minimum(sample[rows], self.owner.size - 1)], -1)
        best, share, dist = self._best(qx[rows], qy[rows], cand)
        # Proven unless an unfetched sample could be within half a piece of the best.
        last = gap[rows, -1]
        unproven = np.nonzero(np.isfinite(last) & (last < dist + self.half_piece_m))[0]
        if unproven.size:
            at = rows[unproven]
            balls = self.tree.query_ball_point(
                np.column_stack([qx[at], qy[at]]), dist[unproven] + self.half_piece_m + 1e-6
            )
            sizes = np.fromiter((len(b) for b in balls), dtype=np.int64, count=unproven.size)
            members = np.concatenate([np.asarray(b, dtype=np.int64) for b in balls])
            width = int(sizes.max())
            # One row per unproven point, its ball's edges padded with -1.
            grid = np.full((unproven.size, width), -1, dtype=np.int64)
            col = np.arange(members.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            grid[np.repeat(np.arange(unproven.size), sizes), col] = self.owner[members]
            best[unproven], share[unproven], dist[unproven] = self._best(qx[at], qy[at], grid)
        fx = self.ax[best] + self.dx[best] * share
        fy = self.ay[best] + self.dy[best] * share
        f_lon, f_lat = self.to_plane.transform(fx, fy, direction="INVERSE")
        return (
            rows.astype(np.int64),
            self.edges[best],
            share,
            np.asarray(f_lon, dtype=np.float64),
            np.asarray(f_lat, dtype=np.float64),
        )

    def _best(
        self, qx: FloatArray, qy: FloatArray, cand: IntArray
    ) -> tuple[IntArray, FloatArray, FloatArray]:
        """Per row, the nearest of its candidate edges (``-1``: none; ties by position),
        the foot's share along it and its plane distance."""
        e = np.maximum(cand, 0)
        dx, dy = self.dx[e], self.dy[e]
        rel_x, rel_y = qx[:, None] - self.ax[e], qy[:, None] - self.ay[e]
        span = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(span > 0, (rel_x * dx + rel_y * dy) / span, 0.0)
        share = np.clip(share, 0.0, 1.0)
        dist = np.hypot(rel_x - dx * share, rel_y - dy * share)
        dist[cand < 0] = np.inf
        order = np.lexsort((cand, dist), axis=1)[:, 0]
        pick = np.arange(cand.shape[0])
        return e[pick, order], share[pick, order], dist[pick, order]


def _same_edge(a_edge: IntArray, b_edge: IntArray) -> tuple[IntArray, IntArray]:
    """Every pair ``(i, j)`` with ``a_edge[i] == b_edge[j] >= 0``, without a loop per point.

    >>> i, j = _same_edge(np.array([3, 5, -1]), np.array([5, 3, 5]))
    >>> sorted(zip(i.tolist(), j.tolist()))
    [(0, 1), (1, 0), (1, 2)]
    """
    order = np.argsort(b_edge, kind="stable")
    sorted_b = b_edge[order]
    lo = np.searchsorted(sorted_b, a_edge, side="left")
    hi = np.searchsorted(sorted_b, a_edge, side="right")
    counts = np.where(a_edge >= 0, hi - lo, 0)
    i = np.repeat(np.arange(a_edge.size, dtype=np.int64), counts)
    offset = np.arange(i.size) - np.repeat(np.cumsum(counts) - counts, counts)
    j = order[np.repeat(lo, counts) + offset]
    return i, j.astype(np.int64)


def _along_edge_m(q: Snapped, qi: IntArray, t: Snapped, tj: IntArray) -> FloatArray:
    """The walk between points on the same edge straight along it, foot to foot."""
    return np.asarray(
        q.metres[qi] + np.abs(q.to_u_m[qi] - t.to_u_m[tj]) + t.metres[tj], dtype=np.float64
    )


def network_nearest(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    target_lon: npt.ArrayLike,
    target_lat: npt.ArrayLike,
    *,
    net: WalkNetwork,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> tuple[IntArray, FloatArray]:
    """The nearest target of each point by walking, in metres (snaps included).

    The same shape as :func:`gaps.distances.nearest_geodesic`, so the coverage measures
    take either (with ``net`` bound by :func:`functools.partial`): ``-1`` and ``inf`` when
    no target can be walked to.

    Examples
    --------
    A path of three nodes ~102.4 m apart; a target on the last node, a point on the first:

    >>> net = network_from_arrays([113.300, 113.301, 113.302], [23.1] * 3, [0, 1], [1, 2])
    >>> pos, m = network_nearest([113.300], [23.1], [113.302], [23.1], net=net)
    >>> int(pos[0]), round(float(m[0]), 1)
    (0, 204.9)
    """
    q = snap(net, lon, lat, max_snap_m)
    t = snap(net, target_lon, target_lat, max_snap_m)
    n = q.edge.size
    best_pos = np.full(n, -1, dtype=np.int64)
    best_m = np.full(n, np.inf, dtype=np.float64)
    live = np.nonzero(t.on)[0]
    on = np.nonzero(q.on)[0]
    if live.size == 0 or on.size == 0:
        return best_pos, best_m
    graph, virtual = _with_sources(net, live.size, *t.links(live))
    dist, _, sources = dijkstra(
        graph, directed=True, indices=virtual, min_only=True, return_predecessors=True
    )
    # A point's walk leaves its edge by one end or the other.
    via_u = dist[q.u[on]] + q.to_u_m[on]
    via_v = dist[q.v[on]] + q.to_v_m[on]
    src = np.where(via_u <= via_v, sources[q.u[on]], sources[q.v[on]])
    node_m = np.minimum(via_u, via_v)
    reached = np.isfinite(node_m)
    rows = on[reached]
    which = src[reached] - net.nodes
    best_m[rows] = node_m[reached] - t.link_excess(live)[which] + q.metres[rows]
    best_pos[rows] = live[which]
    # Or it walks straight along its edge to a target on the same edge.
    qi, tj = _same_edge(q.edge[on], t.edge[live])
    if qi.size:
        direct = _along_edge_m(q, on[qi], t, live[tj])
        order = np.lexsort((live[tj], direct, qi))
        first = np.ones(order.size, dtype=bool)
        first[1:] = qi[order][1:] != qi[order][:-1]
        pick = order[first]
        rows, direct, pos = on[qi[pick]], direct[pick], live[tj[pick]]
        shorter = direct < best_m[rows]
        best_m[rows[shorter]] = direct[shorter]
        best_pos[rows[shorter]] = pos[shorter]
    return best_pos, best_m


def network_pairs_within(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    target_lon: npt.ArrayLike,
    target_lat: npt.ArrayLike,
    radius_m: float,
    *,
    net: WalkNetwork,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> tuple[IntArray, IntArray, FloatArray]:
    """Every (point, target) pair at most ``radius_m`` walking metres apart (snaps included).

    The same shape as :func:`gaps.distances.pairs_within`: one bounded Dijkstra per target
    (run by scipy in C, in batches), from the target's door through the network to each
    point's door, and straight along the edge for a point on the target's own edge.

    Examples
    --------
    >>> net = network_from_arrays([113.300, 113.301, 113.302], [23.1] * 3, [0, 1], [1, 2])
    >>> i, j, m = network_pairs_within([113.300, 113.302], [23.1, 23.1],
    ...                                [113.301], [23.1], 150.0, net=net)
    >>> i.tolist(), j.tolist(), m.round(1).tolist()
    ([0, 1], [0, 0], [102.4, 102.4])
    """
    q = snap(net, lon, lat, max_snap_m)
    t = snap(net, target_lon, target_lat, max_snap_m)
    empty = np.empty(0, dtype=np.int64)
    live = np.nonzero(t.on & (t.metres <= radius_m))[0]
    on = np.nonzero(q.on)[0]
    if live.size == 0 or on.size == 0:
        return empty, empty.copy(), np.empty(0, dtype=np.float64)
    # Only the nodes within radius_m (crow-fly) of a target can be walked to from it within
    # radius_m: each batch of targets, neighbours in space (Z-order), routes on the part of
    # the network inside their bounding box widened by the radius, so a row of the
    # Dijkstra's answer spans a few km², not the city.
    t_lon = np.asarray(target_lon, dtype=np.float64).ravel()
    t_lat = np.asarray(target_lat, dtype=np.float64).ravel()
    live = live[_z_order(t_lon[live], t_lat[live])]
    parts_i: list[IntArray] = []
    parts_j: list[IntArray] = []
    parts_m: list[FloatArray] = []
    for start in range(0, live.size, _SOURCES_PER_BATCH):
        batch = live[start : start + _SOURCES_PER_BATCH]
        sub, node_map = _sub_network(net, _box_around(net, t_lon[batch], t_lat[batch], radius_m))
        qu, qv = node_map[q.u[on]], node_map[q.v[on]]
        inside = (qu >= 0) | (qv >= 0)
        near = on[inside]
        if near.size:
            graph, virtual = _with_sources(sub, batch.size, *t.links(batch, node_map))
            dist = dijkstra(graph, directed=True, indices=virtual, limit=radius_m + _MIN_EDGE_M)
            qu, qv = qu[inside], qv[inside]
            # A point's walk leaves its edge by one end or the other (an end outside the
            # part is farther than the radius).
            via_u = np.where(qu >= 0, dist[:, np.maximum(qu, 0)], np.inf) + q.to_u_m[near]
            via_v = np.where(qv >= 0, dist[:, np.maximum(qv, 0)], np.inf) + q.to_v_m[near]
            excess = t.link_excess(batch)[:, None]
            metres = np.minimum(via_u, via_v) - excess + q.metres[near][None, :]
            jj, ii = np.nonzero(metres <= radius_m)
            parts_i.append(near[ii])
            parts_j.append(batch[jj])
            parts_m.append(metres[jj, ii])
        # Points on a target's own edge may walk straight along it.
        qi, tj = _same_edge(q.edge[on], t.edge[batch])
        direct = _along_edge_m(q, on[qi], t, batch[tj])
        close = direct <= radius_m
        parts_i.append(on[qi[close]])
        parts_j.append(batch[tj[close]])
        parts_m.append(direct[close])
    i = np.concatenate([empty, *parts_i]).astype(np.int64)
    j = np.concatenate([empty, *parts_j]).astype(np.int64)
    m = np.concatenate([np.empty(0, dtype=np.float64), *parts_m]).astype(np.float64)
    # A pair found both ways keeps its shorter walk.
    order = np.lexsort((m, j, i))
    i, j, m = i[order], j[order], m[order]
    first = np.ones(i.size, dtype=bool)
    first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
    return i[first], j[first], m[first]


def isochrone(
    net: WalkNetwork,
    lon: float,
    lat: float,
    budget_m: float,
    *,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    buffer_m: float = DEFAULT_ISOCHRONE_BUFFER_M,
) -> BaseGeometry:
    """The area reached on foot from a point within ``budget_m`` walking metres.

    The polygon is the *buffered reached edges*: every way walked within the budget (whole
    edges, and the reached part of an edge the budget ends on, cut at the exact metre) drawn
    as a band ``buffer_m`` either side, in metres on a plane tangent at the point (the
    ellipsoid's local radii), and unioned. Unlike a convex hull, it does not jump a river
    between two reached banks, and the blocks between reached streets stay in as long as
    they are within ``2 × buffer_m`` across.

    Returns
    -------
    shapely.geometry.base.BaseGeometry
        A (Multi)Polygon in WGS-84 degrees; empty when the point is off the network or the
        budget is smaller than its walk to the street.

    Examples
    --------
    >>> net = network_from_arrays([113.300, 113.301, 113.302], [23.1] * 3, [0, 1], [1, 2])
    >>> shape = isochrone(net, 113.300, 23.1, 150.0)
    >>> round(shape.bounds[2], 5)  # 150 m east of the first node, plus the 40 m band
    113.30185
    """
    at = snap(net, [lon], [lat], max_snap_m)
    if not at.on[0] or at.metres[0] > budget_m:
        return shapely.Polygon()
    left = float(budget_m - at.metres[0])
    u, v = int(at.u[0]), int(at.v[0])
    to_u, to_v = float(at.to_u_m[0]), float(at.to_v_m[0])
    # From the foot, out of its edge by either end: two bounded Dijkstras on the cached graph.
    rows = dijkstra(net.graph, directed=False, indices=[u, v], limit=left)
    dist = np.minimum(rows[0] + to_u, rows[1] + to_v)
    dist[dist > left] = np.inf
    du, dv = dist[net.edge_u], dist[net.edge_v]
    length = net.edge_m
    # From each end, how far along the edge the budget reaches (0 when the end is not reached).
    reach_u = np.clip(left - du, 0.0, None)
    reach_v = np.clip(left - dv, 0.0, None)
    reach_u[~np.isfinite(du)] = 0.0
    reach_v[~np.isfinite(dv)] = 0.0
    whole = reach_u + reach_v >= length
    local = _LocalPlane(lon, lat)
    x, y = local.forward(net.node_lon, net.node_lat)
    segments = [_segments(x, y, net.edge_u[whole], net.edge_v[whole], None)]
    part_u = ~whole & (reach_u > 0)
    part_v = ~whole & (reach_v > 0)
    segments.append(
        _segments(x, y, net.edge_u[part_u], net.edge_v[part_u], reach_u[part_u] / length[part_u])
    )
    segments.append(
        _segments(x, y, net.edge_v[part_v], net.edge_u[part_v], reach_v[part_v] / length[part_v])
    )
    # The foot's own edge, walked from the foot both ways (its ends' reaches start at the
    # ends), and the walk from the door to the foot, so that the point is inside its area.
    px, py = local.forward(np.array([lon]), np.array([lat]))
    fx, fy = local.forward(at.foot_lon, at.foot_lat)
    own = [[px[0], py[0]], [fx[0], fy[0]]]
    for end, to_end in ((u, to_u), (v, to_v)):
        share = min(1.0, left / to_end) if to_end > 0 else 0.0
        tip = [fx[0] + (x[end] - fx[0]) * share, fy[0] + (y[end] - fy[0]) * share]
        own.append(tip)
        own.append([fx[0], fy[0]])
    door = shapely.linestrings(own)
    # Each segment's band, then one union: 5-8x faster than buffering the union of the
    # lines, whose many crossings GEOS's buffer walks again and again.
    bands = shapely.buffer(np.concatenate([*segments, [door]]), buffer_m, quad_segs=2)
    area = shapely.simplify(shapely.union_all(bands), buffer_m / 8)
    return shapely.transform(area, local.inverse)


def _segments(
    x: FloatArray, y: FloatArray, a: IntArray, b: IntArray, share: FloatArray | None
) -> npt.NDArray[np.object_]:
    """Line segments from ``a`` towards ``b`` (the whole way, or ``share`` of it)."""
    if a.size == 0:
        return np.empty(0, dtype=object)
    t = np.ones(a.size) if share is None else np.clip(share, 0.0, 1.0)
    ex = x[a] + (x[b] - x[a]) * t
    ey = y[a] + (y[b] - y[a]) * t
    coords = np.stack([np.column_stack([x[a], y[a]]), np.column_stack([ex, ey])], axis=1)
    return np.asarray(shapely.linestrings(coords), dtype=object)


class _LocalPlane:
    """Metres east and north of a centre, from the WGS-84 ellipsoid's radii of curvature
    there: within a few kilometres (an isochrone's reach) under 0.1 % from true, and a
    hundred times faster to set up than a pyproj projection per isochrone."""

    def __init__(self, lon0: float, lat0: float) -> None:
        a, e2 = 6_378_137.0, 6.69437999014e-3
        phi = np.radians(lat0)
        w = np.sqrt(1 - e2 * np.sin(phi) ** 2)
        self.lon0, self.lat0 = lon0, lat0
        self.m_per_deg_lat = np.radians(1.0) * a * (1 - e2) / w**3  # meridian radius
        self.m_per_deg_lon = np.radians(1.0) * a / w * np.cos(phi)  # prime vertical radius

    def forward(self, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
        return (lon - self.lon0) * self.m_per_deg_lon, (lat - self.lat0) * self.m_per_deg_lat

    def inverse(self, xy: FloatArray) -> FloatArray:
        return np.column_stack(
            [self.lon0 + xy[:, 0] / self.m_per_deg_lon, self.lat0 + xy[:, 1] / self.m_per_deg_lat]
        )


def _aeqd(lon: float, lat: float) -> Transformer:
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m")
    return Transformer.from_crs("EPSG:4326", local, always_xy=True)


def _inverse(to_local: Transformer, xy: FloatArray) -> FloatArray:
    lon, lat = to_local.transform(xy[:, 0], xy[:, 1], direction="INVERSE")
    return np.column_stack([lon, lat])


def nearest_way_name(
    net: WalkNetwork, lon: npt.ArrayLike, lat: npt.ArrayLike, *, max_m: float | None = None
) -> list[str | None]:
    """The name of each point's nearest named way (``None`` if the network has none, or if
    the way is farther than ``max_m`` geodesic metres).

    The nearest by the foot on the way, as :func:`snap` (through the network's index of
    named edges, :attr:`WalkNetwork.named_ways`, built once).

    Examples
    --------
    >>> net = network_from_arrays([113.300, 113.301], [23.1, 23.1], [0], [1],
    ...                           edge_name=[0], names=("天河路",))
    >>> nearest_way_name(net, [113.3004], [23.1001])
    ['天河路']
    >>> nearest_way_name(net, [113.3004, 113.31], [23.1001, 23.1], max_m=300)
    ['天河路', None]
    """
    q_lon = np.asarray(lon, dtype=np.float64).ravel()
    q_lat = np.asarray(lat, dtype=np.float64).ravel()
    names: list[str | None] = [None] * q_lon.size
    if net.edge_name.size == 0 or not net.names:
        return names
    limit = np.inf if max_m is None else float(max_m)
    rows, edges, _, foot_lon, foot_lat = net.named_ways.nearest(q_lon, q_lat, limit)
    if max_m is not None:
        # The index bounds in plane metres, padded; the promise is geodesic metres.
        near = geodesic_distance_m(q_lon[rows], q_lat[rows], foot_lon, foot_lat) <= max_m
        rows, edges = rows[near], edges[near]
    for row, label in zip(rows.tolist(), net.edge_name[edges].tolist(), strict=True):
        names[row] = net.names[label]
    return names


def _adjacency(u: IntArray, v: IntArray, metres: FloatArray, rows: int, cols: int) -> csr_matrix:
    """A CSR matrix with both directions of every edge, keeping the shortest duplicate."""
    uu = np.concatenate([u, v])
    vv = np.concatenate([v, u])
    mm = np.maximum(np.concatenate([metres, metres]), _MIN_EDGE_M)
    # coo → csr sums duplicates; take the minimum instead by sorting and keeping firsts.
    order = np.lexsort((mm, vv, uu))
    uu, vv, mm = uu[order], vv[order], mm[order]
    first = np.ones(uu.size, dtype=bool)
    first[1:] = (uu[1:] != uu[:-1]) | (vv[1:] != vv[:-1])
    return coo_matrix((mm[first], (uu[first], vv[first])), shape=(rows, cols)).tocsr()


def _z_order(lon: FloatArray, lat: FloatArray) -> IntArray:
    """Positions of the points along a Z-order (Morton) curve over their bounding box: runs
    of consecutive points stay close together in space."""
    span_lon = max(float(lon.max() - lon.min()), 1e-12)
    span_lat = max(float(lat.max() - lat.min()), 1e-12)
    x = ((lon - lon.min()) / span_lon * 65_535).astype(np.uint64)
    y = ((lat - lat.min()) / span_lat * 65_535).astype(np.uint64)
    key = np.zeros(lon.size, dtype=np.uint64)
    for bit in range(16):
        key |= ((x >> np.uint64(bit)) & np.uint64(1)) << np.uint64(2 * bit)
        key |= ((y >> np.uint64(bit)) & np.uint64(1)) << np.uint64(2 * bit + 1)
    return np.argsort(key, kind="stable").astype(np.int64)


def _box_around(
    net: WalkNetwork, lon: FloatArray, lat: FloatArray, radius_m: float
) -> npt.NDArray[np.bool_]:
    """The nodes inside the bounding box of the points widened by ``radius_m`` (with a
    1 % margin over the shortest degree of latitude and longitude within it)."""
    lat_pad = radius_m / 110_574.0 * 1.01  # a degree of latitude is at least 110,574 m
    widest = min(89.0, float(np.abs(lat).max()) + lat_pad)
    lon_pad = radius_m / (111_320.0 * np.cos(np.radians(widest))) * 1.01
    return np.asarray(
        (net.node_lon >= lon.min() - lon_pad)
        & (net.node_lon <= lon.max() + lon_pad)
        & (net.node_lat >= lat.min() - lat_pad)
        & (net.node_lat <= lat.max() + lat_pad),
        dtype=bool,
    )


def _sub_network(net: WalkNetwork, keep: npt.NDArray[np.bool_]) -> tuple[WalkNetwork, IntArray]:
    """The kept nodes and the edges between them, and each old node's new position
    (``-1``: not kept)."""
    if keep.all():
        return net, np.arange(net.nodes, dtype=np.int64)
    node_map = np.where(keep, np.cumsum(keep) - 1, -1).astype(np.int64)
    edges = keep[net.edge_u] & keep[net.edge_v]
    sub = WalkNetwork(
        net.node_lon[keep],
        net.node_lat[keep],
        node_map[net.edge_u[edges]],
        node_map[net.edge_v[edges]],
        net.edge_m[edges],
    )
    return sub, node_map


def _link_excess(link_m: FloatArray) -> FloatArray:
    """What a link was lengthened by when stored (a zero-length link, a door exactly on a
    node, is stored as :data:`_MIN_EDGE_M`), to take back off the distances found."""
    return np.maximum(link_m, _MIN_EDGE_M) - link_m


def _with_sources(
    net: WalkNetwork, sources: int, link_row: IntArray, link_node: IntArray, link_m: FloatArray
) -> tuple[csr_matrix, IntArray]:
    """The network plus one virtual node per source, linked one way to nodes by the
    ``(source, node, metres)`` links of :meth:`Snapped.links` (so no walk passes through a
    virtual node).

    The network's part is its cached :attr:`WalkNetwork.graph`, reused as it is: only the
    links are new.
    """
    n = net.nodes
    virtual = np.arange(n, n + sources, dtype=np.int64)
    g = net.graph.tocoo()
    rows = np.concatenate([g.row.astype(np.int64), virtual[link_row]])
    cols = np.concatenate([g.col.astype(np.int64), link_node])
    metres = np.concatenate([g.data, np.maximum(link_m, _MIN_EDGE_M)])
    shape = (n + sources, n + sources)
    return coo_matrix((metres, (rows, cols)), shape=shape).tocsr(), virtual


def crow_circle(lon: float, lat: float, radius_m: float) -> BaseGeometry:
    """The crow-fly catchment: a circle of ``radius_m`` geodesic metres (drawn in an
    azimuthal equidistant projection centred on the point, where distances from the
    centre are true), as a WGS-84 polygon of 64 sides.

    Examples
    --------
    >>> shape = crow_circle(113.3, 23.1, 1000.0)
    >>> round((shape.bounds[3] - 23.1) * 110_760)  # metres north at 23.1°N, ±1 m
    1000
    """
    to_local = _aeqd(lon, lat)
    circle = shapely.Point(0.0, 0.0).buffer(radius_m, quad_segs=16)
    return shapely.transform(circle, lambda xy: _inverse(to_local, xy))
