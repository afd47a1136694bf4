"""The walking network of the operator's OpenStreetMap extract: built once, cached on disk by
the extract's SHA-256, loaded once per process.

``jzmap network build`` reads ``JZMAP_STREET_NETWORK`` (:mod:`ingest.osm_network`), keeps the
walkable ways, clips them to the city's districts and writes one compressed NumPy file
(``walk-<sha256>.npz``) under ``JZMAP_NETWORK_CACHE_DIR`` (default ``<data_dir>/networks``).
A process that needs walking distances loads that file (building it first if it is
missing); a changed extract has another hash, so a stale cache is never read.

The API does not wait for it in a request: its lifespan starts :meth:`NetworkLoader.start`,
which loads (or builds and caches) the network in a background thread, with its routing
graph and snapping index. Until it is ready, walking requests are answered at once with a
503 and ``Retry-After`` (:class:`NetworkNotReadyError`), never held past the request
deadline; crow-fly requests are not affected, and ``/readyz`` reports the network's state.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gaps.network import (
    DEFAULT_ISOCHRONE_BUFFER_M,
    WalkNetwork,
    clip_network,
    crow_circle,
    densify,
    isochrone,
    network_from_arrays,
)
from ingest.osm_network import file_sha256, read_walkable_ways
from jzmap.settings import CitySettings, CoverageSettings
from jzmap.wiring import districts_layer
from providers.errors import ConflictError, UnavailableError

log = logging.getLogger(__name__)

# Raised when what the cache holds changes meaning (a new walkability rule, new arrays):
# files of another version are rebuilt, not read.
CACHE_FORMAT = 2
Mode = Literal["crow", "walk"]
Speed = Literal["adult", "elderly"]
# off: no extract configured; loading: being read or built; ready; failed: the build failed
# (the log has why; walking is refused until the extract is fixed and the service restarted).
NetworkState = Literal["off", "loading", "ready", "failed"]


class NoNetworkError(ConflictError):
    """Walking distances asked for where no street network is configured (409)."""

    def __init__(self) -> None:
        super().__init__(
            "mode=walk needs a street network: the operator sets JZMAP_STREET_NETWORK to an "
            "OpenStreetMap extract and runs `jzmap network build`; use mode=crow for "
            "crow-fly distances"
        )


class NetworkNotReadyError(UnavailableError):
    """Walking distances asked for while the network is still being loaded or built in the
    background (503 with ``Retry-After``)."""

    public_message = (
        "步行路网正在准备中，请 {retry_after_s} 秒后重试，或用 mode=crow（直线距离） / the "
        "walking street network is being prepared; retry in {retry_after_s} s, or use "
        "mode=crow for crow-fly distances"
    )

    def __init__(self) -> None:
        super().__init__("the walking network is still being loaded or built")


class NetworkFailedError(UnavailableError):
    """Walking distances asked for when the network could not be loaded or built (503; the
    log has the cause, under the request's id and when the build failed)."""

    public_message = (
        "步行路网无法准备，请用 mode=crow（直线距离） / the walking street network could not "
        "be prepared (the server log has the cause); use mode=crow for crow-fly distances"
    )


@dataclass(frozen=True)
class NetworkInfo:
    """What a cached network is: for ``jzmap network build`` and the logs."""

    path: Path
    source: Path
    source_sha256: str
    nodes: int
    edges: int
    ways_read: int | None
    built: bool  # False: read from the cache


def cache_dir(settings: CoverageSettings, data_dir: Path) -> Path:
    """Where networks are cached."""
    return settings.network_cache_dir or data_dir / "networks"


def cache_path(directory: Path, sha256: str) -> Path:
    return directory / f"walk-{sha256}.npz"


def build_network(
    source: Path, city: CitySettings, directory: Path, *, force: bool = False
) -> tuple[WalkNetwork, NetworkInfo]:
    """Read ``source``, keep the walkable ways inside the city, and cache the network.

    An existing cache for the same extract is read instead unless ``force``.
    """
    sha = file_sha256(source)
    path = cache_path(directory, sha)
    if path.exists() and not force:
        net = _read_cache(path, sha)
        if net is not None:
            return net, NetworkInfo(path, source, sha, net.nodes, net.edges, None, built=False)
    ways = read_walkable_ways(source)
    net = network_from_arrays(
        ways.node_lon,
        ways.node_lat,
        ways.edge_u,
        ways.edge_v,
        edge_name=ways.edge_name,
        names=ways.names,
        source_sha256=sha,
    )
    outline = shapely.union_all(districts_layer(city).geometry.to_numpy())
    shapely.prepare(outline)
    net = clip_network(net, shapely.contains_xy(outline, net.node_lon, net.node_lat))
    net = densify(net)
    _write_cache(path, net)
    log.info("walking network %s: %d nodes, %d edges", source.name, net.nodes, net.edges)
    return net, NetworkInfo(path, source, sha, net.nodes, net.edges, ways.ways, built=True)


class NetworkLoader:
    """The configured network, loaded (or built) once, then kept for the process.

    ``None`` from :meth:`get` means no network is configured: crow-fly only. After
    :meth:`start` (the API's lifespan) the network is prepared in a background thread and
    :meth:`get` never waits for it: it raises :class:`NetworkNotReadyError` until it is
    ready. Without :meth:`start` (the CLI), :meth:`get` loads it in the caller's thread.
    """

    def __init__(self, settings: CoverageSettings, city: CitySettings, data_dir: Path) -> None:
        self.source = settings.street_network
        self.city = city
        self.directory = cache_dir(settings, data_dir)
        self._lock = threading.Lock()
        self._network: WalkNetwork | None = None
        self._thread: threading.Thread | None = None
        self._failed: str | None = None

    @property
    def configured(self) -> bool:
        return self.source is not None

    @property
    def state(self) -> NetworkState:
        """Where the network is: ``off``, ``loading``, ``ready`` or ``failed``."""
        if self.source is None:
            return "off"
        if self._network is not None:
            return "ready"
        return "failed" if self._failed is not None else "loading"

    def start(self) -> None:
        """Load (or build and cache) the network in a background thread, once; with its
        routing graph and snapping index, so that no request pays for them either."""
        if self.source is None:
            return
        with self._lock:
            if self._thread is not None or self._network is not None:
                return
            self._thread = threading.Thread(target=self._prepare, name="jzmap-network", daemon=True)
            self._thread.start()

    def _prepare(self) -> None:
        assert self.source is not None
        try:
            net, info = build_network(self.source, self.city, self.directory)
            net.graph  # noqa: B018 (built here, once, not in a request)
            net.ways  # noqa: B018
        except Exception as exc:  # any failure: logged, and walking answers say so
            self._failed = f"{type(exc).__name__}: {exc}"
            log.exception("walking network %s could not be prepared", self.source.name)
            return
        self._network = net
        log.info(
            "walking network ready (%s): %d nodes, %d edges",
            "built" if info.built else "read from the cache",
            net.nodes,
            net.edges,
        )

    def get(self) -> WalkNetwork | None:
        if self.source is None:
            return None
        net = self._network
        if net is not None:
            return net
        if self._thread is not None:
            if self._failed is not None:
                raise NetworkFailedError(f"the walking network failed to load: {self._failed}")
            raise NetworkNotReadyError()
        with self._lock:
            if self._network is None:
                self._network, _ = build_network(self.source, self.city, self.directory)
            return self._network

    def require(self) -> WalkNetwork:
        """The network, or :class:`NoNetworkError` when none is configured
        (:class:`NetworkNotReadyError` while it is being prepared)."""
        net = self.get()
        if net is None:
            raise NoNetworkError()
        return net


def walk_metres(minutes: float, speed_m_s: float) -> float:
    """How far ``minutes`` of walking at ``speed_m_s`` goes.

    >>> walk_metres(10, 0.8)
    480.0
    """
    return float(minutes) * 60.0 * float(speed_m_s)


def speed_m_s(settings: CoverageSettings, speed: str) -> float:
    """The walking speed a ``speed`` name stands for, metres per second."""
    if speed == "elderly":
        return float(settings.walk_speed_elderly_m_s)
    return float(settings.walk_speed_adult_m_s)


def _write_cache(path: Path, net: WalkNetwork) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed into place: a process reading the cache never sees half.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez_compressed(
            tmp,
            format=np.int64(CACHE_FORMAT),
            source_sha256=np.str_(net.source_sha256),
            node_lon=net.node_lon,
            node_lat=net.node_lat,
            edge_u=net.edge_u.astype(np.int32),
            edge_v=net.edge_v.astype(np.int32),
            edge_m=net.edge_m,
            edge_name=net.edge_name.astype(np.int32),
            names=np.asarray(net.names, dtype=np.str_),
        )
        Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _read_cache(path: Path, sha256: str) -> WalkNetwork | None:
    with np.load(path, allow_pickle=False) as data:
        if int(data["format"]) != CACHE_FORMAT or str(data["source_sha256"]) != sha256:
            return None
        return WalkNetwork(
            node_lon=data["node_lon"].astype(np.float64),
            node_lat=data["node_lat"].astype(np.float64),
            edge_u=data["edge_u"].astype(np.int64),
            edge_v=data["edge_v"].astype(np.int64),
            edge_m=data["edge_m"].astype(np.float64),
            edge_name=data["edge_name"].astype(np.int64),
            names=tuple(str(n) for n in data["names"].tolist()),
            source_sha256=sha256,
        )


@dataclass(frozen=True)
class Catchment:
    """A provider's catchment: its area and how it was drawn."""

    area: BaseGeometry  # WGS-84 degrees
    mode: Mode
    minutes: float
    speed: Speed
    speed_m_s: float
    metres: float
    method: str


def provider_catchment(
    lon: float,
    lat: float,
    *,
    minutes: float,
    speed: Speed,
    mode: Mode,
    settings: CoverageSettings,
    network: NetworkLoader | None,
) -> Catchment:
    """The area within ``minutes`` of a point at the ``speed`` pace: the walking isochrone
    (buffered reached ways) in ``walk`` mode, the crow-fly circle in ``crow`` mode.

    Raises
    ------
    NoNetworkError
        ``mode="walk"`` with no street network configured.
    """
    pace = speed_m_s(settings, speed)
    metres = walk_metres(minutes, pace)
    if mode == "crow":
        area = crow_circle(lon, lat, metres)
        method = "crow-fly circle (geodesic radius)"
    else:
        if network is None:
            raise NoNetworkError()
        net = network.require()
        area = isochrone(net, lon, lat, metres, max_snap_m=float(settings.network_max_snap_m))
        method = (
            f"buffered reached ways: every way walked within the time, "
            f"{DEFAULT_ISOCHRONE_BUFFER_M:.0f} m either side"
        )
    return Catchment(area, mode, float(minutes), speed, pace, metres, method)
